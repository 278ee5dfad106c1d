//! The console with 1,000,000 orders: the order list's first page, a page 100 pages deep (by
//! keyset), the list filtered by status, and search by order number, transaction hash, deposit
//! address and customer id, each timed over HTTP with a signed-in session (median of 7, after
//! one warm-up request), on each engine.
//!
//! The orders are seeded by bulk SQL straight into the gateway's database, like the scale
//! benchmark's (PostgreSQL `generate_series`, SQLite a recursive CTE), in one app, one
//! millisecond apart, with every status (6 in 10 paid, each paid order with its transfer in
//! `chain_transfers`, as the watcher would record it), 100,000 customers of 10 orders each,
//! distinct order numbers, page tokens, address indexes and deposit addresses.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use sqlx::{AnyPool, Row};
use wcheckout_app::operators::{Actor, OperatorAdmin};

use crate::database::{BenchDatabase, Engine, usable_engines};
use crate::gateway::{BenchGateway, base_config};
use crate::scale::seeding::{SEED_CHUNK, address_sql, connect, settle};
use crate::stats::{micros, ms};

/// `wcheckout-bench console` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Options {
    /// Orders in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) orders: u64,
    /// Timed requests per measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub(crate) repeats: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            orders: 1_000_000,
            repeats: 7,
        }
    }
}

/// The page every figure must stay under.
const TARGET: Duration = Duration::from_millis(100);

/// The operator the harness signs in as.
const OPERATOR: &str = "bench-viewer";
const PASSWORD: &str = "bench-password-0123456789";

/// What one engine measured.
struct EngineResult {
    engine: Engine,
    seed_time: Duration,
    /// (what, path, median, min, max).
    rows: Vec<(String, String, Duration, Duration, Duration)>,
}

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
    let result = measure_engine(options, engine, &database).await;
    database.remove().await;
    result
}

async fn measure_engine(
    options: &Options,
    engine: Engine,
    database: &BenchDatabase,
) -> anyhow::Result<EngineResult> {
    let mut config = base_config(&database.url)?;
    config.watcher.enabled = false;
    let gateway = BenchGateway::start(config).await?;
    let outcome = async {
        let app = gateway.admin().create("console-bench", None, &[]).await;
        let app = app.map_err(|e| anyhow::anyhow!("creating an app: {e}"))?;
        let app_id = app.app_id.as_str().to_owned();
        let operators =
            OperatorAdmin::new(gateway.gateway.store.clone(), gateway.gateway.clock.clone());
        let password = SecretString::from(PASSWORD.to_owned());
        operators
            .create(&Actor::command_line(), OPERATOR, "viewer", None, &password)
            .await
            .map_err(|e| anyhow::anyhow!("creating the operator: {e}"))?;

        eprintln!(
            "console: seeding {} orders on {}",
            options.orders,
            engine.name()
        );
        let started = Instant::now();
        let pool = connect(engine, &database.url, true).await?;
        let now = gateway.gateway.clock.now().micros();
        seed(engine, &pool, &app_id, options.orders, now).await?;
        settle(engine, &pool).await;
        if engine == Engine::Postgres {
            let _ = sqlx::query("vacuum (analyze) chain_transfers")
                .execute(&pool)
                .await;
        }
        let seed_time = started.elapsed();
        let probe = probe(&pool, &app_id, options.orders).await?;
        pool.close().await;
        eprintln!("  seeded in {seed_time:.1?}; signing in");

        let session = sign_in(&gateway.base_url).await?;
        let list = format!("/admin/orders?app={app_id}");
        let deep = page_100(&session, &list).await?;
        let cases = [
            ("order list, first page", list.clone(), String::new()),
            ("order list, page 100 (keyset)", deep, String::new()),
            (
                "order list, status PAYING",
                format!("{list}&status=PAYING"),
                String::new(),
            ),
            (
                "search by orderNo",
                format!("/admin/orders?q={}", probe.order_no),
                probe.sysid.clone(),
            ),
            (
                "search by txHash",
                format!("/admin/orders?q={}", probe.tx_hash),
                probe.sysid.clone(),
            ),
            (
                "search by deposit address",
                format!("/admin/orders?q={}", probe.address),
                probe.sysid.clone(),
            ),
            (
                "search by customerId",
                format!("/admin/orders?q={}", probe.customer),
                probe.sysid.clone(),
            ),
        ];
        let mut rows = Vec::new();
        for (what, path, must_show) in cases {
            let (median, min, max) =
                time_page(&session, &path, &must_show, options.repeats).await?;
            eprintln!("  {what}: {}", ms(micros(median)));
            rows.push((what.to_owned(), path, median, min, max));
        }
        Ok(EngineResult {
            engine,
            seed_time,
            rows,
        })
    }
    .await;
    gateway.stop().await;
    outcome
}

