//! What a payout's progress does to the object it pays: a refund or settlement starts when its
//! transaction reaches a node, and ends when it is final or fails; sweeps and gas top-ups only
//! move custody. Each step is one commit with its ledger postings and webhook events.

use wcheckout_domain::ledger::{Asset, Bucket};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::payment::AbnormalEvent;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus};
use wcheckout_domain::ports::{ChangeSet, PayoutChange};
use wcheckout_domain::refund::{Refund, RefundEvent, RefundSource, RefundStatus};
use wcheckout_domain::settlement::{Settlement, SettlementEvent, SettlementStatus};
use wcheckout_domain::time::Timestamp;

use crate::error::{ChangeError, ServiceError};
use crate::gateway::Gateway;
use crate::postings;

/// How a payout's transaction ended on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mined {
    /// The transaction that was mined.
    pub tx_hash: String,
    /// Everything it cost its fee payer, in the coin's base units (gas, wei on EVM chains).
    pub fee: u128,
    /// Coin it gave back to its fee payer (Solana: a closed account's rent).
    pub reclaimed: u128,
    /// Who paid the fee: the payout's sender, or on Solana the hot wallet.
    pub fee_payer: wcheckout_domain::address::Address,
}

fn broken(cause: impl std::error::Error + Send + Sync + 'static) -> ServiceError {
    ServiceError::Internal(crate::error::Internal::caused_by(
        "applying a payout's outcome to its object",
        cause,
    ))
}

/// The system id a payout reference names (`refund:RF…` → `RF…`).
fn object_of(payout: &Payout) -> &str {
    payout.reference.split_once(':').map_or("", |(_, id)| id)
}

impl Gateway {
    /// A node accepted a payout's transaction: the payout is `BROADCAST`, its refund
    /// `REFUNDING` or settlement `SETTLING` with the transaction hash.
    pub(crate) async fn payout_sent(
        &self,
        payout: &Payout,
        tx_hash: &str,
    ) -> Result<(), ChangeError> {
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        let mut sent = payout.moved(PayoutStatus::Broadcast, now).map_err(broken)?;
        sent.tx_hash = Some(tx_hash.to_owned());
        sent.note = None;
        match payout.kind {
            PayoutKind::Refund => {
                let refund = self.paid_refund(payout).await?;
                if refund.status == RefundStatus::PendingRefund {
                    let mut after = refund.transition(RefundEvent::Sent, now).map_err(broken)?;
                    after.tx_hash = Some(tx_hash.to_owned());
                    self.refund_changed(refund.version, after, now, &mut changes)?;
                }
            }
            PayoutKind::Settlement => {
                let settlement = self.paid_settlement(payout).await?;
                if settlement.status == SettlementStatus::PendingSettlement {
                    let mut after = settlement
                        .transition(SettlementEvent::Start, now)
                        .map_err(broken)?;
                    after.tx_hash = Some(tx_hash.to_owned());
                    self.settlement_changed(settlement.version, after, now, &mut changes)?;
                }
            }
            PayoutKind::Sweep | PayoutKind::GasTopUp => {}
        }
        changes.payouts.push(PayoutChange::Update {
            expected_version: payout.version,
            payout: sent,
        });
        self.commit(changes).await
    }

    /// A payout's transaction is final and succeeded: the payout is `CONFIRMED`, the money has
    /// left (or moved) in the ledger, and its refund or settlement is done.
    pub(crate) async fn payout_confirmed(
        &self,
        payout: &Payout,
        mined: &Mined,
    ) -> Result<(), ChangeError> {
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        let reference = format!("payout:{}", payout.id);
        let amount = payout.amount;
        match payout.kind {
            PayoutKind::Refund => self.refund_paid(payout, mined, now, &mut changes).await?,
            PayoutKind::Settlement => {
                let settlement = self.paid_settlement(payout).await?;
                let reserved = postings::merchant_account(
                    &settlement.app_id,
                    &settlement.merchant_id,
                    &settlement.token,
                    Bucket::Reserved,
                );
                changes.postings.push(postings::paid_out(
                    reserved,
                    &payout.chain,
                    payout.from,
                    &settlement.token,
                    amount,
                    reference.clone(),
                ));
                let mut after = settlement
                    .transition(SettlementEvent::Complete, now)
                    .map_err(broken)?;
                after.tx_hash = Some(mined.tx_hash.clone());
                self.settlement_changed(settlement.version, after, now, &mut changes)?;
            }
            PayoutKind::Sweep => {
                let Asset::Token(token) = &payout.asset else {
                    return Err(ServiceError::internal("a sweep moves tokens").into());
                };
                changes.postings.push(postings::swept(
                    &payout.chain,
                    payout.from,
                    payout.to,
                    token,
                    amount,
                    reference.clone(),
                ));
            }
            PayoutKind::GasTopUp => {
                changes.postings.push(postings::topped_up(
                    &payout.chain,
                    payout.from,
                    payout.to,
                    amount,
                    reference.clone(),
                ));
            }
        }
        self.finish_payout(
            payout,
            PayoutStatus::Confirmed,
            Some(mined),
            None,
            now,
            &mut changes,
        )?;
        self.commit(changes).await
    }

