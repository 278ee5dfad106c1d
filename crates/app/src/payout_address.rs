//! Where money may be sent: a valid address of the chain's family (EIP-55 checked when mixed
//! case, base58check on TRON, base58 on Solana) that is none of ours and no token contract, so
//! a payout never loops back or burns funds.

use wcheckout_domain::address::Address;
use wcheckout_domain::error::Rejection;
use wcheckout_domain::token::Chain;

use crate::error::ServiceError;
use crate::gateway::Gateway;

impl Gateway {
    /// Parses and checks a payout destination on `chain` given in `field`.
    pub(crate) async fn payout_address(
        &self,
        chain: &Chain,
        field: &str,
        text: &str,
    ) -> Result<Address, ServiceError> {
        let address =
            Address::parse(chain.family, text.trim()).map_err(|e| Rejection::invalid(field, e))?;
        if address.is_zero() {
            return Err(Rejection::invalid(field, "must not be the zero address").into());
        }
        if self.tokens.tokens().any(|t| t.contract == address) {
            return Err(Rejection::invalid(
                field,
                "is a token contract, which cannot receive tokens back",
            )
            .into());
        }
        if self.hot_wallets.values().any(|hot| *hot == address) {
            return Err(Rejection::invalid(field, "is this gateway's hot wallet").into());
        }
        if !self
            .store
            .orders_by_deposit_addresses(&[address])
            .await?
            .is_empty()
        {
            return Err(Rejection::invalid(field, "is a deposit address of this gateway").into());
        }
        Ok(address)
    }
}
