//! Ports: what the domain needs from the outside world, as traits. Adapters (the SQL store, the
//! EVM chain, the clock) implement them; use cases only see these.

use std::ops::Range;

mod console;
mod money_out;

pub use console::*;
pub use money_out::*;

use async_trait::async_trait;

use crate::address::{Address, ChainFamily};
use crate::app::App;
use crate::chain::BlockMark;
use crate::events::OutboxEvent;
use crate::ids::{AppId, IntegratorNo};
use crate::money::Decimal;
use crate::operator::{AuditEntry, ConsoleSession, Operator, OperatorStatus};
use crate::order::{Order, OrderStatus};
use crate::payment::{
    AbnormalKind, AbnormalPayment, AbnormalStatus, InvalidTransferTransition, Transfer,
    TransferEvent, TransferKey, TransferState,
};
use crate::time::Timestamp;
use crate::token::{ChainKey, TokenId};
use crate::webhook::DeliveryStatus;

/// The current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// Exchange rates: token units per unit of fiat.
#[async_trait]
pub trait RateSource: Send + Sync {
    /// The rate to price a new order of `token` in `fiat`.
    async fn rate(&self, token: &TokenId, fiat: &str) -> Result<Decimal, RateError>;
}

/// Why a rate source gave no rate. Its own failure, not a client's: the use case decides what
/// the client hears.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The source prices nothing in this fiat currency.
    #[error("no rates in {0}")]
    FiatNotOffered(String),
    /// The source has no rate for this token.
    #[error("no exchange rate for {0}")]
    NoRate(TokenId),
    /// The source could not answer now.
    #[error("rate source unavailable: {0}")]
    Unavailable(String),
}

/// Derives deposit addresses from the operator's seed, each family under its own BIP-44 coin
/// type (`m/44'/60'/0'/0/i` on EVM chains, `m/44'/195'/0'/0/i` on TRON). One index allocation
/// serves every family: index `i` is one order's, whatever its chain.
pub trait DepositAddresses: Send + Sync {
    /// The address of `family` at `index`.
    fn address_at(&self, family: ChainFamily, index: u64) -> Result<Address, DerivationError>;
}

/// Why no deposit address could be derived at an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerivationError {
    /// The index is beyond what the derivation scheme allows (BIP-32: below 2^31).
    #[error("deposit index {0} is beyond the derivation's range")]
    OutOfRange(u64),
    /// The key derivation itself failed.
    #[error("deriving the deposit key at index {index} failed: {reason}")]
    Failed {
        /// The index.
        index: u64,
        /// What the derivation said.
        reason: String,
    },
    /// No deposit keys of this family are configured.
    #[error("no deposit keys for {0} chains")]
    Family(ChainFamily),
}

/// A storage failure, never caused by the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database can't be reached or is overloaded; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug, corrupted data).
    #[error("database error: {0}")]
    Internal(String),
}

/// The use of a request signature, remembered until `expires_at` so that a replay is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureUse {
    /// The app that signed.
    pub app: AppId,
    /// A hash of the signature (the signature itself is never stored).
    pub signature_hash: String,
    /// When the signature's timestamp leaves the accepted window.
    pub expires_at: Timestamp,
}

/// What happened to an order insert that carried its request's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderInsert {
    /// The order is new.
    New(Order),
    /// The app already has an order with this number; here it is, unchanged.
    Existing(Order),
    /// The signature had been used before: nothing was written.
    Replayed,
}

/// A change of an order persisted with compare-and-set on its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderWrite {
    /// The version read before the change; the write fails if it is no longer current.
    pub expected_version: i64,
    /// The order after the change (its version must be `expected_version + 1`).
    pub order: Order,
}

impl TransferChange {
    /// Moves `transfer` by `event` from the state it was read in (compare-and-set on it).
    pub fn transition(
        transfer: &Transfer,
        event: TransferEvent,
    ) -> Result<TransferChange, InvalidTransferTransition> {
        Ok(TransferChange::SetState {
            key: transfer.key(),
            from: transfer.state,
            to: transfer.state.apply(event)?,
        })
    }
}

