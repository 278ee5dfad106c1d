//! What the operator console reads beyond the use cases' own queries: an order's webhooks with
//! their attempts, the audit log page by page, and the live sessions.

use async_trait::async_trait;

use super::{DeliveryAttempt, OutboxEntry, StoreError};
use crate::ids::AppId;
use crate::ledger::Totals;
use crate::money::TokenAmount;
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

/// How many orders of one token and status were created on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// UTC days since 1970-01-01.
    pub day: i64,
    /// The order's token.
    pub token: String,
    /// Its status now (as stored, e.g. `PAID`).
    pub status: String,
    /// How many.
    pub orders: u64,
}

/// What a paid order created on one day brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPaid {
    /// UTC days since 1970-01-01.
    pub day: i64,
    /// The order's token.
    pub token: String,
    /// Its paid amount, base units.
    pub paid: TokenAmount,
}

/// How one app's webhook events stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookCounts {
    /// Not delivered yet (still being tried), whenever written.
    pub backlog: u64,
    /// Written since the window's start and delivered.
    pub delivered: u64,
    /// Written since the window's start and given up on.
    pub failed: u64,
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
    /// The orders of `app` created at or after `since`, counted by UTC day, token and status.
    async fn order_days(&self, app: &AppId, since: Timestamp) -> Result<Vec<DayCount>, StoreError>;
    /// The paid amounts of the orders of `app` created at or after `since` that were paid
    /// (`PAID` or refunded since), by UTC day and token.
    async fn paid_days(&self, app: &AppId, since: Timestamp) -> Result<Vec<DayPaid>, StoreError>;
    /// How many abnormal payments of `app` were recorded at or after `since`.
    async fn abnormal_since(&self, app: &AppId, since: Timestamp) -> Result<u64, StoreError>;
    /// How the webhook events of `app` stand: its backlog, and those written since `since`.
    async fn webhook_counts(
        &self,
        app: &AppId,
        since: Timestamp,
    ) -> Result<WebhookCounts, StoreError>;
    /// Every ledger account whose name starts with `prefix` and is not at zero, by name,
    /// through an index range (the money port's prefix match reads every account).
    async fn ledger_range(&self, prefix: &str) -> Result<Vec<(String, Totals)>, StoreError>;
}
