//! The HTTP adapter: the W Checkout merchant API over axum.
//!
//! [`router`] builds every route; the operator console is under `/admin` ([`console`]). `/checkout/*` routes pass through [`guard::checkout_guard`]
//! (Bearer, IP allow-list, signature, replay, response signing); answers use the envelope of
//! [`respond`]. Handlers only parse, call one use case of [`wcheckout_app::Gateway`] and answer.

pub mod abnormal;
pub mod console;
pub mod guard;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod page;
pub mod refunds;
pub mod respond;
pub mod settlements;
pub mod state;
pub mod token;
pub mod webhook_client;

use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use wcheckout_client::routes;
use wcheckout_domain::error::ErrorCode;

pub use state::AppState;

/// Longest a request may take before it is answered with a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    let checkout = Router::new()
        .route(routes::CREATE_ORDER, post(orders::create))
        .route(routes::CANCEL_ORDER, get(orders::cancel))
        .route(routes::ORDER_INFO, get(orders::info))
        .route(routes::LIST_ORDERS, post(orders::list))
        .route(routes::LIST_ABNORMAL_PAYMENTS, post(abnormal::list))
        .route(
            routes::REFUND_ABNORMAL_PAYMENT,
            post(refunds::create_abnormal),
        )
        .route(routes::CREATE_REFUND, post(refunds::create))
        .route(
            routes::CANCEL_REFUND,
            get(refunds::cancel).post(refunds::cancel),
        )
        .route(routes::REFUND_INFO, get(refunds::info))
        .route(routes::LIST_REFUNDS, post(refunds::list))
        .route(routes::CREATE_SETTLEMENT, post(settlements::create))
        .route(
            routes::CREATE_FIAT_SETTLEMENT,
            post(settlements::create_fiat),
        )
        .route(routes::CANCEL_SETTLEMENT, get(settlements::cancel))
        .route(routes::SETTLEMENT_INFO, get(settlements::info))
        .route(routes::LIST_SETTLEMENTS, post(settlements::list))
        .route_layer(from_fn_with_state(state.clone(), guard::checkout_guard));
    Router::new()
        .merge(checkout)
        .merge(page::routes())
        .merge(console::routes())
        .route(routes::TOKEN, post(token::token))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
        .layer(from_fn(ops::track_requests))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            // Only method and path: query strings can carry credentials (token endpoint).
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    respond::error_with_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "internal error".into(),
    )
    .into_response()
}
