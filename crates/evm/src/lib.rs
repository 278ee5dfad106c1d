//! The EVM adapter of wcheckout.
//!
//! - [`keys`]: deposit addresses and payout keys from the operator's BIP-39 seed.
//! - [`reader`]: the chain reader port over JSON-RPC (failover, batches, newHeads).
//! - [`anvil`]: a local anvil node for the devnet and tests.
//! - [`stablecoin`]: the devnet's test ERC-20: deploy, mint, transfer, balances.

pub mod anvil;
pub mod keys;
pub mod reader;
pub mod stablecoin;
pub mod writer;
