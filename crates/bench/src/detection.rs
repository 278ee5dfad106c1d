//! Payment detection latency: anvil with automine, a gateway watching it (1 confirmation), an
//! app whose webhook URL is the local receiver. Orders are paid one at a time, each transfer
//! mined at once into its own block, and each `PAID` webhook's arrival is compared with the
//! block's timestamp and with the moment the transfer's receipt came back.
//!
//! On EVM the gateway follows anvil's WebSocket new heads. On TRON it reads the same anvil
//! through the TRON node stand-in's `/jsonrpc`, which has no subscription: the watcher polls
//! every `poll_interval_ms`, and each run sets one interval.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::BlockNumberOrTag;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wcheckout_client::{Client, Credentials};
use wcheckout_domain::address::{Address as ChainAddress, EvmAddress};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::token::ChainKey;
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;

use crate::chain::{Family, Node};
use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, config_with_chain};
use crate::receiver::{Arrival, Receiver};
use crate::rpc_counter::{CallCounts, RpcCounter};
use crate::stats::{Summary, micros, ms, summarize};

/// Payments per run on EVM unless `--payments` says otherwise.
pub(crate) const DEFAULT_PAYMENTS: u64 = 500;
/// Payments per run on TRON unless `--payments` says otherwise: each waits about a poll
/// interval, and 200 samples of a wait spread over the interval show its shape as well.
pub(crate) const DEFAULT_TRON_PAYMENTS: u64 = 200;
/// The watcher's poll intervals on TRON unless `--poll-interval-ms` says otherwise: the
/// default configuration's and a short one.
const DEFAULT_TRON_POLLS_MS: [u64; 2] = [1000, 100];

/// The payer: anvil dev account 1.
const PAYER: usize = 1;

#[allow(unreachable_pub)]
mod erc20 {
    alloy::sol! {
        #[sol(rpc)]
        interface Erc20 {
            function transfer(address to, uint256 amount) external returns (bool);
        }
    }
}

/// `wcheckout-bench detection` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// How the gateway reads the node: evm (WebSocket new heads) or tron (the stand-in's
    /// /jsonrpc, polled).
    #[arg(long, value_enum, default_value_t = Family::Evm)]
    pub(crate) family: Family,
    /// Orders created and paid (one at a time) per run [default: 500 on evm, 200 on tron].
    #[arg(long)]
    pub(crate) payments: Option<u64>,
    /// `[watcher] poll_interval_ms` of the runs, one run per engine each, comma-separated
    /// [default: the configuration's (1000) on evm, 1000,100 on tron].
    #[arg(long, value_delimiter = ',')]
    pub(crate) poll_interval_ms: Vec<u64>,
    /// Longest wait for one PAID webhook before the run fails.
    #[arg(long, default_value_t = 30)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            family: Family::Evm,
            payments: None,
            poll_interval_ms: Vec::new(),
            timeout_secs: 30,
        }
    }
}

impl Options {
    fn payments(&self) -> u64 {
        self.payments.unwrap_or(match self.family {
            Family::Evm => DEFAULT_PAYMENTS,
            Family::Tron => DEFAULT_TRON_PAYMENTS,
        })
    }

    /// The poll intervals to run; `None` keeps the configuration's (EVM's default).
    fn polls(&self) -> Vec<Option<u64>> {
        match (self.poll_interval_ms.is_empty(), self.family) {
            (false, _) => self.poll_interval_ms.iter().copied().map(Some).collect(),
            (true, Family::Evm) => vec![None],
            (true, Family::Tron) => DEFAULT_TRON_POLLS_MS.into_iter().map(Some).collect(),
        }
    }
}

/// One payment's timings.
struct Sample {
    block: u64,
    /// Arrival, wall clock, µs since the epoch.
    arrival_wall: i64,
    /// Arrival minus the receipt's return, µs.
    after_receipt: i64,
    /// The receipt's return minus the sending's return, µs.
    receipt_wait: i64,
    /// Size of the PAID webhook's body.
    body_bytes: usize,
}

