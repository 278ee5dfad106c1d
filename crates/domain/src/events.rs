//! Webhook events as the outbox stores them: written in the same transaction as the change
//! they announce, with their body fixed at that moment.

use std::fmt;

use crate::ids::AppId;
use crate::time::Timestamp;

/// `eventType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A checkout order changed status.
    CheckoutOrderChanged,
    /// A refund order changed status.
    RefundOrderChanged,
    /// A settlement order changed status.
    SettlementOrderChanged,
    /// An abnormal payment was created or updated.
    AbnormalPayment,
}

impl EventType {
    /// The value as W Checkout writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::CheckoutOrderChanged => "CHECKOUT_ORDER_CHANGED",
            EventType::RefundOrderChanged => "REFUND_ORDER_CHANGED",
            EventType::SettlementOrderChanged => "SETTLEMENT_ORDER_CHANGED",
            EventType::AbnormalPayment => "ABNORMAL_PAYMENT",
        }
    }

    /// Parses the value.
    pub fn parse(text: &str) -> Option<EventType> {
        [
            EventType::CheckoutOrderChanged,
            EventType::RefundOrderChanged,
            EventType::SettlementOrderChanged,
            EventType::AbnormalPayment,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// `evt_` + 12 hex digits... or more; unique.
    pub event_id: String,
    /// The app it is for.
    pub app_id: AppId,
    /// Its type.
    pub event_type: EventType,
    /// The object it is about (`order:OR…`); events of one object are delivered in order.
    pub object_key: String,
    /// The exact body posted on every attempt.
    pub body: String,
    /// When the change happened.
    pub created_at: Timestamp,
}
