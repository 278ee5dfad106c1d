//! Reconciliation results: appended, and read back as the last one per chain and asset.

use sqlx::any::AnyRow;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::ports::StoreError;
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::token::ChainKey;

use crate::rows::{int, text, time};
use crate::{SqlStore, store_error};

const COLUMNS: &str = "chain, asset, at, ledger, on_chain, accounts, differing, in_flight";

fn count(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    u64::try_from(int(row, column)?)
        .map_err(|_| StoreError::Internal(format!("negative {column} in reconciliations")))
}

fn number<T: std::str::FromStr>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let value = text(row, column)?;
    value
        .parse()
        .map_err(|_| StoreError::Internal(format!("reconciliations.{column} holds '{value}'")))
}

fn from_row(row: &AnyRow) -> Result<AssetReconciliation, StoreError> {
    let chain_text = text(row, "chain")?;
    let chain = ChainKey::parse(&chain_text)
        .ok_or_else(|| StoreError::Internal(format!("unknown chain '{chain_text}'")))?;
    let asset_text = text(row, "asset")?;
    let asset = Asset::parse_on(&chain, &asset_text)
        .ok_or_else(|| StoreError::Internal(format!("unknown asset '{asset_text}'")))?;
    Ok(AssetReconciliation {
        chain,
        asset,
        at: time(row, "at")?,
        ledger: number(row, "ledger")?,
        on_chain: number(row, "on_chain")?,
        accounts: count(row, "accounts")?,
        differing: count(row, "differing")?,
        in_flight: count(row, "in_flight")?,
    })
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqlStore {
    pub(crate) async fn insert_reconciliations(
        &self,
        results: &[AssetReconciliation],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "insert into reconciliations ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8) \
             on conflict (chain, asset, at) do nothing"
        );
        let mut tx = self.writer.begin().await.map_err(store_error)?;
        for result in results {
            sqlx::query(&sql)
                .bind(result.chain.as_str())
                .bind(result.asset.to_string())
                .bind(result.at.micros())
                .bind(result.ledger.to_string())
                .bind(result.on_chain.to_string())
                .bind(stored(result.accounts))
                .bind(stored(result.differing))
                .bind(stored(result.in_flight))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    pub(crate) async fn select_last_reconciliations(
        &self,
    ) -> Result<Vec<AssetReconciliation>, StoreError> {
        // The primary key (chain, asset, at) answers each asset's latest by one index probe.
        let sql = format!(
            "select {COLUMNS} from reconciliations r where at = \
             (select max(at) from reconciliations l where l.chain = r.chain and l.asset = r.asset) \
             order by chain, asset"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(from_row).collect()
    }
}
