//! The payment page's routes over plain HTTP, on both engines: what they show, what they refuse,
//! and that nothing about another order, another app or any secret can be read through them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{Db, TestGateway};
use serde_json::{Value, json};
use wcheckout_app::admin::{AppChanges, IssuedCredentials};

/// A 1×1 PNG.
const PNG_LOGO: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(gw: &TestGateway, path: &str, accept_language: Option<&str>) -> Page {
    let mut request = gw.http.get(format!("{}{path}", gw.base_url));
    if let Some(language) = accept_language {
        request = request.header("accept-language", language);
    }
    let response = request.send().await.unwrap();
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

async fn create(gw: &TestGateway, app: &IssuedCredentials, order_no: &str) -> Value {
    let body = json!({
        "orderNo": order_no, "orderAmount": "20", "token": "ETH_USDT",
        "customerId": "customer-secret-77", "merchantId": "merchant-hidden-42"
    });
    gw.created_order(app, body).await
}

fn page_token(order: &Value) -> String {
    let url = order["paymentUrl"].as_str().unwrap();
    url.rsplit('/').next().unwrap().to_owned()
}

async fn page_shows_this_order_and_nothing_else(db: Db) {
    let Some(gw) = TestGateway::start(db).await else {
        return;
    };
    let app = gw.create_app().await;
    let other_app = gw.create_app().await;
    gw.update_app(
        &app.app_id,
        AppChanges {
            display_name: Some("Acme <Books> & Co".into()),
            logo_url: Some(PNG_LOGO.into()),
            theme_color: Some("#0f766e".into()),
            ..AppChanges::default()
        },
    )
    .await;
    let order = create(&gw, &app, "mine-1").await;
    let other = create(&gw, &other_app, "theirs-1").await;
    let token = page_token(&order);
    assert_eq!(token.len(), 43, "32 random bytes");

    let page = get(&gw, &format!("/pay/{token}"), None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(order["depositAddress"].as_str().unwrap())
    );
    assert!(
        page.body.contains("Pay Acme &lt;Books&gt; &amp; Co"),
        "escaped name"
    );
    assert!(page.body.contains("mine-1"));
    for hidden in [
        "customer-secret-77",
        "merchant-hidden-42",
        &app.app_id,
        &app.api_key,
        &app.sign_key,
        &app.api_secret,
        other["depositAddress"].as_str().unwrap(),
        "theirs-1",
        other["sysid"].as_str().unwrap(),
        order["sysid"].as_str().unwrap(),
    ] {
        assert!(!page.body.contains(hidden), "the page shows {hidden}");
    }
    let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let policy = header("content-security-policy");
    assert!(
        policy.starts_with("default-src 'none'; script-src 'self';"),
        "{policy}"
    );
    assert!(policy.contains("connect-src 'self'"), "{policy}");

    // Every asset comes from this server.
    for reference in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!page.body.contains(reference), "external asset {reference}");
    }
    for path in [
        format!("/pay/{token}/logo"),
        format!("/pay/{token}/qr.svg"),
        format!("/pay/{token}/status"),
    ] {
        assert_eq!(get(&gw, &path, None).await.status, 200, "{path}");
    }
    let script = page.body.split("src=\"/pay/static/page.js").count();
    assert_eq!(script, 2, "one script, served here");

    // The status the page polls holds only what a payer needs.
    let status: Value =
        serde_json::from_str(&get(&gw, &format!("/pay/{token}/status"), None).await.body).unwrap();
    assert_eq!(status["retcode"], "200");
    let mut keys = status["retdata"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    keys.sort();
    assert_eq!(
        keys,
        [
            "confirmations",
            "expiresIn",
            "paid",
            "received",
            "refunded",
            "remaining",
            "remainingUnits",
            "requiredConfirmations",
            "state",
            "txHash",
            "txUrl",
            "unconfirmed"
        ]
    );
    assert_eq!(status["retdata"]["state"], "waiting");
    assert_eq!(status["retdata"]["remainingUnits"], "20000000");

    // The logo is this app's, and an SVG could not run scripts.
    let logo = get(&gw, &format!("/pay/{token}/logo"), None).await;
    assert_eq!(logo.headers["content-type"], "image/png");
    assert!(
        logo.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let other_logo = get(&gw, &format!("/pay/{}/logo", page_token(&other)), None).await;
    assert_eq!(other_logo.status, 404, "the other app has no logo");
    assert!(other_logo.body.contains("00404"), "{}", other_logo.body);
}

async fn other_identifiers_find_nothing(db: Db) {
    let Some(gw) = TestGateway::start(db).await else {
        return;
    };
    let app = gw.create_app().await;
    let order = create(&gw, &app, "guess-me").await;
    let token = page_token(&order);
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let sysid = order["sysid"].as_str().unwrap().to_owned();
    let address = order["depositAddress"].as_str().unwrap().to_owned();
    let guesses = [
        "guess-me".to_owned(),
        sysid,
        address,
        altered,
        token.to_uppercase(),
        "A".repeat(43),
        format!("{token}%00"),
        "..%2F..%2Fcheckout%2Forder%2Finfo".to_owned(),
        "%27%20or%201%3D1%20--%20aaaaaaaaaaaaaaaaaaaaaa".to_owned(),
    ];
    for guess in &guesses {
        let page = get(&gw, &format!("/pay/{guess}"), None).await;
        assert_eq!(page.status, 404, "{guess}");
        assert!(page.body.contains("Payment page not found"), "{guess}");
        assert!(!page.body.contains("guess-me"), "{guess}");
        for part in ["status", "qr.svg", "logo"] {
            let page = get(&gw, &format!("/pay/{guess}/{part}"), None).await;
            assert_eq!(page.status, 404, "{guess}/{part}");
            assert_eq!(page.headers["content-type"], "application/json");
            let body: Value = serde_json::from_str(&page.body)
                .unwrap_or_else(|_| panic!("{guess}/{part}: {}", page.body));
            assert_eq!(body["retcode"], "00404", "{guess}/{part}");
            assert!(body["retdata"].is_null(), "{guess}/{part}");
        }
        let (status, body) = post_wallet_transaction(&gw, guess).await;
        assert_eq!(status, 404, "{guess}: {body}");
        assert_eq!(
            body,
            json!({"retcode": "00404", "retdata": null, "retmsg": "payment page not found"}),
            "{guess}"
        );
    }
    // An EVM order's page builds no Solana wallet transaction.
    let (status, body) = post_wallet_transaction(&gw, &token).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["retmsg"],
        "this order's chain has no wallet transaction"
    );
    // The page's routes take no credentials and offer nothing else.
    for path in [
        format!("/pay/{token}/../../checkout/order/info?orderNo=guess-me"),
        format!("/pay/{token}/status/../../../checkout/order/list"),
        format!("/pay/{token}/anything"),
    ] {
        let page = get(&gw, &path, None).await;
        assert!(!page.body.contains("guess-me"), "{path}: {}", page.body);
        let refused = serde_json::from_str::<Value>(&page.body)
            .is_ok_and(|body| body["retcode"] != "200" && body["retdata"].is_null());
        assert!(refused, "{path}: {} {}", page.status, page.body);
    }
}