/// A change to the record of chain transfers.
// Change sets are short-lived vectors built once per commit; boxing the transfer saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferChange {
    /// Records a transfer; a transfer already recorded is left as it is, except a `REVERSED`
    /// one seen again under the same key, which is back on the chain and `CREDITED` again.
    /// `if_new` postings apply only when the transfer is new, `if_revived` only in that second
    /// case, so a rescan never posts twice.
    Record {
        /// The transfer.
        transfer: Transfer,
        /// Postings when it is recorded for the first time.
        if_new: Vec<crate::ledger::Posting>,
        /// Postings when a reversed transfer comes back.
        if_revived: Vec<crate::ledger::Posting>,
    },
    /// Moves a transfer from `from` to `to` (compare-and-set on its state).
    SetState {
        /// Which transfer.
        key: TransferKey,
        /// Its state as read.
        from: TransferState,
        /// Its new state.
        to: TransferState,
    },
    /// Forgets a `PENDING` transfer whose block was abandoned.
    ForgetPending(TransferKey),
}

/// A change of the abnormal payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbnormalChange {
    /// A new one.
    Create(AbnormalPayment),
    /// A change, compare-and-set on the version (the payment carries `expected_version + 1`).
    Update {
        /// The version read.
        expected_version: i64,
        /// The payment after the change.
        payment: AbnormalPayment,
    },
}

/// Moves a chain's cursor (the last block whose transfers are recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorMove {
    /// Chain.
    pub chain: ChainKey,
    /// The cursor as read (`None` when the chain has none yet); compare-and-set.
    pub expected: Option<BlockMark>,
    /// The new cursor.
    pub to: BlockMark,
    /// Blocks to remember as reorg checkpoints (the new cursor is always remembered).
    pub checkpoints: Vec<BlockMark>,
    /// Forget checkpoints above this height (after a reorg).
    pub forget_above: Option<u64>,
}

/// Everything one state change writes, committed atomically or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Order changes.
    pub orders: Vec<OrderWrite>,
    /// Transfer records.
    pub transfers: Vec<TransferChange>,
    /// Abnormal payments.
    pub abnormal: Vec<AbnormalChange>,
    /// A chain cursor move.
    pub cursor: Option<CursorMove>,
    /// Refund records.
    pub refunds: Vec<RefundChange>,
    /// Settlement records.
    pub settlements: Vec<SettlementChange>,
    /// Payout records.
    pub payouts: Vec<PayoutChange>,
    /// Signed transactions, stored before they are broadcast.
    pub signed_txs: Vec<crate::payout::SignedTx>,
    /// Nonces taken.
    pub nonces: Vec<NonceTaken>,
    /// Ledger postings.
    pub postings: Vec<crate::ledger::Posting>,
    /// Webhook events announcing the changes.
    pub events: Vec<OutboxEvent>,
}

/// Why a change set was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// An object changed since it was read; reload and decide again.
    #[error("concurrent change")]
    Conflict,
    /// A posting would take a guarded account (what a merchant is owed) below zero.
    #[error("insufficient balance in {0}")]
    Insufficient(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// List filters for orders; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Exact integrator number.
    pub order_no: Option<String>,
    /// Exact merchant.
    pub merchant_id: Option<String>,
    /// Exact customer.
    pub customer_id: Option<String>,
    /// Exact status.
    pub status: Option<OrderStatus>,
    /// Exact token id.
    pub token: Option<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created at or before.
    pub created_to: Option<Timestamp>,
}

/// A page request (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Page number, from 1.
    pub page: u32,
    /// Rows per page, 1 to 100.
    pub size: u32,
}

impl PageRequest {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)).saturating_mul(u64::from(self.size))
    }
}

/// One page of results and the total count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows.
    pub records: Vec<T>,
    /// Rows matching the filter in all pages.
    pub total: u64,
}

/// A bearer grant issued by the token endpoint, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The app it authenticates.
    pub app_id: AppId,
    /// Access or refresh.
    pub kind: GrantKind,
    /// The app's secrets version when issued; a rotation invalidates it.
    pub secrets_version: i64,
    /// End of validity.
    pub expires_at: Timestamp,
}

/// Which token a grant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// `access_token`, for `Authorization: Bearer`.
    Access,
    /// `refresh_token`, exchanged once for a new pair.
    Refresh,
}