struct RunResult {
    engine: Engine,
    /// `[watcher] poll_interval_ms`.
    poll_ms: u64,
    payments: u64,
    /// Arrival minus the block timestamp, µs.
    after_block_time: Summary,
    after_receipt: Summary,
    receipt_wait: Summary,
    distinct_blocks: usize,
    elapsed: Duration,
    body_bytes: usize,
    /// Calls the gateway made on the node during the payments (TRON runs, which read through
    /// a counting forwarder).
    calls: Option<CallCounts>,
}

/// Runs every engine and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(options.payments() > 0, "--payments must be at least 1");
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for poll in options.polls() {
        for &engine in &engines {
            let poll_text = poll.map_or_else(String::new, |p| format!(", poll {p} ms"));
            eprintln!(
                "detection ({}): {} payments on {}{poll_text}",
                options.family.name(),
                options.payments(),
                engine.name(),
            );
            let database = BenchDatabase::create(engine, pg_url).await?;
            let result = one_run(engine, options, poll, &database.url).await;
            database.remove().await;
            let result = result?;
            eprintln!(
                "  receipt → webhook p50 {} p99 {}",
                ms(result.after_receipt.p50),
                ms(result.after_receipt.p99)
            );
            results.push(result);
        }
    }
    Ok(markdown(options, &results, &skipped))
}

async fn one_run(
    engine: Engine,
    options: &Options,
    poll: Option<u64>,
    database_url: &str,
) -> anyhow::Result<RunResult> {
    let node = Node::start(options.family).await?;
    let (sink, arrivals) = mpsc::unbounded_channel();
    let receiver = Receiver::start(Some(sink)).await?;
    let outcome = with_node(
        engine,
        options,
        poll,
        database_url,
        &node,
        &receiver,
        arrivals,
    )
    .await;
    receiver.stop().await;
    node.stop().await?;
    outcome
}

