//! Payment detection latency on Solana at `finalized`: orders paid one after another through
//! Surfnet (each transfer sent once the previous one is confirmed, after a pause drawn from
//! the poll interval), each `PAID` webhook's arrival compared with the moment its transfer was
//! confirmed and with the moment its slot was seen finalized.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};
use wcheckout_solana::rpc::{Commitment, SolanaRpc};

use super::{
    Cluster, by_method, config_with_cluster, create_orders, per_minute, phase, total,
    wait_for_cursor,
};
use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::detection::{paid_order_no, signed_micros};
use crate::gateway::BenchGateway;
use crate::receiver::{Arrival, Receiver};
use crate::rpc_counter::{CallCounts, RpcCounter};
use crate::stats::{Summary, ms, summarize};

/// `wcheckout-bench solana-detection` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Orders created and paid per run.
    #[arg(long, default_value_t = 30)]
    pub(crate) payments: u64,
    /// `[watcher] poll_interval_ms` of the runs, one run per engine each, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1000u64, 100])]
    pub(crate) poll_interval_ms: Vec<u64>,
    /// Longest wait for the PAID webhooks after the last payment.
    #[arg(long, default_value_t = 120)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            payments: 30,
            poll_interval_ms: vec![1000, 100],
            timeout_secs: 120,
        }
    }
}

struct Sample {
    order_no: String,
    slot: u64,
    confirmed: Instant,
}

struct RunResult {
    engine: Engine,
    poll_ms: u64,
    payments: u64,
    /// Webhook arrival minus the transfer's confirmation, µs.
    after_confirmed: Summary,
    /// Its slot seen finalized minus the confirmation, µs.
    finality_wait: Summary,
    /// Webhook arrival minus the slot seen finalized, µs.
    after_finalized: Summary,
    slot_ms: Option<f64>,
    elapsed: Duration,
    calls: CallCounts,
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
    for &poll in &options.poll_interval_ms {
        for &engine in &engines {
            eprintln!(
                "solana-detection: {} payments on {}, poll {poll} ms",
                options.payments,
                engine.name()
            );
            let database = BenchDatabase::create(engine, pg_url).await?;
            let result = one_run(engine, options, poll, &database.url).await;
            database.remove().await;
            let result = result?;
            eprintln!(
                "  confirmed → webhook p50 {} p99 {}; finalized → webhook p50 {} p99 {}",
                ms(result.after_confirmed.p50),
                ms(result.after_confirmed.p99),
                ms(result.after_finalized.p50),
                ms(result.after_finalized.p99),
            );
            results.push(result);
        }
    }
    Ok(markdown(options, &results, &skipped))
}

async fn one_run(
    engine: Engine,
    options: &Options,
    poll_ms: u64,
    database_url: &str,
) -> anyhow::Result<RunResult> {
    let cluster = Cluster::start().await?;
    let counter = RpcCounter::start(&cluster.node.rpc_url).await?;
    let (sink, arrivals) = mpsc::unbounded_channel();
    let receiver = Receiver::start(Some(sink)).await?;
    let outcome = async {
        let mut config = config_with_cluster(database_url, &cluster, &counter.url())?;
        config.watcher.poll_interval_ms = poll_ms;
        let gateway = BenchGateway::start(config).await?;
        let outcome = pay_orders(
            engine, options, &cluster, &counter, &gateway, &receiver, arrivals,
        )
        .await
        .map(|result| RunResult { poll_ms, ..result });
        gateway.stop().await;
        outcome
    }
    .await;
    receiver.stop().await;
    counter.stop().await;
    cluster.stop().await;
    outcome
}

/// When each finalized slot was first seen (polled every 5 ms, directly on the node).
#[derive(Clone, Default)]
struct FinalizedSlots(Arc<Mutex<Vec<(u64, Instant)>>>);