/// Apps.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Adds an app.
    async fn insert_app(&self, app: &App) -> Result<(), StoreError>;
    /// An app by id.
    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError>;
    /// An app by its public `apiKey`.
    async fn app_by_api_key(&self, api_key: &str) -> Result<Option<App>, StoreError>;
    /// Every app, oldest first.
    async fn apps(&self) -> Result<Vec<App>, StoreError>;
    /// Replaces an app's fields.
    async fn update_app(&self, app: &App) -> Result<(), StoreError>;
}

/// Bearer grants and the replay guard of request signatures.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a grant.
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError>;
    /// A grant (expired or not) with its app, in one lookup (every authenticated request makes
    /// it).
    async fn grant_with_app(&self, token_hash: &str) -> Result<Option<(Grant, App)>, StoreError>;
    /// Removes and returns a grant of `kind`, so a refresh token is exchanged only once. A grant
    /// of another kind is neither returned nor removed.
    async fn take_grant(
        &self,
        token_hash: &str,
        kind: GrantKind,
    ) -> Result<Option<Grant>, StoreError>;
    /// Records that a signature was used; false when it had been seen already (a replay).
    async fn first_use_of_signature(
        &self,
        app: &AppId,
        signature_hash: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Deletes expired grants, remembered signatures and console sessions.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// Checkout orders.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Reserves `count` never-used deposit address indexes.
    async fn reserve_address_indexes(&self, count: u64) -> Result<Range<u64>, StoreError>;
    /// Inserts an order unless the app already has one with its number, and remembers the
    /// signature of the request that asked for it in the same transaction (a request whose
    /// signature was seen before writes nothing).
    async fn insert_order(
        &self,
        order: &Order,
        signature: Option<&SignatureUse>,
    ) -> Result<OrderInsert, StoreError>;
    /// An app's order by integrator number.
    async fn order_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Order>, StoreError>;
    /// Every app's order with this number (operator tools), oldest first.
    async fn orders_by_no_any_app(&self, no: &IntegratorNo) -> Result<Vec<Order>, StoreError>;
    /// An order by its hosted page token.
    async fn order_by_page_token(&self, token: &str) -> Result<Option<Order>, StoreError>;
    /// A page of an app's orders, newest first.
    async fn list_orders(
        &self,
        app: &AppId,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError>;
    /// `PAYING` orders whose window ended at or before `now`, oldest first.
    async fn orders_due_for_expiry(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError>;
    /// Orders per status, for metrics.
    async fn count_orders_by_status(&self) -> Result<Vec<(OrderStatus, u64)>, StoreError>;
}

/// The stored position of a chain's watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCursor {
    /// Last block whose transfers are recorded.
    pub processed: BlockMark,
    /// Head height when last seen.
    pub head_number: u64,
    /// Head timestamp when last seen.
    pub head_time: Timestamp,
    /// Start of the last round that ended caught up with the head.
    pub caught_up_at: Timestamp,
    /// When this was written.
    pub updated_at: Timestamp,
}

/// Filters of the abnormal payment list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbnormalFilter {
    /// Order number.
    pub order_no: Option<String>,
    /// Type.
    pub kind: Option<AbnormalKind>,
    /// Status.
    pub status: Option<AbnormalStatus>,
    /// Token id.
    pub token: Option<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created at or before.
    pub created_to: Option<Timestamp>,
}

