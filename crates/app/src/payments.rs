//! Crediting final transfers to their orders, and the abnormal payments that come of it.
//!
//! One transfer is credited by [`Gateway::credit_transfer`]; the watcher credits the final
//! transfers of a round with [`Gateway::credit_transfers`], which reads every order and
//! transfer concerned in a few queries and commits the whole batch at once. Both decide each
//! transfer with the same function (`plan_credit`), and a batch that meets a
//! compare-and-set conflict is credited again one transfer at a time. Transfers already final
//! when the watcher records them are decided by that function too, into the recording commit
//! (`Gateway::credit_on_record`).

use std::collections::HashMap;

use wcheckout_domain::address::Address;
use wcheckout_domain::ids::{SysidKind, compose_sysid};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{
    self, AbnormalDraft, AbnormalPayment, Credit, Transfer, TransferEvent, TransferKey,
    TransferState,
};
use wcheckout_domain::ports::{AbnormalChange, ChangeSet, OrderWrite, TransferChange};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::ChainKey;

use crate::error::OrInternal;
use crate::error::{ChangeError, ServiceError, retry_on_conflict};
use crate::gateway::{Gateway, payment_progress};
use crate::postings;
use crate::secrets::sysid_suffix;
use crate::wire::{AbnormalPaymentView, OrderView, abnormal_payment_event, order_changed_event};

/// What crediting a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credited {
    /// Counted towards its order (which may now be paid).
    Counted,
    /// Recorded as an abnormal payment.
    Abnormal,
    /// After the deadline of an order not expired yet: tried again once it has expired.
    Waiting,
    /// The same payment as a transfer a reorg had reversed, now back on chain: not counted
    /// twice.
    Reincluded,
    /// Already credited (by another process).
    AlreadyDone,
}

impl Gateway {
    /// Credits a final transfer to its order, once: the transfer's `PENDING → CREDITED` and the
    /// order's change are one compare-and-set commit with their events.
    pub async fn credit_transfer(&self, transfer: &Transfer) -> Result<Credited, ServiceError> {
        retry_on_conflict(|| self.try_credit(transfer)).await
    }

