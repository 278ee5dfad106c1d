//! The RPC cost of open Solana orders: a gateway watching Surfnet through the counting
//! forwarder with N open `SOL_USDT` orders, first idle for a fixed window, then while P
//! payments are made in a window of the same length (the window lasting until all P are
//! `PAID`): the calls per minute by method, and this process's CPU time (the gateway's reads
//! derive every deposit's token account each round).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use wcheckout_solana::rpc::Commitment;

use super::{
    CHAIN, Cluster, Payable, by_method, config_with_cluster, create_orders, paid_orders, total,
    wait_for_cursor,
};
use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::BenchGateway;
use crate::rpc_counter::{CallCounts, RpcCounter};
use crate::scale::cpu_micros;

/// `getMultipleAccounts` takes at most this many accounts.
const ACCOUNTS_PER_CALL: u64 = wcheckout_solana::rpc::ACCOUNTS_PER_CALL as u64;

/// `wcheckout-bench solana-cost` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Open orders, comma-separated; each size adds orders to the previous one's.
    #[arg(long, value_delimiter = ',', default_values_t = [100u64, 1000, 10000])]
    pub(crate) orders: Vec<u64>,
    /// `[watcher] poll_interval_ms` of the runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1000u64, 5000])]
    pub(crate) poll_interval_ms: Vec<u64>,
    /// Length of the idle window and of the payments' window, seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) window_secs: u64,
    /// Payments made (evenly spread) in the payments' window.
    #[arg(long, default_value_t = 10)]
    pub(crate) payments: u64,
    /// Longest wait for the watcher to catch up, or for the payments to be credited.
    #[arg(long, default_value_t = 180)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            orders: vec![100, 1000, 10_000],
            poll_interval_ms: vec![1000, 5000],
            window_secs: 60,
            payments: 10,
            timeout_secs: 180,
        }
    }
}

/// A window's calls.
struct Window {
    calls: CallCounts,
    elapsed: Duration,
    /// This process's CPU time in the window, µs.
    cpu: Option<i64>,
}

impl Window {
    fn per_minute(&self, calls: u64) -> f64 {
        calls as f64 * 60.0 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn method(&self, method: &str) -> u64 {
        self.calls.get(method).map_or(0, |m| m.calls)
    }
}

struct RunResult {
    engine: Engine,
    orders: u64,
    poll_ms: u64,
    idle: Window,
    paying: Window,
    payments: u64,
    /// Slots per second Surfnet produced during the idle window.
    slot_ms: Option<f64>,
    /// Attempts this measurement took (a new cluster each).
    attempts: u32,
}

/// Runs every engine and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        !options.orders.is_empty() && !options.poll_interval_ms.is_empty(),
        "--orders and --poll-interval-ms need a value"
    );
    let mut sizes = options.orders.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let per_size = options.payments * options.poll_interval_ms.len() as u64;
    for (index, size) in sizes.iter().enumerate() {
        anyhow::ensure!(
            *size >= per_size * (index as u64 + 1),
            "{size} orders are too few: every run pays --payments orders not paid before"
        );
    }
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for &engine in &engines {
        let database = BenchDatabase::create(engine, pg_url).await?;
        let outcome = one_engine(engine, options, &sizes, &database.url, &mut results).await;
        database.remove().await;
        outcome?;
    }
    Ok(markdown(options, &results, &skipped))
}

async fn one_engine(
    engine: Engine,
    options: &Options,
    sizes: &[u64],
    database_url: &str,
    results: &mut Vec<RunResult>,
) -> anyhow::Result<()> {
    let mut orders: Vec<Payable> = Vec::new();
    let mut app = None;
    let mut next_to_pay = 0usize;
    for &size in sizes {
        for (index, &poll) in options.poll_interval_ms.iter().enumerate() {
            if index == 0 {
                // Created by a gateway on a cluster of their own (no watcher runs then).
                let cluster = Cluster::start().await?;
                let config = config_with_cluster(database_url, &cluster, &cluster.node.rpc_url);
                let grown = match config {
                    Ok(config) => grow(engine, &config, app.take(), &mut orders, size).await,
                    Err(error) => Err(error),
                };
                cluster.stop().await;
                app = Some(grown?);
            }
            let payments = usize::try_from(options.payments)?;
            let mut attempt = 1;
            let outcome = loop {
                // Orders never paid before, on any cluster.
                let to_pay = orders
                    .get(next_to_pay..next_to_pay + payments)
                    .context("too few orders left to pay")?;
                next_to_pay += to_pay.len();
                let outcome =
                    measure_on_fresh_cluster(engine, options, database_url, poll, to_pay).await;
                match outcome {
                    Err(error) if attempt < ATTEMPTS => {
                        eprintln!("  attempt {attempt} failed ({error:#}); again on a new cluster");
                        attempt += 1;
                    }
                    outcome => {
                        break outcome.map(|result| RunResult {
                            attempts: attempt,
                            ..result
                        });
                    }
                }
            };
            let result = outcome?;
            eprintln!(
                "  {size} orders, poll {poll} ms: idle {:.0} calls/min ({}), with payments {:.0} \
                 calls/min",
                result.idle.per_minute(total(&result.idle.calls)),
                by_method(&result.idle.calls),
                result.paying.per_minute(total(&result.paying.calls)),
            );
            results.push(RunResult {
                orders: size,
                ..result
            });
        }
    }
    Ok(())
}

