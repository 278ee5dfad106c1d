//! The chain families this binary serves, wired from the operator's one seed: each family's
//! deposit keys (behind the domain's one [`DepositAddresses`] port) and hot wallet.
//!
//! EVM and TRON deposit addresses come from extended public keys. Solana's cannot: ed25519
//! derivation is hardened only, so its deriver holds the `m/44'/501'` node, a secret (see
//! `wcheckout_solana::keys::DepositOwners`).

use std::collections::HashMap;

use secrecy::SecretString;
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::ports::{DepositAddresses, DerivationError};

/// Deposit addresses of every family: EVM's and TRON's from the seed's public keys, Solana's
/// from its `m/44'/501'` node.
pub struct SeedDeposits {
    evm: wcheckout_evm::keys::DepositKeys,
    tron: wcheckout_tron::keys::DepositKeys,
    solana: wcheckout_solana::keys::DepositOwners,
}

impl SeedDeposits {
    /// Derives each family's deposit account from the seed.
    pub fn from_seed(seed: &SecretString) -> anyhow::Result<SeedDeposits> {
        Ok(SeedDeposits {
            evm: wcheckout_evm::keys::deposit_account(seed)?,
            tron: wcheckout_tron::keys::deposit_account(seed)?,
            solana: wcheckout_solana::keys::deposit_owners(seed)?,
        })
    }
}

impl DepositAddresses for SeedDeposits {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        match family {
            ChainFamily::Evm => self.evm.address_at(family, index),
            ChainFamily::Tron => self.tron.address_at(family, index),
            ChainFamily::Solana => self.solana.address_at(family, index),
        }
    }
}

/// The hot wallet of every family (one address serves all chains of a family).
pub fn hot_wallets(seed: &SecretString) -> anyhow::Result<HashMap<ChainFamily, Address>> {
    let evm = wcheckout_evm::keys::payout_keys(seed)?;
    let tron = wcheckout_tron::keys::payout_keys(seed)?;
    let solana = wcheckout_solana::keys::keys(seed)?;
    Ok(HashMap::from([
        (
            ChainFamily::Evm,
            Address::Evm(wcheckout_evm::keys::PayoutKeys::address(&evm.hot_wallet())),
        ),
        (
            ChainFamily::Tron,
            Address::Tron(wcheckout_tron::keys::PayoutKeys::address(
                &tron.hot_wallet(),
            )),
        ),
        (
            ChainFamily::Solana,
            Address::Solana(solana.hot_wallet().address()),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon abandon about";

    #[test]
    fn each_family_derives_its_own_deposit_addresses_from_one_index() {
        let seed = SecretString::from(ABANDON);
        let deposits = SeedDeposits::from_seed(&seed).unwrap();
        let solana = |index| deposits.address_at(ChainFamily::Solana, index).unwrap();
        assert_eq!(
            solana(0).to_string(),
            "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
        );
        assert_eq!(
            solana(1).to_string(),
            "Hh8QwFUA6MtVu1qAoq12ucvFHNwCcVTV7hpWjeY1Hztb"
        );
        for family in [ChainFamily::Evm, ChainFamily::Tron, ChainFamily::Solana] {
            let address = deposits.address_at(family, 3).unwrap();
            assert_eq!(address.family(), family);
        }
        assert_eq!(
            deposits.address_at(ChainFamily::Solana, 1 << 31),
            Err(DerivationError::OutOfRange(1 << 31))
        );
    }

    #[test]
    fn every_family_has_its_hot_wallet_and_none_is_a_deposit_address() {
        let seed = SecretString::from(ABANDON);
        let hot = hot_wallets(&seed).unwrap();
        let deposits = SeedDeposits::from_seed(&seed).unwrap();
        for family in [ChainFamily::Evm, ChainFamily::Tron, ChainFamily::Solana] {
            assert_eq!(hot[&family].family(), family);
            assert!((0..20).all(|i| deposits.address_at(family, i).unwrap() != hot[&family]));
        }
    }
}
