//! Catch-up on Solana: K orders are paid while the gateway is stopped; it is started again and
//! timed until every order is `PAID`, with the calls it made on the node meanwhile.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wcheckout_domain::token::ChainKey;
use wcheckout_solana::rpc::Commitment;

use super::{
    CHAIN, Cluster, by_method, config_with_cluster, create_orders, paid_orders, total,
    wait_for_cursor,
};
use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::BenchGateway;
use crate::rpc_counter::{CallCounts, RpcCounter};

/// `wcheckout-bench solana-catchup` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Orders paid while the gateway is stopped, one run per engine each, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [100u64, 300])]
    pub(crate) orders: Vec<u64>,
    /// Longest wait for every order to be paid after the restart.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            orders: vec![100, 300],
            timeout_secs: 300,
        }
    }
}

/// Runs tried per setting.
const ATTEMPTS: u32 = 3;

struct RunResult {
    engine: Engine,
    /// Attempts the run took (a new cluster and database each).
    attempts: u32,
    orders: u64,
    /// How long the K transfers took to send (each confirmed before the next).
    paying: Duration,
    /// Slots between the stopped watcher's cursor and the finalized slot at the restart.
    behind: u64,
    /// From starting the gateway until every order is `PAID`.
    paid: Duration,
    calls: CallCounts,
}

/// Runs every engine and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        options.orders.iter().all(|k| *k > 0) && !options.orders.is_empty(),
        "--orders must be at least 1"
    );
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for (&orders, &engine) in options
        .orders
        .iter()
        .flat_map(|k| engines.iter().map(move |e| (k, e)))
    {
        eprintln!("solana-catchup: {orders} orders on {}", engine.name());
        // Surfnet 1.5 sometimes stops answering for good on a loaded machine: a run it fails
        // is made again, on a new cluster and a new database.
        let mut attempt = 1;
        let result = loop {
            let database = BenchDatabase::create(engine, pg_url).await?;
            let result = one_run(engine, orders, options, &database.url).await;
            database.remove().await;
            match result {
                Err(error) if attempt < ATTEMPTS => {
                    eprintln!("  attempt {attempt} failed ({error:#}); again on a new cluster");
                    attempt += 1;
                }
                result => break result?,
            }
        };
        let result = RunResult {
            attempts: attempt,
            ..result
        };
        eprintln!(
            "  {} slots behind, all paid {:.2} s after the start, {} calls",
            result.behind,
            result.paid.as_secs_f64(),
            total(&result.calls)
        );
        results.push(result);
    }
    Ok(markdown(options, &results, &skipped))
}

async fn one_run(
    engine: Engine,
    orders: u64,
    options: &Options,
    database_url: &str,
) -> anyhow::Result<RunResult> {
    let cluster = Cluster::start().await?;
    let counter = RpcCounter::start(&cluster.node.rpc_url).await?;
    let outcome = with_cluster(engine, orders, options, database_url, &cluster, &counter).await;
    counter.stop().await;
    cluster.stop().await;
    outcome
}

async fn with_cluster(
    engine: Engine,
    count: u64,
    options: &Options,
    database_url: &str,
    cluster: &Cluster,
    counter: &RpcCounter,
) -> anyhow::Result<RunResult> {
    let mut config = config_with_cluster(database_url, cluster, &counter.url())?;
    config.webhooks.enabled = false;
    let timeout = Duration::from_secs(options.timeout_secs);
    let chain = ChainKey::parse(CHAIN).context("chain key")?;

    let gateway = BenchGateway::start(config.clone()).await?;
    let before_stop = async {
        let head = cluster.slot(Commitment::Finalized).await?;
        wait_for_cursor(&gateway, head, timeout).await?;
        let issued = gateway
            .admin()
            .create("Catch-up shop", None, &[])
            .await
            .map_err(|e| anyhow::anyhow!("creating an app: {e}"))?;
        let orders = create_orders(&gateway, &issued, "catchup", (0, count)).await?;
        // The watcher has seen the orders open (a round after they exist) before it stops.
        let head = cluster.slot(Commitment::Finalized).await?;
        wait_for_cursor(&gateway, head, timeout).await?;
        let cursor = gateway.gateway.store.chain_cursor(&chain).await;
        let cursor = cursor.map_err(|e| anyhow::anyhow!("{e}"))?;
        let cursor = cursor.context("no cursor")?.processed.number;
        anyhow::Ok((orders, cursor))
    }
    .await;
    gateway.stop().await;
    let (orders, cursor) = before_stop?;

    let started = Instant::now();
    let mut last_slot = 0;
    for order in &orders {
        let signature = cluster.pay(&order.owner, order.amount).await?;
        last_slot = last_slot.max(cluster.slot_of(&signature).await?);
    }
    let paying = started.elapsed();
    cluster.finalized(last_slot, timeout).await?;
    let behind = cluster.slot(Commitment::Finalized).await? - cursor;

    counter.take();
    let started = Instant::now();
    let gateway = BenchGateway::start(config).await?;
    let outcome = async {
        loop {
            let paid = paid_orders(&gateway).await?;
            if paid >= count {
                return anyhow::Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!("only {paid} of {count} orders paid after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    .await;
    let calls = counter.take();
    gateway.stop().await;
    Ok(RunResult {
        engine,
        attempts: 1,
        orders: count,
        paying,
        behind,
        paid: outcome?,
        calls,
    })
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "A gateway (the default configuration otherwise: `poll_interval_ms` 1000, \
`max_blocks_per_scan` 1000; webhook delivery off) watches a fresh local Surfnet cluster as chain \
`SOL` (`finality = \"finalized\"`) through the counting forwarder. K orders ({orders} in turn) \
are created through the use case while it runs, and it is stopped once its cursor has passed \
them; then the K orders are paid by one payer (one `transferChecked` each, one after another, each \
confirmed before the next), the harness waits until the last one is finalized, and the gateway \
is started again on the same database. **Paid**: from starting it until all K orders \
are `PAID` (every transfer credited), with the calls it made on the node meanwhile; the \
backlog is the slots between its cursor when it stopped and the finalized slot when it \
started.\n\n\
| Engine | Orders paid while stopped | Slots behind | **Paid** | Calls | Calls per order |\n\
| --- | ---: | ---: | ---: | ---: | ---: |\n",
        orders = options
            .orders
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    for r in results {
        let _ = writeln!(
            text,
            "| {} | {} | {} | **{:.2} s** | {} | {:.1} |",
            r.engine.name(),
            r.orders,
            r.behind,
            r.paid.as_secs_f64(),
            total(&r.calls),
            total(&r.calls) as f64 / r.orders.max(1) as f64,
        );
    }
    text.push('\n');
    for r in results {
        let _ = writeln!(
            text,
            "- {}, {} orders{}: the transfers took {:.1} s to send; the gateway's calls: {}.",
            r.engine.name(),
            r.orders,
            if r.attempts > 1 {
                format!(
                    " (at attempt {}: Surfnet stopped answering before)",
                    r.attempts
                )
            } else {
                String::new()
            },
            r.paying.as_secs_f64(),
            by_method(&r.calls),
        );
    }
    for note in skipped {
        let _ = writeln!(text, "- {note}");
    }
    text
}
