//! Chain reorganisations on anvil: a transfer dropped before confirmation never credits, and
//! re-included it credits once; a reorg deeper than the confirmation depth that removes a
//! credited transfer is alerted on the order, counted, and never silently ignored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::chain::{TestChain, eventually, usd};
use common::{Db, TestGateway};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn info(
    gw: &TestGateway,
    app: &wcheckout_app::admin::IssuedCredentials,
    order_no: &str,
) -> Value {
    let info = gw
        .client(app)
        .get(&format!("/checkout/order/info?orderNo={order_no}"))
        .await
        .unwrap();
    info.retdata().clone()
}

async fn health(gw: &TestGateway) -> Value {
    gw.send("GET", "/health", "", &[]).await.2["chains"]["ETH"].clone()
}

/// Waits until the watcher has processed the chain's current head.
async fn caught_up(gw: &TestGateway, chain: &TestChain) {
    let head = chain.head().await;
    eventually(WAIT, "watcher caught up", || async {
        (health(gw).await["processedHeight"].as_u64() >= Some(head)).then_some(())
    })
    .await;
}

async fn create(
    gw: &TestGateway,
    app: &wcheckout_app::admin::IssuedCredentials,
    order_no: &str,
    amount: &str,
) -> String {
    let body =
        json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": "ETH_USDT"});
    let created = gw
        .client(app)
        .post("/checkout/order/create", &body.to_string())
        .await
        .unwrap();
    created.retdata()["depositAddress"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn dropped_before_confirmation_never_credits_and_reincluded_credits_once(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| chain.configure(c, "ETH", 3)).await else {
        return;
    };
    let app = gw.create_app().await;
    let deposit = create(&gw, &app, "reorg-1", "8").await;
    chain.pay(1, chain.usdt, &deposit, usd("8")).await;
    eventually(WAIT, "transfer seen", || async {
        (info(&gw, &app, "reorg-1").await["unconfirmedAmount"] == 8).then_some(())
    })
    .await;
    // Replace the transfer's block (and nothing else) with an empty one, then extend the chain
    // beyond the confirmation depth: the transfer must vanish without ever crediting.
    chain.reorg(1, vec![]).await;
    chain.mine(4).await;
    caught_up(&gw, &chain).await;
    let after = info(&gw, &app, "reorg-1").await;
    assert_eq!(after["orderStatus"], "PAYING", "{after}");
    assert_eq!(after["paidAmount"].to_string(), "0");
    assert_eq!(
        after["unconfirmedAmount"].to_string(),
        "0",
        "the dropped transfer is forgotten"
    );
    assert_eq!(chain.balance(chain.usdt, &deposit).await, usd("0"));
    assert!(health(&gw).await["reorgs"].as_u64().unwrap() >= 1);

    // A reorg that includes the payment in the new branch: it counts, once.
    let request = chain.transfer_request(1, chain.usdt, &deposit, usd("8"));
    chain.reorg(2, vec![(request, 1)]).await;
    chain.mine(4).await;
    let paid = eventually(WAIT, "re-included transfer credited", || async {
        let order = info(&gw, &app, "reorg-1").await;
        (order["orderStatus"] == "PAID").then_some(order)
    })
    .await;
    assert_eq!(paid["paidAmount"].to_string(), "8", "credited once");
    chain.mine(3).await;
    caught_up(&gw, &chain).await;
    let later = info(&gw, &app, "reorg-1").await;
    assert_eq!(later["paidAmount"].to_string(), "8");
    let abnormal = gw
        .signed(&app, "POST", "/checkout/abnormal-payment/list", "{}")
        .await;
    assert_eq!(
        abnormal["retdata"]["total"], 0,
        "no double credit as an overpayment"
    );
}

async fn a_pending_transfer_moved_to_another_block_credits_once(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| chain.configure(c, "ETH", 2)).await else {
        return;
    };
    let app = gw.create_app().await;
    let deposit = create(&gw, &app, "moved", "3").await;
    chain.pay(2, chain.usdt, &deposit, usd("3")).await;
    eventually(WAIT, "transfer seen", || async {
        (info(&gw, &app, "moved").await["unconfirmedAmount"] == 3).then_some(())
    })
    .await;
    // The same payment lands one block later in the new branch (a new transaction in anvil's
    // reorg, as a resubmission would be).
    let request = chain.transfer_request(2, chain.usdt, &deposit, usd("3"));
    chain.reorg(1, vec![(request, 0)]).await;
    chain.mine(3).await;
    let paid = eventually(WAIT, "paid", || async {
        let order = info(&gw, &app, "moved").await;
        (order["orderStatus"] == "PAID").then_some(order)
    })
    .await;
    assert_eq!(paid["paidAmount"].to_string(), "3");
    caught_up(&gw, &chain).await;
    assert_eq!(
        info(&gw, &app, "moved").await["paidAmount"].to_string(),
        "3"
    );
}

async fn a_deep_reorg_of_a_credited_transfer_is_alerted(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| chain.configure(c, "ETH", 1)).await else {
        return;
    };
    let app = gw.create_app().await;
    let deposit = create(&gw, &app, "deep", "4").await;
    chain.pay(1, chain.usdt, &deposit, usd("4")).await;
    eventually(WAIT, "paid", || async {
        (info(&gw, &app, "deep").await["orderStatus"] == "PAID").then_some(())
    })
    .await;
    chain.reorg(2, vec![]).await;
    chain.mine(2).await;
    let alerted = eventually(WAIT, "alert on the order", || async {
        let order = info(&gw, &app, "deep").await;
        order["alert"].is_string().then_some(order)
    })
    .await;
    assert!(
        alerted["alert"]
            .as_str()
            .unwrap()
            .contains("reorganisation"),
        "{alerted}"
    );
    assert_eq!(
        alerted["orderStatus"], "PAID",
        "a paid order is not silently un-paid"
    );
    let chain_health = health(&gw).await;
    assert!(
        chain_health["deepReorgs"].as_u64().unwrap() >= 1,
        "{chain_health}"
    );
}

macro_rules! on_both_engines_with_chain {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$scenario(super::Db::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$scenario(super::Db::Postgres).await;
                }
            }
        )*
    };
}

on_both_engines_with_chain!(
    dropped_before_confirmation_never_credits_and_reincluded_credits_once,
    a_pending_transfer_moved_to_another_block_credits_once,
    a_deep_reorg_of_a_credited_transfer_is_alerted,
);
