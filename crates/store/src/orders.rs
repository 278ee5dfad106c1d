//! Checkout orders.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::ports::{
    OrderFilter, OrderInsert, OrderStore, Page, PageRequest, SignatureUse, StoreError,
};
use wcheckout_domain::time::Timestamp;

use crate::list::Conditions;
use crate::rows::{ORDER_COLUMNS, int, order_from_row, text, to_i64};
use crate::{SqlStore, store_error};

#[async_trait]
impl OrderStore for SqlStore {
    async fn reserve_address_indexes(&self, count: u64) -> Result<Range<u64>, StoreError> {
        let row = sqlx::query(
            "update counters set value = value + $1 where name = 'evm_address_index' \
             returning value",
        )
        .bind(to_i64(count)?)
        .fetch_one(&self.writer)
        .await
        .map_err(store_error)?;
        let end = u64::try_from(int(&row, "value")?)
            .map_err(|_| StoreError::Internal("negative address counter".into()))?;
        Ok(end.saturating_sub(count)..end)
    }

    async fn insert_order(
        &self,
        order: &Order,
        signature: Option<&SignatureUse>,
    ) -> Result<OrderInsert, StoreError> {
        let item = (order.clone(), signature.cloned());
        self.order_inserts.submit(item).await
    }

    async fn order_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Order>, StoreError> {
        let sql = format!("select {ORDER_COLUMNS} from orders where app_id = $1 and order_no = $2");
        let row = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(no.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn orders_by_no_any_app(&self, no: &IntegratorNo) -> Result<Vec<Order>, StoreError> {
        let sql =
            format!("select {ORDER_COLUMNS} from orders where order_no = $1 order by created_at");
        let rows = sqlx::query(&sql)
            .bind(no.as_str())
            .fetch_all(&self.reader)
            .await;
        rows.map_err(store_error)?
            .iter()
            .map(order_from_row)
            .collect()
    }

    async fn order_by_page_token(&self, token: &str) -> Result<Option<Order>, StoreError> {
        let sql = format!("select {ORDER_COLUMNS} from orders where page_token = $1");
        let row = sqlx::query(&sql)
            .bind(token)
            .fetch_optional(&self.reader)
            .await;
        row.map_err(store_error)?
            .as_ref()
            .map(order_from_row)
            .transpose()
    }

    async fn list_orders(
        &self,
        app: &AppId,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let mut conditions = Conditions::for_app(app);
        conditions.equals("order_no", filter.order_no.as_deref());
        conditions.equals("merchant_id", filter.merchant_id.as_deref());
        conditions.equals("customer_id", filter.customer_id.as_deref());
        conditions.equals("token", filter.token.as_deref());
        conditions.equals("status", filter.status.map(OrderStatus::as_str));
        conditions.created_between(filter.created_from, filter.created_to);
        self.page(
            "orders",
            ORDER_COLUMNS,
            "sysid",
            &conditions,
            page,
            order_from_row,
        )
        .await
    }

    async fn orders_due_for_expiry(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        let sql = format!(
            "select {ORDER_COLUMNS} from orders where status = 'PAYING' and expires_at <= $1 \
             order by expires_at limit {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(now.micros())
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(order_from_row).collect()
    }

    async fn count_orders_by_status(&self) -> Result<Vec<(OrderStatus, u64)>, StoreError> {
        fold_status_deltas(&self.writer).await?;
        // Summed after the fold has committed: a fold running at the same time in another
        // process has then committed its part too, or left its rows unfolded.
        let rows = sqlx::query(
            "select status, cast(sum(delta) as bigint) as n from order_status_deltas group by status",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let (status, n) = (text(row, "status")?, int(row, "n")?);
            if n == 0 {
                continue;
            }
            let parsed = OrderStatus::parse(&status)
                .ok_or_else(|| StoreError::Internal(format!("unknown status {status}")))?;
            let n = u64::try_from(n)
                .map_err(|_| StoreError::Internal(format!("{n} orders {status}")))?;
            counts.push((parsed, n));
        }
        Ok(counts)
    }
}

/// Replaces the status deltas the triggers appended (migration 0006) by one row per status,
/// so counting costs the orders changed since the last fold, not all orders ever made. The
/// delete's own snapshot decides which rows are folded: a delta committed meanwhile is neither
/// lost nor folded twice.
async fn fold_status_deltas(pool: &sqlx::AnyPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(store_error)?;
    let rows = sqlx::query("delete from order_status_deltas returning status, delta")
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
    let mut totals = BTreeMap::<String, i64>::new();
    for row in &rows {
        let total = totals.entry(text(row, "status")?).or_default();
        *total = total
            .checked_add(int(row, "delta")?)
            .ok_or_else(|| StoreError::Internal("order count overflow".into()))?;
    }
    for (status, total) in totals.iter().filter(|(_, n)| **n != 0) {
        sqlx::query("insert into order_status_deltas (status, delta) values ($1, $2)")
            .bind(status.as_str())
            .bind(*total)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)
}
