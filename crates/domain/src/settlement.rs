//! Settlement orders: a merchant takes its money out, on chain or to a bank (an operator pays
//! those), and the one transition function of their status.

use crate::address::Address;
use crate::ids::{AppId, IntegratorNo};
use crate::money::TokenAmount;
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::TokenId;

text_enum! {
    /// `settlementStatus` values (W Checkout enum reference).
    pub enum SettlementStatus {
        /// Created, not processed yet (it can still be cancelled).
        PendingSettlement => "PENDING_SETTLEMENT",
        /// Being processed: the transaction is on its way, or the operator approved the bank transfer.
        Settling => "SETTLING",
        /// Done.
        Settled => "SETTLED",
        /// It could not be completed.
        Failed => "FAILED",
        /// The operator refused it.
        Rejected => "REJECTED",
        /// The integrator cancelled it before processing.
        Cancelled => "CANCELLED",
    }
}

/// Something that happens to a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementEvent {
    /// Processing started (transaction broadcast; bank transfer approved).
    Start,
    /// Done (transaction final; bank transfer marked paid).
    Complete,
    /// Failed for good.
    Fail,
    /// The operator refused it.
    Reject,
    /// The integrator cancelled it.
    Cancel,
}

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("settlement in status {from} cannot take {event:?}")]
pub struct InvalidSettlementTransition {
    /// Status before.
    pub from: SettlementStatus,
    /// What was attempted.
    pub event: SettlementEvent,
}

impl SettlementStatus {
    /// The only way a settlement changes status.
    pub fn apply(
        self,
        event: SettlementEvent,
    ) -> Result<SettlementStatus, InvalidSettlementTransition> {
        use SettlementEvent as E;
        use SettlementStatus as S;
        let next = match (self, event) {
            (S::PendingSettlement, E::Start) => Some(S::Settling),
            (S::PendingSettlement | S::Settling, E::Complete) => Some(S::Settled),
            (S::PendingSettlement | S::Settling, E::Fail) => Some(S::Failed),
            (S::PendingSettlement | S::Settling, E::Reject) => Some(S::Rejected),
            (S::PendingSettlement, E::Cancel) => Some(S::Cancelled),
            (S::Settling, E::Start | E::Cancel)
            | (S::Settled | S::Failed | S::Rejected | S::Cancelled, _) => None,
        };
        next.ok_or(InvalidSettlementTransition { from: self, event })
    }

    /// Statuses nothing can leave.
    pub const fn is_terminal(self) -> bool {
        match self {
            SettlementStatus::Settled
            | SettlementStatus::Failed
            | SettlementStatus::Rejected
            | SettlementStatus::Cancelled => true,
            SettlementStatus::PendingSettlement | SettlementStatus::Settling => false,
        }
    }
}

/// Where a settlement goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Tokens to an address.
    OnChain(Address),
    /// Fiat to a bank account (registered id, or details as given), paid by the operator.
    Bank {
        /// Fiat currency (`USD`).
        fiat: String,
        /// The bank account as JSON (registered account or inline details).
        account: String,
    },
}

/// A settlement order as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// W Checkout's id (`ST…`).
    pub sysid: String,
    /// The app.
    pub app_id: AppId,
    /// The integrator's number.
    pub settlement_order_no: IntegratorNo,
    /// The merchant whose balance is settled.
    pub merchant_id: String,
    /// Token.
    pub token: TokenId,
    /// Amount in base units.
    pub amount: TokenAmount,
    /// Where it goes.
    pub destination: Destination,
    /// Orders it covers (informational).
    pub order_nos: Vec<String>,
    /// Status.
    pub status: SettlementStatus,
    /// Whether an operator approved it (needed above the configured amount, and for fiat).
    pub approved: bool,
    /// The transaction, once signed (on chain).
    pub tx_hash: Option<String>,
    /// The bank's reference, once paid (fiat).
    pub bank_reference: Option<String>,
    /// Why it failed or was rejected.
    pub failure_reason: Option<String>,
    /// Hash of the request's content.
    pub request_fingerprint: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Compare-and-set version.
    pub version: i64,
}

impl Settlement {
    /// True when an operator pays it by bank wire.
    pub fn is_fiat(&self) -> bool {
        matches!(self.destination, Destination::Bank { .. })
    }

    /// An operator's approval of a settlement waiting for one: on chain it stays pending until
    /// its transaction is sent; fiat it is `SETTLING` until the wire is marked paid.
    pub fn approve(&self, now: Timestamp) -> Result<Settlement, InvalidSettlementTransition> {
        let refused = InvalidSettlementTransition {
            from: self.status,
            event: SettlementEvent::Start,
        };
        if self.approved || self.status != SettlementStatus::PendingSettlement {
            return Err(refused);
        }
        let mut after = if self.is_fiat() {
            self.transition(SettlementEvent::Start, now)?
        } else {
            Settlement {
                updated_at: now,
                version: self.version.saturating_add(1),
                ..self.clone()
            }
        };
        after.approved = true;
        Ok(after)
    }

    /// Applies an event as the next version.
    pub fn transition(
        &self,
        event: SettlementEvent,
        now: Timestamp,
    ) -> Result<Settlement, InvalidSettlementTransition> {
        let status = self.status.apply(event)?;
        Ok(Settlement {
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
        use SettlementEvent as E;
        use SettlementStatus as S;
        assert_eq!(S::PendingSettlement.apply(E::Start), Ok(S::Settling));
        assert_eq!(S::Settling.apply(E::Complete), Ok(S::Settled));
        assert_eq!(S::PendingSettlement.apply(E::Cancel), Ok(S::Cancelled));
        assert!(
            S::Settling.apply(E::Cancel).is_err(),
            "only before processing"
        );
        assert_eq!(S::Settling.apply(E::Reject), Ok(S::Rejected));
        for status in SettlementStatus::ALL {
            assert_eq!(SettlementStatus::parse(status.as_str()), Some(status));
        }
    }

    fn any_event() -> impl Strategy<Value = SettlementEvent> {
        prop_oneof![
            Just(SettlementEvent::Start),
            Just(SettlementEvent::Complete),
            Just(SettlementEvent::Fail),
            Just(SettlementEvent::Reject),
            Just(SettlementEvent::Cancel),
        ]
    }

    proptest! {
        #[test]
        fn terminal_states_absorb(events in proptest::collection::vec(any_event(), 0..20)) {
            let mut status = SettlementStatus::PendingSettlement;
            for event in events {
                if let Ok(next) = status.apply(event) {
                    prop_assert!(!status.is_terminal());
                    status = next;
                }
            }
        }
    }
}
