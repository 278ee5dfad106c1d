//! Payment detection latency: anvil with automine, a gateway watching it (WebSocket new heads,
//! 1 confirmation), an app whose webhook URL is the local receiver. Orders are paid one at a
//! time, each transfer mined at once into its own block, and each `PAID` webhook's arrival is
//! compared with the block's timestamp and with the moment the transfer's receipt came back.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::BlockNumberOrTag;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wcheckout_client::{Client, Credentials};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::token::ChainKey;
use wcheckout_evm::anvil::{Anvil, AnvilOptions, DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, config_with_chain};
use crate::receiver::{Arrival, Receiver};
use crate::stats::{Summary, micros, ms, summarize};

/// Payments per run unless `--payments` says otherwise.
pub(crate) const DEFAULT_PAYMENTS: u64 = 500;

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
    /// Orders created and paid (one at a time) per run.
    #[arg(long, default_value_t = DEFAULT_PAYMENTS)]
    pub(crate) payments: u64,
    /// Longest wait for one PAID webhook before the run fails.
    #[arg(long, default_value_t = 30)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            payments: DEFAULT_PAYMENTS,
            timeout_secs: 30,
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
    payments: u64,
    /// Arrival minus the block timestamp, µs.
    after_block_time: Summary,
    after_receipt: Summary,
    receipt_wait: Summary,
    distinct_blocks: usize,
    elapsed: Duration,
    body_bytes: usize,
}

/// Runs every engine and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(options.payments > 0, "--payments must be at least 1");
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for engine in engines {
        eprintln!(
            "detection: {} payments on {}",
            options.payments,
            engine.name()
        );
        let database = BenchDatabase::create(engine, pg_url).await?;
        let result = one_run(engine, options, &database.url).await;
        database.remove().await;
        let result = result?;
        eprintln!(
            "  receipt → webhook p50 {} p99 {}",
            ms(result.after_receipt.p50),
            ms(result.after_receipt.p99)
        );
        results.push(result);
    }
    Ok(markdown(options, &results, &skipped))
}

async fn one_run(
    engine: Engine,
    options: &Options,
    database_url: &str,
) -> anyhow::Result<RunResult> {
    let anvil = tokio::task::spawn_blocking(|| Anvil::spawn(&AnvilOptions::default()))
        .await?
        .context("starting anvil (run `npm ci` at the repository root, or set $WCHECKOUT_ANVIL)")?;
    let (sink, arrivals) = mpsc::unbounded_channel();
    let receiver = Receiver::start(Some(sink)).await?;
    let outcome = with_node(engine, options, database_url, &anvil, &receiver, arrivals).await;
    receiver.stop().await;
    tokio::task::spawn_blocking(move || anvil.stop()).await?;
    outcome
}

