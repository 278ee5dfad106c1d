//! What a per-account chain adapter (Solana) watches: the deposits of the chain's orders whose
//! payments would still count, read from the store each round.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{ChainError, WatchedDeposit, WatchedDeposits};
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::gateway::Gateway;

/// The deposits of one chain's orders still within their payment or monitoring window.
pub struct OpenDeposits {
    gateway: Arc<Gateway>,
    contracts: HashMap<TokenId, Address>,
}

impl OpenDeposits {
    /// The watch list of `chain`'s tokens (disabled ones too: their orders still get paid).
    pub fn new(gateway: Arc<Gateway>, chain: &ChainKey) -> OpenDeposits {
        let contracts = gateway
            .tokens
            .tokens_of(chain)
            .map(|token| (token.id.clone(), token.contract))
            .collect();
        OpenDeposits { gateway, contracts }
    }
}

#[async_trait]
impl WatchedDeposits for OpenDeposits {
    async fn watched_deposits(&self) -> Result<Vec<WatchedDeposit>, ChainError> {
        // A transfer counts until the monitoring window after the payment window ends
        // (`payment::monitored`): an order is watched until then.
        let window = self.gateway.settings.monitoring_window_secs;
        let expires_after = self.gateway.clock.now().plus_seconds(-window);
        let tokens = self.contracts.keys().cloned().collect::<Vec<_>>();
        let deposits = self
            .gateway
            .store
            .deposits_expiring_after(&tokens, expires_after)
            .await
            .map_err(|error| ChainError::Unavailable(format!("reading open deposits: {error}")))?;
        Ok(deposits
            .into_iter()
            .filter_map(|(address, token)| {
                let contract = *self.contracts.get(&token)?;
                Some(WatchedDeposit { address, contract })
            })
            .collect())
    }
}
