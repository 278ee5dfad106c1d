//! Catch-up: a chain watcher starting behind a backlog of blocks full of token transfers, timed
//! against the raw `eth_getLogs` calls over the same range with the same chunking.
//!
//! The backlog is built once per run on anvil (automine off, a fixed number of transfers per
//! block, each block mined with `evm_mine`); a fraction of the transfers pay orders created
//! beforehand, the others go to unrelated addresses. Each engine then gets a fresh database and
//! a gateway whose orders are created in the same sequence, so that they get the same deposit
//! addresses (derived from the same seed from index 0) and the same amounts: the one chain
//! serves every engine.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::Filter;
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_app::wire::CreateCheckoutOrderRequest;
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::payment::TransferState;
use wcheckout_domain::token::ChainKey;
use wcheckout_evm::anvil::{Anvil, AnvilOptions, DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::reader::TRANSFER_TOPIC;
use wcheckout_evm::stablecoin;

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, config_with_chain};
use crate::watcher_steps;

/// Blocks in the backlog unless `--blocks` says otherwise.
pub(crate) const DEFAULT_BLOCKS: u64 = 2000;
/// Transfers per block unless `--per-block` says otherwise.
pub(crate) const DEFAULT_PER_BLOCK: u64 = 10;
/// Transfers paying orders unless `--orders` says otherwise.
pub(crate) const DEFAULT_ORDERS: u64 = 2000;

/// Runs per engine unless `--repeats` says otherwise.
pub(crate) const DEFAULT_REPEATS: u32 = 3;

/// Times of the raw fetch: the median of this many repetitions.
const RAW_REPEATS: usize = 3;

#[allow(unreachable_pub)]
mod erc20 {
    alloy::sol! {
        interface Erc20 {
            function transfer(address to, uint256 amount) external returns (bool);
        }
    }
}

/// `wcheckout-bench catchup` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Blocks in the backlog.
    #[arg(long, default_value_t = DEFAULT_BLOCKS)]
    pub(crate) blocks: u64,
    /// ERC-20 transfers per block.
    #[arg(long, default_value_t = DEFAULT_PER_BLOCK)]
    pub(crate) per_block: u64,
    /// Orders created, each paid by one transfer of the backlog (at most one per block).
    #[arg(long, default_value_t = DEFAULT_ORDERS)]
    pub(crate) orders: u64,
    /// Runs per engine (each a fresh database over the same backlog); medians are reported.
    #[arg(long, default_value_t = DEFAULT_REPEATS)]
    pub(crate) repeats: u32,
    /// Longest wait for the watcher to credit every order before the run fails.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            blocks: DEFAULT_BLOCKS,
            per_block: DEFAULT_PER_BLOCK,
            orders: DEFAULT_ORDERS,
            repeats: DEFAULT_REPEATS,
            timeout_secs: 300,
        }
    }
}

/// An order the backlog pays.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Payable {
    deposit: EvmAddress,
    amount: TokenAmount,
}

/// The chain holding the backlog.
struct Backlog {
    anvil: Anvil,
    token: EvmAddress,
    first: u64,
    last: u64,
    transfers: u64,
    /// The orders the backlog pays, in creation order.
    payables: Vec<Payable>,
    built_in: Duration,
}

struct RunResult {
    engine: Engine,
    raw_calls: usize,
    logs: usize,
    /// One run's figures, or the median of each over the runs in `runs`.
    figures: Figures,
    /// Every repetition's figures, when `figures` are their medians.
    runs: Vec<Figures>,
}

#[derive(Clone, Copy, Debug)]
struct Figures {
    raw: Duration,
    recorded: Duration,
    paid: Duration,
    /// The watcher's scans waiting for their ranges to be fetched and matched, in all.
    waited: Duration,
    /// The watcher deciding its ranges' credits and committing them, in all.
    committed: Duration,
}

