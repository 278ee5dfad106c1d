//! The audit log page (`/admin/audit`): read-only, newest first, 50 entries a page, the next
//! page starting below the last entry shown (`?before=ID`). An operator bound to an app sees
//! the entries of the operators bound to that app.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use secrecy::ExposeSecret;
use serde::Deserialize;
use wcheckout_app::console_audit::AuditPage;
use wcheckout_domain::operator::Operator;

use super::filters::given;
use super::html::{document, signed_in_header};
use super::i18n::texts;
use super::{AUDIT, failure, message, page, reader};
use crate::page::i18n::Lang;
use crate::state::AppState;

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    before: String,
}

pub(super) async fn audit_log(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let asked = serde_urlencoded::from_str::<AuditQuery>(query.as_deref().unwrap_or(""));
    let before = match asked.ok().map(|a| given(&a.before)) {
        Some(None) => None,
        Some(Some(text)) => match text.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => return message(lang, StatusCode::BAD_REQUEST, "before: a positive number"),
        },
        None => {
            return message(
                lang,
                StatusCode::BAD_REQUEST,
                "the query string is not valid",
            );
        }
    };
    let operator = &session.operator;
    match state.gateway.console_audit(operator, before).await {
        Ok(found) => {
            let csrf = session.csrf_token.expose_secret();
            page(StatusCode::OK, audit_page(lang, operator, csrf, &found))
        }
        Err(error) => failure(lang, &error),
    }
}

fn audit_page(lang: Lang, operator: &Operator, csrf_token: &str, found: &AuditPage) -> String {
    let t = texts(lang);
    let body = html! {
        h1 { (t.audit_log) }
        @if found.rows.is_empty() {
            p { (t.no_entries) }
        } @else {
            div.scroll {
                table.audit {
                    thead { tr {
                        th { (t.at) } th { (t.operator) } th { (t.action) }
                        th { (t.target) } th { (t.client) }
                    } }
                    tbody {
                        @for row in &found.rows {
                            tr {
                                td { (row.entry.at.to_spaced_seconds()) }
                                td { (row.entry.operator) }
                                td { (row.entry.action) }
                                td { code { (row.entry.target) } }
                                td { (row.entry.client) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = found.next {
            nav.pages { a rel="next" href={ (AUDIT) "?before=" (next) } { (t.older) } }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.audit_log, header, body)
}
