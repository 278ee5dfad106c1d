//! The wcheckout store: every port of [`wcheckout_domain::ports`] over SQL, for both engines.
//!
//! One implementation serves SQLite and PostgreSQL through sqlx's `Any` driver; the statements
//! are written once (see [`Engine::sql`] for the only difference). SQLite gets a single writer
//! connection, so writes never race for its lock; PostgreSQL gets one pool and relies on
//! compare-and-set and unique keys, so several gateway processes can share it.
//! No business rule lives here: the store persists what use cases decide.

mod apps;
pub mod backup;
mod chain;
mod changes;
mod checkpoint;
mod console;
mod engine;
mod group_commit;
mod ledger;
mod list;
mod migrate;
mod money;
mod money_changes;
mod money_rows;
mod operators;
mod order_inserts;
mod orders;
mod outbox;
mod reconciliations;
mod rows;
mod sessions;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use wcheckout_domain::ports::{Health, StoreError};

use crate::group_commit::{Batcher, ClosureWrites, GroupCommit};
use crate::order_inserts::OrderInserts;

pub use engine::Engine;

/// Pool settings.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections to PostgreSQL, or readers of SQLite.
    pub max_connections: u32,
    /// How long a request waits for a free connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// Group-commit lanes on PostgreSQL (each holds a connection while it commits a batch);
    /// SQLite has one, as it has one writer.
    pub commit_lanes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            commit_lanes: 4,
        }
    }
}

/// The SQL store.
#[derive(Clone, Debug)]
pub struct SqlStore {
    engine: Engine,
    writer: AnyPool,
    reader: AnyPool,
    /// The hot small writes (replay marks, webhook claims and results) commit in groups.
    group: GroupCommit,
    /// Order creation's writes, batched into multi-row statements by one committer: the
    /// largest batches, and a batch costs the database about the same whatever its size.
    order_inserts: Batcher<OrderInserts>,
}

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no supported engine.
    #[error("database.url must start with sqlite: or postgres://")]
    UnsupportedUrl,
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl SqlStore {
    /// Connects, configures and migrates. For SQLite the file is created when missing.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<SqlStore, OpenError> {
        install_default_drivers();
        let engine = Engine::from_url(url).ok_or(OpenError::UnsupportedUrl)?;
        // SQLite settings are per connection: every connection the pools open gets them, and
        // the writer's its own besides.
        let pool = |max: u32, writer_pragmas: Option<&'static str>| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(options.acquire_timeout)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if engine == Engine::Sqlite {
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        if let Some(pragmas) = writer_pragmas {
                            conn.execute(pragmas).await?;
                        }
                        Ok(())
                    })
                })
        };
        let store = match engine {
            Engine::Postgres => {
                let pool = pool(options.max_connections, None).connect(url).await;
                let pool = pool.map_err(OpenError::Connect)?;
                SqlStore {
                    engine,
                    group: GroupCommit::start(&pool, pg_commit_lanes(options), ClosureWrites),
                    order_inserts: Batcher::start(&pool, 1, OrderInserts { engine }),
                    writer: pool.clone(),
                    reader: pool,
                }
            }
            Engine::Sqlite => {
                let url = sqlite_url_creating_file(url);
                let writer = pool(1, Some(WRITER_PRAGMAS)).connect(&url).await;
                let writer = writer.map_err(OpenError::Connect)?;
                let reader = pool(options.max_connections, None).connect(&url).await;
                let reader = reader.map_err(OpenError::Connect)?;
                checkpoint::spawn(reader.clone());
                SqlStore {
                    engine,
                    group: GroupCommit::start(&writer, 1, ClosureWrites),
                    order_inserts: Batcher::start(&writer, 1, OrderInserts { engine }),
                    writer,
                    reader,
                }
            }
        };
        let migrator = migrate::migrator(engine);
        migrator
            .run(&store.writer)
            .await
            .map_err(OpenError::Migrate)?;
        Ok(store)
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A transaction that reads and then writes. On SQLite it begins `IMMEDIATE`: it takes the
    /// write lock at once (waiting `busy_timeout` for another process's), since a deferred one
    /// whose read came before another process's commit cannot write at all ("database is
    /// locked", at once, whatever the timeout).
    pub(crate) async fn begin_read_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let begin = match self.engine {
            Engine::Sqlite => "begin immediate",
            Engine::Postgres => "begin",
        };
        self.writer.begin_with(begin).await.map_err(store_error)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Every SQLite connection: foreign keys enforced, a locked database waited for.
const SQLITE_PRAGMAS: &str = "pragma foreign_keys = on; pragma busy_timeout = 5000;";

/// The SQLite writer, besides: WAL lets readers proceed while it commits, FULL syncs every
/// commit, and it checkpoints the log itself only as a backstop (see [`checkpoint`]).
const WRITER_PRAGMAS: &str =
    "pragma journal_mode = wal; pragma synchronous = full; pragma wal_autocheckpoint = 16384;";

/// Lanes leave at least three quarters of the pool to reads and other writes.
fn pg_commit_lanes(options: &StoreOptions) -> usize {
    let quarter = usize::try_from(options.max_connections / 4).unwrap_or(1);
    options.commit_lanes.min(quarter).max(1)
}

fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A statement with its bound parameters, as the `bind_…` helpers extend it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Maps a driver error: connection trouble is `Unavailable`, the rest `Internal`.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Database(ref db) if is_busy(db.code().as_deref()) => {
            StoreError::Unavailable(error.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

/// SQLite busy/locked; PostgreSQL deadlock and serialization failure (the transaction was
/// rolled back and may simply be tried again), connection failure and admin shutdown classes.
fn is_busy(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("5" | "6" | "40P01" | "40001" | "57P01" | "57P02" | "57P03")
    ) || code.is_some_and(|c| c.starts_with("08"))
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.reader)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
