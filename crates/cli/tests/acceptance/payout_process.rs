//! Black-box tests of the payout engine in the real `wcheckout serve` binary on an anvil chain:
//! a refund SIGKILLed at its most delicate steps (signed but not sent; sent but not recorded)
//! still reaches the payer exactly once, and a long mixed run of payments, refunds, abnormal
//! refunds, settlements and sweeps ends with the ledger, the chain and the operator tools in
//! agreement.
//!
//! Every wait is bounded; every gateway and anvil process is killed when its handle is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::chain::{PAYERS, TestChain, eventually, text, units, usd};
use crate::common::process::{Cli, call, config_head};
use crate::on_both_databases;
use serde_json::{Value, json};
use wcheckout_client::{Client, routes};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;
use wcheckout_testkit::TempDir;

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
fn write_config(dir: &Path, database_url: &str, chain: &TestChain, sweeps: bool) -> Cli {
    let text = format!(
        r#"{head}
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

{chain}"#,
        head = config_head(database_url, &"3c".repeat(32)),
        chain = chain.config_sections(1, 0),
    );
    Cli::configured(dir, &text)
}

/// `wcheckout hot-wallet`: the hot wallet's address.
async fn hot_wallet(cli: &Cli) -> EvmAddress {
    let stdout = cli.run_async(&["hot-wallet"]).await.ok().stdout;
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("hot wallet (evm): "))
        .unwrap_or_else(|| panic!("no hot wallet line in:\n{stdout}"));
    EvmAddress::parse(line.trim()).unwrap()
}

/// `wcheckout payout list --json`.
async fn open_payouts(cli: &Cli) -> Vec<Value> {
    let stdout = cli
        .run_async(&["payout", "list", "--json"])
        .await
        .ok()
        .stdout;
    serde_json::from_str::<Value>(stdout.trim())
        .unwrap_or_else(|e| panic!("payout list: {e}:\n{stdout}"))
        .as_array()
        .unwrap()
        .clone()
}

/// `wcheckout ledger record-funding --chain ETH WHAT --tx-hash TX`, which must succeed.
async fn record_funding(cli: &Cli, what: &[&str], tx: &str) {
    let mut args = vec!["ledger", "record-funding", "--chain", "ETH"];
    args.extend(what);
    args.extend(["--tx-hash", tx]);
    cli.run_async(&args).await.ok();
}

/// Gives the hot wallet 10 coins of gas from the funder account and records it in the ledger.
async fn fund_gas(chain: &TestChain, cli: &Cli, hot: EvmAddress) {
    let wei = 10 * 1_000_000_000_000_000_000u128;
    let tx = stablecoin::send_native(&chain.rpc_url, DEV_PRIVATE_KEYS[FUNDER], hot, wei)
        .await
        .unwrap();
    record_funding(cli, &["--amount", "10"], &tx).await;
}

/// Mints `whole` tokens to the hot wallet and records them in the ledger as operator funding.
async fn fund_tokens(chain: &TestChain, cli: &Cli, hot: EvmAddress, whole: &str) {
    let tx = stablecoin::mint(
        &chain.rpc_url,
        DEV_PRIVATE_KEYS[MINTER],
        chain.usdt,
        hot,
        usd(whole),
    )
    .await
    .unwrap();
    record_funding(cli, &["--token", "ETH_USDT", "--amount", whole], &tx).await;
}

/// `wcheckout reconcile` (must succeed and find no difference) and `wcheckout ledger balance
/// --json` (must balance); returns the reconcile report and the ledger's check.
async fn reconcile_and_check(cli: &Cli) -> (String, Value) {
    let reconciled = cli.run_async(&["reconcile"]).await.ok();
    assert!(
        reconciled
            .stdout
            .contains(" 0 different, 0 payouts in flight"),
        "{}",
        reconciled.stdout
    );
    let json = cli.run_async(&["reconcile", "--json"]).await.ok().stdout;
    let json: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["differences"], 0, "{json}");
    let ledger = cli
        .run_async(&["ledger", "balance", "--json"])
        .await
        .ok()
        .stdout;
    let ledger: Value = serde_json::from_str(ledger.trim()).unwrap();
    let check = ledger["check"].clone();
    assert_eq!(check["balanced"], true, "{check}");
    assert_eq!(check["mismatchedAccounts"], json!([]), "{check}");
    (reconciled.stdout.trim().to_owned(), check)
}