async fn with_node(
    engine: Engine,
    options: &Options,
    database_url: &str,
    anvil: &Anvil,
    receiver: &Receiver,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<RunResult> {
    let rpc_url = anvil.rpc_url();
    let deployer = DEV_PRIVATE_KEYS[0];
    let usdt = stablecoin::deploy(&rpc_url, deployer, "Tether USD", "USDT", 6).await?;
    let payer = EvmAddress::parse(DEV_ACCOUNTS[PAYER]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let funds = TokenAmount::from_base_units(1_000_000_000 * 1_000_000);
    stablecoin::mint(&rpc_url, deployer, usdt, payer, funds).await?;

    let mut config = config_with_chain(
        database_url,
        &rpc_url,
        &anvil.ws_url(),
        anvil.chain_id(),
        usdt,
    )?;
    config.watcher.enabled = true;
    let gateway = BenchGateway::start(config).await?;
    let outcome = pay_orders(
        engine, options, &rpc_url, usdt, receiver, &gateway, arrivals,
    )
    .await;
    gateway.stop().await;
    outcome
}

/// Waits until the watcher has its cursor (a payment before it could be skipped).
async fn wait_for_watcher(gateway: &BenchGateway) -> anyhow::Result<()> {
    let chain = ChainKey::parse("ETH").context("chain key")?;
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

async fn create_orders(client: &Client, count: u64) -> anyhow::Result<Vec<PendingOrder>> {
    let mut orders = Vec::new();
    for number in 0..count {
        let order_no = format!("det-{number:05}");
        let amount = format!("{}.{:02}", 10 + number % 90, number % 100);
        let body = json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": "ETH_USDT"});
        let created = client
            .post("/checkout/order/create", &body.to_string())
            .await?;
        if created.retcode() != "200" {
            bail!("creating an order failed: {}", created.body);
        }
        let data = created.retdata();
        let deposit = data["depositAddress"]
            .as_str()
            .context("depositAddress")?
            .parse::<Address>()?;
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
fn paid_order_no(body: &[u8]) -> Option<String> {
    let event: Value = serde_json::from_slice(body).ok()?;
    let data = &event["data"];
    (data["orderStatus"] == "PAID").then(|| data["orderNo"].as_str().map(str::to_owned))?
}

fn wall_micros(at: SystemTime) -> i64 {
    micros(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

async fn pay_orders(
    engine: Engine,
    options: &Options,
    rpc_url: &str,
    usdt: EvmAddress,
    receiver: &Receiver,
    gateway: &BenchGateway,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<RunResult> {
    wait_for_watcher(gateway).await?;
    let app = gateway.create_app("Bench shop", &receiver.url(0)).await?;
    let client = Client::new(
        &gateway.base_url,
        Credentials {
            api_key: app.api_key,
            api_secret: app.api_secret,
            sign_key: app.sign_key,
        },
    );
    let orders = create_orders(&client, options.payments).await?;

    let signer: PrivateKeySigner = DEV_PRIVATE_KEYS[PAYER].parse()?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(rpc_url.parse()?);
    let token = erc20::Erc20::new(Address::from(*usdt.as_bytes()), &provider);
    let timeout = Duration::from_secs(options.timeout_secs);
    let started = Instant::now();
    let mut samples = Vec::with_capacity(orders.len());
    for (index, order) in orders.iter().enumerate() {
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
        payments: options.payments,
        after_block_time: summary(after_block_time)?,
        after_receipt: summary(samples.iter().map(|s| s.after_receipt).collect())?,
        receipt_wait: summary(samples.iter().map(|s| s.receipt_wait).collect())?,
        distinct_blocks: blocks.len(),
        elapsed,
        body_bytes: samples.iter().map(|s| s.body_bytes).sum::<usize>() / samples.len().max(1),
    })
}

/// `later - earlier` in µs, negative when `later` came first.
fn signed_micros(later: Instant, earlier: Instant) -> i64 {
    match later.checked_duration_since(earlier) {
        Some(after) => micros(after),
        None => -micros(earlier.duration_since(later)),
    }
}

fn row(text: &mut String, engine: &str, what: &str, s: &Summary) {
    let _ = writeln!(
        text,
        "| {engine} | {what} | {} | {} | {} | {} | {} |",
        ms(s.min),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max)
    );
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let mut text = format!(
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
| --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        payments = options.payments,
    );
    for r in results {
        row(
            &mut text,
            r.engine.name(),
            "block timestamp",
            &r.after_block_time,
        );
        row(
            &mut text,
            r.engine.name(),
            "**receipt returned (block mined)**",
            &r.after_receipt,
        );
    }
    text.push('\n');
    for line in skipped {
        let _ = writeln!(text, "- {line}");
    }
    for r in results {
        let _ = writeln!(
            text,
            "- {}: {} payments in {} distinct blocks, {:.1} s in all; the receipt came back \
{} (p50) / {} (p99) after the send returned; PAID webhook bodies were {} bytes on \
average.",
            r.engine.name(),
            r.payments,
            r.distinct_blocks,
            r.elapsed.as_secs_f64(),
            ms(r.receipt_wait.p50),
            ms(r.receipt_wait.p99),
            r.body_bytes,
        );
    }
    text.push_str(
        "- The receipt-based figure is slightly low: the block existed a little before its \
receipt was seen (up to 1 ms of polling plus one RPC round trip).\n",
    );
    text
}
