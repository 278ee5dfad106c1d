//! The hosted payment page at `paymentUrl` (`/pay/{page_token}`). Only the unguessable page token
//! finds an order here; the routes need no credentials and show nothing beyond that order.
//! Everything the page loads comes from this server: HTML rendered here, a stylesheet and a
//! script embedded in the binary, the QR code drawn here and the app's logo from the database.

pub mod family;
pub mod html;
pub mod i18n;
pub mod qr;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use wcheckout_app::ServiceError;
use wcheckout_app::page::{PageStatus, WalletTransaction, WalletTransactionRequest};
use wcheckout_app::secrets::random_token;
use wcheckout_app::wire::Envelope;
use wcheckout_domain::error::ErrorCode;

use self::html::Urls;
use self::i18n::Lang;
use crate::respond::{Api, ApiError, error_with_status};
use crate::state::AppState;

const PAGE_CSS: &str = include_str!("../../assets/page.css");
const PAGE_JS: &str = include_str!("../../assets/page.js");

/// Asset addresses carry a hash of their content, so browsers may cache them for good.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = DefaultHasher::new();
    (PAGE_CSS, PAGE_JS).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
});

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pay/static/page.css", get(stylesheet))
        .route("/pay/static/page.js", get(script))
        .route("/pay/{page_token}", get(page))
        .route("/pay/{page_token}/status", get(status))
        .route("/pay/{page_token}/qr.svg", get(qr_code))
        .route("/pay/{page_token}/logo", get(logo))
        .route(
            "/pay/{page_token}/solana/transaction",
            post(wallet_transaction),
        )
}

fn urls(page_token: &str) -> Urls {
    let page = format!("/pay/{page_token}");
    preview_urls(&page, format!("{page}/logo"))
}

/// The page's resources with its own address at `page` and its logo at `logo` (the console's
/// preview of a draft branding draws the page elsewhere, its logo inline).
pub(crate) fn preview_urls(page: &str, logo: String) -> Urls {
    let version = ASSET_VERSION.as_str();
    Urls {
        page: page.to_owned(),
        css: format!("/pay/static/page.css?v={version}"),
        js: format!("/pay/static/page.js?v={version}"),
        logo,
    }
}

/// The language a request asks for: `?lang=`, then `Accept-Language`.
pub(crate) fn language(query: Option<&str>, headers: &HeaderMap) -> Lang {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let asked = pairs
        .iter()
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.as_str());
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::negotiate(asked, accepted)
}

/// The page of an order.
#[utoipa::path(get, path = "/pay/{page_token}", tag = "payment page",
    params(PageTokenParam, ("lang" = Option<String>, Query, description = "`en` or `zh-CN`; otherwise Accept-Language decides")),
    responses(
        (status = 200, description = "The payment page.", content_type = "text/html", body = String),
        (status = 404, description = "No order has this page token: \"Payment page not found\".", content_type = "text/html", body = String),
    ))]
pub async fn page(
    State(state): State<AppState>,
    Path(page_token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let lang = language(query.as_deref(), &headers);
    let urls = urls(&page_token);
    match state.gateway.payment_page(&page_token).await {
        Ok(Some(page)) => {
            let nonce = random_token(16);
            let body = html::payment_page(&page, lang, &urls, &nonce);
            html_response(StatusCode::OK, body, &nonce)
        }
        Ok(None) => html_response(StatusCode::NOT_FOUND, html::not_found_page(lang, &urls), ""),
        Err(error) => ApiError(error).into_response(),
    }
}

/// The page token in a page route's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct PageTokenParam {
    /// The token at the end of paymentUrl.
    #[allow(dead_code)] // Only describes the path parameter.
    page_token: String,
}

/// What changes on the page, polled by its script.
#[utoipa::path(get, path = "/pay/{page_token}/status", tag = "payment page",
    params(PageTokenParam),
    responses(
        (status = 200, description = "The page's status.", body = Envelope<PageStatus>),
        (status = 404, description = "No order has this page token (`00404`, `retdata` null).", body = Envelope<PageStatus>),
    ))]
pub async fn status(State(state): State<AppState>, Path(page_token): Path<String>) -> Response {
    let response = match state.gateway.payment_page_status(&page_token).await {
        Ok(Some(status)) => Api(status).into_response(),
        Ok(None) => page_not_found(),
        Err(error) => ApiError(error).into_response(),
    };
    no_store(response)
}

/// What a wallet app scans to pay what is still due, as a QR code: an EIP-681 transfer request on
/// EVM chains, the bare deposit address on TRON (whose wallets share no request format).
#[utoipa::path(get, path = "/pay/{page_token}/qr.svg", tag = "payment page",
    params(PageTokenParam),
    responses(
        (status = 200, description = "The QR code (SVG).", content_type = "image/svg+xml", body = String),
        (status = 404, description = "No order has this page token (`00404`, `retdata` null).", body = Envelope<PageStatus>),
    ))]
