//! Webhook delivery throughput: N events written to the outbox in bulk through the store, then
//! the gateway's dispatcher (default `[webhooks]` settings) delivers them to a local receiver
//! that acknowledges at once. Measured: deliveries per second until the outbox is empty, and
//! the duration of the attempts.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use sqlx::Row;
use wcheckout_app::events::envelope_event;
use wcheckout_app::webhooks::{DeliverySettings, WebhookDispatcher};
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{ChangeSet, DeliveryError, ReceiverAnswer, WebhookSender};
use wcheckout_domain::time::Timestamp;

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, base_config};
use crate::receiver::Receiver;
use crate::stats::{Summary, micros, ms, summarize};

/// Events per run unless `--events` says otherwise.
pub(crate) const DEFAULT_EVENTS: u64 = 20_000;

/// `wcheckout-bench webhooks` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Events written to the outbox per run.
    #[arg(long, default_value_t = DEFAULT_EVENTS)]
    pub(crate) events: u64,
    /// Apps the events are spread over (round robin), so per-app limits do not cap the rate.
    #[arg(long, default_value_t = 16)]
    pub(crate) apps: usize,
    /// Skip the runs with every event for a single app (at --events and at a tenth of it).
    #[arg(long)]
    pub(crate) skip_single_app: bool,
    /// Events per store commit when filling the outbox.
    #[arg(long, default_value_t = 1000)]
    pub(crate) batch: usize,
    /// Longest a delivery run may take; it then stops and reports what was delivered.
    #[arg(long, default_value_t = 45)]
    pub(crate) timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events: DEFAULT_EVENTS,
            apps: 16,
            skip_single_app: false,
            batch: 1000,
            timeout_secs: 45,
        }
    }
}

/// What one run measured.
struct RunResult {
    engine: Engine,
    apps: usize,
    events: u64,
    body_bytes: usize,
    insert: Duration,
    delivered: u64,
    elapsed: Duration,
    /// Posts the receiver got (more than delivered means some event was posted twice).
    received: u64,
    timed_out: bool,
    failed_attempts: u64,
    /// `webhook_attempts.duration_ms` as the gateway recorded it, in µs (whole ms).
    recorded: Option<Summary>,
    /// The HTTP post alone, timed around the production sender, in µs.
    post: Option<Summary>,
    max_in_flight: usize,
    max_in_flight_one_app: usize,
}

/// Times every post of the production sender and tracks how many are in flight.
struct TimedSender {
    inner: Arc<dyn WebhookSender>,
    tracking: Mutex<Tracking>,
}

#[derive(Default)]
struct Tracking {
    samples: Vec<i64>,
    per_url: HashMap<String, usize>,
    total: usize,
    max_total: usize,
    max_one_url: usize,
}

impl TimedSender {
    fn enter(&self, url: &str) {
        if let Ok(mut t) = self.tracking.lock() {
            t.total += 1;
            t.max_total = t.max_total.max(t.total);
            let count = t.per_url.entry(url.to_owned()).or_default();
            *count += 1;
            let count = *count;
            t.max_one_url = t.max_one_url.max(count);
        }
    }

    fn leave(&self, url: &str, took: Duration) {
        if let Ok(mut t) = self.tracking.lock() {
            t.total = t.total.saturating_sub(1);
            if let Some(count) = t.per_url.get_mut(url) {
                *count = count.saturating_sub(1);
            }
            t.samples.push(micros(took));
        }
    }
}

#[async_trait]
impl WebhookSender for TimedSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<ReceiverAnswer, DeliveryError> {
        self.enter(url);
        let started = Instant::now();
        let answer = self.inner.post(url, headers, body, timeout).await;
        self.leave(url, started.elapsed());
        answer
    }
}

/// A `CHECKOUT_ORDER_CHANGED` body like the gateway writes for a paid order.
fn order_event(app: &AppId, number: u64, now: Timestamp) -> OutboxEvent {
    let sysid = format!("OR{}", 1_971_467_057_612_247_041_u64 + number);
    let hex = |seed: u64, len: usize| {
        let digits = format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        digits.repeat(len / 16 + 1)[..len].to_owned()
    };
    let data = json!({
        "sysid": sysid,
        "orderNo": format!("bench-{number:08}"),
        "orderAmount": 123.45,
        "fiat": "USD",
        "payingAmount": 123.45,
        "paidAmount": 123.45,
        "unconfirmedAmount": 0,
        "confirmations": 12,
        "requiredConfirmations": 12,
        "refundedAmount": 0,
        "token": "ETH_USDT",
        "coinAddress": "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        "exchangeRate": 1,
        "depositAddress": format!("0x{}", hex(number, 40)),
        "paymentUrl": format!("https://pay.example.com/pay/pt_{}", hex(number + 7, 43)),
        "expiredIn": 0,
        "customerId": format!("customer-{}", number % 5000),
        "merchantId": "default",
        "txHash": format!("0x{}", hex(number + 13, 64)),
        "orderStatus": "PAID",
        "createdTime": "2026-11-25T10:00:00.123456",
        "updatedTime": "2026-11-25T10:03:12.654321",
    });
    envelope_event(
        EventType::CheckoutOrderChanged,
        app,
        format!("order:{sysid}"),
        &data,
        now,
    )
}

