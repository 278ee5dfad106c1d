//! Chain reorganisations on anvil: a transfer dropped before confirmation never credits, and
//! re-included it credits once; a reorg deeper than the confirmation depth that removes a
//! credited transfer is alerted on the order, counted, and never silently ignored. A range
//! fetched ahead while the previous one was committed is fetched again when a reorganisation
//! replaced its blocks meanwhile, an order changed after its range was matched ahead is
//! credited as it is, and a rescan of final transfers credits nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::{ChainFixture, Db, Family, TestGateway, usdt_order};
use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::watcher::{ChainWatcher, Round};
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::payment::TransferState;
use wcheckout_domain::ports::ChainStore;
use wcheckout_domain::token::ChainKey;

const WAIT: Duration = Duration::from_secs(20);

async fn health(gw: &TestGateway) -> Value {
    health_of(gw, "ETH").await
}

async fn health_of(gw: &TestGateway, key: &str) -> Value {
    gw.send("GET", "/health", "", &[]).await.2["chains"][key].clone()
}

/// Waits until the watcher has processed the chain's current head.
async fn caught_up(gw: &TestGateway, chain: &TestChain) {
    caught_up_on(gw, chain, "ETH").await;
}

async fn caught_up_on(gw: &TestGateway, chain: &TestChain, key: &str) {
    let head = chain.head().await;
    eventually(WAIT, "watcher caught up", || async {
        (health_of(gw, key).await["processedHeight"].as_u64() >= Some(head)).then_some(())
    })
    .await;
}

async fn create(gw: &TestGateway, app: &IssuedCredentials, order_no: &str, amount: &str) -> String {
    let created = gw
        .created_order(app, usdt_order(order_no, amount, json!({})))
        .await;
    created["depositAddress"].as_str().unwrap().to_owned()
}

/// Order `order_no` of `amount`, paid in full by dev account `payer` on a chain where
/// `confirmations` make a transfer final; its deposit address. `None` when PostgreSQL is wanted
/// and absent.
async fn paid_order(
    db: Db,
    confirmations: u32,
    order_no: &str,
    amount: &str,
    payer: usize,
) -> Option<(ChainFixture, String)> {
    paid_order_on(Family::Evm, db, confirmations, order_no, amount, payer).await
}

