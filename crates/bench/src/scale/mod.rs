//! Scale of open orders: order creation and transfer matching with 10,000 and with 1,000,000
//! open (`PAYING`, not yet due) orders in the database.
//!
//! The orders are seeded by bulk SQL straight into the gateway's database (PostgreSQL
//! `generate_series`, SQLite a recursive CTE), with distinct order numbers, page tokens,
//! address indexes (reserved from the `evm_address_index` counter, so orders created through
//! the API never collide with them) and synthetic deposit addresses, and deadlines ten years
//! ahead so that the expiry worker leaves them alone. At each size the harness measures signed
//! CreateCheckoutOrder requests (the `orders` benchmark's load), the process's resident memory,
//! the database's size, and the store lookup the chain watcher matches transfers with
//! (`orders_by_deposit_addresses`), with the plan the database chooses for it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyPool, Row};
use wcheckout_client::{Client, Credentials};
use wcheckout_domain::address::{Address, EvmAddress};

pub(crate) mod seeding;

use seeding::{SEED_CHUNK, connect, open_orders, seed, seeded_address, settle};

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, base_config};
use crate::orders::{Level, create_order, measure};
use crate::stats::{Summary, micros, ms, summarize};

/// Open orders at each measurement, by default.
pub(crate) const DEFAULT_SIZES: [u64; 2] = [10_000, 1_000_000];

/// Recipients per batch lookup, and how many of them are deposit addresses of open orders.
const BATCH: usize = 1_000;
const BATCH_OURS: usize = 100;

/// `wcheckout-bench scale` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Open orders at each measurement, in increasing order (the database grows between them).
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    pub(crate) sizes: Vec<u64>,
    /// Concurrent clients creating orders.
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Seconds of order creation measured per round (after one second of warm-up).
    #[arg(long, default_value_t = 4)]
    pub(crate) seconds: u64,
    /// Creation rounds per size; the best round counts (other work on the machine only ever
    /// slows a round down).
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Single-recipient lookups timed per size (batch lookups: a tenth of this).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) lookups: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sizes: DEFAULT_SIZES.to_vec(),
            clients: 16,
            seconds: 4,
            rounds: 3,
            lookups: 2_000,
        }
    }
}

/// What one size measured.
struct SizeResult {
    open_orders: u64,
    seeded: u64,
    seed_time: Duration,
    /// The best round.
    creation: Level,
    /// Every round's rate.
    rates: Vec<f64>,
    /// This process's CPU time per created order (median of the rounds), in microseconds.
    cpu_per_order: Option<f64>,
    rss_kib: Option<u64>,
    database_bytes: Option<u64>,
    single: Option<Summary>,
    batch: Option<Summary>,
    /// Lookups that did not find exactly the seeded orders asked for.
    wrong_matches: usize,
    expiry_round: Option<Summary>,
    count_by_status: Option<Summary>,
    plan: Plan,
}

/// The plan of the match query, for one address and for a full chunk of addresses.
struct Plan {
    single: String,
    chunk: String,
    single_indexed: bool,
    chunk_indexed: bool,
}

impl Plan {
    /// "index" or "full scan" for one address and for 5000.
    fn summary(&self) -> String {
        let word = |indexed: bool| if indexed { "index" } else { "**full scan**" };
        format!(
            "{} / {}",
            word(self.single_indexed),
            word(self.chunk_indexed)
        )
    }
}

struct EngineResult {
    engine: Engine,
    sizes: Vec<SizeResult>,
    interleaved: Option<Interleaved>,
}

