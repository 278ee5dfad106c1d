//! Orders paid by real ERC-20 transfers on anvil, on both engines: exact, partial, over- and
//! underpayment, late payment, foreign tokens and reverted transfers, and batch credits racing
//! each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{eventually, usd, wusd};
use crate::common::{ChainFixture as Fixture, Db, Family, retcode, succeeded};
use serde_json::{Value, json};
use wcheckout_app::admin::AppChanges;
use wcheckout_app::payments::Credited;
use wcheckout_domain::payment::TransferState;
use wcheckout_domain::ports::ChainStore;
use wcheckout_domain::token::ChainKey;

const WAIT: Duration = Duration::from_secs(20);

impl Fixture {
    async fn wait_status(&self, order_no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("{order_no} {status}"), || async {
            let info = self.info(order_no).await;
            (info["orderStatus"] == status).then_some(info)
        })
        .await
    }

    async fn abnormal(&self, filter: Value) -> Vec<Value> {
        let page = self.gw.list_abnormal_payments(&self.app, filter).await;
        succeeded(&page)["records"].as_array().unwrap().clone()
    }

    async fn wait_abnormal(&self, order_no: &str, count: usize) -> Vec<Value> {
        eventually(WAIT, "abnormal payments", || async {
            let records = self.abnormal(json!({"orderNo": order_no})).await;
            (records.len() >= count).then_some(records)
        })
        .await
    }
}

fn address(order: &Value) -> String {
    order["depositAddress"].as_str().unwrap().to_owned()
}

async fn exact_payment_pays_the_order(family: Family, db: Db) {
    let Some(f) = Fixture::start_on(family, db, 1).await else {
        return;
    };
    let order = f.create("exact", "12.5", json!({})).await;
    // A chain final by its `finalized` commitment counts no confirmations.
    let required = if f.solana.is_some() {
        json!(null)
    } else {
        json!(1)
    };
    assert_eq!(order["requiredConfirmations"], required);
    let tx = f.pay_usdt(1, &address(&order), usd("12.50")).await;
    let paid = f.wait_status("exact", "PAID").await;
    assert_eq!(paid["txHash"], f.tx_id(&tx));
    assert_eq!(paid["paidAmount"].to_string(), "12.5");
    assert_eq!(paid["unconfirmedAmount"].to_string(), "0");
    assert!(paid["confirmations"].as_u64().unwrap() >= 1);
    assert!(
        f.abnormal(json!({})).await.is_empty(),
        "an exact payment is not abnormal"
    );
}

async fn partial_transfers_add_up(family: Family, db: Db) {
    let Some(f) = Fixture::start_on(family, db, 1).await else {
        return;
    };
    let order = f.create("parts", "10", json!({})).await;
    f.pay_usdt(1, &address(&order), usd("4")).await;
    let partly = eventually(WAIT, "first part credited", || async {
        let info = f.info("parts").await;
        (info["paidAmount"] == 4).then_some(info)
    })
    .await;
    assert_eq!(partly["orderStatus"], "PAYING");
    let second = f.pay_usdt(2, &address(&order), usd("6")).await;
    let paid = f.wait_status("parts", "PAID").await;
    assert_eq!(
        paid["txHash"],
        f.tx_id(&second),
        "txHash is the transfer that completed the payment"
    );
    assert_eq!(paid["paidAmount"].to_string(), "10");
}

