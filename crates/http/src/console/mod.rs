//! The operator console at `/admin`: server-rendered pages that work without JavaScript.
//!
//! - Signing in (`/admin/login`) opens a session whose token lives only in an `HttpOnly`,
//!   `SameSite=Strict` cookie scoped to `/admin` (`Secure` in production); the database keeps
//!   its hash ([`wcheckout_app::console`]).
//! - Every POST carries a `csrf_token` field: the session's token once signed in, or, on the
//!   sign-in form, the value of a short-lived cookie set with the form. A POST without it, or
//!   with another, is refused with 403 before anything is looked at.
//! - Every changing route asks [`wcheckout_domain::operator::may`] on the server: its handler
//!   takes a `Visitor` (the extractor reading the session from the request's head) and starts
//!   with `visitor.writer(csrf_token, action)` (session, CSRF token, role, in that order, before
//!   anything else); every page with `reader`.
//!
//! - An account with a second factor signs in in two steps: the password (`/admin/login`), then
//!   a TOTP code (`/admin/login/code`) with the sealed ticket the first step left in a cookie.
//!
//! The areas live in their own modules: `overview` (the first page), `orders` (search, list, CSV, the order page, cancel,
//! resend), `refunds` (refunding from the order page), `settlements`, `lists` (refunds,
//! abnormal payments, payouts in flight, webhook deliveries, each with its CSV), `apps` (admins'
//! apps pages), `audit`, `sessions`, `webhooks` (testing an endpoint), `account` (one's own
//! second factor), `operators` (an admin's accounts page); `html` holds the shared layout and
//! list links, `filters` the lists' query fields (and their keyset cursor), `csv` the exports'
//! format.

mod account;
mod apps;
mod audit;
mod csv;
mod filters;
pub mod html;
pub mod i18n;
pub mod i18n_apps;
mod lists;
mod operators;
mod orders;
mod overview;
mod refunds;
mod sessions;
mod settlements;
mod webhooks;

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wcheckout_app::ServiceError;
use wcheckout_app::console::{LiveSession, SESSION_TTL_SECS, SIGN_IN_TICKET_TTL_SECS, SignIn};
use wcheckout_app::secrets::random_token;
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::operator::{ConsoleAction, may};

use self::i18n::texts;
use crate::guard::client_ip;
use crate::page::i18n::Lang;
use crate::page::{language, no_store, typed};
use crate::state::AppState;

/// The console's first page.
pub const HOME: &str = "/admin";
/// The sign-in form.
pub const LOGIN: &str = "/admin/login";
/// The code step of a two-step sign-in.
pub const LOGIN_CODE: &str = "/admin/login/code";
/// Signing out.
pub const LOGOUT: &str = "/admin/logout";
/// One's own account and its second factor.
pub const ACCOUNT: &str = "/admin/account";
/// The operator accounts (admins).
pub const OPERATORS: &str = "/admin/operators";
/// Order search.
pub const ORDERS: &str = "/admin/orders";
/// The settlement list.
pub const SETTLEMENTS: &str = "/admin/settlements";
/// The audit log.
pub const AUDIT: &str = "/admin/audit";
/// The live sessions (admins).
pub const SESSIONS: &str = "/admin/sessions";
/// The webhook deliveries (and, below it, one webhook's page).
pub const WEBHOOKS: &str = "/admin/webhooks";
/// The refund list.
pub const REFUNDS: &str = "/admin/refunds";
/// The abnormal payment list.
pub const ABNORMAL: &str = "/admin/abnormal";
/// The payouts in flight.
pub const PAYOUTS: &str = "/admin/payouts";
/// Signing out of every session of one's account.
pub const LOGOUT_EVERYWHERE: &str = "/admin/logout-everywhere";
/// The stylesheet.
const CSS_URL: &str = "/admin/static/console.css";
const CONSOLE_CSS: &str = include_str!("../../assets/console.css");

