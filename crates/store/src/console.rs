//! The operator console's reads: an order's webhooks and their attempts, the audit log by
//! pages, and the live sessions. Each is one indexed query.

use async_trait::async_trait;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::Totals;
use wcheckout_domain::operator::ConsoleSession;
use wcheckout_domain::ports::{
    AuditRow, ConsoleStore, DayCount, DayPaid, DeliveryAttempt, OutboxEntry, StoreError,
    WebhookCounts,
};
use wcheckout_domain::time::Timestamp;

use crate::changes::placeholders;
use crate::engine::Engine;
use crate::money::{TOTALS_COLUMNS, totals_from_row};
use crate::operators::audit_from_row;
use crate::outbox::{ATTEMPT_COLUMNS, ENTRY_COLUMNS, attempt_from_row, entry_from_row};
use crate::rows::{amount, int, text, time};
use crate::{SqlStore, store_error};

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

fn too_many(what: &str) -> StoreError {
    StoreError::Internal(format!("at most {MAX_KEYS} {what} at once"))
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn events_of_objects(
        &self,
        object_keys: &[String],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if object_keys.is_empty() {
            return Ok(Vec::new());
        }
        if object_keys.len() > MAX_KEYS {
            return Err(too_many("object keys"));
        }
        let sql = format!(
            "select {ENTRY_COLUMNS} from webhook_events where object_key in ({}) order by seq",
            placeholders(object_keys.len(), 1)
        );
        let mut query = sqlx::query(&sql);
        for key in object_keys {
            query = query.bind(key.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(store_error)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn attempts_of_events(
        &self,
        event_ids: &[String],
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        if event_ids.len() > MAX_KEYS {
            return Err(too_many("event ids"));
        }
        let sql = format!(
            "select {ATTEMPT_COLUMNS} from webhook_attempts where event_id in ({}) order by id",
            placeholders(event_ids.len(), 1)
        );
        let mut query = sqlx::query(&sql);
        for id in event_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.reader).await.map_err(store_error)?;
        rows.iter().map(attempt_from_row).collect()
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