async fn overpayment_creates_over_paid(family: Family, db: Db) {
    let Some(f) = Fixture::start_on(family, db, 1).await else {
        return;
    };
    let order = f.create("over", "10", json!({})).await;
    let tx = f.pay_usdt(3, &address(&order), usd("10.75")).await;
    f.wait_status("over", "PAID").await;
    let records = f.wait_abnormal("over", 1).await;
    assert_eq!(records.len(), 1);
    let over = &records[0];
    assert_eq!(over["type"], "OVER_PAID");
    assert_eq!(over["status"], "PENDING");
    assert_eq!(over["amount"], "0.75");
    assert_eq!(over["pendingAmount"], "0.75");
    assert_eq!(over["hash"], f.tx_id(&tx));
    assert_eq!(over["token"], format!("{}_USDT", f.key));
    assert_eq!(over["orderNo"], "over");
    assert!(
        over["abnormalPaymentNo"]
            .as_str()
            .unwrap()
            .starts_with("AP")
    );
    assert_eq!(
        over["createdTime"].as_str().unwrap().len(),
        19,
        "yyyy-MM-dd HH:mm:ss"
    );
    // A further transfer to the paid order is an overpayment in full.
    f.pay_usdt(3, &address(&order), usd("2")).await;
    let records = f.wait_abnormal("over", 2).await;
    assert!(
        records
            .iter()
            .any(|r| r["amount"] == "2.00" && r["type"] == "OVER_PAID")
    );
    let filtered = f
        .abnormal(
            json!({"type": "OVER_PAID", "status": "PENDING", "token": format!("{}_USDT", f.key)}),
        )
        .await;
    assert_eq!(filtered.len(), 2);
    assert!(f.abnormal(json!({"type": "LATE_PAYMENT"})).await.is_empty());
}

