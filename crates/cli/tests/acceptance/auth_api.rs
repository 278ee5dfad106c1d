//! Authentication as W Checkout integrators expect it, through real HTTP on both engines: the
//! token endpoint in every request shape, refresh, expiry, Bearer, request signatures (tolerant
//! forms, replay, time window), the IP allow-list with and without trusted proxies, signed
//! responses, secret rotation and disabled apps. Every refused create-order creates nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{Db, TestGateway, retcode, signed_headers_at, signed_parts};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use wcheckout_app::admin::{AppChanges, IssuedCredentials};
use wcheckout_client::routes::{
    CANCEL_ORDER, CANCEL_REFUND, CREATE_ORDER, LIST_ORDERS, ORDER_INFO, TOKEN, with_query,
};
use wcheckout_client::signature::{self, QueryForm, SignedParts};
use wcheckout_domain::ports::Clock;

fn order_body(order_no: &str) -> String {
    json!({
        "orderNo": order_no,
        "orderAmount": 12.5,
        "customerId": "c-1",
        "token": "ETH_USDT",
    })
    .to_string()
}

/// `headers` without the one named `name`.
fn without(headers: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    headers.into_iter().filter(|(n, _)| *n != name).collect()
}

/// Sends and checks the answer is an HTTP 200 envelope with `code` and, when given, `message`.
async fn expect_refusal(
    gw: &TestGateway,
    method: &str,
    path_and_query: &str,
    body: &str,
    headers: &[(&str, String)],
    code: &str,
    message: Option<&str>,
) -> Value {
    let (status, _, answer) = gw.send(method, path_and_query, body, headers).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(retcode(&answer), code, "{answer}");
    assert_eq!(answer["retdata"], Value::Null, "{answer}");
    if let Some(message) = message {
        assert_eq!(answer["retmsg"], message, "{answer}");
    }
    answer
}

