//! The Solana adapter of wcheckout: the chain's primitives, and reading a cluster over JSON-RPC.
//!
//! - [`address`]: base58 addresses, program-derived addresses and associated token accounts
//!   (Token and Token-2022).
//! - [`keys`]: ed25519 keys from the operator's BIP-39 seed by SLIP-0010: deposit owners at
//!   `m/44'/501'/i'/0'`, the hot wallet at `m/44'/501'/0'/1'`.
//! - [`transaction`]: legacy transactions (SPL `TransferChecked`, idempotent associated token
//!   account creation, `CloseAccount`, SOL transfers, priority fees) compiled, signed with
//!   ed25519 and encoded for `sendTransaction`.
//! - [`pay_url`]: Solana Pay transfer request URLs for the payment page's QR code.
//! - [`payer`]: the unsigned payment a payer's wallet signs on the payment page
//!   (`PayerTransactions`: compute budget, the deposit account created idempotently, the
//!   transfer with the order's reference key).
//! - [`rpc`]: the JSON-RPC calls detection, the payment page and payouts make, with failover
//!   across endpoints.
//! - [`surfnet`]: a local cluster (surfpool's Surfnet through node) for the devnet and tests.
//! - [`reader`]: `SolanaChainReader`, the chain reader port: slots as block numbers, a range's
//!   transfers read per watched deposit account.
//! - [`writer`]: `SolanaChainWriter`, the chain writer port: refunds, settlements and sweeps,
//!   the hot wallet paying every fee, expiry by the recent blockhash.

pub mod address;
pub mod keys;
pub mod pay_url;
pub mod payer;
pub mod reader;
pub mod rpc;
pub mod surfnet;
pub mod transaction;
pub mod writer;
