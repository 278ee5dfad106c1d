//! Bad input gets a clear error in the envelope, changes nothing, and never a 5xx: every
//! CreateCheckoutOrder rule, body size, unknown routes and methods, pagination and order
//! numbers in query strings, on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use crate::common::{Db, TestGateway, retcode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Map, Value, json};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_client::routes::{
    CANCEL_ORDER, CREATE_ORDER, LIST_ORDERS, ORDER_INFO, TOKEN, with_query,
};
use wcheckout_domain::ports::OrderStore;

/// A path beside the order routes that is none of them.
const NO_SUCH_ROUTE: &str = "/checkout/order/nope";
const NUMBER_RULE: &str = "orderNo: must match ^[A-Za-z0-9_-]{1,64}$";

/// One app's authenticated session: a token fetched once, requests signed at fresh times.
struct Session<'a> {
    gw: &'a TestGateway,
    app: IssuedCredentials,
    token: String,
}

impl<'a> Session<'a> {
    async fn open(gw: &'a TestGateway) -> Session<'a> {
        let app = gw.create_app().await;
        let token = gw.token(&app).await;
        Session { gw, app, token }
    }

    /// Sends a correctly signed request; asserts the gateway did not fail (status < 500).
    async fn call(&self, method: &str, path_and_query: &str, body: &str) -> (u16, Value) {
        let (token, key) = (&self.token, &self.app.sign_key);
        let headers = self
            .gw
            .headers_now(token, key, method, path_and_query, body);
        let (status, _, answer) = self.gw.send(method, path_and_query, body, &headers).await;
        assert!(status < 500, "{method} {path_and_query}: {status} {answer}");
        (status, answer)
    }

    /// Creates the valid order (`good-1`) and asserts it was.
    async fn create_valid_order(&self) {
        let body = Value::Object(valid_order()).to_string();
        let (status, created) = self.call("POST", CREATE_ORDER, &body).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(retcode(&created), "200", "{created}");
    }

    /// The app's order count through a valid list call.
    async fn orders(&self) -> u64 {
        let (status, list) = self.call("POST", LIST_ORDERS, "{}").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(retcode(&list), "200", "{list}");
        list["retdata"]["total"].as_u64().unwrap()
    }

    /// Asserts an HTTP 200 envelope refusing with `code` and exactly `message`.
    async fn refused(
        &self,
        label: &str,
        method: &str,
        path_and_query: &str,
        body: &str,
        code: &str,
        message: &str,
    ) {
        let (status, answer) = self.call(method, path_and_query, body).await;
        assert_eq!(status, 200, "{label}: {answer}");
        assert_eq!(retcode(&answer), code, "{label}: {answer}");
        assert_eq!(answer["retmsg"], message, "{label}: {answer}");
        assert_eq!(answer["retdata"], Value::Null, "{label}: {answer}");
    }
}

/// A valid CreateCheckoutOrder body.
fn valid_order() -> Map<String, Value> {
    json!({
        "orderNo": "good-1",
        "orderAmount": 123.45,
        "customerId": "c-1",
        "merchantId": "m-1",
        "token": "ETH_USDT",
        "fiat": "USD",
        "expiredIn": 2000,
        "pcCallbackUrl": "https://shop.example/done",
        "appCallbackUrl": "https://shop.example/app",
    })
    .as_object()
    .unwrap()
    .clone()
}

/// The valid body with `field` set to `value`.
fn with(field: &str, value: Value) -> String {
    let mut body = valid_order();
    body.insert(field.to_owned(), value);
    Value::Object(body).to_string()
}

/// The valid body without `field`.
fn without(field: &str) -> String {
    let mut body = valid_order();
    body.remove(field);
    Value::Object(body).to_string()
}

/// The valid body with a raw JSON text in place of `field`'s value.
fn with_raw(field: &str, raw: &str) -> String {
    let marker = "\"__raw__\"";
    with(field, json!("__raw__")).replace(marker, raw)
}

async fn create_order_refusals(gw: TestGateway) {
    let session = Session::open(&gw).await;
    let invalid = "00001";
    let long_customer = "c".repeat(129);
    let cases: Vec<(&str, String, &str, String)> = vec![
        (
            "malformed JSON",
            r#"{"orderNo":"x","#.to_owned(),
            invalid,
            "request body: is not valid JSON (EOF while parsing a value)".into(),
        ),
        (
            "not JSON at all",
            "orderNo=x".to_owned(),
            invalid,
            "request body: is not valid JSON (expected value)".into(),
        ),
        (
            "empty body",
            String::new(),
            invalid,
            "request body: must be a JSON object".into(),
        ),
        (
            "whitespace body",
            "  \n".to_owned(),
            invalid,
            "request body: must be a JSON object".into(),
        ),
        (
            "JSON array",
            format!("[{}]", with("orderNo", json!("arr-1"))),
            invalid,
            "request body: must be a JSON object".into(),
        ),
        (
            "JSON null",
            "null".to_owned(),
            invalid,
            "request body: must be a JSON object".into(),
        ),
        (
            "trailing characters",
            format!("{}{{}}", with("orderNo", json!("trail-1"))),
            invalid,
            "request body: has trailing characters".into(),
        ),
        (
            "orderNo as a number",
            with("orderNo", json!(1_759_988_038_609_u64)),
            invalid,
            "orderNo: invalid type: integer `1759988038609`, expected a string".into(),
        ),
        (
            "orderAmount as a boolean",
            with("orderAmount", json!(true)),
            invalid,
            "orderAmount: is not a number (got true)".into(),
        ),
        (
            "orderAmount null",
            with("orderAmount", Value::Null),
            invalid,
            "orderAmount: is not a number (got null)".into(),
        ),
        (
            "expiredIn as a string",
            with("expiredIn", json!("60")),
            invalid,
            r#"expiredIn: invalid type: string "60", expected an integer"#.into(),
        ),
        (
            "expiredIn with a fraction",
            with("expiredIn", json!(60.5)),
            invalid,
            "expiredIn: invalid type: floating point `60.5`, expected an integer".into(),
        ),
        (
            "customerId as a number",
            with("customerId", json!(6)),
            invalid,
            "customerId: invalid type: integer `6`, expected a string".into(),
        ),
        (
            "missing orderNo",
            without("orderNo"),
            invalid,
            "orderNo: is required".into(),
        ),
        (
            "empty orderNo",
            with("orderNo", json!("")),
            invalid,
            "orderNo: is required".into(),
        ),
        (
            "missing customerId",
            without("customerId"),
            invalid,
            "customerId: is required".into(),
        ),
        (
            "empty customerId",
            with("customerId", json!("")),
            invalid,
            "customerId: is required".into(),
        ),
        (
            "missing orderAmount",
            without("orderAmount"),
            invalid,
            "orderAmount: is required".into(),
        ),
        (
            "missing token",
            without("token"),
            invalid,
            "token: is required".into(),
        ),
        (
            "empty token",
            with("token", json!("")),
            invalid,
            "token: is required".into(),
        ),
        (
            "orderAmount 0",
            with("orderAmount", json!(0)),
            invalid,
            "orderAmount: must be greater than 0".into(),
        ),
        (
            "orderAmount \"0.00\"",
            with("orderAmount", json!("0.00")),
            invalid,
            "orderAmount: must be greater than 0".into(),
        ),
        (
            "negative orderAmount",
            with("orderAmount", json!(-5)),
            invalid,
            "orderAmount: must not be negative (got -5)".into(),
        ),
        (
            "orderAmount above 1e12",
            with_raw("orderAmount", "1000000000000.01"),
            invalid,
            "orderAmount: must not exceed 1000000000000".into(),
        ),
        (
            "orderAmount with 19 decimals",
            with_raw("orderAmount", "0.0000000000000000001"),
            invalid,
            "orderAmount: must have at most 18 decimal places".into(),
        ),
        (
            // A number's digits past the 15th are float noise (rounded away before the
            // limits apply); a string's are not.
            "orderAmount \"1.1234567890123456789\"",
            with("orderAmount", json!("1.1234567890123456789")),
            invalid,
            "orderAmount: must have at most 18 decimal places".into(),
        ),
        (
            "orderAmount \"abc\"",
            with("orderAmount", json!("abc")),
            invalid,
            r#"orderAmount: is not a number (got "abc")"#.into(),
        ),
        (
            "orderAmount \"1,5\"",
            with("orderAmount", json!("1,5")),
            invalid,
            r#"orderAmount: is not a number (got "1,5")"#.into(),
        ),
        (
            "expiredIn 59",
            with("expiredIn", json!(59)),
            invalid,
            "expiredIn: must be between 60 and 604800 seconds".into(),
        ),
        (
            "expiredIn 604801",
            with("expiredIn", json!(604_801)),
            invalid,
            "expiredIn: must be between 60 and 604800 seconds".into(),
        ),
        (
            "negative expiredIn",
            with("expiredIn", json!(-60)),
            invalid,
            "expiredIn: must be between 60 and 604800 seconds".into(),
        ),
        (
            "fiat EUR",
            with("fiat", json!("EUR")),
            invalid,
            "fiat: only USD is supported".into(),
        ),
        (
            "unknown token",
            with("token", json!("ETH_DAI")),
            invalid,
            "token: 'ETH_DAI' is not a supported token".into(),
        ),
        (
            "lower-case token",
            with("token", json!("eth_usdt")),
            invalid,
            "token: 'eth_usdt' is not a supported token".into(),
        ),
        (
            "orderNo with a space",
            with("orderNo", json!("bad no")),
            "00008",
            NUMBER_RULE.into(),
        ),
        (
            "orderNo in Chinese",
            with("orderNo", json!("订单")),
            "00008",
            NUMBER_RULE.into(),
        ),
        (
            "orderNo of 65 characters",
            with("orderNo", json!("a".repeat(65))),
            "00008",
            NUMBER_RULE.into(),
        ),
        (
            "customerId of 129 characters",
            with("customerId", json!(long_customer)),
            invalid,
            "customerId: must be at most 128 characters".into(),
        ),
        (
            "customerId with a control character",
            with("customerId", json!("c\u{7}1")),
            invalid,
            "customerId: must not contain control characters".into(),
        ),
        (
            "merchantId of 129 characters",
            with("merchantId", json!("m".repeat(129))),
            invalid,
            "merchantId: must be at most 128 characters".into(),
        ),
        (
            "pcCallbackUrl ftp",
            with("pcCallbackUrl", json!("ftp://x")),
            invalid,
            "pcCallbackUrl: must be an http(s) URL of at most 2048 characters".into(),
        ),
        (
            "appCallbackUrl javascript",
            with("appCallbackUrl", json!("javascript:alert(1)")),
            invalid,
            "appCallbackUrl: must be an http(s) URL of at most 2048 characters".into(),
        ),
        (
            "pcCallbackUrl too long",
            with(
                "pcCallbackUrl",
                json!(format!("https://x.example/{}", "p".repeat(2040))),
            ),
            invalid,
            "pcCallbackUrl: must be an http(s) URL of at most 2048 characters".into(),
        ),
    ];
    for (label, body, code, message) in &cases {
        session
            .refused(label, "POST", CREATE_ORDER, body, code, message)
            .await;
        assert_eq!(session.orders().await, 0, "{label} created nothing");
    }
    // The valid body itself is accepted: each case above broke exactly one rule.
    session.create_valid_order().await;
    assert_eq!(session.orders().await, 1);
}

async fn disabled_token_is_refused(gw: TestGateway) {
    let db = gw.db;
    drop(gw);
    let gw = TestGateway::start_with(db, |c| {
        c.tokens.get_mut("ETH_USDC").unwrap().enabled = false;
    })
    .await
    .unwrap();
    let session = Session::open(&gw).await;
    session
        .refused(
            "disabled token",
            "POST",
            CREATE_ORDER,
            &with("token", json!("ETH_USDC")),
            "00001",
            "token: 'ETH_USDC' is disabled on this gateway",
        )
        .await;
    assert_eq!(session.orders().await, 0);
    let (_, created) = session
        .call("POST", CREATE_ORDER, &with("orderNo", json!("usdt-1")))
        .await;
    assert_eq!(retcode(&created), "200", "{created}");
    assert_eq!(session.orders().await, 1);
}

async fn body_limit(gw: TestGateway) {
    let session = Session::open(&gw).await;
    const LIMIT: usize = 64 * 1024;
    // A valid order padded with an ignored field to an exact size.
    let padded = |order_no: &str, size: usize| {
        let base = with("orderNo", json!(order_no));
        let base = base.trim_end_matches('}');
        let prefix = format!("{base},\"note\":\"");
        let fill = size - prefix.len() - 2;
        let body = format!("{prefix}{}\"}}", "x".repeat(fill));
        assert_eq!(body.len(), size);
        body
    };
    session
        .refused(
            "64 KiB + 1",
            "POST",
            CREATE_ORDER,
            &padded("big-1", LIMIT + 1),
            "00001",
            "request body: must not exceed 64 KiB",
        )
        .await;
    session
        .refused(
            "list, 64 KiB + 1",
            "POST",
            LIST_ORDERS,
            &format!("{{\"pad\":\"{}\"}}", "x".repeat(LIMIT)),
            "00001",
            "request body: must not exceed 64 KiB",
        )
        .await;
    assert_eq!(session.orders().await, 0);
    let (status, created) = session
        .call("POST", CREATE_ORDER, &padded("big-2", LIMIT))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        retcode(&created),
        "200",
        "exactly 64 KiB is accepted: {created}"
    );
    assert_eq!(session.orders().await, 1);
}

