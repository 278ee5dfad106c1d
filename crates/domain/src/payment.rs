//! Payments seen on chain and what they do to orders: crediting, overpayment, underpayment at
//! expiry, late payment. These are pure rules; the watcher and the expiry worker apply them.

use std::fmt;

use crate::address::EvmAddress;
use crate::error::Rejection;
use crate::ids::{AppId, IntegratorNo};
use crate::money::TokenAmount;
use crate::order::{Order, OrderChangeError, OrderEvent, OrderStatus};
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::{ChainKey, TokenId};

text_enum! {
    /// Where a transfer stands.
    pub enum TransferState {
        /// Seen in a block that is not final yet.
        Pending => "PENDING",
        /// Final and applied to its order.
        Credited => "CREDITED",
        /// Was credited, then its block left the canonical chain (a reorg deeper than the
        /// confirmation depth). Kept, alerted, never silently dropped.
        Reversed => "REVERSED",
    }
}

/// Something that happens to a recorded transfer. (A pending transfer whose block is abandoned
/// is forgotten, not moved: nothing was ever counted for it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEvent {
    /// Its block is final: it counts for its order.
    Finalised,
    /// Its block left the canonical chain after it was credited.
    Reorganised,
    /// A reversed transfer is back on the canonical chain under the same key.
    Reincluded,
}

/// A transition the transfer state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transfer in state {from} cannot take {event:?}")]
pub struct InvalidTransferTransition {
    /// State before.
    pub from: TransferState,
    /// What was attempted.
    pub event: TransferEvent,
}

impl TransferState {
    /// The only way a transfer's state changes.
    pub fn apply(self, event: TransferEvent) -> Result<TransferState, InvalidTransferTransition> {
        use TransferEvent as E;
        use TransferState as S;
        let next = match (self, event) {
            (S::Pending, E::Finalised) | (S::Reversed, E::Reincluded) => Some(S::Credited),
            (S::Credited, E::Reorganised) => Some(S::Reversed),
            (S::Pending, E::Reorganised | E::Reincluded)
            | (S::Credited, E::Finalised | E::Reincluded)
            | (S::Reversed, E::Finalised | E::Reorganised) => None,
        };
        next.ok_or(InvalidTransferTransition { from: self, event })
    }
}

/// An ERC-20 `Transfer` to one of our deposit addresses, as the chain reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Chain.
    pub chain: ChainKey,
    /// Transaction hash, `0x` + 64 lower-case hex digits.
    pub tx_hash: String,
    /// Position of the log in its block.
    pub log_index: u64,
    /// Block number.
    pub block_number: u64,
    /// Block hash, to undo the transfer if the block is abandoned.
    pub block_hash: String,
    /// Block timestamp: a transfer counts as on time when its block is not after the deadline.
    pub block_time: Timestamp,
    /// Token (by its contract).
    pub token: TokenId,
    /// Sender: the default refund destination.
    pub from: EvmAddress,
    /// Recipient: a deposit address.
    pub to: EvmAddress,
    /// Amount in base units.
    pub amount: TokenAmount,
    /// The order whose deposit address received it.
    pub order_sysid: String,
    /// Where it stands.
    pub state: TransferState,
    /// When the gateway first saw it.
    pub observed_at: Timestamp,
}

impl Transfer {
    /// Its identity: unique per chain.
    pub fn key(&self) -> TransferKey {
        TransferKey {
            chain: self.chain.clone(),
            tx_hash: self.tx_hash.clone(),
            log_index: self.log_index,
        }
    }

    /// Confirmations at a head height (1 when the head is the transfer's own block).
    pub fn confirmations(&self, head: u64) -> u64 {
        head.saturating_add(1).saturating_sub(self.block_number)
    }
}

/// `(chain, tx hash, log index)`: a chain observation is idempotent on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransferKey {
    /// Chain.
    pub chain: ChainKey,
    /// Transaction hash.
    pub tx_hash: String,
    /// Log index.
    pub log_index: u64,
}

