//! Catch-up: a chain watcher starting behind a backlog of blocks full of token transfers, timed
//! against the raw `eth_getLogs` calls over the same range with the same chunking.
//!
//! The backlog is built once per run on anvil (automine off, a fixed number of transfers per
//! block, each block mined with `evm_mine`); a fraction of the transfers pay orders created
//! beforehand, the others go to unrelated addresses. Each engine then gets a fresh database and
//! a gateway whose orders are created in the same sequence, so that they get the same deposit
//! addresses (derived from the same seed from index 0) and the same amounts: the one chain
//! serves every engine.
//!
//! On TRON the gateway reads the same backlog through the TRON node stand-in's `/jsonrpc`,
//! which refuses an `eth_getLogs` as java-tron does (more than 5,000 blocks, more than 10,000
//! logs); the reader then reads the range in halves. The gateway and the raw fetch go through a
//! counting forwarder there, so the calls (refused ones too) are reported.

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
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::reader::TRANSFER_TOPIC;
use wcheckout_evm::stablecoin;

use crate::chain::{Family, Node, WatchedChain};
use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, config_with_chain};
use crate::rpc_counter::{CallCounts, MethodCalls, RpcCounter};
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

/// `[watcher] max_blocks_per_scan` on TRON unless `--max-blocks-per-scan` says otherwise: the
/// default configuration's, and the most java-tron serves (a range then holds more logs than
/// java-tron answers).
const DEFAULT_TRON_SCANS: [u64; 2] = [1000, 5000];

/// `wcheckout-bench catchup` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// How the gateway reads the node: evm, or tron (the stand-in's /jsonrpc, with java-tron's
    /// eth_getLogs limits).
    #[arg(long, value_enum, default_value_t = Family::Evm)]
    pub(crate) family: Family,
    /// `[watcher] max_blocks_per_scan` of the runs, comma-separated [default: the
    /// configuration's (1000) on evm, 1000,5000 on tron].
    #[arg(long, value_delimiter = ',')]
    pub(crate) max_blocks_per_scan: Vec<u64>,
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
            family: Family::Evm,
            max_blocks_per_scan: Vec::new(),
            blocks: DEFAULT_BLOCKS,
            per_block: DEFAULT_PER_BLOCK,
            orders: DEFAULT_ORDERS,
            repeats: DEFAULT_REPEATS,
            timeout_secs: 300,
        }
    }
}

