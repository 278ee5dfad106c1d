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
use wcheckout_app::gateway::Gateway;
use wcheckout_app::wire::CreateCheckoutOrderRequest;
use wcheckout_client::{ApiResponse, Client, ClientError, Credentials};
use wcheckout_domain::app::App;
use wcheckout_domain::ports::SignatureUse;

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
    /// Signed requests refused before any write: the request path alone.
    requests: Vec<Level>,
    /// The use case called directly: derivation and write alone.
    use_case: Vec<Level>,
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
    let on = engine.name();
    let orders = levels(
        options,
        &format!("orders on {on}"),
        client.clone(),
        create_order,
    )
    .await;
    let requests = levels(options, "signed requests", client, refused_order).await;
    let direct = (
        Arc::clone(&gateway.gateway),
        Arc::new(gateway.app(&app).await?),
    );
    let use_case = levels(options, "use case orders", direct, use_case_order).await;
    gateway.stop().await;

    let pool = ceiling_pool(engine, &database.url).await?;
    let ceiling = levels(options, "ceiling inserts", pool.clone(), insert_row).await;
    pool.close().await;
    database.remove().await;
    Ok(EngineResult {
        engine,
        orders,
        requests,
        use_case,
        ceiling,
    })
}

/// Each level of `options`, `operation` called with a clone of `context` and a unique number.
async fn levels<C, F, Fut>(options: &Options, what: &str, context: C, operation: F) -> Vec<Level>
where
    C: Clone + Send + Sync + 'static,
    F: Fn(C, u64) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut levels = Vec::new();
    for &clients in &options.clients {
        eprintln!("{what}: {clients} client(s)");
        let context = context.clone();
        let level = measure(clients, options.seconds, move |n| {
            operation(context.clone(), n)
        })
        .await;
        eprintln!("  {:.0} {what}/s", level.per_second);
        levels.push(level);
    }
    levels
}

/// CreateCheckoutOrder's use case called directly, with a signature to record like a signed
/// request's: the order's derivation and write without HTTP, authentication or signing.
async fn use_case_order((gateway, app): (Arc<Gateway>, Arc<App>), n: u64) -> bool {
    let body = serde_json::from_value::<CreateCheckoutOrderRequest>(serde_json::json!({
        "orderNo": format!("direct-{n}"),
        "orderAmount": "10.5",
        "customerId": format!("c{n}"),
        "merchantId": "m1",
        "token": "ETH_USDT",
    }));
    let Ok(body) = body else { return false };
    let signature = SignatureUse {
        app: app.id.clone(),
        signature_hash: format!("direct-{n}"),
        expires_at: gateway.clock.now().plus_seconds(120),
    };
    gateway
        .create_order(&app, body, Some(&signature))
        .await
        .is_ok()
}

pub(crate) async fn create_order(client: Arc<Client>, n: u64) -> bool {
    matches!(post_order(&client, n, "10.5").await, Ok(r) if r.retcode() == "200")
}

/// The same signed request with an amount of zero: authenticated and its signature checked
/// like an order, then refused by validation, so it derives no address and writes nothing.
async fn refused_order(client: Arc<Client>, n: u64) -> bool {
    matches!(post_order(&client, n, "0").await, Ok(r) if r.retcode() == "00001")
}

async fn post_order(client: &Client, n: u64, amount: &str) -> Result<ApiResponse, ClientError> {
    let body = format!(
        r#"{{"orderNo":"bench-{n}","orderAmount":"{amount}","customerId":"c{n}","merchantId":"m1","token":"ETH_USDT"}}"#
    );
    client.post("/checkout/order/create", &body).await
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
async fn insert_row(pool: sqlx::AnyPool, n: u64) -> bool {
    sqlx::query("insert into bench_ceiling (id, payload) values ($1, $2)")
        .bind(format!("row-{n}"))
        .bind("x".repeat(400))
        .execute(&pool)
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
    text.push_str(PARTS);
    for result in results {
        let parts = [
            &result.orders,
            &result.requests,
            &result.use_case,
            &result.ceiling,
        ];
        for (index, order) in result.orders.iter().enumerate() {
            let _ = write!(text, "| {} | {} |", result.engine.name(), order.clients);
            let mut errors = 0;
            for part in parts.iter().filter_map(|levels| levels.get(index)) {
                let _ = write!(text, " {:.0} ({}) |", part.per_second, ms(part.p50));
                errors += part.errors;
            }
            let _ = writeln!(text, " {errors} |");
        }
    }
    for line in skipped {
        let _ = writeln!(text, "\n{line}");
    }
    text
}

/// The second table: the same run's order path taken apart.
const PARTS: &str = "\nWhere an order's time goes, measured in the same run at the same \
    concurrency (rate per second, p50 in parentheses): the orders above; **signed requests \
    without a write**, the same CreateCheckoutOrder with an `orderAmount` of 0, authenticated \
    (Bearer lookup) and its signature verified like an order, then refused by validation \
    (`00001`, signed response verified), so the HTTP and signature path alone; the **use case \
    alone**, `Gateway::create_order` called in process with a signature to record, so the \
    deposit address derivation and the order's write (signature mark, order row and its \
    indexes, batched as under HTTP) without HTTP or signing; and the ceiling's bare inserts.\n\n\
    | Engine | Clients | Orders | Signed requests, no write | Use case alone | Ceiling inserts | Errors |\n\
    | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