async fn unknown_routes_and_methods(gw: TestGateway) {
    let session = Session::open(&gw).await;
    for (method, path) in [
        ("GET", NO_SUCH_ROUTE),
        ("POST", "/checkout/orders/create"),
        ("GET", "/nope"),
    ] {
        let (status, answer) = session.call(method, path, "").await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(retcode(&answer), "00404", "{answer}");
        assert_eq!(answer["retmsg"], format!("no route for {method} {path}"));
        assert_eq!(answer["retdata"], Value::Null);
    }
    for (method, path) in [
        ("GET", CREATE_ORDER),
        ("PUT", CREATE_ORDER),
        ("GET", LIST_ORDERS),
        ("POST", ORDER_INFO),
        ("DELETE", CANCEL_ORDER),
        ("GET", TOKEN),
    ] {
        let (status, answer) = session.call(method, path, "").await;
        assert_eq!(status, 405, "{method} {path}: {answer}");
        assert_eq!(retcode(&answer), "00001", "{answer}");
        assert_eq!(
            answer["retmsg"],
            format!("{method} is not allowed on {path}")
        );
        assert_eq!(answer["retdata"], Value::Null);
    }
    // Unauthenticated, the same answers.
    let (status, _, answer) = gw.send("GET", CREATE_ORDER, "", &[]).await;
    assert_eq!(status, 405, "{answer}");
    let (status, _, answer) = gw.send("GET", NO_SUCH_ROUTE, "", &[]).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(session.orders().await, 0);
}