impl Options {
    /// The scan sizes to run; `None` keeps the configuration's (EVM's default).
    fn scans(&self) -> Vec<Option<u64>> {
        match (self.max_blocks_per_scan.is_empty(), self.family) {
            (false, _) => self.max_blocks_per_scan.iter().copied().map(Some).collect(),
            (true, Family::Evm) => vec![None],
            (true, Family::Tron) => DEFAULT_TRON_SCANS.into_iter().map(Some).collect(),
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
    node: Node,
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
    /// `[watcher] max_blocks_per_scan` as configured.
    scan: u64,
    raw_calls: usize,
    /// Raw fetch calls the node refused for their size (each range then read in halves).
    raw_refused: usize,
    logs: usize,
    /// The calls the gateway made on the node from starting the watcher until every order was
    /// paid (TRON, read through the counting forwarder): the median run's by `eth_getLogs`.
    watcher_calls: Option<CallCounts>,
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
    let mut runs = runs;
    // The call counts of the run whose recorded time is the median.
    runs.sort_by_key(|r| r.figures.recorded);
    let middle = runs.len() / 2;
    let median_run = runs.into_iter().nth(middle)?;
    Some(RunResult {
        figures,
        runs: all,
        ..median_run
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
    let node = Node::start(options.family).await?;
    let counter = match options.family {
        Family::Evm => None,
        Family::Tron => Some(RpcCounter::start(&node.read_url()).await?),
    };
    let mut backlog = None;
    let mut results = Vec::new();
    let mut node = Some(node);
    let runs_of = options
        .scans()
        .into_iter()
        .flat_map(|scan| engines.iter().map(move |&engine| (scan, engine)));
    for (scan, engine) in runs_of.collect::<Vec<_>>() {
        let mut runs = Vec::new();
        for repeat in 1..=options.repeats.max(1) {
            let scan_text = scan.map_or_else(String::new, |s| format!(", {s} blocks per scan"));
            eprintln!(
                "catchup ({}): {} run {repeat}{scan_text}",
                options.family.name(),
                engine.name()
            );
            let database = BenchDatabase::create(engine, pg_url).await?;
            let run = RunSetup {
                engine,
                options,
                scan,
                counter: counter.as_ref(),
            };
            let outcome = one_engine(&run, &database.url, &mut node, &mut backlog).await;
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
    let node = backlog.map(|b| b.node).or(node);
    if let Some(node) = node {
        node.stop().await?;
    }
    if let Some(counter) = counter {
        counter.stop().await;
    }
    Ok(text)
}

#[allow(clippy::cast_precision_loss)] // A printed ratio.
fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// What one run is.
struct RunSetup<'a> {
    engine: Engine,
    options: &'a Options,
    /// `[watcher] max_blocks_per_scan`, or the configuration's.
    scan: Option<u64>,
    /// On TRON: the forwarder the gateway and the raw fetch read through.
    counter: Option<&'a RpcCounter>,
}

/// One engine: a gateway with the orders, the backlog (built by the first engine), the raw
/// fetch, then the watcher.
async fn one_engine(
    run: &RunSetup<'_>,
    database_url: &str,
    node: &mut Option<Node>,
    backlog: &mut Option<Backlog>,
) -> anyhow::Result<RunResult> {
    let (engine, options) = (run.engine, run.options);
    let through = run.counter.map(RpcCounter::url);
    let (watched, token) = match (backlog.as_ref(), node.as_ref()) {
        (Some(b), _) => (b.node.watched(through), b.token),
        (None, Some(node)) => {
            let token = deploy_token(&node.anvil_url()).await?;
            (node.watched(through), token)
        }
        (None, None) => bail!("no node"),
    };
    let mut config = chain_config(database_url, &watched, token)?;
    if let Some(scan) = run.scan {
        config.watcher.max_blocks_per_scan = scan;
    }
    let mut gateway = BenchGateway::start(config.clone()).await?;
    let outcome = async {
        let (payables, sysids) = create_orders(&gateway, options).await?;
        if backlog.is_none() {
            let node = node.take().context("no node")?;
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
        let raw = raw_fetch(&watched, token, backlog, &config).await?;
        ensure!(
            raw.logs as u64 == backlog.transfers,
            "eth_getLogs returned {} logs, {} expected",
            raw.logs,
            backlog.transfers
        );
        watcher_steps::take();
        if let Some(counter) = run.counter {
            counter.take();
        }
        let (recorded, paid) = watch(&mut gateway, &config, backlog, options).await?;
        let watcher_calls = run.counter.map(RpcCounter::take);
        let steps = watcher_steps::take();
        ensure!(
            steps.ranges > 0,
            "no `transfers recorded` event of the watcher was seen (its step timers are read \
             from that event's `waited_ms` and `commit_ms` fields)"
        );
        verify(&gateway, &sysids).await?;
        Ok(RunResult {
            engine,
            scan: config.watcher.max_blocks_per_scan,
            raw_calls: raw.calls,
            raw_refused: raw.refused,
            logs: raw.logs,
            watcher_calls,
            figures: Figures {
                raw: raw.time,
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
    chain: &WatchedChain,
    token: EvmAddress,
) -> anyhow::Result<Config> {
    let mut config = config_with_chain(database_url, chain, token)?;
    config.watcher.enabled = false;
    config.webhooks.enabled = false;
    Ok(config)
}

/// Creates `count` orders through the use case (the API's signing is not what is measured);
/// their deposit addresses and amounts, and their ids, in creation order.
async fn create_orders(
    gateway: &BenchGateway,
    options: &Options,
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
    for number in 0..options.orders {
        let body: CreateCheckoutOrderRequest = serde_json::from_value(json!({
            "orderNo": format!("catchup-{number:05}"),
            "orderAmount": format!("{}.{:02}", 1 + number / 100, number % 100),
            "customerId": "c",
            "token": options.family.token_key(),
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
    node: Node,
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
    let client = RpcClient::new_http(node.anvil_url().parse()?);
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
        node,
        token,
        first,
        last,
        transfers,
        payables,
        built_in: started.elapsed(),
    })
}

/// One raw fetch: the median time of its repetitions, and per repetition the calls (refused
/// ones too) and the logs returned.
struct RawFetch {
    time: Duration,
    calls: usize,
    refused: usize,
    logs: usize,
}

/// The raw `eth_getLogs` calls the watcher makes over the backlog (its contracts, its chunk
/// size, on TRON cut to what java-tron serves), repeated; a range the node refuses for its size
/// is read in halves, as the gateway's reader does.
async fn raw_fetch(
    chain: &WatchedChain,
    token: EvmAddress,
    backlog: &Backlog,
    config: &Config,
) -> anyhow::Result<RawFetch> {
    let provider = ProviderBuilder::new().connect_http(chain.rpc_url.parse()?);
    let scan = chain.family.scan_blocks(config.watcher.max_blocks_per_scan);
    let contract = Address::from(*token.as_bytes());
    let mut times = Vec::with_capacity(RAW_REPEATS);
    let mut fetch = RawFetch {
        time: Duration::ZERO,
        calls: 0,
        refused: 0,
        logs: 0,
    };
    for _ in 0..RAW_REPEATS {
        fetch.calls = 0;
        fetch.refused = 0;
        fetch.logs = 0;
        let started = Instant::now();
        let mut from = backlog.first;
        while from <= backlog.last {
            let to = backlog.last.min(from + scan - 1);
            let mut ranges = vec![(from, to)];
            while let Some((low, high)) = ranges.pop() {
                let filter = Filter::new()
                    .address(vec![contract])
                    .event_signature(TRANSFER_TOPIC)
                    .from_block(low)
                    .to_block(high);
                fetch.calls += 1;
                match provider.get_logs(&filter).await {
                    Ok(logs) => fetch.logs += logs.len(),
                    Err(error) if low < high && is_size_refusal(&error.to_string()) => {
                        fetch.refused += 1;
                        let middle = low + (high - low) / 2;
                        ranges.push((middle + 1, high));
                        ranges.push((low, middle));
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            from = to + 1;
        }
        times.push(started.elapsed());
    }
    times.sort_unstable();
    fetch.time = times[times.len() / 2];
    Ok(fetch)
}

/// java-tron's refusals of a log query for its size (what the stand-in answers too).
fn is_size_refusal(error: &str) -> bool {
    error.contains("exceed max block range") || error.contains("query returned more than")
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
    let key = options.family.chain_key();
    if let Some(chain) = config.chains.get_mut(key) {
        chain.start_block = Some(backlog.first);
    }
    let watchers = wcheckout::serve::chain_watchers(&config, &gateway.gateway)?;
    let chain = ChainKey::parse(key).context("chain key")?;
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

/// The backlog, as both families' sections describe it.
fn backlog_text(options: &Options) -> String {
    format!(
        "anvil with one 6-decimal test stablecoin. The backlog: automine off, {blocks} blocks \
each holding {per_block} ERC-20 transfers (`eth_sendTransaction` from {per_block} unlocked dev \
accounts in one JSON-RPC batch, then `evm_mine`), {total} transfers in all; {orders} of them, \
one per block, pay the exact amount of one of {orders} orders created beforehand (through the \
use case, `expiredIn` one week); the others go to {others} addresses nobody watches.",
        blocks = options.blocks,
        per_block = options.per_block,
        total = options.blocks * options.per_block,
        orders = options.orders,
        others = options.blocks * options.per_block - options.orders,
    )
}

/// How the gateway reads the backlog, per family.
fn gateway_text(options: &Options) -> String {
    let runs = options.repeats.max(1);
    match options.family {
        Family::Evm => format!(
            "Then a gateway (default configuration; `confirmations = 1`; webhook delivery off, \
so the figures are the watcher's) starts its chain watcher with `start_block` at the first \
block of the backlog (`[watcher]` defaults: `max_blocks_per_scan` 1000). Each engine gets a \
fresh database and the same orders in the same sequence (same deposit addresses and amounts), \
so one chain serves both. Each engine runs {runs} times, each time on a fresh database; the \
table shows the medians."
        ),
        Family::Tron => {
            let scans = options
                .scans()
                .iter()
                .map(|s| s.map_or_else(|| "the default".to_owned(), |s| s.to_string()))
                .collect::<Vec<_>>()
                .join(" and ");
            format!(
                "Then a gateway reads it as a **TRON** chain (`family = \"tron\"`, chain `TRX`, \
token `TRX_USDT` at the contract's `T…` address, `rpc_urls` the TRON node stand-in's \
`/jsonrpc` in front of the same anvil; default configuration otherwise, `confirmations = 1`, \
webhook delivery off) and starts its chain watcher with `start_block` at the first block of \
the backlog. The stand-in answers `eth_getLogs` as java-tron does: a range of more than 5,000 \
blocks is refused before the query, one matching more than 10,000 logs after it (the node has \
run the whole query by then); the gateway's reader then reads the refused range in halves, and \
`wcheckout serve` cuts a TRON chain's `max_blocks_per_scan` to 5,000. With {per_block} \
transfers a block, a range of 1,000 blocks (the default `max_blocks_per_scan`) holds {per_range} \
logs; runs with `max_blocks_per_scan` {scans}. The gateway and the raw fetch read through a \
counting forwarder in the harness (one more loopback hop for both) that counts the calls by \
method, and the `eth_getLogs` calls refused. Each engine runs {runs} times per setting, each \
time on a fresh database; the table shows the medians (call counts: of the run with the median \
recorded time).",
                per_block = options.per_block,
                per_range = options.per_block * 1000,
            )
        }
    }
}

fn definitions(options: &Options) -> String {
    format!(
        "- **Raw fetch**: the `eth_getLogs` calls the watcher makes for the same range (same \
contract filter, same chunks of at most `max_blocks_per_scan` blocks, a chunk the node refuses \
for its size read in halves) and nothing else, through the same client library (alloy \
`get_logs`, logs decoded); median of {repeats} repetitions per run.\n\
- **Recorded**: from starting the watcher until its cursor is at the last block of the backlog \
(every transfer to a deposit address recorded, with its block hash, in the same commits as the \
cursor).\n\
- **Paid**: from starting the watcher until all {orders} orders are `PAID` (every transfer \
credited: order, transfer state, ledger postings and the order's webhook event in the \
outbox).\n\n",
        repeats = RAW_REPEATS,
        orders = options.orders,
    )
}

/// The first cells of a result's rows: the engine, and on TRON the scan size.
fn label(family: Family, r: &RunResult) -> String {
    match family {
        Family::Evm => r.engine.name().to_owned(),
        Family::Tron => format!("{} | {}", r.engine.name(), r.scan),
    }
}

/// `eth_getLogs` calls of a count: `3 (1 refused)`.
fn get_logs_calls(calls: &CallCounts) -> String {
    let logs = calls.get("eth_getLogs").copied().unwrap_or_default();
    with_refused(logs.calls, logs.errors)
}

fn with_refused(calls: impl std::fmt::Display, refused: impl std::fmt::Display) -> String {
    format!("{calls} ({refused} refused)")
}

/// Every method of a count: `` `eth_getBlockByNumber` 12, `eth_getLogs` 3 ``.
fn all_calls(calls: &CallCounts) -> String {
    calls
        .iter()
        .map(|(method, MethodCalls { calls, .. })| format!("`{method}` {calls}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn markdown(
    options: &Options,
    backlog: Option<&Backlog>,
    results: &[RunResult],
    skipped: &[String],
) -> String {
    let family = options.family;
    let mut text = format!(
        "{} {}\n\n{}",
        backlog_text(options),
        gateway_text(options),
        definitions(options)
    );
    text.push_str(match family {
        Family::Evm => {
            "| Engine | Raw fetch | **Recorded** | **Paid** | Recorded ÷ raw | Paid ÷ raw |\n\
| --- | ---: | ---: | ---: | ---: | ---: |\n"
        }
        Family::Tron => {
            "| Engine | `max_blocks_per_scan` | Raw fetch | **Recorded** | **Paid** | Recorded ÷ \
raw | Paid ÷ raw | `eth_getLogs` calls, raw fetch | `eth_getLogs` calls, watcher |\n\
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        }
    });
    for r in results {
        let f = &r.figures;
        let calls = match &r.watcher_calls {
            Some(calls) => format!(
                " {} | {} |",
                with_refused(r.raw_calls, r.raw_refused),
                get_logs_calls(calls)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            text,
            "| {} | {:.3} s | **{:.3} s** | **{:.3} s** | {:.2}× | {:.2}× |{calls}",
            label(family, r),
            f.raw.as_secs_f64(),
            f.recorded.as_secs_f64(),
            f.paid.as_secs_f64(),
            ratio(f.recorded, f.raw),
            ratio(f.paid, f.raw),
        );
    }
    text.push('\n');
    steps_table(&mut text, family, results);
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
    match family {
        Family::Evm => {
            if let Some(r) = results.first() {
                let _ = writeln!(
                    text,
                    "- Raw fetch: {} call(s) returning {} logs per repetition.",
                    r.raw_calls, r.logs
                );
            }
        }
        Family::Tron => {
            for r in results {
                let calls = r.watcher_calls.as_ref().map_or_else(String::new, all_calls);
                let _ = writeln!(
                    text,
                    "- {}, `max_blocks_per_scan` {}: raw fetch {} call(s) ({} refused) \
returning {} logs per repetition; the gateway's calls from starting the watcher until every \
order was paid: {calls}.",
                    r.engine.name(),
                    r.scan,
                    r.raw_calls,
                    r.raw_refused,
                    r.logs
                );
            }
        }
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
        let scan = match family {
            Family::Evm => String::new(),
            Family::Tron => format!(", `max_blocks_per_scan` {}", r.scan),
        };
        let _ = writeln!(
            text,
            "- {}{scan} runs (raw / recorded / paid): {runs}.",
            r.engine.name()
        );
    }
    text
}

/// The recorded time taken apart by the watcher's own step timers: a scan waits for its range
/// (fetched and matched ahead while the previous range was committed, the first range not),
/// then decides its credits and commits; the rest is the rounds' other steps (lease, head,
/// the cursor block's check, the crediting of transfers recorded earlier).
fn steps_table(text: &mut String, family: Family, results: &[RunResult]) {
    text.push_str(
        "Where the recorded time goes (the watcher's own timers, summed over its ranges; \
medians): **waiting** for a range's logs and matches, **committing** (deciding the range's \
credits and the commit that records and credits them), the **rest** of the rounds (lease, \
head, the cursor block's check, crediting transfers recorded earlier). Nothing is committed \
before the first range is read and the commits are one after another, so the recorded time \
cannot fall below the commits' sum plus the first range's read.\n\n",
    );
    text.push_str(match family {
        Family::Evm => {
            "| Engine | Waiting | Committing | Rest | Committing ÷ raw fetch |\n\
| --- | ---: | ---: | ---: | ---: |\n"
        }
        Family::Tron => {
            "| Engine | `max_blocks_per_scan` | Waiting | Committing | Rest | Committing ÷ raw \
fetch |\n\
| --- | ---: | ---: | ---: | ---: | ---: |\n"
        }
    });
    for r in results {
        let f = &r.figures;
        let rest = f.recorded.saturating_sub(f.waited + f.committed);
        let _ = writeln!(
            text,
            "| {} | {:.3} s | {:.3} s | {:.3} s | {:.2}× |",
            label(family, r),
            f.waited.as_secs_f64(),
            f.committed.as_secs_f64(),
            rest.as_secs_f64(),
            ratio(f.committed, f.raw),
        );
    }
    text.push('\n');
}
