//! Order creation: signed CreateCheckoutOrder requests per second and their latency at several
//! numbers of concurrent clients, against the ceiling of the same database on the same machine:
//! durable single-row inserts per second at the same concurrency, through a pool configured as
//! the store configures its own (SQLite: one writer, WAL, `synchronous = full`; PostgreSQL: the
//! store's pool size, default `synchronous_commit`), measured in the same run.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use wcheckout_client::{Client, Credentials};

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, base_config};
use crate::stats::{micros, ms, summarize};

/// `wcheckout-bench orders` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Concurrent clients, one level after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub(crate) clients: Vec<usize>,
    /// Seconds measured per level (after one second of warm-up).
    #[arg(long, default_value_t = 8)]
    pub(crate) seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clients: vec![1, 16, 64],
            seconds: 8,
        }
    }
}

/// What one level measured.
pub(crate) struct Level {
    pub(crate) clients: usize,
    pub(crate) per_second: f64,
    pub(crate) p50: i64,
    pub(crate) p99: i64,
    pub(crate) errors: u64,
}

struct EngineResult {
    engine: Engine,
    orders: Vec<Level>,
    ceiling: Vec<Level>,
}

/// Runs every level on every engine and returns the Markdown block.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    let (engines, skipped) = usable_engines(engines, pg_url).await;
    let mut results = Vec::new();
    for engine in engines {
        results.push(run_engine(options, engine, pg_url).await?);
    }
    Ok(markdown(options, &results, &skipped))
}

async fn run_engine(
    options: &Options,
    engine: Engine,
    pg_url: &str,
) -> anyhow::Result<EngineResult> {
    let database = BenchDatabase::create(engine, pg_url).await?;
    let mut config = base_config(&database.url)?;
    config.watcher.enabled = false;
    let gateway = BenchGateway::start(config).await?;
    let app = gateway.admin().create("bench", None, &[]).await;
    let app = app.map_err(|e| anyhow::anyhow!("creating an app: {e}"))?;
    let client = Arc::new(Client::new(
        &gateway.base_url,
        Credentials {
            api_key: app.api_key.clone(),
            api_secret: app.api_secret.clone(),
            sign_key: app.sign_key.clone(),
        },
    ));
    let mut orders = Vec::new();
    for &clients in &options.clients {
        eprintln!("orders: {clients} client(s) on {}", engine.name());
        let client = Arc::clone(&client);
        let level = measure(clients, options.seconds, move |n| {
            let client = Arc::clone(&client);
            async move { create_order(&client, n).await }
        })
        .await;
        eprintln!("  {:.0} orders/s", level.per_second);
        orders.push(level);
    }
    gateway.stop().await;

    let pool = ceiling_pool(engine, &database.url).await?;
    let mut ceiling = Vec::new();
    for &clients in &options.clients {
        eprintln!("ceiling: {clients} writer(s) on {}", engine.name());
        let pool = pool.clone();
        let level = measure(clients, options.seconds, move |n| {
            let pool = pool.clone();
            async move { insert_row(&pool, n).await }
        })
        .await;
        eprintln!("  {:.0} inserts/s", level.per_second);
        ceiling.push(level);
    }
    pool.close().await;
    database.remove().await;
    Ok(EngineResult {
        engine,
        orders,
        ceiling,
    })
}

pub(crate) async fn create_order(client: &Client, n: u64) -> bool {
    let body = format!(
        r#"{{"orderNo":"bench-{n}","orderAmount":"10.5","customerId":"c{n}","merchantId":"m1","token":"ETH_USDT"}}"#
    );
    matches!(client.post("/checkout/order/create", &body).await, Ok(r) if r.retcode() == "200")
}

/// A pool like the store's: SQLite one writer connection in WAL with every commit synced;
/// PostgreSQL the store's default pool size with the server's default durability.
async fn ceiling_pool(engine: Engine, url: &str) -> anyhow::Result<sqlx::AnyPool> {
    let defaults = wcheckout_store::StoreOptions::default();
    let size = match engine {
        Engine::Sqlite => 1,
        Engine::Postgres => defaults.max_connections,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    conn.execute(
                        "pragma busy_timeout = 5000; pragma journal_mode = wal; \
                         pragma synchronous = full;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    pool.execute("create table bench_ceiling (id text primary key, payload text not null)")
        .await
        .context("creating the ceiling table")?;
    Ok(pool)
}

/// One durable single-row insert in its own transaction, about as wide as an order row.
async fn insert_row(pool: &sqlx::AnyPool, n: u64) -> bool {
    sqlx::query("insert into bench_ceiling (id, payload) values ($1, $2)")
        .bind(format!("row-{n}"))
        .bind("x".repeat(400))
        .execute(pool)
        .await
        .is_ok()
}

/// `clients` closed loops calling `operation` with a unique number for one warm-up second and
/// then `seconds` measured seconds.
pub(crate) async fn measure<F, Fut>(clients: usize, seconds: u64, operation: F) -> Level
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let warm_up_end = Instant::now() + Duration::from_secs(1);
    let end = warm_up_end + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let operation = operation.clone();
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let ok = operation(NEXT.fetch_add(1, Ordering::Relaxed)).await;
                if started >= warm_up_end {
                    latencies.push(micros(started.elapsed()));
                    errors += u64::from(!ok);
                }
            }
            (latencies, errors)
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(Ok((mut own, own_errors))) = tasks.join_next().await {
        latencies.append(&mut own);
        errors += own_errors;
    }
    let summary = summarize(&latencies);
    Level {
        clients,
        per_second: latencies.len() as f64 / seconds as f64,
        p50: summary.map_or(0, |s| s.p50),
        p99: summary.map_or(0, |s| s.p99),
        errors,
    }
}

fn markdown(options: &Options, results: &[EngineResult], skipped: &[String]) -> String {
    let mut text = format!(
        "A gateway wired like `wcheckout serve` (default configuration, chain watcher off) with one \
         app; closed-loop clients in the same process send signed CreateCheckoutOrder requests \
         through `wcheckout_client::Client` (Bearer token, HMAC-SHA512 signature, response \
         signature verified), each with a new `orderNo`, so every request derives a deposit \
         address and commits an order. One second of warm-up, then {seconds} s measured per \
         level. The **ceiling** is measured in the same run on the same database: the same \
         number of concurrent writers, each committing one single-row insert (a 400-byte row \
         with a text primary key) per transaction, through a pool configured like the store's \
         (SQLite: one writer connection, WAL, `synchronous = full`; PostgreSQL: {pool} \
         connections, default durability).\n\n\
         | Engine | Clients | **Orders/s** | p50 / p99 | Ceiling inserts/s | **Orders ÷ ceiling** | Errors |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        seconds = options.seconds,
        pool = wcheckout_store::StoreOptions::default().max_connections,
    );
    for result in results {
        for (order, ceiling) in result.orders.iter().zip(&result.ceiling) {
            let ratio = if ceiling.per_second > 0.0 {
                format!("{:.0}%", 100.0 * order.per_second / ceiling.per_second)
            } else {
                "–".into()
            };
            let _ = writeln!(
                text,
                "| {} | {} | **{:.0}** | {} / {} | {:.0} | **{ratio}** | {} |",
                result.engine.name(),
                order.clients,
                order.per_second,
                ms(order.p50),
                ms(order.p99),
                ceiling.per_second,
                order.errors + ceiling.errors,
            );
        }
    }
    for line in skipped {
        let _ = writeln!(text, "\n{line}");
    }
    text
}
