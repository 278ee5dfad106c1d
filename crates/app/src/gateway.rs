//! The use cases' shared context: ports, configuration and the token table.

use std::collections::HashMap;
use std::sync::Arc;

use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{Transfer, TransferState};
use wcheckout_domain::ports::{Clock, RateSource, Store};
use wcheckout_domain::token::{Chain, Finality, Token, TokenId, TokenRegistry};

use crate::addresses::AddressAllocator;
use crate::chain_health::ChainHealthBoard;
use crate::error::ServiceError;
use crate::secrets::SecretBox;
use crate::wire::{OrderView, PaymentProgress};

/// Settings the use cases need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Public base URL of this server, without trailing slash (`https://pay.example.com`).
    pub public_url: String,
    /// Lifetime of access tokens (W Checkout: 1800 s).
    pub access_token_ttl_secs: i64,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: i64,
    /// How long after an order ends its deposit address is still watched.
    pub monitoring_window_secs: i64,
    /// How long the expiry of an order waits for a lagging chain watcher.
    pub expiry_grace_secs: i64,
    /// On-chain settlements above this many tokens wait for an operator's approval.
    pub settlement_approval_above: Option<wcheckout_domain::money::Decimal>,
    /// Bank accounts the operator registered for fiat settlements, by id.
    pub bank_accounts: HashMap<String, RegisteredBankAccount>,
    /// Console cookies only over HTTPS (`Secure`): production mode.
    pub secure_cookies: bool,
}

/// A bank account an operator registered for an app's fiat settlements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredBankAccount {
    /// The app allowed to use it.
    pub app: wcheckout_domain::ids::AppId,
    /// The account.
    pub account: crate::wire::BankAccount,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: "http://127.0.0.1:8080".into(),
            access_token_ttl_secs: 1800,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            monitoring_window_secs: wcheckout_domain::payment::DEFAULT_MONITORING_WINDOW_SECS,
            expiry_grace_secs: 900,
            settlement_approval_above: None,
            bank_accounts: HashMap::new(),
            secure_cookies: false,
        }
    }
}

/// Everything a use case may touch. Use cases are methods on it, grouped by module
/// (`auth`, `orders`, `expiry`).
pub struct Gateway {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Chains and tokens.
    pub tokens: Arc<TokenRegistry>,
    /// Exchange rates.
    pub rates: Arc<dyn RateSource>,
    /// Fresh deposit addresses.
    pub addresses: AddressAllocator,
    /// The master key's box, for `signKey`s.
    pub secrets: Arc<SecretBox>,
    /// Settings.
    pub settings: Settings,
    /// What the chain watchers report.
    pub chain_health: Arc<ChainHealthBoard>,
    /// Rung after every commit that wrote webhook events, so delivery starts at once.
    pub outbox_signal: Arc<tokio::sync::Notify>,
    /// The hot wallet of each chain family (one address serves every chain of a family),
    /// which pays refunds and settlements and receives sweeps.
    pub hot_wallets: HashMap<ChainFamily, Address>,
    /// Rung when payouts are queued, so they are sent at once.
    pub payout_signal: Arc<tokio::sync::Notify>,
    /// This process's limits on failed token requests.
    pub token_limits: crate::token_limits::TokenLimiter,
    /// The console's limits on failed sign-ins.
    pub login_limits: crate::token_limits::LoginLimiter,
    /// Per chain, what builds the transactions payers' wallets sign on the payment page
    /// (Solana chains; a chain without one has no wallet transaction).
    pub payer_transactions: HashMap<
        wcheckout_domain::token::ChainKey,
        Arc<dyn wcheckout_domain::chain::PayerTransactions>,
    >,
}

impl Gateway {
    /// An order's token and chain, which must stay configured as long as it has orders.
    pub fn token_of(&self, token: &TokenId) -> Result<(&Token, &Chain), ServiceError> {
        self.tokens.get(token).ok_or_else(|| {
            ServiceError::internal(format!(
                "token {token} is no longer configured (disable tokens, never remove them)"
            ))
        })
    }

    /// The hot wallet of a chain's family.
    pub fn hot_wallet(&self, chain: &Chain) -> Result<Address, ServiceError> {
        self.hot_wallets.get(&chain.family).copied().ok_or_else(|| {
            ServiceError::internal(format!("no hot wallet for {} chains", chain.family))
        })
    }

    /// The last head the chain's watcher recorded.
    pub async fn chain_head(&self, chain: &Chain) -> Result<Option<u64>, ServiceError> {
        let cursor = self.store.chain_cursor(&chain.key).await?;
        Ok(cursor.map(|c| c.head_number))
    }

    /// The API object of an order with known progress.
    pub fn order_view_with(
        &self,
        order: &Order,
        progress: &PaymentProgress,
    ) -> Result<OrderView, ServiceError> {
        let (token, _) = self.token_of(&order.token)?;
        Ok(OrderView::new(
            order,
            token,
            progress,
            &self.settings.public_url,
            self.clock.now(),
        ))
    }

    /// The API objects of orders, with their on-chain progress.
    pub async fn order_views(&self, orders: &[Order]) -> Result<Vec<OrderView>, ServiceError> {
        let sysids = orders.iter().map(|o| o.sysid.clone()).collect::<Vec<_>>();
        let transfers = if sysids.is_empty() {
            Vec::new()
        } else {
            self.store.transfers_of_orders(&sysids).await?
        };
        let mut heads = HashMap::new();
        let mut views = Vec::with_capacity(orders.len());
        for order in orders {
            let (_, chain) = self.token_of(&order.token)?;
            let head = match heads.get(&chain.key) {
                Some(head) => *head,
                None => {
                    let head = self.chain_head(chain).await?;
                    heads.insert(chain.key.clone(), head);
                    head
                }
            };
            let own = transfers.iter().filter(|t| t.order_sysid == order.sysid);
            let progress = payment_progress(own, head, chain);
            views.push(self.order_view_with(order, &progress)?);
        }
        Ok(views)
    }

    /// The API object of one order, with its on-chain progress.
    pub async fn order_view(&self, order: &Order) -> Result<OrderView, ServiceError> {
        let mut views = self.order_views(std::slice::from_ref(order)).await?;
        views
            .pop()
            .ok_or_else(|| ServiceError::internal("no view of an order that exists"))
    }
}

/// Progress from an order's transfers and the chain head.
pub fn payment_progress<'a>(
    transfers: impl Iterator<Item = &'a Transfer>,
    head: Option<u64>,
    chain: &Chain,
) -> PaymentProgress {
    let mut progress = PaymentProgress {
        required_confirmations: match chain.finality {
            Finality::Confirmations(n) => Some(n),
            Finality::Safe | Finality::Finalized => None,
        },
        ..PaymentProgress::default()
    };
    let mut latest_block = None;
    for transfer in transfers.filter(|t| t.state != TransferState::Reversed) {
        if transfer.state == TransferState::Pending {
            progress.unconfirmed = progress
                .unconfirmed
                .checked_add(transfer.amount)
                .unwrap_or(progress.unconfirmed);
        }
        latest_block = latest_block.max(Some(transfer.block_number));
    }
    if let (Some(block), Some(head)) = (latest_block, head) {
        // A recorded transfer is mined: one confirmation at least, even when the head read
        // was recorded before the block that holds it.
        progress.confirmations = head.max(block).saturating_add(1).saturating_sub(block);
    }
    progress
}
