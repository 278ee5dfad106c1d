//! Black-box tests of the payout engine in the real `wcheckout serve` binary on an anvil chain:
//! a refund SIGKILLed at its most delicate steps (signed but not sent; sent but not recorded)
//! still reaches the payer exactly once, and a long mixed run of payments, refunds, abnormal
//! refunds, settlements and sweeps ends with the ledger, the chain and the operator tools in
//! agreement.
//!
//! Every wait is bounded; every gateway and anvil process is killed when its handle is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::TEST_MNEMONIC;
use crate::common::chain::{PAYERS, TestChain, eventually, text, units, usd};
use crate::common::process::{Gateway, command, wait_bounded};
use serde_json::{Value, json};
use wcheckout_client::{Client, Credentials};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;
use wcheckout_testkit::{TempDir, fresh_postgres, fresh_sqlite};

/// Longest an operator command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one HTTP exchange with the gateway may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);
/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// The anvil account that funds the hot wallet with gas (as `wcheckout sandbox` does).
const FUNDER: usize = 9;
/// The anvil account that deployed the tokens and alone can mint.
const MINTER: usize = 0;
/// Where on-chain settlements go: an anvil account no test pays from.
const SETTLEMENT_DESTINATION: usize = 6;

// ---------------------------------------------------------------------------------------------
// The gateway process and the operator commands
// ---------------------------------------------------------------------------------------------

/// The configuration file: the anvil chain as ETH (USDT and USDC) with 1 confirmation, fast
/// watcher and payout rounds, short leases (a restarted process takes over quickly), and sweeps
/// of any balance every second when `sweeps` is on.
fn write_config(dir: &Path, database_url: &str, chain: &TestChain, sweeps: bool) -> PathBuf {
    let text = format!(
        r#"[server]
listen = "127.0.0.1:0"

[database]
url = "{database_url}"

[keys]
seed = "{TEST_MNEMONIC}"
master_key = "{master_key}"

[orders]
expiry_interval_ms = 200

[watcher]
poll_interval_ms = 50
lease_ttl_secs = 2

[payouts]
poll_interval_ms = 100
funds_retry_secs = 1
lease_ttl_secs = 2
replace_after_secs = 60

[sweeps]
enabled = {sweeps}
interval_secs = 1
min_amount = "0"

[chains.ETH]
chain_id = {chain_id}
rpc_urls = ["{rpc_url}"]
ws_url = "{ws_url}"
finality = "confirmations"
confirmations = 1
start_block = 0

[tokens.ETH_USDT]
contract = "{usdt}"
decimals = 6

[tokens.ETH_USDC]
contract = "{usdc}"
decimals = 6
"#,
        master_key = "3c".repeat(32),
        chain_id = chain.anvil.chain_id(),
        rpc_url = chain.rpc_url,
        ws_url = chain.anvil.ws_url(),
        usdt = chain.usdt.to_checksum(),
        usdc = chain.usdc.to_checksum(),
    );
    let path = dir.join("wcheckout.toml");
    fs::write(&path, text).unwrap();
    path
}