/// The median of each figure over the repetitions of one engine (each run is a fresh
/// database and gateway over the same backlog).
fn median_run(runs: Vec<RunResult>) -> Option<RunResult> {
    let median = |mut values: Vec<Duration>| {
        values.sort_unstable();
        values[values.len() / 2]
    };
    let all = runs.iter().map(|r| r.figures).collect::<Vec<_>>();
    let of = |figure: fn(&Figures) -> Duration| median(all.iter().map(figure).collect());
    let figures = Figures {
        raw: of(|f| f.raw),
        recorded: of(|f| f.recorded),
        paid: of(|f| f.paid),
        waited: of(|f| f.waited),
        committed: of(|f| f.committed),
    };
    let first = runs.into_iter().next()?;
    Some(RunResult {
        figures,
        runs: all,
        ..first
    })
}

/// Builds the backlog, runs every engine over it and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    ensure!(
        options.blocks > 0 && options.per_block > 0,
        "an empty backlog"
    );
    ensure!(
        options.orders <= options.blocks,
        "--orders must not exceed --blocks (one paying transfer per block)"
    );
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let anvil = tokio::task::spawn_blocking(|| Anvil::spawn(&AnvilOptions::default()))
        .await?
        .context("starting anvil (run `npm ci` at the repository root, or set $WCHECKOUT_ANVIL)")?;
    let mut backlog = None;
    let mut results = Vec::new();
    let mut anvil = Some(anvil);
    for engine in engines {
        let mut runs = Vec::new();
        for repeat in 1..=options.repeats.max(1) {
            eprintln!("catchup: {} run {repeat}", engine.name());
            let database = BenchDatabase::create(engine, pg_url).await?;
            let outcome =
                one_engine(engine, options, &database.url, &mut anvil, &mut backlog).await;
            database.remove().await;
            let result = outcome?;
            let f = &result.figures;
            eprintln!(
                "  raw eth_getLogs {:.3} s; watcher: recorded {:.3} s ({:.2}x), paid {:.3} s \
                 ({:.2}x); waited for ranges {:.3} s, committed {:.3} s",
                f.raw.as_secs_f64(),
                f.recorded.as_secs_f64(),
                ratio(f.recorded, f.raw),
                f.paid.as_secs_f64(),
                ratio(f.paid, f.raw),
                f.waited.as_secs_f64(),
                f.committed.as_secs_f64(),
            );
            runs.push(result);
        }
        results.push(median_run(runs).context("no run")?);
    }
    let text = markdown(options, backlog.as_ref(), &results, &skipped);
    let node = backlog.map(|b| b.anvil).or(anvil);
    if let Some(node) = node {
        tokio::task::spawn_blocking(move || node.stop()).await?;
    }
    Ok(text)
}

#[allow(clippy::cast_precision_loss)] // A printed ratio.
fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// One engine: a gateway with the orders, the backlog (built by the first engine), the raw
/// fetch, then the watcher.
async fn one_engine(
    engine: Engine,
    options: &Options,
    database_url: &str,
    anvil: &mut Option<Anvil>,
    backlog: &mut Option<Backlog>,
) -> anyhow::Result<RunResult> {
    let (rpc_url, chain_id, token) = match (backlog.as_ref(), anvil.as_ref()) {
        (Some(b), _) => (b.anvil.rpc_url(), b.anvil.chain_id(), b.token),
        (None, Some(node)) => {
            let token = deploy_token(&node.rpc_url()).await?;
            (node.rpc_url(), node.chain_id(), token)
        }
        (None, None) => bail!("no node"),
    };
    let ws_url = rpc_url.replacen("http://", "ws://", 1);
    let config = chain_config(database_url, &rpc_url, &ws_url, chain_id, token)?;
    let mut gateway = BenchGateway::start(config.clone()).await?;
    let outcome = async {
        let (payables, sysids) = create_orders(&gateway, options.orders).await?;
        if backlog.is_none() {
            let node = anvil.take().context("no node")?;
            let built = build_backlog(node, token, options, payables.clone()).await?;
            *backlog = Some(built);
        }
        let backlog = backlog.as_ref().context("no backlog")?;
        ensure!(
            backlog.payables == payables,
            "the orders of the {} run did not get the deposit addresses and amounts the \
             backlog pays",
            engine.name()
        );
        let (raw, raw_calls, logs) = raw_fetch(&rpc_url, token, backlog, &config).await?;
        ensure!(
            logs as u64 == backlog.transfers,
            "eth_getLogs returned {logs} logs, {} expected",
            backlog.transfers
        );
        watcher_steps::take();
        let (recorded, paid) = watch(&mut gateway, &config, backlog, options).await?;
        let steps = watcher_steps::take();
        ensure!(
            steps.ranges > 0,
            "no `transfers recorded` event of the watcher was seen (its step timers are read \
             from that event's `waited_ms` and `commit_ms` fields)"
        );
        verify(&gateway, &sysids).await?;
        Ok(RunResult {
            engine,
            raw_calls,
            logs,
            figures: Figures {
                raw,
                recorded,
                paid,
                waited: steps.waited,
                committed: steps.committed,
            },
            runs: Vec::new(),
        })
    }
    .await;
    gateway.stop().await;
    outcome
}

