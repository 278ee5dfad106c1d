//! Black-box chain tests of the real `wcheckout serve` binary watching an anvil node, on both
//! engines: the gateway is SIGKILLed (and restarted) while transfers keep arriving, and every
//! transfer is still credited exactly once; `/metrics` and `/health` report the chain, and a
//! stopped node shows there at once (the head's age grows, `status` turns `degraded`); a
//! gateway restarted after a SIGKILL takes its own leases back at once, another waits.
//!
//! Every wait is bounded, and every gateway process is killed when its handle is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::chain::{PAYERS, TestChain, eventually, text, units, usd};
use crate::common::process::{Cli, Gateway, call, config_head};
use crate::common::solana::SolanaChain;
use crate::common::tron::{TronChain, txid};
use crate::on_both_databases;
use serde_json::{Value, json};
use wcheckout_client::{Client, routes};
use wcheckout_domain::money::TokenAmount;
use wcheckout_testkit::{TempDir, fresh_sqlite};

const WAIT: Duration = Duration::from_secs(60);
/// `watcher.max_head_age_secs` of these gateways.
const MAX_HEAD_AGE_SECS: i64 = 8;

// ---------------------------------------------------------------------------------------------
// The gateway process
// ---------------------------------------------------------------------------------------------

/// The configuration file: the anvil chain as ETH (USDT and USDC), 2 confirmations, a fast
/// watcher and a short lease (a restarted process takes over from the killed one quickly).
fn write_config(dir: &Path, database_url: &str, chain: &TestChain, start_block: u64) -> Cli {
    write_config_with(dir, database_url, &chain.config_sections(2, start_block))
}

/// The same configuration with the chain described by `chain_sections`.
fn write_config_with(dir: &Path, database_url: &str, chain_sections: &str) -> Cli {
    let text = format!(
        r#"{head}
[orders]
expiry_interval_ms = 200

[watcher]
poll_interval_ms = 100
lease_ttl_secs = 2
max_head_age_secs = {MAX_HEAD_AGE_SECS}

{chain}"#,
        head = config_head(database_url, &"2b".repeat(32)),
        chain = chain_sections,
    );
    Cli::configured(dir, &text)
}

// ---------------------------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------------------------

async fn create_order(client: &Client, order_no: &str, amount: &str) -> String {
    create_order_in(client, order_no, amount, "ETH_USDT").await
}

async fn create_order_in(client: &Client, order_no: &str, amount: &str, token: &str) -> String {
    let body =
        json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": token});
    let created = call(client, "POST", routes::CREATE_ORDER, &body.to_string()).await;
    assert_eq!(created["orderStatus"], "PAYING", "{created}");
    created["depositAddress"].as_str().unwrap().to_owned()
}

