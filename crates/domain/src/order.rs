//! Checkout orders: what the integrator asked to be paid, and the one transition function that
//! moves an order between the statuses of the W Checkout enum.

use crate::address::Address;
use crate::error::{ErrorCode, Rejection};
use crate::ids::{AppId, IntegratorNo};
use crate::money::{Decimal, Overflow, TokenAmount};
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::TokenId;

text_enum! {
    /// `orderStatus` values (W Checkout enum reference).
    pub enum OrderStatus {
        /// Created, waiting for payment.
        Paying => "PAYING",
        /// Paid in full.
        Paid => "PAID",
        /// Cancelled by the integrator before payment.
        Cancelled => "CANCELLED",
        /// At least one refund is in progress.
        Refunding => "REFUNDING",
        /// Part of the payment has been refunded.
        PartialRefunded => "PARTIAL_REFUNDED",
        /// The whole payment has been refunded.
        Refunded => "REFUNDED",
        /// The payment window ended without full payment.
        Timeout => "TIMEOUT",
    }
}

/// Something that happens to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderEvent {
    /// Confirmed transfers reached the amount due.
    PaidInFull,
    /// The integrator cancelled it.
    Cancel,
    /// The payment window ended.
    Expire,
    /// A refund of it was accepted.
    RefundStarted,
    /// The refunds in progress ended; `outcome` says what has been refunded in total.
    RefundsEnded {
        /// Total refunded after they ended.
        outcome: RefundTotal,
    },
}

/// How much of an order has been refunded, once no refund is in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundTotal {
    /// Nothing (every refund failed or was cancelled).
    Nothing,
    /// Some of the payment.
    Part,
    /// All of it.
    All,
}

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order in status {from} cannot take {event:?}")]
pub struct InvalidTransition {
    /// Status before.
    pub from: OrderStatus,
    /// What was attempted.
    pub event: OrderEvent,
}

impl OrderStatus {
    /// The only way an order changes status.
    pub fn apply(self, event: OrderEvent) -> Result<OrderStatus, InvalidTransition> {
        use OrderEvent as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::Paying, E::PaidInFull) => Some(S::Paid),
            (S::Paying, E::Cancel) => Some(S::Cancelled),
            (S::Paying, E::Expire) => Some(S::Timeout),
            (S::Paid | S::PartialRefunded | S::Refunding, E::RefundStarted) => Some(S::Refunding),
            (S::Refunding, E::RefundsEnded { outcome }) => Some(match outcome {
                RefundTotal::Nothing => S::Paid,
                RefundTotal::Part => S::PartialRefunded,
                RefundTotal::All => S::Refunded,
            }),
            (S::Paying, E::RefundStarted | E::RefundsEnded { .. })
            | (S::Paid | S::PartialRefunded, E::PaidInFull | E::Cancel | E::Expire)
            | (S::Paid | S::PartialRefunded, E::RefundsEnded { .. })
            | (S::Refunding, E::PaidInFull | E::Cancel | E::Expire)
            | (S::Cancelled | S::Refunded | S::Timeout, _) => None,
        };
        next.ok_or(InvalidTransition { from: self, event })
    }

    /// Statuses nothing can leave.
    pub const fn is_terminal(self) -> bool {
        match self {
            OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Timeout => true,
            OrderStatus::Paying
            | OrderStatus::Paid
            | OrderStatus::Refunding
            | OrderStatus::PartialRefunded => false,
        }
    }
}