/// POSTs a valid Solana account to the Solana wallet transaction route of `token`.
async fn post_wallet_transaction(gw: &TestGateway, token: &str) -> (u16, Value) {
    let response = gw
        .http
        .post(format!("{}/pay/{token}/solana/transaction", gw.base_url))
        .json(&json!({"account": "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn language_follows_the_browser_unless_the_link_says(db: Db) {
    let Some(gw) = TestGateway::start(db).await else {
        return;
    };
    let app = gw.create_app().await;
    let token = page_token(&create(&gw, &app, "lang").await);
    let path = format!("/pay/{token}");
    let chinese = get(&gw, &path, Some("zh-CN,zh;q=0.9,en;q=0.8")).await;
    assert!(chinese.body.contains("<html lang=\"zh-CN\">"));
    assert!(chinese.body.contains("等待付款"));
    let english = get(&gw, &format!("{path}?lang=en"), Some("zh-CN")).await;
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english.body.contains("Waiting for your payment"));
    let missing = get(&gw, "/pay/nothing-here-at-all-1234567890", Some("zh")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("未找到支付页面"));
}

/// A float-computing client's `1999 × 0.01`: the payer reads the price it meant.
async fn the_price_shows_without_float_noise(db: Db) {
    let Some(gw) = TestGateway::start(db).await else {
        return;
    };
    let app = gw.create_app().await;
    let body = r#"{"orderNo":"noisy-1","orderAmount":19.990000000000002,"customerId":"c","token":"ETH_USDT"}"#;
    let created = gw.create_order_text(&app, body).await;
    assert_eq!(created.retcode(), "200", "{}", created.body);
    assert!(
        created.body.contains(r#""orderAmount":19.990000000000002"#),
        "{}",
        created.body
    );
    let page = get(
        &gw,
        &format!("/pay/{}", page_token(created.retdata())),
        None,
    )
    .await;
    assert!(
        page.body.contains(r#"id="order-amount">19.99 USD<"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("19.990000000000002"));
}

on_both_engines_with_db!(
    the_price_shows_without_float_noise,
    page_shows_this_order_and_nothing_else,
    other_identifiers_find_nothing,
    language_follows_the_browser_unless_the_link_says,
);
