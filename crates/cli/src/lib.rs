//! The `wcheckout` binary's library: configuration, key material, wiring and the operator
//! commands. The binary itself only calls [`cli::main`].

pub mod application;
pub mod apps;
pub mod backup;
pub mod call;
pub mod cli;
pub mod config;
pub mod devnet;
pub mod families;
pub mod keys;
pub mod money;
pub mod operators;
pub mod payout_workers;
pub mod runtime;
pub mod sandbox;
pub mod serve;
pub mod webhooks;
