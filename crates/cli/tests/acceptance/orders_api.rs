//! Every order endpoint through real HTTP against a running gateway, on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::receiver::{Receiver, Reply, always};
use crate::common::{Db, TestGateway, retcode};
use serde_json::{Value, json};

fn create_body(order_no: &str) -> String {
    json!({
        "orderNo": order_no,
        "orderAmount": 123.45,
        "customerId": "c1234445544",
        "merchantId": "m0099e34345",
        "token": "ETH_USDT",
        "fiat": "USD",
        "expiredIn": 2000
    })
    .to_string()
}

async fn create_info_cancel_list(gw: TestGateway) {
    let app = gw.create_app().await;
    let created = gw.create_order(&app, create_body("o456463453458")).await;
    assert_eq!(retcode(&created), "200", "{created}");
    let order = &created["retdata"];
    assert!(order["sysid"].as_str().unwrap().starts_with("OR"));
    assert_eq!(order["orderNo"], "o456463453458");
    assert_eq!(order["payingAmount"].to_string(), "123.45");
    assert_eq!(order["orderAmount"].to_string(), "123.45");
    assert_eq!(order["exchangeRate"].to_string(), "1");
    assert_eq!(order["orderStatus"], "PAYING");
    assert_eq!(order["expiredIn"], 2000);
    assert_eq!(
        order["coinAddress"],
        "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    );
    assert_eq!(order["merchantId"], "m0099e34345");
    assert_eq!(order["customerId"], "c1234445544");
    assert!(
        order["paymentUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/pay/", gw.base_url))
    );
    assert!(order["depositAddress"].as_str().unwrap().starts_with("0x"));
    assert_eq!(order["txHash"], Value::Null);

    let info = gw.order_info(&app, "o456463453458").await;
    assert_eq!(retcode(&info), "200");
    assert_eq!(info["retdata"]["depositAddress"], order["depositAddress"]);
    assert_eq!(info["retdata"]["sysid"], order["sysid"]);

    let list = gw.list_orders(&app, "{}").await;
    assert_eq!(list["retdata"]["total"], 1);
    assert_eq!(list["retdata"]["pageNo"], 1);
    assert_eq!(list["retdata"]["pageSize"], 10);
    assert_eq!(list["retdata"]["records"][0]["orderNo"], "o456463453458");

    let cancelled = gw.cancel_order(&app, "o456463453458").await;
    assert_eq!(retcode(&cancelled), "200", "{cancelled}");
    assert_eq!(cancelled["retdata"]["orderStatus"], "CANCELLED");
    assert_eq!(cancelled["retdata"]["expiredIn"], 0);
    let again = gw.cancel_order(&app, "o456463453458").await;
    assert_eq!(retcode(&again), "200", "cancelling twice is harmless");
    let info = gw.order_info(&app, "o456463453458").await;
    assert_eq!(info["retdata"]["orderStatus"], "CANCELLED");

    let missing = gw.order_info(&app, "nope").await;
    assert_eq!(retcode(&missing), "00404");
    let missing = gw.cancel_order(&app, "nope").await;
    assert_eq!(retcode(&missing), "00404");
}

async fn idempotent_creation(gw: TestGateway) {
    let app = gw.create_app().await;
    let first = gw.create_order(&app, create_body("same-1")).await;
    let second = gw.create_order(&app, create_body("same-1")).await;
    assert_eq!(retcode(&second), "200");
    assert_eq!(first["retdata"]["sysid"], second["retdata"]["sysid"]);
    assert_eq!(
        first["retdata"]["depositAddress"],
        second["retdata"]["depositAddress"]
    );
    let changed = create_body("same-1").replace("123.45", "123.46");
    let conflict = gw.create_order(&app, &changed).await;
    assert_eq!(retcode(&conflict), "00409", "{conflict}");
    assert!(conflict["retmsg"].as_str().unwrap().contains("same-1"));
    // Another app may use the same number: numbers are per app.
    let other = gw.create_app().await;
    let theirs = gw.create_order(&other, create_body("same-1")).await;
    assert_eq!(retcode(&theirs), "200");
    assert_ne!(theirs["retdata"]["sysid"], first["retdata"]["sysid"]);
    // And neither app sees the other's order.
    let list = gw.list_orders(&other, "{}").await;
    assert_eq!(list["retdata"]["total"], 1);
}

