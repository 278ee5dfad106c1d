//! `POST /user/auth/oauth2/token`: client credentials by query string, form or JSON, and the
//! refresh grant. Not signed and not Bearer-protected (this is how a Bearer token is obtained).
//! Failed requests are limited per client address (`00429` with `Retry-After`, see
//! `wcheckout_app::token_limits`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wcheckout_app::wire::{TokenRequestBody, parse_body};
use wcheckout_domain::error::{ErrorCode, Rejection};

use crate::guard::{client_ip, read_body};
use crate::respond::{ApiError, json_response};
use crate::state::AppState;

/// The token response's `retdata`.
#[derive(Serialize, ToSchema)]
pub struct TokenData {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds the access token stays valid.
    #[schema(example = 1800)]
    pub expires_in: i64,
    /// Exchange once (grant_type=refresh_token) for a new pair.
    pub refresh_token: String,
    /// Seconds the refresh token stays valid.
    pub rt_expires_in: i64,
}

/// The token response (the envelope plus `success`, as the token endpoint has it).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// `"200"` on success.
    pub retcode: &'static str,
    /// The tokens; `null` on error.
    pub retdata: Option<TokenData>,
    /// `""` on success.
    pub retmsg: String,
    /// True on success.
    pub success: bool,
}

/// Get an access token.
#[utoipa::path(
    post,
    path = "/user/auth/oauth2/token",
    tag = "auth",
    params(TokenRequestBody),
    request_body(content = Option<TokenRequestBody>, description = "The same fields as the query string, as JSON or a form; optional."),
    responses((status = 200, description = "Tokens, or `00001`/`00004`/`00005`, or `00429` with a `Retry-After` header after too many failed requests from the address.", body = TokenResponse))
)]
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let client = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
    match token_params(query, request).await {
        Ok(params) => match state.gateway.issue_token(params, client).await {
            Ok(pair) => {
                let data = TokenData {
                    access_token: pair.access_token,
                    token_type: "bearer",
                    expires_in: pair.expires_in,
                    refresh_token: pair.refresh_token,
                    rt_expires_in: pair.rt_expires_in,
                };
                let body = TokenResponse {
                    retcode: "200",
                    retdata: Some(data),
                    retmsg: String::new(),
                    success: true,
                };
                json_response(axum::http::StatusCode::OK, ErrorCode::Success, &body)
            }
            Err(refusal) => {
                let retry_after = refusal.retry_after_secs();
                let mut response = token_error(ApiError(refusal.into_error()));
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
        },
        Err(error) => token_error(error),
    }
}

/// A refusal in the token response's shape: the envelope with `success: false`. Our own
/// failures (5xx) keep the plain envelope.
fn token_error(error: ApiError) -> Response {
    match error.0 {
        wcheckout_app::ServiceError::Rejected(rejection) => {
            let body = TokenResponse {
                retcode: rejection.code.as_str(),
                retdata: None,
                retmsg: rejection.message,
                success: false,
            };
            json_response(axum::http::StatusCode::OK, rejection.code, &body)
        }
        other => ApiError(other).into_response(),
    }
}

async fn token_params(
    query: Option<String>,
    request: Request,
) -> Result<TokenRequestBody, ApiError> {
    let from_query: TokenRequestBody = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| Rejection::invalid("query string", e))?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = read_body(request.into_body()).await?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequestBody::default()
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body).map_err(|e| Rejection::invalid("request body", e))?
    } else {
        parse_body(&body)?
    };
    Ok(from_query.or(from_body))
}
