//! An order's history as the console shows it: its timeline, refunds, abnormal payments and
//! every webhook sent about them with its attempts, and resending one of those webhooks.
//!
//! No table keeps an order's past states; the outbox does: every change of an order, of its
//! refunds and of its abnormal payments is announced by an event written in the same commit,
//! with the object as it became. The timeline is the order's creation, the transfers seen, and
//! those events in the order they were written.

use std::net::IpAddr;

use serde_json::Value;
use wcheckout_domain::events::EventType;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::Transfer;
use wcheckout_domain::ports::{DeliveryAttempt, OutboxEntry, OutboxFilter};
use wcheckout_domain::time::Timestamp;

use crate::console::actor_of;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::wire::{AbnormalPaymentView, RefundView};

/// One moment of an order's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When.
    pub at: Timestamp,
    /// What: `CREATED`, `TRANSFER`, or the event type announcing a change.
    pub what: String,
    /// The state it led to (an order's status, a refund's, a transfer's hash).
    pub detail: String,
}

/// A webhook about the order (or its refunds and abnormal payments) with its attempts.
#[derive(Debug, Clone)]
pub struct OrderWebhook {
    /// The event and where its delivery stands.
    pub entry: OutboxEntry,
    /// Its attempts, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

/// Everything that happened to an order.
#[derive(Debug, Clone, Default)]
pub struct OrderHistory {
    /// Oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Its refunds, oldest first.
    pub refunds: Vec<RefundView>,
    /// Its abnormal payments, oldest first.
    pub abnormal: Vec<AbnormalPaymentView>,
    /// Every webhook about it, oldest first.
    pub webhooks: Vec<OrderWebhook>,
}

/// What an event's body says the object became: `(field, its value)` of the data.
fn announced_state(event_type: EventType, body: &str) -> String {
    let (number, status) = match event_type {
        EventType::CheckoutOrderChanged => ("", "orderStatus"),
        EventType::RefundOrderChanged => ("refundOrderNo", "refundStatus"),
        EventType::AbnormalPayment => ("abnormalPaymentNo", "status"),
        EventType::SettlementOrderChanged => ("settlementOrderNo", "settlementStatus"),
        EventType::WebhookTest => ("", "message"),
    };
    let data = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|body| body.get("data").cloned())
        .unwrap_or(Value::Null);
    let field = |name: &str| data.get(name).and_then(Value::as_str).unwrap_or("");
    let (number, status) = (field(number), field(status));
    if number.is_empty() {
        status.to_owned()
    } else {
        format!("{number} {status}")
    }
}

impl Gateway {
    /// The history of `order`, whose transfers are `transfers`.
    pub async fn console_order_history(
        &self,
        order: &Order,
        transfers: &[Transfer],
    ) -> Result<OrderHistory, ServiceError> {
        let refunds = self.store.refunds_of_order(&order.sysid).await?;
        let abnormal = self.store.abnormal_payments_of_order(&order.sysid).await?;
        let mut keys = vec![format!("order:{}", order.sysid)];
        keys.extend(refunds.iter().map(|r| format!("refund:{}", r.sysid)));
        keys.extend(
            abnormal
                .iter()
                .map(|p| format!("abnormal:{}", p.abnormal_payment_no)),
        );
        let events = self.store.events_of_objects(&keys).await?;
        let ids: Vec<String> = events.iter().map(|e| e.event.event_id.clone()).collect();
        let mut attempts = self.store.attempts_of_events(&ids).await?;
        let mut timeline = vec![TimelineEntry {
            at: order.created_at,
            what: "CREATED".into(),
            detail: "PAYING".into(),
        }];
        timeline.extend(transfers.iter().map(|t| TimelineEntry {
            at: t.observed_at,
            what: "TRANSFER".into(),
            detail: t.tx_hash.clone(),
        }));
        timeline.extend(events.iter().map(|e| TimelineEntry {
            at: e.event.created_at,
            what: e.event.event_type.to_string(),
            detail: announced_state(e.event.event_type, &e.event.body),
        }));
        // Stable: entries of the same moment keep creation, transfers, events order.
        timeline.sort_by_key(|entry| entry.at);
        let webhooks = events
            .into_iter()
            .map(|entry| {
                let (own, rest) = attempts
                    .drain(..)
                    .partition(|a| a.event_id == entry.event.event_id);
                attempts = rest;
                OrderWebhook {
                    entry,
                    attempts: own,
                }
            })
            .collect();
        let refunds = refunds
            .iter()
            .map(|r| self.refund_view(r))
            .collect::<Result<_, _>>()?;
        let abnormal = abnormal
            .iter()
            .map(|p| Ok(AbnormalPaymentView::new(p, self.token_of(&p.token)?.0)))
            .collect::<Result<_, ServiceError>>()?;
        Ok(OrderHistory {
            timeline,
            refunds,
            abnormal,
            webhooks,
        })
    }

    /// Makes the webhook `event_id` about the order `sysid` (or its refunds and abnormal
    /// payments) due again, for `operator` (who must be allowed to, and see the order), and
    /// audits it with the event's id. `None` when the operator may not see the order, or the
    /// event is not about it.
    pub async fn console_resend_webhook(
        &self,
        operator: &Operator,
        client: IpAddr,
        sysid: &str,
        event_id: &str,
    ) -> Result<Option<u64>, ServiceError> {
        if !may(operator.role, ConsoleAction::ResendWebhook) {
            let refused = format!("role {} may not resend webhooks", operator.role);
            return Err(ServiceError::rejected(
                wcheckout_domain::error::ErrorCode::Conflict,
                refused,
            ));
        }
        let Some(order) = self.console_order(operator, sysid).await? else {
            return Ok(None);
        };
        let about_it = order
            .history
            .webhooks
            .iter()
            .any(|w| w.entry.event.event_id == event_id);
        if !about_it {
            return Ok(None);
        }
        let filter = OutboxFilter {
            app: Some(wcheckout_domain::ids::AppId::new(order.app_id.clone())),
            ..OutboxFilter::default()
        };
        let count = self.resend_webhooks(&filter, Some(event_id)).await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(
            &*self.store,
            &actor,
            ConsoleAction::ResendWebhook,
            event_id,
            now,
        )
        .await?;
        Ok(Some(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_say_what_their_object_became() {
        let order = r#"{"eventId":"e","data":{"orderNo":"A-1","orderStatus":"PAID"}}"#;
        assert_eq!(
            announced_state(EventType::CheckoutOrderChanged, order),
            "PAID"
        );
        let refund = r#"{"data":{"refundOrderNo":"R-1","refundStatus":"REFUNDING"}}"#;
        assert_eq!(
            announced_state(EventType::RefundOrderChanged, refund),
            "R-1 REFUNDING"
        );
        assert_eq!(announced_state(EventType::AbnormalPayment, "not json"), "");
    }
}
