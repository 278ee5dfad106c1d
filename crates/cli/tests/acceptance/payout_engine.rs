//! The payout engine against the chain's behaviour: a transaction the node drops is sent again,
//! one stuck past the replacement period is replaced at the same nonce with higher fees (and only
//! one of them is ever mined), and a payout completes only at the chain's confirmation depth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::{Db, TestGateway};
use serde_json::{Value, json};
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::payout::{Payout, PayoutKind};
use wcheckout_domain::ports::MoneyStore;
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;

const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

async fn payout_of(gw: &TestGateway, refund_sysid: &str) -> Payout {
    let reference = format!("refund:{refund_sysid}");
    gw.store
        .payout_by_reference(PayoutKind::Refund, &reference)
        .await
        .unwrap()
        .unwrap()
}

async fn in_pool(chain: &TestChain, hash: &str) -> bool {
    !chain
        .rpc("eth_getTransactionByHash", json!([hash]))
        .await
        .is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_transactions_are_resent_and_stuck_ones_replaced_at_the_same_nonce() {
    let chain = TestChain::start(31337).await;
    let gw = TestGateway::start_with(Db::Sqlite, |c| {
        chain.configure(c, "ETH", 1);
        c.payouts.poll_interval_ms = 100;
        c.payouts.funds_retry_secs = 1;
        c.payouts.replace_after_secs = 3;
        c.sweeps.enabled = false;
    })
    .await
    .unwrap();
    let eth = gw.gateway.tokens.chains().next().unwrap().clone();
    let hot = gw.gateway.hot_wallet;
    wcheckout::devnet::fund_hot_wallet(&gw.gateway, &eth, &chain.rpc_url)
        .await
        .unwrap();
    // Tokens for the refund straight into the hot wallet, recorded as operator funding.
    let minted = stablecoin::mint(
        &chain.rpc_url,
        DEV_PRIVATE_KEYS[0],
        chain.usdt,
        hot,
        usd("5"),
    )
    .await
    .unwrap();
    let token = wcheckout_domain::token::TokenId::parse("ETH_USDT").unwrap();
    gw.gateway
        .record_funding(&eth, Asset::Token(token), usd("5"), &minted)
        .await
        .unwrap();

    let app = gw.create_app().await;
    let client = gw.client(&app);
    let order =
        json!({"orderNo": "o1", "orderAmount": "5", "customerId": "c", "token": "ETH_USDT"});
    let created = client
        .post("/checkout/order/create", &order.to_string())
        .await
        .unwrap();
    let address = created.retdata()["depositAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    chain.pay(3, chain.usdt, &address, usd("5")).await;
    eventually(Duration::from_secs(20), "paid", || async {
        let info = client.get("/checkout/order/info?orderNo=o1").await.unwrap();
        (info.retdata()["orderStatus"] == "PAID").then_some(())
    })
    .await;
    let payer_before = chain.balance(chain.usdt, DEV_ACCOUNTS[3]).await;

    chain.rpc("evm_setAutomine", json!([false])).await;
    let refund = json!({"refundOrderNo": "r1", "orderNo": "o1", "amount": "5"});
    let created = client
        .post("/checkout/refund/create", &refund.to_string())
        .await
        .unwrap();
    assert_eq!(created.retcode(), "200", "{}", created.body);
    let sysid = created.retdata()["sysid"].as_str().unwrap().to_owned();
    let first: Value = eventually(Duration::from_secs(20), "refund sent", || async {
        let info = client
            .get("/checkout/refund/info?refundOrderNo=r1")
            .await
            .unwrap();
        (info.retdata()["refundStatus"] == "REFUNDING").then(|| info.retdata().clone())
    })
    .await;
    let first_hash = first["txHash"].as_str().unwrap().to_owned();
    let nonce = payout_of(&gw, &sysid).await.nonce.unwrap();

    // Dropped by the node: the engine sends the same bytes again.
    chain
        .rpc("anvil_dropTransaction", json!([first_hash]))
        .await;
    assert!(!in_pool(&chain, &first_hash).await);
    eventually(Duration::from_secs(10), "rebroadcast", || async {
        in_pool(&chain, &first_hash).await.then_some(())
    })
    .await;

    // Stuck past the replacement period: replaced at the same nonce with higher fees.
    let replaced = eventually(Duration::from_secs(20), "replacement", || async {
        let payout = payout_of(&gw, &sysid).await;
        (payout.tx_hash.as_deref() != Some(first_hash.as_str())).then_some(payout)
    })
    .await;
    assert_eq!(replaced.nonce, Some(nonce), "a replacement keeps the nonce");
    let txs = gw.store.signed_txs(&replaced.id).await.unwrap();
    assert!(txs.len() >= 2);
    assert!(txs.iter().all(|tx| tx.nonce == nonce));
    assert!(txs[1].max_fee_per_gas > txs[0].max_fee_per_gas);
    assert!(txs[1].max_priority_fee_per_gas > txs[0].max_priority_fee_per_gas);

    chain.rpc("evm_setAutomine", json!([true])).await;
    chain.mine(1).await;
    let done: Value = eventually(Duration::from_secs(30), "refunded", || async {
        let info = client
            .get("/checkout/refund/info?refundOrderNo=r1")
            .await
            .unwrap();
        (info.retdata()["refundStatus"] == "REFUNDED").then(|| info.retdata().clone())
    })
    .await;
    let mined_hash = done["txHash"].as_str().unwrap();
    assert!(txs.iter().any(|tx| tx.tx_hash == mined_hash));

    // Exactly one transfer from the hot wallet to the payer, whichever transaction won.
    let payer_after = chain.balance(chain.usdt, DEV_ACCOUNTS[3]).await;
    assert_eq!(
        payer_after.base_units() - payer_before.base_units(),
        usd("5").base_units()
    );
    let topic =
        |address: &str| format!("0x{:0>64}", address.trim_start_matches("0x").to_lowercase());
    let logs = chain
        .rpc(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest", "address": chain.usdt.to_checksum(),
                    "topics": [TRANSFER_TOPIC, topic(&hot.to_checksum()), topic(DEV_ACCOUNTS[3])]}]),
        )
        .await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    let payout = payout_of(&gw, &sysid).await;
    assert!(payout.fee.is_some_and(|fee| !fee.is_zero()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_completes_only_at_the_chains_confirmation_depth() {
    let chain = TestChain::start(31337).await;
    let gw = TestGateway::start_with(Db::Sqlite, |c| {
        chain.configure(c, "ETH", 4);
        c.payouts.poll_interval_ms = 100;
        c.payouts.funds_retry_secs = 1;
        c.sweeps.enabled = false;
    })
    .await
    .unwrap();
    let eth = gw.gateway.tokens.chains().next().unwrap().clone();
    let hot = gw.gateway.hot_wallet;
    wcheckout::devnet::fund_hot_wallet(&gw.gateway, &eth, &chain.rpc_url)
        .await
        .unwrap();
    let minted = stablecoin::mint(
        &chain.rpc_url,
        DEV_PRIVATE_KEYS[0],
        chain.usdt,
        hot,
        usd("2"),
    )
    .await
    .unwrap();
    let token = wcheckout_domain::token::TokenId::parse("ETH_USDT").unwrap();
    gw.gateway
        .record_funding(&eth, Asset::Token(token), usd("2"), &minted)
        .await
        .unwrap();
    let app = gw.create_app().await;
    let client = gw.client(&app);
    let order =
        json!({"orderNo": "o2", "orderAmount": "2", "customerId": "c", "token": "ETH_USDT"});
    let created = client
        .post("/checkout/order/create", &order.to_string())
        .await
        .unwrap();
    let address = created.retdata()["depositAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    chain.pay(4, chain.usdt, &address, usd("2")).await;
    chain.mine(3).await;
    eventually(Duration::from_secs(20), "paid", || async {
        let info = client.get("/checkout/order/info?orderNo=o2").await.unwrap();
        (info.retdata()["orderStatus"] == "PAID").then_some(())
    })
    .await;
    let refund = json!({"refundOrderNo": "r2", "orderNo": "o2", "amount": "2"});
    let created = client
        .post("/checkout/refund/create", &refund.to_string())
        .await
        .unwrap();
    assert_eq!(created.retcode(), "200", "{}", created.body);
    let info = || async {
        let info = client
            .get("/checkout/refund/info?refundOrderNo=r2")
            .await
            .unwrap();
        info.retdata()["refundStatus"].as_str().unwrap().to_owned()
    };
    eventually(Duration::from_secs(20), "refund mined", || async {
        (info().await == "REFUNDING").then_some(())
    })
    .await;
    // Mined (automine) but one block deep: not final with 4 confirmations.
    chain.mine(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(info().await, "REFUNDING", "final only 4 blocks deep");
    chain.mine(1).await;
    eventually(Duration::from_secs(20), "refund final", || async {
        (info().await == "REFUNDED").then_some(())
    })
    .await;
}
