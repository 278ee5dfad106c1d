//! Online backup and restore of a SQLite database. A backup is taken while the gateway runs:
//! `VACUUM INTO` copies one consistent snapshot (a read transaction, so the gateway's writer
//! goes on committing), into a file of its own that is checked before it gets its final name.
//! PostgreSQL has its own tools for this (`pg_dump`, point-in-time recovery: docs/deploy.md).

use std::path::{Path, PathBuf};
use std::time::Instant;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use wcheckout_domain::ports::StoreError;

use crate::engine::Engine;
use crate::money::PAYOUTS_HELD;
use crate::{SqlStore, migrate, store_error};

/// What a backup or restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The copy's size.
    pub bytes: u64,
    /// Orders in it.
    pub orders: i64,
    /// The newest migration applied to it.
    pub schema_version: i64,
    /// How long the copy took, milliseconds.
    pub took_ms: u128,
}

/// Why a backup or restore did not happen. Nothing is left at the destination when it fails.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is not SQLite.
    #[error(
        "backup and restore copy a SQLite database; back up PostgreSQL with pg_dump or \
         point-in-time recovery (docs/deploy.md)"
    )]
    NotSqlite,
    /// The destination exists already.
    #[error("{0} exists already: {1}")]
    Exists(PathBuf, &'static str),
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// SQLite refused.
    #[error("{0}: {1}")]
    Database(PathBuf, sqlx::Error),
    /// The copy is damaged or not a wcheckout database.
    #[error("{0} is not a sound wcheckout database: {1}")]
    Unsound(PathBuf, String),
    /// The copy was written by a newer wcheckout.
    #[error(
        "{path} has schema version {found}, newer than this wcheckout's {known}: restore it \
         with the release that wrote it"
    )]
    TooNew {
        /// The copy.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

/// The file a `sqlite:` database URL names (`sqlite://./data/w.db`, `sqlite:w.db?mode=rwc`).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if Engine::from_url(url) != Some(Engine::Sqlite) || url.contains(":memory:") {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Copies the database `url` names into `to`, a file that must not exist, while the gateway
/// may be running; the copy is checked (integrity, schema) before it takes its name.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<BackupSummary, BackupError> {
    let source = sqlite_file(url).ok_or(BackupError::NotSqlite)?;
    refuse_existing(to, "a backup never replaces a file")?;
    let started = Instant::now();
    let partial = partial_of(to);
    let _ = std::fs::remove_file(&partial);
    let copied = async {
        let mut conn = open(&source, true).await?;
        sqlx::query("vacuum into $1")
            .bind(partial.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await
            .map_err(|e| BackupError::Database(source.clone(), e))?;
        let _ = conn.close().await;
        let summary = inspect(&partial).await?;
        publish(&partial, to)?;
        Ok(summary)
    }
    .await;
    finish(copied, &partial, started)
}

/// Puts the backup `from` where `url` names the database, which must not exist yet (restore
/// into a fresh data directory; move a damaged database away first). The gateway applies any
/// newer migration at its next start.
///
/// A backup does not know what happened after it was taken, so the restored database is made
/// safe for that: deposit address indexes jump `skip_addresses` ahead (orders made after the
/// backup may hold the next ones: no new order may get their addresses), and new payouts are
/// held (a payout queued in the backup may have been paid since: nothing is signed until the
/// operator has reconciled and released the hold).
pub async fn restore_sqlite(
    from: &Path,
    url: &str,
    skip_addresses: u64,
) -> Result<BackupSummary, BackupError> {
    let target = sqlite_file(url).ok_or(BackupError::NotSqlite)?;
    let move_away = "restore into a fresh data directory (move the current database away first)";
    for existing in [target.clone(), sidecar(&target, "-wal")] {
        refuse_existing(&existing, move_away)?;
    }
    let started = Instant::now();
    inspect(from).await?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BackupError::Io(dir.to_path_buf(), e))?;
    }
    let partial = partial_of(&target);
    let copied = async {
        std::fs::copy(from, &partial).map_err(|e| BackupError::Io(partial.clone(), e))?;
        make_restored_safe(&partial, skip_addresses).await?;
        let summary = inspect(&partial).await?;
        publish(&partial, &target)?;
        Ok(summary)
    }
    .await;
    finish(copied, &partial, started)
}