async fn deploy_token(rpc_url: &str) -> anyhow::Result<EvmAddress> {
    let deployer = DEV_PRIVATE_KEYS[0];
    let token = stablecoin::deploy(rpc_url, deployer, "Tether USD", "USDT", 6).await?;
    let payers = DEV_ACCOUNTS
        .iter()
        .map(|a| EvmAddress::parse(a).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let funds = TokenAmount::from_base_units(1_000_000_000 * 1_000_000);
    stablecoin::mint_to_each(rpc_url, deployer, token, &payers, funds).await?;
    Ok(token)
}

/// The default configuration with the chain and its token, the watcher off until the backlog
/// is there (it is started by hand), webhook delivery off (the figures are the watcher's).
fn chain_config(
    database_url: &str,
    rpc_url: &str,
    ws_url: &str,
    chain_id: u64,
    token: EvmAddress,
) -> anyhow::Result<Config> {
    let mut config = config_with_chain(database_url, rpc_url, ws_url, chain_id, token)?;
    config.watcher.enabled = false;
    config.webhooks.enabled = false;
    Ok(config)
}

/// Creates `count` orders through the use case (the API's signing is not what is measured);
/// their deposit addresses and amounts, and their ids, in creation order.
async fn create_orders(
    gateway: &BenchGateway,
    count: u64,
) -> anyhow::Result<(Vec<Payable>, Vec<String>)> {
    let issued = gateway
        .admin()
        .create("Catch-up shop", None, &[])
        .await
        .map_err(|e| anyhow::anyhow!("creating an app: {e}"))?;
    let store = &gateway.gateway.store;
    let app = gateway.app(&issued).await?;
    let mut payables = Vec::new();
    let mut sysids = Vec::new();
    for number in 0..count {
        let body: CreateCheckoutOrderRequest = serde_json::from_value(json!({
            "orderNo": format!("catchup-{number:05}"),
            "orderAmount": format!("{}.{:02}", 1 + number / 100, number % 100),
            "customerId": "c",
            "token": "ETH_USDT",
            "expiredIn": 604_800,
        }))?;
        let view = gateway
            .gateway
            .create_order(&app, body, None)
            .await
            .map_err(|e| anyhow::anyhow!("creating an order: {e}"))?;
        let order = store
            .order_by_sysid(&view.sysid)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .context("the order just created")?;
        payables.push(Payable {
            deposit: wcheckout_evm::stablecoin::anvil_account(&order.deposit_address),
            amount: order.paying_amount,
        });
        sysids.push(order.sysid);
    }
    Ok((payables, sysids))
}

/// An address nobody watches: the last 20 bytes of `keccak256("other" ‖ n)`.
fn other_address(n: u64) -> Address {
    let mut seed = b"other".to_vec();
    seed.extend_from_slice(&n.to_be_bytes());
    Address::from_slice(&keccak256(&seed)[12..])
}

fn hex_quantity(value: &Value) -> anyhow::Result<u64> {
    let text = value.as_str().context("a hex quantity")?;
    Ok(u64::from_str_radix(text.trim_start_matches("0x"), 16)?)
}

/// A `transfer(to, amount)` from dev account `payer` (unlocked on anvil), with a fixed gas
/// limit so that the node does not estimate it.
fn transfer_tx(payer: usize, token: EvmAddress, to: Address, amount: u128) -> Value {
    use alloy::sol_types::SolCall;
    let call = erc20::Erc20::transferCall {
        to,
        amount: alloy::primitives::U256::from(amount),
    };
    let data = format!("0x{}", alloy::primitives::hex::encode(call.abi_encode()));
    json!({"from": DEV_ACCOUNTS[payer], "to": token.to_checksum(), "data": data, "gas": "0x30000"})
}

/// Mines the backlog: `blocks` blocks of `per_block` transfers, each from a different dev
/// account; block `i` (for `i` below the number of orders) holds the transfer paying order `i`.
async fn build_backlog(
    anvil: Anvil,
    token: EvmAddress,
    options: &Options,
    payables: Vec<Payable>,
) -> anyhow::Result<Backlog> {
    ensure!(
        usize::try_from(options.per_block).is_ok_and(|n| n <= DEV_ACCOUNTS.len()),
        "--per-block must be at most {} (one sender per transfer in a block)",
        DEV_ACCOUNTS.len()
    );
    let started = Instant::now();
    let client = RpcClient::new_http(anvil.rpc_url().parse()?);
    let head: Value = client.request_noparams("eth_blockNumber").await?;
    let first = hex_quantity(&head)? + 1;
    let _: Value = client.request("evm_setAutomine", (false,)).await?;
    let mut others = 0u64;
    let mut transfers = 0u64;
    for block in 0..options.blocks {
        let mut batch = client.new_batch();
        let mut waiters = Vec::new();
        for slot in 0..options.per_block {
            let payer = usize::try_from(slot)?;
            let tx = match payables.get(usize::try_from(block)?) {
                Some(order) if slot == 0 => transfer_tx(
                    payer,
                    token,
                    Address::from(*order.deposit.as_bytes()),
                    order.amount.base_units(),
                ),
                _ => {
                    others += 1;
                    let amount = 1_000_000 + u128::from(others % 977) * 10_000;
                    transfer_tx(payer, token, other_address(others), amount)
                }
            };
            waiters.push(batch.add_call::<_, Value>("eth_sendTransaction", &(tx,))?);
        }
        batch.send().await?;
        for waiter in waiters {
            waiter.await?;
            transfers += 1;
        }
        let _: Value = client.request_noparams("evm_mine").await?;
        if (block + 1) % 500 == 0 {
            eprintln!("  backlog: {} blocks", block + 1);
        }
    }
    let _: Value = client.request("evm_setAutomine", (true,)).await?;
    let head: Value = client.request_noparams("eth_blockNumber").await?;
    let last = hex_quantity(&head)?;
    ensure!(
        last + 1 - first == options.blocks,
        "mined {} blocks, {} expected",
        last + 1 - first,
        options.blocks
    );
    Ok(Backlog {
        anvil,
        token,
        first,
        last,
        transfers,
        payables,
        built_in: started.elapsed(),
    })
}

/// The raw `eth_getLogs` calls the watcher makes over the backlog (its contracts, its chunk
/// size), repeated; the median time, the calls per repetition and the logs returned.
async fn raw_fetch(
    rpc_url: &str,
    token: EvmAddress,
    backlog: &Backlog,
    config: &Config,
) -> anyhow::Result<(Duration, usize, usize)> {
    let provider = ProviderBuilder::new().connect_http(rpc_url.parse()?);
    let scan = config.watcher.max_blocks_per_scan.max(1);
    let contract = Address::from(*token.as_bytes());
    let mut times = Vec::with_capacity(RAW_REPEATS);
    let mut calls = 0;
    let mut logs = 0;
    for _ in 0..RAW_REPEATS {
        calls = 0;
        logs = 0;
        let started = Instant::now();
        let mut from = backlog.first;
        while from <= backlog.last {
            let to = backlog.last.min(from + scan - 1);
            let filter = Filter::new()
                .address(vec![contract])
                .event_signature(TRANSFER_TOPIC)
                .from_block(from)
                .to_block(to);
            logs += provider.get_logs(&filter).await?.len();
            calls += 1;
            from = to + 1;
        }
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], calls, logs))
}

