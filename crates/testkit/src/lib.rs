//! Test support shared by the crates' integration tests.
//!
//! PostgreSQL tests use the server named by `WCHECKOUT_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test gets a database of its own, dropped
//! when the test ends. Without a reachable server the test is skipped with a message on stderr,
//! unless `WCHECKOUT_REQUIRE_PG=1` (set by CI), which turns the skip into a failure.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod chain_conformance;
pub mod chain_fake;
pub mod faulty_rpc;
pub mod node_tools;
pub mod store_fixtures;

use std::path::PathBuf;

use rand::Rng;
use sqlx::{Connection, Executor};

/// The admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("WCHECKOUT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn pg_required() -> bool {
    std::env::var("WCHECKOUT_REQUIRE_PG").is_ok_and(|v| v == "1")
}

fn random_suffix() -> String {
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

/// A database that exists for the life of this value.
pub struct TestDatabase {
    /// Connection URL.
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.cleanup.take() else {
            return;
        };
        // Drop runs outside any async context guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("drop database if exists {name} with (force)");
                        let _ = conn.execute(sql.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// A fresh, empty PostgreSQL database, or `None` (after saying why on stderr) when no server
/// is reachable and CI does not require one.
pub async fn fresh_postgres(test: &str) -> Option<TestDatabase> {
    let admin_url = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(error) => {
            if pg_required() {
                panic!(
                    "WCHECKOUT_REQUIRE_PG=1 but PostgreSQL at {admin_url} is unreachable: {error}"
                );
            }
            eprintln!("SKIPPED {test}: PostgreSQL at {admin_url} is unreachable ({error})");
            return None;
        }
    };
    let name = format!("wct_{}", random_suffix());
    conn.execute(format!("create database {name}").as_str())
        .await
        .expect("create database");
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("WCHECKOUT_TEST_PG_URL must end with /DATABASE"),
    };
    Some(TestDatabase {
        url,
        cleanup: Some((admin_url, name)),
        _dir: None,
    })
}

/// A fresh SQLite database file in a temporary directory.
pub fn fresh_sqlite() -> TestDatabase {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path.join("wcheckout.db").display());
    TestDatabase {
        url,
        cleanup: None,
        _dir: Some(dir),
    }
}

/// A temporary directory removed on drop.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// Creates one under the system temporary directory.
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("wcheckout-test-{}", random_suffix()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A loopback port nothing listens on right now (for a child process to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
