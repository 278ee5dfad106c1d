//! `wcheckout backup` and `wcheckout restore`: an online, checked copy of a SQLite database, and
//! that copy put in place for a fresh data directory.

use std::path::{Path, PathBuf};

use wcheckout_store::backup::{BackupSummary, backup_sqlite, restore_sqlite};

use crate::runtime::{load_config, open_store};

/// Runs `wcheckout backup --to FILE`.
pub async fn backup(config: Option<PathBuf>, to: &Path) -> anyhow::Result<()> {
    let config = load_config(config.as_deref())?;
    let summary = backup_sqlite(&config.database.url, to).await?;
    println!("backed up to {}: {}", to.display(), described(&summary));
    println!(
        "the seed and the master key are not in it: keep copies of them apart from the backup \
         (docs/deploy.md)"
    );
    Ok(())
}

/// Runs `wcheckout restore --from FILE | --in-place [--skip-addresses N]`.
pub async fn restore(
    config: Option<PathBuf>,
    from: Option<PathBuf>,
    skip_addresses: u64,
) -> anyhow::Result<()> {
    let config = load_config(config.as_deref())?;
    match from {
        Some(from) => {
            let summary = restore_sqlite(&from, &config.database.url, skip_addresses).await?;
            println!(
                "restored {} into {}: {}",
                from.display(),
                config.database.url,
                described(&summary)
            );
        }
        None => {
            let store = open_store(&config).await?;
            let marked = store.mark_restored(skip_addresses).await;
            store.close().await;
            marked?;
            println!("the configured database is marked as restored");
        }
    }
    println!(
        "deposit address indexes moved {skip_addresses} ahead (orders made after the backup may \
         hold the next ones)"
    );
    println!(
        "payouts are held: start the gateway with the same seed and master key (it catches up \
         with the chains from the backup), run `wcheckout reconcile` and `wcheckout payout \
         list`, check that nothing queued was paid after the backup, then `wcheckout payout \
         release`"
    );
    Ok(())
}

fn described(summary: &BackupSummary) -> String {
    format!(
        "{} orders, schema version {}, {} bytes, {} ms",
        summary.orders, summary.schema_version, summary.bytes, summary.took_ms
    )
}