/// ETH_WUSD, an 18-decimal token: an amount computed in floating point is priced without its
/// noise, and a real transfer one base unit above it pays the order to the last decimal.
async fn a_wusd_order_is_paid_to_its_18th_decimal(db: Db) {
    let Some(f) = Fixture::start(db, 1).await else {
        return;
    };
    // What an integrator computing in floats sends for 1999 cents: 19.990000000000002.
    let amount = 1999.0 * 0.01;
    let extra = json!({"orderAmount": amount, "token": "ETH_WUSD"});
    let order = f.create("wusd", "0", extra).await;
    let raw = f.gw.client(&f.app).order_info("wusd").await.unwrap();
    assert!(
        raw.body.contains(r#""orderAmount":19.990000000000002,"#)
            && raw.body.contains(r#""payingAmount":19.99,"#),
        "{}",
        raw.body
    );
    assert_eq!(order["token"], "ETH_WUSD");
    assert_eq!(order["coinAddress"], f.chain().wusd.to_checksum().as_str());
    let sent = wusd("19.990000000000000001");
    let tx = f
        .chain()
        .pay(1, f.chain().wusd, &address(&order), sent)
        .await;
    let paid = f.wait_status("wusd", "PAID").await;
    assert_eq!(paid["txHash"], tx);
    assert_eq!(
        f.chain().balance(f.chain().wusd, &address(&order)).await,
        sent
    );
    let records = f.wait_abnormal("wusd", 1).await;
    assert_eq!(records[0]["type"], "OVER_PAID");
    assert_eq!(records[0]["token"], "ETH_WUSD");
    assert_eq!(records[0]["amount"], "0.000000000000000001");
}

async fn partial_then_expiry_is_under_paid(family: Family, db: Db) {
    let Some(f) = Fixture::start_on(family, db, 1).await else {
        return;
    };
    let order = f.create("under", "20", json!({"expiredIn": 60})).await;
    let tx = f.pay_usdt(1, &address(&order), usd("5")).await;
    eventually(WAIT, "part credited", || async {
        (f.info("under").await["paidAmount"] == 5).then_some(())
    })
    .await;
    f.gw.clock.advance_secs(61);
    f.wait_status("under", "TIMEOUT").await;
    let records = f.wait_abnormal("under", 1).await;
    assert_eq!(records[0]["type"], "UNDER_PAID");
    assert_eq!(records[0]["amount"], "5.00");
    assert_eq!(records[0]["pendingAmount"], "5.00");
    assert_eq!(records[0]["hash"], f.tx_id(&tx));
}

async fn payments_after_cancel_and_timeout_are_late(family: Family, db: Db) {
    let Some(f) = Fixture::start_on(family, db, 1).await else {
        return;
    };
    let cancelled = f.create("late-c", "3", json!({})).await;
    let done = f.gw.client(&f.app).cancel_order("late-c").await.unwrap();
    assert_eq!(done.retdata()["orderStatus"], "CANCELLED");
    let timed_out = f.create("late-t", "3", json!({"expiredIn": 60})).await;
    f.gw.clock.advance_secs(61);
    f.wait_status("late-t", "TIMEOUT").await;
    assert!(
        f.abnormal(json!({"orderNo": "late-t"})).await.is_empty(),
        "nothing arrived: no UNDER_PAID"
    );
    f.pay_usdt(1, &address(&cancelled), usd("3")).await;
    f.pay_usdt(2, &address(&timed_out), usd("3")).await;
    for order_no in ["late-c", "late-t"] {
        let records = f.wait_abnormal(order_no, 1).await;
        assert_eq!(records[0]["type"], "LATE_PAYMENT", "{order_no}");
        assert_eq!(records[0]["amount"], "3.00");
    }
    assert_eq!(
        f.info("late-c").await["orderStatus"],
        "CANCELLED",
        "terminal states stay terminal"
    );
    assert_eq!(f.info("late-t").await["orderStatus"], "TIMEOUT");
}

async fn foreign_tokens_and_reverted_transfers_credit_nothing(db: Db) {
    let Some(f) = Fixture::start(db, 1).await else {
        return;
    };
    let order = f.create("foreign", "5", json!({})).await;
    f.chain()
        .pay(1, f.chain().stranger, &address(&order), usd("5"))
        .await;
    f.chain()
        .pay(1, f.chain().usdc, &address(&order), usd("5"))
        .await;
    let deposit = wcheckout_domain::address::EvmAddress::parse(&address(&order)).unwrap();
    let reverted = wcheckout_evm::stablecoin::transfer(
        &f.chain().rpc_url,
        wcheckout_evm::anvil::DEV_PRIVATE_KEYS[6],
        f.chain().usdt,
        deposit,
        usd("5"),
    )
    .await;
    assert!(
        reverted.is_err(),
        "account 6 holds no USDT: the transfer reverts"
    );
    f.chain().mine(3).await;
    // Let the watcher pass these blocks, then check nothing was credited.
    let head = f.chain().head().await;
    eventually(WAIT, "watcher past the transfers", || async {
        let health = f.gw.send("GET", "/health", "", &[]).await.2;
        (health["chains"]["ETH"]["processedHeight"].as_u64() >= Some(head)).then_some(())
    })
    .await;
    let info = f.info("foreign").await;
    assert_eq!(info["orderStatus"], "PAYING");
    assert_eq!(info["paidAmount"].to_string(), "0");
    assert!(f.abnormal(json!({})).await.is_empty());
}

async fn tolerance_accepts_a_small_shortfall(db: Db) {
    let Some(f) = Fixture::start(db, 1).await else {
        return;
    };
    let changes = AppChanges {
        tolerance_percent: Some("1".into()),
        ..AppChanges::default()
    };
    f.gw.update_app(&f.app.app_id, changes).await;
    let order = f.create("tolerant", "100", json!({})).await;
    f.pay_usdt(1, &address(&order), usd("99.5")).await;
    let paid = f.wait_status("tolerant", "PAID").await;
    assert_eq!(paid["paidAmount"].to_string(), "99.5");
    assert!(f.abnormal(json!({})).await.is_empty());
}

async fn confirmations_are_awaited(db: Db) {
    let Some(f) = Fixture::start(db, 3).await else {
        return;
    };
    let order = f.create("deep", "7", json!({})).await;
    f.pay_usdt(1, &address(&order), usd("7")).await;
    let seen = eventually(WAIT, "transfer seen", || async {
        let info = f.info("deep").await;
        (info["unconfirmedAmount"] == 7).then_some(info)
    })
    .await;
    assert_eq!(seen["orderStatus"], "PAYING", "one confirmation of three");
    assert_eq!(seen["confirmations"], 1);
    assert_eq!(seen["requiredConfirmations"], 3);
    f.chain().mine(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        f.info("deep").await["orderStatus"],
        "PAYING",
        "two of three"
    );
    f.chain().mine(1).await;
    let paid = f.wait_status("deep", "PAID").await;
    assert_eq!(paid["confirmations"], 3);
}

async fn list_abnormal_payments_validates_filters(db: Db) {
    let Some(f) = Fixture::start(db, 1).await else {
        return;
    };
    let bad =
        f.gw.list_abnormal_payments(&f.app, r#"{"type":"LOST"}"#)
            .await;
    assert_eq!(retcode(&bad), "00001");
    let bad =
        f.gw.list_abnormal_payments(&f.app, r#"{"status":"DONE"}"#)
            .await;
    assert_eq!(retcode(&bad), "00001");
    let page = f.gw.list_abnormal_payments(&f.app, "").await;
    assert_eq!(page["retdata"]["total"], 0);
    assert_eq!(page["retdata"]["pageSize"], 10);
}

/// Two batch credits of overlapping sets of pending transfers race: whichever commits first
/// wins its transfers, the other meets compare-and-set conflicts and falls back to crediting
/// one by one, finding them done. Every transfer counts exactly once, every order is paid once,
/// and an order paid by two transfers of the batch adds both.
async fn racing_batch_credits_count_each_transfer_once(db: Db) {
    // Nothing becomes final by confirmations here: only the calls below credit.
    let Some(f) = Fixture::start(db, 1000).await else {
        return;
    };
    let mut deposits = Vec::new();
    for i in 0..10 {
        let order = f
            .create(&format!("race-{i}"), &format!("{}.25", 3 + i), json!({}))
            .await;
        deposits.push(order["depositAddress"].as_str().unwrap().to_owned());
    }
    for (i, deposit) in deposits.iter().enumerate() {
        let amount = usd(&format!("{}.25", 3 + i));
        if i == 0 {
            // Two halves of one order in the same batch.
            f.pay_usdt(2, deposit, usd("1.5")).await;
            f.pay_usdt(3, deposit, usd("1.75")).await;
        } else {
            f.pay_usdt(1, deposit, amount).await;
        }
    }
    let eth = ChainKey::parse("ETH").unwrap();
    let pending = eventually(WAIT, "11 pending transfers", || async {
        let pending =
            f.gw.store
                .pending_transfers_up_to(&eth, 1_000_000, 100)
                .await
                .unwrap();
        (pending.len() == 11).then_some(pending)
    })
    .await;

    let gateway = &f.gw.gateway;
    let (all, some) = tokio::join!(
        gateway.credit_transfers(&pending),
        gateway.credit_transfers(&pending[3..8])
    );
    let (all, some) = (all.unwrap(), some.unwrap());
    assert_eq!(all.len(), pending.len());
    for (i, outcome) in all.iter().enumerate() {
        let other = (3..8).contains(&i).then(|| some[i - 3]);
        let counted = [Some(*outcome), other]
            .iter()
            .filter(|o| **o == Some(Credited::Counted))
            .count();
        assert_eq!(counted, 1, "transfer {i}: {outcome:?} and {other:?}");
        for o in [Some(*outcome), other].into_iter().flatten() {
            assert!(
                matches!(o, Credited::Counted | Credited::AlreadyDone),
                "transfer {i}: {o:?}"
            );
        }
    }
    for i in 0..10 {
        let info = f.wait_status(&format!("race-{i}"), "PAID").await;
        assert_eq!(info["paidAmount"], info["payingAmount"], "{info}");
    }
    let sysids = pending
        .iter()
        .map(|t| t.order_sysid.clone())
        .collect::<Vec<_>>();
    let transfers = f.gw.store.transfers_of_orders(&sysids).await.unwrap();
    assert_eq!(transfers.len(), 11);
    assert!(
        transfers.iter().all(|t| t.state == TransferState::Credited),
        "{transfers:?}"
    );
    assert!(f.abnormal(json!({})).await.is_empty());
    // Crediting again changes nothing.
    let again = gateway.credit_transfers(&pending).await.unwrap();
    assert!(
        again.iter().all(|o| *o == Credited::AlreadyDone),
        "{again:?}"
    );
}

on_every_family!(
    exact_payment_pays_the_order,
    partial_transfers_add_up,
    overpayment_creates_over_paid,
    partial_then_expiry_is_under_paid,
    payments_after_cancel_and_timeout_are_late,
);

on_both_engines_with_db!(
    a_wusd_order_is_paid_to_its_18th_decimal,
    foreign_tokens_and_reverted_transfers_credit_nothing,
    tolerance_accepts_a_small_shortfall,
    confirmations_are_awaited,
    list_abnormal_payments_validates_filters,
    racing_batch_credits_count_each_transfer_once,
);
