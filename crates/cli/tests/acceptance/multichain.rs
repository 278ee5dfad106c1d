//! Two anvil chains with different chain ids watched side by side: each order is paid on its
//! own chain, and a transfer on one chain never credits an order of the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::{Db, TestGateway, usdt_order};
use serde_json::{Value, json};
use wcheckout_app::admin::IssuedCredentials;

async fn two_chains_side_by_side(db: Db) {
    let eth = TestChain::start(31337).await;
    let bsc = TestChain::start(31338).await;
    let Some(gw) = TestGateway::start_with(db, |c| {
        eth.configure(c, "ETH", 1);
        bsc.configure(c, "BSC", 2);
    })
    .await
    else {
        return;
    };
    let app = gw.create_app().await;
    let on_eth = gw
        .created_order(&app, usdt_order("on-eth", "6", json!({})))
        .await;
    let bsc_usdt = json!({"token": "BSC_USDT"});
    let on_bsc = gw
        .created_order(&app, usdt_order("on-bsc", "6", bsc_usdt))
        .await;
    assert_eq!(on_bsc["coinAddress"], json!(bsc.usdt.to_checksum()));
    assert_eq!(on_bsc["requiredConfirmations"], 2);
    let address = |order: &Value| order["depositAddress"].as_str().unwrap().to_owned();

    // The ETH order's address is paid on the BSC chain first: wrong network, not credited.
    bsc.pay(1, bsc.usdt, &address(&on_eth), usd("6")).await;
    let eth_tx = eth.pay(1, eth.usdt, &address(&on_eth), usd("6")).await;
    let bsc_tx = bsc.pay(2, bsc.usdt, &address(&on_bsc), usd("6")).await;
    bsc.mine(1).await;
    let paid_eth = paid(&gw, &app, "on-eth", Duration::from_secs(20)).await;
    let paid_bsc = paid(&gw, &app, "on-bsc", Duration::from_secs(20)).await;
    assert_eq!(paid_eth["txHash"], eth_tx);
    assert_eq!(paid_bsc["txHash"], bsc_tx);
    assert_eq!(
        paid_eth["paidAmount"], 6,
        "the transfer on the other chain did not count"
    );
    let abnormal = gw.list_abnormal_payments(&app, "{}").await;
    assert_eq!(abnormal["retdata"]["total"], 0, "{abnormal}");
    let health = gw.send("GET", "/health", "", &[]).await.2;
    for chain in ["ETH", "BSC"] {
        assert_eq!(health["chains"][chain]["leader"], true, "{health}");
        assert!(health["chains"][chain]["headHeight"].as_u64().unwrap() > 0);
    }
}

async fn pay_and_wait(gw: &TestGateway, chain: &TestChain, order_no: &str) -> Value {
    let app = gw.create_app().await;
    let created = gw
        .created_order(&app, usdt_order(order_no, "2", json!({})))
        .await;
    let deposit = created["depositAddress"].as_str().unwrap().to_owned();
    let tx = chain.pay(1, chain.usdt, &deposit, usd("2")).await;
    let paid = paid(gw, &app, order_no, Duration::from_secs(30)).await;
    assert_eq!(paid["txHash"], tx);
    paid
}

/// The order once `PAID` (waiting at most `wait`).
async fn paid(gw: &TestGateway, app: &IssuedCredentials, order_no: &str, wait: Duration) -> Value {
    eventually(wait, &format!("{order_no} paid"), || async {
        let info = gw.order(app, order_no).await;
        (info["orderStatus"] == "PAID").then_some(info)
    })
    .await
}

/// The first RPC endpoint is dead: the watcher fails over to the next and payments still count.
async fn rpc_failover(db: Db) {
    let chain = TestChain::start(31337).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let Some(gw) = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", 1);
        let eth = c.chains.get_mut("ETH").unwrap();
        eth.rpc_urls.insert(0, format!("http://{dead}"));
        eth.ws_url = None;
        c.watcher.rpc_timeout_ms = 500;
    })
    .await
    else {
        return;
    };
    pay_and_wait(&gw, &chain, "failover").await;
}

/// With `finality = "safe"`, a transfer counts once the node's safe block (anvil: head − 32)
/// has reached it.
async fn safe_tag_finality(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some(gw) = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", 1);
        c.chains.get_mut("ETH").unwrap().finality = Some("safe".into());
    })
    .await
    else {
        return;
    };
    let app = gw.create_app().await;
    let created = gw
        .created_order(&app, usdt_order("safe", "2", json!({})))
        .await;
    assert_eq!(created["requiredConfirmations"], Value::Null);
    let deposit = created["depositAddress"].as_str().unwrap().to_owned();
    chain.pay(1, chain.usdt, &deposit, usd("2")).await;
    chain.mine(10).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let info = gw.order(&app, "safe").await;
    assert_eq!(
        info["orderStatus"], "PAYING",
        "not yet below the safe block"
    );
    assert_eq!(info["unconfirmedAmount"], 2);
    chain.mine(30).await;
    paid(&gw, &app, "safe", Duration::from_secs(20)).await;
}

mod safe_finality {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::safe_tag_finality(super::Db::Sqlite).await;
    }
}

on_both_engines_with_db!(rpc_failover, two_chains_side_by_side);