/// Starts the watcher at the backlog's first block; the times until its cursor reaches the end
/// of the backlog and until every order is `PAID`.
async fn watch(
    gateway: &mut BenchGateway,
    config: &Config,
    backlog: &Backlog,
    options: &Options,
) -> anyhow::Result<(Duration, Duration)> {
    let mut config = config.clone();
    config.watcher.enabled = true;
    if let Some(chain) = config.chains.get_mut("ETH") {
        chain.start_block = Some(backlog.first);
    }
    let watchers = wcheckout::serve::chain_watchers(&config, &gateway.gateway)?;
    let chain = ChainKey::parse("ETH").context("chain key")?;
    let store = gateway.gateway.store.clone();
    let expected = backlog.payables.len() as u64;
    let timeout = Duration::from_secs(options.timeout_secs);
    let started = Instant::now();
    for watcher in watchers {
        let worker = tokio::spawn(watcher.run(gateway.stopped()));
        gateway.add_worker(worker);
    }
    let recorded = loop {
        if started.elapsed() > timeout {
            bail!("the cursor did not reach the end of the backlog within {timeout:?}");
        }
        let cursor = store
            .chain_cursor(&chain)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if cursor.is_some_and(|c| c.processed.number >= backlog.last) {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // Counted only now: every count folds the status deltas, a write that would queue with the
    // watcher's commits (SQLite has one writer), and no order can be missing a transfer
    // before every transfer is recorded.
    loop {
        let counts = store
            .count_orders_by_status()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let paid = counts
            .iter()
            .find(|(status, _)| *status == OrderStatus::Paid)
            .map_or(0, |(_, n)| *n);
        if paid >= expected {
            return Ok((recorded, started.elapsed()));
        }
        if started.elapsed() > timeout {
            bail!("only {paid} of {expected} orders paid after {timeout:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every order paid by exactly one credited transfer.
async fn verify(gateway: &BenchGateway, sysids: &[String]) -> anyhow::Result<()> {
    let store = &gateway.gateway.store;
    let counts = store
        .count_orders_by_status()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        counts == vec![(OrderStatus::Paid, sysids.len() as u64)],
        "orders by status: {counts:?}"
    );
    let transfers = store
        .transfers_of_orders(sysids)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let orders = transfers
        .iter()
        .map(|t| t.order_sysid.as_str())
        .collect::<HashSet<_>>();
    ensure!(
        transfers.len() == sysids.len() && orders.len() == sysids.len(),
        "{} transfers recorded for {} orders",
        transfers.len(),
        orders.len()
    );
    ensure!(
        transfers.iter().all(|t| t.state == TransferState::Credited),
        "a transfer is not credited"
    );
    Ok(())
}

fn markdown(
    options: &Options,
    backlog: Option<&Backlog>,
    results: &[RunResult],
    skipped: &[String],
) -> String {
    let mut text = format!(
        "anvil with one 6-decimal test stablecoin. The backlog: automine off, {blocks} blocks \
each holding {per_block} ERC-20 transfers (`eth_sendTransaction` from {per_block} unlocked dev \
accounts in one JSON-RPC batch, then `evm_mine`), {total} transfers in all; {orders} of them, \
one per block, pay the exact amount of one of {orders} orders created beforehand (through the \
use case, `expiredIn` one week); the others go to {others} addresses nobody watches. Then a \
gateway (default configuration; `confirmations = 1`; webhook delivery off, so the figures are \
the watcher's) starts its chain watcher with `start_block` at the first block of the backlog \
(`[watcher]` defaults: `max_blocks_per_scan` 1000). Each engine gets a fresh database and the \
same orders in the same sequence (same deposit addresses and amounts), so one chain serves both. \
Each engine runs {runs} times, each time on a fresh database; the table shows the medians.\n\n\
- **Raw fetch**: the `eth_getLogs` calls the watcher makes for the same range (same contract \
filter, same chunks of at most `max_blocks_per_scan` blocks) and nothing else, through the same \
client library (alloy `get_logs`, logs decoded); median of {repeats} repetitions per run.\n\
- **Recorded**: from starting the watcher until its cursor is at the last block of the backlog \
(every transfer to a deposit address recorded, with its block hash, in the same commits as the \
cursor).\n\
- **Paid**: from starting the watcher until all {orders} orders are `PAID` (every transfer \
credited: order, transfer state, ledger postings and the order's webhook event in the outbox).\n\n\
| Engine | Raw fetch | **Recorded** | **Paid** | Recorded ÷ raw | Paid ÷ raw |\n\
| --- | ---: | ---: | ---: | ---: | ---: |\n",
        blocks = options.blocks,
        per_block = options.per_block,
        total = options.blocks * options.per_block,
        orders = options.orders,
        others = options.blocks * options.per_block - options.orders,
        repeats = RAW_REPEATS,
        runs = options.repeats.max(1),
    );
    for r in results {
        let f = &r.figures;
        let _ = writeln!(
            text,
            "| {} | {:.3} s | **{:.3} s** | **{:.3} s** | {:.2}× | {:.2}× |",
            r.engine.name(),
            f.raw.as_secs_f64(),
            f.recorded.as_secs_f64(),
            f.paid.as_secs_f64(),
            ratio(f.recorded, f.raw),
            ratio(f.paid, f.raw),
        );
    }
    text.push('\n');
    steps_table(&mut text, results);
    for line in skipped {
        let _ = writeln!(text, "- {line}");
    }
    if let Some(b) = backlog {
        let _ = writeln!(
            text,
            "- Backlog: blocks {}..={}, {} transfers, built in {:.1} s.",
            b.first,
            b.last,
            b.transfers,
            b.built_in.as_secs_f64()
        );
    }
    if let Some(r) = results.first() {
        let _ = writeln!(
            text,
            "- Raw fetch: {} call(s) returning {} logs per repetition.",
            r.raw_calls, r.logs
        );
    }
    for r in results {
        let runs = r
            .runs
            .iter()
            .map(|f| {
                format!(
                    "{:.3} / {:.3} / {:.3} s (waited {:.3}, committed {:.3})",
                    f.raw.as_secs_f64(),
                    f.recorded.as_secs_f64(),
                    f.paid.as_secs_f64(),
                    f.waited.as_secs_f64(),
                    f.committed.as_secs_f64(),
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            text,
            "- {} runs (raw / recorded / paid): {runs}.",
            r.engine.name()
        );
    }
    text
}

/// The recorded time taken apart by the watcher's own step timers: a scan waits for its range
/// (fetched and matched ahead while the previous range was committed, the first range not),
/// then decides its credits and commits; the rest is the rounds' other steps (lease, head,
/// the cursor block's check, the crediting of transfers recorded earlier).
fn steps_table(text: &mut String, results: &[RunResult]) {
    text.push_str(
        "Where the recorded time goes (the watcher's own timers, summed over its ranges; \
medians): **waiting** for a range's logs and matches, **committing** (deciding the range's \
credits and the commit that records and credits them), the **rest** of the rounds (lease, \
head, the cursor block's check, crediting transfers recorded earlier). Nothing is committed \
before the first range is read and the commits are one after another, so the recorded time \
cannot fall below the commits' sum plus the first range's read.\n\n\
| Engine | Waiting | Committing | Rest | Committing ÷ raw fetch |\n\
| --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let f = &r.figures;
        let rest = f.recorded.saturating_sub(f.waited + f.committed);
        let _ = writeln!(
            text,
            "| {} | {:.3} s | {:.3} s | {:.3} s | {:.2}× |",
            r.engine.name(),
            f.waited.as_secs_f64(),
            f.committed.as_secs_f64(),
            rest.as_secs_f64(),
            ratio(f.committed, f.raw),
        );
    }
    text.push('\n');
}