    /// A payout will not be paid (reverted, or its nonce went to another transaction): the payout
    /// is `FAILED` with the reason, and its refund or settlement fails with its funds released.
    pub(crate) async fn payout_failed(
        &self,
        payout: &Payout,
        reason: &str,
        mined: Option<&Mined>,
    ) -> Result<(), ChangeError> {
        let now = self.clock.now();
        let mut changes = ChangeSet::default();
        self.finish_payout(
            payout,
            PayoutStatus::Failed,
            mined,
            Some(reason),
            now,
            &mut changes,
        )?;
        match payout.kind {
            PayoutKind::Refund => {
                let refund = self.paid_refund(payout).await?;
                if refund.status.is_terminal() {
                    return self.commit(changes).await;
                }
                // end_refund commits everything gathered so far with its own changes.
                self.end_refund(
                    &refund,
                    RefundEvent::Fail,
                    Some(reason.to_owned()),
                    now,
                    &mut changes,
                )
                .await?;
                Ok(())
            }
            PayoutKind::Settlement => {
                let settlement = self.paid_settlement(payout).await?;
                self.end_settlement(
                    &settlement,
                    SettlementEvent::Fail,
                    Some(reason.to_owned()),
                    now,
                    &mut changes,
                )?;
                self.commit(changes).await
            }
            PayoutKind::Sweep | PayoutKind::GasTopUp => self.commit(changes).await,
        }
    }

    /// The payout's final record, and the gas its mined transaction burned.
    fn finish_payout(
        &self,
        payout: &Payout,
        status: PayoutStatus,
        mined: Option<&Mined>,
        reason: Option<&str>,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let mut after = payout.moved(status, now).map_err(broken)?;
        after.note = reason.map(str::to_owned);
        if let Some(mined) = mined {
            after.tx_hash = Some(mined.tx_hash.clone());
            after.fee = Some(TokenAmount::from_base_units(mined.fee));
            if mined.fee > 0 {
                changes.postings.push(postings::fee(
                    &payout.chain,
                    mined.fee_payer,
                    after.fee.unwrap_or(TokenAmount::ZERO),
                    format!("payout:{}", payout.id),
                ));
            }
            if mined.reclaimed > 0 {
                changes.postings.push(postings::reclaimed(
                    &payout.chain,
                    mined.fee_payer,
                    TokenAmount::from_base_units(mined.reclaimed),
                    format!("payout:{}", payout.id),
                ));
            }
        }
        changes.payouts.push(PayoutChange::Update {
            expected_version: payout.version,
            payout: after,
        });
        Ok(())
    }

    /// A refund paid: `REFUNDED`, its order's `refundedAmount` grows (and the order leaves
    /// `REFUNDING` when it was the last), or its abnormal payment is `HANDLED` when nothing is left.
    async fn refund_paid(
        &self,
        payout: &Payout,
        mined: &Mined,
        now: Timestamp,
        changes: &mut ChangeSet,
    ) -> Result<(), ServiceError> {
        let refund = self.paid_refund(payout).await?;
        let order = self
            .store
            .order_by_sysid(&refund.order_sysid)
            .await?
            .ok_or_else(|| ServiceError::internal("refund without order"))?;
        let reserved = postings::merchant_of(&order, Bucket::Reserved);
        changes.postings.push(postings::paid_out(
            reserved,
            &payout.chain,
            payout.from,
            &refund.token,
            refund.amount,
            format!("payout:{}", payout.id),
        ));
        let mut after = refund
            .transition(RefundEvent::Confirmed, now)
            .map_err(broken)?;
        after.tx_hash = Some(mined.tx_hash.clone());
        match &refund.source {
            RefundSource::Order => {
                self.settle_order_refunds(&order, &refund, refund.amount, now, changes)
                    .await?
            }
            RefundSource::AbnormalPayment(no) => {
                let payment = self
                    .store
                    .abnormal_payment(no)
                    .await?
                    .ok_or_else(|| ServiceError::internal("refund without abnormal payment"))?;
                let siblings = self.store.refunds_of_order(&order.sysid).await?;
                let others_running = siblings.iter().any(|r| {
                    r.sysid != refund.sysid && r.source == refund.source && !r.status.is_terminal()
                });
                if payment.pending_amount.is_zero() && !others_running {
                    let handled = payment.apply(AbnormalEvent::Handle, now).map_err(broken)?;
                    self.abnormal_changed(payment.version, handled, now, changes)?;
                }
            }
        }
        self.refund_changed(refund.version, after, now, changes)
    }

    async fn paid_refund(&self, payout: &Payout) -> Result<Refund, ServiceError> {
        let found = self.store.refund(object_of(payout)).await?;
        found.ok_or_else(|| ServiceError::internal(format!("payout {} pays no refund", payout.id)))
    }

    pub(crate) async fn paid_settlement(
        &self,
        payout: &Payout,
    ) -> Result<Settlement, ServiceError> {
        let found = self.store.settlement(object_of(payout)).await?;
        found.ok_or_else(|| {
            ServiceError::internal(format!("payout {} pays no settlement", payout.id))
        })
    }
}
