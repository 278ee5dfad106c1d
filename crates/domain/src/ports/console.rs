//! What the operator console reads beyond the use cases' own queries: an order's webhooks with
//! their attempts, the audit log page by page, and the live sessions.

use async_trait::async_trait;

use super::{
    AbnormalFilter, DeliveryAttempt, OrderFilter, OutboxEntry, SettlementFilter, StoreError,
};
use crate::abnormal::AbnormalPayment;
use crate::ids::AppId;
use crate::ledger::Totals;
use crate::money::TokenAmount;
use crate::operator::{AuditEntry, ConsoleSession};
use crate::order::Order;
use crate::payout::{Payout, PayoutKind, SignedTx};
use crate::refund::{Refund, RefundStatus};
use crate::settlement::Settlement;
use crate::time::Timestamp;
use crate::webhook::DeliveryStatus;

/// Where a page of a newest-first list starts: just after the row created at `created_at` with
/// the key `key` (rows created in the same microsecond are ordered by key, descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last row's creation time.
    pub created_at: Timestamp,
    /// The last row's key (its sysid, number or id).
    pub key: String,
}

/// Which part of a newest-first list to read: `limit` rows after `after` (from the newest when
/// `None`), and whether to count the matching rows too (up to `count_up_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    /// Read after this row.
    pub after: Option<Cursor>,
    /// Rows to read, at most.
    pub limit: u32,
    /// Count the rows matching the filter (all pages), stopping at this many; `None` counts
    /// nothing.
    pub count_up_to: Option<u64>,
}

/// A page of a keyset walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPage<T> {
    /// The rows, newest first.
    pub records: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// How many rows match in all pages (at most the count asked for), when asked.
    pub total: Option<u64>,
}

/// Filters of the console's refund list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleRefundFilter {
    /// Status.
    pub status: Option<RefundStatus>,
    /// Token id.
    pub token: Option<String>,
}

/// Filters of the console's webhook deliveries; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleWebhookFilter {
    /// Delivery status.
    pub status: Option<DeliveryStatus>,
    /// Event type (`CHECKOUT_ORDER_CHANGED`, …).
    pub event_type: Option<String>,
}

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
    /// A keyset page of the orders of `app` matching `filter`, newest first.
    async fn order_keyset(
        &self,
        app: &AppId,
        filter: &OrderFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Order>, StoreError>;
    /// Up to `limit` orders of any app whose customer id is `customer_id`, newest first.
    async fn orders_of_customer(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError>;
    /// A keyset page of the refunds of `app` matching `filter`, newest first.
    async fn refund_keyset(
        &self,
        app: &AppId,
        filter: &ConsoleRefundFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Refund>, StoreError>;
    /// A keyset page of the settlements of `app` matching `filter`, newest first.
    async fn settlement_keyset(
        &self,
        app: &AppId,
        filter: &SettlementFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Settlement>, StoreError>;
    /// A keyset page of the abnormal payments of `app` matching `filter`, newest first.
    async fn abnormal_keyset(
        &self,
        app: &AppId,
        filter: &AbnormalFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<AbnormalPayment>, StoreError>;
    /// A keyset page of the payouts not final yet (queued, signed, broadcast), newest first, of
    /// `kind` when given; with `app`, only the refunds and settlements of that app.
    async fn open_payout_keyset(
        &self,
        app: Option<&AppId>,
        kind: Option<PayoutKind>,
        keyset: &Keyset,
    ) -> Result<KeysetPage<Payout>, StoreError>;
    /// Every signed transaction of these payouts, oldest first.
    async fn signed_txs_of_payouts(
        &self,
        payout_ids: &[String],
    ) -> Result<Vec<SignedTx>, StoreError>;
    /// A keyset page of the webhook events of `app` matching `filter`, newest first.
    async fn webhook_keyset(
        &self,
        app: &AppId,
        filter: &ConsoleWebhookFilter,
        keyset: &Keyset,
    ) -> Result<KeysetPage<OutboxEntry>, StoreError>;
}