/// Runs every size on every engine and returns the Markdown block.
pub(crate) async fn run(
    options: &Options,
    engines: &[Engine],
    pg_url: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        options.sizes.windows(2).all(|w| w[0] < w[1]) && !options.sizes.is_empty(),
        "--sizes must be increasing"
    );
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
    let mut setup = Setup::start(engine, pg_url).await?;
    let mut sizes = Vec::new();
    for &size in &options.sizes {
        let (seeded, seed_time, open_orders) = setup.grow_to(size).await?;
        eprintln!("  {open_orders} open orders after {seed_time:.1?}; creating orders");
        let (creation, rates, cpu_per_order) = create_orders(options, &setup.client).await;
        let rss_kib = rss_kib();
        eprintln!(
            "  best {:.0} orders/s of {rates:.0?}; matching",
            creation.per_second
        );
        let lookups = time_lookups(&setup.gateway, options.lookups, setup.seeded).await;
        let url = &setup.database.url;
        let pool = connect(engine, url, false).await?;
        let plan = plan(engine, &pool, setup.seeded).await;
        sizes.push(SizeResult {
            open_orders,
            seeded,
            seed_time,
            creation,
            rates,
            cpu_per_order,
            rss_kib,
            database_bytes: database_bytes(engine, &pool, url).await,
            single: lookups.single,
            batch: lookups.batch,
            wrong_matches: lookups.wrong,
            expiry_round: lookups.expiry,
            count_by_status: lookups.count_by_status,
            plan,
        });
        pool.close().await;
    }
    let interleaved = match options.sizes.first() {
        Some(&smallest) if options.sizes.len() > 1 => {
            Some(interleave(options, engine, pg_url, smallest, &setup).await?)
        }
        _ => None,
    };
    setup.stop().await;
    Ok(EngineResult {
        engine,
        sizes,
        interleaved,
    })
}

/// A gateway on a fresh database of its own, with one app and a signed client.
struct Setup {
    engine: Engine,
    database: BenchDatabase,
    gateway: BenchGateway,
    client: Arc<Client>,
    app_id: String,
    /// Orders seeded so far (numbered from 0).
    seeded: u64,
}

impl Setup {
    async fn start(engine: Engine, pg_url: &str) -> anyhow::Result<Setup> {
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
        Ok(Setup {
            engine,
            database,
            gateway,
            client,
            app_id: app.app_id.as_str().to_owned(),
            seeded: 0,
        })
    }

    /// Seeds open orders until `size` are open: how many were seeded, how long it took (with
    /// the settling), and how many are open.
    async fn grow_to(&mut self, size: u64) -> anyhow::Result<(u64, Duration, u64)> {
        // Its own connection, closed before memory is read: SQLite's page cache for the bulk
        // load lives in this process.
        let pool = connect(self.engine, &self.database.url, true).await?;
        let missing = size.saturating_sub(open_orders(&pool).await?);
        eprintln!(
            "scale: seeding {missing} open orders on {} (to {size})",
            self.engine.name()
        );
        let started = Instant::now();
        let now = self.gateway.gateway.clock.now().micros();
        let (engine, app) = (self.engine, self.app_id.as_str());
        seed(engine, &pool, app, self.seeded, missing, now).await?;
        self.seeded += missing;
        settle(self.engine, &pool).await;
        let elapsed = started.elapsed();
        let open = open_orders(&pool).await?;
        pool.close().await;
        Ok((missing, elapsed, open))
    }

    async fn open_orders(&self) -> anyhow::Result<u64> {
        let pool = connect(self.engine, &self.database.url, false).await?;
        let open = open_orders(&pool).await;
        pool.close().await;
        open
    }

    async fn stop(self) {
        self.gateway.stop().await;
        self.database.remove().await;
    }
}