async fn bad_pagination(gw: TestGateway) {
    let session = Session::open(&gw).await;
    session.create_valid_order().await;
    let cases = [
        (r#"{"pageNum":0}"#, "pageNum: must be at least 1"),
        (r#"{"page":0}"#, "pageNum: must be at least 1"),
        (r#"{"pageSize":0}"#, "pageSize: must be between 1 and 100"),
        (r#"{"pageSize":101}"#, "pageSize: must be between 1 and 100"),
        (r#"{"size":101}"#, "pageSize: must be between 1 and 100"),
        (
            r#"{"pageNum":-1}"#,
            "pageNum: invalid value: integer `-1`, expected an integer from 0 to 4294967295",
        ),
        (
            r#"{"pageSize":"ten"}"#,
            r#"pageSize: invalid type: string "ten", expected an integer from 0 to 4294967295"#,
        ),
        (
            r#"{"orderStatus":"LOST"}"#,
            "orderStatus: 'LOST' is not an order status",
        ),
        ("[]", "request body: must be a JSON object"),
        (
            r#"{"pageNum":"#,
            "request body: is not valid JSON (EOF while parsing a value)",
        ),
    ];
    for (body, message) in cases {
        session
            .refused(body, "POST", LIST_ORDERS, body, "00001", message)
            .await;
    }
    let (_, page) = session
        .call("POST", LIST_ORDERS, r#"{"pageNum":1,"pageSize":100}"#)
        .await;
    assert_eq!(retcode(&page), "200", "{page}");
    assert_eq!(page["retdata"]["pageSize"], 100);
    assert_eq!(session.orders().await, 1);
}

async fn bad_order_numbers_in_queries(gw: TestGateway) {
    let session = Session::open(&gw).await;
    session.create_valid_order().await;
    for route in [ORDER_INFO, CANCEL_ORDER] {
        let cases = [
            (route.to_owned(), "00001", "orderNo: is required"),
            (format!("{route}?orderNo="), "00001", "orderNo: is required"),
            (
                format!("{route}?order_no=good-1"),
                "00001",
                "orderNo: is required",
            ),
            (format!("{route}?orderNo=bad%20no"), "00008", NUMBER_RULE),
            (
                format!("{route}?orderNo=%E8%AE%A2%E5%8D%95"),
                "00008",
                NUMBER_RULE,
            ),
            (
                format!("{route}?orderNo={}", "a".repeat(65)),
                "00008",
                NUMBER_RULE,
            ),
            (
                format!("{route}?orderNo=nope"),
                "00404",
                "order 'nope' not found",
            ),
        ];
        for (path_and_query, code, message) in cases {
            session
                .refused(&path_and_query, "GET", &path_and_query, "", code, message)
                .await;
        }
    }
    // The order is untouched by all of it.
    let (_, info) = session
        .call("GET", &with_query(ORDER_INFO, "orderNo", "good-1"), "")
        .await;
    assert_eq!(info["retdata"]["orderStatus"], "PAYING", "{info}");
    assert_eq!(session.orders().await, 1);
}

/// `""` for `pcCallbackUrl`/`appCallbackUrl` means absent: no return address is kept, and the
/// same order sent again without them, or with `null`, is the same order, not a conflict.
async fn empty_callback_urls_are_absent(gw: TestGateway) {
    let session = Session::open(&gw).await;
    let order = |pc: Option<Value>, app: Option<Value>| {
        let mut body = valid_order();
        body.insert("orderNo".into(), json!("cb-empty"));
        body.remove("pcCallbackUrl");
        body.remove("appCallbackUrl");
        if let Some(pc) = pc {
            body.insert("pcCallbackUrl".into(), pc);
        }
        if let Some(app) = app {
            body.insert("appCallbackUrl".into(), app);
        }
        Value::Object(body).to_string()
    };
    let (status, first) = session
        .call(
            "POST",
            CREATE_ORDER,
            &order(Some(json!("")), Some(json!(""))),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(retcode(&first), "200", "{first}");
    let app_id = wcheckout_domain::ids::AppId::new(session.app.app_id.clone());
    let number = wcheckout_domain::ids::IntegratorNo::parse("cb-empty").unwrap();
    let stored = gw
        .store
        .order_by_no(&app_id, &number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.pc_callback_url, None);
    assert_eq!(stored.app_callback_url, None);
    for (label, body) in [
        ("absent", order(None, None)),
        ("null", order(Some(Value::Null), Some(Value::Null))),
        ("one empty, one absent", order(Some(json!("")), None)),
    ] {
        let (_, again) = session.call("POST", CREATE_ORDER, &body).await;
        assert_eq!(retcode(&again), "200", "{label}: {again}");
        assert_eq!(
            again["retdata"]["sysid"], first["retdata"]["sysid"],
            "{label}"
        );
    }
    let (_, changed) = session
        .call(
            "POST",
            CREATE_ORDER,
            &order(Some(json!("https://shop.example/done")), None),
        )
        .await;
    assert_eq!(
        retcode(&changed),
        "00409",
        "a real URL is other content: {changed}"
    );
    assert_eq!(session.orders().await, 1);
}

/// The Prometheus recorder, installed once for this test binary as `serve` installs it.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
        .clone()
}

/// The values a label takes in Prometheus text.
fn label_values<'t>(text: &'t str, label: &str) -> std::collections::BTreeSet<&'t str> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|line| line.starts_with("wcheckout_http_"))
        .filter_map(|line| {
            let start = line.find(&key)? + key.len();
            line[start..].split('"').next()
        })
        .collect()
}

/// Made-up methods and paths do not become labels: `/metrics` stays the same size however
/// many of them clients send.
async fn metrics_labels_stay_bounded(gw: TestGateway) {
    // The harness serves without metrics; serve the same gateway again with them.
    let state = wcheckout_http::AppState {
        gateway: Arc::clone(&gw.gateway),
        trusted_proxies: Arc::new(Vec::new()),
        metrics: Some(prometheus()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = wcheckout_http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let info = with_query(ORDER_INFO, "orderNo", "x");
    let known_paths = [CREATE_ORDER, info.as_str(), "/pay/abc", "/health"];
    for i in 0..2_000 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            format!("/made-up/{i}?q={i}")
        } else {
            known_paths[i % known_paths.len()].to_owned()
        };
        let response = gw
            .http
            .request(method, format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(matches!(status, 404 | 405), "MADEUP{i} {path}: {status}");
    }
    let text = gw
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let methods = label_values(&text, "method");
    assert!(methods.contains("other"), "{methods:?}");
    let standard = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    assert!(methods.iter().all(|m| standard.contains(m)), "{methods:?}");
    let routes = label_values(&text, "route");
    assert!(routes.contains("unmatched"), "{routes:?}");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("made-up") && !r.contains("abc")),
        "{routes:?}"
    );
    // Every test of this binary records here; 2,000 label sets would be megabytes.
    assert!(text.len() < 256 * 1024, "/metrics is {} bytes", text.len());
    eprintln!("/metrics: {} bytes, methods {methods:?}", text.len());
    server.abort();
}

on_both_engines!(
    create_order_refusals,
    disabled_token_is_refused,
    body_limit,
    unknown_routes_and_methods,
    bad_pagination,
    bad_order_numbers_in_queries,
    metrics_labels_stay_bounded,
    empty_callback_urls_are_absent,
);
