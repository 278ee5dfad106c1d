//! The operator console's reads: an order's webhooks and their attempts, the audit log by
//! pages, the live sessions, and the lists (orders, refunds, abnormal payments, payouts in
//! flight, webhook deliveries), each a keyset walk of one index through [`SqlStore::keyset`].

use async_trait::async_trait;
use sqlx::any::AnyRow;
use wcheckout_domain::abnormal::AbnormalPayment;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::Totals;
use wcheckout_domain::operator::ConsoleSession;
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payout::{Payout, PayoutKind, SignedTx};
use wcheckout_domain::ports::{
    AbnormalFilter, AuditRow, ConsoleRefundFilter, ConsoleStore, ConsoleWebhookFilter, Cursor,
    DayCount, DayPaid, DeliveryAttempt, Keyset, KeysetPage, OrderFilter, OutboxEntry,
    SettlementFilter, StoreError, WebhookCounts,
};
use wcheckout_domain::refund::Refund;
use wcheckout_domain::settlement::Settlement;
use wcheckout_domain::time::Timestamp;

use crate::changes::placeholders;
use crate::engine::Engine;
use crate::list::{Arg, Conditions};
use crate::money::{TOTALS_COLUMNS, totals_from_row};
use crate::money_rows::{
    PAYOUT_COLUMNS, REFUND_COLUMNS, SETTLEMENT_COLUMNS, SIGNED_TX_COLUMNS, payout_from_row,
    refund_from_row, settlement_from_row, signed_tx_from_row,
};
use crate::operators::audit_from_row;
use crate::outbox::{ATTEMPT_COLUMNS, ENTRY_COLUMNS, attempt_from_row, entry_from_row};
use crate::rows::{
    ABNORMAL_COLUMNS, ORDER_COLUMNS, abnormal_from_row, amount, int, order_from_row, text, time,
};
use crate::{SqlStore, store_error};

/// A list the console walks newest first: its table, columns, and the key ordering rows
/// created in the same microsecond.
struct Listed<T> {
    table: &'static str,
    columns: &'static str,
    key: &'static str,
    read: fn(&AnyRow) -> Result<T, StoreError>,
}

impl SqlStore {
    /// The one keyset query of the console's lists: rows of `list` matching `conditions`,
    /// newest first (`created_at desc, key desc`), starting after `keyset.after`, one more than
    /// asked read to know whether a next page exists; and, when asked, how many match (a
    /// count stopped at `count_up_to`). `created_at <= ?` bounds the index range; the key
    /// breaks ties inside it, so a page costs the same at any depth.
    async fn keyset<T>(
        &self,
        list: &Listed<T>,
        mut conditions: Conditions,
        keyset: &Keyset,
    ) -> Result<KeysetPage<T>, StoreError> {
        let total = match keyset.count_up_to {
            Some(cap) => {
                let cap = i64::try_from(cap).unwrap_or(i64::MAX);
                let sql = format!(
                    "select count(*) as n from (select 1 from {} where {} limit {cap}) as matching",
                    list.table,
                    conditions.where_clause()
                );
                let row = conditions
                    .bind(sqlx::query(&sql))
                    .fetch_one(&self.reader)
                    .await
                    .map_err(store_error)?;
                Some(count(int(&row, "n")?))
            }
            None => None,
        };
        if let Some(after) = &keyset.after {
            let at = after.created_at.micros();
            let upto = conditions.arg(Arg::Int(at));
            let before = conditions.arg(Arg::Int(at));
            let key = conditions.arg(Arg::Text(after.key.clone()));
            let column = list.key;
            conditions.clause(format!(
                "created_at <= {upto} and (created_at < {before} or {column} < {key})"
            ));
        }
        let sql = format!(
            "select {}, created_at as keyset_at, {} as keyset_key from {} where {} \
             order by created_at desc, {} desc limit {}",
            list.columns,
            list.key,
            list.table,
            conditions.where_clause(),
            list.key,
            u64::from(keyset.limit) + 1
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        let limit = keyset.limit as usize;
        let next = match (rows.len() > limit, limit.checked_sub(1)) {
            (true, Some(last)) => Some(Cursor {
                created_at: time(&rows[last], "keyset_at")?,
                key: text(&rows[last], "keyset_key")?,
            }),
            _ => None,
        };
        let records = rows
            .iter()
            .take(limit)
            .map(list.read)
            .collect::<Result<_, _>>()?;
        Ok(KeysetPage {
            records,
            next,
            total,
        })
    }
}

const ORDERS: Listed<Order> = Listed {
    table: "orders",
    columns: ORDER_COLUMNS,
    key: "sysid",
    read: order_from_row,
};

const REFUNDS: Listed<Refund> = Listed {
    table: "refunds",
    columns: REFUND_COLUMNS,
    key: "sysid",
    read: refund_from_row,
};

const SETTLEMENTS: Listed<Settlement> = Listed {
    table: "settlements",
    columns: SETTLEMENT_COLUMNS,
    key: "sysid",
    read: settlement_from_row,
};

const ABNORMAL: Listed<AbnormalPayment> = Listed {
    table: "abnormal_payments",
    columns: ABNORMAL_COLUMNS,
    key: "abnormal_payment_no",
    read: abnormal_from_row,
};

const PAYOUTS: Listed<Payout> = Listed {
    table: "payouts",
    columns: PAYOUT_COLUMNS,
    key: "id",
    read: payout_from_row,
};

const WEBHOOKS: Listed<OutboxEntry> = Listed {
    table: "webhook_events",
    columns: ENTRY_COLUMNS,
    key: "event_id",
    read: entry_from_row,
};

/// Microseconds in a UTC day: `created_at / MICROS_PER_DAY` is the day since 1970-01-01.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The statuses of an order that was paid (refunds come after a payment).
const PAID_STATUSES: &str = "('PAID', 'REFUNDING', 'PARTIAL_REFUNDED', 'REFUNDED')";

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The first name after every name starting with `prefix` (its last character's successor),
/// so that `prefix <= name < end` is an index range; `None` when there is none.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = chars.pop()?;
    let next = char::from_u32(u32::from(last).checked_add(1)?)?;
    chars.push(next);
    Some(chars.into_iter().collect())
}

/// At most this many keys or ids in one `in (…)` list (both engines take far more).
const MAX_KEYS: usize = 500;

/// Rows whose `column` is one of some keys: `select … from table`, the column, the order.
struct Keyed<'a> {
    select: &'a str,
    column: &'a str,
    order: &'a str,
}

