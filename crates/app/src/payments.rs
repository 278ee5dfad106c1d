//! Crediting final transfers to their orders, and the abnormal payments that come of it.

use wcheckout_domain::ids::{SysidKind, compose_sysid};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{
    self, AbnormalDraft, AbnormalPayment, Credit, Transfer, TransferState,
};
use wcheckout_domain::ports::{AbnormalChange, ChangeSet, OrderWrite, TransferChange};
use wcheckout_domain::time::Timestamp;

use crate::error::{ChangeError, ServiceError, retry_on_conflict};
use crate::gateway::{Gateway, payment_progress};
use crate::postings;
use crate::secrets::random_u32;
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

    async fn try_credit(&self, transfer: &Transfer) -> Result<Credited, ChangeError> {
        let current = self
            .store
            .transfers_of_tx(&transfer.chain, &transfer.tx_hash)
            .await?;
        let this = current.iter().find(|t| t.log_index == transfer.log_index);
        if this.is_none_or(|t| t.state != TransferState::Pending) {
            return Ok(Credited::AlreadyDone);
        }
        let order = self.store.order_by_sysid(&transfer.order_sysid).await?;
        let order = order.ok_or_else(|| {
            ServiceError::Internal(format!(
                "transfer to unknown order {}",
                transfer.order_sysid
            ))
        })?;
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        changes.transfers.push(TransferChange::SetState {
            key: transfer.key(),
            from: TransferState::Pending,
            to: TransferState::Credited,
        });
        let outcome = if reincludes_reversed(&current, transfer) {
            self.note_reinclusion(&order, transfer, now, &mut changes);
            changes
                .postings
                .push(postings::reincluded(&order, transfer));
            Credited::Reincluded
        } else {
            let credit = payment::credit(&order, transfer, now)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            match credit {
                Credit::AfterDeadline => return Ok(Credited::Waiting),
                Credit::Counted {
                    order: after,
                    completed,
                    excess,
                } => {
                    if completed {
                        let extra = excess.as_ref().map_or(TokenAmount::ZERO, |e| e.amount);
                        changes.postings.extend(postings::order_paid(&after, extra));
                    }
                    self.count(&order, *after, completed, transfer, now, &mut changes)
                        .await?;
                    if let Some(excess) = excess {
                        self.add_abnormal(excess, &order, now, &mut changes)?;
                    }
                    Credited::Counted
                }
                Credit::Abnormal(draft) => {
                    let reference = format!("transfer:{}", transfer.key());
                    changes
                        .postings
                        .push(postings::set_aside(&order, draft.amount, reference));
                    self.add_abnormal(draft, &order, now, &mut changes)?;
                    Credited::Abnormal
                }
            }
        };
        self.commit(changes).await?;
        metrics::counter!("wcheckout_transfers_credited_total", "chain" => transfer.chain.to_string())
            .increment(1);
        Ok(outcome)
    }

    async fn count(
        &self,
        before: &Order,
        mut after: Order,
        completed: bool,
        transfer: &Transfer,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ChangeError> {
        after.version = before.version.saturating_add(1);
        if completed {
            let view = self.view_after_credit(&after, transfer).await?;
            changes.events.push(order_changed_event(&view, &after, now));
        }
        changes.orders.push(OrderWrite {
            expected_version: before.version,
            order: after,
        });
        Ok(())
    }

    /// The order as it will read once `credited` is recorded as credited.
    async fn view_after_credit(
        &self,
        order: &Order,
        credited: &Transfer,
    ) -> Result<OrderView, ServiceError> {
        let mut transfers = self
            .store
            .transfers_of_orders(std::slice::from_ref(&order.sysid))
            .await?;
        for transfer in transfers.iter_mut().filter(|t| t.key() == credited.key()) {
            transfer.state = TransferState::Credited;
        }
        let (_, chain) = self.token_of(&order.token)?;
        let head = self.chain_head(chain).await?;
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
        let number = compose_sysid(SysidKind::AbnormalPayment, now, random_u32());
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
