//! Abnormal payments: what arrived but does not match its order (over-, under- and late
//! payment), kept for the integrator to refund, with the rules of its refundable amount.

use crate::address::Address;
use crate::ids::{AppId, IntegratorNo};
use crate::money::TokenAmount;
use crate::order::Order;
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::TokenId;

text_enum! {
    /// Abnormal payment types.
    pub enum AbnormalKind {
        /// More than due: the excess of the completing transfer, or a transfer to a paid order.
        OverPaid => "OVER_PAID",
        /// Part of the amount had arrived when the window ended.
        UnderPaid => "UNDER_PAID",
        /// Arrived after the order had timed out or been cancelled.
        LatePayment => "LATE_PAYMENT",
    }
}

text_enum! {
    /// Abnormal payment statuses.
    pub enum AbnormalStatus {
        /// Awaiting the integrator.
        Pending => "PENDING",
        /// Dealt with (refunded).
        Handled => "HANDLED",
    }
}

/// A payment that does not match its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbnormalPayment {
    /// `AP…`.
    pub abnormal_payment_no: String,
    /// The app.
    pub app_id: AppId,
    /// The order.
    pub order_sysid: String,
    /// The order's number.
    pub order_no: IntegratorNo,
    /// Token received.
    pub token: TokenId,
    /// Type.
    pub kind: AbnormalKind,
    /// Amount that is abnormal.
    pub amount: TokenAmount,
    /// Amount still unresolved (refundable).
    pub pending_amount: TokenAmount,
    /// The transfer it comes from (`hash`).
    pub tx_hash: Option<String>,
    /// Who sent it: where a refund goes by default.
    pub payer: Option<Address>,
    /// Status.
    pub status: AbnormalStatus,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Compare-and-set version.
    pub version: i64,
}

/// What happens to an abnormal payment's refundable amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbnormalEvent {
    /// A refund takes this much of it.
    Reserve(TokenAmount),
    /// A refund that will not be paid gives this much back.
    Release(TokenAmount),
    /// Every refund of it is paid and nothing is left: it is handled.
    Handle,
}

/// An abnormal payment change its rules forbid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("abnormal payment {number} ({status}, {pending} pending) cannot take {event:?}")]
pub struct InvalidAbnormalChange {
    /// Its number.
    pub number: String,
    /// Its status.
    pub status: &'static str,
    /// Its refundable amount.
    pub pending: u128,
    /// The refused event.
    pub event: AbnormalEvent,
}

impl AbnormalPayment {
    /// The one transition function: refunds reserve and release amounts of a `PENDING`
    /// payment, never beyond its amount; `HANDLED` is terminal and needs nothing left.
    pub fn apply(
        &self,
        event: AbnormalEvent,
        now: Timestamp,
    ) -> Result<AbnormalPayment, InvalidAbnormalChange> {
        let refused = || InvalidAbnormalChange {
            number: self.abnormal_payment_no.clone(),
            status: self.status.as_str(),
            pending: self.pending_amount.base_units(),
            event,
        };
        if self.status == AbnormalStatus::Handled {
            return Err(refused());
        }
        let (pending_amount, status) = match event {
            AbnormalEvent::Reserve(amount) => {
                let left = self
                    .pending_amount
                    .checked_sub(amount)
                    .ok_or_else(refused)?;
                (left, AbnormalStatus::Pending)
            }
            AbnormalEvent::Release(amount) => {
                let back = self.pending_amount.checked_add(amount).ok();
                let back = back.filter(|b| *b <= self.amount).ok_or_else(refused)?;
                (back, AbnormalStatus::Pending)
            }
            AbnormalEvent::Handle if self.pending_amount.is_zero() => {
                (self.pending_amount, AbnormalStatus::Handled)
            }
            AbnormalEvent::Handle => return Err(refused()),
        };
        Ok(AbnormalPayment {
            pending_amount,
            status,
            updated_at: now,
            version: self.version.saturating_add(1),
            ..self.clone()
        })
    }
}

/// What an abnormal payment to create looks like before it gets its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbnormalDraft {
    /// Type.
    pub kind: AbnormalKind,
    /// Abnormal amount.
    pub amount: TokenAmount,
    /// Source transfer.
    pub tx_hash: Option<String>,
    /// Sender.
    pub payer: Option<Address>,
}

impl AbnormalDraft {
    /// The abnormal payment, numbered, for `order`.
    pub fn into_payment(self, number: String, order: &Order, now: Timestamp) -> AbnormalPayment {
        AbnormalPayment {
            abnormal_payment_no: number,
            app_id: order.app_id.clone(),
            order_sysid: order.sysid.clone(),
            order_no: order.order_no.clone(),
            token: order.token.clone(),
            kind: self.kind,
            amount: self.amount,
            pending_amount: self.amount,
            tx_hash: self.tx_hash,
            payer: self.payer,
            status: AbnormalStatus::Pending,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
