//! What only Solana has, through the gateway on Surfnet: a failed transaction (it lands in a
//! block and pays its fee, but moves nothing) and a transfer of another mint to the deposit
//! owner credit nothing; finality by `confirmed` plus a slot count waits for its slots. The
//! payments every family shares (exact, partial, over, under, late) run on Solana in
//! `payments::*::solana`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{eventually, usd};
use crate::common::{ChainFixture as Fixture, Db};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn deposit(order: &Value) -> String {
    order["depositAddress"].as_str().unwrap().to_owned()
}

async fn wait_paid(f: &Fixture, order_no: &str) -> Value {
    eventually(WAIT, &format!("{order_no} PAID"), || async {
        let info = f.info(order_no).await;
        (info["orderStatus"] == "PAID").then_some(info)
    })
    .await
}

async fn a_failed_transfer_and_another_mint_credit_nothing(db: Db) {
    let Some(f) = Fixture::start_solana(db, None).await else {
        return;
    };
    let solana = f.solana.as_ref().unwrap();
    let order = f.create("sol-noise", "8", json!({})).await;
    let owner = deposit(&order);
    let failed = solana
        .node
        .pay_and_fail(0, &solana.usdt(), &owner)
        .await
        .unwrap();
    solana.pay(2, solana.usdc(), &owner, usd("8")).await;
    let paid_by = f.pay_usdt(3, &owner, usd("8")).await;
    let paid = wait_paid(&f, "sol-noise").await;
    assert_eq!(paid["txHash"], paid_by);
    assert_ne!(paid["txHash"], failed);
    assert_eq!(paid["paidAmount"].to_string(), "8", "{paid}");
    let abnormal = f.gw.list_abnormal_payments(&f.app, json!({})).await;
    assert_eq!(
        abnormal["retdata"]["records"],
        json!([]),
        "the failed transfer and the USDC are nothing to this order"
    );
}

async fn confirmed_finality_waits_its_slots(db: Db) {
    const SLOTS: u32 = 40;
    let Some(f) = Fixture::start_solana(db, Some(SLOTS)).await else {
        return;
    };
    let order = f.create("sol-confirmed", "5", json!({})).await;
    assert_eq!(order["requiredConfirmations"], SLOTS);
    f.pay_usdt(1, &deposit(&order), usd("5")).await;
    let seen = eventually(WAIT, "transfer seen unconfirmed", || async {
        let info = f.info("sol-confirmed").await;
        (info["unconfirmedAmount"] == 5 || info["orderStatus"] == "PAID").then_some(info)
    })
    .await;
    assert_eq!(
        seen["orderStatus"], "PAYING",
        "seen before its {SLOTS} slots: {seen}"
    );
    assert!(seen["confirmations"].as_u64().unwrap() < u64::from(SLOTS));
    let paid = wait_paid(&f, "sol-confirmed").await;
    assert!(
        paid["confirmations"].as_u64().unwrap() >= u64::from(SLOTS),
        "{paid}"
    );
    assert_eq!(paid["unconfirmedAmount"].to_string(), "0");
}

on_both_engines_with_db!(
    a_failed_transfer_and_another_mint_credit_nothing,
    confirmed_finality_waits_its_slots,
);
