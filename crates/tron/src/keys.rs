//! TRON keys from the operator's BIP-39 seed, the same seed EVM uses, under TRON's BIP-44 coin
//! type 195. TRON keys are secp256k1 like EVM's and a TRON address holds the same 20 bytes an
//! EVM address would, so the derivation is the EVM adapter's with other paths: deposit
//! addresses `m/44'/195'/0'/0/i` come from the account's extended *public* key (serving orders
//! needs no private key), the hot wallet is `m/44'/195'/1'/0/0`.

use k256::ecdsa::SigningKey;
use secrecy::SecretString;
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::ports::{DepositAddresses, DerivationError};
use wcheckout_evm::keys as secp256k1;
pub use wcheckout_evm::keys::SeedError;

use crate::address::TronAddress;

/// The BIP-44 account whose external chain holds the deposit addresses.
pub const DEPOSIT_ACCOUNT_PATH: &str = "m/44'/195'/0'/0";

/// The hot wallet, which pays refunds, settlements and gas top-ups and receives sweeps.
pub const HOT_WALLET_PATH: &str = "m/44'/195'/1'/0/0";

/// The deposit account's public half: every deposit address, no private key.
#[derive(Clone)]
pub struct DepositKeys(secp256k1::DepositKeys);

impl std::fmt::Debug for DepositKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TronDepositKeys")
    }
}

/// Derives the deposit account's extended public key from a mnemonic.
pub fn deposit_account(phrase: &SecretString) -> Result<DepositKeys, SeedError> {
    secp256k1::deposit_account_at(phrase, DEPOSIT_ACCOUNT_PATH).map(DepositKeys)
}

impl DepositKeys {
    /// The deposit address at `index` (below 2^31).
    pub fn derive(&self, index: u64) -> Result<TronAddress, DerivationError> {
        self.0.derive(index).map(TronAddress::from_evm)
    }
}

impl DepositAddresses for DepositKeys {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        match family {
            ChainFamily::Tron => self.derive(index).map(Address::Tron),
            other @ (ChainFamily::Evm | ChainFamily::Solana) => Err(DerivationError::Family(other)),
        }
    }
}

/// The private keys TRON payouts are signed with: the hot wallet and every deposit address.
#[derive(Clone)]
pub struct PayoutKeys(secp256k1::PayoutKeys);

impl std::fmt::Debug for PayoutKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TronPayoutKeys([REDACTED])")
    }
}

/// Derives the payout keys from a mnemonic.
pub fn payout_keys(phrase: &SecretString) -> Result<PayoutKeys, SeedError> {
    secp256k1::payout_keys_at(phrase, HOT_WALLET_PATH, DEPOSIT_ACCOUNT_PATH).map(PayoutKeys)
}

impl PayoutKeys {
    /// The hot wallet's signing key.
    pub fn hot_wallet(&self) -> SigningKey {
        self.0.hot_wallet()
    }

    /// The signing key of deposit address `index`.
    pub fn deposit(&self, index: u64) -> Result<SigningKey, SeedError> {
        self.0.deposit(index)
    }

    /// The address of a signing key.
    pub fn address(key: &SigningKey) -> TronAddress {
        crate::address::of_public_key(key.verifying_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    #[test]
    fn deposit_addresses_match_the_known_answers() {
        let keys = deposit_account(&SecretString::from(ABANDON)).unwrap();
        assert_eq!(
            keys.derive(0).unwrap().to_string(),
            "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
        );
        assert_eq!(
            keys.derive(1).unwrap().to_string(),
            "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK"
        );
        assert!(keys.derive(1 << 31).is_err());
    }

    #[test]
    fn payout_keys_sign_for_the_deposit_addresses_and_a_separate_hot_wallet() {
        let phrase = SecretString::from(ABANDON);
        let keys = payout_keys(&phrase).unwrap();
        let deposits = deposit_account(&phrase).unwrap();
        for index in [0u64, 1, 7, 1000] {
            let key = keys.deposit(index).unwrap();
            assert_eq!(PayoutKeys::address(&key), deposits.derive(index).unwrap());
        }
        let hot = PayoutKeys::address(&keys.hot_wallet());
        assert!((0..20).all(|i| deposits.derive(i).unwrap() != hot));
        assert!(keys.deposit(1 << 31).is_err());
    }

    #[test]
    fn tron_and_evm_keys_of_one_seed_differ() {
        let phrase = SecretString::from(ABANDON);
        let tron = deposit_account(&phrase).unwrap().derive(0).unwrap();
        let evm = secp256k1::deposit_account(&phrase)
            .unwrap()
            .derive(0)
            .unwrap();
        assert_ne!(tron.to_evm(), evm);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let phrase = SecretString::from(ABANDON);
        let keys = payout_keys(&phrase).unwrap();
        let secret = hex::encode(keys.hot_wallet().to_bytes());
        let printed = format!("{keys:?} {:?}", deposit_account(&phrase).unwrap());
        assert!(!printed.contains(&secret));
        assert!(!printed.contains("abandon"));
        assert_eq!(printed, "TronPayoutKeys([REDACTED]) TronDepositKeys");
        assert!(phrase.expose_secret().starts_with("abandon"));
    }

    #[test]
    fn refuses_a_bad_mnemonic() {
        let bad = SecretString::from("abandon ".repeat(12));
        assert_eq!(
            deposit_account(&bad).unwrap_err(),
            SeedError::InvalidMnemonic
        );
        assert!(payout_keys(&bad).is_err());
    }
}
