//! The apps pages (`admin` only): the list with a form creating an app, one app's page (rotate
//! its secrets, its webhook URL, IP allow-list and payment-page branding with a live preview),
//! and the page showing new credentials once.
//!
//! Credentials are shown once without being kept: creating or rotating answers 303 to
//! `/admin/apps/{app}/credentials` with the credentials sealed under the master key (bound to the
//! app and this session, good for two minutes) in a cookie scoped to that one address; that page
//! opens it, shows them and clears the cookie, so a reload shows them no more; the cookie's use
//! is remembered (a hash of it, with the request signatures' replay guard, until it expires), so
//! the same cookie sent again shows them no more either. Neither the database, the logs nor the
//! audit log ever hold them in clear.
//!
//! The preview is the payment page itself, drawn for a sample order with the branding in the
//! form (nothing saved) in a frame: the form's Preview button posts to the frame (JavaScript
//! off), and a small script posts it again as the operator types or picks a logo file.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use wcheckout_app::ServiceError;
use wcheckout_app::admin::{AppSummary, IssuedCredentials};
use wcheckout_app::console::LiveSession;
use wcheckout_app::console_apps::{AppEdit, BrandingDraft, ConsoleApp};
use wcheckout_app::secrets::random_token;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::time::Timestamp;

use super::html::{csrf_field, document, signed_in_header};
use super::i18n::texts;
use super::i18n_apps::{AppTexts, app_texts};
use super::{
    Refusal, Visitor, cookie, failure, message, not_found, page, reader, refused, see_other_to,
};
use crate::page::i18n::{Lang, fill};
use crate::page::{no_store, preview_urls, typed};
use crate::state::AppState;

/// The app list.
pub(super) const APPS: &str = "/admin/apps";
/// The apps pages' script (live preview, logo files).
pub(super) const APPS_JS_URL: &str = "/admin/static/apps.js";
const APPS_JS: &str = include_str!("../../assets/console-apps.js");
/// The cookie carrying sealed credentials to the page that shows them once.
const CREDENTIALS_COOKIE: &str = "wcheckout_credentials";
/// How long sealed credentials wait to be shown.
const CREDENTIALS_TTL_SECS: i64 = 120;

pub(super) async fn script() -> Response {
    no_store(typed(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        APPS_JS,
    ))
}

