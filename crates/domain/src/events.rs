//! Webhook events as the outbox stores them: written in the same transaction as the change
//! they announce, with their body fixed at that moment.

use crate::ids::AppId;
use crate::text_enum::text_enum;
use crate::time::Timestamp;

text_enum! {
    /// `eventType` values.
    pub enum EventType {
        /// A checkout order changed status.
        CheckoutOrderChanged => "CHECKOUT_ORDER_CHANGED",
        /// A refund order changed status.
        RefundOrderChanged => "REFUND_ORDER_CHANGED",
        /// A settlement order changed status.
        SettlementOrderChanged => "SETTLEMENT_ORDER_CHANGED",
        /// An abnormal payment was created or updated.
        AbnormalPayment => "ABNORMAL_PAYMENT",
        /// An operator tests the app's webhook endpoint (nothing changed).
        WebhookTest => "WEBHOOK_TEST",
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
