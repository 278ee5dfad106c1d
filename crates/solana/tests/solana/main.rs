//! The Solana adapter's integration tests, one binary: the crate against Solana's JavaScript
//! libraries (`web3js`), payments on a local Surfnet node (`surfnet`), and the chain writer's
//! refunds, sweeps and expiry there (`writer`). All need `npm ci`; without it they are skipped
//! with a message, unless `WCHECKOUT_REQUIRE_TOOLS=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod detection;
mod surfnet;
mod web3js;
mod writer;
