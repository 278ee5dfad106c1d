//! Where money may be sent: a valid address (EIP-55 checked when mixed case) that is none of
//! ours and no token contract, so a payout never loops back or burns funds.

use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::error::Rejection;

use crate::error::ServiceError;
use crate::gateway::Gateway;

impl Gateway {
    /// Parses and checks a payout destination given in `field`.
    pub(crate) async fn payout_address(
        &self,
        field: &str,
        text: &str,
    ) -> Result<EvmAddress, ServiceError> {
        let address = EvmAddress::parse(text.trim()).map_err(|e| Rejection::invalid(field, e))?;
        if address == EvmAddress::ZERO {
            return Err(Rejection::invalid(field, "must not be the zero address").into());
        }
        if self.tokens.tokens().any(|t| t.contract == address) {
            return Err(Rejection::invalid(
                field,
                "is a token contract, which cannot receive tokens back",
            )
            .into());
        }
        if address == self.hot_wallet {
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
