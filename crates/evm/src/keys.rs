//! Keys from the operator's BIP-39 seed. Deposit addresses are `m/44'/60'/0'/0/i`; the API
//! derives them from the account's extended *public* key, so serving orders needs no private
//! key in memory beyond start-up. Payout keys come from separate account paths.

use coins_bip32::prelude::{Parent, XKeyInfo, XPriv, XPub};
use hmac::{Hmac, Mac};
use k256::ecdsa::VerifyingKey;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::ops::MulByGenerator;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha512;
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress};
use wcheckout_domain::ports::{DepositAddresses, DerivationError};

/// The BIP-44 account whose external chain holds the deposit addresses.
pub const DEPOSIT_ACCOUNT_PATH: &str = "m/44'/60'/0'/0";

pub use wcheckout_seed::{SeedError, generate_mnemonic};

/// Derives the deposit account's extended public key from a mnemonic.
pub fn deposit_account(phrase: &SecretString) -> Result<DepositKeys, SeedError> {
    deposit_account_at(phrase, DEPOSIT_ACCOUNT_PATH)
}

/// The extended public key of any secp256k1 account path of the seed: other chain families
/// with secp256k1 keys (TRON) derive their deposit keys the same way under their own coin type.
pub fn deposit_account_at(
    phrase: &SecretString,
    account_path: &str,
) -> Result<DepositKeys, SeedError> {
    let account = account_xpriv(phrase, account_path)?;
    Ok(DepositKeys::new(account.verify_key()))
}

fn account_xpriv(phrase: &SecretString, path: &str) -> Result<XPriv, SeedError> {
    let seed = wcheckout_seed::bip39_seed(phrase)?;
    let root = XPriv::root_from_seed(seed.expose_secret(), None)
        .map_err(|e| SeedError::Derivation(e.to_string()))?;
    root.derive_path(path)
        .map_err(|e| SeedError::Derivation(e.to_string()))
}

/// The BIP-44 account of the hot wallet, which pays refunds and settlements and receives sweeps.
pub const HOT_WALLET_PATH: &str = "m/44'/60'/1'/0/0";

/// The private keys payouts are signed with: the hot wallet and every deposit address.
#[derive(Clone)]
pub struct PayoutKeys {
    hot: XPriv,
    deposits: XPriv,
}

impl std::fmt::Debug for PayoutKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayoutKeys([REDACTED])")
    }
}

/// Derives the payout keys from a mnemonic.
pub fn payout_keys(phrase: &SecretString) -> Result<PayoutKeys, SeedError> {
    payout_keys_at(phrase, HOT_WALLET_PATH, DEPOSIT_ACCOUNT_PATH)
}

/// The payout keys of other secp256k1 paths of the seed (another chain family's coin type).
pub fn payout_keys_at(
    phrase: &SecretString,
    hot_wallet_path: &str,
    deposit_account_path: &str,
) -> Result<PayoutKeys, SeedError> {
    Ok(PayoutKeys {
        hot: account_xpriv(phrase, hot_wallet_path)?,
        deposits: account_xpriv(phrase, deposit_account_path)?,
    })
}

impl PayoutKeys {
    /// The hot wallet's signing key.
    pub fn hot_wallet(&self) -> k256::ecdsa::SigningKey {
        let key: &k256::ecdsa::SigningKey = self.hot.as_ref();
        key.clone()
    }

    /// The signing key of deposit address `index`.
    pub fn deposit(&self, index: u64) -> Result<k256::ecdsa::SigningKey, SeedError> {
        let index = u32::try_from(index)
            .ok()
            .filter(|i| *i < (1 << 31))
            .ok_or_else(|| {
                SeedError::Derivation(format!("deposit index {index} is out of range"))
            })?;
        let child = self
            .deposits
            .derive_child(index)
            .map_err(|e| SeedError::Derivation(e.to_string()))?;
        let key: &k256::ecdsa::SigningKey = child.as_ref();
        Ok(key.clone())
    }

    /// The address of a signing key.
    pub fn address(key: &k256::ecdsa::SigningKey) -> EvmAddress {
        address_of(key.verifying_key().as_affine())
    }
}

/// The deposit account's public half, kept ready for child derivation: every order derives
/// one address, and decoding the parent point and multiplying by the generator without its
/// precomputed tables (as `coins_bip32` does on each call) was a fifth of order creation's CPU.
#[derive(Clone)]
pub struct DepositKeys {
    xpub: XPub,
    parent: ProjectivePoint,
    parent_sec1: [u8; 33],
    chain_code: [u8; 32],
}

impl std::fmt::Debug for DepositKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DepositKeys")
    }
}

impl DepositKeys {
    fn new(xpub: XPub) -> DepositKeys {
        let key: &VerifyingKey = xpub.as_ref();
        let mut parent_sec1 = [0u8; 33];
        parent_sec1.copy_from_slice(key.to_encoded_point(true).as_bytes());
        let info: &XKeyInfo = xpub.as_ref();
        DepositKeys {
            parent: key.as_affine().into(),
            parent_sec1,
            chain_code: info.chain_code.0,
            xpub,
        }
    }