// ---------------------------------------------------------------------------------------------
// API and chain helpers
// ---------------------------------------------------------------------------------------------

async fn create_order(client: &Client, order_no: &str, amount: &str, token: &str) -> EvmAddress {
    let body =
        json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": token});
    let created = call(client, "POST", routes::CREATE_ORDER, &body.to_string()).await;
    assert_eq!(created["orderStatus"], "PAYING", "{created}");
    EvmAddress::parse(created["depositAddress"].as_str().unwrap()).unwrap()
}

async fn order_info(client: &Client, order_no: &str) -> Value {
    let path = routes::with_query(routes::ORDER_INFO, "orderNo", order_no);
    call(client, "GET", &path, "").await
}

async fn refund_info(client: &Client, refund_order_no: &str) -> Value {
    let path = routes::with_query(routes::REFUND_INFO, "refundOrderNo", refund_order_no);
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
    let cli = write_config(&dir.path, database_url, &chain, false);
    let hot = hot_wallet(&cli).await;
    fund_gas(&chain, &cli, hot).await;
    fund_tokens(&chain, &cli, hot, "1000").await;

    let mut gateway = cli.with("WCHECKOUT_FAILPOINT", failpoint).serve(0);
    let creds = cli.create_app("Payouts", &[]);
    let client = creds.client(&gateway);
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
    let created = call(&client, "POST", routes::CREATE_REFUND, &body.to_string()).await;
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
    let paused = open_payouts(&cli).await;
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
    let gateway = cli.serve(1);
    let client = creds.client(&gateway);
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
    assert_eq!(open_payouts(&cli).await, Vec::<Value>::new());
    let (reconciled, check) = reconcile_and_check(&cli).await;
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

/// Stopped once the refund is signed, before it is sent.
async fn refund_signed_not_sent_is_paid_once(label: &str, database_url: &str) {
    refund_paid_once_after_kill(label, database_url, "payout-signed").await;
}

/// Stopped once the refund is sent, before that is recorded.
async fn refund_sent_not_recorded_is_paid_once(label: &str, database_url: &str) {
    refund_paid_once_after_kill(label, database_url, "payout-broadcast").await;
}

on_both_databases!(
    refund_signed_not_sent_is_paid_once,
    refund_sent_not_recorded_is_paid_once
);

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
        let created = call(client, "POST", routes::CREATE_REFUND, &body.to_string()).await;
        assert_eq!(units(&created["amount"]), refund.amount, "{created}");
    }
    if order.mix == Mix::Overpaid {
        // The excess, refunded by the hash of the transfer that brought it.
        let refund_order_no = format!("{}-abnormal", order.order_no);
        let tx = view["txHash"].as_str().unwrap();
        let body =
            json!({"refundOrderNo": refund_order_no, "orderNo": order.order_no, "txHash": tx});
        let path = routes::REFUND_ABNORMAL_PAYMENT;
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
    let created = call(client, "POST", routes::CREATE_SETTLEMENT, &body.to_string()).await;
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
        for view in list_all(&client, routes::LIST_ORDERS, &filter).await {
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
    let cli = write_config(&dir.path, database_url, &chain, true);
    let hot = hot_wallet(&cli).await;
    // Gas only: every token the hot wallet pays out comes from sweeps.
    fund_gas(&chain, &cli, hot).await;
    let gateway = cli.serve(0);
    let client = Arc::new(cli.create_app("Payouts", &[]).client(&gateway));
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
        let listed_refunds = list_all(&client, routes::LIST_REFUNDS, &json!({})).await;
        let listed_settlements = list_all(&client, routes::LIST_SETTLEMENTS, &json!({})).await;
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
            let listed = open_payouts(&cli).await;
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
    let (reconciled, check) = reconcile_and_check(&cli).await;

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
        let path = routes::with_query(
            routes::SETTLEMENT_INFO,
            "settlementOrderNo",
            &settlement.settlement_order_no,
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
    let listed = list_all(&client, routes::LIST_ORDERS, &json!({})).await;
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
    let abnormal = list_all(&client, routes::LIST_ABNORMAL_PAYMENTS, &json!({})).await;
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

on_both_databases!(mixed_run_reconciles);
