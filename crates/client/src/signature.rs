//! The W Checkout signature: `Base64(HMAC-SHA512(signKey, stringToSign))`.
//!
//! Requests and responses sign `METHOD + TIMESTAMP + URI + QueryString + Body`; webhooks sign
//! `TIMESTAMP + Body`. `TIMESTAMP` is epoch milliseconds and must be within two minutes of the
//! verifier's clock.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// Largest accepted distance between a signature's timestamp and the verifier's clock.
pub const TIMESTAMP_WINDOW_MS: i64 = 120_000;

/// `Base64(HMAC-SHA512(key, message))`.
pub fn sign(sign_key: &[u8], message: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length: this never fails.
    let mut mac = Hmac::<Sha512>::new_from_slice(sign_key).expect("HMAC accepts any key length");
    mac.update(message);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The parts of an HTTP exchange that a request or response signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SignedParts<'a> {
    /// Upper-case method (`GET`, `POST`).
    pub method: &'a str,
    /// Path without scheme and host (`/checkout/order/create`).
    pub path: &'a str,
    /// Raw query text after `?`, empty when none.
    pub query: &'a str,
    /// Raw body bytes (the request body, or the response body for response signatures).
    pub body: &'a [u8],
}

/// Where the query string sits in the string to sign. The official example keeps the `?`;
/// some integrators leave it out. Verifiers accept both, signers use [`QueryForm::WithQuestionMark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryForm {
    /// `/path?a=1`.
    WithQuestionMark,
    /// `/patha=1`.
    WithoutQuestionMark,
}

/// `METHOD + TIMESTAMP + URI + QueryString + Body`.
pub fn string_to_sign(parts: &SignedParts<'_>, timestamp_ms: &str, form: QueryForm) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        parts.method.len()
            + timestamp_ms.len()
            + parts.path.len()
            + parts.query.len()
            + 1
            + parts.body.len(),
    );
    out.extend_from_slice(parts.method.as_bytes());
    out.extend_from_slice(timestamp_ms.as_bytes());
    out.extend_from_slice(parts.path.as_bytes());
    if !parts.query.is_empty() {
        if form == QueryForm::WithQuestionMark {
            out.push(b'?');
        }
        out.extend_from_slice(parts.query.as_bytes());
    }
    out.extend_from_slice(parts.body);
    out
}

/// The signature an SDK sends with a request (query with its `?`).
pub fn sign_request(sign_key: &[u8], parts: &SignedParts<'_>, timestamp_ms: &str) -> String {
    sign(
        sign_key,
        &string_to_sign(parts, timestamp_ms, QueryForm::WithQuestionMark),
    )
}

/// Constant-time comparison of two Base64 signatures.
pub fn signatures_equal(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Checks a request signature the tolerant way the server does: the query with or without
/// its `?`, and the body as received or with JSON whitespace removed.
pub fn verify_request(
    sign_key: &[u8],
    parts: &SignedParts<'_>,
    timestamp_ms: &str,
    signature: &str,
) -> bool {
    let compact = strip_json_whitespace(parts.body);
    let bodies: &[&[u8]] = if compact == parts.body {
        &[parts.body]
    } else {
        &[parts.body, &compact]
    };
    let forms: &[QueryForm] = if parts.query.is_empty() {
        &[QueryForm::WithQuestionMark]
    } else {
        &[QueryForm::WithQuestionMark, QueryForm::WithoutQuestionMark]
    };
    let mut matched = false;
    for body in bodies {
        for form in forms {
            let candidate = SignedParts { body, ..*parts };
            let expected = sign(sign_key, &string_to_sign(&candidate, timestamp_ms, *form));
            matched |= signatures_equal(&expected, signature);
        }
    }
    matched
}

/// Removes whitespace outside JSON strings, the form the docs ask integrators to sign.
pub fn strip_json_whitespace(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
            out.push(byte);
        } else if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(byte);
        }
    }
    out
}

/// True when `timestamp_ms` is a number within [`TIMESTAMP_WINDOW_MS`] of `now_ms`.
pub fn timestamp_fresh(timestamp_ms: &str, now_ms: i64) -> bool {
    timestamp_ms
        .parse::<i64>()
        .ok()
        .is_some_and(|ts| now_ms.abs_diff(ts) <= TIMESTAMP_WINDOW_MS.unsigned_abs())
}

/// `Base64(HMAC-SHA512(signKey, TIMESTAMP + body))`, the webhook `SIGNATURE` header.
pub fn sign_webhook(sign_key: &[u8], timestamp_ms: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp_ms.len() + body.len());
    message.extend_from_slice(timestamp_ms.as_bytes());
    message.extend_from_slice(body);
    sign(sign_key, &message)
}

/// The Standard Webhooks signature sent beside W Checkout's: `v1,` +
/// `Base64(HMAC-SHA256(signKey, "{webhook-id}.{webhook-timestamp}.{body}"))`, the timestamp in
/// epoch seconds.
pub fn standard_webhook_signature(
    sign_key: &[u8],
    id: &str,
    timestamp_secs: &str,
    body: &[u8],
) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length: this never fails.
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(sign_key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Why a webhook delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// `TIMESTAMP` is missing, not a number, or more than two minutes away.
    #[error("TIMESTAMP header missing or outside the two-minute window")]
    Stale,
    /// `SIGNATURE` does not match the body.
    #[error("SIGNATURE does not match")]
    BadSignature,
}

