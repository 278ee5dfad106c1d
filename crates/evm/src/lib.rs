//! The EVM adapter of wcheckout.
//!
//! - [`keys`]: deposit addresses and payout keys from the operator's BIP-39 seed.

pub mod keys;
