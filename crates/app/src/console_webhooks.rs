//! Testing an app's webhook endpoint from the console: a `WEBHOOK_TEST` event is written to the
//! outbox like any other, so the dispatcher signs and delivers it with the same rules (target
//! policy, timeout, retries) and logs its attempts, which the console then shows.

use std::net::IpAddr;

use serde::Serialize;
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::events::EventType;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::ports::ChangeSet;

use crate::console::actor_of;
use crate::console_history::OrderWebhook;
use crate::error::ServiceError;
use crate::events::envelope_event;
use crate::gateway::Gateway;
use crate::operators::audit;

/// What a test webhook carries as its `data`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestData<'a> {
    app_id: &'a str,
    message: &'static str,
}

/// The `data.message` of every test webhook.
pub const TEST_MESSAGE: &str = "A test webhook from the wcheckout console; nothing changed.";

fn conflict(message: String) -> ServiceError {
    ServiceError::rejected(ErrorCode::Conflict, message)
}

impl Gateway {
    /// Queues a test webhook to the webhook URL of `app` for `operator` (who must be allowed
    /// to, and see the app), audited with the event's id; its id, or `None` when the operator
    /// may not see the app or it does not exist.
    pub async fn console_test_webhook(
        &self,
        operator: &Operator,
        client: IpAddr,
        app: &str,
    ) -> Result<Option<String>, ServiceError> {
        if !may(operator.role, ConsoleAction::TestWebhook) {
            return Err(conflict(format!(
                "role {} may not test webhooks",
                operator.role
            )));
        }
        let printable =
            !app.is_empty() && app.len() <= 64 && app.bytes().all(|b| b.is_ascii_graphic());
        let app_id = AppId::new(app);
        if !printable || !operator.sees_app(&app_id) {
            return Ok(None);
        }
        let Some(app) = self.store.app(&app_id).await? else {
            return Ok(None);
        };
        if app.webhook_url.is_none() {
            return Err(conflict(format!("app {} has no webhook URL", app.id)));
        }
        let now = self.clock.now();
        let data = TestData {
            app_id: app.id.as_str(),
            message: TEST_MESSAGE,
        };
        let mut event = envelope_event(EventType::WebhookTest, &app.id, String::new(), &data, now);
        // Its own object: a test waits for no other event and holds none up.
        event.object_key = format!("test:{}", event.event_id);
        let event_id = event.event_id.clone();
        let changes = ChangeSet {
            events: vec![event],
            ..ChangeSet::default()
        };
        // A new event conflicts with nothing; the commit wakes the dispatcher.
        self.commit(changes).await.map_err(|e| e.settled())?;
        let actor = actor_of(operator, client);
        audit(
            &*self.store,
            &actor,
            ConsoleAction::TestWebhook,
            &event_id,
            now,
        )
        .await?;
        Ok(Some(event_id))
    }

    /// One webhook with its attempts, when `operator` sees its app.
    pub async fn console_webhook(
        &self,
        operator: &Operator,
        event_id: &str,
    ) -> Result<Option<OrderWebhook>, ServiceError> {
        let printable = !event_id.is_empty()
            && event_id.len() <= 64
            && event_id.bytes().all(|b| b.is_ascii_graphic());
        if !printable {
            return Ok(None);
        }
        let found = self.store.outbox_event(event_id).await?;
        Ok(found
            .filter(|(entry, _)| operator.sees_app(&entry.event.app_id))
            .map(|(entry, attempts)| OrderWebhook { entry, attempts }))
    }
}
