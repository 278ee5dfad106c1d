//! The gate in front of every `/checkout/*` route: body limit and shape, Bearer token, IP
//! allow-list, request signature and replay check; and on the way out, the response signature
//! (only for requests that passed all of them).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use wcheckout_app::auth::{Caller, ReceivedRequest};
use wcheckout_client::signature::{self, SignedParts};
use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::error::{ErrorCode, Rejection};

use crate::respond::{ApiError, RetCode};
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
/// its answer. Only the answer to a request whose signature was verified and was not a replay
/// is signed: a signed refusal would hand a caller without the `signKey` a signature over a
/// string of its choosing (see docs/api.md, "Security notes").
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
    if let Err(rejection) = refuse_unsignable_body(&parts.method, &body) {
        return ApiError::from(rejection).into_response();
    }
    let authorization = header_text(&parts.headers, &["authorization"]);
    let caller = match state.gateway.authenticate(authorization).await {
        Ok(caller) => Arc::new(caller),
        Err(error) => return ApiError(error).into_response(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let ip = client_ip(peer.ip(), &parts.headers, &state.trusted_proxies);
    if !caller.app.ip_allowed(ip) {
        let rejection = Rejection::new(ErrorCode::IpNotAllowed, format!("ip not matched: {ip}"));
        return ApiError::from(rejection).into_response();
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
        Err(error) => return ApiError(error).into_response(),
    };
    let mut request = Request::from_parts(parts, Body::from(body));
    if path == wcheckout_client::routes::CREATE_ORDER {
        // Order creation records the signature in the order's own transaction.
        request.extensions_mut().insert(signature);
    } else if let Err(error) = state.gateway.refuse_replay(&signature).await {
        return ApiError(error).into_response();
    }
    request.extensions_mut().insert(Arc::clone(&caller));
    let response = next.run(request).await;
    if refused_as_unsigned_request(&response) {
        // Order creation's own replay check answers `00007` from inside the route.
        return response;
    }
    sign_response(response, &caller, &method, &path, &query).await
}

/// Methods whose requests carry a body here. Any other request (`GET`, `HEAD`, …) with a body
/// is refused: the body would be signed along but never read.
fn method_takes_body(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH].contains(method)
}

/// Refuses, before anything is looked up or changed, a body that no request of this API sends
/// and that a signed answer could be turned into: any body on a body-less method, and a JSON
/// object with a top-level `retcode` (an answer's envelope).
fn refuse_unsignable_body(method: &Method, body: &[u8]) -> Result<(), Rejection> {
    if !body.is_empty() && !method_takes_body(method) {
        return Err(Rejection::invalid(
            "request body",
            format!("must be empty for {method}"),
        ));
    }
    if has_top_level_retcode(body) {
        return Err(Rejection::invalid(
            "request body",
            "must not be a response envelope (top-level retcode)",
        ));
    }
    Ok(())
}

/// True when `body` is a JSON object with a `retcode` key (escaped spellings included).
/// Anything that is not a JSON object is left to the route's own parsing.
fn has_top_level_retcode(body: &[u8]) -> bool {
    serde_json::from_slice::<TopLevelKeys>(body).is_ok_and(|keys| keys.retcode)
}

/// Whether a JSON object has a `retcode` key, read without keeping any value.
struct TopLevelKeys {
    retcode: bool,
}

impl<'de> Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelKeysVisitor)
    }
}

struct TopLevelKeysVisitor;

impl<'de> Visitor<'de> for TopLevelKeysVisitor {
    type Value = TopLevelKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevelKeys, A::Error> {
        let mut retcode = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            retcode |= key == "retcode";
            map.next_value::<IgnoredAny>()?;
        }
        Ok(TopLevelKeys { retcode })
    }
}

/// A refusal of the request's signature given by the route itself (order creation's replay
/// check), which is answered unsigned like the guard's own.
fn refused_as_unsigned_request(response: &Response) -> bool {
    response.extensions().get::<RetCode>().is_some_and(|code| {
        matches!(
            code.0,
            ErrorCode::MissingSignature | ErrorCode::InvalidSignature
        )
    })
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
        return ApiError(wcheckout_app::ServiceError::internal(
            "a response too large to sign",
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

    #[test]
    fn bodies_a_request_never_sends_are_refused() {
        let envelope = br#"{"retcode":"00007","retdata":null,"retmsg":"signature invalid"}"#;
        for method in [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS] {
            assert!(refuse_unsignable_body(&method, b"").is_ok(), "{method}");
            let refused = refuse_unsignable_body(&method, b"{}").unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidParameter);
            assert_eq!(
                refused.message,
                format!("request body: must be empty for {method}")
            );
            assert!(refuse_unsignable_body(&method, envelope).is_err());
        }
        let envelope_refusal = "request body: must not be a response envelope (top-level retcode)";
        for body in [
            &envelope[..],
            br#" { "orderNo": "o-1", "retcode": 200 } "#,
            br#"{"orderNo":"o-1","ret\u0063ode":"200"}"#,
            br#"{"retcode":"200","retcode":"200"}"#,
        ] {
            let refused = refuse_unsignable_body(&Method::POST, body).unwrap_err();
            assert_eq!(refused.message, envelope_refusal);
        }
        // Nested `retcode`, other JSON values and non-JSON are the route's business.
        for body in [
            &br#"{"orderNo":"o-1","remark":{"retcode":"200"}}"#[..],
            br#"{"orderNo":"retcode"}"#,
            br#"[{"retcode":"200"}]"#,
            br#""retcode""#,
            b"{\"retcode\":",
            b"not json",
            b"",
        ] {
            assert!(refuse_unsignable_body(&Method::POST, body).is_ok());
        }
    }

    #[test]
    fn a_query_cannot_carry_an_envelope() {
        // Signed answers are JSON envelopes, which contain `"`. A request target with a raw
        // `"` in its query is not a URI hyper accepts (it answers 400), and the signature
        // covers the raw query, so a percent-encoded copy signs another string.
        let target = r#"/checkout/order/info?orderNo=1{"retcode":"200"}"#;
        assert!(target.parse::<axum::http::Uri>().is_err());
        assert!(
            "/checkout/order/info?orderNo=1{%22retcode%22}"
                .parse::<axum::http::Uri>()
                .is_ok()
        );
    }

    #[test]
    fn refusals_of_the_signature_are_not_signed() {
        for (code, unsigned) in [
            (ErrorCode::MissingSignature, true),
            (ErrorCode::InvalidSignature, true),
            (ErrorCode::Success, false),
            (ErrorCode::InvalidParameter, false),
            (ErrorCode::NotFound, false),
        ] {
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(RetCode(code));
            assert_eq!(refused_as_unsigned_request(&response), unsigned, "{code}");
        }
    }
}
