//! A fresh database per run: SQLite in a temporary directory, PostgreSQL created on the admin
//! server and dropped afterwards.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

/// Which engine a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// A database that exists until [`BenchDatabase::remove`].
pub(crate) struct BenchDatabase {
    /// Connection URL.
    pub(crate) url: String,
    place: Place,
}

enum Place {
    Directory(PathBuf),
    Server { admin_url: String, name: String },
}

fn suffix() -> String {
    wcheckout_app::secrets::random_hex(6)
}

/// The engines that can run, and a note for each left out: PostgreSQL when its server does not
/// answer.
pub(crate) async fn usable_engines(engines: &[Engine], pg_url: &str) -> (Vec<Engine>, Vec<String>) {
    let mut usable = Vec::new();
    let mut notes = Vec::new();
    for &engine in engines {
        if engine == Engine::Postgres
            && let Some(why) = postgres_unreachable(pg_url).await
        {
            eprintln!("skipping PostgreSQL: {pg_url} is unreachable ({why})");
            notes.push(format!(
                "PostgreSQL skipped: `{pg_url}` was unreachable ({why})."
            ));
            continue;
        }
        usable.push(engine);
    }
    (usable, notes)
}

/// Why a PostgreSQL run cannot happen, or `None` when the server answers.
async fn postgres_unreachable(admin_url: &str) -> Option<String> {
    let connect = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url));
    match connect.await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            None
        }
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some("no answer within 5 s".into()),
    }
}

impl BenchDatabase {
    /// A fresh, empty database.
    pub(crate) async fn create(engine: Engine, admin_url: &str) -> anyhow::Result<BenchDatabase> {
        match engine {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(format!("wcheckout-bench-{}", suffix()));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Ok(BenchDatabase {
                    url: format!("sqlite://{}", dir.join("wcheckout.db").display()),
                    place: Place::Directory(dir),
                })
            }
            Engine::Postgres => {
                let name = format!("wcheckout_bench_{}", suffix());
                let mut conn = PgConnection::connect(admin_url)
                    .await
                    .with_context(|| format!("connecting to {admin_url}"))?;
                conn.execute(format!("create database {name}").as_str())
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = conn.close().await;
                let server = admin_url
                    .rsplit_once('/')
                    .map(|(server, _)| server)
                    .context("the PostgreSQL URL must end with /DATABASE")?;
                Ok(BenchDatabase {
                    url: format!("{server}/{name}"),
                    place: Place::Server {
                        admin_url: admin_url.to_owned(),
                        name,
                    },
                })
            }
        }
    }

    /// Deletes the database (the gateway's connections must be closed, or are forced).
    pub(crate) async fn remove(self) {
        match self.place {
            Place::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Server { admin_url, name } => {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let sql = format!("drop database if exists {name} with (force)");
                    if let Err(error) = conn.execute(sql.as_str()).await {
                        eprintln!("could not drop database {name}: {error}");
                    }
                    let _ = conn.close().await;
                }
            }
        }
    }
}