/// An apps page: like every console page, plus this server's script and frames (the preview).
fn apps_page(status: StatusCode, body: String) -> Response {
    let mut response = page(status, body);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
             frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The signed-in reader of an apps page, who must be allowed to manage apps (403 otherwise).
async fn apps_reader(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Lang, LiveSession), Response> {
    let (lang, session) = reader(state, peer, query, headers).await?;
    if !may(session.operator.role, ConsoleAction::ManageApps) {
        return Err(refused(lang, Refusal::Role));
    }
    Ok((lang, session))
}

pub(super) async fn apps(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match apps_reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match state.gateway.console_apps(&session.operator).await {
        Ok(apps) => {
            let csrf = session.csrf_token.expose_secret();
            apps_page(
                StatusCode::OK,
                list_page(lang, &session.operator, csrf, &apps),
            )
        }
        Err(error) => failure(lang, &error),
    }
}

fn list_page(lang: Lang, operator: &Operator, csrf_token: &str, apps: &[AppSummary]) -> String {
    let t = texts(lang);
    let a = app_texts(lang);
    let body = html! {
        h1 { (a.apps) }
        @if apps.is_empty() {
            p { (a.no_apps) }
        } @else {
            div.scroll {
                table.apps {
                    thead { tr {
                        th { "appId" } th { (a.name) } th { "apiKey" } th { (a.webhook_url) }
                        th { (t.status) } th { (t.created) }
                    } }
                    tbody {
                        @for app in apps {
                            tr {
                                td { a href={ (APPS) "/" (app.app_id) } { (app.app_id) } }
                                td { (app.name) }
                                td { code { (app.api_key) } }
                                td { (app.webhook_url.as_deref().unwrap_or("-")) }
                                td { (if app.enabled { a.enabled } else { a.disabled }) }
                                td { (app.created_time) }
                            }
                        }
                    }
                }
            }
        }
        @if operator.app.is_none() && may(operator.role, ConsoleAction::CreateApp) {
            form.card.new-app method="post" action=(APPS) {
                h2 { (a.new_app) }
                (csrf_field(csrf_token))
                label { (a.name) input name="name" required maxlength="100"; }
                label { (a.webhook_url) " " small { (a.webhook_url_hint) }
                    input name="webhook_url" type="url" maxlength="2048"; }
                label { (a.ip_allowlist) " " small { (a.ip_allowlist_hint) }
                    textarea name="ip_allow" rows="2" {} }
                button type="submit" { (a.create) }
            }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, a.apps, header, body)
}

/// The create form's fields; a missing one is empty.
#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    ip_allow: String,
}

pub(super) async fn create_app(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CreateForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::CreateApp) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    if w.session.operator.app.is_some() {
        let refusal = app_texts(w.lang).app_bound_create;
        return message(w.lang, StatusCode::FORBIDDEN, refusal);
    }
    let created = state
        .gateway
        .console_create_app(
            &w.session.operator,
            w.client,
            &form.name,
            &form.webhook_url,
            &form.ip_allow,
        )
        .await;
    match created {
        Ok(credentials) => shown_once(&state, &w.session, &credentials),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn rotate_secrets(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::RotateSecret) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let rotated = state
        .gateway
        .console_rotate_secrets(&w.session.operator, w.client, &app)
        .await;
    match rotated {
        Ok(Some(credentials)) => shown_once(&state, &w.session, &credentials),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

/// What the credentials cookie seals.
#[derive(Serialize, Deserialize)]
struct Sealed {
    credentials: IssuedCredentials,
    /// Unix seconds after which it is not shown.
    expires: i64,
}

/// What sealed credentials are bound to: their app and the session that made them.
fn sealing_context(app_id: &str, session: &LiveSession) -> String {
    format!("console-credentials:{app_id}:{}", session.id())
}

fn credentials_path(app_id: &str) -> String {
    format!("{APPS}/{app_id}/credentials")
}

/// 303 to the page that shows `credentials` once, carrying them sealed in a cookie.
fn shown_once(
    state: &AppState,
    session: &LiveSession,
    credentials: &IssuedCredentials,
) -> Response {
    let expires = state
        .gateway
        .clock
        .now()
        .plus_seconds(CREDENTIALS_TTL_SECS)
        .seconds();
    let sealed = Sealed {
        credentials: credentials.clone(),
        expires,
    };
    let Ok(json) = serde_json::to_string(&sealed) else {
        return see_other_to(&format!("{APPS}/{}", credentials.app_id));
    };
    let context = sealing_context(&credentials.app_id, session);
    let value = state.gateway.secrets.seal(&context, &json);
    let path = credentials_path(&credentials.app_id);
    let mut response = see_other_to(&path);
    let secure = state.gateway.settings.secure_cookies;
    set_path_cookie(&mut response, &path, &value, CREDENTIALS_TTL_SECS, secure);
    response
}

fn set_path_cookie(response: &mut Response, path: &str, value: &str, max_age: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{CREDENTIALS_COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The credentials a request's cookie carries for `app_id` and this session, if still good and
/// not shown before.
async fn unsealed(
    state: &AppState,
    headers: &HeaderMap,
    app_id: &str,
    session: &LiveSession,
) -> Result<Option<IssuedCredentials>, ServiceError> {
    let Some(value) = cookie(headers, CREDENTIALS_COOKIE) else {
        return Ok(None);
    };
    let context = sealing_context(app_id, session);
    let Ok(json) = state.gateway.secrets.open(&context, value) else {
        return Ok(None);
    };
    let Ok(sealed) = serde_json::from_str::<Sealed>(json.expose_secret()) else {
        return Ok(None);
    };
    let now = state.gateway.clock.now().seconds();
    if now > sealed.expires || sealed.credentials.app_id != app_id {
        return Ok(None);
    }
    let until = Timestamp::from_millis(sealed.expires.saturating_mul(1000));
    let first = state.gateway.first_showing(app_id, value, until).await?;
    Ok(first.then_some(sealed.credentials))
}

pub(super) async fn credentials(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match apps_reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match state.gateway.console_app(&session.operator, &app).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    }
    let csrf = session.csrf_token.expose_secret();
    let shown = match unsealed(&state, &headers, &app, &session).await {
        Ok(shown) => shown,
        Err(error) => return failure(lang, &error),
    };
    let a = app_texts(lang);
    let t = texts(lang);
    let status = if shown.is_some() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    let title = fill(a.credentials_title, &[("app", &app)]);
    let body = html! {
        section.card.credentials {
            h1 { (title) }
            @if let Some(credentials) = &shown {
                p.warning role="alert" { (a.credentials_once) }
                dl {
                    dt { "appId" } dd { code #app-id { (credentials.app_id) } }
                    dt { "apiKey" } dd { code #api-key { (credentials.api_key) } }
                    dt { "apiSecret" } dd { code #api-secret { (credentials.api_secret) } }
                    dt { "signKey" } dd { code #sign-key { (credentials.sign_key) } }
                }
            } @else {
                p.error role="alert" { (a.credentials_gone) }
            }
            p { a href={ (APPS) "/" (app) } { (a.open_app) } }
        }
    };
    let header = signed_in_header(t, &session.operator, csrf);
    let mut response = page(status, document(lang, &title, header, body));
    let secure = state.gateway.settings.secure_cookies;
    set_path_cookie(&mut response, &credentials_path(&app), "", 0, secure);
    response
}

pub(super) async fn app_page(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match apps_reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match state.gateway.console_app(&session.operator, &app).await {
        Ok(Some(found)) => {
            let csrf = session.csrf_token.expose_secret();
            let body = one_app_page(lang, &session.operator, csrf, &found);
            apps_page(StatusCode::OK, body)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

fn one_app_page(lang: Lang, operator: &Operator, csrf_token: &str, app: &ConsoleApp) -> String {
    let t = texts(lang);
    let a = app_texts(lang);
    let summary = &app.summary;
    let base = format!("{APPS}/{}", summary.app_id);
    let allowlist = summary.ip_allow.join("\n");
    let body = html! {
        h1 { (summary.name) }
        dl {
            dt { "appId" } dd { code { (summary.app_id) } }
            dt { "apiKey" } dd { code { (summary.api_key) } }
            dt { (t.status) } dd { (if summary.enabled { a.enabled } else { a.disabled }) }
            dt { (a.webhook_url) } dd.webhook-url { (summary.webhook_url.as_deref().unwrap_or("-")) }
            dt { (a.ip_allowlist) } dd.ip-allow {
                @if summary.ip_allow.is_empty() { (a.any_address) } @else { (summary.ip_allow.join(", ")) }
            }
            dt { (a.secrets_version) } dd { (summary.secrets_version) }
            dt { (t.created) } dd { (summary.created_time) }
            dt { (t.updated) } dd { (summary.updated_time) }
        }
        form.action.rotate method="post" action={ (base) "/rotate" } {
            (csrf_field(csrf_token))
            p.note { (a.rotate_warning) }
            button.danger type="submit" { (a.rotate) }
        }
        form.action.webhook-url method="post" action={ (base) "/webhook-url" } {
            (csrf_field(csrf_token))
            label { (a.webhook_url) " " small { (a.webhook_url_hint) }
                input name="webhook_url" type="url" maxlength="2048"
                    value=(summary.webhook_url.as_deref().unwrap_or("")); }
            button type="submit" { (a.save) }
        }
        form.action.ip-allow method="post" action={ (base) "/ip-allowlist" } {
            (csrf_field(csrf_token))
            label { (a.ip_allowlist) " " small { (a.ip_allowlist_hint) }
                textarea name="ip_allow" rows="3" { (allowlist) } }
            button type="submit" { (a.save) }
        }
        (branding_form(a, csrf_token, &base, app))
        script src=(APPS_JS_URL) defer {}
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, &summary.name, header, body)
}

fn branding_form(a: &AppTexts, csrf_token: &str, base: &str, app: &ConsoleApp) -> Markup {
    let branding = &app.branding;
    html! {
        h2 { (a.branding) }
        div.branding {
            form #branding .action method="post" action={ (base) "/branding" } {
                (csrf_field(csrf_token))
                label { (a.display_name) " " small { (a.display_name_hint) }
                    input name="display_name" maxlength="100"
                        value=(branding.display_name.as_deref().unwrap_or("")); }
                label { (a.theme_color)
                    input name="theme_color" maxlength="7" placeholder="#2563eb"
                        value=(branding.theme_color.as_deref().unwrap_or("")); }
                p { (a.current_logo) ": "
                    @match &branding.logo_url {
                        Some(uri) => img.current-logo src=(uri) alt=(a.current_logo) width="48" height="48";,
                        None => (a.no_logo),
                    }
                }
                label { (a.logo) textarea name="logo" rows="2" {} }
                label #logo-file-label hidden { (a.logo_file) input #logo-file type="file" accept="image/png,image/jpeg,image/webp,image/gif,image/svg+xml"; }
                label.check { input type="checkbox" name="remove_logo" value="1"; " " (a.remove_logo) }
                div.buttons {
                    button.preview.secondary type="submit" formaction={ (base) "/preview" } formtarget="preview" { (a.preview) }
                    " "
                    button.save type="submit" { (a.save) }
                }
            }
            figure.preview {
                figcaption { (a.preview_title) " · " small { (a.preview_note) } }
                iframe name="preview" src={ (base) "/preview" } title=(a.preview_title) {}
            }
        }
    }
}

/// A one-field change's form.
#[derive(Deserialize)]
pub(super) struct EditForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    ip_allow: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    theme_color: String,
    #[serde(default)]
    logo: String,
    #[serde(default)]
    remove_logo: String,
}

impl EditForm {
    fn branding(&self) -> BrandingDraft {
        BrandingDraft {
            display_name: self.display_name.clone(),
            theme_color: self.theme_color.clone(),
            logo: self.logo.clone(),
            remove_logo: !self.remove_logo.is_empty(),
        }
    }
}

async fn edit(
    state: &AppState,
    visitor: Visitor,
    app: &str,
    csrf_token: &str,
    edit: AppEdit,
) -> Response {
    let w = match visitor.writer(csrf_token, edit.action()) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let edited = state
        .gateway
        .console_edit_app(&w.session.operator, w.client, app, &edit)
        .await;
    match edited {
        Ok(Some(after)) => see_other_to(&format!("{APPS}/{}", after.app_id)),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn set_webhook_url(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let change = AppEdit::WebhookUrl(form.webhook_url.clone());
    edit(&state, visitor, &app, &form.csrf_token, change).await
}

pub(super) async fn set_ip_allowlist(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let change = AppEdit::IpAllowlist(form.ip_allow.clone());
    edit(&state, visitor, &app, &form.csrf_token, change).await
}

pub(super) async fn set_branding(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let change = AppEdit::Branding(form.branding());
    edit(&state, visitor, &app, &form.csrf_token, change).await
}

/// The saved branding's preview (the frame's first page).
pub(super) async fn preview(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match apps_reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    draw_preview(&state, lang, &session.operator, &app, None).await
}

/// A draft branding's preview: a POST (the form's, with its CSRF token) that changes nothing.
pub(super) async fn preview_draft(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(app): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::ManageApps) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let draft = form.branding();
    draw_preview(&state, w.lang, &w.session.operator, &app, Some(&draft)).await
}

async fn draw_preview(
    state: &AppState,
    lang: Lang,
    operator: &Operator,
    app: &str,
    draft: Option<&BrandingDraft>,
) -> Response {
    let drawn = state
        .gateway
        .console_branding_preview(operator, app, draft)
        .await;
    let (sample, logo) = match drawn {
        Ok(Some(drawn)) => drawn,
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    };
    let urls = preview_urls(&format!("{APPS}/{app}/preview"), logo.unwrap_or_default());
    let nonce = random_token(16);
    let body = crate::page::html::payment_page(&sample, lang, &urls, &nonce);
    let mut response = no_store(typed(StatusCode::OK, "text/html; charset=utf-8", body));
    // The page's own policy without its script (no status to poll), framed by the console only.
    let policy = format!(
        "default-src 'none'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The sample order's QR code in the preview.
pub(super) async fn preview_qr(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match apps_reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let drawn = state
        .gateway
        .console_branding_preview(&session.operator, &app, None)
        .await;
    match drawn {
        Ok(Some((sample, _))) => match crate::page::qr::svg_of(&sample.deposit_address) {
            Some(svg) => no_store(typed(StatusCode::OK, "image/svg+xml", svg)),
            None => not_found(lang),
        },
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}
