//! Shared start-up pieces: the async runtime, configuration loading, logging, the store.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use wcheckout_store::{SqlStore, StoreOptions};

use crate::config::{self, Config};

/// Runs a future on a multi-threaded runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Loads and validates the configuration; every problem is reported at once.
pub fn load_config(file: Option<&Path>) -> anyhow::Result<Config> {
    let config = config::load(file).map_err(|problems| {
        anyhow::anyhow!("invalid configuration:\n  - {}", problems.join("\n  - "))
    })?;
    let problems = config.problems();
    if !problems.is_empty() {
        bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
    }
    Ok(config)
}

/// The chain client library's WebSocket layers log each lost connection and reconnection
/// attempt as errors; the watcher's newHeads follower reports the same once each way, so they
/// are off unless the configured level names them (or `RUST_LOG` is set).
fn with_quiet_libraries(level: &str) -> String {
    if level.contains("alloy") {
        level.to_owned()
    } else {
        format!("{level},alloy_pubsub=off,alloy_transport_ws=off")
    }
}

/// Sets up logging to stderr.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(with_quiet_libraries(&config.logging.level))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if config.logging.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Opens (and migrates) the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqlStore>> {
    if config.database.url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
            format!(
                "cannot create data directory {}",
                config.server.data_dir.display()
            )
        })?;
    }
    let options = StoreOptions {
        max_connections: config.database.max_connections,
        ..StoreOptions::default()
    };
    let store = SqlStore::open(&config.database.url, &options).await?;
    Ok(Arc::new(store))
}

/// Creates a directory readable by its owner only (it holds the database and sandbox keys).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}
