//! The gate in front of every `/checkout/*` route: body limit, Bearer token, IP allow-list,
//! request signature and replay check; and on the way out, the response signature.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wcheckout_app::auth::{Caller, ReceivedRequest};
use wcheckout_client::signature::{self, SignedParts};
use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::error::{ErrorCode, Rejection};

use crate::orders;
use crate::respond::ApiError;
use crate::state::AppState;

/// Largest accepted request body.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Largest response body the guard will buffer to sign.
const RESPONSE_LIMIT_BYTES: usize = 16 * 1024 * 1024;

fn header_text<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
}

/// Reads a request body up to the limit, refusing larger ones in the envelope.
pub async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    to_bytes(body, BODY_LIMIT_BYTES)
        .await
        .map_err(|_| ApiError::from(Rejection::invalid("request body", "must not exceed 64 KiB")))
}

/// Authenticates, checks the caller's IP and the request signature, runs the route and signs
/// its answer. Failures before the app is known are answered unsigned.
pub async fn checkout_guard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let authorization = header_text(&parts.headers, &["authorization"]);
    let caller = match state.gateway.authenticate(authorization).await {
        Ok(caller) => Arc::new(caller),
        Err(error) => return ApiError(error).into_response(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let sign = |response: Response| sign_response(response, &caller, &method, &path, &query);
    let ip = client_ip(peer.ip(), &parts.headers, &state.trusted_proxies);
    if !caller.app.ip_allowed(ip) {
        let rejection = Rejection::new(ErrorCode::IpNotAllowed, format!("ip not matched: {ip}"));
        return sign(ApiError::from(rejection).into_response()).await;
    }
    let received = ReceivedRequest {
        method: &method,
        path: &path,
        query: &query,
        body: &body,
        signature: header_text(&parts.headers, &["signature", "d-signature"]),
        timestamp: header_text(&parts.headers, &["timestamp", "d-timestamp"]),
    };
    let signature = match state.gateway.verify_request(&caller, &received) {
        Ok(signature) => signature,
        Err(error) => return sign(ApiError(error).into_response()).await,
    };
    let mut request = Request::from_parts(parts, Body::from(body));
    if path == orders::CREATE_PATH {
        // Order creation records the signature in the order's own transaction.
        request.extensions_mut().insert(signature);
    } else if let Err(error) = state.gateway.refuse_replay(&signature).await {
        return sign(ApiError(error).into_response()).await;
    }
    request.extensions_mut().insert(Arc::clone(&caller));
    let response = next.run(request).await;
    sign(response).await
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Adds `SIGNATURE`, `TIMESTAMP`, `D-Signature` and `D-Timestamp` over
/// `METHOD + TIMESTAMP + URI + QueryString + ResponseBody`.
async fn sign_response(
    response: Response,
    caller: &Caller,
    method: &str,
    path: &str,
    query: &str,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, RESPONSE_LIMIT_BYTES).await else {
        tracing::error!("response too large to sign");
        return ApiError(wcheckout_app::ServiceError::Internal(
            "unsignable response".into(),
        ))
        .into_response();
    };
    let timestamp = now_ms().to_string();
    let signed = SignedParts {
        method,
        path,
        query,
        body: &body,
    };
    let signature = signature::sign_request(caller.sign_key(), &signed, &timestamp);
    for (name, value) in [
        ("signature", &signature),
        ("d-signature", &signature),
        ("timestamp", &timestamp),
        ("d-timestamp", &timestamp),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            parts.headers.insert(name, value);
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The caller's address: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.2"),
        );
        let trusted = vec![IpNetwork::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