/// The session cookie.
pub const SESSION_COOKIE: &str = "wcheckout_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "wcheckout_login";
/// The ticket of a two-step sign-in between its password and its code.
pub const CODE_COOKIE: &str = "wcheckout_code";
/// How long a sign-in form stays usable.
const LOGIN_FORM_TTL_SECS: i64 = 3600;

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(home))
        .route(LOGIN, get(login_form).post(login))
        .route(LOGIN_CODE, get(code_form).post(login_code))
        .route(ACCOUNT, get(account::account))
        .route("/admin/account/totp/enable", post(account::enable_totp))
        .route("/admin/account/totp/disable", post(account::disable_totp))
        .route(account::PASSWORD_PATH, post(account::change_password))
        .route(OPERATORS, get(operators::operators).post(operators::create))
        .route("/admin/operators/{name}/disable", post(operators::disable))
        .route("/admin/operators/{name}/enable", post(operators::enable))
        .route(
            "/admin/operators/{name}/reset-totp",
            post(operators::reset_totp),
        )
        .route(LOGOUT, post(logout))
        .route(LOGOUT_EVERYWHERE, post(sessions::sign_out_everywhere))
        .route(ORDERS, get(orders::orders))
        .route("/admin/orders/{sysid}", get(orders::order))
        .route("/admin/orders/{sysid}/cancel", post(orders::cancel_order))
        .route(
            "/admin/orders/{sysid}/webhooks/{event_id}/resend",
            post(orders::resend_webhook),
        )
        .route(SETTLEMENTS, get(settlements::settlements))
        .route("/admin/settlements/{sysid}", get(settlements::settlement))
        .route(
            "/admin/settlements/{sysid}/approve",
            get(settlements::approve_confirmation).post(settlements::approve),
        )
        .route(
            "/admin/settlements/{sysid}/reject",
            post(settlements::reject),
        )
        .route(
            "/admin/settlements/{sysid}/paid",
            post(settlements::mark_paid),
        )
        .route(AUDIT, get(audit::audit_log))
        .route(SESSIONS, get(sessions::sessions))
        .route("/admin/sessions/{id}/revoke", post(sessions::revoke))
        .route(
            "/admin/apps/{app}/webhook-test",
            post(webhooks::test_webhook),
        )
        .route("/admin/webhooks/{event_id}", get(webhooks::webhook))
        .route(WEBHOOKS, get(lists::webhooks))
        .route("/admin/webhooks/{event_id}/resend", post(lists::resend))
        .route(REFUNDS, get(lists::refunds))
        .route(ABNORMAL, get(lists::abnormal))
        .route(PAYOUTS, get(lists::payouts))
        .route(CSS_URL, get(stylesheet))
        .merge(apps_and_refunds())
}

/// The apps pages (admins) and refunds from the order page (finance).
fn apps_and_refunds() -> Router<AppState> {
    Router::new()
        .route(apps::APPS, get(apps::apps).post(apps::create_app))
        .route("/admin/apps/{app}", get(apps::app_page))
        .route("/admin/apps/{app}/credentials", get(apps::credentials))
        .route("/admin/apps/{app}/rotate", post(apps::rotate_secrets))
        .route("/admin/apps/{app}/webhook-url", post(apps::set_webhook_url))
        .route(
            "/admin/apps/{app}/ip-allowlist",
            post(apps::set_ip_allowlist),
        )
        .route("/admin/apps/{app}/branding", post(apps::set_branding))
        .route(
            "/admin/apps/{app}/preview",
            get(apps::preview).post(apps::preview_draft),
        )
        .route("/admin/apps/{app}/preview/qr.svg", get(apps::preview_qr))
        .route(apps::APPS_JS_URL, get(apps::script))
        .route(
            "/admin/orders/{sysid}/refund",
            get(refunds::order_refund_confirmation).post(refunds::order_refund),
        )
        .route(
            "/admin/orders/{sysid}/abnormal/{no}/refund",
            get(refunds::abnormal_refund_confirmation).post(refunds::abnormal_refund),
        )
}

async fn stylesheet() -> Response {
    no_store(typed(
        StatusCode::OK,
        "text/css; charset=utf-8",
        CONSOLE_CSS,
    ))
}

