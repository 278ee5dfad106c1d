//! The gateway's acceptance tests, one binary: each module is what was a test file of its own
//! (every test binary links the whole gateway, so one binary builds and links once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod auth_api;
mod bad_input;
mod catch_up;
mod chain_process;
mod concurrency;
mod console;
mod devnet;
mod expiry_after_outage;
mod multichain;
mod openapi;
mod orders_api;
mod payment_page;
mod payment_page_routes;
mod payment_page_solana;
mod payment_page_tron;
mod payments;
mod payout_engine;
mod payout_process;
mod payouts;
mod process;
mod reorgs;
mod solana_payments;
mod solana_payouts;
mod tron_payouts;
mod webhook_process;
mod webhooks;
