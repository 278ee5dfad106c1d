//! Solana keys from the operator's BIP-39 seed, the same seed EVM and TRON use. Solana keys are
//! ed25519, derived with SLIP-0010 (HMAC-SHA512 keyed `"ed25519 seed"`, hardened steps only,
//! since ed25519 has no public-key derivation). Paths:
//!
//! - deposit owner `i`: `m/44'/501'/i'/0'`, the path Phantom, Solflare and Backpack use for
//!   their accounts, so the seed imported into such a wallet shows the deposit owners;
//! - hot wallet: `m/44'/501'/0'/1'`, a sibling of the first deposit owner's `0'` that no
//!   deposit index can reach (every deposit path ends in `/0'`).
//!
//! Without public derivation, serving orders needs the `m/44'/501'` node (a private key and
//! chain code) in memory: [`DepositOwners`] holds it, and only it, in a [`SecretBox`] (zeroed
//! when dropped), never printed and never cloned. Every deposit owner's key, and the hot
//! wallet's, derive from that node: unlike EVM's and TRON's extended public key, it is a secret.

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use sha2::Sha512;
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::ports::{DepositAddresses, DerivationError};
pub use wcheckout_seed::SeedError;

use crate::address::SolanaAddress;

/// Solana's BIP-44 coin type.
pub const COIN_TYPE: u32 = 501;
/// The path of deposit owner `i`, with `{i}` for the index.
pub const DEPOSIT_PATH: &str = "m/44'/501'/{i}'/0'";
/// The hot wallet, which pays refunds, settlements and every fee, and receives sweeps.
pub const HOT_WALLET_PATH: &str = "m/44'/501'/0'/1'";

/// The first hardened index.
const HARDENED: u32 = 1 << 31;
/// SLIP-0010's HMAC key for ed25519 master keys.
const ED25519_CURVE: &[u8] = b"ed25519 seed";

/// A SLIP-0010 node: private key then chain code.
struct Node(SecretBox<[u8; 64]>);

impl Node {
    /// The master node of a seed.
    fn master(seed: &[u8]) -> Node {
        Node::hmac(ED25519_CURVE, &[seed])
    }

    fn hmac(key: &[u8], parts: &[&[u8]]) -> Node {
        let mut out = SecretBox::new(Box::new([0u8; 64]));
        // HMAC takes a key of any length, so this never fails.
        if let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(key) {
            for part in parts {
                mac.update(part);
            }
            out.expose_secret_mut()
                .copy_from_slice(&mac.finalize().into_bytes());
        }
        Node(out)
    }

    /// The hardened child `index'` (`index` below 2^31).
    fn child(&self, index: u32) -> Result<Node, SeedError> {
        if index >= HARDENED {
            return Err(SeedError::Derivation(format!(
                "index {index} is out of range (below 2^31)"
            )));
        }
        let (key, chain_code) = self.0.expose_secret().split_at(32);
        let data = (index | HARDENED).to_be_bytes();
        Ok(Node::hmac(chain_code, &[&[0], key, &data]))
    }

    /// The node at `path` below this one, each step hardened.
    fn derive(&self, path: &[u32]) -> Result<Node, SeedError> {
        let mut node = Node(SecretBox::new(Box::new(*self.0.expose_secret())));
        for index in path {
            node = node.child(*index)?;
        }
        Ok(node)
    }

    fn signing_key(&self) -> Keypair {
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&self.0.expose_secret()[..32]);
        Keypair(SigningKey::from_bytes(&secret))
    }

    #[cfg(test)]
    fn chain_code(&self) -> [u8; 32] {
        let mut code = [0u8; 32];
        code.copy_from_slice(&self.0.expose_secret()[32..]);
        code
    }
}

/// Parses a SLIP-0010 ed25519 path (`m/44'/501'/0'/0'`): every step hardened.
pub fn parse_path(path: &str) -> Result<Vec<u32>, SeedError> {
    let bad = || {
        SeedError::Derivation(format!(
            "{path} is not a hardened path like m/44'/501'/0'/0'"
        ))
    };
    let mut steps = path.split('/');
    if steps.next() != Some("m") {
        return Err(bad());
    }
    steps
        .map(|step| {
            step.strip_suffix('\'')
                .and_then(|index| index.parse::<u32>().ok())
                .filter(|index| *index < HARDENED)
                .ok_or_else(bad)
        })
        .collect()
}

/// The key at a hardened `path` of a 64-byte seed (or any SLIP-0010 seed).
pub fn derive(seed: &[u8], path: &str) -> Result<Keypair, SeedError> {
    Ok(Node::master(seed).derive(&parse_path(path)?)?.signing_key())
}

/// An ed25519 key pair: signs transactions; printed as its address only.
#[derive(Clone)]
pub struct Keypair(SigningKey);

impl Keypair {
    /// From the 32-byte secret (the first half of a Solana CLI key file).
    pub fn from_secret(secret: &[u8; 32]) -> Keypair {
        Keypair(SigningKey::from_bytes(secret))
    }

