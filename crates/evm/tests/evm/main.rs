//! The EVM adapter's integration tests, one binary (each test binary links alloy and the
//! adapter on its own): the devnet pieces against anvil (`anvil`) and the chain conformance
//! suite against the adapter on anvil (`conformance`). Both need anvil, installed by `npm ci`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anvil;
mod conformance;
