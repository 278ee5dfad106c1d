//! The operator console at `/admin`: server-rendered pages that work without JavaScript.
//!
//! - Signing in (`/admin/login`) opens a session whose token lives only in an `HttpOnly`,
//!   `SameSite=Strict` cookie scoped to `/admin` (`Secure` in production); the database keeps
//!   its hash ([`wcheckout_app::console`]).
//! - Every POST carries a `csrf_token` field: the session's token once signed in, or, on the
//!   sign-in form, the value of a short-lived cookie set with the form. A POST without it, or
//!   with another, is refused with 403 before anything is looked at.
//! - Every changing route asks [`wcheckout_domain::operator::may`] on the server.

pub mod html;
pub mod i18n;

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wcheckout_app::ServiceError;
use wcheckout_app::console::{LiveSession, SESSION_TTL_SECS};
use wcheckout_app::secrets::random_token;
use wcheckout_domain::operator::{ConsoleAction, may};
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::ports::OrderFilter;
use wcheckout_domain::time::Timestamp;

use self::i18n::texts;
use crate::guard::client_ip;
use crate::page::i18n::Lang;
use crate::page::{language, no_store, typed};
use crate::state::AppState;

/// The console's first page.
pub const HOME: &str = "/admin";
/// The sign-in form.
pub const LOGIN: &str = "/admin/login";
/// Signing out.
pub const LOGOUT: &str = "/admin/logout";
/// Order search.
pub const ORDERS: &str = "/admin/orders";
/// The stylesheet.
const CSS_URL: &str = "/admin/static/console.css";
const CONSOLE_CSS: &str = include_str!("../../assets/console.css");

/// The session cookie.
pub const SESSION_COOKIE: &str = "wcheckout_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "wcheckout_login";
/// How long a sign-in form stays usable.
const LOGIN_FORM_TTL_SECS: i64 = 3600;

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(home))
        .route(LOGIN, get(login_form).post(login))
        .route(LOGOUT, post(logout))
        .route(ORDERS, get(orders))
        .route("/admin/orders/{sysid}", get(order))
        .route("/admin/orders/{sysid}/cancel", post(cancel_order))
        .route(CSS_URL, get(stylesheet))
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
            message(lang, StatusCode::CONFLICT, &rejection.message)
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

/// The orders page's query string: a search (`q`), or a list's app, filters and page. A
/// missing field is empty.
#[derive(Deserialize, Default)]
struct OrdersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

/// The list's filter and page, or which field is wrong and why.
fn list_filter(query: &OrdersQuery) -> Result<(OrderFilter, u32), String> {
    // Nothing a filter matches holds control characters, and PostgreSQL refuses some.
    let fields = [
        ("app", &query.app),
        ("token", &query.token),
        ("customer", &query.customer),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, v)| v.chars().any(char::is_control)) {
        return Err(format!("{field}: control characters are not allowed"));
    }
    let given = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let status = match given(&query.status) {
        Some(text) => Some(OrderStatus::parse(&text).ok_or("status: not an order status")?),
        None => None,
    };
    // A day alone means its first second for `from` and its last for `to`.
    let time = |field: &str, text: &str, day_time: &str| match given(text) {
        Some(text) => {
            let text = if text.len() == 10 {
                format!("{text} {day_time}")
            } else {
                text
            };
            let parsed = Timestamp::parse_flexible(&text).map(Some);
            parsed.ok_or_else(|| format!("{field}: not a date (yyyy-MM-dd [HH:mm:ss])"))
        }
        None => Ok(None),
    };
    let page = match given(&query.page) {
        Some(text) => text.parse().ok().filter(|n| (1..=100_000).contains(n)),
        None => Some(1),
    };
    let page = page.ok_or("page: a number from 1 to 100000")?;
    let filter = OrderFilter {
        status,
        token: given(&query.token),
        customer_id: given(&query.customer),
        created_from: time("from", &query.from, "00:00:00")?,
        created_to: time("to", &query.to, "23:59:59")?,
        ..OrderFilter::default()
    };
    Ok((filter, page))
}

async fn orders(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let Ok(asked) = serde_urlencoded::from_str::<OrdersQuery>(query.as_deref().unwrap_or(""))
    else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            "the query string is not valid",
        );
    };
    let operator = &session.operator;
    let csrf = session.csrf_token.expose_secret();
    if !asked.q.trim().is_empty() {
        return match state
            .gateway
            .console_search_orders(operator, &asked.q)
            .await
        {
            Ok(found) => page(
                StatusCode::OK,
                html::orders_page(lang, operator, csrf, &asked.q, &found),
            ),
            Err(error) => failure(lang, &error),
        };
    }
    let (filter, number) = match list_filter(&asked) {
        Ok(parsed) => parsed,
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let app = Some(asked.app.as_str());
    match state
        .gateway
        .console_list_orders(operator, app, &filter, number)
        .await
    {
        Ok(Some(list)) => {
            let body = html::order_list_page(lang, operator, csrf, &list, &filter, number);
            page(StatusCode::OK, body)
        }
        Ok(None) => message(lang, StatusCode::NOT_FOUND, texts(lang).not_found),
        Err(error) => failure(lang, &error),
    }
}

async fn order(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match state.gateway.console_order(&session.operator, &sysid).await {
        Ok(Some(order)) => {
            let csrf = session.csrf_token.expose_secret();
            page(
                StatusCode::OK,
                html::order_page(lang, &session.operator, csrf, &order),
            )
        }
        Ok(None) => message(lang, StatusCode::NOT_FOUND, texts(lang).not_found),
        Err(error) => failure(lang, &error),
    }
}

async fn cancel_order(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let visit = match visit(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let session = match authorized(&visit, &form.csrf_token, ConsoleAction::CancelOrder) {
        Ok(session) => session,
        Err(refusal) => return refused(visit.lang, refusal),
    };
    let cancelled = state
        .gateway
        .console_cancel_order(&session.operator, visit.client, &sysid)
        .await;
    match cancelled {
        Ok(Some(view)) => see_other_to(&format!("{ORDERS}/{}", view.sysid)),
        Ok(None) => message(
            visit.lang,
            StatusCode::NOT_FOUND,
            texts(visit.lang).not_found,
        ),
        Err(error) => failure(visit.lang, &error),
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
    match state
        .gateway
        .console_orders_by_status(&session.operator)
        .await
    {
        Ok(counts) => {
            let csrf = session.csrf_token.expose_secret();
            let body = html::home_page(visit.lang, &session.operator, csrf, &counts);
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
            response
        }
        Err(ServiceError::Rejected(_)) => {
            let form = html::login_page(lang, &form.csrf_token, &form.username, true);
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let visit = match visit(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let session = match authorized(&visit, &form.csrf_token, ConsoleAction::SignOut) {
        Ok(session) => session,
        Err(refusal) => return refused(visit.lang, refusal),
    };
    if let Err(error) = state.gateway.console_sign_out(session, visit.client).await {
        return failure(visit.lang, &error);
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
