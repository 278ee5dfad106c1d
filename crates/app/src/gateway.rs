//! The use cases' shared context: ports, configuration and the token table.

use std::sync::Arc;

use wcheckout_domain::order::Order;
use wcheckout_domain::ports::{Clock, RateSource, Store};
use wcheckout_domain::token::TokenRegistry;

use crate::addresses::AddressAllocator;
use crate::error::ServiceError;
use crate::secrets::SecretBox;
use crate::wire::OrderView;

/// Settings the use cases need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Public base URL of this server, without trailing slash (`https://pay.example.com`).
    pub public_url: String,
    /// Lifetime of access tokens (W Checkout: 1800 s).
    pub access_token_ttl_secs: i64,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: "http://127.0.0.1:8080".into(),
            access_token_ttl_secs: 1800,
            refresh_token_ttl_secs: 7 * 24 * 3600,
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
}

impl Gateway {
    /// The API object of an order as of now.
    pub fn order_view(&self, order: &Order) -> Result<OrderView, ServiceError> {
        let (token, _) = self.tokens.get(&order.token).ok_or_else(|| {
            ServiceError::Internal(format!(
                "order {} uses token {}, which is no longer configured (disable tokens, never \
                 remove them)",
                order.sysid, order.token
            ))
        })?;
        Ok(OrderView::new(
            order,
            token,
            &self.settings.public_url,
            self.clock.now(),
        ))
    }
}
