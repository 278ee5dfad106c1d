//! The webhook outbox: claims, attempts, operator queries.

use async_trait::async_trait;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{
    AttemptOutcome, ClaimLimits, DeliveryAttempt, OutboxEntry, OutboxFilter, OutboxStats,
    OutboxStore, StoreError,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::webhook::DeliveryStatus;

use crate::changes::placeholders;
use crate::engine::Engine;
use crate::rows::{int, opt_text, text, time};
use crate::{AnyQuery, SqlStore, store_error};

pub(crate) const ENTRY_COLUMNS: &str = "event_id, app_id, event_type, object_key, body, created_at, status, \
    attempts, next_attempt_at, last_error, delivered_at";

pub(crate) const ATTEMPT_COLUMNS: &str = "event_id, attempt, started_at, duration_ms, url, http_status, \
    delivered, error, response_excerpt";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("invalid {what} in webhook_events"))
}

pub(crate) fn entry_from_row(row: &AnyRow) -> Result<OutboxEntry, StoreError> {
    let event_type = text(row, "event_type")?;
    let status = text(row, "status")?;
    let delivered_at = row_opt_int(row, "delivered_at")?;
    Ok(OutboxEntry {
        event: OutboxEvent {
            event_id: text(row, "event_id")?,
            app_id: AppId::new(text(row, "app_id")?),
            event_type: EventType::parse(&event_type).ok_or_else(|| corrupt("event_type"))?,
            object_key: text(row, "object_key")?,
            body: text(row, "body")?,
            created_at: time(row, "created_at")?,
        },
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        attempts: u32::try_from(int(row, "attempts")?).map_err(|_| corrupt("attempts"))?,
        next_attempt_at: time(row, "next_attempt_at")?,
        last_error: opt_text(row, "last_error")?,
        delivered_at: delivered_at.map(Timestamp::from_micros),
    })
}

fn row_opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, StoreError> {
    use sqlx::Row;
    row.try_get::<Option<i64>, _>(column).map_err(store_error)
}

pub(crate) fn attempt_from_row(row: &AnyRow) -> Result<DeliveryAttempt, StoreError> {
    let http_status = row_opt_int(row, "http_status")?;
    Ok(DeliveryAttempt {
        event_id: text(row, "event_id")?,
        attempt: u32::try_from(int(row, "attempt")?).map_err(|_| corrupt("attempt"))?,
        started_at: time(row, "started_at")?,
        duration_ms: u64::try_from(int(row, "duration_ms")?).unwrap_or(0),
        url: opt_text(row, "url")?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        delivered: int(row, "delivered")? != 0,
        error: opt_text(row, "error")?,
        response_excerpt: opt_text(row, "response_excerpt")?,
    })
}