    /// Credits final transfers (of any orders, in block order): the transfers of orders that
    /// appear once in the batch are read together and committed in one change set; an order
    /// with several transfers in the batch takes them one at a time afterwards, each seeing the
    /// previous one. When the batch commit fails (another process credited or changed one of
    /// its orders first), every transfer of it is credited alone, so one conflicting order
    /// costs the others nothing. The outcomes come back in the order of `transfers`.
    pub async fn credit_transfers(
        &self,
        transfers: &[Transfer],
    ) -> Result<Vec<Credited>, ServiceError> {
        let mut per_order: HashMap<&str, usize> = HashMap::new();
        for transfer in transfers {
            *per_order.entry(transfer.order_sysid.as_str()).or_default() += 1;
        }
        let (together, mut alone): (Vec<usize>, Vec<usize>) =
            (0..transfers.len()).partition(|&i| per_order[transfers[i].order_sysid.as_str()] == 1);
        let mut outcomes = vec![None; transfers.len()];
        let batch = together.iter().map(|&i| &transfers[i]).collect::<Vec<_>>();
        match self.try_credit_batch(&batch).await {
            Ok(decided) => {
                for (&i, outcome) in together.iter().zip(decided) {
                    match outcome {
                        Some(outcome) => outcomes[i] = Some(outcome),
                        None => alone.push(i),
                    }
                }
            }
            Err(ChangeError::Conflict) => alone.extend(together),
            Err(ChangeError::Failed(error)) => {
                tracing::warn!(%error, count = batch.len(), "batch credit failed; crediting one by one");
                alone.extend(together);
            }
        }
        alone.sort_unstable();
        for i in alone {
            outcomes[i] = Some(self.credit_transfer(&transfers[i]).await?);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Credited::AlreadyDone))
            .collect())
    }

    /// Decides every transfer of `batch` (at most one per order) from one read of their orders
    /// and transfers and commits them together. `None` marks a transfer left to the one-by-one
    /// path (its order was not found among the deposit addresses).
    async fn try_credit_batch(
        &self,
        batch: &[&Transfer],
    ) -> Result<Vec<Option<Credited>>, ChangeError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut addresses = batch.iter().map(|t| t.to).collect::<Vec<Address>>();
        addresses.sort_unstable_by_key(Address::storage_key);
        addresses.dedup();
        let orders = self
            .store
            .orders_by_deposit_addresses(&addresses)
            .await?
            .into_iter()
            .map(|o| (o.sysid.clone(), o))
            .collect::<HashMap<_, _>>();
        let sysids = orders.keys().cloned().collect::<Vec<_>>();
        let mut known: HashMap<String, Vec<Transfer>> = HashMap::new();
        if !sysids.is_empty() {
            for transfer in self.store.transfers_of_orders(&sysids).await? {
                known
                    .entry(transfer.order_sysid.clone())
                    .or_default()
                    .push(transfer);
            }
        }
        let mut heads: HashMap<ChainKey, Option<u64>> = HashMap::new();
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        for transfer in batch {
            let Some(order) = orders.get(&transfer.order_sysid) else {
                outcomes.push(None);
                continue;
            };
            let head = match heads.get(&transfer.chain) {
                Some(head) => *head,
                None => {
                    let (_, chain) = self.token_of(&order.token)?;
                    let head = self.chain_head(chain).await?;
                    heads.insert(transfer.chain.clone(), head);
                    head
                }
            };
            let stored = known.get(&order.sysid).map_or(&[][..], Vec::as_slice);
            let outcome = self.plan_credit(order, transfer, stored, head, now, &mut changes)?;
            outcomes.push(Some(outcome));
        }
        let credited = batch
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| !matches!(o, None | Some(Credited::AlreadyDone | Credited::Waiting)))
            .map(|(t, _)| &t.chain)
            .collect::<Vec<_>>();
        if !credited.is_empty() {
            self.commit(changes).await?;
            for chain in credited {
                metrics::counter!("wcheckout_transfers_credited_total", "chain" => chain.to_string())
                    .increment(1);
            }
        }
        Ok(outcomes)
    }

    /// Adds to `changes` (which records `recorded`, the transfers of one scanned range with
    /// their orders as read) the credit of those among them that are already final (at or below
    /// `final_height`), decided by the same function as every other credit, so that recording
    /// and crediting are one commit. A transfer is left pending, for a later round, when its
    /// order has another transfer in the range or a pending one recorded earlier (credits of an
    /// order go in block order, one at a time). Returns the transfers credited and how.
    pub(crate) async fn credit_on_record(
        &self,
        recorded: &[(Transfer, Order)],
        final_height: u64,
        head: u64,
        changes: &mut ChangeSet,
    ) -> Result<Vec<(TransferKey, Credited)>, ServiceError> {
        let mut per_order: HashMap<&str, usize> = HashMap::new();
        for (transfer, _) in recorded {
            *per_order.entry(transfer.order_sysid.as_str()).or_default() += 1;
        }
        let candidates = recorded
            .iter()
            .filter(|(t, _)| {
                t.block_number <= final_height && per_order[t.order_sysid.as_str()] == 1
            })
            .collect::<Vec<_>>();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let sysids = candidates
            .iter()
            .map(|(t, _)| t.order_sysid.clone())
            .collect::<Vec<_>>();
        let mut known: HashMap<String, Vec<Transfer>> = HashMap::new();
        for transfer in self.store.transfers_of_orders(&sysids).await? {
            known
                .entry(transfer.order_sysid.clone())
                .or_default()
                .push(transfer);
        }
        let now = self.clock.now();
        let mut outcomes = Vec::new();
        for (transfer, order) in candidates {
            let mut stored = known.remove(&order.sysid).unwrap_or_default();
            let key = transfer.key();
            if stored
                .iter()
                .any(|t| t.state == TransferState::Pending && t.key() != key)
            {
                continue;
            }
            if stored.iter().all(|t| t.key() != key) {
                // Recorded by this very commit: as it will be stored, pending.
                stored.push(Transfer {
                    state: TransferState::Pending,
                    ..transfer.clone()
                });
                stored.sort_by_key(|t| (t.block_number, t.log_index));
            }
            let outcome = self.plan_credit(order, transfer, &stored, Some(head), now, changes)?;
            if !matches!(outcome, Credited::AlreadyDone | Credited::Waiting) {
                outcomes.push((key, outcome));
            }
        }
        Ok(outcomes)
    }

    async fn try_credit(&self, transfer: &Transfer) -> Result<Credited, ChangeError> {
        let order = self.store.order_by_sysid(&transfer.order_sysid).await?;
        let order = order.ok_or_else(|| {
            ServiceError::internal(format!(
                "transfer to unknown order {}",
                transfer.order_sysid
            ))
        })?;
        let stored = self
            .store
            .transfers_of_orders(std::slice::from_ref(&order.sysid))
            .await?;
        let (_, chain) = self.token_of(&order.token)?;
        let head = self.chain_head(chain).await?;
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        let outcome = self.plan_credit(&order, transfer, &stored, head, now, &mut changes)?;
        if matches!(outcome, Credited::AlreadyDone | Credited::Waiting) {
            return Ok(outcome);
        }
        self.commit(changes).await?;
        metrics::counter!("wcheckout_transfers_credited_total", "chain" => transfer.chain.to_string())
            .increment(1);
        Ok(outcome)
    }

    /// Decides how `transfer` is credited to `order` and adds the transfer's
    /// `PENDING → CREDITED`, the order's change (compare-and-set on the version read), postings
    /// and events to `changes`. `stored` holds the order's transfers as read (this one among
    /// them, while still pending); `head` is the chain head the order's view counts from.
    /// `AlreadyDone` and `Waiting` add nothing.
    fn plan_credit(
        &self,
        order: &Order,
        transfer: &Transfer,
        stored: &[Transfer],
        head: Option<u64>,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<Credited, ServiceError> {
        let recorded = stored.iter().find(|t| t.key() == transfer.key());
        let Some(recorded) = recorded.filter(|t| t.state == TransferState::Pending) else {
            return Ok(Credited::AlreadyDone);
        };
        let finalised = TransferChange::transition(recorded, TransferEvent::Finalised)
            .or_internal("crediting a final transfer")?;
        // The twin of a re-included transfer pays the same deposit address, so the same order.
        let same_tx = stored
            .iter()
            .filter(|t| t.chain == transfer.chain && t.tx_hash == transfer.tx_hash)
            .cloned()
            .collect::<Vec<_>>();
        if reincludes_reversed(&same_tx, transfer) {
            changes.transfers.push(finalised);
            self.note_reinclusion(order, transfer, now, changes);
            changes.postings.push(postings::reincluded(order, transfer));
            return Ok(Credited::Reincluded);
        }
        let credit = payment::credit(order, transfer, now)
            .or_internal("applying a transfer to its order")?;
        match credit {
            Credit::AfterDeadline => Ok(Credited::Waiting),
            Credit::Counted {
                order: after,
                completed,
                excess,
            } => {
                changes.transfers.push(finalised);
                if completed {
                    let extra = excess.as_ref().map_or(TokenAmount::ZERO, |e| e.amount);
                    changes.postings.extend(postings::order_paid(&after, extra));
                }
                let after = *after;
                let view = completed
                    .then(|| self.view_after_credit(&after, transfer, stored, head))
                    .transpose()?;
                count(order, after, view, now, changes);
                if let Some(excess) = excess {
                    self.add_abnormal(excess, order, now, changes)?;
                }
                Ok(Credited::Counted)
            }
            Credit::Abnormal(draft) => {
                changes.transfers.push(finalised);
                let reference = format!("transfer:{}", transfer.key());
                changes
                    .postings
                    .push(postings::set_aside(order, draft.amount, reference));
                self.add_abnormal(draft, order, now, changes)?;
                Ok(Credited::Abnormal)
            }
        }
    }

    /// The order as it will read once `credited` is recorded as credited.
    fn view_after_credit(
        &self,
        order: &Order,
        credited: &Transfer,
        stored: &[Transfer],
        head: Option<u64>,
    ) -> Result<OrderView, ServiceError> {
        let mut transfers = stored.to_vec();
        for transfer in transfers.iter_mut().filter(|t| t.key() == credited.key()) {
            transfer.state = TransferState::Credited;
        }
        let (_, chain) = self.token_of(&order.token)?;
        let progress = payment_progress(transfers.iter(), head, chain);
        self.order_view_with(order, &progress)
    }

    /// Adds a new abnormal payment and its `ABNORMAL_PAYMENT` event to a change set.
    pub(crate) fn add_abnormal(
        &self,
        draft: AbnormalDraft,
        order: &Order,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<AbnormalPayment, ServiceError> {
        let number = compose_sysid(SysidKind::AbnormalPayment, now, sysid_suffix());
        let payment = draft.into_payment(number, order, now);
        let (token, _) = self.token_of(&payment.token)?;
        let view = AbnormalPaymentView::new(&payment, token);
        changes
            .events
            .push(abnormal_payment_event(&view, &payment, now));
        changes
            .abnormal
            .push(AbnormalChange::Create(payment.clone()));
        metrics::counter!("wcheckout_abnormal_payments_total", "type" => payment.kind.as_str())
            .increment(1);
        Ok(payment)
    }

    fn note_reinclusion(
        &self,
        order: &Order,
        transfer: &Transfer,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) {
        tracing::warn!(order = %order.sysid, tx = %transfer.tx_hash, "reversed transfer re-included; not counted twice");
        let note = format!(
            "transfer {} was reversed by a reorg, then re-included in block {}",
            transfer.tx_hash, transfer.block_number
        );
        let after = order.with_alert(note, now);
        changes.orders.push(OrderWrite {
            expected_version: order.version,
            order: after,
        });
    }
}

/// The order's change after a counted transfer (`after` carries the next version), with its
/// `PAID` event when it completed the order.
fn count(
    before: &Order,
    after: Order,
    view: Option<OrderView>,
    now: Timestamp,
    changes: &mut ChangeSet,
) {
    if let Some(view) = view {
        changes.events.push(order_changed_event(&view, &after, now));
    }
    changes.orders.push(OrderWrite {
        expected_version: before.version,
        order: after,
    });
}

/// A transaction's transfer under a new log index, whose twin (same recipient and amount) was
/// credited and then reversed: the same payment, mined again.
fn reincludes_reversed(same_tx: &[Transfer], transfer: &Transfer) -> bool {
    same_tx.iter().any(|t| {
        t.state == TransferState::Reversed
            && t.log_index != transfer.log_index
            && t.to == transfer.to
            && t.amount == transfer.amount
    })
}