impl fmt::Display for TransferKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.chain, self.tx_hash, self.log_index)
    }
}

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
    pub payer: Option<EvmAddress>,
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
    pub payer: Option<EvmAddress>,
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

/// What a final transfer does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credit {
    /// Added to a `PAYING` order; `order` is the order after it (possibly `PAID`), with an
    /// `OVER_PAID` excess when the sum went beyond the amount due.
    Counted {
        /// The order after the credit.
        order: Box<Order>,
        /// True when this transfer completed the payment.
        completed: bool,
        /// Excess beyond the amount due.
        excess: Option<AbnormalDraft>,
    },
    /// The order no longer takes payments: the whole transfer is abnormal.
    Abnormal(AbnormalDraft),
    /// The transfer came after the deadline of an order still `PAYING`: it waits until the
    /// order has expired, then counts as a late payment.
    AfterDeadline,
}

/// Applies a final transfer to its order.
pub fn credit(
    order: &Order,
    transfer: &Transfer,
    now: Timestamp,
) -> Result<Credit, OrderChangeError> {
    let whole = |kind| AbnormalDraft {
        kind,
        amount: transfer.amount,
        tx_hash: Some(transfer.tx_hash.clone()),
        payer: Some(transfer.from),
    };
    match order.status {
        OrderStatus::Paying if transfer.block_time > order.expires_at => Ok(Credit::AfterDeadline),
        OrderStatus::Paying => count(order, transfer, now),
        OrderStatus::Paid
        | OrderStatus::Refunding
        | OrderStatus::PartialRefunded
        | OrderStatus::Refunded => Ok(Credit::Abnormal(whole(AbnormalKind::OverPaid))),
        OrderStatus::Timeout | OrderStatus::Cancelled => {
            Ok(Credit::Abnormal(whole(AbnormalKind::LatePayment)))
        }
    }
}

fn count(order: &Order, transfer: &Transfer, now: Timestamp) -> Result<Credit, OrderChangeError> {
    let paid = order.paid_amount.checked_add(transfer.amount)?;
    if paid < order.min_accepted_amount {
        return Ok(Credit::Counted {
            order: Box::new(order.with_paid(paid, now)),
            completed: false,
            excess: None,
        });
    }
    let counted = Order {
        paid_amount: paid,
        tx_hash: Some(transfer.tx_hash.clone()),
        ..order.clone()
    };
    let after = counted.transition(OrderEvent::PaidInFull, now)?;
    let excess = paid
        .checked_sub(order.paying_amount)
        .filter(|e| !e.is_zero())
        .map(|amount| AbnormalDraft {
            kind: AbnormalKind::OverPaid,
            amount,
            tx_hash: Some(transfer.tx_hash.clone()),
            payer: Some(transfer.from),
        });
    Ok(Credit::Counted {
        order: Box::new(after),
        completed: true,
        excess,
    })
}

/// What the end of the payment window does to a `PAYING` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// A transfer made in time is still confirming: decide when it is final.
    Wait,
    /// `TIMEOUT`, with an `UNDER_PAID` abnormal payment for what had arrived.
    Expire {
        /// The order after expiry.
        order: Box<Order>,
        /// The underpayment, when something arrived.
        under_paid: Option<AbnormalDraft>,
    },
}

/// What is known of an order's payments once its window has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryFacts {
    /// The chain has been read up to a moment after the deadline, so every transfer made in
    /// time is recorded (or the wait for a lagging watcher has run out).
    pub chain_read_past_deadline: bool,
    /// A transfer made before the deadline is still waiting for confirmations.
    pub confirming_in_time: bool,
}

