//! The TRON adapter of wcheckout: the chain's primitives, and the node's HTTP API.
//!
//! - [`address`]: `T…` addresses (base58check of `0x41` and 20 bytes) and their 20-byte form,
//!   the one TRON's Ethereum-compatible JSON-RPC uses in logs.
//! - [`keys`]: deposit addresses and payout keys from the operator's BIP-39 seed, under
//!   TRON's coin type 195.
//! - [`transaction`]: TRC-20 `transfer` and plain TRX transfers, encoded as TRON's protobuf
//!   `Transaction`, identified by sha256 of `raw_data` and signed with a recoverable secp256k1
//!   signature, ready for `/wallet/broadcasthex`.
//! - [`node`]: the node's HTTP API the write side uses (head block, broadcast, transaction
//!   info, energy estimate, account and resources).
//! - [`writer`]: the domain's chain writer on TRON, which the payout engine sends through.
//! - [`standin`]: starts the TRON node stand-in (tests, devnet) in front of an anvil node.

pub mod address;
pub mod keys;
pub mod node;
pub mod standin;
pub mod transaction;
pub mod writer;

mod abi;
mod protobuf;
