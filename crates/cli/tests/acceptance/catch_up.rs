//! The chain watcher catching up, on both engines: after the node was down (RPC errors shown
//! by `/health`, then every transfer credited once the node is back, with no gap), and over a
//! backlog of 1,000 transfers to 1,000 orders spread over a few hundred blocks (timed against
//! the raw `eth_getLogs` calls for the same range, for the record only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::common::chain::{PAYERS, TestChain, eventually, usd};
use crate::common::process::json_answer;
use crate::common::{Db, TestGateway, succeeded, usdt_order};
use serde_json::{Value, json};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::wire::CreateCheckoutOrderRequest;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::payment::TransferState;
use wcheckout_domain::ports::{AppStore, ChainStore, OrderStore};
use wcheckout_domain::token::ChainKey;
use wcheckout_evm::anvil::AnvilOptions;
use wcheckout_evm::reader::TRANSFER_TOPIC;
use wcheckout_testkit::{TempDir, free_port};

const WAIT: Duration = Duration::from_secs(30);

/// Longest one HTTP exchange may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `future`, which must finish within [`CALL_TIMEOUT`].
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {CALL_TIMEOUT:?}"))
}

async fn health(gw: &TestGateway) -> Value {
    bounded("/health", gw.send("GET", "/health", "", &[]))
        .await
        .2["chains"]["ETH"]
        .clone()
}

async fn create(gw: &TestGateway, app: &IssuedCredentials, order_no: &str, amount: &str) -> String {
    let body = usdt_order(order_no, amount, json!({}));
    let created = bounded("create", gw.created_order(app, body)).await;
    created["depositAddress"].as_str().unwrap().to_owned()
}

async fn info(gw: &TestGateway, app: &IssuedCredentials, order_no: &str) -> Value {
    bounded("info", gw.order(app, order_no)).await
}

async fn abnormal(gw: &TestGateway, app: &IssuedCredentials) -> Vec<Value> {
    let page = bounded(
        "abnormal",
        gw.list_abnormal_payments(app, json!({"pageSize": 100})),
    )
    .await;
    succeeded(&page)["records"].as_array().unwrap().clone()
}

/// An API amount (a JSON number or a decimal string) in base units.
fn units(value: &Value) -> u128 {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    usd(&text).base_units()
}

// ---------------------------------------------------------------------------------------------
// a. The node goes away and comes back
// ---------------------------------------------------------------------------------------------

/// What an order of the outage scenario must end with.
struct Expected {
    order_no: &'static str,
    amount: &'static str,
    /// `paidAmount`: what arrived while the order was `PAYING` (an excess included).
    paid: &'static str,
}

