//! Seeding open orders by bulk SQL straight into a gateway's database, for the scale
//! benchmark: distinct order numbers, page tokens, address indexes reserved from the gateway's
//! counter, synthetic deposit addresses spread over the index, deadlines far ahead.

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};
use wcheckout_domain::address::EvmAddress;

use crate::database::Engine;

/// Orders seeded per statement (each its own transaction, so the gateway's writer never waits
/// long behind the seeding).
pub(crate) const SEED_CHUNK: u64 = 100_000;

/// Seeded orders are due this far ahead: the expiry worker never picks them.
const FAR_AHEAD_MICROS: i64 = 10 * 365 * 24 * 3600 * 1_000_000;

/// One connection for the bulk writes or the catalogue queries; for SQLite a long busy timeout
/// (the gateway's writer may hold the lock for a moment) and, for the bulk load, a large page
/// cache.
pub(crate) async fn connect(engine: Engine, url: &str, bulk: bool) -> anyhow::Result<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    conn.execute("pragma busy_timeout = 60000;").await?;
                    if bulk {
                        conn.execute("pragma cache_size = -262144;").await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

pub(super) async fn open_orders(pool: &AnyPool) -> anyhow::Result<u64> {
    let row = sqlx::query("select count(*) as n from orders where status = 'PAYING'")
        .fetch_one(pool)
        .await
        .context("counting open orders")?;
    let n: i64 = row.try_get("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The synthetic deposit address of seeded order `i`: a scrambled prefix (so that the seeded
/// keys are spread over the index like real, random addresses), `feed`, and `i` itself (so
/// that they are distinct). Mirrors [`address_sql`].
pub(super) fn seeded_address(i: u64) -> EvmAddress {
    let text = format!("0x{:010}feed{i:026}", scramble(i));
    EvmAddress::parse(&text).unwrap_or(EvmAddress::from_bytes([0; 20]))
}

/// A bijection of `0..2^32` (an odd multiplier modulo 2^32).
pub(super) fn scramble(i: u64) -> u64 {
    i.wrapping_mul(2_654_435_761) % (1 << 32)
}

/// [`seeded_address`] and the page token in SQL, over a column `i`.
pub(crate) fn address_sql(engine: Engine) -> (&'static str, &'static str) {
    match engine {
        Engine::Sqlite => (
            "printf('0x%010dfeed%026d', (i * 2654435761) % 4294967296, i)",
            "printf('seed%010d-%d', (i * 2654435761) % 4294967296, i)",
        ),
        Engine::Postgres => (
            "'0x' || lpad(((i * 2654435761) % 4294967296)::text, 10, '0') || 'feed' \
             || lpad(i::text, 26, '0')",
            "'seed' || lpad(((i * 2654435761) % 4294967296)::text, 10, '0') || '-' || i",
        ),
    }
}

/// Inserts `count` open orders numbered from `first`, in chunks, with address indexes
/// reserved from the counter the gateway allocates from.
pub(super) async fn seed(
    engine: Engine,
    pool: &AnyPool,
    app_id: &str,
    first: u64,
    count: u64,
    now_micros: i64,
) -> anyhow::Result<()> {
    let mut done = 0u64;
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
        let from = i64::try_from(first + done)?;
        let to = from + i64::try_from(n)? - 1;
        // address_index = first reserved index + (i - from)
        let index_offset = end - i64::try_from(n)? - from;
        sqlx::query(&seed_sql(engine))
            .bind(from)
            .bind(to)
            .bind(app_id.to_owned())
            .bind(index_offset)
            .bind(now_micros.saturating_add(FAR_AHEAD_MICROS))
            .bind(now_micros)
            .execute(pool)
            .await
            .with_context(|| format!("seeding orders {from}..={to}"))?;
        done += n;
    }
    Ok(())
}

/// One insert of orders `$1..=$2` for app `$3`, address index `i + $4`, due at `$5`, created
/// `$6` minus a millisecond per order still to come.
pub(super) fn seed_sql(engine: Engine) -> String {
    let (address, page_token) = address_sql(engine);
    let (series, sysid, amount, zero) = match engine {
        Engine::Sqlite => (
            "with recursive s(i) as (select $1 union all select i + 1 from s where i < $2) ",
            "printf('OR%019d', i)",
            "'10500000'",
            "'0'",
        ),
        Engine::Postgres => ("", "'OR' || lpad(i::text, 19, '0')", "10500000", "0"),
    };
    let from = match engine {
        Engine::Sqlite => "from s",
        Engine::Postgres => "from generate_series($1::bigint, $2::bigint) as s(i)",
    };
    format!(
        "{series}insert into orders (sysid, app_id, order_no, merchant_id, customer_id, token, \
         fiat, order_amount, exchange_rate, paying_amount, min_accepted_amount, paid_amount, \
         refunded_amount, deposit_address, address_index, status, tx_hash, expires_at, \
         pc_callback_url, app_callback_url, page_token, request_fingerprint, created_at, \
         updated_at, version, alert) \
         select {sysid}, $3, 'seed-' || i, 'm1', 'c' || (i % 1000), 'ETH_USDT', 'USD', '10.5', \
         '1', {amount}, {amount}, {zero}, {zero}, {address}, i + $4, 'PAYING', null, $5, null, \
         null, {page_token}, 'seed', $6 - ($2 - i) * 1000, $6 - ($2 - i) * 1000, 1, null {from}"
    )
}

/// After a bulk load: SQLite folds its write-ahead log back into the database and gives its
/// page cache back; PostgreSQL vacuums and analyzes the orders (what autovacuum would otherwise
/// start doing in the middle of the measurement: a real table reaches a million rows over days,
/// with autovacuum keeping up) and checkpoints.
pub(crate) async fn settle(engine: Engine, pool: &AnyPool) {
    let statements: &[&str] = match engine {
        Engine::Sqlite => &[
            "pragma wal_checkpoint(truncate)",
            "pragma cache_size = 0",
            "pragma shrink_memory",
        ],
        Engine::Postgres => &["vacuum (analyze) orders", "analyze", "checkpoint"],
    };
    for sql in statements {
        if let Err(error) = pool.execute(*sql).await {
            eprintln!("  {sql}: {error}");
        }
    }
}
