//! The chain families this binary serves, wired from the operator's one seed: each family's
//! deposit keys (behind the domain's one [`DepositAddresses`] port) and hot wallet.

use std::collections::HashMap;

use secrecy::SecretString;
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::ports::{DepositAddresses, DerivationError};

/// Deposit addresses of every family, from the seed's public keys only.
pub struct SeedDeposits {
    evm: wcheckout_evm::keys::DepositKeys,
    tron: wcheckout_tron::keys::DepositKeys,
}

impl SeedDeposits {
    /// Derives each family's deposit account from the seed.
    pub fn from_seed(seed: &SecretString) -> anyhow::Result<SeedDeposits> {
        Ok(SeedDeposits {
            evm: wcheckout_evm::keys::deposit_account(seed)?,
            tron: wcheckout_tron::keys::deposit_account(seed)?,
        })
    }
}

impl DepositAddresses for SeedDeposits {
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError> {
        match family {
            ChainFamily::Evm => self.evm.address_at(family, index),
            ChainFamily::Tron => self.tron.address_at(family, index),
            ChainFamily::Solana => Err(DerivationError::Family(family)),
        }
    }
}

/// The hot wallet of every family (one address serves all chains of a family).
pub fn hot_wallets(seed: &SecretString) -> anyhow::Result<HashMap<ChainFamily, Address>> {
    let evm = wcheckout_evm::keys::payout_keys(seed)?;
    let tron = wcheckout_tron::keys::payout_keys(seed)?;
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
    ]))
}
