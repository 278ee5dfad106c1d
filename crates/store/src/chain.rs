//! Chain cursors, checkpoints, leases, transfers and abnormal payments.

use async_trait::async_trait;
use sqlx::Row;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{AbnormalPayment, Transfer};
use wcheckout_domain::ports::{
    AbnormalFilter, ChainCursor, ChainStore, Page, PageRequest, StoreError,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::changes::placeholders;
use crate::engine::Engine;
use crate::list::Conditions;
use crate::rows::{
    ABNORMAL_COLUMNS, ORDER_COLUMNS, TRANSFER_COLUMNS, abnormal_from_row, int, order_from_row,
    parsed, text, time, to_i64, transfer_from_row,
};
use crate::{SqlStore, store_error};

/// Most values bound in one `IN (…)` list, well under both engines' parameter limits.
const IN_LIST_LIMIT: usize = 500;

/// Most deposit addresses looked up by one statement (as one text parameter).
const ADDRESSES_PER_LOOKUP: usize = 5000;

#[async_trait]
impl ChainStore for SqlStore {
    async fn chain_cursor(&self, chain: &ChainKey) -> Result<Option<ChainCursor>, StoreError> {
        let row = sqlx::query(
            "select block_number, block_hash, head_number, head_time, caught_up_at, updated_at \
             from chain_cursors where chain = $1",
        )
        .bind(chain.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let number = |column: &str| {
            int(&row, column).and_then(|v| {
                u64::try_from(v).map_err(|_| StoreError::Internal(format!("negative {column}")))
            })
        };
        Ok(Some(ChainCursor {
            processed: BlockMark {
                number: number("block_number")?,
                hash: text(&row, "block_hash")?,
            },
            head_number: number("head_number")?,
            head_time: time(&row, "head_time")?,
            caught_up_at: time(&row, "caught_up_at")?,
            updated_at: time(&row, "updated_at")?,
        }))
    }

    async fn note_chain_head(
        &self,
        chain: &ChainKey,
        head: (u64, Timestamp),
        round_start: Timestamp,
        caught_up: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update chain_cursors set head_number = $1, head_time = $2, updated_at = $3, \
             caught_up_at = case when $4 = 1 then $3 else caught_up_at end where chain = $5",
        )
        .bind(to_i64(head.0)?)
        .bind(head.1.micros())
        .bind(round_start.micros())
        .bind(i64::from(caught_up))
        .bind(chain.as_str())
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "insert into chain_leases (chain, holder, expires_at) values ($1, $2, $3) \
             on conflict (chain) do update set holder = excluded.holder, \
             expires_at = excluded.expires_at \
             where chain_leases.holder = excluded.holder or chain_leases.expires_at < $4 \
             returning holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until.micros())
        .bind(now.micros())
        .fetch_optional(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("delete from chain_leases where chain = $1 and holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select holder from chain_leases where chain = $1")
            .bind(name)
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.map(|row| row.try_get::<String, _>("holder"))
            .transpose()
            .map_err(store_error)
    }

    async fn take_lease_from(
        &self,
        name: &str,
        previous: &str,
        holder: &str,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "update chain_leases set holder = $1, expires_at = $2 where chain = $3 and holder = $4",
        )
        .bind(holder)
        .bind(until.micros())
        .bind(name)
        .bind(previous)
        .execute(&self.writer)
        .await
        .map_err(store_error)?;
        Ok(taken.rows_affected() == 1)
    }

    async fn checkpoints(
        &self,
        chain: &ChainKey,
        at_or_below: u64,
        limit: u32,
    ) -> Result<Vec<BlockMark>, StoreError> {
        let sql = format!(
            "select block_number, block_hash from chain_checkpoints \
             where chain = $1 and block_number <= $2 order by block_number desc limit {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(chain.as_str())
            .bind(to_i64(at_or_below)?)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let number = u64::try_from(int(row, "block_number")?)
                    .map_err(|_| StoreError::Internal("negative checkpoint".into()))?;
                Ok(BlockMark {
                    number,
                    hash: text(row, "block_hash")?,
                })
            })
            .collect()
    }

    async fn deposits_expiring_after(
        &self,
        tokens: &[TokenId],
        expires_after: Timestamp,
    ) -> Result<Vec<(Address, TokenId)>, StoreError> {
        let mut deposits = Vec::new();
        for token in tokens {
            let rows = sqlx::query(
                "select deposit_address from orders where token = $1 and expires_at >= $2",
            )
            .bind(token.as_str())
            .bind(expires_after.micros())
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
            for row in &rows {
                let address = parsed(row, "deposit_address", Address::parse_any)?;
                deposits.push((address, token.clone()));
            }
        }
        Ok(deposits)
    }

    async fn orders_by_deposit_addresses(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Order>, StoreError> {
        // The addresses travel as one comma-separated parameter (hex digits only, nothing to
        // escape), unpacked by the engine: one statement per few thousand addresses instead of
        // one per few hundred bound parameters. Each is still a lookup in the unique index.
        let unpacked = match self.engine {
            Engine::Postgres => "select unnest(string_to_array($1, ','))",
            Engine::Sqlite => {
                "select value from json_each('[\"' || replace($1, ',', '\",\"') || '\"]')"
            }
        };
        let sql =
            format!("select {ORDER_COLUMNS} from orders where deposit_address in ({unpacked})");
        let mut orders = Vec::new();
        for chunk in addresses.chunks(ADDRESSES_PER_LOOKUP) {
            let list = chunk
                .iter()
                .map(Address::storage_key)
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&sql)
                .bind(list)
                .fetch_all(&self.reader)
                .await
                .map_err(store_error)?;
            for row in &rows {
                orders.push(order_from_row(row)?);
            }
        }
        Ok(orders)
    }

    async fn transfers_above(
        &self,
        chain: &ChainKey,
        above: u64,
    ) -> Result<Vec<Transfer>, StoreError> {
        let sql = format!(
            "select {TRANSFER_COLUMNS} from chain_transfers where chain = $1 \
             and block_number > $2 and state <> 'REVERSED' order by block_number, log_index"
        );
        let rows = sqlx::query(&sql)
            .bind(chain.as_str())
            .bind(to_i64(above)?)
            .fetch_all(&self.writer)
            .await
            .map_err(store_error)?;
        rows.iter().map(transfer_from_row).collect()
    }

    async fn pending_transfers_up_to(
        &self,
        chain: &ChainKey,
        max_block: u64,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError> {
        let sql = format!(
            "select {TRANSFER_COLUMNS} from chain_transfers where chain = $1 \
             and state = 'PENDING' and block_number <= $2 \
             order by block_number, log_index limit {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(chain.as_str())
            .bind(to_i64(max_block)?)
            .fetch_all(&self.writer)
            .await
            .map_err(store_error)?;
        rows.iter().map(transfer_from_row).collect()
    }

    async fn transfers_of_orders(&self, sysids: &[String]) -> Result<Vec<Transfer>, StoreError> {
        let mut transfers = Vec::new();
        for chunk in sysids.chunks(IN_LIST_LIMIT) {
            let sql = self.engine.positional(format!(
                "select {TRANSFER_COLUMNS} from chain_transfers where order_sysid in ({}) \
                 order by block_number, log_index",
                placeholders(chunk.len(), 1)
            ));
            let mut query = sqlx::query(&sql);
            for sysid in chunk {
                query = query.bind(sysid.as_str());
            }
            let rows = query.fetch_all(&self.reader).await.map_err(store_error)?;
            for row in &rows {
                transfers.push(transfer_from_row(row)?);
            }
        }
        // Each chunk comes back ordered; the whole must be too.
        transfers.sort_by_key(|t| (t.block_number, t.log_index));
        Ok(transfers)
    }

    async fn transfers_of_tx(
        &self,
        chain: &ChainKey,
        tx_hash: &str,
    ) -> Result<Vec<Transfer>, StoreError> {
        let sql = format!(
            "select {TRANSFER_COLUMNS} from chain_transfers where chain = $1 and tx_hash = $2 \
             order by log_index"
        );
        let rows = sqlx::query(&sql)
            .bind(chain.as_str())
            .bind(tx_hash)
            .fetch_all(&self.writer)
            .await
            .map_err(store_error)?;
        rows.iter().map(transfer_from_row).collect()
    }

    async fn list_abnormal_payments(
        &self,
        app: &AppId,
        filter: &AbnormalFilter,
        page: PageRequest,
    ) -> Result<Page<AbnormalPayment>, StoreError> {
        let mut conditions = Conditions::for_app(app);
        conditions.equals("order_no", filter.order_no.as_deref());
        conditions.equals("kind", filter.kind.map(|k| k.as_str()));
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.equals("token", filter.token.as_deref());
        conditions.created_between(filter.created_from, filter.created_to);
        let table = "abnormal_payments";
        let tie = "abnormal_payment_no";
        self.page(
            table,
            ABNORMAL_COLUMNS,
            tie,
            &conditions,
            page,
            abnormal_from_row,
        )
        .await
    }

    async fn order_by_sysid(&self, sysid: &str) -> Result<Option<Order>, StoreError> {
        let sql = format!("select {ORDER_COLUMNS} from orders where sysid = $1");
        let row = sqlx::query(&sql)
            .bind(sysid)
            .fetch_optional(&self.reader)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(order_from_row)
            .transpose()
    }
}