    /// BIP-32 public child derivation (CKDpub) of a non-hardened index; `None` in the cases
    /// BIP-32 declares invalid (a tweak at or above the group order, or a child at infinity,
    /// each of probability about 2^-127).
    fn child(&self, index: u32) -> Option<AffinePoint> {
        let mut mac = Hmac::<Sha512>::new_from_slice(&self.chain_code).ok()?;
        mac.update(&self.parent_sec1);
        mac.update(&index.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let tweak = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(
            FieldBytes::clone_from_slice(&digest[..32]),
        ))?;
        let child = ProjectivePoint::mul_by_generator(&*tweak) + self.parent;
        (!bool::from(child.is_identity())).then(|| child.to_affine())
    }
}

fn address_of(point: &AffinePoint) -> EvmAddress {
    let point = point.to_encoded_point(false);
    let mut xy = [0u8; 64];
    xy.copy_from_slice(&point.as_bytes()[1..65]);
    EvmAddress::from_public_key(&xy)
}

impl DepositAddresses for DepositKeys {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        match family {
            ChainFamily::Evm => self.derive(index).map(Address::Evm),
            other @ (ChainFamily::Tron | ChainFamily::Solana) => {
                Err(DerivationError::Family(other))
            }
        }
    }
}

impl DepositKeys {
    /// The address at `index` of this account, in EVM form (other secp256k1 families print
    /// the same 20 bytes their own way).
    pub fn derive(&self, index: u64) -> Result<EvmAddress, DerivationError> {
        let child_index = u32::try_from(index)
            .ok()
            .filter(|i| *i < (1 << 31))
            .ok_or(DerivationError::OutOfRange(index))?;
        if let Some(point) = self.child(child_index) {
            return Ok(address_of(&point));
        }
        // The invalid cases are left to coins_bip32, which moves on to the next index, so
        // that every address stays the one it has always derived.
        let child = self
            .xpub
            .derive_child(child_index)
            .map_err(|e| DerivationError::Failed {
                index,
                reason: e.to_string(),
            })?;
        let key: &VerifyingKey = child.as_ref();
        Ok(address_of(key.as_affine()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANVIL: &str = "test test test test test test test test test test test junk";

    #[test]
    fn matches_the_well_known_anvil_accounts() {
        let keys = deposit_account(&SecretString::from(ANVIL)).unwrap();
        let expected = [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ];
        for (index, address) in expected.iter().enumerate() {
            assert_eq!(keys.derive(index as u64).unwrap().to_checksum(), *address);
        }
    }

    /// The derivation of our own gives the addresses coins_bip32 gives, for two seeds, the
    /// first indexes, the last one and indexes spread over the range.
    #[test]
    fn derivation_matches_coins_bip32() {
        let other = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                     abandon abandon about";
        for phrase in [ANVIL, other] {
            let keys = deposit_account(&SecretString::from(phrase)).unwrap();
            let spread = (0..200u64).map(|i| i * 10_737_418 + 12_345);
            for index in (0..300).chain(spread).chain([(1 << 31) - 1]) {
                let child = keys
                    .xpub
                    .derive_child(u32::try_from(index).unwrap())
                    .unwrap();
                let key: &VerifyingKey = child.as_ref();
                assert_eq!(
                    keys.derive(index).unwrap(),
                    address_of(key.as_affine()),
                    "index {index}"
                );
            }
            assert!(keys.derive(1 << 31).is_err());
        }
    }

    #[test]
    fn payout_keys_match_the_deposit_addresses_and_a_separate_hot_wallet() {
        let phrase = SecretString::from(ANVIL);
        let keys = payout_keys(&phrase).unwrap();
        let deposits = deposit_account(&phrase).unwrap();
        for index in [0u64, 7, 1000] {
            let key = keys.deposit(index).unwrap();
            assert_eq!(PayoutKeys::address(&key), deposits.derive(index).unwrap());
        }
        let hot = PayoutKeys::address(&keys.hot_wallet());
        assert!(
            (0..20).all(|i| deposits.derive(i).unwrap() != hot),
            "the hot wallet is not a deposit address"
        );
    }

    #[test]
    fn refuses_bad_mnemonics_and_indexes() {
        let bad = SecretString::from("test test test test test test test test test test test test");
        assert_eq!(
            deposit_account(&bad).unwrap_err(),
            SeedError::InvalidMnemonic
        );
        let keys = deposit_account(&SecretString::from(ANVIL)).unwrap();
        assert!(keys.derive(1 << 31).is_err());
        let fresh = generate_mnemonic();
        assert_eq!(fresh.expose_secret().split(' ').count(), 24);
        assert!(deposit_account(&fresh).is_ok());
    }
}