/// One insert of orders `$1..=$2` of app `$3` (address index `i + $4`), created `$5` minus a
/// millisecond per order still to come: statuses by `i % 10` (0-5 paid, 6-7 timed out, 8
/// paying, 9 cancelled), customer `c{i % 100000}`, a paid order's transaction `0x{i:064x}`.
fn orders_sql(engine: Engine) -> String {
    let (address, page_token) = address_sql(engine);
    let (series, from, sysid, tx) = match engine {
        Engine::Sqlite => (
            "with recursive s(i) as (select $1 union all select i + 1 from s where i < $2) ",
            "from s",
            "printf('OR%019d', i)",
            "printf('0x%064x', i)",
        ),
        Engine::Postgres => (
            "",
            "from generate_series($1::bigint, $2::bigint) as s(i)",
            "'OR' || lpad(i::text, 19, '0')",
            "'0x' || lpad(to_hex(i), 64, '0')",
        ),
    };
    let (amount, zero) = match engine {
        Engine::Sqlite => ("'10500000'", "'0'"),
        Engine::Postgres => ("10500000", "0"),
    };
    format!(
        "{series}insert into orders (sysid, app_id, order_no, merchant_id, customer_id, token, \
         fiat, order_amount, exchange_rate, paying_amount, min_accepted_amount, paid_amount, \
         refunded_amount, deposit_address, address_index, status, tx_hash, expires_at, \
         pc_callback_url, app_callback_url, page_token, request_fingerprint, created_at, \
         updated_at, version, alert) \
         select {sysid}, $3, 'seed-' || i, 'm1', 'c' || (i % 100000), 'ETH_USDT', 'USD', \
         '10.5', '1', {amount}, {amount}, \
         case when i % 10 < 6 then {amount} else {zero} end, {zero}, {address}, i + $4, \
         case when i % 10 < 6 then 'PAID' when i % 10 < 8 then 'TIMEOUT' \
              when i % 10 = 8 then 'PAYING' else 'CANCELLED' end, \
         case when i % 10 < 6 then {tx} else null end, \
         $5 - ($2 - i) * 1000 + 3600000000, null, null, {page_token}, 'seed', \
         $5 - ($2 - i) * 1000, $5 - ($2 - i) * 1000, 1, null {from}"
    )
}

/// The paid orders `$2..=$3` (by sysid) of app `$1` get their transfer, as the watcher records
/// one: on `ETH`, in block `address_index`, credited.
const TRANSFERS_SQL: &str = "insert into chain_transfers (chain, tx_hash, log_index, \
    block_number, block_hash, block_time, token, from_address, to_address, amount, order_sysid, \
    state, observed_at) \
    select 'ETH', tx_hash, 0, address_index, tx_hash, created_at, token, \
    '0x00000000000000000000000000000000000000aa', deposit_address, paid_amount, sysid, \
    'CREDITED', created_at from orders \
    where app_id = $1 and sysid >= $2 and sysid <= $3 and status = 'PAID'";

async fn seed(
    engine: Engine,
    pool: &AnyPool,
    app_id: &str,
    count: u64,
    now_micros: i64,
) -> anyhow::Result<()> {
    let mut done = 0u64;
    let sql = orders_sql(engine);
    while done < count {
        let n = SEED_CHUNK.min(count - done);
        let row = sqlx::query(
            "update counters set value = value + $1 where name = 'evm_address_index' \
             returning value",
        )
        .bind(i64::try_from(n)?)
        .fetch_one(pool)
        .await
        .context("reserving address indexes")?;
        let end: i64 = row.try_get("value")?;
        let from = i64::try_from(done)?;
        let to = from + i64::try_from(n)? - 1;
        let index_offset = end - i64::try_from(n)? - from;
        // Created so that the last order is `now`; the chunks go oldest first.
        let last_created = now_micros - i64::try_from(count - 1 - (done + n - 1))? * 1000;
        sqlx::query(&sql)
            .bind(from)
            .bind(to)
            .bind(app_id.to_owned())
            .bind(index_offset)
            .bind(last_created)
            .execute(pool)
            .await
            .with_context(|| format!("seeding orders {from}..={to}"))?;
        sqlx::query(TRANSFERS_SQL)
            .bind(app_id.to_owned())
            .bind(format!("OR{from:019}"))
            .bind(format!("OR{to:019}"))
            .execute(pool)
            .await
            .with_context(|| format!("seeding the transfers of orders {from}..={to}"))?;
        done += n;
        eprintln!("  {done} orders");
    }
    Ok(())
}

/// A paid order in the middle of the table, found by each search.
struct Probe {
    sysid: String,
    order_no: String,
    tx_hash: String,
    address: String,
    customer: String,
}

async fn probe(pool: &AnyPool, app_id: &str, orders: u64) -> anyhow::Result<Probe> {
    // Order i with i % 10 == 0 (paid) near the middle.
    let i = (orders / 2) / 10 * 10;
    let row = sqlx::query(
        "select sysid, order_no, tx_hash, deposit_address, customer_id from orders \
         where app_id = $1 and sysid = $2",
    )
    .bind(app_id.to_owned())
    .bind(format!("OR{i:019}"))
    .fetch_one(pool)
    .await
    .context("reading the probe order")?;
    Ok(Probe {
        sysid: row.try_get("sysid")?,
        order_no: row.try_get("order_no")?,
        tx_hash: row.try_get("tx_hash")?,
        address: row.try_get("deposit_address")?,
        customer: row.try_get("customer_id")?,
    })
}