/// Moves every deposit address counter `$1` ahead.
const SKIP_ADDRESSES: &str =
    "update counters set value = value + $1 where name like '%address_index'";
/// Holds new payouts (`$1` is the hold's counter name).
const HOLD_PAYOUTS: &str = "insert into counters (name, value) values ($1, 1) \
     on conflict (name) do update set value = 1";

fn skip_of(skip_addresses: u64) -> i64 {
    i64::try_from(skip_addresses).unwrap_or(i64::MAX)
}

async fn make_restored_safe(path: &Path, skip_addresses: u64) -> Result<(), BackupError> {
    let mut conn = open(path, false).await?;
    let fail = |e| BackupError::Database(path.to_path_buf(), e);
    let mut tx = conn.begin().await.map_err(fail)?;
    sqlx::query(SKIP_ADDRESSES)
        .bind(skip_of(skip_addresses))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    sqlx::query(HOLD_PAYOUTS)
        .bind(PAYOUTS_HELD)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    let _ = conn.close().await;
    Ok(())
}

impl SqlStore {
    /// Makes a database restored in place by other means (PostgreSQL's `pg_restore` or
    /// point-in-time recovery) as safe as [`restore_sqlite`] makes its copy: deposit address
    /// indexes `skip_addresses` ahead, new payouts held.
    pub async fn mark_restored(&self, skip_addresses: u64) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(store_error)?;
        sqlx::query(SKIP_ADDRESSES)
            .bind(skip_of(skip_addresses))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(HOLD_PAYOUTS)
            .bind(PAYOUTS_HELD)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }
}

fn refuse_existing(path: &Path, advice: &'static str) -> Result<(), BackupError> {
    if path.exists() {
        return Err(BackupError::Exists(path.to_path_buf(), advice));
    }
    Ok(())
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where a copy is written before it is checked and renamed: beside its destination, so the
/// rename is atomic.
fn partial_of(path: &Path) -> PathBuf {
    sidecar(path, ".partial")
}

/// Removes a copy that failed; stamps the time of one that succeeded.
fn finish(
    result: Result<BackupSummary, BackupError>,
    partial: &Path,
    started: Instant,
) -> Result<BackupSummary, BackupError> {
    match result {
        Ok(summary) => Ok(BackupSummary {
            took_ms: started.elapsed().as_millis(),
            ..summary
        }),
        Err(error) => {
            let _ = std::fs::remove_file(partial);
            Err(error)
        }
    }
}

async fn open(path: &Path, read_only: bool) -> Result<SqliteConnection, BackupError> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| BackupError::Database(path.to_path_buf(), e))
}

/// Checks a copy: SQLite's integrity check, a wcheckout schema no newer than ours; what it holds.
async fn inspect(path: &Path) -> Result<BackupSummary, BackupError> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| BackupError::Io(path.to_path_buf(), e))?
        .len();
    let mut conn = open(path, true).await?;
    let unsound = |detail: String| BackupError::Unsound(path.to_path_buf(), detail);
    let db_error = |e: sqlx::Error| unsound(e.to_string());
    let check: String = sqlx::query("pragma integrity_check")
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)?;
    if check != "ok" {
        return Err(unsound(check));
    }
    let version: i64 = sqlx::query("select coalesce(max(version), 0) from _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)?;
    let orders: i64 = sqlx::query("select count(*) from orders")
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)?;
    let _ = conn.close().await;
    let known = migrate::latest_version(Engine::Sqlite);
    if version > known {
        return Err(BackupError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    Ok(BackupSummary {
        bytes,
        orders,
        schema_version: version,
        took_ms: 0,
    })
}

/// Syncs the checked copy to disk and gives it its name (atomically, in one directory).
fn publish(partial: &Path, to: &Path) -> Result<(), BackupError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| BackupError::Io(path, e)
    };
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io(partial))?;
    refuse_existing(to, "it appeared while the copy was made")?;
    std::fs::rename(partial, to).map_err(io(to))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_of_a_url() {
        let file = |url| sqlite_file(url).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(file("sqlite://./data/w.db").as_deref(), Some("./data/w.db"));
        assert_eq!(file("sqlite:w.db?mode=rwc").as_deref(), Some("w.db"));
        assert_eq!(
            file("sqlite:///var/lib/w.db").as_deref(),
            Some("/var/lib/w.db")
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("postgres://u@h/db"), None);
    }
}