/// Every order of the app, by `orderNo` (at most 100).
async fn orders(client: &Client) -> BTreeMap<String, Value> {
    let page = call(client, "POST", routes::LIST_ORDERS, r#"{"pageSize": 100}"#).await;
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["orderNo"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

/// Every abnormal payment of the app (at most 100).
async fn abnormal(client: &Client) -> Vec<Value> {
    let body = r#"{"pageSize": 100}"#;
    let page = call(client, "POST", routes::LIST_ABNORMAL_PAYMENTS, body).await;
    page["records"].as_array().unwrap().clone()
}

/// Waits (bounded) until `/health` reports the height `field` of the ETH chain at `height` or
/// above; the whole report.
async fn reached(gateway: &Gateway, field: &str, height: u64) -> Value {
    reached_on(gateway, "ETH", field, height).await
}

async fn reached_on(gateway: &Gateway, key: &str, field: &str, height: u64) -> Value {
    let what = format!("{key} {field} {height}");
    eventually(WAIT, &what, || async {
        let report = gateway.health().await;
        (report["chains"][key][field].as_u64() >= Some(height)).then_some(report)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILLed while transfers arrive
// ---------------------------------------------------------------------------------------------

const ORDERS: usize = 40;
/// SIGKILLs (each followed by a restart) while transfers arrive.
const KILLS: usize = 4;
/// Transfers sent before the first SIGKILL, and after each restart's takeover before the next.
const SENT_BETWEEN_KILLS: usize = 6;
/// Pause between two transfers, so that the stream outlasts the kills and restarts.
const PACE: Duration = Duration::from_millis(250);
const EXCESS: u128 = 500_000;
const EXTRA: u128 = 1_250_000;

/// How an order gets paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// One transfer of the amount due.
    Exact,
    /// 3.00 first, the rest later.
    Parts,
    /// One transfer of the amount due plus [`EXCESS`].
    Over,
    /// The amount due, then later [`EXTRA`] more (to a paid order).
    ThenExtra,
}

struct PlannedOrder {
    order_no: String,
    due: u128,
    plan: Plan,
    deposit: String,
}

/// One sent transfer.
#[derive(Clone, Debug)]
struct Sent {
    order: usize,
    amount: u128,
    tx: String,
}

fn plan_of(i: usize) -> Plan {
    match i % 4 {
        0 => Plan::Exact,
        1 => Plan::Parts,
        2 => Plan::Over,
        _ => Plan::ThenExtra,
    }
}

/// The transfers, in sending order: every order's first transfer, then the second ones.
fn schedule(orders: &[PlannedOrder]) -> Vec<(usize, u128)> {
    let first = orders.iter().enumerate().map(|(i, o)| {
        let amount = match o.plan {
            Plan::Exact | Plan::ThenExtra => o.due,
            Plan::Parts => 3_000_000,
            Plan::Over => o.due + EXCESS,
        };
        (i, amount)
    });
    let second = orders.iter().enumerate().filter_map(|(i, o)| match o.plan {
        Plan::Parts => Some((i, o.due - 3_000_000)),
        Plan::ThenExtra => Some((i, EXTRA)),
        Plan::Exact | Plan::Over => None,
    });
    first.chain(second).collect()
}

/// Where the transfers of [`survive_kills`] are sent.
#[derive(Clone)]
enum Payments {
    /// An anvil chain, read as EVM, or as TRON (txIDs without `0x`) through the stand-in.
    Anvil { chain: Arc<TestChain>, tron: bool },
    /// A Surfnet cluster.
    Solana(Arc<SolanaChain>),
}

impl Payments {
    /// Payer `payer` sends `amount` of USDT to `to`; the transaction as the gateway names it.
    async fn pay(&self, payer: usize, to: &str, amount: TokenAmount) -> String {
        match self {
            Payments::Anvil { chain, tron } => {
                let hash = chain.pay(payer, chain.usdt, to, amount).await;
                if *tron { txid(&hash) } else { hash }
            }
            Payments::Solana(solana) => solana.pay(payer, solana.usdt(), to, amount).await,
        }
    }

    /// Makes everything sent final; the height the watcher must reach to have read it all.
    async fn settle(&self) -> u64 {
        match self {
            Payments::Anvil { chain, .. } => {
                chain.mine(3).await;
                chain.head().await
            }
            Payments::Solana(solana) => solana.finalize_all().await,
        }
    }
}

async fn transfers_survive_gateway_kills(label: &str, database_url: &str) {
    let chain = TestChain::start(31337).await;
    let sections = chain.config_sections(2, chain.head().await + 1);
    let payments = Payments::Anvil {
        chain: Arc::new(chain),
        tron: false,
    };
    survive_kills(label, database_url, "ETH", payments, &sections).await;
}

/// The same on the TRON stand-in (SQLite): TRON's txIDs, its `T…` deposit addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tron_transfers_survive_gateway_kills() {
    let Some(tron) = TronChain::start().await else {
        return;
    };
    let sections = tron.config_sections(2, tron.chain.head().await + 1);
    let TronChain { standin, chain } = tron;
    let database = wcheckout_testkit::fresh_sqlite();
    let payments = Payments::Anvil {
        chain: Arc::new(chain),
        tron: true,
    };
    survive_kills("tron", &database.url, "TRX", payments, &sections).await;
    drop(standin);
}

/// The same on Surfnet (SQLite): Solana signatures, deposit owners read per account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn solana_transfers_survive_gateway_kills() {
    let Some(solana) = SolanaChain::start().await else {
        return;
    };
    let sections = solana.config_sections();
    let database = wcheckout_testkit::fresh_sqlite();
    let payments = Payments::Solana(Arc::new(solana));
    survive_kills("solana", &database.url, "SOL", payments, &sections).await;
}

/// Orders of chain `key` paid by a stream of transfers while the gateway is SIGKILLed and
/// restarted: every transfer credited once.
async fn survive_kills(
    label: &str,
    database_url: &str,
    key: &str,
    payments: Payments,
    chain_sections: &str,
) {
    let dir = TempDir::new();
    let cli = write_config_with(&dir.path, database_url, chain_sections);
    let token = format!("{key}_USDT");
    let mut runs = 0;
    let mut gateway = cli.serve(runs);
    let creds = cli.create_app("Chain", &[]);
    let client = creds.client(&gateway);
    let mut planned = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let order_no = format!("kill-{i:02}");
        let amount = format!("{}.{:02}", 10 + i, (i * 37) % 100);
        let deposit = create_order_in(&client, &order_no, &amount, &token).await;
        planned.push(PlannedOrder {
            order_no,
            due: usd(&amount).base_units(),
            plan: plan_of(i),
            deposit,
        });
    }
    let planned = Arc::new(planned);

    // The payers send continuously in the background, one transfer after another.
    let count = Arc::new(AtomicUsize::new(0));
    let transfers = schedule(&planned);
    let total = transfers.len();
    let stream = tokio::spawn({
        let payments = payments.clone();
        let planned = Arc::clone(&planned);
        let count = Arc::clone(&count);
        async move {
            let mut sent = Vec::with_capacity(transfers.len());
            for (k, (order, amount)) in transfers.into_iter().enumerate() {
                let payer = 1 + k % PAYERS;
                let to = &planned[order].deposit;
                let amount_units = TokenAmount::from_base_units(amount);
                let tx = payments.pay(payer, to, amount_units).await;
                sent.push(Sent { order, amount, tx });
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(PACE).await;
            }
            sent
        }
    });

    let streaming = Instant::now();
    let mut kills = Vec::new();
    let mut kill_at = SENT_BETWEEN_KILLS;
    for _ in 0..KILLS {
        let reached = Instant::now() + Duration::from_secs(120);
        while count.load(Ordering::SeqCst) < kill_at {
            assert!(!stream.is_finished(), "the transfer stream ended early");
            assert!(Instant::now() < reached, "stuck before {kill_at} transfers");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gateway.kill();
        let killed_at = count.load(Ordering::SeqCst);
        // Transfers keep arriving while the gateway is down.
        tokio::time::sleep(Duration::from_millis(800)).await;
        runs += 1;
        gateway = cli.serve(runs);
        let back_at = count.load(Ordering::SeqCst);
        // The killed process's lease runs out; the new one takes the chain over.
        eventually(WAIT, "the restarted gateway leads the chain", || async {
            (gateway.health().await["chains"][key]["leader"] == true).then_some(())
        })
        .await;
        let leading_at = count.load(Ordering::SeqCst);
        kills.push((killed_at, back_at, leading_at));
        kill_at = leading_at + SENT_BETWEEN_KILLS;
    }
    let last_takeover = count.load(Ordering::SeqCst);
    let sent = tokio::time::timeout(Duration::from_secs(180), stream)
        .await
        .expect("the transfer stream did not finish")
        .unwrap();
    let stream_time = streaming.elapsed();
    assert_eq!(sent.len(), total);
    assert!(
        last_takeover < total,
        "transfers still arrived after the last restart ({last_takeover} of {total} before it)"
    );
    let head = payments.settle().await;

    // Every order ends in its expected state.
    let client = creds.client(&gateway);
    let expected_abnormal = planned
        .iter()
        .filter(|o| matches!(o.plan, Plan::Over | Plan::ThenExtra))
        .count();
    let waiting = Instant::now();
    let (listed, records) = eventually(WAIT, "every order in its final state", || async {
        // Records first: an extra payment's record appears when it is final, and the orders
        // read after it then show it final too (nothing left unconfirmed).
        let records = abnormal(&client).await;
        let listed = orders(&client).await;
        let settled = listed
            .values()
            .all(|o| o["orderStatus"] == "PAID" && units(&o["unconfirmedAmount"]) == 0);
        (listed.len() == ORDERS && settled && records.len() >= expected_abnormal)
            .then_some((listed, records))
    })
    .await;
    let settle_time = waiting.elapsed();

    // Exactly once: the paid amounts and abnormal payments account for every unit sent.
    let sent_total: u128 = sent.iter().map(|s| s.amount).sum();
    let mut counted = 0u128;
    for (i, order) in planned.iter().enumerate() {
        let view = &listed[&order.order_no];
        let own = sent.iter().filter(|s| s.order == i).collect::<Vec<_>>();
        let (paid, completing) = match order.plan {
            Plan::Exact | Plan::ThenExtra => (order.due, &own[0].tx),
            Plan::Parts => (order.due, &own[1].tx),
            Plan::Over => (order.due + EXCESS, &own[0].tx),
        };
        assert_eq!(units(&view["payingAmount"]), order.due, "{view}");
        assert_eq!(
            units(&view["paidAmount"]),
            paid,
            "[{label}] {} ({:?}) credited {} instead of {}: {view}",
            order.order_no,
            order.plan,
            view["paidAmount"],
            text(paid)
        );
        assert_eq!(&view["txHash"], completing, "{view}");
        assert_eq!(units(&view["unconfirmedAmount"]), 0, "{view}");
        counted += units(&view["paidAmount"]).min(order.due);
    }
    assert_eq!(records.len(), expected_abnormal, "{records:#?}");
    let mut hashes = HashSet::new();
    for record in &records {
        assert_eq!(record["type"], "OVER_PAID", "{record}");
        let order_no = record["orderNo"].as_str().unwrap();
        let i = planned.iter().position(|o| o.order_no == order_no).unwrap();
        let own = sent.iter().filter(|s| s.order == i).collect::<Vec<_>>();
        let (amount, tx) = match planned[i].plan {
            Plan::Over => (EXCESS, &own[0].tx),
            Plan::ThenExtra => (EXTRA, &own[1].tx),
            Plan::Exact | Plan::Parts => panic!("unexpected abnormal payment {record}"),
        };
        assert_eq!(units(&record["amount"]), amount, "{record}");
        assert_eq!(&record["hash"], tx, "{record}");
        assert!(hashes.insert(tx.clone()), "{tx} recorded twice");
        counted += units(&record["amount"]);
    }
    assert_eq!(
        counted,
        sent_total,
        "[{label}] credited {} of {} sent",
        text(counted),
        text(sent_total)
    );

    let chain_health =
        reached_on(&gateway, key, "processedHeight", head).await["chains"][key].clone();
    assert_eq!(chain_health["leader"], true, "{chain_health}");
    let restarted_logs = gateway.stderr();
    // Warnings and errors of every run, for the record.
    for run in 0..=runs {
        let path = dir.path.join(format!("serve-{run}.log"));
        let log = fs::read_to_string(path).unwrap_or_default();
        let notable = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"));
        for line in notable {
            eprintln!("[{label}] gateway run {run}: {line}");
        }
    }
    eprintln!(
        "[{label}] {total} transfers to {ORDERS} orders in {:.1} s; SIGKILLed {KILLS} times \
         (transfers sent when killed, when back, when leading again: {kills:?}); all final \
         {:.1} s after the last transfer; {} abnormal; health {chain_health}",
        stream_time.as_secs_f64(),
        settle_time.as_secs_f64(),
        records.len(),
    );
    assert!(
        !restarted_logs.contains("panicked"),
        "the gateway panicked:\n{restarted_logs}"
    );
}

on_both_databases!(transfers_survive_gateway_kills);

// ---------------------------------------------------------------------------------------------
// 2. /metrics and /health per chain
// ---------------------------------------------------------------------------------------------

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn sample(samples: &BTreeMap<String, f64>, series: &str, text: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

async fn metrics_and_health_report_the_chain(label: &str, database_url: &str) {
    let chain = TestChain::start(31337).await;
    let dir = TempDir::new();
    let cli = write_config(&dir.path, database_url, &chain, chain.head().await + 1);
    let gateway = cli.serve(0);
    let client = cli.create_app("Chain", &[]).client(&gateway);
    let deposit = create_order(&client, "metered", "21.5").await;
    chain.pay(1, chain.usdt, &deposit, usd("21.5")).await;
    chain.mine(1).await;
    eventually(WAIT, "order paid", || async {
        let path = routes::with_query(routes::ORDER_INFO, "orderNo", "metered");
        let info = call(&client, "GET", &path, "").await;
        (info["orderStatus"] == "PAID").then_some(())
    })
    .await;
    let head = chain.head().await;
    let report = reached(&gateway, "processedHeight", head).await;
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["database"], "ok", "{report}");
    let eth = &report["chains"]["ETH"];
    assert_eq!(eth["leader"], true, "{report}");
    assert_eq!(eth["headHeight"].as_u64(), Some(head), "{report}");
    assert!(eth["lagBlocks"].as_u64().unwrap() <= 1, "{report}");
    assert!(eth["lagSeconds"].as_i64().unwrap() <= 5, "{report}");
    assert!(eth["headAgeSeconds"].as_i64().unwrap() <= 60, "{report}");
    assert_eq!(eth["rpcErrors"], 0, "{report}");
    assert_eq!(eth["reorgs"], 0, "{report}");
    assert_eq!(eth["deepReorgs"], 0, "{report}");
    assert_eq!(eth["lastError"], Value::Null, "{report}");

    let (status, text) = gateway.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let samples = samples(&text);
    let eth = r#"{chain="ETH"}"#;
    let head_gauge = sample(
        &samples,
        &format!("wcheckout_chain_head_height{eth}"),
        &text,
    );
    let processed = sample(
        &samples,
        &format!("wcheckout_chain_processed_height{eth}"),
        &text,
    );
    #[allow(clippy::cast_precision_loss)] // Small block heights.
    let head_f = head as f64;
    assert!(head_gauge >= head_f, "{text}");
    assert!(processed >= head_f, "{text}");
    assert!(sample(&samples, &format!("wcheckout_chain_lag_blocks{eth}"), &text) <= 1.0);
    assert!(
        sample(
            &samples,
            &format!("wcheckout_chain_lag_seconds{eth}"),
            &text
        ) <= 5.0
    );
    assert_eq!(
        sample(&samples, r#"wcheckout_orders{status="PAID"}"#, &text),
        1.0
    );
    assert_eq!(
        sample(&samples, r#"wcheckout_orders{status="PAYING"}"#, &text),
        0.0
    );
    let created = samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with("wcheckout_http_requests_total{")
                && series.contains(&format!(r#"route="{}""#, routes::CREATE_ORDER))
                && series.contains(r#"status="200""#)
        })
        .map(|(_, value)| value)
        .sum::<f64>();
    assert!((created - 1.0).abs() < f64::EPSILON, "{text}");
    let requests = samples
        .keys()
        .filter(|series| series.starts_with("wcheckout_http_requests_total{"))
        .count();
    assert!(requests >= 3, "{text}");
    assert!(
        samples.contains_key(r#"wcheckout_transfers_credited_total{chain="ETH"}"#),
        "{text}"
    );
    eprintln!(
        "[{label}] /health ETH: {}; /metrics: {} samples, head gauge {head_gauge}, \
         processed gauge {processed}",
        report["chains"]["ETH"],
        samples.len()
    );
    head_age_grows_while_the_node_is_down(label, chain, &gateway).await;
}

/// A fresh head reads `ok`; with the node stopped, no round succeeds, yet `headAgeSeconds`
/// keeps growing and `status` turns `degraded` past `watcher.max_head_age_secs`, and the
/// head-age gauge says the same.
async fn head_age_grows_while_the_node_is_down(label: &str, chain: TestChain, gateway: &Gateway) {
    chain.mine(1).await;
    let head = chain.head().await;
    let fresh = reached(gateway, "headHeight", head).await;
    assert_eq!(fresh["status"], "ok", "{fresh}");
    assert!(fresh["chains"]["ETH"]["headAgeSeconds"].as_i64().unwrap() < MAX_HEAD_AGE_SECS);
    assert_eq!(fresh["chains"]["ETH"]["stalled"], false, "{fresh}");

    chain.anvil.stop();
    let stopped = Instant::now();
    let ages = std::sync::Mutex::new(Vec::new());
    let degraded = eventually(WAIT, "status degraded", || async {
        let report = gateway.health().await;
        let eth = &report["chains"]["ETH"];
        ages.lock()
            .unwrap()
            .push(eth["headAgeSeconds"].as_i64().unwrap());
        assert_eq!(eth["headHeight"].as_u64(), Some(head), "{report}");
        (report["status"] == "degraded").then_some(report)
    })
    .await;
    let eth = &degraded["chains"]["ETH"];
    assert_eq!(eth["stalled"], true, "{degraded}");
    assert!(
        eth["headAgeSeconds"].as_i64().unwrap() > MAX_HEAD_AGE_SECS,
        "{degraded}"
    );
    assert!(eth["rpcErrors"].as_u64().unwrap() >= 1, "{degraded}");
    assert!(eth["lastError"].is_string(), "{degraded}");
    // It grew read after read, with no successful round in between.
    let ages = ages.into_inner().unwrap();
    assert!(ages.windows(2).all(|w| w[0] <= w[1]), "{ages:?}");
    assert!(ages.last() > ages.first(), "{ages:?}");
    let (status, text) = gateway.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let gauge = sample(
        &samples(&text),
        r#"wcheckout_chain_head_age_seconds{chain="ETH"}"#,
        &text,
    );
    #[allow(clippy::cast_precision_loss)] // A few seconds.
    let limit = MAX_HEAD_AGE_SECS as f64;
    assert!(gauge > limit, "{text}");
    eprintln!(
        "[{label}] node stopped: /health degraded after {:.1} s (head ages read: {ages:?}); \
         ETH {eth}; gauge {gauge}",
        stopped.elapsed().as_secs_f64()
    );
}

on_both_databases!(metrics_and_health_report_the_chain);

// ---------------------------------------------------------------------------------------------
// 3. Backed up while orders are made and paid; restored into a fresh data directory
// ---------------------------------------------------------------------------------------------

/// Orders made (and each paid at once) while the backup runs.
const BACKUP_LOAD_ORDERS: usize = 30;
/// Orders made before the backup starts.
const BEFORE_BACKUP: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_order() {
    let chain = Arc::new(TestChain::start(31337).await);
    let live = fresh_sqlite();
    let dir = TempDir::new();
    let cli = write_config(&dir.path, &live.url, &chain, chain.head().await + 1);
    let gateway = cli.serve(0);
    let creds = cli.create_app("Chain", &[]);
    let client = Arc::new(creds.client(&gateway));

    // The load: orders made one after another, each paid in full as soon as it is made.
    let made = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let load = tokio::spawn({
        let (chain, client, made) = (Arc::clone(&chain), Arc::clone(&client), Arc::clone(&made));
        async move {
            for i in 0..BACKUP_LOAD_ORDERS {
                let order_no = format!("bk-{i:02}");
                let deposit = create_order(&client, &order_no, "4.25").await;
                made.lock().unwrap().push((order_no, deposit.clone()));
                chain
                    .pay(1 + i % PAYERS, chain.usdt, &deposit, usd("4.25"))
                    .await;
            }
        }
    });
    eventually(WAIT, "orders before the backup", || async {
        (made.lock().unwrap().len() >= BEFORE_BACKUP).then_some(())
    })
    .await;
    let before_backup = made.lock().unwrap().clone();
    let backup_file = dir.path.join("backup.db");
    let backup_arg = backup_file.to_string_lossy().into_owned();
    let backed_up = cli
        .run_async(&["backup", "--to", &backup_arg])
        .await
        .ok()
        .both();
    let during = made.lock().unwrap().len();
    assert!(backed_up.contains("backed up to"), "{backed_up}");
    load.await.unwrap();
    assert!(
        during < BACKUP_LOAD_ORDERS,
        "the load ended before the backup did ({during} orders): nothing ran beside it"
    );
    let said = cli.run_fails(&["backup", "--to", &backup_arg]).both();
    assert!(said.contains("exists already"), "{said}");
    chain.mine(3).await;
    let handed_out = made.lock().unwrap().clone();
    drop(gateway);

    // Restored into a fresh data directory, the gateway serves every order the backup holds
    // and catches up with the chain: each is paid.
    let fresh_url = format!("sqlite://{}/fresh/wcheckout.db", dir.path.display());
    let fresh_dir = dir.path.join("fresh-config");
    fs::create_dir_all(&fresh_dir).unwrap();
    let cli = write_config(&fresh_dir, &fresh_url, &chain, 0);
    let restored = cli.run_ok(&["restore", "--from", &backup_arg]).both();
    assert!(restored.contains("payouts are held"), "{restored}");
    let said = cli.run_fails(&["restore", "--from", &backup_arg]).both();
    assert!(said.contains("exists already"), "{said}");
    let gateway = cli.serve(1);
    let client = creds.client(&gateway);
    let listed = eventually(WAIT, "every order of the backup paid", || async {
        let listed = orders(&client).await;
        let all_paid = before_backup.iter().all(|(no, _)| {
            listed
                .get(no)
                .is_some_and(|order| order["orderStatus"] == "PAID")
        });
        all_paid.then_some(listed)
    })
    .await;
    for (no, order) in &listed {
        assert_eq!(
            units(&order["paidAmount"]),
            usd("4.25").base_units(),
            "{no}: {order}"
        );
    }
    // No new order gets an address an order lost with the backup may have handed out.
    let deposit = create_order(&client, "after-restore", "1").await;
    assert!(
        handed_out.iter().all(|(_, address)| *address != deposit),
        "{deposit} was handed out before the restore"
    );
    let reconciled = cli.run_ok(&["reconcile", "--json"]).stdout;
    let report: Value = serde_json::from_str(&reconciled).unwrap();
    let eth = &report["chains"][0];
    assert_eq!(eth["differences"], json!([]), "{reconciled}");
    assert!(eth["checked"].as_u64() > Some(0), "{reconciled}");
    let payouts = cli.run_ok(&["payout", "list"]).both();
    assert!(payouts.contains("HELD"), "{payouts}");
    let released = cli.run_ok(&["payout", "release"]).both();
    assert!(released.contains("payouts released"), "{released}");
    eprintln!(
        "{}; {during} of {BACKUP_LOAD_ORDERS} orders made when it ended; restored: {} orders \
         served ({} made before the backup began), each paid; reconcile: {} accounts checked, \
         no difference",
        backed_up.lines().next().unwrap_or(""),
        listed.len(),
        before_backup.len(),
        eth["checked"],
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A restarted gateway takes its own leases back at once; another one waits for expiry
// ---------------------------------------------------------------------------------------------

/// How long from a payment's transfer (and the block confirming it) until its new order reads
/// `PAID`.
async fn time_to_paid(
    client: &Client,
    chain: &TestChain,
    order_no: &str,
    payer: usize,
) -> Duration {
    let deposit = create_order(client, order_no, "3").await;
    let sent = Instant::now();
    chain.pay(payer, chain.usdt, &deposit, usd("3")).await;
    // The second of the two confirmations.
    chain.mine(1).await;
    let path = routes::with_query(routes::ORDER_INFO, "orderNo", order_no);
    eventually(WAIT, &format!("order {order_no} PAID"), || async {
        let info = call(client, "GET", &path, "").await;
        (info["orderStatus"] == "PAID").then_some(())
    })
    .await;
    sent.elapsed()
}

async fn restarted_gateway_takes_its_leases_back(label: &str, database_url: &str) {
    let chain = TestChain::start(31337).await;
    let dir = TempDir::new();
    let cli = write_config(&dir.path, database_url, &chain, chain.head().await + 1);
    // The default lease, 15 s: what every crash used to cost before payments were seen again.
    let config = cli.config().unwrap();
    let text = fs::read_to_string(config)
        .unwrap()
        .replace("lease_ttl_secs = 2", "lease_ttl_secs = 15");
    fs::write(config, text).unwrap();
    let creds = cli.create_app("Chain", &[]);
    let mut gateway = cli.serve(0);
    let client = creds.client(&gateway);
    let first = time_to_paid(&client, &chain, "before-kill", 1).await;

    // SIGKILL, and the same configuration (the same identity) again at once.
    gateway.kill();
    let mut gateway = cli.serve(1);
    let client = creds.client(&gateway);
    let restarted = time_to_paid(&client, &chain, "after-restart", 2).await;
    assert!(
        restarted < Duration::from_secs(5),
        "[{label}] after a restart with the same identity, a payment took {restarted:?}"
    );
    // Both of the run's leases came back at once: the watcher's and the payout engine's.
    eventually(WAIT, "both leases taken back", || async {
        let log = gateway.stderr();
        let back = |lease: &str| {
            log.lines()
                .any(|l| l.contains("lease taken back") && l.contains(&format!("lease={lease} ")))
        };
        (back("ETH") && back("payouts:ETH")).then_some(())
    })
    .await;

    // Another identity does not take a lease from a run it cannot prove gone: it waits for
    // the lease to expire.
    gateway.kill();
    let killed = Instant::now();
    let other = cli
        .with("WCHECKOUT__SERVER__INSTANCE_ID", "another-gateway")
        .serve(2);
    let client = creds.client(&other);
    let waited = time_to_paid(&client, &chain, "other-identity", 3).await;
    let since_kill = killed.elapsed();
    assert!(
        since_kill >= Duration::from_secs(12),
        "[{label}] another identity saw a payment {since_kill:?} after the kill"
    );
    assert!(
        !other.stderr().contains("lease taken back"),
        "{}",
        other.stderr()
    );
    eprintln!(
        "[{label}] payment to PAID: {:.1} s before the kill; {:.1} s after a SIGKILL and a \
         restart with the same identity; {:.1} s ({:.1} s after the kill) with another identity",
        first.as_secs_f64(),
        restarted.as_secs_f64(),
        waited.as_secs_f64(),
        since_kill.as_secs_f64(),
    );
}

on_both_databases!(restarted_gateway_takes_its_leases_back);

// ---------------------------------------------------------------------------------------------
// 5. A node outage is two log lines: one when it starts, one when it ends
// ---------------------------------------------------------------------------------------------

/// How long the node stays down.
const OUTAGE: Duration = Duration::from_secs(6);

/// Lines of `log` that contain `needle`.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    let dir = TempDir::new();
    let options = wcheckout_evm::anvil::AnvilOptions {
        port: wcheckout_testkit::free_port(),
        state_file: Some(dir.path.join("anvil-state.json")),
        ..wcheckout_evm::anvil::AnvilOptions::default()
    };
    let chain = TestChain::start_with(&options).await;
    let database = fresh_sqlite();
    let cli = write_config(&dir.path, &database.url, &chain, chain.head().await + 1);
    let gateway = cli.serve(0);
    chain.mine(2).await;
    let head = chain.head().await;
    reached(&gateway, "processedHeight", head).await;

    let stopped = chain.stop(&options);
    tokio::time::sleep(OUTAGE).await;
    let down = gateway.health().await["chains"]["ETH"].clone();
    let failing = down["failingForSeconds"].as_i64().unwrap();
    assert!(failing >= 4, "failing for {failing} s: {down}");
    assert!(down["lastError"].is_string(), "{down}");
    let (_, metrics) = gateway.get("/metrics").await;
    let gauge = sample(
        &samples(&metrics),
        r#"wcheckout_chain_failing_seconds{chain="ETH"}"#,
        &metrics,
    );
    assert!(gauge >= 4.0, "{metrics}");
    let during = gateway.stderr();

    let chain = stopped.resume();
    chain.mine(5).await;
    let head = chain.head().await;
    let back = reached(&gateway, "processedHeight", head).await["chains"]["ETH"].clone();
    assert_eq!(back["failingForSeconds"], 0, "{back}");
    let log = gateway.stderr();
    let warnings = lines_with(&during, " WARN ");
    assert_eq!(
        warnings.len(),
        1,
        "one WARN for a {OUTAGE:?} outage:\n{during}"
    );
    assert!(
        warnings[0].contains("watcher rounds failing") && warnings[0].contains("chain=ETH"),
        "{during}"
    );
    let recovered = lines_with(&log, "watcher rounds succeed again");
    assert_eq!(recovered.len(), 1, "{log}");
    for field in ["down_secs=", "failed_rounds=", "blocks_to_catch_up=5"] {
        assert!(recovered[0].contains(field), "{}", recovered[0]);
    }
    assert!(!log.contains("ERROR"), "{log}");
    eprintln!(
        "node down {OUTAGE:?}: {} WARN line(s), then {}",
        warnings.len(),
        recovered[0]
    );
}