/// Chain positions, transfers and abnormal payments.
#[async_trait]
pub trait ChainStore: Send + Sync {
    /// The chain's cursor, if it has one.
    async fn chain_cursor(&self, chain: &ChainKey) -> Result<Option<ChainCursor>, StoreError>;
    /// Records the head last seen (for health and confirmations shown to integrators) and,
    /// when the round that started at `round_start` recorded everything up to that head, that
    /// the chain is known up to that moment.
    async fn note_chain_head(
        &self,
        chain: &ChainKey,
        head: (u64, Timestamp),
        round_start: Timestamp,
        caught_up: bool,
    ) -> Result<(), StoreError>;
    /// Takes or renews a worker's lease (a chain's watcher: the chain key; its payout engine:
    /// `payouts:{chain}`); false when another live holder has it.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up (a clean shutdown), so another process need not wait for it to expire.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Who holds the lease `name` (live or expired), if anyone.
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Takes the lease `name` from `previous` (compare-and-set: false when someone else holds
    /// it by now), for a run that knows `previous` is gone.
    async fn take_lease_from(
        &self,
        name: &str,
        previous: &str,
        holder: &str,
        until: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Remembered reorg checkpoints at or below `at_or_below`, highest first.
    async fn checkpoints(
        &self,
        chain: &ChainKey,
        at_or_below: u64,
        limit: u32,
    ) -> Result<Vec<BlockMark>, StoreError>;
    /// The deposit address and token of every order of these tokens whose payment window
    /// ends at or after `expires_after` (what a per-account chain adapter watches), unordered.
    async fn deposits_expiring_after(
        &self,
        tokens: &[TokenId],
        expires_after: Timestamp,
    ) -> Result<Vec<(Address, TokenId)>, StoreError>;
    /// Orders whose deposit address is one of these.
    async fn orders_by_deposit_addresses(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Order>, StoreError>;
    /// `PENDING` or `CREDITED` transfers of the chain in blocks above `above`.
    async fn transfers_above(
        &self,
        chain: &ChainKey,
        above: u64,
    ) -> Result<Vec<Transfer>, StoreError>;
    /// `PENDING` transfers of the chain in blocks at or below `max_block`, oldest first.
    async fn pending_transfers_up_to(
        &self,
        chain: &ChainKey,
        max_block: u64,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError>;
    /// Every transfer to these orders, oldest first.
    async fn transfers_of_orders(&self, sysids: &[String]) -> Result<Vec<Transfer>, StoreError>;
    /// Transfers of a transaction (any state).
    async fn transfers_of_tx(
        &self,
        chain: &ChainKey,
        tx_hash: &str,
    ) -> Result<Vec<Transfer>, StoreError>;
    /// A page of an app's abnormal payments, newest first.
    async fn list_abnormal_payments(
        &self,
        app: &AppId,
        filter: &AbnormalFilter,
        page: PageRequest,
    ) -> Result<Page<AbnormalPayment>, StoreError>;
    /// An order by its system id.
    async fn order_by_sysid(&self, sysid: &str) -> Result<Option<Order>, StoreError>;
}

/// An outbox event with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The event, its body fixed.
    pub event: OutboxEvent,
    /// Where its delivery stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (while `PENDING`).
    pub next_attempt_at: Timestamp,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the receiver acknowledged it.
    pub delivered_at: Option<Timestamp>,
}

/// One delivery attempt, as logged for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The event.
    pub event_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// How long it took.
    pub duration_ms: u64,
    /// Where it went (`None` when the app had no webhook URL).
    pub url: Option<String>,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Whether the receiver acknowledged it.
    pub delivered: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// The beginning of the receiver's answer.
    pub response_excerpt: Option<String>,
}

/// What an attempt leaves the delivery as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Acknowledged.
    Delivered,
    /// Failed; try again then.
    RetryAt(Timestamp),
    /// Failed for the last time.
    GaveUp,
}

/// Which events `list_outbox` returns; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxFilter {
    /// One app's events.
    pub app: Option<AppId>,
    /// In this status.
    pub status: Option<DeliveryStatus>,
    /// Created at or after.
    pub since: Option<Timestamp>,
}

/// Queue figures for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Events waiting for delivery.
    pub pending: u64,
    /// Creation time of the oldest of them.
    pub oldest_pending: Option<Timestamp>,
}

/// How many events one claim may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// In all.
    pub total: u32,
    /// Of any one app.
    pub per_app: u32,
}

/// The webhook outbox: claiming due events, recording attempts, operator tools.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Takes up to `limits.total` events due at `now`, at most `limits.per_app` of any one app,
    /// for `holder` until `lease_until`: the oldest due first, never one whose object has an
    /// earlier event still pending (events of an object are delivered in order), never one held
    /// by a live lease, never one of `skip_apps`.
    async fn claim_due_events(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        holder: &str,
        limits: ClaimLimits,
        skip_apps: &[AppId],
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Logs an attempt and moves the event on, releasing `holder`'s claim; false when the claim
    /// had been lost (the attempt is logged anyway).
    async fn finish_attempt(
        &self,
        holder: &str,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<bool, StoreError>;
    /// One event with every attempt, oldest first.
    async fn outbox_event(
        &self,
        event_id: &str,
    ) -> Result<Option<(OutboxEntry, Vec<DeliveryAttempt>)>, StoreError>;
    /// Events matching the filter, newest first.
    async fn list_outbox(
        &self,
        filter: &OutboxFilter,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Makes the matching events due again at `now` (operator resend); returns how many.
    async fn requeue(
        &self,
        filter: &OutboxFilter,
        event_id: Option<&str>,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Queue figures.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
}

/// What a webhook receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverAnswer {
    /// HTTP status.
    pub status: u16,
    /// The beginning of the body (the sender reads a bounded amount).
    pub body: Vec<u8>,
}

/// Posts webhook bodies. Adapters refuse targets the operator has not allowed (private
/// addresses, plain HTTP in production) with an error saying so.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` with `headers` to `url`, giving up after `timeout`.
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        timeout: std::time::Duration,
    ) -> Result<ReceiverAnswer, DeliveryError>;
}