/// A console page: nothing cached, framed or loaded from elsewhere; forms post only here.
fn page(status: StatusCode, body: String) -> Response {
    let mut response = no_store(typed(status, "text/html; charset=utf-8", body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn message(lang: Lang, status: StatusCode, text: &str) -> Response {
    page(status, html::message_page(lang, text))
}

/// 403: the form's CSRF token is missing or wrong, or no session sent it.
fn form_refused(lang: Lang) -> Response {
    message(lang, StatusCode::FORBIDDEN, texts(lang).form_expired)
}

/// What a failed use case shows: its own message for a refusal, a generic one otherwise.
fn failure(lang: Lang, error: &ServiceError) -> Response {
    match error {
        ServiceError::Rejected(rejection) => {
            let status = match rejection.code {
                ErrorCode::InvalidParameter => StatusCode::BAD_REQUEST,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            message(lang, status, &rejection.message)
        }
        ServiceError::Unavailable(_) => {
            message(lang, StatusCode::SERVICE_UNAVAILABLE, texts(lang).failed)
        }
        ServiceError::Internal(_) => {
            tracing::error!(%error, "console request failed");
            message(lang, StatusCode::INTERNAL_SERVER_ERROR, texts(lang).failed)
        }
    }
}

fn see_other(location: &'static str) -> Response {
    see_other_to(location)
}

/// 303 to `location` (a path of the console).
fn see_other_to(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    no_store(response)
}

/// A `Set-Cookie` for the console's path; `max_age` 0 removes the cookie.
fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path={HOME}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The value of the cookie `name`, if the request sent it.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Equal and not empty, compared in time independent of where they differ.
fn same_secret(expected: &str, sent: &str) -> bool {
    let differ = expected
        .bytes()
        .zip(sent.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    !expected.is_empty() && expected.len() == sent.len() && differ == 0
}

/// What a request is: its language, its client's address, and the session its cookie opens.
struct Visit {
    lang: Lang,
    client: IpAddr,
    session: Option<LiveSession>,
}

async fn visit(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Visit, Response> {
    let lang = language(query, headers);
    let session = match cookie(headers, SESSION_COOKIE) {
        Some(token) => state
            .gateway
            .console_session(token)
            .await
            .map_err(|error| failure(lang, &error))?,
        None => None,
    };
    Ok(Visit {
        lang,
        client: client_ip(peer.ip(), headers, &state.trusted_proxies),
        session,
    })
}

/// Why a POST is refused (403 either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// No session, or the form's CSRF token is missing or wrong.
    Form,
    /// The operator's role may not do it.
    Role,
}

fn refused(lang: Lang, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Form => form_refused(lang),
        Refusal::Role => message(lang, StatusCode::FORBIDDEN, texts(lang).forbidden),
    }
}

/// The session behind a POST that may do `action`, asked before anything is changed.
fn authorized<'v>(
    visit: &'v Visit,
    csrf_token: &str,
    action: ConsoleAction,
) -> Result<&'v LiveSession, Refusal> {
    let session = visit.session.as_ref().ok_or(Refusal::Form)?;
    if !same_secret(session.csrf_token.expose_secret(), csrf_token) {
        return Err(Refusal::Form);
    }
    if !may(session.operator.role, action) {
        return Err(Refusal::Role);
    }
    Ok(session)
}

/// A POST allowed to change something: its language, client and session.
struct Writer {
    lang: Lang,
    client: IpAddr,
    session: LiveSession,
}

/// A request's visit as an extractor, read from its head before any form: a POST handler names
/// it beside its form and asks [`Visitor::writer`] before it looks at anything else.
pub(super) struct Visitor(Visit);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let query = parts.uri.query();
        visit(state, peer, query, &parts.headers).await.map(Visitor)
    }
}

impl Visitor {
    /// The signed-in session behind a POST that carries its CSRF token and may do `action`
    /// (session, CSRF token, role, in that order), or the refusal (403) answered instead.
    fn writer(self, csrf_token: &str, action: ConsoleAction) -> Result<Writer, Refused> {
        let Visitor(visit) = self;
        if let Err(refusal) = authorized(&visit, csrf_token, action) {
            let lang = visit.lang;
            return Err(Refused { lang, refusal });
        }
        let Visit {
            lang,
            client,
            session,
        } = visit;
        let refusal = Refusal::Form;
        let session = session.ok_or(Refused { lang, refusal })?;
        Ok(Writer {
            lang,
            client,
            session,
        })
    }
}

/// A POST refused before anything was looked at: 403 in the visit's language.
pub(super) struct Refused {
    lang: Lang,
    refusal: Refusal,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        refused(self.lang, self.refusal)
    }
}

/// 404 with the console's message.
fn not_found(lang: Lang) -> Response {
    message(lang, StatusCode::NOT_FOUND, texts(lang).not_found)
}

/// The signed-in visit of a GET page, or where it goes instead (the sign-in form, an error).
async fn reader(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Lang, LiveSession), Response> {
    let visit = visit(state, peer, query, headers).await?;
    match visit.session {
        Some(session) if may(session.operator.role, ConsoleAction::Read) => {
            Ok((visit.lang, session))
        }
        Some(_) => Err(refused(visit.lang, Refusal::Role)),
        None => Err(see_other(LOGIN)),
    }
}