impl SqlStore {
    /// The rows `keyed` selects whose column is one of `keys`, as `T`. No key, no row; more
    /// than [`MAX_KEYS`], an error naming `what` they are.
    async fn rows_with_keys<T>(
        &self,
        Keyed {
            select,
            column,
            order,
        }: Keyed<'_>,
        keys: &[String],
        what: &str,
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > MAX_KEYS {
            return Err(StoreError::Internal(format!(
                "at most {MAX_KEYS} {what} at once"
            )));
        }
        let sql = format!(
            "{select} where {column} in ({}) order by {order}",
            placeholders(keys.len(), 1)
        );
        let query = keys
            .iter()
            .fold(sqlx::query(&sql), |query, key| query.bind(key.as_str()));
        let rows = query.fetch_all(&self.reader).await.map_err(store_error)?;
        rows.iter().map(from_row).collect()
    }
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn events_of_objects(
        &self,
        object_keys: &[String],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let select = format!("select {ENTRY_COLUMNS} from webhook_events");
        let query = Keyed {
            select: &select,
            column: "object_key",
            order: "seq",
        };
        self.rows_with_keys(query, object_keys, "object keys", entry_from_row)
            .await
    }

    async fn attempts_of_events(
        &self,
        event_ids: &[String],
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let select = format!("select {ATTEMPT_COLUMNS} from webhook_attempts");
        let query = Keyed {
            select: &select,
            column: "event_id",
            order: "id",
        };
        self.rows_with_keys(query, event_ids, "event ids", attempt_from_row)
            .await
    }

