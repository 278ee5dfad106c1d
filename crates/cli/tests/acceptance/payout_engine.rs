//! The payout engine against the chain's behaviour: a transaction the node drops is sent again,
//! one stuck past the replacement period is replaced at the same nonce with higher fees (and only
//! one of them is ever mined), and a payout completes only at the chain's confirmation depth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::{Db, TestGateway, usdt_order};
use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_client::Client;
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

/// A gateway paying out on `chain` (final at `confirmations`, then as `tweak` says), its hot
/// wallet holding gas and `funds` USDT minted to it, recorded as the operator's funding.
async fn paying_gateway(
    chain: &TestChain,
    confirmations: u32,
    funds: &str,
    tweak: impl FnOnce(&mut Config),
) -> TestGateway {
    let gw = TestGateway::start_with(Db::Sqlite, |c| {
        chain.configure(c, "ETH", confirmations);
        c.payouts.poll_interval_ms = 100;
        c.payouts.funds_retry_secs = 1;
        c.sweeps.enabled = false;
        tweak(c);
    })
    .await
    .unwrap();
    let eth = gw.gateway.tokens.chains().next().unwrap().clone();
    let hot = gw.evm_hot_wallet();
    wcheckout::devnet::fund_hot_wallet(&gw.gateway, &eth, &chain.rpc_url)
        .await
        .unwrap();
    // Tokens for the refund straight into the hot wallet.
    let minted = stablecoin::mint(
        &chain.rpc_url,
        DEV_PRIVATE_KEYS[0],
        chain.usdt,
        hot,
        usd(funds),
    )
    .await
    .unwrap();
    let token = wcheckout_domain::token::TokenId::parse("ETH_USDT").unwrap();
    gw.gateway
        .record_funding(&eth, Asset::Token(token), usd(funds), &minted)
        .await
        .unwrap();
    gw
}

/// A new app's order `order_no` of `amount`, paid by dev account `payer` and mined until
/// `confirmations` deep, once `PAID`; the app's client.
async fn paid_order(
    gw: &TestGateway,
    chain: &TestChain,
    order_no: &str,
    amount: &str,
    payer: usize,
    confirmations: u64,
) -> Client {
    let app = gw.create_app().await;
    let client = gw.client(&app);
    let created = client
        .create_order(&usdt_order(order_no, amount, json!({})))
        .await
        .unwrap();
    let address = created.retdata()["depositAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    chain.pay(payer, chain.usdt, &address, usd(amount)).await;
    if confirmations > 1 {
        chain.mine(confirmations - 1).await;
    }
    eventually(Duration::from_secs(20), "paid", || async {
        let info = client.order_info(order_no).await.unwrap();
        (info.retdata()["orderStatus"] == "PAID").then_some(())
    })
    .await;
    client
}

/// Refunds `amount` of order `order_no` as `refund_no`; the refund's sysid.
async fn refund_in_full(client: &Client, refund_no: &str, order_no: &str, amount: &str) -> String {
    let refund = json!({"refundOrderNo": refund_no, "orderNo": order_no, "amount": amount});
    let created = client.create_refund(&refund).await.unwrap();
    assert_eq!(created.retcode(), "200", "{}", created.body);
    created.retdata()["sysid"].as_str().unwrap().to_owned()
}

/// The refund once in `status`.
async fn refund_reaching(client: &Client, refund_no: &str, status: &str) -> Value {
    eventually(
        Duration::from_secs(30),
        &format!("refund {status}"),
        || async {
            let info = client.refund_info(refund_no).await.unwrap();
            (info.retdata()["refundStatus"] == status).then(|| info.retdata().clone())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_transactions_are_resent_and_stuck_ones_replaced_at_the_same_nonce() {
    let chain = TestChain::start(31337).await;
    let gw = paying_gateway(&chain, 1, "5", |c| c.payouts.replace_after_secs = 3).await;
    let hot = gw.evm_hot_wallet();
    let client = paid_order(&gw, &chain, "o1", "5", 3, 1).await;
    let payer_before = chain.balance(chain.usdt, DEV_ACCOUNTS[3]).await;

    chain.rpc("evm_setAutomine", json!([false])).await;
    let sysid = refund_in_full(&client, "r1", "o1", "5").await;
    let first = refund_reaching(&client, "r1", "REFUNDING").await;
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
    assert!(txs.iter().all(|tx| tx.nonce == Some(nonce)));
    assert!(txs[1].max_fee_per_gas > txs[0].max_fee_per_gas);
    assert!(txs[1].max_priority_fee_per_gas > txs[0].max_priority_fee_per_gas);

    chain.rpc("evm_setAutomine", json!([true])).await;
    chain.mine(1).await;
    let done = refund_reaching(&client, "r1", "REFUNDED").await;
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
    let gw = paying_gateway(&chain, 4, "2", |_| {}).await;
    let client = paid_order(&gw, &chain, "o2", "2", 4, 4).await;
    refund_in_full(&client, "r2", "o2", "2").await;
    let info = || async {
        let info = client.refund_info("r2").await.unwrap();
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