async fn watcher_catches_up_after_a_node_outage(db: Db) {
    let dir = TempDir::new();
    let options = AnvilOptions {
        port: free_port(),
        state_file: Some(dir.path.join("anvil-state.json")),
        ..AnvilOptions::default()
    };
    let chain = TestChain::start_with(&options).await;
    let gateway = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", 2);
        // Small scans: the catch-up crosses several bounded ranges.
        c.watcher.max_blocks_per_scan = 7;
        c.watcher.rpc_timeout_ms = 2_000;
    })
    .await;
    let Some(gw) = gateway else {
        return;
    };
    let app = gw.create_app().await;
    let mut sent = 0u128;

    // Before the outage: A is paid; the first half of E is mined but not final yet.
    let a = create(&gw, &app, "outage-A", "25").await;
    let e = create(&gw, &app, "outage-E", "30").await;
    chain.pay(1, chain.usdt, &a, usd("25")).await;
    chain.mine(1).await;
    sent += usd("25").base_units();
    eventually(WAIT, "A paid before the outage", || async {
        (info(&gw, &app, "outage-A").await["orderStatus"] == "PAID").then_some(())
    })
    .await;
    chain.pay(2, chain.usdt, &e, usd("12.5")).await;
    sent += usd("12.5").base_units();
    eventually(WAIT, "E's first half seen", || async {
        (info(&gw, &app, "outage-E").await["unconfirmedAmount"] == 12.5).then_some(())
    })
    .await;
    let head_before = chain.head().await;
    // The round that recorded the transfer reports to /health just after committing it.
    let before = eventually(WAIT, "health at the head", || async {
        let h = health(&gw).await;
        (h["processedHeight"].as_u64() >= Some(head_before)).then_some(h)
    })
    .await;
    assert_eq!(
        before["processedHeight"].as_u64(),
        Some(head_before),
        "{before}"
    );
    assert_eq!(before["rpcErrors"], 0, "{before}");
    assert_eq!(before["leader"], true, "{before}");

    // The node goes down (writing its state file).
    let stopped = chain.stop(&options);
    let down_at = Instant::now();
    let first_errors = eventually(WAIT, "RPC errors reported", || async {
        let h = health(&gw).await;
        (h["rpcErrors"].as_u64() >= Some(1) && h["lastError"].is_string()).then_some(h)
    })
    .await;
    let errors = first_errors["rpcErrors"].as_u64().unwrap();
    let during = eventually(WAIT, "RPC errors increasing", || async {
        let h = health(&gw).await;
        (h["rpcErrors"].as_u64() >= Some(errors + 2)).then_some(h)
    })
    .await;
    let last_error = during["lastError"].as_str().unwrap().to_owned();
    assert!(!last_error.is_empty(), "{during}");
    assert_eq!(
        during["processedHeight"].as_u64(),
        Some(head_before),
        "{during}"
    );
    // Orders can still be created while the node is away.
    let b = create(&gw, &app, "outage-B", "14.2").await;
    let c = create(&gw, &app, "outage-C", "40").await;
    let d = create(&gw, &app, "outage-D", "9.99").await;
    let down_for = down_at.elapsed();

    // The node comes back on the same port with the same chain.
    let chain = stopped.resume();
    let head_after_restart = chain.head().await;
    assert_eq!(
        head_after_restart, head_before,
        "the state file restores the chain"
    );
    chain.mine(10).await;
    chain.pay(3, chain.usdt, &b, usd("14.2")).await;
    chain.mine(8).await;
    chain.pay(4, chain.usdt, &c, usd("15")).await;
    chain.mine(5).await;
    chain.pay(5, chain.usdt, &c, usd("25")).await;
    chain.pay(1, chain.usdt, &d, usd("10.24")).await;
    chain.mine(9).await;
    chain.pay(2, chain.usdt, &e, usd("17.5")).await;
    chain.pay(3, chain.usdt, &a, usd("2")).await;
    chain.mine(12).await;
    sent += ["14.2", "15", "25", "10.24", "17.5", "2"]
        .iter()
        .map(|a| usd(a).base_units())
        .sum::<u128>();
    let head = chain.head().await;

    let expected = [
        Expected {
            order_no: "outage-A",
            amount: "25",
            paid: "25",
        },
        Expected {
            order_no: "outage-B",
            amount: "14.2",
            paid: "14.2",
        },
        Expected {
            order_no: "outage-C",
            amount: "40",
            paid: "40",
        },
        Expected {
            order_no: "outage-D",
            amount: "9.99",
            paid: "10.24",
        },
        Expected {
            order_no: "outage-E",
            amount: "30",
            paid: "30",
        },
    ];
    let caught_up = eventually(WAIT, "watcher caught up after the outage", || async {
        let h = health(&gw).await;
        (h["processedHeight"].as_u64() >= Some(head)).then_some(h)
    })
    .await;
    eventually(WAIT, "every order paid", || async {
        for e in &expected {
            if info(&gw, &app, e.order_no).await["orderStatus"] != "PAID" {
                return None;
            }
        }
        (abnormal(&gw, &app).await.len() >= 2).then_some(())
    })
    .await;

    let mut credited = 0u128;
    for e in &expected {
        let order = info(&gw, &app, e.order_no).await;
        assert_eq!(order["orderStatus"], "PAID", "{order}");
        assert_eq!(units(&order["payingAmount"]), usd(e.amount).base_units());
        assert_eq!(
            units(&order["paidAmount"]),
            usd(e.paid).base_units(),
            "{order}"
        );
        assert_eq!(units(&order["unconfirmedAmount"]), 0, "{order}");
        credited += units(&order["paidAmount"]).min(units(&order["payingAmount"]));
    }
    let records = abnormal(&gw, &app).await;
    let mut found = records
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "OVER_PAID", "{r}");
            (
                r["orderNo"].as_str().unwrap().to_owned(),
                units(&r["amount"]),
            )
        })
        .collect::<Vec<_>>();
    found.sort();
    assert_eq!(
        found,
        [
            ("outage-A".to_owned(), usd("2").base_units()),
            ("outage-D".to_owned(), usd("0.25").base_units()),
        ]
    );
    credited += found.iter().map(|(_, amount)| amount).sum::<u128>();
    assert_eq!(credited, sent, "every transfer credited exactly once");

    let after = health(&gw).await;
    assert!(after["processedHeight"].as_u64() >= Some(head), "{after}");
    assert_eq!(after["lastError"], Value::Null, "{after}");
    assert_eq!(
        after["reorgs"], 0,
        "no spurious reorg after the restart: {after}"
    );
    assert_eq!(after["leader"], true);
    assert!(after["rpcErrors"].as_u64() >= Some(errors + 2));
    eprintln!(
        "[{:?}] node down {:.1} s: {} failed rounds, last error: {last_error}; caught up to \
         {head} (processedHeight {} when first seen)",
        db,
        down_for.as_secs_f64(),
        after["rpcErrors"],
        caught_up["processedHeight"]
    );
}