/// Why a delivery got no answer from its receiver (its text is what the attempt log keeps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Refused by the sender's policy before anything was sent: not an http(s) URL, plain HTTP
    /// where HTTPS is required, an internal address.
    #[error("{0}")]
    Refused(String),
    /// Connecting, sending or reading the answer failed (or timed out), with its causes.
    #[error("{0}")]
    Transport(String),
}

/// Operator accounts of the console, their sessions and the audit log. The log has no
/// operation that changes or removes an entry. Expired sessions go with
/// [`SessionStore::purge_expired`].
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Adds an account; false (nothing written) when its name is taken.
    async fn insert_operator(&self, operator: &Operator) -> Result<bool, StoreError>;
    /// An account by name.
    async fn operator(&self, name: &str) -> Result<Option<Operator>, StoreError>;
    /// Every account, by name.
    async fn operators(&self) -> Result<Vec<Operator>, StoreError>;
    /// Moves an account from status `from` to `to` (compare-and-set: false when it is not in
    /// `from`, or does not exist).
    async fn set_operator_status(
        &self,
        name: &str,
        from: OperatorStatus,
        to: OperatorStatus,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Replaces an account's password hash (compare-and-set: false when its hash is no longer
    /// `expected`, or the account does not exist).
    async fn set_operator_password(
        &self,
        name: &str,
        expected: &str,
        password_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Switches an account's second factor on with `sealed_secret`, remembering `last_step` as
    /// the step of the code already used to confirm it, if any (compare-and-set: false when it
    /// is on already, or the account does not exist).
    async fn enable_operator_totp(
        &self,
        name: &str,
        sealed_secret: &str,
        last_step: Option<i64>,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Switches an account's second factor off (compare-and-set: false when its sealed secret
    /// is no longer `expected`).
    async fn disable_operator_totp(
        &self,
        name: &str,
        expected: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Accepts a code of time step `step` once: remembers `step` as the last step used, only
    /// while the account's secret is still `sealed_secret` and its last step used is earlier
    /// (compare-and-set: false otherwise, e.g. for a code used already).
    async fn use_totp_step(
        &self,
        name: &str,
        sealed_secret: &str,
        step: i64,
    ) -> Result<bool, StoreError>;
    /// Remembers a successful sign-in's time.
    async fn record_operator_sign_in(&self, name: &str, at: Timestamp) -> Result<(), StoreError>;
    /// Stores a new console session.
    async fn insert_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;
    /// A session (expired or not) with its operator, in one lookup (every console request
    /// makes it).
    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ConsoleSession, Operator)>, StoreError>;
    /// Ends a session; false when there was none.
    async fn end_console_session(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Appends an entry to the audit log.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The latest `limit` entries, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Atomic persistence of state changes and their events.
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// Commits every write of the set, or none.
    async fn commit(&self, changes: ChangeSet) -> Result<(), CommitError>;
}

/// Database reachability.
#[async_trait]
pub trait Health: Send + Sync {
    /// Ok when a trivial query succeeds.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Everything the use cases need from storage.
pub trait Store:
    AppStore
    + SessionStore
    + OrderStore
    + ChainStore
    + ChangeStore
    + OutboxStore
    + MoneyStore
    + OperatorStore
    + ConsoleStore
    + Health
{
}

impl<T> Store for T where
    T: AppStore
        + SessionStore
        + OrderStore
        + ChainStore
        + ChangeStore
        + OutboxStore
        + MoneyStore
        + OperatorStore
        + ConsoleStore
        + Health
{
}