/// Why a change of an order's amounts could not be made. Both are bugs, never a client's
/// mistake: a sum that does not fit, or a transition the order's status refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderChangeError {
    /// The sum does not fit.
    #[error(transparent)]
    Overflow(#[from] Overflow),
    /// The order refused the transition.
    #[error(transparent)]
    Transition(#[from] Rejection),
}

/// Payment window bounds and default, in seconds.
pub mod expiry {
    /// Default `expiredIn`.
    pub const DEFAULT_SECS: i64 = 1800;
    /// Shortest `expiredIn`.
    pub const MIN_SECS: i64 = 60;
    /// Longest `expiredIn` (7 days).
    pub const MAX_SECS: i64 = 604_800;
}

/// Largest accepted `orderAmount` in USD.
pub const MAX_ORDER_AMOUNT_USD: u128 = 1_000_000_000_000;
/// Most decimals accepted in `orderAmount`.
pub const MAX_ORDER_AMOUNT_SCALE: u32 = 18;

/// Checks `orderAmount`: positive, at most 1e12, at most 18 decimals.
pub fn check_order_amount(amount: &Decimal) -> Result<(), Rejection> {
    if amount.is_zero() {
        return Err(Rejection::invalid("orderAmount", "must be greater than 0"));
    }
    if *amount > Decimal::from_integer(MAX_ORDER_AMOUNT_USD) {
        return Err(Rejection::invalid(
            "orderAmount",
            "must not exceed 1000000000000",
        ));
    }
    if amount.significant_scale() > MAX_ORDER_AMOUNT_SCALE {
        return Err(Rejection::invalid(
            "orderAmount",
            "must have at most 18 decimal places",
        ));
    }
    Ok(())
}

/// Checks `expiredIn`: absent or 0 means the default, else 60 to 604800 seconds.
pub fn resolve_expired_in(requested: Option<i64>) -> Result<i64, Rejection> {
    match requested {
        None | Some(0) => Ok(expiry::DEFAULT_SECS),
        Some(secs) if (expiry::MIN_SECS..=expiry::MAX_SECS).contains(&secs) => Ok(secs),
        Some(_) => Err(Rejection::invalid(
            "expiredIn",
            "must be between 60 and 604800 seconds",
        )),
    }
}

/// A checkout order as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// W Checkout's id (`OR…`).
    pub sysid: String,
    /// The app that created it.
    pub app_id: AppId,
    /// The integrator's number.
    pub order_no: IntegratorNo,
    /// The integrator's merchant (`default` when not given).
    pub merchant_id: String,
    /// The integrator's customer.
    pub customer_id: String,
    /// Payment token.
    pub token: TokenId,
    /// Pricing currency (`USD`).
    pub fiat: String,
    /// Price in `fiat`, exactly as sent.
    pub order_amount: Decimal,
    /// Token units per unit of `fiat`.
    pub exchange_rate: Decimal,
    /// What the payer must send, in base units.
    pub paying_amount: TokenAmount,
    /// Confirmed transfers at or above this count as full payment (tolerance applied).
    pub min_accepted_amount: TokenAmount,
    /// Sum of confirmed transfers credited to the order.
    pub paid_amount: TokenAmount,
    /// Sum of completed refunds.
    pub refunded_amount: TokenAmount,
    /// Where to pay.
    pub deposit_address: Address,
    /// BIP-44 index of the deposit address.
    pub address_index: u64,
    /// Status.
    pub status: OrderStatus,
    /// The transfer that completed the payment.
    pub tx_hash: Option<String>,
    /// End of the payment window.
    pub expires_at: Timestamp,
    /// Payer return URL (desktop).
    pub pc_callback_url: Option<String>,
    /// Payer return URL (in-app).
    pub app_callback_url: Option<String>,
    /// Unguessable token of the hosted payment page.
    pub page_token: String,
    /// Hash of the creation request's content, for idempotent re-creation.
    pub request_fingerprint: String,
    /// An operator alert about this order (a credited transfer undone by a deep reorg).
    pub alert: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Compare-and-set version, incremented by every stored change.
    pub version: i64,
}

impl Order {
    /// Seconds left in the payment window (0 once it has ended or the order left `PAYING`).
    pub fn expired_in(&self, now: Timestamp) -> i64 {
        match self.status {
            OrderStatus::Paying => now.seconds_until(self.expires_at),
            OrderStatus::Paid
            | OrderStatus::Cancelled
            | OrderStatus::Refunding
            | OrderStatus::PartialRefunded
            | OrderStatus::Refunded
            | OrderStatus::Timeout => 0,
        }
    }

    /// The next version of the order, changed at `now`, its status untouched. Every stored
    /// change is one version: a compare-and-set on the version read finds any change between.
    fn next_version(&self, now: Timestamp) -> Order {
        Order {
            updated_at: now,
            version: self.version.saturating_add(1),
            ..self.clone()
        }
    }

    /// The order with an operator alert recorded (no status change), as its next version.
    pub fn with_alert(&self, note: String, now: Timestamp) -> Order {
        Order {
            alert: Some(note),
            ..self.next_version(now)
        }
    }

    /// The order with `paid` more credited and no status change, as its next version.
    pub fn with_paid(&self, paid: TokenAmount, now: Timestamp) -> Order {
        Order {
            paid_amount: paid,
            ..self.next_version(now)
        }
    }