/// Measurements tried per setting: Surfnet 1.5 sometimes stops answering for good (every
/// thread asleep, every call timing out) after a few minutes on this loaded machine.
const ATTEMPTS: u32 = 3;

/// One measurement on a new cluster: a Surfnet that stopped answering is not reused. The
/// database stays; the chain's cursor is forgotten, its slots being another cluster's. The
/// orders to pay were not paid on any cluster before (a payment made on a cluster that then
/// hung is lost with it).
async fn measure_on_fresh_cluster(
    engine: Engine,
    options: &Options,
    database_url: &str,
    poll: u64,
    to_pay: &[Payable],
) -> anyhow::Result<RunResult> {
    let cluster = Cluster::start().await?;
    let counter = RpcCounter::start(&cluster.node.rpc_url).await?;
    let outcome = async {
        let mut config = config_with_cluster(database_url, &cluster, &counter.url())?;
        forget_chain(engine, database_url).await?;
        config.watcher.poll_interval_ms = poll;
        config.webhooks.enabled = false;
        measure(engine, options, config, &cluster, &counter, to_pay).await
    }
    .await;
    counter.stop().await;
    cluster.stop().await;
    outcome
}

/// Creates orders up to `size` by a gateway without a watcher (stopped before the measured
/// one starts); the app they belong to.
async fn grow(
    engine: Engine,
    config: &wcheckout::config::Config,
    app: Option<wcheckout_app::admin::IssuedCredentials>,
    orders: &mut Vec<Payable>,
    size: u64,
) -> anyhow::Result<wcheckout_app::admin::IssuedCredentials> {
    let mut creating = config.clone();
    creating.watcher.enabled = false;
    creating.webhooks.enabled = false;
    let creator = BenchGateway::start(creating).await?;
    let issued = match app {
        Some(issued) => issued,
        None => creator
            .admin()
            .create("Cost shop", None, &[])
            .await
            .map_err(|e| anyhow::anyhow!("creating an app: {e}"))?,
    };
    let started = Instant::now();
    let range = (orders.len() as u64, size);
    let made = create_orders(&creator, &issued, "cost", range).await;
    creator.stop().await;
    orders.extend(made?);
    eprintln!(
        "solana-cost ({}): {size} open orders ({} created in {:.1} s)",
        engine.name(),
        range.1 - range.0,
        started.elapsed().as_secs_f64()
    );
    Ok(issued)
}

/// Forgets the chain's cursor, checkpoints and lease (a new cluster's slots start again).
async fn forget_chain(engine: Engine, database_url: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = crate::scale::seeding::connect(engine, database_url, false).await?;
    for table in ["chain_cursors", "chain_checkpoints", "chain_leases"] {
        sqlx::query(&format!("delete from {table} where chain = '{CHAIN}'"))
            .execute(&pool)
            .await
            .with_context(|| format!("emptying {table}"))?;
    }
    pool.close().await;
    Ok(())
}