async fn home(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let visit = match visit(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let Some(session) = &visit.session else {
        return see_other(LOGIN);
    };
    match state.gateway.console_overview(&session.operator).await {
        Ok(figures) => {
            let csrf = session.csrf_token.expose_secret();
            let body = overview::home_page(visit.lang, &session.operator, csrf, &figures);
            page(StatusCode::OK, body)
        }
        Err(error) => failure(visit.lang, &error),
    }
}

async fn login_form(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let lang = language(query.as_deref(), &headers);
    let csrf = random_token(32);
    let mut response = page(StatusCode::OK, html::login_page(lang, &csrf, "", false));
    let secure = state.gateway.settings.secure_cookies;
    set_cookie(
        &mut response,
        LOGIN_COOKIE,
        &csrf,
        LOGIN_FORM_TTL_SECS,
        secure,
    );
    response
}

/// The sign-in form's fields; a missing one is empty.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = language(query.as_deref(), &headers);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_secret(expected, &form.csrf_token) {
        return form_refused(lang);
    }
    let client = client_ip(peer.ip(), &headers, &state.trusted_proxies);
    let password = SecretString::from(form.password);
    let secure = state.gateway.settings.secure_cookies;
    match state
        .gateway
        .console_sign_in(&form.username, &password, client)
        .await
    {
        Ok(SignIn::Done(signed_in)) => {
            let mut response = see_other(HOME);
            let token = signed_in.token.expose_secret();
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                token,
                SESSION_TTL_SECS,
                secure,
            );
            set_cookie(&mut response, LOGIN_COOKIE, "", 0, secure);
            response
        }
        Ok(SignIn::CodeNeeded(ticket)) => {
            let mut response = see_other(LOGIN_CODE);
            let ticket = ticket.0.expose_secret();
            let ttl = SIGN_IN_TICKET_TTL_SECS;
            set_cookie(&mut response, CODE_COOKIE, ticket, ttl, secure);
            response
        }
        Err(ServiceError::Rejected(_)) => {
            let form = html::login_page(lang, &form.csrf_token, &form.username, true);
            page(StatusCode::UNAUTHORIZED, form)
        }
        Err(error) => failure(lang, &error),
    }
}

/// The code step's form, for a browser holding the sign-in form's cookie and a ticket.
async fn code_form(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let lang = language(query.as_deref(), &headers);
    match (
        cookie(&headers, LOGIN_COOKIE),
        cookie(&headers, CODE_COOKIE),
    ) {
        (Some(csrf), Some(_)) => page(StatusCode::OK, html::code_page(lang, csrf, false)),
        _ => see_other(LOGIN),
    }
}

/// The code step's fields; a missing one is empty.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = language(query.as_deref(), &headers);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_secret(expected, &form.csrf_token) {
        return form_refused(lang);
    }
    let client = client_ip(peer.ip(), &headers, &state.trusted_proxies);
    let ticket = cookie(&headers, CODE_COOKIE).unwrap_or("");
    let secure = state.gateway.settings.secure_cookies;
    match state
        .gateway
        .console_sign_in_code(ticket, &form.code, client)
        .await
    {
        Ok(signed_in) => {
            let mut response = see_other(HOME);
            let token = signed_in.token.expose_secret();
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                token,
                SESSION_TTL_SECS,
                secure,
            );
            set_cookie(&mut response, LOGIN_COOKIE, "", 0, secure);
            set_cookie(&mut response, CODE_COOKIE, "", 0, secure);
            response
        }
        Err(ServiceError::Rejected(_)) => {
            let form = html::code_page(lang, &form.csrf_token, true);
            page(StatusCode::UNAUTHORIZED, form)
        }
        Err(error) => failure(lang, &error),
    }
}

/// A form that only carries its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::SignOut) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    if let Err(error) = state.gateway.console_sign_out(&w.session, w.client).await {
        return failure(w.lang, &error);
    }
    let mut response = see_other(LOGIN);
    let secure = state.gateway.settings.secure_cookies;
    set_cookie(&mut response, SESSION_COOKIE, "", 0, secure);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole_and_never_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; wcheckout_session=tok"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("xwcheckout_login=no"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }
}
