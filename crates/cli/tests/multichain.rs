//! Two anvil chains with different chain ids watched side by side: each order is paid on its
//! own chain, and a transfer on one chain never credits an order of the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::chain::{TestChain, eventually, usd};
use common::{Db, TestGateway};
use serde_json::{Value, json};

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
    let client = gw.client(&app);
    let create = |order_no: &str, token: &str| {
        let body =
            json!({"orderNo": order_no, "orderAmount": "6", "customerId": "c", "token": token});
        let client = &client;
        async move {
            let created = client
                .post("/checkout/order/create", &body.to_string())
                .await
                .unwrap();
            assert_eq!(created.retcode(), "200", "{}", created.body);
            created.retdata().clone()
        }
    };
    let on_eth = create("on-eth", "ETH_USDT").await;
    let on_bsc = create("on-bsc", "BSC_USDT").await;
    assert_eq!(on_bsc["coinAddress"], json!(bsc.usdt.to_checksum()));
    assert_eq!(on_bsc["requiredConfirmations"], 2);
    let address = |order: &Value| order["depositAddress"].as_str().unwrap().to_owned();

    // The ETH order's address is paid on the BSC chain first: wrong network, not credited.
    bsc.pay(1, bsc.usdt, &address(&on_eth), usd("6")).await;
    let eth_tx = eth.pay(1, eth.usdt, &address(&on_eth), usd("6")).await;
    let bsc_tx = bsc.pay(2, bsc.usdt, &address(&on_bsc), usd("6")).await;
    bsc.mine(1).await;
    let status = |order_no: &'static str| {
        let client = &client;
        async move {
            let info = client
                .get(&format!("/checkout/order/info?orderNo={order_no}"))
                .await
                .unwrap();
            info.retdata().clone()
        }
    };
    let paid_eth = eventually(Duration::from_secs(20), "ETH order paid", || async {
        let info = status("on-eth").await;
        (info["orderStatus"] == "PAID").then_some(info)
    })
    .await;
    let paid_bsc = eventually(Duration::from_secs(20), "BSC order paid", || async {
        let info = status("on-bsc").await;
        (info["orderStatus"] == "PAID").then_some(info)
    })
    .await;
    assert_eq!(paid_eth["txHash"], eth_tx);
    assert_eq!(paid_bsc["txHash"], bsc_tx);
    assert_eq!(
        paid_eth["paidAmount"], 6,
        "the transfer on the other chain did not count"
    );
    let abnormal = gw
        .signed(&app, "POST", "/checkout/abnormal-payment/list", "{}")
        .await;
    assert_eq!(abnormal["retdata"]["total"], 0, "{abnormal}");
    let health = gw.send("GET", "/health", "", &[]).await.2;
    for chain in ["ETH", "BSC"] {
        assert_eq!(health["chains"][chain]["leader"], true, "{health}");
        assert!(health["chains"][chain]["headHeight"].as_u64().unwrap() > 0);
    }
}

mod two_chains {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::two_chains_side_by_side(super::Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::two_chains_side_by_side(super::Db::Postgres).await;
    }
}
