//! wcheckout use cases over the domain's ports, and the W Checkout JSON contract.
//!
//! - [`Gateway`]: the context every use case runs in; its methods are the use cases
//!   ([`auth`]: tokens, Bearer, signatures; [`orders`]: checkout orders; [`expiry`]: timeouts).
//! - [`admin::AppAdmin`]: operator administration of apps.
//! - [`wire`]: request and response objects exactly as integrators see them.
//!
//! Nothing here speaks HTTP or SQL: the `wcheckout-http` and `wcheckout-store` adapters do.

pub mod abnormal;
pub mod addresses;
pub mod admin;
pub mod auth;
pub mod chain_health;
pub mod clock;
pub mod console;
pub mod console_apps;
pub mod console_audit;
pub mod console_history;
pub mod console_lists;
pub mod console_operators;
pub mod console_orders;
pub mod console_overview;
pub mod console_password;
pub mod console_refunds;
pub mod console_sessions;
pub mod console_settlements;
pub mod console_totp;
pub mod console_webhooks;
pub mod error;
pub mod events;
pub mod expiry;
pub mod failpoint;
pub mod finality;
pub mod gateway;
pub mod lease;
pub mod operators;
pub mod orders;
pub mod outage;
pub mod page;
pub mod payments;
pub mod payout_address;
pub mod payouts;
pub mod postings;
mod range_fetch;
pub mod rates;
pub mod reconcile;
pub mod reconciler;
pub mod refunds;
pub mod secrets;
pub mod settlements;
pub mod token_limits;
pub mod totp;
mod transfer_match;
pub mod watch_list;
pub mod watcher;
pub mod webhooks;
pub mod wire;

pub use error::ServiceError;
pub use gateway::{Gateway, Settings};