/// Runs every configured run and returns the Markdown results.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(options.events > 0, "--events must be at least 1");
    anyhow::ensure!(options.apps > 0, "--apps must be at least 1");
    anyhow::ensure!(options.batch > 0, "--batch must be at least 1");
    // (apps, events): the spread run, then one app with the full backlog and with a tenth of
    // it (a delivery should not cost more because more events wait).
    let mut runs = vec![(options.apps, options.events)];
    if options.apps != 1 && !options.skip_single_app {
        runs.push((1, options.events));
        if options.events / 10 >= 100 {
            runs.push((1, options.events / 10));
        }
    }
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for engine in engines {
        for &(apps, events) in &runs {
            eprintln!(
                "webhooks: {events} events for {apps} app(s) on {}",
                engine.name()
            );
            let database = BenchDatabase::create(engine, pg_url).await?;
            let run_options = Options {
                events,
                ..options.clone()
            };
            let result = one_run(engine, apps, &run_options, &database.url).await;
            database.remove().await;
            let result = result?;
            eprintln!(
                "  {:.0} deliveries/s ({} delivered in {:.2} s)",
                rate(result.delivered, result.elapsed),
                result.delivered,
                result.elapsed.as_secs_f64()
            );
            results.push(result);
        }
    }
    Ok(markdown(options, &results, &skipped))
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

async fn one_run(
    engine: Engine,
    apps: usize,
    options: &Options,
    database_url: &str,
) -> anyhow::Result<RunResult> {
    let receiver = Receiver::start(None).await?;
    let mut config = base_config(database_url)?;
    // The harness starts the dispatcher itself once the outbox is full; nothing watches a chain.
    config.webhooks.enabled = false;
    config.watcher.enabled = false;
    let mut gateway = BenchGateway::start(config).await?;
    let outcome = fill_and_deliver(engine, apps, options, &receiver, &mut gateway).await;
    gateway.stop().await;
    receiver.stop().await;
    let mut result = outcome?;
    read_attempts(database_url, &mut result).await?;
    Ok(result)
}

async fn fill_and_deliver(
    engine: Engine,
    apps: usize,
    options: &Options,
    receiver: &Receiver,
    gateway: &mut BenchGateway,
) -> anyhow::Result<RunResult> {
    let mut app_ids = Vec::with_capacity(apps);
    for app in 0..apps {
        let credentials = gateway
            .create_app(&format!("Bench shop {app}"), &receiver.url(app))
            .await?;
        app_ids.push(AppId::new(credentials.app_id));
    }
    let store = Arc::clone(&gateway.gateway.store);
    let clock = Arc::clone(&gateway.gateway.clock);
    let started = Instant::now();
    let mut body_bytes = 0;
    let mut written = 0;
    while written < options.events {
        let size = (options.events - written).min(options.batch as u64);
        let events = (written..written + size)
            .map(|n| {
                let app = &app_ids[usize::try_from(n).unwrap_or(0) % apps];
                order_event(app, n, clock.now())
            })
            .collect::<Vec<_>>();
        body_bytes += events.iter().map(|e| e.body.len()).sum::<usize>();
        store
            .commit(ChangeSet {
                events,
                ..ChangeSet::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("writing events: {e}"))?;
        written += size;
    }
    let insert = started.elapsed();
    let pending = store
        .outbox_stats()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .pending;
    anyhow::ensure!(
        pending == options.events,
        "{pending} events pending after filling"
    );

    // The dispatcher exactly as `wcheckout serve` builds it, its sender timed.
    let config = &gateway.config;
    let settings = &config.webhooks;
    let delivery = DeliverySettings {
        retry_schedule_secs: settings.retry_schedule_secs.clone(),
        attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
        concurrency: settings.concurrency,
        per_app_concurrency: settings.per_app_concurrency,
        poll_interval: Duration::from_millis(settings.poll_interval_ms),
    };
    let sender = Arc::new(TimedSender {
        inner: Arc::new(wcheckout::serve::webhook_sender(config)?),
        tracking: Mutex::new(Tracking::default()),
    });
    let holder = format!("bench-{}", wcheckout_app::secrets::random_hex(8));
    let dispatcher = Arc::new(WebhookDispatcher::new(
        Arc::clone(&gateway.gateway),
        sender.clone(),
        delivery,
        holder,
    ));
    let timeout = Duration::from_secs(options.timeout_secs);
    let started = Instant::now();
    gateway.add_worker(tokio::spawn(dispatcher.run(gateway.stopped())));
    // The receiver's counter is free to read; the outbox is only asked once every event has
    // reached the receiver (counting pending rows is itself O(pending) and would weigh on the
    // run), until it confirms that every delivery is recorded.
    let mut next_report = Duration::from_secs(10);
    let (elapsed, remaining, timed_out) = loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let elapsed = started.elapsed();
        let received = receiver.count();
        if received >= options.events {
            let pending = store
                .outbox_stats()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .pending;
            if pending == 0 {
                break (elapsed, 0, false);
            }
        }
        if elapsed >= timeout {
            let pending = store
                .outbox_stats()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .pending;
            eprintln!("  timed out after {timeout:?} with {pending} events pending");
            break (elapsed, pending, true);
        }
        if elapsed >= next_report {
            eprintln!(
                "  {:.0} s: {received} received ({:.0}/s)",
                elapsed.as_secs_f64(),
                rate(received, elapsed)
            );
            next_report += Duration::from_secs(10);
        }
    };
    let tracking = sender
        .tracking
        .lock()
        .map_err(|_| anyhow::anyhow!("tracking lock poisoned"))?;
    Ok(RunResult {
        engine,
        apps,
        events: options.events,
        body_bytes: body_bytes / usize::try_from(options.events).unwrap_or(1).max(1),
        insert,
        delivered: options.events - remaining,
        elapsed,
        received: receiver.count(),
        timed_out,
        failed_attempts: 0,
        recorded: None,
        post: summarize(&tracking.samples),
        max_in_flight: tracking.max_total,
        max_in_flight_one_app: tracking.max_one_url,
    })
}