/// Creation rounds alternating between a fresh gateway with `smallest` open orders and the
/// grown one (small, large, large, small, …), so that other work on the machine weighs on both
/// alike.
async fn interleave(
    options: &Options,
    engine: Engine,
    pg_url: &str,
    smallest: u64,
    large: &Setup,
) -> anyhow::Result<Interleaved> {
    let mut small = Setup::start(engine, pg_url).await?;
    small.grow_to(smallest).await?;
    let open = (small.open_orders().await?, large.open_orders().await?);
    eprintln!(
        "scale: interleaved rounds on {} at {} and {} open orders",
        engine.name(),
        open.0,
        open.1
    );
    let (mut small_rates, mut large_rates) = (Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) * 2 {
        let small_turn = matches!(round % 4, 0 | 3);
        let client = if small_turn {
            &small.client
        } else {
            &large.client
        };
        let client = Arc::clone(client);
        let level = measure(options.clients, options.seconds, move |n| {
            create_order(Arc::clone(&client), n)
        })
        .await;
        if small_turn {
            small_rates.push(level.per_second);
        } else {
            large_rates.push(level.per_second);
        }
    }
    eprintln!("  small {small_rates:.0?}, large {large_rates:.0?}");
    small.stop().await;
    Ok(Interleaved {
        open,
        small_rates,
        large_rates,
    })
}

/// The interleaved comparison: open orders at its start and every round's rate per side.
struct Interleaved {
    open: (u64, u64),
    small_rates: Vec<f64>,
    large_rates: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `rounds` creation runs at `clients` clients: the best one (with the errors of all), every
/// round's rate, and the median CPU time of this process per order (warm-up included).
async fn create_orders(options: &Options, client: &Arc<Client>) -> (Level, Vec<f64>, Option<f64>) {
    let mut best: Option<Level> = None;
    let mut rates = Vec::new();
    let mut cpu = Vec::new();
    let mut errors = 0;
    for _ in 0..options.rounds.max(1) {
        let client = Arc::clone(client);
        let cpu_before = cpu_micros();
        let level = measure(options.clients, options.seconds, move |n| {
            create_order(Arc::clone(&client), n)
        })
        .await;
        // The warm-up second created orders at about the same rate.
        let orders = level.per_second * (options.seconds + 1) as f64;
        if let (Some(before), Some(after)) = (cpu_before, cpu_micros())
            && orders > 0.0
        {
            cpu.push((after - before) as f64 / orders);
        }
        rates.push(level.per_second);
        errors += level.errors;
        if best
            .as_ref()
            .is_none_or(|b| level.per_second > b.per_second)
        {
            best = Some(level);
        }
    }
    cpu.sort_by(f64::total_cmp);
    let cpu_per_order = cpu.get(cpu.len() / 2).copied();
    let best = best.map_or(
        Level {
            clients: options.clients,
            per_second: 0.0,
            p50: 0,
            p99: 0,
            errors,
        },
        |level| Level { errors, ..level },
    );
    (best, rates, cpu_per_order)
}

/// User and system CPU time of this process so far (`/proc/self/stat`, in clock ticks of
/// 10 ms), in microseconds.
fn cpu_micros() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the parenthesised command name, utime and stime are the 12th and 13th fields.
    let after = stat.rsplit_once(')')?.1;
    let fields = after.split_whitespace().collect::<Vec<_>>();
    let utime: i64 = fields.get(11)?.parse().ok()?;
    let stime: i64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000)
}

struct Lookups {
    single: Option<Summary>,
    batch: Option<Summary>,
    wrong: usize,
    expiry: Option<Summary>,
    count_by_status: Option<Summary>,
}