impl FinalizedSlots {
    fn follow(&self, rpc_url: String, mut stop: watch::Receiver<bool>) {
        let seen = self.clone();
        tokio::spawn(async move {
            let Ok(rpc) = SolanaRpc::new(&[rpc_url], Duration::from_secs(5)) else {
                return;
            };
            while !*stop.borrow() {
                if let Ok(slot) = rpc.slot(Commitment::Finalized).await {
                    let at = Instant::now();
                    let mut list = seen.0.lock().unwrap_or_else(PoisonError::into_inner);
                    if list.last().is_none_or(|(last, _)| slot > *last) {
                        list.push((slot, at));
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = stop.changed() => {}
                }
            }
        });
    }

    /// When `slot` was first seen finalized.
    fn at(&self, slot: u64) -> Option<Instant> {
        let list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.iter().find(|(s, _)| *s >= slot).map(|(_, at)| *at)
    }
}

async fn pay_orders(
    engine: Engine,
    options: &Options,
    cluster: &Cluster,
    counter: &RpcCounter,
    gateway: &BenchGateway,
    receiver: &Receiver,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<RunResult> {
    let poll_ms = gateway.config.watcher.poll_interval_ms;
    let timeout = Duration::from_secs(options.timeout_secs);
    let head = cluster.slot(Commitment::Finalized).await?;
    wait_for_cursor(gateway, head, timeout).await?;
    let issued = gateway
        .create_app("Solana latency shop", &receiver.url(0))
        .await?;
    let orders = create_orders(gateway, &issued, "det", (0, options.payments)).await?;

    let finalized = FinalizedSlots::default();
    let (stop, stopped) = watch::channel(false);
    finalized.follow(cluster.node.rpc_url.clone(), stopped);
    counter.take();
    let first_slot = cluster.slot(Commitment::Confirmed).await?;
    let started = Instant::now();
    let mut samples = Vec::with_capacity(orders.len());
    for (index, order) in orders.iter().enumerate() {
        let pause = poll_ms as f64 * phase(index as u64);
        tokio::time::sleep(Duration::from_secs_f64(pause / 1000.0)).await;
        let signature = cluster.pay(&order.owner, order.amount).await?;
        let confirmed = Instant::now();
        samples.push(Sample {
            order_no: order.order_no.clone(),
            slot: cluster.slot_of(&signature).await?,
            confirmed,
        });
    }
    let slots = cluster.slot(Commitment::Confirmed).await? - first_slot;
    let slot_ms = super::slot_ms(slots, started.elapsed());

    let mut arrived: HashMap<String, Instant> = HashMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while arrived.len() < samples.len() {
        let next = tokio::time::timeout_at(deadline, arrivals.recv()).await;
        let Ok(Some(arrival)) = next else {
            let _ = stop.send(true);
            bail!(
                "{} of {} PAID webhooks within {timeout:?} of the last payment",
                arrived.len(),
                samples.len()
            );
        };
        if let Some(order_no) = paid_order_no(&arrival.body) {
            arrived.entry(order_no).or_insert(arrival.at);
        }
    }
    let elapsed = started.elapsed();
    let calls = counter.take();
    let _ = stop.send(true);

    let (mut after_confirmed, mut finality_wait, mut after_finalized) =
        (Vec::new(), Vec::new(), Vec::new());
    for sample in &samples {
        let arrival = arrived[&sample.order_no];
        let final_at = finalized
            .at(sample.slot)
            .with_context(|| format!("slot {} was not seen finalized", sample.slot))?;
        after_confirmed.push(signed_micros(arrival, sample.confirmed));
        finality_wait.push(signed_micros(final_at, sample.confirmed));
        after_finalized.push(signed_micros(arrival, final_at));
    }
    let summary = |values: Vec<i64>| summarize(&values).context("no samples");
    Ok(RunResult {
        engine,
        poll_ms,
        payments: options.payments,
        after_confirmed: summary(after_confirmed)?,
        finality_wait: summary(finality_wait)?,
        after_finalized: summary(after_finalized)?,
        slot_ms,
        elapsed,
        calls,
    })
}

fn row(text: &mut String, r: &RunResult, what: &str, s: &Summary) {
    let _ = writeln!(
        text,
        "| {} | {} ms | {what} | {} | {} | {} | {} | {} |",
        r.engine.name(),
        r.poll_ms,
        ms(s.min),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
    );
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "A gateway (the default configuration otherwise) watches a fresh local Surfnet cluster \
per run as chain `SOL` (`family = \"solana\"`, `finality = \"finalized\"`) with its 6-decimal mint \
as `SOL_USDT`, through the counting forwarder; its app's webhook URL is the local receiver. \
{payments} orders (created through the use case) are paid one after another by one payer \
through `@solana/web3.js` (a `transferChecked` creating the deposit's token account in the \
same transaction); each transfer is sent once the previous one is confirmed (not waiting for its \
webhook: with finality far longer than a poll, the payments' detections overlap), after a pause \
drawn uniformly from [0, poll_interval_ms) so that payments land at every phase of the poll. \
The harness polls the node's finalized slot every 5 ms, directly (not counted), to time when \
each transfer's slot became final.\n\n\
- **Confirmed → webhook**: from `Surfnet::pay` returning (the launcher saw the signature \
`confirmed`, polling every 50 ms) to the `PAID` webhook's arrival at the receiver: what a payer \
waits for.\n\
- **Confirmed → finalized**: the node's part: Surfnet reports as finalized the slot 32 below \
the confirmed one.\n\
- **Finalized → webhook**: the gateway's part: the wait for the next poll, the round (head, \
finalized slot, the cursor block's check, `getMultipleAccounts` over the watched deposits, \
`getSignaturesForAddress` and `getTransaction` for the accounts that changed), the commit \
that credits, the outbox and the delivery.\n\n\
| Engine | Poll interval | Interval | min | p50 | p90 | p99 | max |\n\
| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
        payments = options.payments,
    );
    for r in results {
        row(&mut text, r, "**confirmed → webhook**", &r.after_confirmed);
        row(&mut text, r, "confirmed → finalized", &r.finality_wait);
        row(&mut text, r, "**finalized → webhook**", &r.after_finalized);
    }
    text.push('\n');
    for r in results {
        let rates = per_minute(&r.calls, r.elapsed);
        let rate = rates.values().sum::<f64>();
        let slot = r.slot_ms.map_or_else(String::new, |ms| {
            format!("; Surfnet made a slot every {ms:.0} ms")
        });
        let _ = writeln!(
            text,
            "- {}, poll {} ms: {} payments in {:.1} s{slot}; the gateway made {} JSON-RPC calls \
             ({rate:.0}/min: {}).",
            r.engine.name(),
            r.poll_ms,
            r.payments,
            r.elapsed.as_secs_f64(),
            total(&r.calls),
            by_method(&r.calls),
        );
    }
    for note in skipped {
        let _ = writeln!(text, "- {note}");
    }
    text
}