pub async fn qr_code(State(state): State<AppState>, Path(page_token): Path<String>) -> Response {
    let page = match state.gateway.payment_page(&page_token).await {
        Ok(Some(page)) => page,
        Ok(None) => return page_not_found(),
        Err(error) => return ApiError(error).into_response(),
    };
    let units = match page.status.remaining_units.as_str() {
        "0" => page.paying_amount_units.as_str(),
        remaining => remaining,
    };
    let text = family::FamilyPage::of(page.chain_family)
        .qr
        .text(&page, units);
    match qr::svg_of(&text) {
        Some(svg) => no_store(typed(StatusCode::OK, "image/svg+xml", svg)),
        None => ApiError(wcheckout_app::ServiceError::internal(
            "payment request too long for a QR code",
        ))
        .into_response(),
    }
}

/// The transaction "Pay with wallet" hands the payer's Solana wallet to sign and send: what is
/// still due, from the payer's `account` to the order's deposit owner, with the order's
/// reference key. Nothing is recorded: the payment counts once the chain has it.
#[utoipa::path(post, path = "/pay/{page_token}/solana/transaction", tag = "payment page",
    params(PageTokenParam),
    request_body = WalletTransactionRequest,
    responses(
        (status = 200, description = "The unsigned transaction.", body = Envelope<WalletTransaction>),
        (status = 400, description = "The body is not `{\"account\": \"<Solana address>\"}` (`00001`).", body = Envelope<WalletTransaction>),
        (status = 404, description = "No order has this page token, or its chain has no wallet transaction (`00404`).", body = Envelope<WalletTransaction>),
        (status = 409, description = "The order can no longer be paid: paid, expired, cancelled (`00409`).", body = Envelope<WalletTransaction>),
        (status = 503, description = "The chain's node is unavailable (`00503`).", body = Envelope<WalletTransaction>),
    ))]
pub async fn wallet_transaction(
    State(state): State<AppState>,
    Path(page_token): Path<String>,
    body: Bytes,
) -> Response {
    // A body that is not the request reads as no account: an unknown token still answers 404
    // first, as on every page route.
    let account = serde_json::from_slice::<WalletTransactionRequest>(&body)
        .map(|r| r.account)
        .unwrap_or_default();
    let response = match state
        .gateway
        .wallet_transaction(&page_token, &account)
        .await
    {
        Ok(Some(transaction)) => Api(transaction).into_response(),
        Ok(None) => page_not_found(),
        Err(ServiceError::Rejected(rejection)) => {
            let status = match rejection.code {
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::Conflict => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            error_with_status(status, rejection.code, rejection.message)
        }
        Err(error) => ApiError(error).into_response(),
    };
    no_store(response)
}

/// The app's logo, which the operator stored in the database.
#[utoipa::path(get, path = "/pay/{page_token}/logo", tag = "payment page",
    params(PageTokenParam),
    responses(
        (status = 200, description = "The logo (PNG, JPEG, WebP, GIF or SVG).", content_type = "image/*"),
        (status = 404, description = "No order has this page token, or its app has no logo (`00404`, `retdata` null).", body = Envelope<PageStatus>),
    ))]
pub async fn logo(State(state): State<AppState>, Path(page_token): Path<String>) -> Response {
    match state.gateway.payment_page_logo(&page_token).await {
        Ok(Some(logo)) => {
            let mut response = typed(StatusCode::OK, &logo.content_type, logo.bytes);
            // An SVG opened on its own must not run scripts in this origin.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            );
            response
        }
        Ok(None) => page_not_found(),
        Err(error) => ApiError(error).into_response(),
    }
}

async fn stylesheet() -> Response {
    immutable(typed(StatusCode::OK, "text/css; charset=utf-8", PAGE_CSS))
}

async fn script() -> Response {
    immutable(typed(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        PAGE_JS,
    ))
}

/// HTTP 404 with `00404` in the envelope: what every page route answers for an unknown token.
fn page_not_found() -> Response {
    error_with_status(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "payment page not found".into(),
    )
}

/// A response of `content_type`, never sniffed as another.
pub(crate) fn typed(status: StatusCode, content_type: &str, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The page: nothing cached, nothing loaded from elsewhere, the token never sent as a referrer.
fn html_response(status: StatusCode, body: String, nonce: &str) -> Response {
    let mut response = no_store(typed(status, "text/html; charset=utf-8", body));
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Never cached.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn immutable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