/// The claim of up to `limits.total` due events, at most `limits.per_app` per app, apps `$4…`
/// skipped (they are at their concurrency limit), an event only when no earlier event about the same object
/// is pending (webhooks about one object arrive in order).
///
/// Each app's due events are read from its own index range and only `per_app` deep (plus the
/// events held back by an earlier one), so the cost follows the number of apps and claimed
/// events, not the backlog: a full app's thousands of waiting events are never scanned.
/// SQLite drives this with a correlated `in`, PostgreSQL with a lateral join.
fn claim_sql(engine: Engine, limits: ClaimLimits, skipped: usize) -> String {
    let ClaimLimits { total, per_app } = limits;
    let app_rows = format!(
        "select d.seq from webhook_events d \
         where d.app_id = a.id and d.status = 'PENDING' and d.next_attempt_at <= $3 \
         and d.locked_until < $3 \
         and not exists (select 1 from webhook_events p where p.object_key = d.object_key \
                         and p.seq < d.seq and p.status = 'PENDING') \
         order by d.next_attempt_at, d.seq limit {per_app}"
    );
    let skip = if skipped == 0 {
        String::new()
    } else {
        format!(" where a.id not in ({})", placeholders(skipped, 4))
    };
    let (candidates, lock) = match engine {
        // Rows another process is claiming right now are skipped, not waited for.
        Engine::Postgres => (
            format!("select c.seq from apps a cross join lateral ({app_rows}) c{skip}"),
            " for update skip locked",
        ),
        Engine::Sqlite => (
            format!(
                "select c.seq from apps a join webhook_events c on c.seq in ({app_rows}){skip}"
            ),
            "",
        ),
    };
    format!(
        "update webhook_events set locked_until = $1, locked_by = $2 where seq in ( \
           select e.seq from webhook_events e where e.seq in ({candidates}) \
           order by e.next_attempt_at, e.seq limit {total}{lock}) \
         returning {ENTRY_COLUMNS}"
    )
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_due_events(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        holder: &str,
        limits: ClaimLimits,
        skip_apps: &[AppId],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = claim_sql(self.engine, limits, skip_apps.len());
        let holder = holder.to_owned();
        let skip_apps = skip_apps
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect::<Vec<_>>();
        // Through the group commit: claims share a commit with the attempts being recorded.
        let rows = self
            .group
            .run(move |conn| {
                let (sql, holder, skip_apps) = (sql.clone(), holder.clone(), skip_apps.clone());
                Box::pin(async move {
                    let mut query = sqlx::query(&sql)
                        .bind(lease_until.micros())
                        .bind(holder)
                        .bind(now.micros());
                    for app in skip_apps {
                        query = query.bind(app);
                    }
                    query.fetch_all(conn).await.map_err(store_error)
                })
            })
            .await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.next_attempt_at);
        Ok(entries)
    }

    async fn finish_attempt(
        &self,
        holder: &str,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let (status, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered => {
                (DeliveryStatus::Delivered, None, Some(attempt.started_at))
            }
            AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, Some(at), None),
            AttemptOutcome::GaveUp => (DeliveryStatus::Failed, None, None),
        };
        let (holder, attempt) = (holder.to_owned(), attempt.clone());
        let outcome = Outcome {
            status,
            next,
            delivered_at,
        };
        self.group
            .run(move |conn| {
                let (holder, attempt) = (holder.clone(), attempt.clone());
                Box::pin(async move { record_attempt(conn, &holder, &attempt, outcome).await })
            })
            .await
    }

    async fn outbox_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(OutboxEntry, Vec<DeliveryAttempt>)>, StoreError> {
        let sql = format!("select {ENTRY_COLUMNS} from webhook_events where event_id = $1");
        let row = sqlx::query(&sql)
            .bind(event_id)
            .fetch_optional(&self.reader)
            .await;
        let Some(row) = row.map_err(store_error)? else {
            return Ok(None);
        };
        let sql = format!(
            "select {ATTEMPT_COLUMNS} from webhook_attempts where event_id = $1 order by id"
        );
        let rows = sqlx::query(&sql)
            .bind(event_id)
            .fetch_all(&self.reader)
            .await;
        let attempts = rows
            .map_err(store_error)?
            .iter()
            .map(attempt_from_row)
            .collect::<Result<_, _>>()?;
        Ok(Some((entry_from_row(&row)?, attempts)))
    }

    async fn list_outbox(
        &self,
        filter: &OutboxFilter,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let (where_clause, args) = outbox_conditions(filter);
        let sql = format!(
            "select {ENTRY_COLUMNS} from webhook_events where {where_clause} \
             order by seq desc limit {limit}"
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(&self.reader)
            .await;
        rows.map_err(store_error)?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    async fn requeue(
        &self,
        filter: &OutboxFilter,
        event_id: Option<&str>,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let (mut where_clause, mut args) = outbox_conditions(filter);
        if let Some(event_id) = event_id {
            args.push(Bound::Text(event_id.to_owned()));
            where_clause.push_str(&format!(" and event_id = ${}", args.len()));
        }
        args.push(Bound::Int(now.micros()));
        let sql = format!(
            "update webhook_events set status = 'PENDING', next_attempt_at = ${}, \
             locked_until = 0, locked_by = null where {where_clause}",
            args.len()
        );
        let done = bind_all(sqlx::query(&sql), &args)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let row = sqlx::query(
            "select count(*) as pending, min(created_at) as oldest from webhook_events \
             where status = 'PENDING'",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(store_error)?;
        Ok(OutboxStats {
            pending: u64::try_from(int(&row, "pending")?).unwrap_or(0),
            oldest_pending: row_opt_int(&row, "oldest")?.map(Timestamp::from_micros),
        })
    }
}

/// What an attempt leaves on its event.
#[derive(Clone, Copy)]
struct Outcome {
    status: DeliveryStatus,
    next: Option<Timestamp>,
    delivered_at: Option<Timestamp>,
}

/// Records an attempt and its outcome on the event, if `holder` still holds its claim.
async fn record_attempt(
    conn: &mut AnyConnection,
    holder: &str,
    attempt: &DeliveryAttempt,
    outcome: Outcome,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update webhook_events set status = $1, attempts = $2, \
         next_attempt_at = coalesce($3, next_attempt_at), delivered_at = $4, last_error = $5, \
         locked_until = 0, locked_by = null where event_id = $6 and locked_by = $7",
    )
    .bind(outcome.status.as_str())
    .bind(i64::from(attempt.attempt))
    .bind(outcome.next.map(|t| t.micros()))
    .bind(outcome.delivered_at.map(|t| t.micros()))
    .bind(attempt.error.as_deref())
    .bind(attempt.event_id.as_str())
    .bind(holder)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    let sql = format!(
        "insert into webhook_attempts ({ATTEMPT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    sqlx::query(&sql)
        .bind(attempt.event_id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.started_at.micros())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(attempt.url.as_deref())
        .bind(attempt.http_status.map(i64::from))
        .bind(i64::from(attempt.delivered))
        .bind(attempt.error.as_deref())
        .bind(attempt.response_excerpt.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(done.rows_affected() == 1)
}

enum Bound {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(mut query: AnyQuery<'q>, args: &'q [Bound]) -> AnyQuery<'q> {
    for arg in args {
        query = match arg {
            Bound::Text(text) => query.bind(text.as_str()),
            Bound::Int(value) => query.bind(*value),
        };
    }
    query
}

/// The filter as `where` text with `$1…` placeholders, and its values.
fn outbox_conditions(filter: &OutboxFilter) -> (String, Vec<Bound>) {
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(app) = &filter.app {
        args.push(Bound::Text(app.as_str().to_owned()));
        clauses.push(format!("app_id = ${}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(Bound::Text(status.as_str().to_owned()));
        clauses.push(format!("status = ${}", args.len()));
    }
    if let Some(since) = filter.since {
        args.push(Bound::Int(since.micros()));
        clauses.push(format!("created_at >= ${}", args.len()));
    }
    (clauses.join(" and "), args)
}