    async fn audit_page(
        &self,
        app: Option<&AppId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        // Walks the primary key down from `before`; an app's page keeps the entries of the
        // operators bound to it.
        let app_clause = if app.is_some() {
            " and operator in (select name from operators where app_id = $3)"
        } else {
            ""
        };
        let sql = format!(
            "select id, operator, action, target, at, client from audit_log \
             where id < $1{app_clause} order by id desc limit $2"
        );
        let mut query = sqlx::query(&sql)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit));
        if let Some(app) = app {
            query = query.bind(app.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    id: int(row, "id")?,
                    entry: audit_from_row(row)?,
                })
            })
            .collect()
    }

    async fn live_console_sessions(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<ConsoleSession>, StoreError> {
        let rows = sqlx::query(
            "select token_hash, operator, created_at, expires_at from console_sessions \
             where expires_at > $1 order by created_at desc, token_hash limit $2",
        )
        .bind(now.micros())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(ConsoleSession {
                    token_hash: text(row, "token_hash")?,
                    operator: text(row, "operator")?,
                    created_at: time(row, "created_at")?,
                    expires_at: time(row, "expires_at")?,
                })
            })
            .collect()
    }

    async fn end_sessions_of(&self, operator: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from console_sessions where operator = $1")
            .bind(operator)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn order_days(&self, app: &AppId, since: Timestamp) -> Result<Vec<DayCount>, StoreError> {
        // A range of `orders_app_created_at` (app_id, created_at).
        let rows = sqlx::query(&format!(
            "select created_at / {MICROS_PER_DAY} as day, token, status, count(*) as n \
             from orders where app_id = $1 and created_at >= $2 \
             group by created_at / {MICROS_PER_DAY}, token, status"
        ))
        .bind(app.as_str())
        .bind(since.micros())
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(DayCount {
                    day: int(row, "day")?,
                    token: text(row, "token")?,
                    status: text(row, "status")?,
                    orders: count(int(row, "n")?),
                })
            })
            .collect()
    }

    async fn paid_days(&self, app: &AppId, since: Timestamp) -> Result<Vec<DayPaid>, StoreError> {
        // The same range; amounts are summed by the caller with checked arithmetic (the store
        // never adds money in SQL, where SQLite's integers would overflow).
        let rows = sqlx::query(&format!(
            "select created_at / {MICROS_PER_DAY} as day, token, \
             cast(paid_amount as text) as paid_amount from orders \
             where app_id = $1 and created_at >= $2 and status in {PAID_STATUSES}"
        ))
        .bind(app.as_str())
        .bind(since.micros())
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(DayPaid {
                    day: int(row, "day")?,
                    token: text(row, "token")?,
                    paid: amount(row, "paid_amount")?,
                })
            })
            .collect()
    }

    async fn abnormal_since(&self, app: &AppId, since: Timestamp) -> Result<u64, StoreError> {
        // `abnormal_payments_app_created` (app_id, created_at desc) answers it alone.
        let row = sqlx::query(
            "select count(*) as n from abnormal_payments where app_id = $1 and created_at >= $2",
        )
        .bind(app.as_str())
        .bind(since.micros())
        .fetch_one(&self.reader)
        .await
        .map_err(store_error)?;
        Ok(count(int(&row, "n")?))
    }

    async fn webhook_counts(
        &self,
        app: &AppId,
        since: Timestamp,
    ) -> Result<WebhookCounts, StoreError> {
        // The backlog from `webhook_events_app_due` (app_id, …) where status = 'PENDING'; the
        // window's outcomes from a range of `webhook_events_app_created` (app_id, created_at).
        let backlog = sqlx::query(
            "select count(*) as n from webhook_events where app_id = $1 and status = 'PENDING'",
        )
        .bind(app.as_str())
        .fetch_one(&self.reader)
        .await
        .map_err(store_error)?;
        let mut counts = WebhookCounts {
            backlog: count(int(&backlog, "n")?),
            ..WebhookCounts::default()
        };
        let rows = sqlx::query(
            "select status, count(*) as n from webhook_events \
             where app_id = $1 and created_at >= $2 group by status",
        )
        .bind(app.as_str())
        .bind(since.micros())
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        for row in &rows {
            let n = count(int(row, "n")?);
            match text(row, "status")?.as_str() {
                "DELIVERED" => counts.delivered = n,
                "FAILED" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn ledger_range(&self, prefix: &str) -> Result<Vec<(String, Totals)>, StoreError> {
        let Some(end) = prefix_end(prefix) else {
            return Ok(Vec::new());
        };
        // Byte order on both engines: SQLite's primary key is binary; on PostgreSQL the index
        // `ledger_accounts_bytes` is in the "C" collation, whatever the database's default.
        let account = match self.engine {
            Engine::Postgres => "account collate \"C\"",
            Engine::Sqlite => "account",
        };
        let sql = format!(
            "select {TOTALS_COLUMNS} from ledger_accounts \
             where {account} >= $1 and {account} < $2 and debits <> credits order by {account}"
        );
        let rows = sqlx::query(&sql)
            .bind(prefix)
            .bind(end)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(totals_from_row).collect()
    }

    async fn order_keyset(
        &self,
        app: &AppId,
        filter: &OrderFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Order>, StoreError> {
        // `orders_app_created_sysid` (app_id, created_at desc, sysid desc), or with a status
        // `orders_app_status_created` (app_id, status, created_at desc, sysid desc); a customer
        // `orders_customer_created` (customer_id, created_at desc).
        let mut conditions = Conditions::for_app(app);
        conditions.equals("order_no", filter.order_no.as_deref());
        conditions.equals("merchant_id", filter.merchant_id.as_deref());
        conditions.equals("customer_id", filter.customer_id.as_deref());
        conditions.equals("token", filter.token.as_deref());
        conditions.equals("status", filter.status.map(OrderStatus::as_str));
        conditions.created_between(filter.created_from, filter.created_to);
        self.keyset(&ORDERS, conditions, keyset).await
    }

    async fn orders_of_customer(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        let sql = format!(
            "select {ORDER_COLUMNS} from orders where customer_id = $1 \
             order by created_at desc, sysid desc limit {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        rows.iter().map(order_from_row).collect()
    }

    async fn refund_keyset(
        &self,
        app: &AppId,
        filter: &ConsoleRefundFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Refund>, StoreError> {
        // `refunds_app_created_sysid` (app_id, created_at desc, sysid desc).
        let mut conditions = Conditions::for_app(app);
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.equals("token", filter.token.as_deref());
        self.keyset(&REFUNDS, conditions, keyset).await
    }

    async fn settlement_keyset(
        &self,
        app: &AppId,
        filter: &SettlementFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Settlement>, StoreError> {
        // `settlements_app_created_at` (app_id, created_at desc); ties sorted by sysid.
        let mut conditions = Conditions::for_app(app);
        conditions.equals("merchant_id", filter.merchant_id.as_deref());
        conditions.equals("token", filter.token.as_deref());
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.created_between(filter.created_from, filter.created_to);
        self.keyset(&SETTLEMENTS, conditions, keyset).await
    }

    async fn abnormal_keyset(
        &self,
        app: &AppId,
        filter: &AbnormalFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<AbnormalPayment>, StoreError> {
        // `abnormal_payments_app_created_no` (app_id, created_at desc, abnormal_payment_no desc).
        let mut conditions = Conditions::for_app(app);
        conditions.equals("order_no", filter.order_no.as_deref());
        conditions.equals("kind", filter.kind.map(|k| k.as_str()));
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.equals("token", filter.token.as_deref());
        conditions.created_between(filter.created_from, filter.created_to);
        self.keyset(&ABNORMAL, conditions, keyset).await
    }

    async fn open_payout_keyset(
        &self,
        app: Option<&AppId>,
        kind: Option<PayoutKind>,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Payout>, StoreError> {
        // `payouts_open_created` (created_at desc, id desc) where the status is not final.
        let mut conditions = Conditions::none();
        conditions.clause("status in ('QUEUED', 'SIGNED', 'BROADCAST')".to_owned());
        conditions.equals("kind", kind.map(|k| k.as_str()));
        if let Some(app) = app {
            // An app's payouts are its refunds' and settlements' (sweeps and gas top-ups pool
            // every app's money and belong to none).
            let refunds = conditions.arg(Arg::Text(app.as_str().to_owned()));
            let settlements = conditions.arg(Arg::Text(app.as_str().to_owned()));
            conditions.clause(format!(
                "(reference in (select 'refund:' || sysid from refunds where app_id = {refunds}) \
                 or reference in (select 'settlement:' || sysid from settlements \
                 where app_id = {settlements}))"
            ));
        }
        self.keyset(&PAYOUTS, conditions, keyset).await
    }

    async fn signed_txs_of_payouts(
        &self,
        payout_ids: &[String],
    ) -> Result<Vec<SignedTx>, StoreError> {
        let select = format!("select {SIGNED_TX_COLUMNS} from payout_txs");
        let query = Keyed {
            select: &select,
            column: "payout_id",
            order: "signed_at, tx_hash",
        };
        self.rows_with_keys(query, payout_ids, "payout ids", signed_tx_from_row)
            .await
    }

    async fn webhook_keyset(
        &self,
        app: &AppId,
        filter: &ConsoleWebhookFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<OutboxEntry>, StoreError> {
        // `webhook_events_app_created_id` (app_id, created_at desc, event_id desc), or with a
        // status `webhook_events_app_status_created` (app_id, status, created_at desc, …).
        let mut conditions = Conditions::for_app(app);
        conditions.equals("status", filter.status.map(|s| s.as_str()));
        conditions.equals("event_type", filter.event_type.as_deref());
        self.keyset(&WEBHOOKS, conditions, keyset).await
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_before_its_last_characters_successor() {
        assert_eq!(prefix_end("custody:").as_deref(), Some("custody;"));
        assert_eq!(
            prefix_end("merchant:app_1:").as_deref(),
            Some("merchant:app_1;")
        );
        assert_eq!(prefix_end(""), None);
    }
}
