//! The wcheckout domain: the rules of a stablecoin checkout, free of I/O.
//!
//! - [`money`]: exact [`money::Decimal`] prices and [`money::TokenAmount`] base units.
//! - [`token`]: the chain and token table ([`token::TokenRegistry`]).
//! - [`order`]: checkout orders and the single transition function [`order::OrderStatus::apply`].
//! - [`error`]: the `retcode` catalogue ([`error::ErrorCode`]) and [`error::Rejection`].
//! - [`ports`]: the traits adapters implement (store, clock, rates, addresses).
//!
//! This crate must not depend on a web framework, a database driver or a chain client.
//!
//! ```
//! use wcheckout_domain::money::Decimal;
//! let price = Decimal::parse("123.45").unwrap();
//! let rate = Decimal::parse("1.00996").unwrap();
//! assert_eq!(price.mul_round_up(&rate, 2).unwrap().to_string(), "124.68");
//! ```

pub mod abnormal;
pub mod address;
pub mod app;
pub mod chain;
pub mod error;
pub mod events;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod operator;
pub mod order;
pub mod payment;
pub mod payout;
pub mod ports;
pub mod reconciliation;
pub mod refund;
pub mod settlement;
mod text_enum;
pub mod time;
pub mod token;
pub mod transfer;
pub mod webhook;