async fn paid_order_on(
    family: Family,
    db: Db,
    confirmations: u32,
    order_no: &str,
    amount: &str,
    payer: usize,
) -> Option<(ChainFixture, String)> {
    let f = ChainFixture::start_on(family, db, confirmations).await?;
    let deposit = f.create(order_no, amount, json!({})).await["depositAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    f.pay_usdt(payer, &deposit, usd(amount)).await;
    Some((f, deposit))
}

async fn dropped_before_confirmation_never_credits_and_reincluded_credits_once(
    family: Family,
    db: Db,
) {
    // The stand-in is kept (`_tron`): a field left to `..` would be dropped, and stopped, here.
    let Some((
        ChainFixture {
            anvil: Some(chain),
            gw,
            app,
            key,
            tron: _tron,
            solana: None,
        },
        deposit,
    )) = paid_order_on(family, db, 3, "reorg-1", "8", 1).await
    else {
        return;
    };
    eventually(WAIT, "transfer seen", || async {
        (gw.order(&app, "reorg-1").await["unconfirmedAmount"] == 8).then_some(())
    })
    .await;
    // Replace the transfer's block (and nothing else) with an empty one, then extend the chain
    // beyond the confirmation depth: the transfer must vanish without ever crediting.
    chain.reorg(1, vec![]).await;
    chain.mine(4).await;
    caught_up_on(&gw, &chain, key).await;
    let after = gw.order(&app, "reorg-1").await;
    assert_eq!(after["orderStatus"], "PAYING", "{after}");
    assert_eq!(after["paidAmount"].to_string(), "0");
    assert_eq!(
        after["unconfirmedAmount"].to_string(),
        "0",
        "the dropped transfer is forgotten"
    );
    assert_eq!(chain.balance(chain.usdt, &deposit).await, usd("0"));
    assert!(health_of(&gw, key).await["reorgs"].as_u64().unwrap() >= 1);

    // A reorg that includes the payment in the new branch: it counts, once.
    let request = chain.transfer_request(1, chain.usdt, &deposit, usd("8"));
    chain.reorg(2, vec![(request, 1)]).await;
    chain.mine(4).await;
    let paid = eventually(WAIT, "re-included transfer credited", || async {
        let order = gw.order(&app, "reorg-1").await;
        (order["orderStatus"] == "PAID").then_some(order)
    })
    .await;
    assert_eq!(paid["paidAmount"].to_string(), "8", "credited once");
    chain.mine(3).await;
    caught_up_on(&gw, &chain, key).await;
    let later = gw.order(&app, "reorg-1").await;
    assert_eq!(later["paidAmount"].to_string(), "8");
    let abnormal = gw.list_abnormal_payments(&app, "{}").await;
    assert_eq!(
        abnormal["retdata"]["total"], 0,
        "no double credit as an overpayment"
    );
}

async fn a_pending_transfer_moved_to_another_block_credits_once(db: Db) {
    let Some((
        ChainFixture {
            anvil: Some(chain),
            gw,
            app,
            ..
        },
        deposit,
    )) = paid_order(db, 2, "moved", "3", 2).await
    else {
        return;
    };
    eventually(WAIT, "transfer seen", || async {
        (gw.order(&app, "moved").await["unconfirmedAmount"] == 3).then_some(())
    })
    .await;
    // The same payment lands one block later in the new branch (a new transaction in anvil's
    // reorg, as a resubmission would be).
    let request = chain.transfer_request(2, chain.usdt, &deposit, usd("3"));
    chain.reorg(1, vec![(request, 0)]).await;
    chain.mine(3).await;
    let paid = eventually(WAIT, "paid", || async {
        let order = gw.order(&app, "moved").await;
        (order["orderStatus"] == "PAID").then_some(order)
    })
    .await;
    assert_eq!(paid["paidAmount"].to_string(), "3");
    caught_up(&gw, &chain).await;
    assert_eq!(gw.order(&app, "moved").await["paidAmount"].to_string(), "3");
}

async fn a_deep_reorg_of_a_credited_transfer_is_alerted(db: Db) {
    let Some((
        ChainFixture {
            anvil: Some(chain),
            gw,
            app,
            ..
        },
        _,
    )) = paid_order(db, 1, "deep", "4", 1).await
    else {
        return;
    };
    eventually(WAIT, "paid", || async {
        (gw.order(&app, "deep").await["orderStatus"] == "PAID").then_some(())
    })
    .await;
    chain.reorg(2, vec![]).await;
    chain.mine(2).await;
    let alerted = eventually(WAIT, "alert on the order", || async {
        let order = gw.order(&app, "deep").await;
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

/// A gateway whose chain watcher does not run by itself, and its configuration.
async fn with_driven_watcher(
    db: Db,
    chain: &TestChain,
    confirmations: u32,
    max_blocks_per_scan: u64,
) -> Option<(TestGateway, Config)> {
    let mut config = None;
    let gw = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", confirmations);
        c.watcher.enabled = false;
        c.watcher.max_blocks_per_scan = max_blocks_per_scan;
        config = Some(c.clone());
    })
    .await?;
    Some((gw, config.unwrap()))
}

/// The chain's watcher, to be driven round by round, starting at block `first`.
fn watcher_from(gw: &TestGateway, config: &Config, first: u64) -> ChainWatcher {
    let mut config = config.clone();
    config.watcher.enabled = true;
    config.chains.get_mut("ETH").unwrap().start_block = Some(first);
    wcheckout::serve::chain_watchers(&config, &gw.gateway)
        .unwrap()
        .pop()
        .unwrap()
}

/// Runs rounds until the watcher has recorded everything up to the head.
async fn rounds_until_caught_up(watcher: &ChainWatcher) {
    for _ in 0..20 {
        if watcher.round().await.unwrap() == Round::CaughtUp {
            return;
        }
    }
    panic!("the watcher did not catch up in 20 rounds");
}

/// Moves the watcher's cursor back to block `to`, so that what lies above is scanned again.
async fn cursor_back_to(gw: &TestGateway, chain: &TestChain, to: u64) {
    let eth = ChainKey::parse("ETH").unwrap();
    let current = gw
        .store
        .chain_cursor(&eth)
        .await
        .unwrap()
        .unwrap()
        .processed;
    let block = chain
        .rpc("eth_getBlockByNumber", json!([format!("{to:#x}"), false]))
        .await;
    let to = BlockMark {
        number: to,
        hash: block["hash"].as_str().unwrap().to_owned(),
    };
    gw.set_cursor(&eth, Some(current), to).await;
}

async fn a_range_fetched_ahead_then_reorganised_is_fetched_again(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some((gw, config)) = with_driven_watcher(db, &chain, 1, 2).await else {
        return;
    };
    let app = gw.create_app().await;
    let kept = create(&gw, &app, "ahead-kept", "2").await;
    let dropped = create(&gw, &app, "ahead-dropped", "3").await;
    let instead = create(&gw, &app, "ahead-instead", "4").await;
    let first = chain.head().await + 1;
    chain.pay(1, chain.usdt, &kept, usd("2")).await;
    chain.mine(1).await;
    chain.pay(2, chain.usdt, &dropped, usd("3")).await;
    chain.mine(1).await;
    assert_eq!(chain.head().await, first + 3);
    let watcher = watcher_from(&gw, &config, first);
    // The cursor, then the first range of two blocks, while the next two are fetched ahead.
    assert_eq!(watcher.round().await.unwrap(), Round::MoreToScan);
    assert_eq!(watcher.round().await.unwrap(), Round::MoreToScan);
    assert_eq!(gw.order(&app, "ahead-kept").await["orderStatus"], "PAID");
    // Let the fetch ahead finish on the old branch, then replace both of its blocks: the
    // payment it read is gone, another one is there instead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let request = chain.transfer_request(3, chain.usdt, &instead, usd("4"));
    chain.reorg(2, vec![(request, 0)]).await;
    rounds_until_caught_up(&watcher).await;
    let gone = gw.order(&app, "ahead-dropped").await;
    assert_eq!(gone["orderStatus"], "PAYING", "{gone}");
    assert_eq!(gone["paidAmount"].to_string(), "0", "{gone}");
    assert_eq!(gone["unconfirmedAmount"].to_string(), "0", "{gone}");
    let paid = gw.order(&app, "ahead-instead").await;
    assert_eq!(paid["orderStatus"], "PAID", "{paid}");
    assert_eq!(paid["paidAmount"].to_string(), "4", "{paid}");
}

async fn final_transfers_rescanned_are_credited_once(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some((gw, config)) = with_driven_watcher(db, &chain, 3, 1000).await else {
        return;
    };
    let app = gw.create_app().await;
    let deposit = create(&gw, &app, "rescan", "5").await;
    let first = chain.head().await + 1;
    chain.pay(1, chain.usdt, &deposit, usd("5")).await;
    let watcher = watcher_from(&gw, &config, first);
    rounds_until_caught_up(&watcher).await;
    let seen = gw.order(&app, "rescan").await;
    assert_eq!(seen["orderStatus"], "PAYING", "not final yet: {seen}");
    assert_eq!(seen["unconfirmedAmount"].to_string(), "5", "{seen}");
    // Final now, and scanned again: credited by the commit that finds it recorded.
    chain.mine(3).await;
    cursor_back_to(&gw, &chain, first - 1).await;
    rounds_until_caught_up(&watcher).await;
    let paid = gw.order(&app, "rescan").await;
    assert_eq!(paid["orderStatus"], "PAID", "{paid}");
    assert_eq!(paid["paidAmount"].to_string(), "5", "{paid}");
    // Scanned once more, credited: nothing changes.
    cursor_back_to(&gw, &chain, first - 1).await;
    rounds_until_caught_up(&watcher).await;
    let again = gw.order(&app, "rescan").await;
    assert_eq!(again["paidAmount"].to_string(), "5", "{again}");
    let sysid = again["sysid"].as_str().unwrap().to_owned();
    let transfers = gw.store.transfers_of_orders(&[sysid]).await.unwrap();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let abnormal = gw.list_abnormal_payments(&app, "{}").await;
    assert_eq!(
        abnormal["retdata"]["total"], 0,
        "no double credit as an overpayment"
    );

    // A transfer final when first seen is recorded and credited in one commit, once, however
    // often its range is scanned.
    let late = create(&gw, &app, "rescan-final", "6").await;
    let start = chain.head().await + 1;
    chain.pay(2, chain.usdt, &late, usd("6")).await;
    chain.mine(3).await;
    rounds_until_caught_up(&watcher).await;
    cursor_back_to(&gw, &chain, start - 1).await;
    rounds_until_caught_up(&watcher).await;
    let order = gw.order(&app, "rescan-final").await;
    assert_eq!(order["orderStatus"], "PAID", "{order}");
    assert_eq!(order["paidAmount"].to_string(), "6", "{order}");
    let abnormal = gw.list_abnormal_payments(&app, "{}").await;
    assert_eq!(abnormal["retdata"]["total"], 0);
}

/// An order changed after its range was read and matched ahead: the credit planned from the
/// order as read meets a changed version, the commit is made again as records only, and the
/// transfer is then credited once against the order as it is (cancelled: an abnormal payment,
/// never a paid order).
async fn an_order_changed_after_its_range_was_matched_is_credited_as_it_is(db: Db) {
    let chain = TestChain::start(31337).await;
    let Some((gw, config)) = with_driven_watcher(db, &chain, 1, 1).await else {
        return;
    };
    let app = gw.create_app().await;
    let first_pay = create(&gw, &app, "matched-first", "2").await;
    let cancelled = create(&gw, &app, "matched-cancelled", "5").await;
    let first = chain.head().await + 1;
    chain.pay(1, chain.usdt, &first_pay, usd("2")).await;
    chain.pay(2, chain.usdt, &cancelled, usd("5")).await;
    assert_eq!(chain.head().await, first + 1);
    let watcher = watcher_from(&gw, &config, first);
    // The cursor, then the first block, while the second is read and matched ahead.
    assert_eq!(watcher.round().await.unwrap(), Round::MoreToScan);
    assert_eq!(watcher.round().await.unwrap(), Round::MoreToScan);
    assert_eq!(gw.order(&app, "matched-first").await["orderStatus"], "PAID");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancel = gw.cancel_order(&app, "matched-cancelled").await;
    assert_eq!(cancel["retdata"]["orderStatus"], "CANCELLED", "{cancel}");
    rounds_until_caught_up(&watcher).await;

    let order = gw.order(&app, "matched-cancelled").await;
    assert_eq!(order["orderStatus"], "CANCELLED", "{order}");
    let sysid = order["sysid"].as_str().unwrap().to_owned();
    let transfers = gw.store.transfers_of_orders(&[sysid]).await.unwrap();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(transfers[0].state, TransferState::Credited, "{transfers:?}");
    let abnormal = gw.list_abnormal_payments(&app, "{}").await;
    assert_eq!(abnormal["retdata"]["total"], 1, "{abnormal}");
    let record = &abnormal["retdata"]["records"][0];
    assert_eq!(record["orderNo"], "matched-cancelled", "{record}");
}

on_both_families!(dropped_before_confirmation_never_credits_and_reincluded_credits_once);

on_both_engines_with_db!(
    a_pending_transfer_moved_to_another_block_credits_once,
    a_deep_reorg_of_a_credited_transfer_is_alerted,
    a_range_fetched_ahead_then_reorganised_is_fetched_again,
    final_transfers_rescanned_are_credited_once,
    an_order_changed_after_its_range_was_matched_is_credited_as_it_is,
);