    /// A refund of the order ended, `refunded` more paid out (zero when it was cancelled or
    /// failed): the next version counts it, and once no other refund of it is running
    /// (`others_running`), a `REFUNDING` order becomes `PAID`, `PARTIAL_REFUNDED` or `REFUNDED`
    /// by what has been refunded of what it brought.
    pub fn refund_ended(
        &self,
        refunded: TokenAmount,
        others_running: bool,
        now: Timestamp,
    ) -> Result<Order, OrderChangeError> {
        let total = self.refunded_amount.checked_add(refunded)?;
        let counted = Order {
            refunded_amount: total,
            ..self.clone()
        };
        if others_running || self.status != OrderStatus::Refunding {
            return Ok(counted.next_version(now));
        }
        let brought = self.paid_amount.min(self.paying_amount);
        let outcome = if total.is_zero() {
            RefundTotal::Nothing
        } else if total >= brought {
            RefundTotal::All
        } else {
            RefundTotal::Part
        };
        Ok(counted.transition(OrderEvent::RefundsEnded { outcome }, now)?)
    }

    /// Applies an event: the new status as the next version. The only way an order's status
    /// changes.
    pub fn transition(&self, event: OrderEvent, now: Timestamp) -> Result<Order, Rejection> {
        let status = self.status.apply(event).map_err(|e| {
            Rejection::new(
                ErrorCode::Conflict,
                format!(
                    "order '{}' is {} and cannot be {}",
                    self.order_no,
                    e.from,
                    verb(event)
                ),
            )
        })?;
        Ok(Order {
            status,
            ..self.next_version(now)
        })
    }
}

fn verb(event: OrderEvent) -> &'static str {
    match event {
        OrderEvent::PaidInFull => "paid",
        OrderEvent::Cancel => "cancelled",
        OrderEvent::Expire => "expired",
        OrderEvent::RefundStarted => "refunded",
        OrderEvent::RefundsEnded { .. } => "settled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_event() -> impl Strategy<Value = OrderEvent> {
        prop_oneof![
            Just(OrderEvent::PaidInFull),
            Just(OrderEvent::Cancel),
            Just(OrderEvent::Expire),
            Just(OrderEvent::RefundStarted),
            Just(OrderEvent::RefundsEnded {
                outcome: RefundTotal::Nothing
            }),
            Just(OrderEvent::RefundsEnded {
                outcome: RefundTotal::Part
            }),
            Just(OrderEvent::RefundsEnded {
                outcome: RefundTotal::All
            }),
        ]
    }

    #[test]
    fn the_payment_paths() {
        use OrderEvent as E;
        use OrderStatus as S;
        assert_eq!(S::Paying.apply(E::PaidInFull), Ok(S::Paid));
        assert_eq!(S::Paying.apply(E::Cancel), Ok(S::Cancelled));
        assert_eq!(S::Paying.apply(E::Expire), Ok(S::Timeout));
        assert_eq!(S::Paid.apply(E::RefundStarted), Ok(S::Refunding));
        let part = E::RefundsEnded {
            outcome: RefundTotal::Part,
        };
        assert_eq!(S::Refunding.apply(part), Ok(S::PartialRefunded));
        assert_eq!(S::PartialRefunded.apply(E::RefundStarted), Ok(S::Refunding));
        let all = E::RefundsEnded {
            outcome: RefundTotal::All,
        };
        assert_eq!(S::Refunding.apply(all), Ok(S::Refunded));
        let none = E::RefundsEnded {
            outcome: RefundTotal::Nothing,
        };
        assert_eq!(S::Refunding.apply(none), Ok(S::Paid));
        assert!(S::Paid.apply(E::Cancel).is_err());
        assert!(S::Timeout.apply(E::PaidInFull).is_err());
    }

    #[test]
    fn parses_what_it_prints() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("paid"), None);
    }

    #[test]
    fn amount_and_window_rules() {
        let d = |t| Decimal::parse(t).unwrap();
        assert!(check_order_amount(&d("0.30000000000000004")).is_ok());
        assert!(check_order_amount(&d("1000000000000")).is_ok());
        assert!(check_order_amount(&d("1000000000000.01")).is_err());
        assert!(check_order_amount(&d("0")).is_err());
        assert!(check_order_amount(&d("0.0000000000000000001")).is_err());
        assert!(check_order_amount(&d("0.1000000000000000000000")).is_ok());
        assert_eq!(resolve_expired_in(None), Ok(1800));
        assert_eq!(resolve_expired_in(Some(0)), Ok(1800));
        assert_eq!(resolve_expired_in(Some(60)), Ok(60));
        assert!(resolve_expired_in(Some(59)).is_err());
        assert!(resolve_expired_in(Some(604_801)).is_err());
    }

    proptest! {
        #[test]
        fn terminal_states_absorb_every_event(events in proptest::collection::vec(any_event(), 0..30)) {
            let mut status = OrderStatus::Paying;
            for event in events {
                match status.apply(event) {
                    Ok(next) => {
                        prop_assert!(!status.is_terminal(), "{status} left a terminal state");
                        status = next;
                    }
                    Err(e) => prop_assert_eq!(e.from, status),
                }
            }
        }
    }
}
