//! Sessions: an admin lists the live sessions (`/admin/sessions`) and ends any one; every
//! operator can sign out everywhere (every session of its account, this one included).

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use secrecy::ExposeSecret;
use wcheckout_app::console_sessions::SessionSummary;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};

use super::html::{csrf_field, document, signed_in_header};
use super::i18n::texts;
use super::{
    CsrfForm, LOGIN, SESSION_COOKIE, SESSIONS, Visitor, failure, message, not_found, page, reader,
    see_other, see_other_to, set_cookie,
};
use crate::page::i18n::Lang;
use crate::state::AppState;

pub(super) async fn sessions(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let operator = &session.operator;
    if !may(operator.role, ConsoleAction::RevokeSession) {
        return message(lang, StatusCode::FORBIDDEN, texts(lang).forbidden);
    }
    match state.gateway.console_sessions(operator).await {
        Ok(live) => {
            let csrf = session.csrf_token.expose_secret();
            let body = sessions_page(lang, operator, csrf, &session.id(), &live);
            page(StatusCode::OK, body)
        }
        Err(error) => failure(lang, &error),
    }
}

fn sessions_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    own: &str,
    live: &[SessionSummary],
) -> String {
    let t = texts(lang);
    let body = html! {
        h1 { (t.sessions) }
        div.scroll {
            table.sessions {
                thead { tr { th { (t.operator) } th { (t.signed_in_at) } th { (t.ends) } th {} } }
                tbody {
                    @for session in live {
                        tr {
                            td { (session.operator) }
                            td { (session.created_at.to_spaced_seconds()) }
                            td { (session.expires_at.to_spaced_seconds()) }
                            td {
                                @if session.id == own {
                                    (t.this_session)
                                } @else {
                                    form method="post" action={ (SESSIONS) "/" (session.id) "/revoke" } {
                                        (csrf_field(csrf_token))
                                        button.danger type="submit" { (t.revoke) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.sessions, header, body)
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::RevokeSession) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let revoked = state
        .gateway
        .console_revoke_session(&w.session.operator, w.client, &id)
        .await;
    match revoked {
        Ok(Some(_)) => see_other_to(SESSIONS),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn sign_out_everywhere(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::SignOutEverywhere) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let ended = state
        .gateway
        .console_sign_out_everywhere(&w.session, w.client)
        .await;
    if let Err(error) = ended {
        return failure(w.lang, &error);
    }
    let mut response = see_other(LOGIN);
    let secure = state.gateway.settings.secure_cookies;
    set_cookie(&mut response, SESSION_COOKIE, "", 0, secure);
    response
}