/// Reads the attempt log the gateway wrote (after it stopped).
async fn read_attempts(database_url: &str, result: &mut RunResult) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await?;
    let rows = sqlx::query("select duration_ms, delivered from webhook_attempts")
        .fetch_all(&pool)
        .await?;
    let mut durations = Vec::with_capacity(rows.len());
    let mut failed = 0;
    for row in &rows {
        let delivered: i64 = row.try_get("delivered")?;
        if delivered == 0 {
            failed += 1;
        } else {
            let duration_ms: i64 = row.try_get("duration_ms")?;
            durations.push(duration_ms.saturating_mul(1000));
        }
    }
    pool.close().await;
    result.failed_attempts = failed;
    result.recorded = summarize(&durations);
    Ok(())
}

fn pair(summary: Option<Summary>) -> String {
    match summary {
        Some(s) => format!("{} / {}", ms(s.p50), ms(s.p99)),
        None => "–".into(),
    }
}

fn markdown(options: &Options, results: &[RunResult], skipped: &[String]) -> String {
    let body = results.first().map_or(0, |r| r.body_bytes);
    let mut text = format!(
        "Each run commits `CHECKOUT_ORDER_CHANGED` events to the outbox through the store \
(`store.commit(ChangeSet {{ events, .. }})`, {batch} per commit; bodies from \
`wcheckout_app::events::envelope_event`, {body} bytes on average, each event about a different \
order). Then the gateway's `WebhookDispatcher`, built as `wcheckout serve` builds it with the \
default `[webhooks]` settings (concurrency 64, per_app_concurrency 8, poll 500 ms) and the \
production HTTP sender, delivers them to a local receiver (axum on 127.0.0.1) that answers \
`{{\"retcode\":200}}` at once. The clock runs from starting the dispatcher until every event \
has reached the receiver and the outbox has no pending event left (every delivery recorded in \
the database). The first run per engine spreads {events} events round robin over {apps} apps; \
the single-app runs send {events} and then {tenth} events to one app (a delivery should not \
cost more because more events wait). A run is stopped after {timeout} s at most \
(`--timeout-secs`) and then reports the rate of what it delivered until then.\n\n",
        events = options.events,
        tenth = options.events / 10,
        batch = options.batch,
        apps = options.apps,
        timeout = options.timeout_secs,
    );
    text.push_str(
        "| Engine | Apps | Delivered | Time | **Deliveries/s** | Attempt p50 / p99 | HTTP post p50 / p99 | Most posts in flight (all / one app) | Outbox fill |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let time = if r.timed_out {
            format!("{:.1} s (stopped)", r.elapsed.as_secs_f64())
        } else {
            format!("{:.2} s", r.elapsed.as_secs_f64())
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} / {} | {} | **{:.0}** | {} | {} | {} / {} | {:.0} events/s |",
            r.engine.name(),
            r.apps,
            r.delivered,
            r.events,
            time,
            rate(r.delivered, r.elapsed),
            pair(r.recorded),
            pair(r.post),
            r.max_in_flight,
            r.max_in_flight_one_app,
            rate(r.events, r.insert),
        );
    }
    text.push('\n');
    for line in skipped {
        let _ = writeln!(text, "- {line}");
    }
    let failed: u64 = results.iter().map(|r| r.failed_attempts).sum();
    let duplicates: u64 = results
        .iter()
        .map(|r| r.received.saturating_sub(r.delivered))
        .sum();
    let _ = writeln!(
        text,
        "- Failed attempts: {failed}; posts beyond one per delivered event (including attempts \
still in flight when a run was stopped): {duplicates}."
    );
    text.push_str(
        "- *Attempt* is the duration the gateway records in `webhook_attempts.duration_ms`, in \
whole milliseconds (app lookup, signing and the HTTP exchange); *HTTP post* is the exchange \
alone, timed in microseconds around the production sender. *Most posts in flight* counts HTTP \
posts under way at once, in total and to one app's URL. *Outbox fill* is the rate of the bulk \
commits that filled the outbox.\n",
    );
    text
}