/// Times the watcher's match lookup for one seeded address and for batches of `BATCH`
/// recipients of which `BATCH_OURS` are seeded; also the expiry worker's query and the
/// `/metrics` order count.
async fn time_lookups(gateway: &BenchGateway, lookups: usize, seeded: u64) -> Lookups {
    let store = &gateway.gateway.store;
    let mut random = SplitMix(seeded ^ 0x5eed);
    let mut wrong = 0usize;
    let mut single = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let address = seeded_address(random.below(seeded));
        let started = Instant::now();
        let found = store.orders_by_deposit_addresses(&[address.into()]).await;
        single.push(micros(started.elapsed()));
        wrong += usize::from(!matches!(found, Ok(orders) if orders.len() == 1));
    }
    let mut batch = Vec::with_capacity(lookups / 10);
    for _ in 0..(lookups / 10).max(1) {
        let mut recipients = (0..BATCH_OURS)
            .map(|_| Address::from(seeded_address(random.below(seeded))))
            .collect::<Vec<_>>();
        let distinct_ours = {
            let mut sorted = recipients.clone();
            sorted.sort_unstable_by_key(Address::storage_key);
            sorted.dedup();
            sorted.len()
        };
        recipients.extend((BATCH_OURS..BATCH).map(|_| Address::from(random.address())));
        let started = Instant::now();
        let found = store.orders_by_deposit_addresses(&recipients).await;
        batch.push(micros(started.elapsed()));
        wrong += usize::from(!matches!(found, Ok(orders) if orders.len() == distinct_ours));
    }
    let mut expiry = Vec::new();
    let mut count_by_status = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let _ = store
            .orders_due_for_expiry(gateway.gateway.clock.now(), 200)
            .await;
        expiry.push(micros(started.elapsed()));
    }
    for _ in 0..5 {
        let started = Instant::now();
        let _ = store.count_orders_by_status().await;
        count_by_status.push(micros(started.elapsed()));
    }
    Lookups {
        single: summarize(&single),
        batch: summarize(&batch),
        wrong,
        expiry: summarize(&expiry),
        count_by_status: summarize(&count_by_status),
    }
}