    /// The address (public key) this key signs for.
    pub fn address(&self) -> SolanaAddress {
        SolanaAddress::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// The ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The 32-byte secret, for tests and key export.
    pub fn secret(&self) -> SecretBox<[u8; 32]> {
        SecretBox::new(Box::new(self.0.to_bytes()))
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SolanaKeypair({}, [REDACTED])", self.address())
    }
}

/// Deposit owner `index` below the `m/44'/501'` node: `index'/0'`.
fn deposit_path(index: u64) -> Result<[u32; 2], SeedError> {
    u32::try_from(index)
        .ok()
        .filter(|i| *i < HARDENED)
        .map(|i| [i, 0])
        .ok_or_else(|| SeedError::Derivation(format!("deposit index {index} is out of range")))
}

/// What a serving process needs to give each order its deposit owner: the `m/44'/501'` node
/// alone (not the mnemonic, not the BIP-39 seed, not the master node). Not `Clone`, printed as
/// `[REDACTED]`, zeroed when dropped.
pub struct DepositOwners {
    coin: Node,
}

impl std::fmt::Debug for DepositOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SolanaDepositOwners([REDACTED])")
    }
}

/// The deposit owners' deriver of a mnemonic. The BIP-39 seed and the master node it goes
/// through are dropped (and zeroed) before this returns.
pub fn deposit_owners(phrase: &SecretString) -> Result<DepositOwners, SeedError> {
    let seed = wcheckout_seed::bip39_seed(phrase)?;
    let coin = Node::master(seed.expose_secret()).derive(&[44, COIN_TYPE])?;
    Ok(DepositOwners { coin })
}

impl DepositOwners {
    /// The address of deposit owner `index` (below 2^31), at `m/44'/501'/index'/0'`.
    pub fn owner(&self, index: u64) -> Result<SolanaAddress, DerivationError> {
        let path = deposit_path(index).map_err(|_| DerivationError::OutOfRange(index))?;
        self.coin
            .derive(&path)
            .map(|node| node.signing_key().address())
            .map_err(|error| DerivationError::Failed {
                index,
                reason: error.to_string(),
            })
    }
}

impl DepositAddresses for DepositOwners {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        match family {
            ChainFamily::Solana => self.owner(index).map(Address::Solana),
            other @ (ChainFamily::Evm | ChainFamily::Tron) => Err(DerivationError::Family(other)),
        }
    }
}

/// The seed's Solana keys: every deposit owner and the hot wallet.
pub struct SolanaKeys {
    /// `m/44'/501'`, the parent of every account.
    coin: Node,
    hot: Keypair,
}

impl std::fmt::Debug for SolanaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SolanaKeys([REDACTED])")
    }
}

/// Derives the Solana keys from a mnemonic.
pub fn keys(phrase: &SecretString) -> Result<SolanaKeys, SeedError> {
    let seed = wcheckout_seed::bip39_seed(phrase)?;
    let master = Node::master(seed.expose_secret());
    let hot = master.derive(&parse_path(HOT_WALLET_PATH)?)?.signing_key();
    Ok(SolanaKeys {
        coin: master.derive(&[44, COIN_TYPE])?,
        hot,
    })
}

impl SolanaKeys {
    /// The key of deposit owner `index` (below 2^31), at `m/44'/501'/index'/0'`.
    pub fn deposit(&self, index: u64) -> Result<Keypair, SeedError> {
        Ok(self.coin.derive(&deposit_path(index)?)?.signing_key())
    }

    /// The address of deposit owner `index`: what the payer is told (the owner; wallets derive
    /// its associated token account for the mint themselves).
    pub fn deposit_owner(&self, index: u64) -> Result<SolanaAddress, SeedError> {
        self.deposit(index).map(|key| key.address())
    }

    /// The hot wallet's key.
    pub fn hot_wallet(&self) -> &Keypair {
        &self.hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    fn hex32(bytes: [u8; 32]) -> String {
        hex::encode(bytes)
    }

    /// SLIP-0010's published ed25519 test vectors: (path, chain code, private key, public key).
    const VECTOR_1: [(&str, &str, &str, &str); 6] = [
        (
            "m",
            "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
            "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
            "a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
        ),
        (
            "m/0'",
            "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
            "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
            "8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
        ),
        (
            "m/0'/1'",
            "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
            "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
            "1932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
        ),
        (
            "m/0'/1'/2'",
            "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
            "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
            "ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
        ),
        (
            "m/0'/1'/2'/2'",
            "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
            "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
            "8abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
        ),
        (
            "m/0'/1'/2'/2'/1000000000'",
            "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
            "3c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
        ),
    ];

    #[test]
    fn slip10_test_vector_1() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        for (path, chain_code, private, public) in VECTOR_1 {
            let node = Node::master(&seed)
                .derive(&parse_path(path).unwrap())
                .unwrap();
            assert_eq!(hex32(node.chain_code()), chain_code, "{path}");
            let key = node.signing_key();
            assert_eq!(hex32(*key.secret().expose_secret()), private, "{path}");
            assert_eq!(hex32(*key.address().as_bytes()), public, "{path}");
            assert_eq!(derive(&seed, path).unwrap().address(), key.address());
        }
    }

