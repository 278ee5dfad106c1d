//! Testing an app's webhook endpoint (`support` and above): a POST queues a `WEBHOOK_TEST`
//! event for the app, then its page (`/admin/webhooks/{event_id}`) shows how the delivery went.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use secrecy::ExposeSecret;
use wcheckout_domain::operator::ConsoleAction;

use super::html::{document, signed_in_header, webhook_card};
use super::i18n::texts;
use super::{CsrfForm, Visitor, WEBHOOKS, failure, not_found, page, reader, see_other_to};
use crate::state::AppState;

pub(super) async fn test_webhook(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::TestWebhook) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let queued = state
        .gateway
        .console_test_webhook(&w.session.operator, w.client, &app)
        .await;
    match queued {
        Ok(Some(event_id)) => see_other_to(&format!("{WEBHOOKS}/{event_id}")),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn webhook(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(event_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let operator = &session.operator;
    let hook = match state.gateway.console_webhook(operator, &event_id).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    };
    let t = texts(lang);
    let csrf = session.csrf_token.expose_secret();
    let body = html! {
        h1 { (t.webhook) }
        dl {
            dt { (t.app) } dd { (hook.entry.event.app_id) }
        }
        (webhook_card(t, csrf, &hook, None))
        h2 { (t.body) }
        pre.body { code { (hook.entry.event.body) } }
    };
    let header = signed_in_header(t, operator, csrf);
    page(StatusCode::OK, document(lang, t.webhook, header, body))
}
