//! Ports for money going out: refunds, settlements, payouts and the ledger.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::address::Address;
use crate::ids::{AppId, IntegratorNo};
use crate::ledger::Totals;
use crate::payment::AbnormalPayment;
use crate::payout::{Payout, PayoutKind, SignedTx};
use crate::reconciliation::AssetReconciliation;
use crate::refund::{Refund, RefundStatus};
use crate::settlement::{Settlement, SettlementStatus};
use crate::time::Timestamp;
use crate::token::ChainKey;

/// A change of a refund (compare-and-set on its version for updates; a create whose
/// integrator number exists is a conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundChange {
    /// A new refund.
    Create(Refund),
    /// A change; the refund carries `expected_version + 1`.
    Update {
        /// The version read.
        expected_version: i64,
        /// The refund after the change.
        refund: Refund,
    },
}

/// A change of a settlement, like [`RefundChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementChange {
    /// A new settlement.
    Create(Settlement),
    /// A change.
    Update {
        /// The version read.
        expected_version: i64,
        /// The settlement after the change.
        settlement: Settlement,
    },
}

/// A change of a payout, like [`RefundChange`]; a create whose `(kind, reference)` exists is a
/// conflict, so an object is never paid twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutChange {
    /// A new payout.
    Create(Payout),
    /// A change.
    Update {
        /// The version read.
        expected_version: i64,
        /// The payout after the change.
        payout: Payout,
    },
}

/// A nonce taken by a payout: the address's next nonce moves to `nonce + 1`, and only forward
/// (a nonce below the recorded next one is a conflict; the first use of an address records it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceTaken {
    /// Chain.
    pub chain: ChainKey,
    /// Sending address.
    pub address: Address,
    /// The nonce taken.
    pub nonce: u64,
}

/// Filters of the refund list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundFilter {
    /// Order number.
    pub order_no: Option<String>,
    /// Status.
    pub status: Option<RefundStatus>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created at or before.
    pub created_to: Option<Timestamp>,
}

/// Filters of the settlement list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementFilter {
    /// Merchant.
    pub merchant_id: Option<String>,
    /// Token id.
    pub token: Option<String>,
    /// Status.
    pub status: Option<SettlementStatus>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created at or before.
    pub created_to: Option<Timestamp>,
}

/// What the ledger's self-check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerCheck {
    /// Entries.
    pub entries: u64,
    /// Sum of every entry (each is one debit and one credit of the same amount).
    pub total: u128,
    /// Sum of the accounts' debit totals.
    pub account_debits: u128,
    /// Sum of the accounts' credit totals.
    pub account_credits: u128,
    /// Accounts whose totals differ from the sum of their entries.
    pub mismatched_accounts: Vec<String>,
}

/// Refunds, settlements, payouts and the ledger.
#[async_trait]
pub trait MoneyStore: Send + Sync {
    /// An app's refund by integrator number.
    async fn refund_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Refund>, StoreError>;
    /// A refund by system id.
    async fn refund(&self, sysid: &str) -> Result<Option<Refund>, StoreError>;
    /// Every refund of an order, oldest first.
    async fn refunds_of_order(&self, order_sysid: &str) -> Result<Vec<Refund>, StoreError>;
    /// A page of an app's refunds, newest first.
    async fn list_refunds(
        &self,
        app: &AppId,
        filter: &RefundFilter,
        page: PageRequest,
    ) -> Result<Page<Refund>, StoreError>;
    /// An app's settlement by integrator number.
    async fn settlement_by_no(
        &self,
        app: &AppId,
        no: &IntegratorNo,
    ) -> Result<Option<Settlement>, StoreError>;
    /// A settlement by system id.
    async fn settlement(&self, sysid: &str) -> Result<Option<Settlement>, StoreError>;
    /// A page of an app's settlements, newest first.
    async fn list_settlements(
        &self,
        app: &AppId,
        filter: &SettlementFilter,
        page: PageRequest,
    ) -> Result<Page<Settlement>, StoreError>;
    /// Settlements of every app in a status, oldest first (operator tools).
    async fn settlements_in_status(
        &self,
        status: SettlementStatus,
        limit: u32,
    ) -> Result<Vec<Settlement>, StoreError>;
    /// An abnormal payment by number.
    async fn abnormal_payment(&self, no: &str) -> Result<Option<AbnormalPayment>, StoreError>;
    /// Abnormal payments of an order, oldest first.
    async fn abnormal_payments_of_order(
        &self,
        order_sysid: &str,
    ) -> Result<Vec<AbnormalPayment>, StoreError>;
    /// Payouts of a chain not final yet, oldest first.
    async fn open_payouts(&self, chain: &ChainKey, limit: u32) -> Result<Vec<Payout>, StoreError>;
    /// A payout by id.
    async fn payout(&self, id: &str) -> Result<Option<Payout>, StoreError>;
    /// The payout of an object.
    async fn payout_by_reference(
        &self,
        kind: PayoutKind,
        reference: &str,
    ) -> Result<Option<Payout>, StoreError>;
    /// Every signed transaction of a payout, oldest first.
    async fn signed_txs(&self, payout_id: &str) -> Result<Vec<SignedTx>, StoreError>;
    /// Whether new payouts are held: nothing queued is signed until the operator releases the
    /// hold (set by a restore, whose database may not know of sends made after its backup, or
    /// by the operator).
    async fn payouts_held(&self) -> Result<bool, StoreError>;
    /// Holds (`true`) or releases (`false`) new payouts; whether they were held before.
    async fn set_payouts_held(&self, held: bool) -> Result<bool, StoreError>;
    /// The next nonce recorded for an address of ours.
    async fn next_nonce(
        &self,
        chain: &ChainKey,
        address: &Address,
    ) -> Result<Option<u64>, StoreError>;
    /// Totals of these accounts (absent accounts are zero).
    async fn ledger_totals(
        &self,
        accounts: &[String],
    ) -> Result<HashMap<String, Totals>, StoreError>;
    /// Every account whose name starts with `prefix` (only those not at zero when asked), with
    /// its totals, by name.
    async fn ledger_accounts(
        &self,
        prefix: &str,
        nonzero_only: bool,
    ) -> Result<Vec<(String, Totals)>, StoreError>;
    /// Recomputes every account from the entries and compares.
    async fn ledger_check(&self) -> Result<LedgerCheck, StoreError>;
    /// Keeps a reconciliation's results (a result already kept for the same chain, asset and
    /// time is left as it is).
    async fn record_reconciliations(
        &self,
        results: &[AssetReconciliation],
    ) -> Result<(), StoreError>;
    /// The last result of every chain and asset ever reconciled, by chain and asset.
    async fn last_reconciliations(&self) -> Result<Vec<AssetReconciliation>, StoreError>;
}