/// A CreateCheckoutOrder of `body`, signed now with `token` and `sign_key` and sent with the
/// `extra` headers too, is refused with `code` and `message`.
async fn create_refused(
    gw: &TestGateway,
    token: &str,
    sign_key: &str,
    body: &str,
    extra: &[(&'static str, String)],
    code: &str,
    message: &str,
) {
    let mut headers = gw.headers_now(token, sign_key, "POST", CREATE_ORDER, body);
    headers.extend(extra.iter().cloned());
    create_refused_with(gw, body, &headers, code, message).await;
}

/// A CreateCheckoutOrder of `body` sent with exactly `headers` is refused with `code` and
/// `message`.
async fn create_refused_with(
    gw: &TestGateway,
    body: &str,
    headers: &[(&str, String)],
    code: &str,
    message: &str,
) {
    expect_refusal(gw, "POST", CREATE_ORDER, body, headers, code, Some(message)).await;
}

/// The number of orders `credentials`' app has, through a valid signed list call.
async fn order_count(
    gw: &TestGateway,
    credentials: &IssuedCredentials,
    extra: &[(&'static str, String)],
) -> u64 {
    let token = gw.token(credentials).await;
    let mut headers = gw.headers_now(&token, &credentials.sign_key, "POST", LIST_ORDERS, "{}");
    headers.extend(extra.iter().cloned());
    let (status, _, list) = gw.send("POST", LIST_ORDERS, "{}", &headers).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(retcode(&list), "200", "{list}");
    list["retdata"]["total"].as_u64().unwrap()
}

/// A token-endpoint body: its content type and text.
type TokenBody<'a> = Option<(&'a str, String)>;

/// POSTs to the token endpoint with a query string and an optional body of `content_type`.
async fn token_call(gw: &TestGateway, query: &str, body: TokenBody<'_>) -> (u16, Value) {
    let url = if query.is_empty() {
        format!("{}{TOKEN}", gw.base_url)
    } else {
        format!("{}{TOKEN}?{query}", gw.base_url)
    };
    let mut request = gw.http.post(url);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn credentials_query(credentials: &IssuedCredentials) -> String {
    format!(
        "grant_type=client_credentials&api_key={}&api_secret={}",
        credentials.api_key, credentials.api_secret
    )
}

/// Checks a successful token answer and returns (access_token, refresh_token).
fn token_pair(status: u16, answer: &Value) -> (String, String) {
    assert_eq!(status, 200, "{answer}");
    assert_eq!(retcode(answer), "200", "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["retmsg"], "", "{answer}");
    let data = &answer["retdata"];
    assert_eq!(data["token_type"], "bearer", "{answer}");
    assert_eq!(data["expires_in"], 1800, "{answer}");
    assert_eq!(data["rt_expires_in"], 7 * 24 * 3600, "{answer}");
    let access = data["access_token"].as_str().unwrap().to_owned();
    let refresh = data["refresh_token"].as_str().unwrap().to_owned();
    assert!(!access.is_empty() && !refresh.is_empty() && access != refresh);
    (access, refresh)
}

/// Checks a refused token answer.
fn token_refused(status: u16, answer: &Value, code: &str, message: &str) {
    assert_eq!(status, 200, "{answer}");
    assert_eq!(retcode(answer), code, "{answer}");
    assert_eq!(answer["retmsg"], message, "{answer}");
    assert_eq!(answer["retdata"], Value::Null, "{answer}");
    assert_eq!(answer["success"], false, "{answer}");
}

/// True when `token` opens a signed list call for `credentials`' app.
async fn token_works(gw: &TestGateway, credentials: &IssuedCredentials, token: &str) -> bool {
    let headers = gw.headers_now(token, &credentials.sign_key, "POST", LIST_ORDERS, "{}");
    let (status, _, list) = gw.send("POST", LIST_ORDERS, "{}", &headers).await;
    assert_eq!(status, 200, "{list}");
    retcode(&list) == "200"
}

/// Asserts the response carries `SIGNATURE` == `D-Signature` and `TIMESTAMP`, and that the
/// signature verifies over METHOD + TIMESTAMP + PATH + QUERY + response body.
fn assert_response_signed(
    credentials: &IssuedCredentials,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &str,
) {
    let text = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("response has no {name} header: {headers:?}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (signature_header, d_signature, timestamp) =
        (text("signature"), text("d-signature"), text("timestamp"));
    assert_eq!(signature_header, d_signature);
    assert!(timestamp.parse::<i64>().is_ok(), "{timestamp}");
    let parts = signed_parts(method, path_and_query, body.as_bytes());
    assert!(
        signature::verify_request(
            credentials.sign_key.as_bytes(),
            &parts,
            &timestamp,
            &signature_header
        ),
        "response signature does not verify: {body}"
    );
    let tampered = format!("{body}x");
    let tampered = SignedParts {
        body: tampered.as_bytes(),
        ..parts
    };
    assert!(!signature::verify_request(
        credentials.sign_key.as_bytes(),
        &tampered,
        &timestamp,
        &signature_header
    ));
    assert!(!signature::verify_request(
        b"another sign key",
        &parts,
        &timestamp,
        &signature_header
    ));
}

/// Sends exactly this request; asserts an HTTP 200 answer whose text holds `expected`; the
/// answer's headers and text.
async fn answer_holding(
    gw: &TestGateway,
    method: &str,
    path_and_query: &str,
    body: &str,
    headers: &[(&str, String)],
    expected: &str,
) -> (HeaderMap, String) {
    let (status, response_headers, raw) = gw.send_raw(method, path_and_query, body, headers).await;
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains(expected), "{raw}");
    (response_headers, raw)
}

/// A request signed now with `token` and `credentials`' key: its answer holds `expected` and
/// is signed (see [`assert_response_signed`]).
async fn assert_signed_answer(
    gw: &TestGateway,
    credentials: &IssuedCredentials,
    token: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
    expected: &str,
) {
    let headers = gw.headers_now(token, &credentials.sign_key, method, path_and_query, body);
    let (response_headers, raw) =
        answer_holding(gw, method, path_and_query, body, &headers, expected).await;
    assert_response_signed(credentials, method, path_and_query, &response_headers, &raw);
}

/// The answer to exactly this request holds `expected` and is not signed.
async fn assert_unsigned_answer(
    gw: &TestGateway,
    method: &str,
    path_and_query: &str,
    body: &str,
    headers: &[(&str, String)],
    expected: &str,
) {
    let (response_headers, _) =
        answer_holding(gw, method, path_and_query, body, headers, expected).await;
    assert_unsigned(&response_headers);
}

fn assert_unsigned(headers: &HeaderMap) {
    assert!(headers.get("signature").is_none(), "{headers:?}");
    assert!(headers.get("d-signature").is_none(), "{headers:?}");
}

async fn token_endpoint_accepts_every_shape(gw: TestGateway) {
    let app = gw.create_app().await;
    let (key, secret) = (&app.api_key, &app.api_secret);
    let query = credentials_query(&app);
    let form = query.clone();
    let shapes: Vec<(&str, &str, TokenBody<'_>)> = vec![
        ("query string", &query, None),
        (
            "form body",
            "",
            Some(("application/x-www-form-urlencoded", form)),
        ),
        (
            "JSON snake_case",
            "",
            Some((
                "application/json",
                json!({"grant_type": "client_credentials", "api_key": key, "api_secret": secret})
                    .to_string(),
            )),
        ),
        (
            "JSON camelCase",
            "",
            Some((
                "application/json",
                json!({"grantType": "client_credentials", "apiKey": key, "apiSecret": secret})
                    .to_string(),
            )),
        ),
        (
            "JSON password shape",
            "",
            Some((
                "application/json",
                json!({
                    "grantType": "password",
                    "email": "ops@example.com",
                    "password": "not used",
                    "apiKey": key,
                    "apiSecret": secret,
                })
                .to_string(),
            )),
        ),
        (
            "JSON without grant type",
            "",
            Some((
                "application/json",
                json!({"apiKey": key, "apiSecret": secret}).to_string(),
            )),
        ),
    ];
    let mut seen = Vec::new();
    for (shape, query, body) in shapes {
        let (status, answer) = token_call(&gw, query, body).await;
        let (access, _) = token_pair(status, &answer);
        assert!(token_works(&gw, &app, &access).await, "{shape}");
        assert!(!seen.contains(&access), "{shape}: tokens are fresh");
        seen.push(access);
    }
    assert_eq!(order_count(&gw, &app, &[]).await, 0);
}

async fn token_endpoint_refusals(gw: TestGateway) {
    let app = gw.create_app().await;
    let (key, secret) = (&app.api_key, &app.api_secret);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("grant_type=client_credentials&api_secret={secret}"),
            "00001",
            "api_key: is required",
        ),
        (
            format!("grant_type=client_credentials&api_key=&api_secret={secret}"),
            "00001",
            "api_key: is required",
        ),
        (
            format!("grant_type=client_credentials&api_key={key}"),
            "00001",
            "api_secret: is required",
        ),
        (
            format!("grant_type=client_credentials&api_key=ak_unknown&api_secret={secret}"),
            "00005",
            "invalid apiKey or apiSecret",
        ),
        (
            format!("grant_type=client_credentials&api_key={key}&api_secret=wrong"),
            "00005",
            "invalid apiKey or apiSecret",
        ),
        (
            format!("grant_type=authorization_code&api_key={key}&api_secret={secret}"),
            "00001",
            "grant_type: must be client_credentials, password or refresh_token",
        ),
        (
            "grant_type=refresh_token".to_owned(),
            "00001",
            "refresh_token: is required",
        ),
        (
            "grant_type=refresh_token&refresh_token=garbage".to_owned(),
            "00004",
            "refresh token invalid or expired",
        ),
    ];
    for (query, code, message) in cases {
        let (status, answer) = token_call(&gw, &query, None).await;
        token_refused(status, &answer, code, message);
    }
    // The same refusals from JSON bodies.
    let (status, answer) = token_call(
        &gw,
        "",
        Some(("application/json", json!({"apiSecret": secret}).to_string())),
    )
    .await;
    token_refused(status, &answer, "00001", "api_key: is required");
    let (status, answer) = token_call(
        &gw,
        "",
        Some((
            "application/json",
            json!({"apiKey": key, "apiSecret": "wrong"}).to_string(),
        )),
    )
    .await;
    token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
    let (status, answer) = token_call(
        &gw,
        "",
        Some(("application/json", "{\"apiKey\":".to_owned())),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(retcode(&answer), "00001", "{answer}");
    assert!(
        answer["retmsg"]
            .as_str()
            .unwrap()
            .starts_with("request body: is not valid JSON"),
        "{answer}"
    );
    // An API-secret sent to the wrong app's key does not open it.
    let other = gw.create_app().await;
    let crossed = format!(
        "grant_type=client_credentials&api_key={}&api_secret={secret}",
        other.api_key
    );
    let (status, answer) = token_call(&gw, &crossed, None).await;
    token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
}

async fn refresh_token_is_single_use(gw: TestGateway) {
    let app = gw.create_app().await;
    let (status, answer) = token_call(&gw, &credentials_query(&app), None).await;
    let (access, refresh) = token_pair(status, &answer);
    let query = format!("grant_type=refresh_token&refresh_token={refresh}");
    let (status, answer) = token_call(&gw, &query, None).await;
    let (new_access, new_refresh) = token_pair(status, &answer);
    assert_ne!(new_access, access);
    assert_ne!(new_refresh, refresh);
    assert!(token_works(&gw, &app, &new_access).await);
    // The refresh token is spent.
    let (status, answer) = token_call(&gw, &query, None).await;
    token_refused(status, &answer, "00004", "refresh token invalid or expired");
    // The new refresh token works, by JSON body too, once.
    let body = json!({"grantType": "refresh_token", "refreshToken": new_refresh}).to_string();
    let (status, answer) = token_call(&gw, "", Some(("application/json", body.clone()))).await;
    let (third, _) = token_pair(status, &answer);
    assert!(token_works(&gw, &app, &third).await);
    let (status, answer) = token_call(&gw, "", Some(("application/json", body))).await;
    token_refused(status, &answer, "00004", "refresh token invalid or expired");
    // An access token is not a refresh token: refused, and left working.
    let query = format!("grant_type=refresh_token&refresh_token={third}");
    let (status, answer) = token_call(&gw, &query, None).await;
    token_refused(status, &answer, "00004", "refresh token invalid or expired");
    assert!(
        token_works(&gw, &app, &third).await,
        "an access token sent as a refresh token is not revoked"
    );
}

async fn access_token_expires(gw: TestGateway) {
    let app = gw.create_app().await;
    let (status, answer) = token_call(&gw, &credentials_query(&app), None).await;
    let (access, refresh) = token_pair(status, &answer);
    gw.clock.advance_secs(1799);
    assert!(
        token_works(&gw, &app, &access).await,
        "still valid at 1799 s"
    );
    gw.clock.advance_secs(2);
    // Signed at the gateway's (moved) time: only the token is stale.
    create_refused(
        &gw,
        &access,
        &app.sign_key,
        &order_body("exp-1"),
        &[],
        "00004",
        "access token invalid or expired",
    )
    .await;
    // The refresh token outlives it.
    let query = format!("grant_type=refresh_token&refresh_token={refresh}");
    let (status, answer) = token_call(&gw, &query, None).await;
    let (fresh, _) = token_pair(status, &answer);
    assert!(token_works(&gw, &app, &fresh).await);
    assert_eq!(order_count(&gw, &app, &[]).await, 0);
}

async fn bearer_and_signature_refusals(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let key = app.sign_key.as_str();
    let now = gw.clock.now().millis();
    let mut n = 0;
    let mut next_body = || {
        n += 1;
        order_body(&format!("refused-{n}"))
    };

    let body = next_body();
    let headers = without(
        gw.headers_now(&token, key, "POST", CREATE_ORDER, &body),
        "authorization",
    );
    let (_, response_headers, _) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
    assert_unsigned(&response_headers);
    create_refused_with(&gw, &body, &headers, "00004", "access token missing").await;

    for garbage in ["Bearer garbage", "Bearer ", "Basic Zm9vOmJhcg==", "garbage"] {
        let body = next_body();
        let mut headers = without(
            gw.headers_now(&token, key, "POST", CREATE_ORDER, &body),
            "authorization",
        );
        headers.push(("authorization", garbage.to_owned()));
        let answer =
            expect_refusal(&gw, "POST", CREATE_ORDER, &body, &headers, "00004", None).await;
        assert!(
            answer["retmsg"]
                .as_str()
                .unwrap()
                .starts_with("access token"),
            "{garbage}: {answer}"
        );
    }

    for missing in ["SIGNATURE", "TIMESTAMP"] {
        let body = next_body();
        let headers = without(
            gw.headers_now(&token, key, "POST", CREATE_ORDER, &body),
            &missing.to_lowercase(),
        );
        let message = format!("Access denied: Missing header [{missing}]");
        create_refused_with(&gw, &body, &headers, "00006", &message).await;
    }

    let body = next_body();
    create_refused(
        &gw,
        &token,
        "another sign key",
        &body,
        &[],
        "00007",
        "signature invalid",
    )
    .await;

    // Signed over another body than the one sent.
    let body = next_body();
    let headers = gw.headers_now(&token, key, "POST", CREATE_ORDER, &order_body("other"));
    create_refused_with(&gw, &body, &headers, "00007", "signature invalid").await;

    let outside = "TIMESTAMP is outside the allowed window of 2 minutes";
    for (label, timestamp, message) in [
        ("3 minutes old", (now - 180_000).to_string(), outside),
        ("3 minutes ahead", (now + 180_000).to_string(), outside),
        (
            "seconds, not milliseconds",
            (now / 1000).to_string(),
            outside,
        ),
        (
            "not a number",
            "yesterday".to_owned(),
            "TIMESTAMP must be epoch milliseconds",
        ),
    ] {
        let body = next_body();
        let headers = signed_headers_at(&token, key, "POST", CREATE_ORDER, &body, &timestamp);
        let (status, _, answer) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
        assert_eq!(status, 200, "{label}: {answer}");
        assert_eq!(retcode(&answer), "00007", "{label}: {answer}");
        assert_eq!(answer["retmsg"], message, "{label}: {answer}");
    }

    assert_eq!(
        order_count(&gw, &app, &[]).await,
        0,
        "no refusal created anything"
    );
}

async fn replay_is_refused(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let body = order_body("replayed-1");
    let headers = gw.headers_now(&token, &app.sign_key, "POST", CREATE_ORDER, &body);
    let (status, _, first) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
    assert_eq!(status, 200);
    assert_eq!(retcode(&first), "200", "{first}");
    create_refused_with(
        &gw,
        &body,
        &headers,
        "00007",
        "request replayed: this signature was already used",
    )
    .await;
    // A replay of a refused signature is refused too, even with another token of the app.
    let other_token = gw.token(&app).await;
    let headers: Vec<_> = without(headers, "authorization")
        .into_iter()
        .chain([("authorization", format!("Bearer {other_token}"))])
        .collect();
    expect_refusal(&gw, "POST", CREATE_ORDER, &body, &headers, "00007", None).await;
    // The same content signed again (new timestamp) is an ordinary idempotent re-send.
    let headers = gw.headers_now(&token, &app.sign_key, "POST", CREATE_ORDER, &body);
    let (_, _, again) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
    assert_eq!(retcode(&again), "200", "{again}");
    assert_eq!(again["retdata"]["sysid"], first["retdata"]["sysid"]);
    assert_eq!(order_count(&gw, &app, &[]).await, 1);
}

async fn tolerant_signature_forms(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let key = app.sign_key.as_str();
    let created = gw.create_order(&app, order_body("tol-1")).await;
    assert_eq!(retcode(&created), "200", "{created}");

    // GET query string signed without its `?`.
    let timestamp = gw.fresh_timestamp();
    let parts = SignedParts {
        method: "GET",
        path: ORDER_INFO,
        query: "orderNo=tol-1",
        body: b"",
    };
    let without_mark = signature::sign(
        key.as_bytes(),
        &signature::string_to_sign(&parts, &timestamp, QueryForm::WithoutQuestionMark),
    );
    let headers = vec![
        ("authorization", format!("Bearer {token}")),
        ("signature", without_mark),
        ("timestamp", timestamp),
    ];
    let info_path = with_query(ORDER_INFO, "orderNo", "tol-1");
    let (status, _, info) = gw.send("GET", &info_path, "", &headers).await;
    assert_eq!(status, 200);
    assert_eq!(retcode(&info), "200", "{info}");
    assert_eq!(info["retdata"]["orderNo"], "tol-1");

    // A pretty-printed body signed in its whitespace-free form.
    let pretty = "{\n  \"orderNo\": \"tol-2\",\n  \"orderAmount\": 12.5,\n  \"customerId\": \"c 1\",\n  \"token\": \"ETH_USDT\"\n}";
    let compact = r#"{"orderNo":"tol-2","orderAmount":12.5,"customerId":"c 1","token":"ETH_USDT"}"#;
    assert_eq!(
        signature::strip_json_whitespace(pretty.as_bytes()),
        compact.as_bytes()
    );
    let headers = gw.headers_now(&token, key, "POST", CREATE_ORDER, compact);
    let (_, _, created) = gw.send("POST", CREATE_ORDER, pretty, &headers).await;
    assert_eq!(retcode(&created), "200", "{created}");
    assert_eq!(
        created["retdata"]["customerId"], "c 1",
        "spaces inside strings are kept"
    );
    // ... and the pretty form signed as sent.
    let pretty3 = pretty.replace("tol-2", "tol-3");
    let headers = gw.headers_now(&token, key, "POST", CREATE_ORDER, &pretty3);
    let (_, _, created) = gw.send("POST", CREATE_ORDER, &pretty3, &headers).await;
    assert_eq!(retcode(&created), "200", "{created}");

    // `D-Signature` / `D-Timestamp` as request header names; header names in any case, the
    // aliases too, and the Bearer scheme in any case.
    for (order_no, names, bearer) in [
        (
            "tol-4",
            ["D-Signature", "D-Timestamp", "authorization"],
            "Bearer",
        ),
        (
            "tol-5",
            ["SIGNATURE", "TIMESTAMP", "Authorization"],
            "bearer",
        ),
        (
            "tol-6",
            ["d-SIGNATURE", "D-TimeStamp", "AUTHORIZATION"],
            "BEARER",
        ),
    ] {
        let body = order_body(order_no);
        let headers: Vec<_> = gw
            .headers_now(&token, key, "POST", CREATE_ORDER, &body)
            .into_iter()
            .map(|(name, value)| match name {
                "signature" => (names[0], value),
                "timestamp" => (names[1], value),
                "authorization" => (names[2], value.replace("Bearer", bearer)),
                other => (other, value),
            })
            .collect();
        let (_, _, created) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
        assert_eq!(retcode(&created), "200", "{order_no}: {created}");
    }

    assert_eq!(order_count(&gw, &app, &[]).await, 6);
}

async fn ip_allow_list(gw: TestGateway) {
    let fenced = gw.create_app_allowing(&["10.0.0.0/8"]).await;
    let token = gw.token(&fenced).await;
    let body = order_body("ip-1");
    let headers = gw.headers_now(&token, &fenced.sign_key, "POST", CREATE_ORDER, &body);
    let (status, response_headers, raw) = gw.send_raw("POST", CREATE_ORDER, &body, &headers).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(retcode(&answer), "00009", "{raw}");
    assert_eq!(answer["retmsg"], "ip not matched: 127.0.0.1", "{raw}");
    // The refusal is not signed: the request failed authentication.
    assert_unsigned(&response_headers);
    // Without trusted proxies, X-Forwarded-For is not believed.
    create_refused(
        &gw,
        &token,
        &fenced.sign_key,
        &order_body("ip-3"),
        &[("x-forwarded-for", "10.1.2.3".to_owned())],
        "00009",
        "ip not matched: 127.0.0.1",
    )
    .await;

    let open = gw.create_app_allowing(&["127.0.0.1/32"]).await;
    let created = gw.create_order(&open, order_body("ip-4")).await;
    assert_eq!(retcode(&created), "200", "{created}");
    assert_eq!(order_count(&gw, &open, &[]).await, 1);

    // Nothing was created for the fenced app: look once it allows this address.
    let changes = AppChanges {
        ip_allow: Some(vec!["10.0.0.0/8".into(), "127.0.0.1".into()]),
        ..AppChanges::default()
    };
    gw.update_app(&fenced.app_id, changes).await;
    assert_eq!(order_count(&gw, &fenced, &[]).await, 0);
}

/// `gw` stopped, and in its place a gateway on the same engine that believes
/// `X-Forwarded-For` from 127.0.0.1.
async fn behind_trusted_proxy(gw: TestGateway) -> TestGateway {
    let db = gw.db;
    drop(gw);
    TestGateway::start_with(db, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await
    .unwrap()
}

async fn forwarded_for_behind_trusted_proxy(gw: TestGateway) {
    let gw = behind_trusted_proxy(gw).await;
    let fenced = gw.create_app_allowing(&["10.0.0.0/8"]).await;
    let token = gw.token(&fenced).await;
    let forwarded = |ip: &str| ("x-forwarded-for", ip.to_owned());

    let body = order_body("xff-1");
    let mut headers = gw.headers_now(&token, &fenced.sign_key, "POST", CREATE_ORDER, &body);
    headers.push(forwarded("10.1.2.3"));
    let (status, _, created) = gw.send("POST", CREATE_ORDER, &body, &headers).await;
    assert_eq!(status, 200);
    assert_eq!(retcode(&created), "200", "{created}");

    for (order_no, forwarded_for, seen) in [
        ("xff-2", None, "127.0.0.1"),
        ("xff-3", Some("192.168.1.1"), "192.168.1.1"),
        // The right-most untrusted entry counts: a client cannot prepend an allowed address.
        ("xff-4", Some("10.9.9.9, 192.168.1.1"), "192.168.1.1"),
    ] {
        let extra: Vec<_> = forwarded_for.map(forwarded).into_iter().collect();
        let (body, message) = (order_body(order_no), format!("ip not matched: {seen}"));
        let key = &fenced.sign_key;
        create_refused(&gw, &token, key, &body, &extra, "00009", &message).await;
    }

    assert_eq!(order_count(&gw, &fenced, &[forwarded("10.1.2.3")]).await, 1);
}

async fn responses_are_signed(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let key = app.sign_key.as_str();

    let body = order_body("sig-1");
    let created = r#""retcode":"200""#;
    assert_signed_answer(&gw, &app, &token, "POST", CREATE_ORDER, &body, created).await;
    let info: &str = &with_query(ORDER_INFO, "orderNo", "sig-1");
    let found = r#""orderNo":"sig-1""#;
    assert_signed_answer(&gw, &app, &token, "GET", info, "", found).await;

    // Refusals by the route, after the request passed the guard, are signed too: a bad
    // parameter, an unknown order.
    let bad = r#"{"orderNo":"sig-2","orderAmount":0,"customerId":"c","token":"ETH_USDT"}"#;
    let invalid = r#""retcode":"00001""#;
    assert_signed_answer(&gw, &app, &token, "POST", CREATE_ORDER, bad, invalid).await;
    let missing = with_query(ORDER_INFO, "orderNo", "nope");
    let not_found = r#""retcode":"00404""#;
    assert_signed_answer(&gw, &app, &token, "GET", &missing, "", not_found).await;

    // A request that failed authentication gets no signature: a bad or missing signature, a
    // replay (checked by the guard, or by order creation in its own transaction).
    let body = order_body("sig-3");
    let headers = gw.headers_now(&token, "another sign key", "POST", CREATE_ORDER, &body);
    let bad_signature = r#""retcode":"00007""#;
    assert_unsigned_answer(&gw, "POST", CREATE_ORDER, &body, &headers, bad_signature).await;
    let headers = without(
        gw.headers_now(&token, key, "POST", CREATE_ORDER, &body),
        "signature",
    );
    let no_signature = r#""retcode":"00006""#;
    assert_unsigned_answer(&gw, "POST", CREATE_ORDER, &body, &headers, no_signature).await;

    let replayed_create = gw.headers_now(&token, key, "POST", CREATE_ORDER, &order_body("sig-1"));
    let replayed_info = gw.headers_now(&token, key, "GET", info, "");
    for (method, path_and_query, body, headers) in [
        ("POST", CREATE_ORDER, order_body("sig-1"), replayed_create),
        ("GET", info, String::new(), replayed_info),
    ] {
        let (first_headers, raw) =
            answer_holding(&gw, method, path_and_query, &body, &headers, created).await;
        assert_response_signed(&app, method, path_and_query, &first_headers, &raw);
        let replayed = "request replayed";
        assert_unsigned_answer(&gw, method, path_and_query, &body, &headers, replayed).await;
    }

    // Before the app is known there is no key to sign with.
    let headers = gw.headers_now("garbage", key, "POST", CREATE_ORDER, &body);
    let unknown = r#""retcode":"00004""#;
    assert_unsigned_answer(&gw, "POST", CREATE_ORDER, &body, &headers, unknown).await;

    assert_eq!(order_count(&gw, &app, &[]).await, 1);
}

/// `credentials`' tokens and secret open nothing: a create with `access` (and `body`) is
/// refused, and so are new tokens for the secret or for `refresh`.
async fn assert_locked_out(
    gw: &TestGateway,
    credentials: &IssuedCredentials,
    access: &str,
    refresh: &str,
    body: &str,
) {
    let (key, expired) = (&credentials.sign_key, "access token invalid or expired");
    create_refused(gw, access, key, body, &[], "00004", expired).await;
    let (status, answer) = token_call(gw, &credentials_query(credentials), None).await;
    token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
    let query = format!("grant_type=refresh_token&refresh_token={refresh}");
    let (status, answer) = token_call(gw, &query, None).await;
    token_refused(status, &answer, "00004", "refresh token invalid or expired");
}

async fn rotating_secrets(gw: TestGateway) {
    let app = gw.create_app().await;
    let (status, answer) = token_call(&gw, &credentials_query(&app), None).await;
    let (old_access, old_refresh) = token_pair(status, &answer);
    assert!(token_works(&gw, &app, &old_access).await);

    let rotated = gw.admin.rotate_secrets(&app.app_id).await.unwrap();
    assert_eq!(rotated.api_key, app.api_key);
    assert_ne!(rotated.api_secret, app.api_secret);
    assert_ne!(rotated.sign_key, app.sign_key);

    assert_locked_out(&gw, &app, &old_access, &old_refresh, &order_body("rot-1")).await;

    let (status, answer) = token_call(&gw, &credentials_query(&rotated), None).await;
    let (new_access, _) = token_pair(status, &answer);
    // The new token with the old signKey is a bad signature.
    create_refused(
        &gw,
        &new_access,
        &app.sign_key,
        &order_body("rot-2"),
        &[],
        "00007",
        "signature invalid",
    )
    .await;
    let body = order_body("rot-3");
    let created = r#""retcode":"200""#;
    assert_signed_answer(
        &gw,
        &rotated,
        &new_access,
        "POST",
        CREATE_ORDER,
        &body,
        created,
    )
    .await;
    assert_eq!(order_count(&gw, &rotated, &[]).await, 1);
}

async fn disabled_app_is_locked_out(gw: TestGateway) {
    let app = gw.create_app().await;
    let (status, answer) = token_call(&gw, &credentials_query(&app), None).await;
    let (access, refresh) = token_pair(status, &answer);
    let disable = AppChanges {
        enabled: Some(false),
        ..AppChanges::default()
    };
    gw.update_app(&app.app_id, disable).await;

    assert_locked_out(&gw, &app, &access, &refresh, &order_body("off-1")).await;

    let enable = AppChanges {
        enabled: Some(true),
        ..AppChanges::default()
    };
    gw.update_app(&app.app_id, enable).await;
    assert_eq!(order_count(&gw, &app, &[]).await, 0);
}

/// A caller holding only a Bearer token sends a cancel with a made-up signature. Were the
/// `00007` answer signed, its `SIGNATURE`/`TIMESTAMP` would sign `GET`, timestamp, path, query
/// and answer, which is exactly the string of the same GET sent with the answer as its body: a
/// signed request the caller never could have made. The order must stay untouched.
async fn refusals_are_not_a_signing_oracle(gw: TestGateway) {
    let app = gw.create_app().await;
    let created = gw.create_order(&app, order_body("oracle-1")).await;
    assert_eq!(retcode(&created), "200", "{created}");
    let token = gw.token(&app).await;
    let cancel: &str = &with_query(CANCEL_ORDER, "orderNo", "oracle-1");
    let bogus = vec![
        ("authorization", format!("Bearer {token}")),
        ("signature", "AAAA".to_owned()),
        ("timestamp", gw.fresh_timestamp()),
    ];
    let (status, refusal_headers, refusal) = gw.send_raw("GET", cancel, "", &bogus).await;
    assert_eq!(status, 200, "{refusal}");
    assert!(refusal.contains(r#""retcode":"00007""#), "{refusal}");
    // The attack: the same GET, the refusal as its body, the refusal's signature headers.
    let mut forged = vec![("authorization", format!("Bearer {token}"))];
    for name in ["signature", "timestamp"] {
        if let Some(value) = refusal_headers.get(name) {
            forged.push((name, value.to_str().unwrap().to_owned()));
        }
    }
    let (status, _, answer) = gw.send_raw("GET", cancel, &refusal, &forged).await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(
        serde_json::from_str::<Value>(&answer).unwrap()["retcode"],
        "200",
        "{answer}"
    );
    let info = gw.order_info(&app, "oracle-1").await;
    assert_eq!(info["retdata"]["orderStatus"], "PAYING", "{info}");
    // And the refusal carried no signature to begin with.
    assert_unsigned(&refusal_headers);
}

/// Bodies that no request of the API sends, and that a signed answer could be passed off as,
/// are refused before anything is looked at, even correctly signed: any body on a GET, and an
/// envelope (a top-level `retcode`) as a POST body.
async fn envelope_and_get_bodies_are_refused(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let key = app.sign_key.as_str();
    let body = order_body("shape-1");
    let headers = gw.headers_now(&token, key, "POST", CREATE_ORDER, &body);
    let (_, _, signed_answer) = gw.send_raw("POST", CREATE_ORDER, &body, &headers).await;
    assert!(
        signed_answer.contains(r#""retcode":"200""#),
        "{signed_answer}"
    );

    let cancel: &str = &with_query(CANCEL_ORDER, "orderNo", "shape-1");
    for body in [r#"{"orderNo":"shape-1"}"#, "x", signed_answer.as_str()] {
        let headers = gw.headers_now(&token, key, "GET", cancel, body);
        let (status, response_headers, raw) = gw.send_raw("GET", cancel, body, &headers).await;
        assert_eq!(status, 200, "{raw}");
        let answer: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(retcode(&answer), "00001", "{raw}");
        assert_eq!(
            answer["retmsg"], "request body: must be empty for GET",
            "{raw}"
        );
        assert_unsigned(&response_headers);
    }

    let envelope = "request body: must not be a response envelope (top-level retcode)";
    let mut with_retcode: serde_json::Map<String, Value> =
        serde_json::from_str(&order_body("shape-2")).unwrap();
    with_retcode.insert("retcode".into(), json!("200"));
    let with_retcode = Value::Object(with_retcode).to_string();
    let pretty_answer =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&signed_answer).unwrap())
            .unwrap();
    for (path, body) in [
        (CREATE_ORDER, with_retcode.as_str()),
        (CREATE_ORDER, signed_answer.as_str()),
        (LIST_ORDERS, signed_answer.as_str()),
        (LIST_ORDERS, pretty_answer.as_str()),
        (CANCEL_REFUND, signed_answer.as_str()),
    ] {
        let headers = gw.headers_now(&token, key, "POST", path, body);
        let (status, response_headers, raw) = gw.send_raw("POST", path, body, &headers).await;
        assert_eq!(status, 200, "{raw}");
        let answer: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(retcode(&answer), "00001", "{path}: {raw}");
        assert_eq!(answer["retmsg"], envelope, "{path}: {raw}");
        assert_unsigned(&response_headers);
    }

    let info = gw.order_info(&app, "shape-1").await;
    assert_eq!(info["retdata"]["orderStatus"], "PAYING", "{info}");
    assert_eq!(
        order_count(&gw, &app, &[]).await,
        1,
        "shape-2 was not created"
    );
}

/// POSTs a token request as the client at `address` (behind the trusted proxy 127.0.0.1).
async fn token_from(gw: &TestGateway, address: &str, query: &str) -> (u16, HeaderMap, Value) {
    let response = gw
        .http
        .post(format!("{}{TOKEN}?{query}", gw.base_url))
        .header("x-forwarded-for", address)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// Checks a `00429` answer and returns its `Retry-After` seconds.
fn rate_limited(status: u16, headers: &HeaderMap, answer: &Value) -> u64 {
    assert_eq!(status, 200, "{answer}");
    assert_eq!(retcode(answer), "00429", "{answer}");
    assert_eq!(answer["success"], false, "{answer}");
    assert_eq!(answer["retdata"], Value::Null, "{answer}");
    let message = answer["retmsg"].as_str().unwrap();
    assert!(
        message.starts_with("too many failed token requests, retry after "),
        "{answer}"
    );
    let seconds: u64 = headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert!(message.contains(&format!("after {seconds} s")), "{answer}");
    seconds
}

/// Failed token requests are limited per address and, against strangers, per app; the
/// merchant's own servers keep getting tokens throughout.
async fn failed_token_requests_are_limited(gw: TestGateway) {
    let gw = behind_trusted_proxy(gw).await;
    let app = gw.create_app().await;
    let right = credentials_query(&app);
    let wrong = format!(
        "grant_type=client_credentials&api_key={}&api_secret=wrong",
        app.api_key
    );
    let merchant = "192.0.2.10";
    let attacker = "203.0.113.9";
    let (status, _, answer) = token_from(&gw, merchant, &right).await;
    token_pair(status, &answer);

    // 1,000 wrong secrets from one address: 10 are checked, the rest refused unread.
    let started = std::time::Instant::now();
    let (mut checked, mut limited) = (0, 0);
    for n in 0..1_000 {
        let (status, headers, answer) = token_from(&gw, attacker, &wrong).await;
        if retcode(&answer) == "00429" {
            rate_limited(status, &headers, &answer);
            limited += 1;
        } else {
            token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
            checked += 1;
        }
        if n % 100 == 0 {
            let (status, _, answer) = token_from(&gw, merchant, &right).await;
            token_pair(status, &answer);
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "1,000 wrong secrets from one address: {checked} checked, {limited} limited, {elapsed:?}"
    );
    assert_eq!((checked, limited), (10, 990));
    // Over its limit, the address is refused even with the right secret.
    let (status, headers, answer) = token_from(&gw, attacker, &right).await;
    rate_limited(status, &headers, &answer);
    // Any other address that is not over its limit gets a token with the right secret.
    let (status, _, answer) = token_from(&gw, "192.0.2.11", &right).await;
    token_pair(status, &answer);

    // Guessing from many addresses: the app takes 30 failures from strangers (the attacker's
    // 10 among them), then each stranger is blocked by its first failure.
    let strangers: Vec<String> = (0..40).map(|n| format!("198.51.100.{n}")).collect();
    for stranger in &strangers {
        let (status, _, answer) = token_from(&gw, stranger, &wrong).await;
        token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
    }
    for (n, stranger) in strangers.iter().enumerate() {
        let (status, headers, answer) = token_from(&gw, stranger, &right).await;
        if n < 20 {
            token_pair(status, &answer);
        } else {
            rate_limited(status, &headers, &answer);
        }
    }
    // The merchant's own address keeps its allowance, wrong secret or right.
    let (status, _, answer) = token_from(&gw, merchant, &wrong).await;
    token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
    let (status, _, answer) = token_from(&gw, merchant, &right).await;
    token_pair(status, &answer);
    // The right secret from a new address not over its limit is accepted.
    let (status, _, answer) = token_from(&gw, "198.51.100.250", &right).await;
    token_pair(status, &answer);

    // Refresh tokens guessed from one address count the same way.
    let guess = "grant_type=refresh_token&refresh_token=guess";
    for _ in 0..10 {
        let (status, _, answer) = token_from(&gw, "203.0.113.50", guess).await;
        token_refused(status, &answer, "00004", "refresh token invalid or expired");
    }
    let (status, headers, answer) = token_from(&gw, "203.0.113.50", guess).await;
    rate_limited(status, &headers, &answer);

    // Once the window has ended the address is heard again.
    gw.clock.advance_secs(61);
    let (status, _, answer) = token_from(&gw, attacker, &wrong).await;
    token_refused(status, &answer, "00005", "invalid apiKey or apiSecret");
    let (status, _, answer) = token_from(&gw, attacker, &right).await;
    token_pair(status, &answer);
    assert_eq!(order_count(&gw, &app, &[]).await, 0);
}

on_both_engines!(
    token_endpoint_accepts_every_shape,
    token_endpoint_refusals,
    refresh_token_is_single_use,
    access_token_expires,
    bearer_and_signature_refusals,
    replay_is_refused,
    tolerant_signature_forms,
    ip_allow_list,
    forwarded_for_behind_trusted_proxy,
    responses_are_signed,
    rotating_secrets,
    disabled_app_is_locked_out,
    refusals_are_not_a_signing_oracle,
    envelope_and_get_bodies_are_refused,
    failed_token_requests_are_limited,
);
