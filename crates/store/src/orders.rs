//! Checkout orders.

use std::ops::Range;

use async_trait::async_trait;
use sqlx::AnyConnection;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::ports::{Inserted, OrderFilter, OrderStore, Page, PageRequest, StoreError};
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

    async fn insert_order(&self, order: &Order) -> Result<Inserted<Order>, StoreError> {
        let sql = self.engine.sql(
            "insert into orders (sysid, app_id, order_no, merchant_id, customer_id, token, fiat, \
             order_amount, exchange_rate, paying_amount, min_accepted_amount, paid_amount, \
             refunded_amount, deposit_address, address_index, status, tx_hash, expires_at, \
             pc_callback_url, app_callback_url, page_token, request_fingerprint, created_at, \
             updated_at, version, alert) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11::numeric, \
             $12::numeric, $13::numeric, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
             $26) \
             on conflict (app_id, order_no) do nothing returning sysid",
        );
        let order = order.clone();
        self.group
            .run(move |conn| {
                let (sql, order) = (sql.clone(), order.clone());
                Box::pin(async move { insert_order_on(conn, &sql, order).await })
            })
            .await
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
        let rows = sqlx::query("select status, count(*) as n from orders group by status")
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let status = text(row, "status")?;
                let status = OrderStatus::parse(&status)
                    .ok_or_else(|| StoreError::Internal(format!("unknown status {status}")))?;
                Ok((status, u64::try_from(int(row, "n")?).unwrap_or(0)))
            })
            .collect()
    }
}

/// Inserts an order unless its number is taken, on the committer's connection.
async fn insert_order_on(
    conn: &mut AnyConnection,
    sql: &str,
    order: Order,
) -> Result<Inserted<Order>, StoreError> {
    let inserted = sqlx::query(sql)
        .bind(order.sysid.as_str())
        .bind(order.app_id.as_str())
        .bind(order.order_no.as_str())
        .bind(order.merchant_id.as_str())
        .bind(order.customer_id.as_str())
        .bind(order.token.as_str())
        .bind(order.fiat.as_str())
        .bind(order.order_amount.to_string())
        .bind(order.exchange_rate.to_string())
        .bind(order.paying_amount.to_string())
        .bind(order.min_accepted_amount.to_string())
        .bind(order.paid_amount.to_string())
        .bind(order.refunded_amount.to_string())
        .bind(order.deposit_address.to_lower_hex())
        .bind(to_i64(order.address_index)?)
        .bind(order.status.as_str())
        .bind(order.tx_hash.as_deref())
        .bind(order.expires_at.micros())
        .bind(order.pc_callback_url.as_deref())
        .bind(order.app_callback_url.as_deref())
        .bind(order.page_token.as_str())
        .bind(order.request_fingerprint.as_str())
        .bind(order.created_at.micros())
        .bind(order.updated_at.micros())
        .bind(order.version)
        .bind(order.alert.as_deref())
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
    if inserted.is_some() {
        return Ok(Inserted::New(order));
    }
    // The number was taken, possibly by a concurrent request that has just committed; the
    // writer's connection sees it.
    let sql = format!("select {ORDER_COLUMNS} from orders where app_id = $1 and order_no = $2");
    let row = sqlx::query(&sql)
        .bind(order.app_id.as_str())
        .bind(order.order_no.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(Inserted::Existing(order_from_row(&row)?))
}
