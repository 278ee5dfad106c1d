//! Outbox events: the webhook body is composed once, when the change happens, so every
//! delivery attempt posts the same bytes.

use serde::Serialize;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::time::Timestamp;

use crate::secrets::random_hex;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a, T: Serialize> {
    event_id: &'a str,
    event_type: &'static str,
    timestamp: i64,
    data: &'a T,
}

/// A new event `{eventId, eventType, timestamp, data}` about `object_key`.
pub fn envelope_event<T: Serialize>(
    event_type: EventType,
    app_id: &AppId,
    object_key: String,
    data: &T,
    now: Timestamp,
) -> OutboxEvent {
    let event_id = format!("evt_{}", random_hex(24));
    let body = EventBody {
        event_id: &event_id,
        event_type: event_type.as_str(),
        timestamp: now.seconds(),
        data,
    };
    // Serializing plain data structs to a string cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    OutboxEvent {
        event_id,
        app_id: app_id.clone(),
        event_type,
        object_key,
        body,
        created_at: now,
    }
}