/// The plans of the match query (the store's SQL) for one address and for a chunk of 5000
/// (the most the store looks up in one statement), and whether both use the deposit address
/// index.
async fn plan(engine: Engine, pool: &AnyPool, seeded: u64) -> Plan {
    let mut random = SplitMix(seeded ^ 0x91a2);
    let mut list = |count: usize| {
        (0..count)
            .map(|_| seeded_address(random.below(seeded)).to_lower_hex())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (one, chunk) = (list(1), list(5000));
    let single = explain(engine, pool, &one).await;
    let chunk = explain(engine, pool, &chunk).await;
    // SQLite writes "SEARCH orders USING INDEX …" for an index and "SCAN orders" for a full
    // scan; PostgreSQL "Index Scan" / "Bitmap Index Scan" and "Seq Scan".
    let uses_index = |plan: &str| {
        let plan = plan.to_lowercase();
        (plan.contains("using index")
            || plan.contains("using covering index")
            || plan.contains("index scan"))
            && !plan.contains("seq scan")
            && !plan.contains("scan orders")
    };
    Plan {
        single_indexed: uses_index(&single),
        chunk_indexed: uses_index(&chunk),
        single,
        chunk,
    }
}

/// The plan's node lines, without costs and conditions, for the addresses of `list`
/// (comma-separated, as the store passes them).
async fn explain(engine: Engine, pool: &AnyPool, list: &str) -> String {
    let sql = match engine {
        Engine::Sqlite => format!(
            "explain query plan select * from orders where deposit_address in \
             (select value from json_each('[\"' || replace('{list}', ',', '\",\"') || '\"]'))"
        ),
        Engine::Postgres => format!(
            "explain select * from orders where deposit_address in \
             (select unnest(string_to_array('{list}', ',')))"
        ),
    };
    match sqlx::query(&sql).fetch_all(pool).await {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| match engine {
                Engine::Sqlite => row.try_get::<String, _>("detail").ok(),
                Engine::Postgres => row.try_get::<String, _>(0).ok(),
            })
            .map(|line| {
                let line = line.split("  (cost=").next().unwrap_or_default();
                line.trim().trim_start_matches("-> ").to_owned()
            })
            .filter(|line| {
                !line.contains("Cond:") && !line.contains("Filter:") && !line.contains("Key:")
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(error) => format!("explain failed: {error}"),
    }
}

/// VmRSS of this process (the gateway runs in it), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The database's size on disk: SQLite's files (database, log), PostgreSQL's
/// `pg_database_size`.
async fn database_bytes(engine: Engine, pool: &AnyPool, url: &str) -> Option<u64> {
    match engine {
        Engine::Sqlite => {
            let path = url.strip_prefix("sqlite://")?;
            let total = ["", "-wal", "-shm"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{path}{suffix}")).ok())
                .map(|meta| meta.len())
                .sum();
            Some(total)
        }
        Engine::Postgres => {
            let row = sqlx::query("select pg_database_size(current_database()) as n")
                .fetch_one(pool)
                .await
                .ok()?;
            u64::try_from(row.try_get::<i64, _>("n").ok()?).ok()
        }
    }
}

/// splitmix64: enough randomness to pick addresses, without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A random address (practically never one of ours).
    fn address(&mut self) -> EvmAddress {
        let mut bytes = [0u8; 20];
        for chunk in bytes.chunks_mut(8) {
            let value = self.next().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
        EvmAddress::from_bytes(bytes)
    }
}

fn opt_ms(summary: Option<Summary>, pick: fn(&Summary) -> i64) -> String {
    summary.map_or_else(|| "–".into(), |s| ms(pick(&s)))
}

fn size_text(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "–".into(),
        |b| format!("{:.0} MiB", b as f64 / 1024.0 / 1024.0),
    )
}

fn markdown(options: &Options, results: &[EngineResult], skipped: &[String]) -> String {
    let mut text = format!(
        "A gateway wired like `wcheckout serve` (default configuration, chain watcher off) with one \
         app. Open orders (`PAYING`, due in ten years so that the expiry worker leaves them alone, \
         distinct order numbers, page tokens, address indexes reserved from the address counter, \
         synthetic deposit addresses spread over the index) are seeded by bulk SQL into its \
         database (PostgreSQL `generate_series`, SQLite a recursive CTE, {chunk} per transaction; \
         then SQLite checkpoints its log, PostgreSQL runs `vacuum (analyze) orders`, `analyze` and \
         `checkpoint`, as autovacuum keeps up with a table that grows over days; a first version \
         without the vacuum measured PostgreSQL a third slower at a million orders, with \
         autovacuum working through the freshly loaded rows during the rounds) until the given \
         number is open; the database grows from one size to the next. At each size: {clients} \
         closed-loop clients send signed CreateCheckoutOrder requests as in the `orders` benchmark \
         ({rounds} rounds of one second of warm-up and {seconds} s measured); the harness \
         process's resident memory (`VmRSS`; the gateway, its SQLite page caches and the clients \
         run in it) and the database's size on disk; then the store lookup the chain watcher \
         matches transfers with (`orders_by_deposit_addresses`), {lookups} times for one seeded \
         address and {batches} times for {batch} recipients of which {ours} are seeded addresses \
         (the store looks them up 5000 per statement), directly on the store's read pool.\n\n\
         Other work on this 2-CPU machine (builds, tests) moves a round's rate by tens of percent, \
         so the creation rates are compared **interleaved**: after the sizes above, a second \
         gateway on a fresh database with the smallest number of open orders runs rounds in turn \
         with the grown one (small, large, large, small, …, {rounds} rounds each), and the \
         medians are compared.\n\n\
         | Engine | Open orders | Rounds, small (orders/s) | Rounds, large (orders/s) | Median small | Median large | **Change** |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        chunk = SEED_CHUNK,
        clients = options.clients,
        seconds = options.seconds,
        rounds = options.rounds,
        lookups = options.lookups,
        batches = (options.lookups / 10).max(1),
        batch = BATCH,
        ours = BATCH_OURS,
    );
    interleaved_rows(&mut text, results);
    sizes_table(&mut text, results);
    details_table(&mut text, results);
    plans(&mut text, results);
    for line in skipped {
        let _ = writeln!(text, "\n{line}");
    }
    text
}

/// The rows of the interleaved comparison.
fn interleaved_rows(text: &mut String, results: &[EngineResult]) {
    let rates = |rates: &[f64]| {
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for result in results {
        if let Some(run) = &result.interleaved {
            let (small, large) = (median(&run.small_rates), median(&run.large_rates));
            let change = if small > 0.0 {
                format!("{:+.0}%", 100.0 * (large - small) / small)
            } else {
                "–".into()
            };
            let _ = writeln!(
                *text,
                "| {} | {} → {} | {} | {} | {small:.0} | {large:.0} | **{change}** |",
                result.engine.name(),
                run.open.0,
                run.open.1,
                rates(&run.small_rates),
                rates(&run.large_rates),
            );
        }
    }
}

/// The table of the sizes, in the order run.
fn sizes_table(text: &mut String, results: &[EngineResult]) {
    let _ = write!(
        *text,
        "\nAt each size, in the order run (the best creation round; the database grows between \
         the rows of an engine):\n\n\
         | Engine | Open orders | Orders/s | p50 / p99 | RSS | Database | **Match 1** p50 / p99 | **Match {BATCH}** p50 / p99 | Plan, 1 / 5000 addresses |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    );
    for result in results {
        for size in &result.sizes {
            let _ = writeln!(
                *text,
                "| {} | {} | {:.0} | {} / {} | {} | {} | **{} / {}** | **{} / {}** | {} |",
                result.engine.name(),
                size.open_orders,
                size.creation.per_second,
                ms(size.creation.p50),
                ms(size.creation.p99),
                size.rss_kib
                    .map_or_else(|| "–".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
                size_text(size.database_bytes),
                opt_ms(size.single, |s| s.p50),
                opt_ms(size.single, |s| s.p99),
                opt_ms(size.batch, |s| s.p50),
                opt_ms(size.batch, |s| s.p99),
                size.plan.summary(),
            );
        }
    }
}

/// Seeding, rounds, CPU, expiry and `/metrics` queries per size.
fn details_table(text: &mut String, results: &[EngineResult]) {
    text.push_str(
        "\nAlso measured at each size: the expiry worker's query (`orders_due_for_expiry`, batch 200, nothing due) and \
         the order count by status that every `/metrics` scrape runs (`count_orders_by_status`: it folds the status deltas that triggers appended since the previous count, so the first count after seeding folds the whole seeding, 5 counts in a row). \
         *Rounds* lists every creation round; *CPU per order* is this process's user and system \
         CPU time (gateway, clients and, for SQLite, the database itself) per created order, the \
         median of the rounds: unlike the rate it barely depends on other work on the machine \
         (for PostgreSQL the server's own CPU is not in it); *Errors* sums all rounds.\n\n\
         | Engine | Open orders | Seeded (time) | Rounds (orders/s) | CPU per order | Errors | Wrong matches | Expiry query p50 / p99 | `/metrics` count p50 / max |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for result in results {
        for size in &result.sizes {
            let _ = writeln!(
                *text,
                "| {} | {} | {} ({:.1} s) | {} | {} | {} | {} | {} / {} | {} / {} |",
                result.engine.name(),
                size.open_orders,
                size.seeded,
                size.seed_time.as_secs_f64(),
                size.rates
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                size.cpu_per_order
                    .map_or_else(|| "–".into(), |us| format!("{us:.0} µs")),
                size.creation.errors,
                size.wrong_matches,
                opt_ms(size.expiry_round, |s| s.p50),
                opt_ms(size.expiry_round, |s| s.p99),
                opt_ms(size.count_by_status, |s| s.p50),
                opt_ms(size.count_by_status, |s| s.max),
            );
        }
    }
}

/// The plans at the largest size.
fn plans(text: &mut String, results: &[EngineResult]) {
    text.push_str(
        "\nPlans of the match query (`explain query plan` / `explain`, the store's SQL with one \
         and with 5000 seeded addresses), at the largest size (PostgreSQL may plan a sequential \
         scan while the table is small, where it is the cheaper plan, and the index once it is \
         not):\n\n",
    );
    for result in results {
        if let Some(size) = result.sizes.last() {
            let _ = writeln!(
                *text,
                "- {}: one address: `{}`; 5000 addresses: `{}`.",
                result.engine.name(),
                size.plan.single,
                size.plan.chunk,
            );
        }
    }
}
