//! Payments seen on chain and what they do to orders: crediting, overpayment, underpayment at
//! expiry, late payment. These are pure rules; the watcher and the expiry worker apply them.
//!
//! The two records these rules produce live in their own modules, [`crate::transfer`] and
//! [`crate::abnormal`]; their types are re-exported here, where the rules use them.

pub use crate::abnormal::{
    AbnormalDraft, AbnormalEvent, AbnormalKind, AbnormalPayment, AbnormalStatus,
    InvalidAbnormalChange,
};
pub use crate::transfer::{
    InvalidTransferTransition, Transfer, TransferEvent, TransferKey, TransferState,
};

use crate::error::Rejection;
use crate::order::{Order, OrderChangeError, OrderEvent, OrderStatus};
use crate::time::Timestamp;

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
    use crate::address::Address;
    use crate::ids::{AppId, IntegratorNo};
    use crate::money::{Decimal, TokenAmount};
    use crate::token::{ChainKey, TokenId};

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
            deposit_address: Address::Evm(crate::address::EvmAddress::from_bytes([7; 20])),
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
            from: Address::Evm(crate::address::EvmAddress::from_bytes([1; 20])),
            to: Address::Evm(crate::address::EvmAddress::from_bytes([7; 20])),
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
