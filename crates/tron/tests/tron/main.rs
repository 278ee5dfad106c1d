//! The TRON adapter's integration tests, one binary: the crate against tronweb (`tronweb`) and
//! the node client against the TRON node stand-in on anvil (`standin`), and the chain writer
//! the payout engine sends through, against the same stand-in (`writer`). They need `npm ci`
//! (node_modules with tronweb and anvil); without it they are skipped with a message, unless
//! `WCHECKOUT_REQUIRE_TOOLS=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod jsonrpc;
mod standin;
mod tronweb;
mod writer;