// ---------------------------------------------------------------------------------------------
// b. A backlog of 1,000 transfers to 1,000 orders
// ---------------------------------------------------------------------------------------------

const BULK_ORDERS: usize = 1000;
/// Transfers per mined block (with an empty block after every fourth), so that 1,000
/// transfers land in about 310 blocks.
const PER_BLOCK: usize = 4;

/// Sends a JSON-RPC batch; returns each answer's `result`, in request order.
async fn rpc_batch(http: &reqwest::Client, url: &str, calls: &[(&str, Value)]) -> Vec<Value> {
    let body = calls
        .iter()
        .enumerate()
        .map(|(id, (method, params))| {
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        })
        .collect::<Vec<_>>();
    let answers = json_answer(http.post(url).json(&body)).await;
    let answers = answers.as_array().expect("one answer per call");
    let mut results = vec![Value::Null; calls.len()];
    for answer in answers {
        assert!(answer.get("error").is_none(), "{answer}");
        let id = usize::try_from(answer["id"].as_u64().unwrap()).unwrap();
        results[id] = answer["result"].clone();
    }
    results
}

fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

async fn a_thousand_transfers_are_caught_up(db: Db) {
    let chain = TestChain::start(31337).await;
    let mut config = None;
    let gateway = TestGateway::start_with(db, |c| {
        chain.configure(c, "ETH", 1);
        // The watcher starts only once every transfer is mined.
        c.watcher.enabled = false;
        config = Some(c.clone());
    })
    .await;
    let Some(gw) = gateway else {
        return;
    };
    let mut config = config.unwrap();
    let credentials = gw.create_app().await;
    let app = gw
        .store
        .app(&AppId::new(&credentials.app_id))
        .await
        .unwrap()
        .unwrap();

    let creating = Instant::now();
    let mut orders = Vec::with_capacity(BULK_ORDERS);
    for i in 0..BULK_ORDERS {
        let body: CreateCheckoutOrderRequest = serde_json::from_value(json!({
            "orderNo": format!("bulk-{i:04}"),
            "orderAmount": format!("{}.{:02}", 1 + i / 100, i % 100),
            "customerId": "c",
            "token": "ETH_USDT",
        }))
        .unwrap();
        let view = gw.gateway.create_order(&app, body, None).await.unwrap();
        let view = serde_json::to_value(&view).unwrap();
        orders.push((
            view["sysid"].as_str().unwrap().to_owned(),
            view["depositAddress"].as_str().unwrap().to_owned(),
            TokenAmount::from_base_units(units(&view["payingAmount"])),
        ));
    }
    let created_in = creating.elapsed();

    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .build()
        .unwrap();
    let first = chain.head().await + 1;
    chain.rpc("evm_setAutomine", json!([false])).await;
    let sending = Instant::now();
    let mut hashes = Vec::with_capacity(BULK_ORDERS);
    for (batch, chunk) in orders.chunks(PER_BLOCK).enumerate() {
        let calls = chunk
            .iter()
            .enumerate()
            .map(|(j, (_, deposit, amount))| {
                let payer = 1 + (batch * PER_BLOCK + j) % PAYERS;
                let request = chain.transfer_request(payer, chain.usdt, deposit, *amount);
                ("eth_sendTransaction", json!([request]))
            })
            .collect::<Vec<_>>();
        let sent = rpc_batch(&http, &chain.rpc_url, &calls).await;
        hashes.extend(sent.into_iter().map(|h| h.as_str().unwrap().to_owned()));
        chain.mine(if batch % 4 == 3 { 2 } else { 1 }).await;
    }
    chain.rpc("evm_setAutomine", json!([true])).await;
    let last = chain.head().await;
    let sent_in = sending.elapsed();
    let mut blocks_with_transfers = HashSet::new();
    for chunk in hashes.chunks(100) {
        let calls = chunk
            .iter()
            .map(|h| ("eth_getTransactionReceipt", json!([h])))
            .collect::<Vec<_>>();
        for receipt in rpc_batch(&http, &chain.rpc_url, &calls).await {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            blocks_with_transfers.insert(quantity(&receipt["blockNumber"]));
        }
    }
    let blocks = last + 1 - first;
    assert!((200..=400).contains(&blocks), "{blocks} blocks");

    // The watcher starts behind: its cursor begins at the first block of the backlog.
    config.watcher.enabled = true;
    config.chains.get_mut("ETH").unwrap().start_block = Some(first);
    let watchers = wcheckout::serve::chain_watchers(&config, &gw.gateway).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    for watcher in watchers {
        tokio::spawn(watcher.run(stopped.clone()));
    }
    let deadline = started + Duration::from_secs(90);
    let eth = ChainKey::parse("ETH").unwrap();
    let mut recorded_time = None;
    let watcher_time = loop {
        if recorded_time.is_none() {
            let cursor = gw.store.chain_cursor(&eth).await.unwrap();
            if cursor.is_some_and(|c| c.processed.number >= last) {
                recorded_time = Some(started.elapsed());
            }
        }
        let counts = gw.store.count_orders_by_status().await.unwrap();
        let paid = counts
            .iter()
            .find(|(status, _)| *status == OrderStatus::Paid)
            .map_or(0, |(_, n)| *n);
        if paid == BULK_ORDERS as u64 {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "only {paid} of {BULK_ORDERS} orders paid after 90 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop.send(true);

    // The same block range and chunking as the watcher, straight over JSON-RPC.
    let scan = config.watcher.max_blocks_per_scan;
    let contracts = [chain.usdt.to_checksum(), chain.usdc.to_checksum()];
    let topic = format!("{TRANSFER_TOPIC:#x}");
    let raw_started = Instant::now();
    let mut logs = 0usize;
    let mut calls = 0usize;
    let mut from = first;
    while from <= last {
        let to = last.min(from + scan - 1);
        let filter = json!([{
            "address": contracts,
            "topics": [topic],
            "fromBlock": format!("{from:#x}"),
            "toBlock": format!("{to:#x}"),
        }]);
        logs += rpc_batch(&http, &chain.rpc_url, &[("eth_getLogs", filter)]).await[0]
            .as_array()
            .unwrap()
            .len();
        calls += 1;
        from = to + 1;
    }
    let raw_time = raw_started.elapsed();
    assert_eq!(logs, BULK_ORDERS);

    // Every order paid by exactly its one transfer; nothing abnormal.
    let sysids = orders.iter().map(|o| o.0.clone()).collect::<Vec<_>>();
    let transfers = gw.store.transfers_of_orders(&sysids).await.unwrap();
    assert_eq!(transfers.len(), BULK_ORDERS);
    let mut per_order = BTreeMap::new();
    for transfer in &transfers {
        assert_eq!(transfer.state, TransferState::Credited, "{transfer:?}");
        *per_order.entry(transfer.order_sysid.clone()).or_insert(0) += 1;
    }
    assert!(per_order.values().all(|n| *n == 1));
    assert_eq!(per_order.len(), BULK_ORDERS);
    let unique = transfers
        .iter()
        .map(|t| t.tx_hash.clone())
        .collect::<HashSet<_>>();
    assert_eq!(unique, hashes.iter().cloned().collect::<HashSet<_>>());
    let client = gw.client(&credentials);
    let mut listed = 0;
    for page in 1..=BULK_ORDERS / 100 {
        let body = json!({"pageNum": page, "pageSize": 100});
        let response = bounded("list", client.list_orders(&body)).await.unwrap();
        assert_eq!(response.retcode(), "200", "{}", response.body);
        for order in response.retdata()["records"].as_array().unwrap() {
            assert_eq!(order["orderStatus"], "PAID", "{order}");
            assert_eq!(
                units(&order["paidAmount"]),
                units(&order["payingAmount"]),
                "{order}"
            );
            listed += 1;
        }
    }
    assert_eq!(listed, BULK_ORDERS);
    let page = bounded("abnormal", client.list_abnormal_payments(&json!({})))
        .await
        .unwrap();
    assert_eq!(page.retdata()["total"], 0, "{}", page.body);
    let cursor = gw.store.chain_cursor(&eth).await;
    let processed = cursor.unwrap().unwrap().processed.number;
    let recorded_time = recorded_time.unwrap_or(watcher_time);
    assert!(processed >= last, "cursor at {processed}, head {last}");

    #[allow(clippy::cast_precision_loss)] // Printed only.
    let ratio = watcher_time.as_secs_f64() / raw_time.as_secs_f64();
    eprintln!(
        "[{db:?}] {BULK_ORDERS} orders created in {:.2} s; {BULK_ORDERS} transfers sent in \
         {blocks} blocks ({} holding transfers, blocks {first}..={last}) in {:.2} s",
        created_in.as_secs_f64(),
        blocks_with_transfers.len(),
        sent_in.as_secs_f64(),
    );
    eprintln!(
        "[{db:?}] watcher start -> all {BULK_ORDERS} orders PAID: {:.3} s (every transfer \
         recorded and the cursor at the head after {:.3} s); raw eth_getLogs over the same \
         range ({calls} call(s) of at most {scan} blocks, {logs} logs): {:.3} s; ratio \
         {ratio:.1}x",
        watcher_time.as_secs_f64(),
        recorded_time.as_secs_f64(),
        raw_time.as_secs_f64(),
    );
}

on_both_engines_with_db!(
    watcher_catches_up_after_a_node_outage,
    a_thousand_transfers_are_caught_up,
);
