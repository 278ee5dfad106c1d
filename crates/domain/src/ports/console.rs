//! What the operator console reads beyond the use cases' own queries: an order's webhooks with
//! their attempts, the audit log page by page, and the live sessions.

use async_trait::async_trait;

use super::{DeliveryAttempt, OutboxEntry, StoreError};
use crate::ids::AppId;
use crate::operator::{AuditEntry, ConsoleSession};
use crate::time::Timestamp;

/// An audit log entry with its position in the log (larger is newer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its position, for the next page.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// The console's own reads.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Every outbox event about these objects (`order:OR…`, `refund:RF…`), oldest first.
    async fn events_of_objects(
        &self,
        object_keys: &[String],
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Every delivery attempt of these events, oldest first.
    async fn attempts_of_events(
        &self,
        event_ids: &[String],
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;
    /// Up to `limit` audit entries older than `before` (from the newest when `None`), newest
    /// first; with `app`, only those of operators bound to that app.
    async fn audit_page(
        &self,
        app: Option<&AppId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError>;
    /// Sessions not expired at `now`, newest first (at most `limit`).
    async fn live_console_sessions(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<ConsoleSession>, StoreError>;
    /// Ends every session of `operator`; how many there were.
    async fn end_sessions_of(&self, operator: &str) -> Result<u64, StoreError>;
}