async fn list_filters_and_pages(gw: TestGateway) {
    let app = gw.create_app().await;
    for i in 0..12 {
        let body = json!({
            "orderNo": format!("L{i:02}"),
            "orderAmount": "10",
            "customerId": if i % 2 == 0 { "even" } else { "odd" },
            "merchantId": if i < 4 { "m1" } else { "" },
            "token": if i % 3 == 0 { "ETH_USDC" } else { "ETH_USDT" },
        });
        let created = gw.create_order(&app, &body).await;
        assert_eq!(retcode(&created), "200", "{created}");
    }
    gw.cancel_order(&app, "L05").await;
    let count = |filter: Value| {
        let gw = &gw;
        let app = &app;
        async move {
            let page = gw.list_orders(app, filter).await;
            assert_eq!(retcode(&page), "200", "{page}");
            page["retdata"]["total"].as_u64().unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 12);
    assert_eq!(count(json!({"customerId": "even"})).await, 6);
    assert_eq!(count(json!({"merchantId": "m1"})).await, 4);
    assert_eq!(count(json!({"merchantId": "default"})).await, 8);
    assert_eq!(count(json!({"token": "ETH_USDC"})).await, 4);
    assert_eq!(count(json!({"orderStatus": "CANCELLED"})).await, 1);
    assert_eq!(count(json!({"orderNo": "L07"})).await, 1);
    assert_eq!(
        count(json!({"startTime": "2000-01-01 00:00:00", "endTime": 4102444800000i64})).await,
        12
    );
    assert_eq!(count(json!({"endTime": "2000-01-01T00:00:00"})).await, 0);

    let page = gw.list_orders(&app, r#"{"pageNum":2,"pageSize":5}"#).await;
    let records = page["retdata"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0]["orderNo"], "L06", "newest first");
    assert_eq!(page["retdata"]["pageNo"], 2);
    let last = gw.list_orders(&app, r#"{"page":3,"size":5}"#).await;
    assert_eq!(last["retdata"]["records"].as_array().unwrap().len(), 2);
    let bad = gw.list_orders(&app, r#"{"pageSize":101}"#).await;
    assert_eq!(retcode(&bad), "00001");
    let bad = gw.list_orders(&app, r#"{"orderStatus":"LOST"}"#).await;
    assert_eq!(retcode(&bad), "00001");
    let bad = gw.list_orders(&app, r#"{"startTime":"yesterday"}"#).await;
    assert_eq!(retcode(&bad), "00001");
}

async fn amounts_are_exact(gw: TestGateway) {
    let app = gw.create_app().await;
    let body =
        r#"{"orderNo":"f1","orderAmount":0.30000000000000004,"customerId":"6","token":"ETH_USDT"}"#;
    let created = gw.create_order(&app, body).await;
    let order = &created["retdata"];
    assert_eq!(order["orderAmount"].to_string(), "0.30000000000000004");
    assert_eq!(
        order["payingAmount"].to_string(),
        "0.3",
        "0.1 + 0.2 in floating point prices as 0.3"
    );
    assert_eq!(order["merchantId"], "default");
    assert_eq!(order["expiredIn"], 1800);
    let client = gw.client(&app);
    let raw = client.order_info("f1").await.unwrap();
    assert!(
        raw.body.contains(r#""orderAmount":0.30000000000000004"#),
        "{}",
        raw.body
    );
    assert!(raw.body.contains(r#""payingAmount":0.30"#), "{}", raw.body);
    let body = r#"{"orderNo":"f2","orderAmount":"1000000000000","customerId":"6","token":"ETH_USDT","expiredIn":null}"#;
    let created = gw.create_order_text(&app, body).await;
    assert!(
        created.body.contains(r#""payingAmount":1000000000000.00"#),
        "{}",
        created.body
    );
    let body = r#"{"orderNo":"f3","orderAmount":1.123456789012345678,"customerId":"6","token":"ETH_USDT","expiredIn":0}"#;
    let created = gw.create_order(&app, body).await;
    let raw = client.order_info("f3").await.unwrap();
    assert!(
        raw.body.contains(r#""orderAmount":1.123456789012345678"#),
        "{}",
        raw.body
    );
    assert_eq!(created["retdata"]["payingAmount"].to_string(), "1.13");
}

/// Float noise in a JSON number is not charged to the payer; the number is echoed as sent in
/// every answer and in the webhook. A numeric string is priced exactly as written.
async fn float_noise_is_not_charged(gw: TestGateway) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let app = gw
        .admin
        .create("Float shop", Some(&receiver.url("/hook")), &[])
        .await
        .unwrap();
    let client = gw.client(&app);
    // 1999 × 0.01 computed in binary floating point.
    let body = r#"{"orderNo":"float-1","orderAmount":19.990000000000002,"customerId":"6","token":"ETH_USDT"}"#;
    let created = gw.create_order_text(&app, body).await;
    assert_eq!(created.retcode(), "200", "{}", created.body);
    let echoes = |text: &str| {
        text.contains(r#""orderAmount":19.990000000000002,"#)
            && text.contains(r#""payingAmount":19.99,"#)
    };
    assert!(echoes(&created.body), "{}", created.body);
    let info = client.order_info("float-1").await.unwrap();
    assert!(echoes(&info.body), "{}", info.body);
    let listed = client
        .list_orders(&json!({"orderNo": "float-1"}))
        .await
        .unwrap();
    assert!(echoes(&listed.body), "{}", listed.body);
    // The same bytes again are the same order.
    let again = gw.create_order_text(&app, body).await;
    assert_eq!(again.retdata()["sysid"], created.retdata()["sysid"]);
    let cancelled = client.cancel_order("float-1").await.unwrap();
    assert!(echoes(&cancelled.body), "{}", cancelled.body);
    let hook = receiver
        .wait_for(Duration::from_secs(20), "the CANCELLED event", |log| {
            log.iter()
                .find(|d| d.json()["data"]["orderStatus"] == "CANCELLED")
                .cloned()
        })
        .await;
    let hook_body = String::from_utf8(hook.body.to_vec()).unwrap();
    assert!(echoes(&hook_body), "{hook_body}");

    // A string is text written on purpose: priced exactly, rounded up to the payment scale.
    let body = r#"{"orderNo":"float-2","orderAmount":"19.990000000000002","customerId":"6","token":"ETH_USDT"}"#;
    let created = gw.create_order_text(&app, body).await;
    assert!(
        created
            .body
            .contains(r#""orderAmount":19.990000000000002,"#)
            && created.body.contains(r#""payingAmount":20.00,"#),
        "{}",
        created.body
    );
    // The limits apply to the priced amount: noise does not push it over 1e12.
    let body = r#"{"orderNo":"float-3","orderAmount":1000000000000.0000002,"customerId":"6","token":"ETH_USDT"}"#;
    let created = gw.create_order_text(&app, body).await;
    assert_eq!(created.retcode(), "200", "{}", created.body);
    assert!(
        created.body.contains(r#""payingAmount":1000000000000.00,"#),
        "{}",
        created.body
    );
    let body = r#"{"orderNo":"float-4","orderAmount":1000000000000.01,"customerId":"6","token":"ETH_USDT"}"#;
    let refused = gw.create_order_text(&app, body).await;
    assert_eq!(refused.retcode(), "00001", "{}", refused.body);
}

on_both_engines!(
    create_info_cancel_list,
    idempotent_creation,
    list_filters_and_pages,
    amounts_are_exact,
    float_noise_is_not_charged
);
