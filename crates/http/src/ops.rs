//! Operational routes: health, metrics, OpenAPI, unknown routes, and request metrics.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use wcheckout_app::chain_health::ChainHealth;
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::order::OrderStatus;

use crate::openapi::ApiDoc;
use crate::respond::{RetCode, error_with_status};
use crate::state::AppState;

/// Health report.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`; `degraded` (HTTP 200: the API serves) when a chain's newest head is older than
    /// `watcher.max_head_age_secs`; `unavailable` (HTTP 503) when the database does not answer.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// Per chain: head and processed heights, lag, RPC errors, reorganisations.
    pub chains: BTreeMap<String, ChainHealth>,
}

/// Whether the gateway can serve (the database answers) and how each chain's watcher is doing.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let chains = state
        .gateway
        .chain_health
        .snapshot(state.gateway.clock.now());
    match state.gateway.store.ping().await {
        Ok(()) => Json(HealthReport {
            status: if chains.values().any(|c| c.stalled) {
                "degraded"
            } else {
                "ok"
            },
            database: "ok",
            chains,
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            let report = HealthReport {
                status: "unavailable",
                database: "unreachable",
                chains,
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled").into_response();
    };
    match state.gateway.store.count_orders_by_status().await {
        Ok(counts) => {
            for status in OrderStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                #[allow(clippy::cast_precision_loss)] // A gauge is a float by definition.
                metrics::gauge!("wcheckout_orders", "status" => status.as_str()).set(n as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot count orders"),
    }
    match state.gateway.store.outbox_stats().await {
        Ok(stats) => {
            let now = state.gateway.clock.now();
            let age = stats
                .oldest_pending
                .map_or(0, |t| now.seconds().saturating_sub(t.seconds()));
            #[allow(clippy::cast_precision_loss)] // Gauges are floats by definition.
            {
                metrics::gauge!("wcheckout_webhook_queue_depth").set(stats.pending as f64);
                metrics::gauge!("wcheckout_webhook_oldest_pending_age_seconds")
                    .set(age.max(0) as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the webhook queue"),
    }
    state
        .gateway
        .chain_health
        .publish_head_ages(state.gateway.clock.now());
    let text = handle.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The OpenAPI description of every route, generated from the code.
pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// Unknown routes.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    error_with_status(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

/// Known route, wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::InvalidParameter,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The `method` label: one of the standard methods, or `other`. Clients may send any token as a
/// method, and a label per distinct value would let them grow `/metrics` without bound.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// Counts requests and their latency by route, method, status and `retcode`. Every label comes
/// from a bounded set: the route is the pattern that matched (`unmatched` for every unknown
/// path), the method is [`method_label`]'s, the status and `retcode` are the server's own.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method()).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let retcode = response
        .extensions()
        .get::<RetCode>()
        .map_or("-", |c| c.0.as_str());
    let status = response.status().as_u16().to_string();
    let labels = [
        ("route", route),
        ("method", method),
        ("status", status),
        ("retcode", retcode.to_owned()),
    ];
    metrics::counter!("wcheckout_http_requests_total", &labels).increment(1);
    metrics::histogram!("wcheckout_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}