/// A signed-in session over HTTP: its client (no redirects followed) and cookie.
struct Session {
    http: reqwest::Client,
    base_url: String,
    cookie: String,
}

/// The value of `name` in the answer's `Set-Cookie` headers.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?;
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.to_owned())
        })
}

async fn sign_in(base_url: &str) -> anyhow::Result<Session> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let form = http.get(format!("{base_url}/admin/login")).send().await?;
    let csrf = set_cookie(&form, "wcheckout_login").context("the sign-in form's cookie")?;
    let signed_in = http
        .post(format!("{base_url}/admin/login"))
        .header(reqwest::header::COOKIE, format!("wcheckout_login={csrf}"))
        .form(&[
            ("username", OPERATOR),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await?;
    if signed_in.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("signing in answered {}", signed_in.status());
    }
    let token = set_cookie(&signed_in, "wcheckout_session").context("the session cookie")?;
    Ok(Session {
        http,
        base_url: base_url.to_owned(),
        cookie: format!("wcheckout_session={token}"),
    })
}

impl Session {
    async fn get(&self, path: &str) -> anyhow::Result<String> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        if status != reqwest::StatusCode::OK {
            bail!("{path} answered {status}: {body}");
        }
        Ok(body)
    }
}

/// The link to page 100, following "Next" 99 times from `first`.
async fn page_100(session: &Session, first: &str) -> anyhow::Result<String> {
    let mut path = first.to_owned();
    for _ in 1..100 {
        let body = session.get(&path).await?;
        let marker = r#"rel="next" href=""#;
        let at = body.find(marker).context("a Next link")? + marker.len();
        path = body[at..at + body[at..].find('"').context("the link's end")?].replace("&amp;", "&");
    }
    Ok(path)
}

/// The median, fastest and slowest of `repeats` requests of `path` (after one not timed), each
/// answer checked to show `must_show` (when given) and a list row.
async fn time_page(
    session: &Session,
    path: &str,
    must_show: &str,
    repeats: usize,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let check = |body: &str| -> anyhow::Result<()> {
        if !body.contains(r#"href="/admin/orders/OR"#) {
            bail!("{path} lists no order");
        }
        if !must_show.is_empty() && !body.contains(must_show) {
            bail!("{path} does not show {must_show}");
        }
        Ok(())
    };
    check(&session.get(path).await?)?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let body = session.get(path).await?;
        times.push(started.elapsed());
        check(&body)?;
    }
    times.sort();
    Ok((times[times.len() / 2], times[0], times[times.len() - 1]))
}

fn markdown(options: &Options, results: &[EngineResult], skipped: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} orders in one app, seeded by bulk SQL (6 in 10 paid, each with its transfer; \
         100,000 customers of 10 orders), migrations up to `0012_console_lists`. Each figure is \
         the median of {} requests over HTTP with a signed-in viewer's session (session check, \
         query, HTML), after one warm-up request; in brackets the fastest and slowest. Target: \
         every page under {} ms.\n",
        options.orders,
        options.repeats,
        TARGET.as_millis()
    );
    let engines: Vec<&str> = results.iter().map(|r| r.engine.name()).collect();
    let _ = writeln!(out, "| Page | {} |", engines.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(results.len()));
    if let Some(first) = results.first() {
        for (index, (what, _, _, _, _)) in first.rows.iter().enumerate() {
            let cells: Vec<String> = results
                .iter()
                .map(|r| {
                    let (_, _, median, min, max) = &r.rows[index];
                    let mark = if *median < TARGET {
                        ""
                    } else {
                        " **over target**"
                    };
                    format!(
                        "{} ({}–{}){mark}",
                        ms(micros(*median)),
                        ms(micros(*min)),
                        ms(micros(*max))
                    )
                })
                .collect();
            let _ = writeln!(out, "| {what} | {} |", cells.join(" | "));
        }
    }
    let seeds: Vec<String> = results
        .iter()
        .map(|r| format!("{} {:.1} s", r.engine.name(), r.seed_time.as_secs_f64()))
        .collect();
    let _ = writeln!(
        out,
        "\nSeeding (orders, transfers, then `VACUUM ANALYZE` on PostgreSQL): {}.",
        seeds.join(", ")
    );
    if let Some(first) = results.first() {
        let _ = writeln!(out, "\nThe paths requested (`APP` is the app's id):\n");
        for (what, path, _, _, _) in &first.rows {
            let _ = writeln!(out, "- {what}: `{}`", shorten(path));
        }
    }
    for note in skipped {
        let _ = writeln!(out, "\n{note}");
    }
    out
}

/// `path` with the app's id written `APP`.
fn shorten(path: &str) -> String {
    match path.find("app=app_") {
        Some(at) => {
            let end = path[at..].find('&').map_or(path.len(), |e| at + e);
            format!("{}app=APP{}", &path[..at], &path[end..])
        }
        None => path.to_owned(),
    }
}
