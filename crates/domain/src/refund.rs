//! Refund orders: tokens sent back to a payer, and the one transition function of their status.

use crate::address::Address;
use crate::ids::{AppId, IntegratorNo};
use crate::money::TokenAmount;
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::TokenId;

text_enum! {
    /// `refundStatus` values (W Checkout enum reference).
    pub enum RefundStatus {
        /// Created, not sent yet (it can still be cancelled).
        PendingRefund => "PENDING_REFUND",
        /// The transaction is on its way.
        Refunding => "REFUNDING",
        /// The transaction is final.
        Refunded => "REFUNDED",
        /// Cancelled before it was sent.
        Cancelled => "CANCELLED",
        /// It could not be sent or was reverted.
        Failed => "FAILED",
    }
}

/// Something that happens to a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundEvent {
    /// Its transaction was broadcast.
    Sent,
    /// Its transaction is final.
    Confirmed,
    /// The integrator cancelled it before it was sent.
    Cancel,
    /// It failed for good.
    Fail,
}

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refund in status {from} cannot take {event:?}")]
pub struct InvalidRefundTransition {
    /// Status before.
    pub from: RefundStatus,
    /// What was attempted.
    pub event: RefundEvent,
}

impl RefundStatus {
    /// The only way a refund changes status.
    pub fn apply(self, event: RefundEvent) -> Result<RefundStatus, InvalidRefundTransition> {
        use RefundEvent as E;
        use RefundStatus as S;
        let next = match (self, event) {
            (S::PendingRefund, E::Sent) => Some(S::Refunding),
            (S::PendingRefund | S::Refunding, E::Confirmed) => Some(S::Refunded),
            (S::PendingRefund, E::Cancel) => Some(S::Cancelled),
            (S::PendingRefund | S::Refunding, E::Fail) => Some(S::Failed),
            (S::Refunding, E::Sent | E::Cancel) | (S::Refunded | S::Cancelled | S::Failed, _) => {
                None
            }
        };
        next.ok_or(InvalidRefundTransition { from: self, event })
    }

    /// Statuses nothing can leave.
    pub const fn is_terminal(self) -> bool {
        match self {
            RefundStatus::Refunded | RefundStatus::Cancelled | RefundStatus::Failed => true,
            RefundStatus::PendingRefund | RefundStatus::Refunding => false,
        }
    }
}

/// What a refund gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundSource {
    /// Part or all of a paid order.
    Order,
    /// Part or all of an abnormal payment (of the named order).
    AbnormalPayment(String),
}

/// A refund order as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// W Checkout's id (`RF…`).
    pub sysid: String,
    /// The app.
    pub app_id: AppId,
    /// The integrator's number.
    pub refund_order_no: IntegratorNo,
    /// The order it belongs to.
    pub order_sysid: String,
    /// That order's number.
    pub order_no: IntegratorNo,
    /// The merchant whose balance pays it.
    pub merchant_id: String,
    /// Order funds or an abnormal payment.
    pub source: RefundSource,
    /// Token.
    pub token: TokenId,
    /// Amount in base units.
    pub amount: TokenAmount,
    /// Destination.
    pub address: Address,
    /// Free text from the integrator.
    pub remark: Option<String>,
    /// Status.
    pub status: RefundStatus,
    /// The transaction that carries it, once signed.
    pub tx_hash: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Hash of the request's content, for idempotent re-creation.
    pub request_fingerprint: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Compare-and-set version.
    pub version: i64,
}

impl Refund {
    /// Applies an event as the next version.
    pub fn transition(
        &self,
        event: RefundEvent,
        now: Timestamp,
    ) -> Result<Refund, InvalidRefundTransition> {
        let status = self.status.apply(event)?;
        Ok(Refund {
            status,
            updated_at: now,
            version: self.version.saturating_add(1),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths() {
        use RefundEvent as E;
        use RefundStatus as S;
        assert_eq!(S::PendingRefund.apply(E::Sent), Ok(S::Refunding));
        assert_eq!(S::Refunding.apply(E::Confirmed), Ok(S::Refunded));
        assert_eq!(S::PendingRefund.apply(E::Cancel), Ok(S::Cancelled));
        assert!(
            S::Refunding.apply(E::Cancel).is_err(),
            "a refund on its way cannot be cancelled"
        );
        assert_eq!(S::Refunding.apply(E::Fail), Ok(S::Failed));
        for status in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(status));
        }
    }

    fn any_event() -> impl Strategy<Value = RefundEvent> {
        prop_oneof![
            Just(RefundEvent::Sent),
            Just(RefundEvent::Confirmed),
            Just(RefundEvent::Cancel),
            Just(RefundEvent::Fail),
        ]
    }

    proptest! {
        #[test]
        fn terminal_states_absorb(events in proptest::collection::vec(any_event(), 0..20)) {
            let mut status = RefundStatus::PendingRefund;
            for event in events {
                if let Ok(next) = status.apply(event) {
                    prop_assert!(!status.is_terminal());
                    status = next;
                }
            }
        }
    }
}