/// What an operator command printed.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs an operator command to its end (bounded); its output goes through files, so a long
/// listing never fills a pipe.
async fn run_cli(dir: &Path, config: &Path, args: &[&str]) -> Output {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    let (dir, config) = (dir.to_owned(), config.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out_path = dir.join(format!("cli-{run}.out"));
        let err_path = dir.join(format!("cli-{run}.err"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = command(&dir, &config, &args)
            .stdout(Stdio::from(fs::File::create(&out_path).unwrap()))
            .stderr(Stdio::from(fs::File::create(&err_path).unwrap()))
            .spawn()
            .expect("spawn wcheckout");
        let Some(status) = wait_bounded(&mut child, COMMAND_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`wcheckout {}` did not finish within {COMMAND_TIMEOUT:?}",
                args.join(" ")
            );
        };
        Output {
            success: status.success(),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

/// Runs an operator command that must succeed; its stdout.
async fn cli(dir: &Path, config: &Path, args: &[&str]) -> String {
    let output = run_cli(dir, config, args).await;
    assert!(
        output.success,
        "`wcheckout {}` failed:\n{}\n{}",
        args.join(" "),
        output.stdout,
        output.stderr
    );
    output.stdout
}

/// `wcheckout app create --json`: the new app's credentials.
async fn create_app(dir: &Path, config: &Path) -> Credentials {
    let stdout = cli(
        dir,
        config,
        &["app", "create", "--name", "Payouts", "--json"],
    )
    .await;
    let created: Value = serde_json::from_str(stdout.trim()).unwrap();
    let text = |key: &str| created[key].as_str().unwrap().to_owned();
    Credentials {
        api_key: text("apiKey"),
        api_secret: text("apiSecret"),
        sign_key: text("signKey"),
    }
}

/// `wcheckout hot-wallet`: the hot wallet's address.
async fn hot_wallet(dir: &Path, config: &Path) -> EvmAddress {
    let stdout = cli(dir, config, &["hot-wallet"]).await;
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("hot wallet: "))
        .unwrap_or_else(|| panic!("no hot wallet line in:\n{stdout}"));
    EvmAddress::parse(line.trim()).unwrap()
}

/// `wcheckout payout list --json`.
async fn open_payouts(dir: &Path, config: &Path) -> Vec<Value> {
    let stdout = cli(dir, config, &["payout", "list", "--json"]).await;
    serde_json::from_str::<Value>(stdout.trim())
        .unwrap_or_else(|e| panic!("payout list: {e}:\n{stdout}"))
        .as_array()
        .unwrap()
        .clone()
}

/// Gives the hot wallet 10 coins of gas from the funder account and records it in the ledger.
async fn fund_gas(chain: &TestChain, dir: &Path, config: &Path, hot: EvmAddress) {
    let wei = 10 * 1_000_000_000_000_000_000u128;
    let tx = stablecoin::send_native(&chain.rpc_url, DEV_PRIVATE_KEYS[FUNDER], hot, wei)
        .await
        .unwrap();
    let args = [
        "ledger",
        "record-funding",
        "--chain",
        "ETH",
        "--amount",
        "10",
        "--tx-hash",
        &tx,
    ];
    cli(dir, config, &args).await;
}

/// Mints `whole` tokens to the hot wallet and records them in the ledger as operator funding.
async fn fund_tokens(chain: &TestChain, dir: &Path, config: &Path, hot: EvmAddress, whole: &str) {
    let tx = stablecoin::mint(
        &chain.rpc_url,
        DEV_PRIVATE_KEYS[MINTER],
        chain.usdt,
        hot,
        usd(whole),
    )
    .await
    .unwrap();
    let args = [
        "ledger",
        "record-funding",
        "--chain",
        "ETH",
        "--token",
        "ETH_USDT",
        "--amount",
        whole,
        "--tx-hash",
        &tx,
    ];
    cli(dir, config, &args).await;
}

/// `wcheckout reconcile` (must succeed and find no difference) and `wcheckout ledger balance
/// --json` (must balance); returns the reconcile report and the ledger's check.
async fn reconcile_and_check(dir: &Path, config: &Path) -> (String, Value) {
    let reconciled = run_cli(dir, config, &["reconcile"]).await;
    assert!(
        reconciled.success,
        "reconcile failed:\n{}\n{}",
        reconciled.stdout, reconciled.stderr
    );
    assert!(
        reconciled
            .stdout
            .contains(" 0 different, 0 payouts in flight"),
        "{}",
        reconciled.stdout
    );
    let json = cli(dir, config, &["reconcile", "--json"]).await;
    let json: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["differences"], 0, "{json}");
    let ledger = cli(dir, config, &["ledger", "balance", "--json"]).await;
    let ledger: Value = serde_json::from_str(ledger.trim()).unwrap();
    let check = ledger["check"].clone();
    assert_eq!(check["balanced"], true, "{check}");
    assert_eq!(check["mismatchedAccounts"], json!([]), "{check}");
    (reconciled.stdout.trim().to_owned(), check)
}

// ---------------------------------------------------------------------------------------------
// API and chain helpers
// ---------------------------------------------------------------------------------------------

/// A signed API call; its full answer (a request refused as a replay, which two identical
/// requests signed in the same millisecond are, is sent again).
async fn call_raw(client: &Client, method: &str, path: &str, body: &str) -> Value {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let response = tokio::time::timeout(CALL_TIMEOUT, client.call(method, path, body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {CALL_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if response.retcode() == "00007" && attempts < 3 {
            tokio::time::sleep(Duration::from_millis(3)).await;
            continue;
        }
        return response.json;
    }
}

/// A signed API call that must succeed; its `retdata`.
async fn call(client: &Client, method: &str, path: &str, body: &str) -> Value {
    let answer = call_raw(client, method, path, body).await;
    assert_eq!(answer["retcode"], "200", "{method} {path} {body}: {answer}");
    answer["retdata"].clone()
}

async fn create_order(client: &Client, order_no: &str, amount: &str, token: &str) -> EvmAddress {
    let body =
        json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": token});
    let created = call(client, "POST", "/checkout/order/create", &body.to_string()).await;
    assert_eq!(created["orderStatus"], "PAYING", "{created}");
    EvmAddress::parse(created["depositAddress"].as_str().unwrap()).unwrap()
}

async fn order_info(client: &Client, order_no: &str) -> Value {
    let path = format!("/checkout/order/info?orderNo={order_no}");
    call(client, "GET", &path, "").await
}

async fn refund_info(client: &Client, refund_order_no: &str) -> Value {
    let path = format!("/checkout/refund/info?refundOrderNo={refund_order_no}");
    call(client, "GET", &path, "").await
}

/// Waits (bounded) until the order is `PAID`.
async fn wait_paid(client: &Client, order_no: &str) -> Value {
    eventually(WAIT, &format!("order {order_no} PAID"), || async {
        let info = order_info(client, order_no).await;
        (info["orderStatus"] == "PAID").then_some(info)
    })
    .await
}

/// Every record of a paged list matching `filter` (at most 1000).
async fn list_all(client: &Client, path: &str, filter: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1..=10 {
        let mut body = filter.clone();
        body["pageNum"] = json!(page);
        body["pageSize"] = json!(100);
        let body = body.to_string();
        let found = call(client, "POST", path, &body).await;
        let records = found["records"].as_array().unwrap().clone();
        let done = records.len() < 100;
        all.extend(records);
        if done {
            break;
        }
    }
    all
}

fn address_topic(address: EvmAddress) -> String {
    format!("0x{:0>64}", address.to_lower_hex().trim_start_matches("0x"))
}

fn quantity(value: &Value) -> u128 {
    let hex = value.as_str().unwrap().trim_start_matches("0x");
    let hex = hex.trim_start_matches('0');
    if hex.is_empty() {
        0
    } else {
        u128::from_str_radix(hex, 16).unwrap()
    }
}

/// The `Transfer` logs of `token` (from block 0), filtered by sender and recipient.
async fn transfer_logs(
    chain: &TestChain,
    token: EvmAddress,
    from: Option<EvmAddress>,
    to: Option<EvmAddress>,
) -> Vec<Value> {
    let topic = |a: Option<EvmAddress>| a.map_or(Value::Null, |a| json!(address_topic(a)));
    let filter = json!({
        "address": token.to_checksum(),
        "fromBlock": "0x0",
        "toBlock": "latest",
        "topics": [TRANSFER_TOPIC, topic(from), topic(to)],
    });
    let logs = chain.rpc("eth_getLogs", json!([filter])).await;
    logs.as_array().unwrap().clone()
}

/// The sender of a `Transfer` log.
fn log_from(log: &Value) -> String {
    let topic = log["topics"][1].as_str().unwrap();
    format!("0x{}", &topic[topic.len() - 40..])
}

/// What `owner` holds of `token`, base units (one `eth_call`).
async fn token_balance(chain: &TestChain, token: EvmAddress, owner: EvmAddress) -> u128 {
    let data = format!("0x70a08231{}", &address_topic(owner)[2..]);
    let call = json!({"to": token.to_lower_hex(), "data": data});
    quantity(&chain.rpc("eth_call", json!([call, "latest"])).await)
}

/// Transactions ever sent by `address` (its nonce).
async fn sent_count(chain: &TestChain, address: EvmAddress) -> u128 {
    let count = chain
        .rpc(
            "eth_getTransactionCount",
            json!([address.to_lower_hex(), "latest"]),
        )
        .await;
    quantity(&count)
}

// ---------------------------------------------------------------------------------------------
// 1. A refund SIGKILLed at a failpoint is paid exactly once
// ---------------------------------------------------------------------------------------------

const REFUND_AMOUNT: &str = "25.5";
const CRASH_PAYER: usize = 3;

async fn refund_paid_once_after_kill(label: &str, database_url: &str, failpoint: &str) {
    let started = Instant::now();
    let chain = TestChain::start(31337).await;
    let dir = TempDir::new();
    // No sweeps: the refund is the engine's first and only payout, paid from tokens minted to
    // the hot wallet (and recorded as operator funding, so the ledger explains them).
    let config = write_config(&dir.path, database_url, &chain, false);
    let hot = hot_wallet(&dir.path, &config).await;
    fund_gas(&chain, &dir.path, &config, hot).await;
    fund_tokens(&chain, &dir.path, &config, hot, "1000").await;

    let mut gateway = Gateway::serve(&dir.path, &config, 0, &[("WCHECKOUT_FAILPOINT", failpoint)]);
    let credentials = create_app(&dir.path, &config).await;
    let client = Client::new(&gateway.url(), credentials.clone());
    let deposit = create_order(&client, "crash", REFUND_AMOUNT, "ETH_USDT").await;
    chain
        .pay(
            CRASH_PAYER,
            chain.usdt,
            &deposit.to_checksum(),
            usd(REFUND_AMOUNT),
        )
        .await;
    wait_paid(&client, "crash").await;
    let payer = EvmAddress::parse(DEV_ACCOUNTS[CRASH_PAYER]).unwrap();
    let before = chain.balance(chain.usdt, DEV_ACCOUNTS[CRASH_PAYER]).await;
    let body =
        json!({"refundOrderNo": "crash-refund", "orderNo": "crash", "amount": REFUND_AMOUNT});
    let created = call(
        &client,
        "POST",
        "/checkout/refund/create",
        &body.to_string(),
    )
    .await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    assert!(
        created["address"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(DEV_ACCOUNTS[CRASH_PAYER]),
        "{created}"
    );

    // The engine stops at the failpoint; what the database and the chain hold there.
    let reached = format!("FAILPOINT {failpoint} reached");
    gateway.wait_for_stderr(&reached, WAIT).await;
    let paused = open_payouts(&dir.path, &config).await;
    assert_eq!(paused.len(), 1, "{paused:#?}");
    assert_eq!(paused[0]["kind"], "REFUND", "{paused:#?}");
    assert_eq!(paused[0]["status"], "SIGNED", "{paused:#?}");
    let tx = paused[0]["txHash"].as_str().unwrap().to_owned();
    let known = chain.rpc("eth_getTransactionByHash", json!([tx])).await;
    let receipt = chain.rpc("eth_getTransactionReceipt", json!([tx])).await;
    match failpoint {
        "payout-signed" => {
            assert!(
                known.is_null(),
                "signed only, yet the node knows it: {known}"
            );
        }
        "payout-broadcast" => {
            assert_eq!(receipt["status"], "0x1", "accepted and mined: {receipt}");
        }
        other => panic!("unknown failpoint {other}"),
    }
    let info = refund_info(&client, "crash-refund").await;
    assert_eq!(info["refundStatus"], "PENDING_REFUND", "{info}");

    gateway.kill();
    let killed_at = started.elapsed();
    let gateway = Gateway::serve(&dir.path, &config, 1, &[]);
    let client = Client::new(&gateway.url(), credentials);
    let done = eventually(WAIT, "refund REFUNDED after the restart", || async {
        let info = refund_info(&client, "crash-refund").await;
        assert_ne!(info["refundStatus"], "FAILED", "{info}");
        (info["refundStatus"] == "REFUNDED").then_some(info)
    })
    .await;
    let refunded_after = started.elapsed() - killed_at;

    // Exactly once: the payer got the amount once, by one transfer, the one signed before the
    // kill; the hot wallet sent one transaction in all.
    assert_eq!(done["txHash"], tx.as_str(), "{done}");
    let after = chain.balance(chain.usdt, DEV_ACCOUNTS[CRASH_PAYER]).await;
    assert_eq!(
        after.base_units() - before.base_units(),
        usd(REFUND_AMOUNT).base_units(),
        "[{label} {failpoint}] the payer got {} instead of {REFUND_AMOUNT}",
        text(after.base_units() - before.base_units())
    );
    let logs = transfer_logs(&chain, chain.usdt, Some(hot), Some(payer)).await;
    assert_eq!(logs.len(), 1, "[{label} {failpoint}] {logs:#?}");
    assert_eq!(logs[0]["transactionHash"], tx.as_str(), "{logs:#?}");
    assert_eq!(quantity(&logs[0]["data"]), usd(REFUND_AMOUNT).base_units());
    let from_hot = transfer_logs(&chain, chain.usdt, Some(hot), None)
        .await
        .len()
        + transfer_logs(&chain, chain.usdc, Some(hot), None)
            .await
            .len();
    assert_eq!(
        from_hot, 1,
        "[{label} {failpoint}] token transfers from the hot wallet"
    );
    assert_eq!(
        sent_count(&chain, hot).await,
        1,
        "transactions sent by the hot wallet"
    );
    let order = order_info(&client, "crash").await;
    assert_eq!(order["orderStatus"], "REFUNDED", "{order}");
    assert_eq!(
        units(&order["refundedAmount"]),
        usd(REFUND_AMOUNT).base_units()
    );

    // The operator's view agrees.
    assert_eq!(open_payouts(&dir.path, &config).await, Vec::<Value>::new());
    let (reconciled, check) = reconcile_and_check(&dir.path, &config).await;
    let restarted = gateway.stderr();
    assert!(!restarted.contains("FAILPOINT"), "{restarted}");
    assert!(!restarted.contains("panicked"), "{restarted}");
    eprintln!(
        "[{label}] failpoint {failpoint} reached, SIGKILLed after {:.1} s, refund REFUNDED {:.1} s \
         after the restart; {} Transfer log(s) from the hot wallet to the payer (tx {tx}), payer \
         +{}; reconcile: {reconciled}; ledger check: {check}; total {:.1} s",
        killed_at.as_secs_f64(),
        refunded_after.as_secs_f64(),
        logs.len(),
        text(after.base_units() - before.base_units()),
        started.elapsed().as_secs_f64(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_signed_not_sent_is_paid_once_on_sqlite() {
    let database = fresh_sqlite();
    refund_paid_once_after_kill("sqlite", &database.url, "payout-signed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_sent_not_recorded_is_paid_once_on_sqlite() {
    let database = fresh_sqlite();
    refund_paid_once_after_kill("sqlite", &database.url, "payout-broadcast").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_signed_not_sent_is_paid_once_on_postgres() {
    let Some(database) = fresh_postgres("refund_signed_not_sent_is_paid_once_on_postgres").await
    else {
        return;
    };
    refund_paid_once_after_kill("postgres", &database.url, "payout-signed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_sent_not_recorded_is_paid_once_on_postgres() {
    let Some(database) = fresh_postgres("refund_sent_not_recorded_is_paid_once_on_postgres").await
    else {
        return;
    };
    refund_paid_once_after_kill("postgres", &database.url, "payout-broadcast").await;
}

// ---------------------------------------------------------------------------------------------
// 2. A mixed run of 200 operations reconciles
// ---------------------------------------------------------------------------------------------

/// Orders paid (one transfer each).
const MIX_ORDERS: usize = 100;
/// On-chain settlements.
const MIX_SETTLEMENTS: usize = 30;
/// What an overpaid order gets beyond its amount due.
const MIX_EXCESS: u128 = 750_000;
/// Longest the whole run may take to become final once every operation was made.
const MIX_SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// What happens to an order after it is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    /// Overpaid; the excess (an `OVER_PAID` abnormal payment) is refunded by its `txHash`.
    Overpaid,
    /// Refunded in full.
    Full,
    /// Half refunded.
    Half,
    /// Half, then a quarter refunded (two refunds under way at once).
    HalfQuarter,
    /// Kept (its money pays the settlements).
    Kept,
}

fn mix_of(i: usize) -> Mix {
    match i % 10 {
        0 | 5 => Mix::Overpaid,
        1 | 6 => Mix::Full,
        2 => Mix::HalfQuarter,
        7 => Mix::Half,
        _ => Mix::Kept,
    }
}

struct MixOrder {
    order_no: String,
    contract: EvmAddress,
    due: u128,
    payer: usize,
    mix: Mix,
    deposit: EvmAddress,
}

impl MixOrder {
    fn sent(&self) -> u128 {
        match self.mix {
            Mix::Overpaid => self.due + MIX_EXCESS,
            Mix::Full | Mix::Half | Mix::HalfQuarter | Mix::Kept => self.due,
        }
    }
}

/// A refund the run asked for.
#[derive(Clone, Debug)]
struct AskedRefund {
    refund_order_no: String,
    order: usize,
    amount: u128,
    abnormal: bool,
}

/// A settlement the run asked for.
#[derive(Clone, Debug)]
struct AskedSettlement {
    settlement_order_no: String,
    token: &'static str,
    amount: u128,
}

/// Asks for a paid order's refunds as planned; `view` is its order object.
async fn ask_refunds(
    client: &Client,
    orders: &[MixOrder],
    i: usize,
    view: &Value,
) -> Vec<AskedRefund> {
    let order = &orders[i];
    assert_eq!(units(&view["paidAmount"]), order.sent(), "{view}");
    let mut asked = Vec::new();
    let mut refund = |suffix: &str, amount: u128| {
        asked.push(AskedRefund {
            refund_order_no: format!("{}-{suffix}", order.order_no),
            order: i,
            amount,
            abnormal: false,
        });
    };
    match order.mix {
        Mix::Full => refund("full", order.due),
        Mix::Half => refund("half", order.due / 2),
        Mix::HalfQuarter => {
            refund("half", order.due / 2);
            refund("quarter", order.due / 4);
        }
        Mix::Overpaid | Mix::Kept => {}
    }
    for refund in &asked {
        let body = json!({
            "refundOrderNo": refund.refund_order_no,
            "orderNo": order.order_no,
            "amount": text(refund.amount),
        });
        let created = call(client, "POST", "/checkout/refund/create", &body.to_string()).await;
        assert_eq!(units(&created["amount"]), refund.amount, "{created}");
    }
    if order.mix == Mix::Overpaid {
        // The excess, refunded by the hash of the transfer that brought it.
        let refund_order_no = format!("{}-abnormal", order.order_no);
        let tx = view["txHash"].as_str().unwrap();
        let body =
            json!({"refundOrderNo": refund_order_no, "orderNo": order.order_no, "txHash": tx});
        let path = "/checkout/abnormal-payment/refund";
        let created = call(client, "POST", path, &body.to_string()).await;
        assert_eq!(units(&created["amount"]), MIX_EXCESS, "{created}");
        asked.push(AskedRefund {
            refund_order_no,
            order: i,
            amount: MIX_EXCESS,
            abnormal: true,
        });
    }
    asked
}

/// Asks for settlement `k` to the settlement destination (USDT, every third one USDC).
async fn ask_settlement(client: &Client, k: usize) -> AskedSettlement {
    let (token, amount) = if k % 3 == 2 {
        ("ETH_USDC", 2_250_000)
    } else {
        ("ETH_USDT", 3_500_000)
    };
    let settlement = AskedSettlement {
        settlement_order_no: format!("mix-settlement-{k:02}"),
        token,
        amount,
    };
    let body = json!({
        "settlementOrderNo": settlement.settlement_order_no,
        "token": token,
        "address": DEV_ACCOUNTS[SETTLEMENT_DESTINATION],
        "amount": text(amount),
    });
    let created = call(
        client,
        "POST",
        "/checkout/settlement/create",
        &body.to_string(),
    )
    .await;
    assert_eq!(units(&created["amount"]), amount, "{created}");
    settlement
}

/// The merchant: polls its PAID orders (as an integrator without webhooks would) and asks for
/// each newly paid order's refunds as planned, and for one settlement more each time three more
/// orders are paid.
async fn merchant(
    client: Arc<Client>,
    orders: Arc<Vec<MixOrder>>,
) -> (Vec<AskedRefund>, Vec<AskedSettlement>) {
    let index: HashMap<&str, usize> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.order_no.as_str(), i))
        .collect();
    let mut handled = HashSet::new();
    let mut refunds = Vec::new();
    let mut settlements = Vec::new();
    let deadline = Instant::now() + MIX_SETTLE_TIMEOUT;
    while handled.len() < MIX_ORDERS || settlements.len() < MIX_SETTLEMENTS {
        let filter = json!({"orderStatus": "PAID"});
        for view in list_all(&client, "/checkout/order/list", &filter).await {
            let i = index[view["orderNo"].as_str().unwrap()];
            if handled.insert(i) {
                refunds.extend(ask_refunds(&client, &orders, i, &view).await);
            }
        }
        while settlements.len() < MIX_SETTLEMENTS && 3 * settlements.len() + 6 <= handled.len() {
            settlements.push(ask_settlement(&client, settlements.len()).await);
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {MIX_ORDERS} orders PAID within {MIX_SETTLE_TIMEOUT:?}",
            handled.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (refunds, settlements)
}

/// Token balances of the payers and the settlement destination, per (account, contract).
async fn balances(chain: &TestChain) -> HashMap<(usize, EvmAddress), u128> {
    let mut found = HashMap::new();
    for account in (1..=PAYERS).chain([SETTLEMENT_DESTINATION]) {
        for token in [chain.usdt, chain.usdc] {
            let held = chain.balance(token, DEV_ACCOUNTS[account]).await;
            found.insert((account, token), held.base_units());
        }
    }
    found
}

async fn mixed_run_reconciles(label: &str, database_url: &str) {
    let started = Instant::now();
    let chain = Arc::new(TestChain::start(31337).await);
    let dir = TempDir::new();
    let config = write_config(&dir.path, database_url, &chain, true);
    let hot = hot_wallet(&dir.path, &config).await;
    // Gas only: every token the hot wallet pays out comes from sweeps.
    fund_gas(&chain, &dir.path, &config, hot).await;
    let gateway = Gateway::serve(&dir.path, &config, 0, &[]);
    let client = Arc::new(Client::new(
        &gateway.url(),
        create_app(&dir.path, &config).await,
    ));
    let contract = |token: &str| {
        if token == "ETH_USDC" {
            chain.usdc
        } else {
            chain.usdt
        }
    };
    let mut planned = Vec::with_capacity(MIX_ORDERS);
    for i in 0..MIX_ORDERS {
        let order_no = format!("mix-{i:03}");
        let token = if i % 4 == 3 { "ETH_USDC" } else { "ETH_USDT" };
        let amount = format!("{}.{:02}", 10 + (i * 7) % 30, (i * 37) % 100);
        let deposit = create_order(&client, &order_no, &amount, token).await;
        planned.push(MixOrder {
            order_no,
            contract: contract(token),
            due: usd(&amount).base_units(),
            payer: 1 + i % PAYERS,
            mix: mix_of(i),
            deposit,
        });
    }
    let orders = Arc::new(planned);
    let initial = balances(&chain).await;
    let created_at = started.elapsed();

    // Five payers pay their orders one after another, all at once, some overpaying; the merchant
    // asks for refunds of paid orders and settlements as the orders get paid, while the engine
    // sweeps the deposits (each after a gas top-up) to pay them.
    let merchant = tokio::spawn(merchant(Arc::clone(&client), Arc::clone(&orders)));
    let mut payers = Vec::with_capacity(PAYERS);
    for payer in 1..=PAYERS {
        let (chain, orders) = (Arc::clone(&chain), Arc::clone(&orders));
        payers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in (0..MIX_ORDERS).filter(|i| orders[*i].payer == payer) {
                let order = &orders[i];
                let amount = TokenAmount::from_base_units(order.sent());
                let to = order.deposit.to_checksum();
                sent.push((i, chain.pay(payer, order.contract, &to, amount).await));
            }
            sent
        }));
    }
    let mut payments = HashMap::new();
    for payer in payers {
        let sent = tokio::time::timeout(MIX_SETTLE_TIMEOUT, payer)
            .await
            .expect("a payer did not finish paying")
            .unwrap();
        payments.extend(sent);
    }
    let paid_at = started.elapsed();
    let (refunds, settlements) = tokio::time::timeout(MIX_SETTLE_TIMEOUT, merchant)
        .await
        .expect("the merchant did not finish")
        .unwrap();
    let asked_at = started.elapsed();
    let abnormal_refunds = refunds.iter().filter(|r| r.abnormal).count();
    let operations = MIX_ORDERS + refunds.len() + settlements.len();
    assert_eq!(operations, 200, "orders paid + refunds + settlements");

    // Everything becomes final: refunds REFUNDED, settlements SETTLED, no payout open, every
    // deposit swept empty; stable over more than a sweep interval.
    let deadline = Instant::now() + MIX_SETTLE_TIMEOUT;
    let mut quiet_since: Option<Instant> = None;
    loop {
        let listed_refunds = list_all(&client, "/checkout/refund/list", &json!({})).await;
        let listed_settlements = list_all(&client, "/checkout/settlement/list", &json!({})).await;
        for record in listed_refunds.iter().chain(&listed_settlements) {
            let status = record["refundStatus"]
                .as_str()
                .or(record["settlementStatus"].as_str())
                .unwrap();
            assert!(
                !matches!(status, "FAILED" | "CANCELLED" | "REJECTED"),
                "[{label}] {record}"
            );
        }
        let refunds_done = listed_refunds.len() == refunds.len()
            && listed_refunds
                .iter()
                .all(|r| r["refundStatus"] == "REFUNDED");
        let settled = listed_settlements.len() == settlements.len()
            && listed_settlements
                .iter()
                .all(|s| s["settlementStatus"] == "SETTLED");
        // The costlier looks only once the cheap ones say done.
        let mut open = None;
        let mut unswept = None;
        if refunds_done && settled {
            let listed = open_payouts(&dir.path, &config).await;
            if listed.is_empty() {
                let mut left = 0;
                for order in orders.iter() {
                    left +=
                        usize::from(token_balance(&chain, order.contract, order.deposit).await > 0);
                }
                unswept = Some(left);
            }
            open = Some(listed);
        }
        let quiet = open.as_ref().is_some_and(Vec::is_empty) && unswept == Some(0);
        match (quiet, quiet_since) {
            (true, Some(since)) if since.elapsed() >= Duration::from_millis(2500) => break,
            (true, None) => quiet_since = Some(Instant::now()),
            (true, Some(_)) => {}
            (false, _) => quiet_since = None,
        }
        if Instant::now() >= deadline {
            let open = open.unwrap_or_default();
            let sample: Vec<_> = open
                .iter()
                .take(10)
                .map(|p| format!("{} {} {}", p["kind"], p["status"], p["note"]))
                .collect();
            panic!(
                "[{label}] not final within {MIX_SETTLE_TIMEOUT:?}: refunds done {refunds_done}, \
                 settled {settled}, deposits not swept {unswept:?}, {} payouts open, e.g. {sample:#?}",
                open.len()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let final_at = started.elapsed();

    // The operator tools agree with the chain.
    let (reconciled, check) = reconcile_and_check(&dir.path, &config).await;

    // Every refund and settlement is exactly one transfer from the hot wallet, of its amount, to
    // its recipient; nothing else left the hot wallet in tokens.
    let mut refunded_to: HashMap<(usize, EvmAddress), u128> = HashMap::new();
    for refund in &refunds {
        let order = &orders[refund.order];
        let info = refund_info(&client, &refund.refund_order_no).await;
        assert_eq!(info["refundStatus"], "REFUNDED", "{info}");
        assert_eq!(units(&info["amount"]), refund.amount, "{info}");
        assert!(
            info["address"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(DEV_ACCOUNTS[order.payer]),
            "{info}"
        );
        let tx = info["txHash"].as_str().unwrap();
        let receipt = chain.rpc("eth_getTransactionReceipt", json!([tx])).await;
        let logs = receipt["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "{receipt}");
        let payer = EvmAddress::parse(DEV_ACCOUNTS[order.payer]).unwrap();
        assert_eq!(logs[0]["topics"][1], address_topic(hot), "{receipt}");
        assert_eq!(logs[0]["topics"][2], address_topic(payer), "{receipt}");
        assert!(
            logs[0]["address"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&order.contract.to_lower_hex()),
            "{receipt}"
        );
        assert_eq!(quantity(&logs[0]["data"]), refund.amount, "{receipt}");
        *refunded_to
            .entry((order.payer, order.contract))
            .or_default() += refund.amount;
    }
    let mut settled_to: HashMap<EvmAddress, u128> = HashMap::new();
    for settlement in &settlements {
        let path = format!(
            "/checkout/settlement/info?settlementOrderNo={}",
            settlement.settlement_order_no
        );
        let info = call(&client, "GET", &path, "").await;
        assert_eq!(info["settlementStatus"], "SETTLED", "{info}");
        let tx = info["txHash"].as_str().unwrap();
        let receipt = chain.rpc("eth_getTransactionReceipt", json!([tx])).await;
        let logs = receipt["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "{receipt}");
        assert_eq!(logs[0]["topics"][1], address_topic(hot), "{receipt}");
        assert_eq!(quantity(&logs[0]["data"]), settlement.amount, "{receipt}");
        *settled_to.entry(contract(settlement.token)).or_default() += settlement.amount;
    }
    let mut out_of_hot = 0;
    let mut into_hot = 0;
    let mut swept_from = BTreeMap::new();
    for token in [chain.usdt, chain.usdc] {
        out_of_hot += transfer_logs(&chain, token, Some(hot), None).await.len();
        for log in transfer_logs(&chain, token, None, Some(hot)).await {
            into_hot += 1;
            *swept_from.entry(log_from(&log)).or_insert(0usize) += 1;
        }
    }
    assert_eq!(
        out_of_hot,
        refunds.len() + settlements.len(),
        "[{label}] token transfers out of the hot wallet"
    );
    let deposits: BTreeSet<String> = orders.iter().map(|o| o.deposit.to_lower_hex()).collect();
    for sender in swept_from.keys() {
        assert!(
            deposits.contains(sender),
            "tokens into the hot wallet from {sender}"
        );
    }
    assert_eq!(
        swept_from.len(),
        MIX_ORDERS,
        "every deposit swept: {swept_from:?}"
    );
    let hot_transactions = sent_count(&chain, hot).await;
    let top_ups = hot_transactions - out_of_hot as u128;

    // The payers and the settlement destination hold exactly what they should.
    let last = balances(&chain).await;
    for payer in 1..=PAYERS {
        for token in [chain.usdt, chain.usdc] {
            let sent: u128 = orders
                .iter()
                .filter(|o| o.payer == payer && o.contract == token)
                .map(MixOrder::sent)
                .sum();
            let back = refunded_to.get(&(payer, token)).copied().unwrap_or(0);
            assert_eq!(
                last[&(payer, token)],
                initial[&(payer, token)] - sent + back,
                "[{label}] payer {payer} in {token:?}"
            );
        }
    }
    for token in [chain.usdt, chain.usdc] {
        let key = (SETTLEMENT_DESTINATION, token);
        let expected = initial[&key] + settled_to.get(&token).copied().unwrap_or(0);
        assert_eq!(last[&key], expected, "[{label}] settlement destination");
    }

    // Every order ends as its refunds say.
    let listed = list_all(&client, "/checkout/order/list", &json!({})).await;
    assert_eq!(listed.len(), MIX_ORDERS);
    let by_no: HashMap<&str, &Value> = listed
        .iter()
        .map(|o| (o["orderNo"].as_str().unwrap(), o))
        .collect();
    for (i, order) in orders.iter().enumerate() {
        let view = by_no[order.order_no.as_str()];
        let (status, refunded) = match order.mix {
            Mix::Full => ("REFUNDED", order.due),
            Mix::Half => ("PARTIAL_REFUNDED", order.due / 2),
            Mix::HalfQuarter => ("PARTIAL_REFUNDED", order.due / 2 + order.due / 4),
            Mix::Overpaid | Mix::Kept => ("PAID", 0),
        };
        assert_eq!(view["orderStatus"], status, "{view}");
        assert_eq!(view["txHash"], payments[&i].as_str(), "{view}");
        assert_eq!(units(&view["refundedAmount"]), refunded, "{view}");
    }
    let abnormal = list_all(&client, "/checkout/abnormal-payment/list", &json!({})).await;
    assert_eq!(abnormal.len(), abnormal_refunds, "{abnormal:#?}");
    for record in &abnormal {
        assert_eq!(record["type"], "OVER_PAID", "{record}");
        assert_eq!(record["status"], "HANDLED", "{record}");
        assert_eq!(units(&record["pendingAmount"]), 0, "{record}");
    }

    let log = gateway.stderr();
    assert!(!log.contains("panicked"), "the gateway panicked:\n{log}");
    // The app has no webhook URL, so every event's delivery fails with a warning: counted
    // apart, the other warnings and errors are shown.
    let no_webhook = log
        .lines()
        .filter(|l| l.contains("the app has no webhook URL"))
        .count();
    let notable: Vec<&str> = log
        .lines()
        .filter(|l| (l.contains("WARN") || l.contains("ERROR")) && !l.contains("no webhook URL"))
        .collect();
    for line in notable.iter().take(20) {
        eprintln!("[{label}] gateway: {line}");
    }
    let full = refunds
        .iter()
        .filter(|r| !r.abnormal && orders[r.order].mix == Mix::Full)
        .count();
    eprintln!(
        "[{label}] {operations} operations: {MIX_ORDERS} orders paid ({} overpaid), {} refunds \
         ({full} full, {} partial, {abnormal_refunds} abnormal), {} settlements; {into_hot} sweeps \
         of {} deposits, {top_ups} gas top-ups; {hot_transactions} hot-wallet transactions; \
         orders created {:.1} s, all paid {:.1} s, all asked {:.1} s, all final {:.1} s, total \
         {:.1} s; gateway log: {} other WARN/ERROR lines, {no_webhook} \
         \"no webhook URL\" warnings\nreconcile: {reconciled}\n\
         ledger check: {check}",
        orders.iter().filter(|o| o.mix == Mix::Overpaid).count(),
        refunds.len(),
        refunds.len() - full - abnormal_refunds,
        settlements.len(),
        swept_from.len(),
        created_at.as_secs_f64(),
        paid_at.as_secs_f64(),
        asked_at.as_secs_f64(),
        final_at.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        notable.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_run_reconciles_on_sqlite() {
    let database = fresh_sqlite();
    mixed_run_reconciles("sqlite", &database.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_run_reconciles_on_postgres() {
    let Some(database) = fresh_postgres("mixed_run_reconciles_on_postgres").await else {
        return;
    };
    mixed_run_reconciles("postgres", &database.url).await;
}