async fn measure(
    engine: Engine,
    options: &Options,
    config: wcheckout::config::Config,
    cluster: &Cluster,
    counter: &RpcCounter,
    to_pay: &[Payable],
) -> anyhow::Result<RunResult> {
    let poll_ms = config.watcher.poll_interval_ms;
    let timeout = Duration::from_secs(options.timeout_secs);
    let gateway = BenchGateway::start(config).await?;
    let outcome = async {
        let head = cluster.slot(Commitment::Finalized).await?;
        wait_for_cursor(&gateway, head, timeout).await?;
        // Two rounds in the steady state before counting.
        tokio::time::sleep(Duration::from_millis(2 * poll_ms).max(Duration::from_secs(1))).await;
        let window = Duration::from_secs(options.window_secs);

        counter.take();
        let (cpu_before, slot_before) = (cpu_micros(), cluster.slot(Commitment::Confirmed).await?);
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let idle = Window {
            calls: counter.take(),
            elapsed: started.elapsed(),
            cpu: cpu_micros().zip(cpu_before).map(|(a, b)| a - b),
        };
        let slots = cluster.slot(Commitment::Confirmed).await? - slot_before;
        let slot_ms = super::slot_ms(slots, idle.elapsed);

        let paid_before = paid_orders(&gateway).await?;
        let cpu_before = cpu_micros();
        let started = tokio::time::Instant::now();
        let count = to_pay.len().max(1) as f64;
        for (index, order) in to_pay.iter().enumerate() {
            let at = started + window.mul_f64(index as f64 / count);
            tokio::time::sleep_until(at).await;
            cluster.pay(&order.owner, order.amount).await?;
        }
        tokio::time::sleep_until(started + window).await;
        let expected = paid_before + to_pay.len() as u64;
        loop {
            let paid = paid_orders(&gateway).await?;
            if paid >= expected {
                break;
            }
            if started.elapsed() > window + timeout {
                anyhow::bail!(
                    "{} of {} payments credited",
                    paid - paid_before,
                    to_pay.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let paying = Window {
            calls: counter.take(),
            elapsed: started.elapsed(),
            cpu: cpu_micros().zip(cpu_before).map(|(a, b)| a - b),
        };
        Ok(RunResult {
            engine,
            orders: 0,
            poll_ms,
            idle,
            paying,
            payments: to_pay.len() as u64,
            slot_ms,
            attempts: 1,
        })
    }
    .await;
    gateway.stop().await;
    outcome.context("measuring")
}

/// The estimate `60 000 ÷ poll × (⌈N ÷ 100⌉ + c)`, with `c` the other calls of a round.
fn estimate(orders: u64, poll_ms: u64, others: f64) -> f64 {
    60_000.0 / poll_ms as f64 * (orders.div_ceil(ACCOUNTS_PER_CALL) as f64 + others)
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "A gateway (the default configuration otherwise; webhook delivery off) watches a local \
Surfnet cluster (`wcheckout_solana::surfnet`: surfpool's real SVM and token programs behind \
Solana's JSON-RPC, started offline through node) as chain `SOL` (`family = \"solana\"`, \
`finality = \"finalized\"`, one endpoint) with its 6-decimal mint as `SOL_USDT`, reading \
through a counting forwarder in the harness. Open orders are created through the order use \
case (`expiredIn` one week; {sizes} in turn, each size adding to the previous one's, by a \
gateway without a watcher); then, for each `[watcher] poll_interval_ms`, on a new cluster (the chain's cursor \
forgotten in the database), a gateway with the watcher is started, left to catch up and two \
polls more, and counted **idle** for {window} s, \
then **with payments**: {payments} orders paid by one payer through `@solana/web3.js` (a \
`transferChecked` creating the deposit's token account), evenly over {window} s, the window \
lasting until all {payments} are `PAID`. Each run pays orders not paid before; paid orders stay \
watched (their deposits are watched until their expiry plus the monitoring window). CPU is \
this whole process's (gateway, counter, harness; Surfnet runs in node, outside it).\n\n\
The estimate is `60 000 ÷ poll_ms × (⌈N ÷ 100⌉ + c)`: one `getMultipleAccounts` per 100 \
watched deposits a round, plus `c` calls of the round's other reads, with `c` read off the \
measured idle calls (everything but `getMultipleAccounts`, per round: rounds are counted as \
`getSlot` ÷ 2, since each round reads the head and the finalized slot).\n\n",
        sizes = options
            .orders
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        window = options.window_secs,
        payments = options.payments,
    );
    text.push_str(
        "| Engine | Open orders | Poll | Rounds/min | **Idle calls/min** | `getMultipleAccounts`/min | \
         Other calls/round (c) | Estimate | CPU s/min | **Calls/min with payments** | \
         Extra calls per payment |\n",
    );
    text.push_str(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let idle_total = total(&r.idle.calls);
        let rounds = r.idle.method("getSlot") as f64 / 2.0;
        let gma = r.idle.method("getMultipleAccounts");
        let others = if rounds > 0.0 {
            (idle_total - gma) as f64 / rounds
        } else {
            0.0
        };
        let idle_rate = r.idle.per_minute(idle_total);
        let paying_total = total(&r.paying.calls);
        let extra = (paying_total as f64 - idle_rate * r.paying.elapsed.as_secs_f64() / 60.0)
            / r.payments.max(1) as f64;
        let cpu = r.idle.cpu.map_or_else(
            || "unknown".into(),
            |c| {
                format!(
                    "{:.1}",
                    c as f64 / 1e6 * 60.0 / r.idle.elapsed.as_secs_f64()
                )
            },
        );
        let _ = writeln!(
            text,
            "| {} | {} | {} ms | {:.1} | **{:.0}** | {:.0} | {:.1} | {:.0} | {cpu} | **{:.0}** | {:.1} |",
            r.engine.name(),
            r.orders,
            r.poll_ms,
            rounds * 60.0 / r.idle.elapsed.as_secs_f64(),
            idle_rate,
            r.idle.per_minute(gma),
            others,
            estimate(r.orders, r.poll_ms, others),
            r.paying.per_minute(paying_total),
            extra,
        );
    }
    text.push('\n');
    for r in results {
        let slot = r.slot_ms.map_or_else(String::new, |ms| {
            format!("; Surfnet made a slot every {ms:.0} ms")
        });
        let retried = if r.attempts > 1 {
            format!(
                " (measured at attempt {}: Surfnet stopped answering before)",
                r.attempts
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "- {}, {} orders, poll {} ms{retried}: idle {:.1} s: {}{slot}. With {} payments, {:.1} s: {}.",
            r.engine.name(),
            r.orders,
            r.poll_ms,
            r.idle.elapsed.as_secs_f64(),
            by_method(&r.idle.calls),
            r.payments,
            r.paying.elapsed.as_secs_f64(),
            by_method(&r.paying.calls),
        );
    }
    for note in skipped {
        let _ = writeln!(text, "- {note}");
    }
    text
}