async fn with_node(
    engine: Engine,
    options: &Options,
    poll: Option<u64>,
    database_url: &str,
    node: &Node,
    receiver: &Receiver,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<RunResult> {
    let rpc_url = node.anvil_url();
    let deployer = DEV_PRIVATE_KEYS[0];
    let usdt = stablecoin::deploy(&rpc_url, deployer, "Tether USD", "USDT", 6).await?;
    let payer = EvmAddress::parse(DEV_ACCOUNTS[PAYER]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let funds = TokenAmount::from_base_units(1_000_000_000 * 1_000_000);
    stablecoin::mint(&rpc_url, deployer, usdt, payer, funds).await?;

    // TRON's reads are counted (how many calls a poll interval costs the node).
    let counter = match options.family {
        Family::Evm => None,
        Family::Tron => Some(RpcCounter::start(&node.read_url()).await?),
    };
    let mut config = config_with_chain(
        database_url,
        &node.watched(counter.as_ref().map(RpcCounter::url)),
        usdt,
    )?;
    config.watcher.enabled = true;
    if let Some(poll) = poll {
        config.watcher.poll_interval_ms = poll;
    }
    let run = Run {
        engine,
        options,
        poll_ms: config.watcher.poll_interval_ms,
        polled: config.chains.values().all(|chain| chain.ws_url.is_none()),
        counter: counter.as_ref(),
    };
    let gateway = BenchGateway::start(config).await?;
    let outcome = pay_orders(&run, &rpc_url, usdt, receiver, &gateway, arrivals).await;
    gateway.stop().await;
    if let Some(counter) = counter {
        counter.stop().await;
    }
    outcome
}

/// What one run pays with.
struct Run<'a> {
    engine: Engine,
    options: &'a Options,
    poll_ms: u64,
    /// No new heads wake the watcher: it polls.
    polled: bool,
    counter: Option<&'a RpcCounter>,
}

/// Waits until the watcher has its cursor (a payment before it could be skipped).
async fn wait_for_watcher(gateway: &BenchGateway, family: Family) -> anyhow::Result<()> {
    let chain = ChainKey::parse(family.chain_key()).context("chain key")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cursor = gateway.gateway.store.chain_cursor(&chain).await;
        if cursor.map_err(|e| anyhow::anyhow!("{e}"))?.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the watcher did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct PendingOrder {
    order_no: String,
    deposit: Address,
    amount: U256,
}

async fn create_orders(
    client: &Client,
    family: Family,
    count: u64,
) -> anyhow::Result<Vec<PendingOrder>> {
    let mut orders = Vec::new();
    for number in 0..count {
        let order_no = format!("det-{number:05}");
        let amount = format!("{}.{:02}", 10 + number % 90, number % 100);
        let body = json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": family.token_key()});
        let created = client
            .post("/checkout/order/create", &body.to_string())
            .await?;
        if created.retcode() != "200" {
            bail!("creating an order failed: {}", created.body);
        }
        let data = created.retdata();
        let deposit = data["depositAddress"].as_str().context("depositAddress")?;
        let deposit = ChainAddress::parse(family.domain(), deposit)
            .map_err(|e| anyhow::anyhow!("depositAddress {deposit}: {e}"))?;
        let deposit = Address::from(
            deposit
                .account_bytes()
                .context("a deposit address of a secp256k1 family")?,
        );
        let paying = Decimal::parse(&data["payingAmount"].to_string())
            .map_err(|e| anyhow::anyhow!("payingAmount: {e}"))?;
        let amount = TokenAmount::from_decimal(&paying, 6).context("payingAmount")?;
        orders.push(PendingOrder {
            order_no,
            deposit,
            amount: U256::from(amount.base_units()),
        });
    }
    Ok(orders)
}

/// The order number of a `PAID` order webhook.
pub(crate) fn paid_order_no(body: &[u8]) -> Option<String> {
    let event: Value = serde_json::from_slice(body).ok()?;
    let data = &event["data"];
    (data["orderStatus"] == "PAID").then(|| data["orderNo"].as_str().map(str::to_owned))?
}

fn wall_micros(at: SystemTime) -> i64 {
    micros(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// A pause before payment `index` drawn uniformly from `[0, poll_ms)` (a fixed pseudo-random
/// sequence). A payer who waits for each webhook would otherwise fall into step with a polling
/// watcher (each transfer sent just after a round, so each waiting a whole interval); payments
/// from independent payers land at any phase of the poll.
fn poll_phase(index: usize, poll_ms: u64) -> Duration {
    let hash = keccak256((index as u64).to_be_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&hash[..8]);
    let span = poll_ms.saturating_mul(1000).max(1);
    Duration::from_micros(u64::from_be_bytes(word) % span)
}

async fn pay_orders(
    run: &Run<'_>,
    rpc_url: &str,
    usdt: EvmAddress,
    receiver: &Receiver,
    gateway: &BenchGateway,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<RunResult> {
    let (engine, options) = (run.engine, run.options);
    wait_for_watcher(gateway, options.family).await?;
    let app = gateway.create_app("Bench shop", &receiver.url(0)).await?;
    let client = Client::new(
        &gateway.base_url,
        Credentials {
            api_key: app.api_key,
            api_secret: app.api_secret,
            sign_key: app.sign_key,
        },
    );
    let orders = create_orders(&client, options.family, options.payments()).await?;

    let signer: PrivateKeySigner = DEV_PRIVATE_KEYS[PAYER].parse()?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(rpc_url.parse()?);
    let token = erc20::Erc20::new(Address::from(*usdt.as_bytes()), &provider);
    let timeout = Duration::from_secs(options.timeout_secs);
    if let Some(counter) = run.counter {
        counter.take();
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(orders.len());
    for (index, order) in orders.iter().enumerate() {
        if run.polled {
            tokio::time::sleep(poll_phase(index, run.poll_ms)).await;
        }
        let pending = token.transfer(order.deposit, order.amount).send().await?;
        let sent = Instant::now();
        let hash = *pending.tx_hash();
        // Automine: the block is mined right after the node accepts the transaction; the
        // receipt appearing is the closest observable moment (polled every millisecond).
        let receipt = loop {
            if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
                break receipt;
            }
            if sent.elapsed() > timeout {
                bail!("no receipt for {hash} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let mined = Instant::now();
        anyhow::ensure!(receipt.status(), "transfer {hash} reverted");
        let block = receipt
            .block_number
            .context("receipt without a block number")?;
        let deadline = tokio::time::Instant::now() + timeout;
        let arrival = loop {
            let next = tokio::time::timeout_at(deadline, arrivals.recv()).await;
            let Ok(Some(arrival)) = next else {
                bail!("no PAID webhook for {} within {timeout:?}", order.order_no);
            };
            if paid_order_no(&arrival.body).as_deref() == Some(order.order_no.as_str()) {
                break arrival;
            }
        };
        samples.push(Sample {
            block,
            arrival_wall: wall_micros(arrival.wall),
            after_receipt: signed_micros(arrival.at, mined),
            receipt_wait: micros(mined.duration_since(sent)),
            body_bytes: arrival.body.len(),
        });
        if (index + 1) % 50 == 0 {
            eprintln!("  {} payments", index + 1);
        }
    }
    let elapsed = started.elapsed();
    let calls = run.counter.map(RpcCounter::take);

    let mut after_block_time = Vec::with_capacity(samples.len());
    for sample in &samples {
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Number(sample.block))
            .await?
            .with_context(|| format!("block {}", sample.block))?;
        let timestamp = i64::try_from(block.header.timestamp)?.saturating_mul(1_000_000);
        after_block_time.push(sample.arrival_wall - timestamp);
    }
    let mut blocks = samples.iter().map(|s| s.block).collect::<Vec<_>>();
    blocks.sort_unstable();
    blocks.dedup();
    let summary = |values: Vec<i64>| summarize(&values).context("no samples");
    Ok(RunResult {
        engine,
        poll_ms: run.poll_ms,
        payments: options.payments(),
        after_block_time: summary(after_block_time)?,
        after_receipt: summary(samples.iter().map(|s| s.after_receipt).collect())?,
        receipt_wait: summary(samples.iter().map(|s| s.receipt_wait).collect())?,
        distinct_blocks: blocks.len(),
        elapsed,
        body_bytes: samples.iter().map(|s| s.body_bytes).sum::<usize>() / samples.len().max(1),
        calls,
    })
}

/// `later - earlier` in µs, negative when `later` came first.
pub(crate) fn signed_micros(later: Instant, earlier: Instant) -> i64 {
    match later.checked_duration_since(earlier) {
        Some(after) => micros(after),
        None => -micros(earlier.duration_since(later)),
    }
}

fn row(text: &mut String, label: &str, what: &str, s: &Summary) {
    let _ = writeln!(
        text,
        "| {label} | {what} | {} | {} | {} | {} | {} |",
        ms(s.min),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max)
    );
}

/// The first cells of a result's rows: the engine, and on TRON the poll interval.
fn label(family: Family, r: &RunResult) -> String {
    match family {
        Family::Evm => r.engine.name().to_owned(),
        Family::Tron => format!("{} | {} ms", r.engine.name(), r.poll_ms),
    }
}

fn evm_intro(payments: u64) -> String {
    format!(
        "anvil (`--block-time` off, so automine: every transaction is mined at once into its own \
block) with one 6-decimal test stablecoin; a gateway watching it with `ws_url` (new heads wake \
the watcher) and `confirmations = 1`, otherwise the default configuration (`[watcher]` \
poll_interval_ms 1000, `[webhooks]` defaults); one app whose webhook URL is the local receiver. \
{payments} orders are created through the signed API client, then paid one at a time from one \
payer: the next transfer is sent only after the previous order's `PAID` webhook arrived. For \
each payment the receiver's arrival time is compared with:\n\n\
1. **the block's timestamp** as the node reports it (`eth_getBlockByNumber`). Block timestamps \
are whole seconds, so this figure carries up to a second of rounding (the block was mined \
somewhere within that second) and says little on its own;\n\
2. **the moment the transfer's receipt came back** (`eth_getTransactionReceipt` polled every \
millisecond right after `eth_sendRawTransaction`): with automine that is when the block was \
mined, to about a millisecond. This is the meaningful latency here: new head over WebSocket → \
watcher round (head, lease, cursor check, `eth_getLogs`, matching, commit, crediting) → outbox \
→ dispatcher → HTTP POST to the receiver.\n\n\
| Engine | Arrival minus | min | p50 | p90 | p99 | max |\n\
| --- | --- | ---: | ---: | ---: | ---: | ---: |\n"
    )
}

fn tron_intro(payments: u64, polls: &[Option<u64>]) -> String {
    let polls = polls
        .iter()
        .map(|p| p.map_or_else(|| "the default".to_owned(), |p| format!("{p} ms")))
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "The workload of the EVM section (anvil with automine, one 6-decimal test stablecoin, \
orders created through the signed API client and paid one at a time from one payer, the next \
transfer sent only after the previous `PAID` webhook arrived), but the gateway reads the chain \
as a **TRON** chain: `family = \"tron\"`, chain `TRX`, token `TRX_USDT` at the contract's `T…` \
address, `rpc_urls` the TRON node stand-in's `/jsonrpc` (`crates/tron/standin`: node and \
tronweb in front of the same anvil, answering java-tron's JSON-RPC methods with its \
`eth_getLogs` limits), `api_urls` its HTTP API, `confirmations = 1`, otherwise the default \
configuration. **TRON nodes offer no WebSocket `newHeads` subscription**, so there is no \
`ws_url`: a caught-up watcher looks for a new head every `[watcher] poll_interval_ms`, and the \
latency is bounded by that interval. Runs with {polls}, {payments} payments each. A payer who \
waits for each webhook would fall into step with the polls (every transfer sent just after a \
round, so every one waiting a whole interval); each transfer is therefore sent after a pause \
drawn uniformly from [0, poll_interval_ms) (a fixed pseudo-random sequence), so that payments \
land at every phase of the poll, as they do from independent payers. The gateway reads through \
a counting forwarder in the harness (one more loopback hop) to report the calls the polls \
cost.\n\n\
Arrival of the `PAID` webhook at the receiver minus the block's timestamp (whole seconds, so up \
to a second of rounding) and minus **the moment the transfer's receipt came back** from anvil \
(with automine, when the block was mined, to about a millisecond): the wait for the next poll → \
watcher round (head, lease, cursor check, `eth_getLogs` through the stand-in, matching, commit, \
crediting) → outbox → dispatcher → HTTP POST. With payments spread evenly over the interval, \
the wait alone is uniform on [0, poll_interval_ms): p50 about half the interval, p99 about all \
of it.\n\n\
| Engine | Poll interval | Arrival minus | min | p50 | p90 | p99 | max |\n\
| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n"
    )
}

/// `eth_getBlockByNumber 120, eth_getLogs 12` and the rate per second.
fn calls_line(calls: &CallCounts, elapsed: Duration) -> String {
    let total = calls.values().map(|c| c.calls).sum::<u64>();
    let each = calls
        .iter()
        .map(|(method, c)| format!("`{method}` {}", c.calls))
        .collect::<Vec<_>>()
        .join(", ");
    #[allow(clippy::cast_precision_loss)] // A printed rate.
    let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
    format!("{total} JSON-RPC calls, {rate:.1}/s ({each})")
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let family = options.family;
    let mut text = match family {
        Family::Evm => evm_intro(options.payments()),
        Family::Tron => tron_intro(options.payments(), &options.polls()),
    };
    for r in results {
        let label = label(family, r);
        row(&mut text, &label, "block timestamp", &r.after_block_time);
        row(
            &mut text,
            &label,
            "**receipt returned (block mined)**",
            &r.after_receipt,
        );
    }
    text.push('\n');
    for line in skipped {
        let _ = writeln!(text, "- {line}");
    }
    for r in results {
        let poll = match family {
            Family::Evm => String::new(),
            Family::Tron => format!(", poll {} ms", r.poll_ms),
        };
        let _ = writeln!(
            text,
            "- {}{poll}: {} payments in {} distinct blocks, {:.1} s in all; the receipt came \
back {} (p50) / {} (p99) after the send returned; PAID webhook bodies were {} bytes on \
average.",
            r.engine.name(),
            r.payments,
            r.distinct_blocks,
            r.elapsed.as_secs_f64(),
            ms(r.receipt_wait.p50),
            ms(r.receipt_wait.p99),
            r.body_bytes,
        );
        if let Some(calls) = &r.calls {
            let _ = writeln!(
                text,
                "  The gateway made {} on the node during those {:.1} s.",
                calls_line(calls, r.elapsed),
                r.elapsed.as_secs_f64(),
            );
        }
    }
    text.push_str(
        "- The receipt-based figure is slightly low: the block existed a little before its \
receipt was seen (up to 1 ms of polling plus one RPC round trip).\n",
    );
    text
}