    #[test]
    fn deposit_owners_match_the_known_answers() {
        let keys = keys(&SecretString::from(ABANDON)).unwrap();
        assert_eq!(
            keys.deposit_owner(0).unwrap().to_string(),
            "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
        );
        assert_eq!(
            keys.deposit_owner(1).unwrap().to_string(),
            "Hh8QwFUA6MtVu1qAoq12ucvFHNwCcVTV7hpWjeY1Hztb"
        );
        assert!(keys.deposit(1 << 31).is_err());
        assert!(keys.deposit_owner((1 << 31) - 1).is_ok());
    }

    #[test]
    fn the_serving_deriver_gives_the_known_deposit_owners() {
        let owners = deposit_owners(&SecretString::from(ABANDON)).unwrap();
        let keys = keys(&SecretString::from(ABANDON)).unwrap();
        for (index, known) in [
            (0, "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"),
            (1, "Hh8QwFUA6MtVu1qAoq12ucvFHNwCcVTV7hpWjeY1Hztb"),
        ] {
            let address = owners.address_at(ChainFamily::Solana, index).unwrap();
            assert_eq!(address.to_string(), known);
            assert_eq!(address, Address::Solana(keys.deposit_owner(index).unwrap()));
        }
        for index in [2u64, 77, 10_000, (1 << 31) - 1] {
            assert_eq!(
                owners.owner(index).unwrap(),
                keys.deposit_owner(index).unwrap()
            );
        }
        assert_eq!(
            owners.owner(1 << 31),
            Err(DerivationError::OutOfRange(1 << 31))
        );
        assert_eq!(
            owners.address_at(ChainFamily::Evm, 0),
            Err(DerivationError::Family(ChainFamily::Evm))
        );
        assert_eq!(
            owners.address_at(ChainFamily::Tron, 0),
            Err(DerivationError::Family(ChainFamily::Tron))
        );
    }

    #[test]
    fn the_serving_deriver_prints_nothing_secret() {
        let owners = deposit_owners(&SecretString::from(ABANDON)).unwrap();
        let printed = format!("{owners:?}");
        assert_eq!(printed, "SolanaDepositOwners([REDACTED])");
        let bad = SecretString::from("abandon ".repeat(12));
        assert_eq!(
            deposit_owners(&bad).unwrap_err(),
            SeedError::InvalidMnemonic
        );
    }

    #[test]
    fn the_hot_wallet_is_none_of_the_deposit_owners() {
        let phrase = SecretString::from(ABANDON);
        let keys = keys(&phrase).unwrap();
        let seed = wcheckout_seed::bip39_seed(&phrase).unwrap();
        let hot = keys.hot_wallet().address();
        assert_eq!(
            derive(seed.expose_secret(), HOT_WALLET_PATH)
                .unwrap()
                .address(),
            hot
        );
        assert!((0..50).all(|i| keys.deposit_owner(i).unwrap() != hot));
        for index in [0u64, 3, 1000] {
            let path = DEPOSIT_PATH.replace("{i}", &index.to_string());
            assert_eq!(
                derive(seed.expose_secret(), &path).unwrap().address(),
                keys.deposit_owner(index).unwrap()
            );
        }
    }

    #[test]
    fn keys_sign_verifiably() {
        let keys = keys(&SecretString::from(ABANDON)).unwrap();
        let key = keys.deposit(5).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&key.sign(b"message"));
        let public = ed25519_dalek::VerifyingKey::from_bytes(key.address().as_bytes()).unwrap();
        assert!(public.verify_strict(b"message", &signature).is_ok());
        assert!(public.verify_strict(b"messagf", &signature).is_err());
    }

    #[test]
    fn only_hardened_paths_are_accepted() {
        assert_eq!(parse_path("m/44'/501'/0'/0'").unwrap(), vec![44, 501, 0, 0]);
        assert_eq!(parse_path("m").unwrap(), Vec::<u32>::new());
        for bad in [
            "m/44'/501'/0'/0",
            "44'/501'",
            "m/2147483648'",
            "m/x'",
            "m//0'",
            "",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let keys = keys(&SecretString::from(ABANDON)).unwrap();
        let key = keys.deposit(0).unwrap();
        let secret = hex32(*key.secret().expose_secret());
        let printed = format!("{keys:?} {key:?} {:?}", keys.hot_wallet());
        assert!(!printed.contains(&secret));
        assert!(!printed.contains("abandon"));
        assert!(printed.starts_with(
            "SolanaKeys([REDACTED]) SolanaKeypair(HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk, [REDACTED])"
        ));
    }

    #[test]
    fn refuses_a_bad_mnemonic() {
        let bad = SecretString::from("abandon ".repeat(12));
        assert_eq!(keys(&bad).unwrap_err(), SeedError::InvalidMnemonic);
    }
}