/// Verifies a webhook delivery: the time window first, then the signature over the raw body.
/// Parse the body only after this returns `Ok`.
pub fn verify_webhook(
    sign_key: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    raw_body: &[u8],
    now_ms: i64,
) -> Result<(), WebhookError> {
    let timestamp = timestamp_header.ok_or(WebhookError::Stale)?;
    if !timestamp_fresh(timestamp, now_ms) {
        return Err(WebhookError::Stale);
    }
    let signature = signature_header.ok_or(WebhookError::BadSignature)?;
    let expected = sign_webhook(sign_key, timestamp, raw_body);
    if signatures_equal(&expected, signature) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"aR2822Y6XbehWMclnB0Y2NJK";

    #[test]
    fn official_post_vector() {
        let message = b"POST1636360661729/openapi/test{\"a\":\"124\"}";
        assert_eq!(
            sign(KEY, message),
            "MxrYnCm9Q7JOAvOrISf8+T2kuTW1d/w0at8aaPaoiX08VWfun3XPokVlIx1TkHXdcitls09wzfUGtXQZq23xdg=="
        );
        let parts = SignedParts {
            method: "POST",
            path: "/openapi/test",
            query: "",
            body: b"{\"a\":\"124\"}",
        };
        assert_eq!(
            string_to_sign(&parts, "1636360661729", QueryForm::WithQuestionMark),
            message
        );
    }

    #[test]
    fn get_vectors_in_both_query_forms() {
        let parts = SignedParts {
            method: "GET",
            path: "/openapi/test",
            query: "test=234",
            body: b"",
        };
        let with = "KDlQhhUfc4U+kPClhXVT5+ne17NtRQs2R4mlYk9x/QsuD9hhXWh9v967nZJDbYt7nXa2uK0xvR9NfNAQ8j1EqA==";
        let without = "ZzFOTZDXLTD8Oihw8HlXsqE5luohrZaSMNIRgcggL85CR/r4wkwbJrePnI1HdAhzJ29/tpMGc9wHhIC/g6RLpQ==";
        assert_eq!(sign_request(KEY, &parts, "1636360576641"), with);
        assert!(verify_request(KEY, &parts, "1636360576641", with));
        assert!(verify_request(KEY, &parts, "1636360576641", without));
        assert!(!verify_request(KEY, &parts, "1636360576642", with));
        assert!(!verify_request(
            b"another key",
            &parts,
            "1636360576641",
            with
        ));
    }

    #[test]
    fn whitespace_outside_strings_is_tolerated() {
        let pretty = b"{ \"a\" : \"1 2\",\n \"b\": [1, 2] }";
        assert_eq!(
            strip_json_whitespace(pretty),
            b"{\"a\":\"1 2\",\"b\":[1,2]}"
        );
        assert_eq!(
            strip_json_whitespace(br#"{"q":"say \"hi there\""}"#),
            br#"{"q":"say \"hi there\""}"#
        );
        let compact_sig = sign(KEY, b"POST1/x{\"a\":\"1 2\",\"b\":[1,2]}");
        let parts = SignedParts {
            method: "POST",
            path: "/x",
            query: "",
            body: pretty,
        };
        assert!(verify_request(KEY, &parts, "1", &compact_sig));
    }

    #[test]
    fn webhook_vector_and_window() {
        let body = r#"{"eventId":"evt_0a4fee0f8882","eventType":"ABNORMAL_PAYMENT","timestamp":1758701681,"data":{"abnormalPaymentNo":"xxxxxxxx","orderNo":"xxxxxxx","token":"ETH_USDT","amount":"818.89","hash":"0xxxxxxxxxx","pendingAmount":"739.00","createdTime":"2025-12-23 12:56:47","updatedTime":"2025-12-23 12:56:47"}}"#;
        let signature = sign_webhook(KEY, "1758701681000", body.as_bytes());
        assert_eq!(
            signature,
            "2cLkiqniDbuoh2rBWd4b4/RLupRQ8FRTF97NRS7nit+vN21mzswahXhloVtWPEYyZ3w8DG1nEBHaCkoJp5Hveg=="
        );
        let now = 1_758_701_681_000;
        assert_eq!(
            verify_webhook(
                KEY,
                Some("1758701681000"),
                Some(&signature),
                body.as_bytes(),
                now
            ),
            Ok(())
        );
        assert_eq!(
            verify_webhook(
                KEY,
                Some("1758701681000"),
                Some(&signature),
                body.as_bytes(),
                now + 120_001
            ),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify_webhook(KEY, Some("1758701681000"), Some(&signature), b"{}", now),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_webhook(KEY, None, Some(&signature), body.as_bytes(), now),
            Err(WebhookError::Stale)
        );
    }
}