/// Expires an order whose window has ended, unless a payment made in time may still be
/// unseen or unconfirmed. `last_transfer` is the most recent credited transfer (its hash and
/// sender describe the underpayment).
pub fn expire(
    order: &Order,
    facts: ExpiryFacts,
    last_transfer: Option<&Transfer>,
    now: Timestamp,
) -> Result<Expiry, Rejection> {
    if !facts.chain_read_past_deadline || facts.confirming_in_time {
        return Ok(Expiry::Wait);
    }
    let expired = order.transition(OrderEvent::Expire, now)?;
    let under_paid = (!order.paid_amount.is_zero()).then(|| AbnormalDraft {
        kind: AbnormalKind::UnderPaid,
        amount: order.paid_amount,
        tx_hash: last_transfer.map(|t| t.tx_hash.clone()),
        payer: last_transfer.map(|t| t.from),
    });
    Ok(Expiry::Expire {
        order: Box::new(expired),
        under_paid,
    })
}

/// How long after its end an order's deposit address is still watched (late payments).
pub const DEFAULT_MONITORING_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// True when a transfer in a block at `block_time` to this order's address is still ours to
/// record: before the end of the monitoring window that follows the payment window.
pub fn monitored(order: &Order, block_time: Timestamp, window_secs: i64) -> bool {
    block_time <= order.expires_at.plus_seconds(window_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Decimal;

    #[test]
    fn abnormal_refunds_reserve_release_and_handle() {
        let draft = AbnormalDraft {
            kind: AbnormalKind::OverPaid,
            amount: TokenAmount::from_base_units(500),
            tx_hash: None,
            payer: None,
        };
        let start = Timestamp::from_micros(0);
        let payment = draft.into_payment("AP1".into(), &order(100, 100, OrderStatus::Paid), start);
        let part = |n| TokenAmount::from_base_units(n);
        let reserved = payment
            .apply(AbnormalEvent::Reserve(part(300)), start)
            .unwrap();
        assert_eq!(reserved.pending_amount, part(200));
        assert!(
            reserved
                .apply(AbnormalEvent::Reserve(part(201)), start)
                .is_err()
        );
        assert!(
            reserved.apply(AbnormalEvent::Handle, start).is_err(),
            "200 left"
        );
        assert!(
            payment
                .apply(AbnormalEvent::Release(part(1)), start)
                .is_err(),
            "never above its amount"
        );
        let all = reserved
            .apply(AbnormalEvent::Reserve(part(200)), start)
            .unwrap();
        let handled = all.apply(AbnormalEvent::Handle, start).unwrap();
        assert_eq!(handled.status, AbnormalStatus::Handled);
        assert!(
            handled
                .apply(AbnormalEvent::Release(part(200)), start)
                .is_err(),
            "terminal"
        );
    }

    #[test]
    fn transfer_states_move_only_by_their_events() {
        use TransferEvent as E;
        use TransferState as S;
        assert_eq!(S::Pending.apply(E::Finalised), Ok(S::Credited));
        assert_eq!(S::Credited.apply(E::Reorganised), Ok(S::Reversed));
        assert_eq!(S::Reversed.apply(E::Reincluded), Ok(S::Credited));
        for (from, event) in [
            (S::Pending, E::Reorganised),
            (S::Pending, E::Reincluded),
            (S::Credited, E::Finalised),
            (S::Credited, E::Reincluded),
            (S::Reversed, E::Finalised),
            (S::Reversed, E::Reorganised),
        ] {
            assert_eq!(
                from.apply(event),
                Err(InvalidTransferTransition { from, event })
            );
        }
    }

    #[test]
    fn every_change_of_an_order_is_one_version() {
        let start = Timestamp::from_micros(0);
        let later = Timestamp::from_micros(5);
        let paying = order(100, 100, OrderStatus::Paying);
        let Credit::Counted { order: part, .. } =
            credit(&paying, &transfer(40, 0, "0x1"), later).unwrap()
        else {
            panic!("counted");
        };
        assert_eq!(
            (part.version, part.status, part.updated_at),
            (2, OrderStatus::Paying, later)
        );
        let Credit::Counted { order: paid, .. } =
            credit(&part, &transfer(60, 0, "0x2"), later).unwrap()
        else {
            panic!("counted");
        };
        assert_eq!((paid.version, paid.status), (3, OrderStatus::Paid));
        assert_eq!(paid.tx_hash.as_deref(), Some("0x2"));
        let refunding = paid.transition(OrderEvent::RefundStarted, start).unwrap();
        let again = refunding
            .transition(OrderEvent::RefundStarted, start)
            .unwrap();
        assert_eq!((refunding.version, again.version), (4, 5));
        let units = TokenAmount::from_base_units;
        let one_ends = again.refund_ended(units(30), true, later).unwrap();
        assert_eq!(
            (one_ends.version, one_ends.status),
            (6, OrderStatus::Refunding)
        );
        assert_eq!(one_ends.refunded_amount, units(30));
        let last_ends = one_ends.refund_ended(units(0), false, later).unwrap();
        assert_eq!(last_ends.status, OrderStatus::PartialRefunded);
        let rest = last_ends
            .transition(OrderEvent::RefundStarted, later)
            .unwrap()
            .refund_ended(units(70), false, later)
            .unwrap();
        assert_eq!((rest.status, rest.version), (OrderStatus::Refunded, 9));
        let nothing = paid
            .transition(OrderEvent::RefundStarted, later)
            .unwrap()
            .refund_ended(units(0), false, later)
            .unwrap();
        assert_eq!(nothing.status, OrderStatus::Paid);
    }

    fn order(paying: u128, tolerance_floor: u128, status: OrderStatus) -> Order {
        Order {
            sysid: "OR1".into(),
            app_id: AppId::new("app_1"),
            order_no: IntegratorNo::parse("o1").unwrap(),
            merchant_id: "default".into(),
            customer_id: "c".into(),
            token: TokenId::parse("ETH_USDT").unwrap(),
            fiat: "USD".into(),
            order_amount: Decimal::from_integer(10),
            exchange_rate: Decimal::from_integer(1),
            paying_amount: TokenAmount::from_base_units(paying),
            min_accepted_amount: TokenAmount::from_base_units(tolerance_floor),
            paid_amount: TokenAmount::ZERO,
            refunded_amount: TokenAmount::ZERO,
            deposit_address: EvmAddress::from_bytes([7; 20]),
            address_index: 0,
            status,
            tx_hash: None,
            expires_at: Timestamp::from_micros(1_000_000_000),
            pc_callback_url: None,
            app_callback_url: None,
            page_token: "p".into(),
            request_fingerprint: "f".into(),
            alert: None,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
            version: 1,
        }
    }

    fn transfer(amount: u128, block_time: i64, tx: &str) -> Transfer {
        Transfer {
            chain: ChainKey::parse("ETH").unwrap(),
            tx_hash: tx.into(),
            log_index: 0,
            block_number: 10,
            block_hash: "0xb".into(),
            block_time: Timestamp::from_micros(block_time),
            token: TokenId::parse("ETH_USDT").unwrap(),
            from: EvmAddress::from_bytes([1; 20]),
            to: EvmAddress::from_bytes([7; 20]),
            amount: TokenAmount::from_base_units(amount),
            order_sysid: "OR1".into(),
            state: TransferState::Pending,
            observed_at: Timestamp::from_micros(0),
        }
    }

    const NOW: Timestamp = Timestamp::from_micros(5);
    const KNOWN: ExpiryFacts = ExpiryFacts {
        chain_read_past_deadline: true,
        confirming_in_time: false,
    };
    const WAITING: ExpiryFacts = ExpiryFacts {
        chain_read_past_deadline: true,
        confirming_in_time: true,
    };
    const UNREAD: ExpiryFacts = ExpiryFacts {
        chain_read_past_deadline: false,
        confirming_in_time: false,
    };

    #[test]
    fn exact_payment_completes_the_order() {
        let o = order(10_000_000, 10_000_000, OrderStatus::Paying);
        let Credit::Counted {
            order,
            completed,
            excess,
        } = credit(&o, &transfer(10_000_000, 1, "0xa"), NOW).unwrap()
        else {
            panic!("not counted")
        };
        assert!(completed);
        assert_eq!(order.status, OrderStatus::Paid);
        assert_eq!(order.tx_hash.as_deref(), Some("0xa"));
        assert_eq!(excess, None);
    }

    #[test]
    fn partial_payments_add_up_and_the_completing_one_is_the_tx_hash() {
        let o = order(10_000_000, 10_000_000, OrderStatus::Paying);
        let Credit::Counted {
            order: half,
            completed: false,
            ..
        } = credit(&o, &transfer(4_000_000, 1, "0xa"), NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(half.status, OrderStatus::Paying);
        assert_eq!(half.paid_amount.base_units(), 4_000_000);
        let Credit::Counted {
            order: full,
            completed: true,
            excess,
        } = credit(&half, &transfer(7_000_000, 1, "0xb"), NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(full.tx_hash.as_deref(), Some("0xb"));
        assert_eq!(
            excess.unwrap().amount.base_units(),
            1_000_000,
            "11 paid for 10 due"
        );
    }

    #[test]
    fn tolerance_accepts_a_small_shortfall_without_abnormal() {
        let o = order(10_000_000, 9_990_000, OrderStatus::Paying);
        let Credit::Counted {
            order,
            completed: true,
            excess: None,
        } = credit(&o, &transfer(9_995_000, 1, "0xa"), NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(order.status, OrderStatus::Paid);
    }

    #[test]
    fn paid_cancelled_timed_out_and_late() {
        let whole = |status| credit(&order(10, 10, status), &transfer(3, 1, "0xa"), NOW).unwrap();
        assert!(matches!(
            whole(OrderStatus::Paid),
            Credit::Abnormal(AbnormalDraft {
                kind: AbnormalKind::OverPaid,
                ..
            })
        ));
        assert!(matches!(
            whole(OrderStatus::Refunded),
            Credit::Abnormal(AbnormalDraft {
                kind: AbnormalKind::OverPaid,
                ..
            })
        ));
        assert!(matches!(
            whole(OrderStatus::Timeout),
            Credit::Abnormal(AbnormalDraft {
                kind: AbnormalKind::LatePayment,
                ..
            })
        ));
        assert!(matches!(
            whole(OrderStatus::Cancelled),
            Credit::Abnormal(AbnormalDraft {
                kind: AbnormalKind::LatePayment,
                ..
            })
        ));
        let after_deadline = transfer(10, 2_000_000_000, "0xa");
        assert_eq!(
            credit(&order(10, 10, OrderStatus::Paying), &after_deadline, NOW).unwrap(),
            Credit::AfterDeadline
        );
    }

    #[test]
    fn expiry_waits_for_confirming_transfers_and_reports_underpayment() {
        let mut o = order(10, 10, OrderStatus::Paying);
        assert_eq!(expire(&o, WAITING, None, NOW).unwrap(), Expiry::Wait);
        assert_eq!(
            expire(&o, UNREAD, None, NOW).unwrap(),
            Expiry::Wait,
            "a payment may be unseen"
        );
        let Expiry::Expire {
            order: expired,
            under_paid: None,
        } = expire(&o, KNOWN, None, NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(expired.status, OrderStatus::Timeout);
        o.paid_amount = TokenAmount::from_base_units(4);
        let last = transfer(4, 1, "0xlast");
        let Expiry::Expire {
            under_paid: Some(draft),
            ..
        } = expire(&o, KNOWN, Some(&last), NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(draft.kind, AbnormalKind::UnderPaid);
        assert_eq!(draft.amount.base_units(), 4);
        assert_eq!(draft.tx_hash.as_deref(), Some("0xlast"));
        assert!(expire(&order(10, 10, OrderStatus::Paid), KNOWN, None, NOW).is_err());
    }
}
