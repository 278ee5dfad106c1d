//! The Solana adapter of wcheckout: the chain's primitives, without I/O.
//!
//! - [`address`]: base58 addresses, program-derived addresses and associated token accounts
//!   (Token and Token-2022).

pub mod address;
