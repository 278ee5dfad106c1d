//! The operator console's reads: an order's webhooks and their attempts, the audit log by
//! pages, and the live sessions. Each is one indexed query.

use async_trait::async_trait;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::ConsoleSession;
use wcheckout_domain::ports::{AuditRow, ConsoleStore, DeliveryAttempt, OutboxEntry, StoreError};
use wcheckout_domain::time::Timestamp;

use crate::changes::placeholders;
use crate::operators::audit_from_row;
use crate::outbox::{ATTEMPT_COLUMNS, ENTRY_COLUMNS, attempt_from_row, entry_from_row};
use crate::rows::{int, text, time};
use crate::{SqlStore, store_error};

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
}
