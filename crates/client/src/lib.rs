//! Client-side helpers for the W Checkout API as wcheckout serves it.
//!
//! - [`signature`]: sign requests, verify response signatures and webhook deliveries.
//! - [`Client`]: an async client that obtains and refreshes the access token and signs every
//!   call, for integrators, the `wcheckout call` command and our own tests; a typed method per
//!   route ([`Client::create_order`], [`Client::order_info`], …).
//! - [`routes`]: every path of the API, named once.
//!
//! ```
//! use wcheckout_client::signature::verify_webhook;
//! let key = b"signKey";
//! let body = br#"{"eventId":"evt_1"}"#;
//! let sig = wcheckout_client::signature::sign_webhook(key, "1700000000000", body);
//! assert!(verify_webhook(key, Some("1700000000000"), Some(&sig), body, 1_700_000_000_500).is_ok());
//! ```

mod client;
pub mod routes;
pub mod signature;

pub use client::{ApiResponse, Client, ClientError, Credentials};
