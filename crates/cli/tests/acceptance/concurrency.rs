//! Concurrent creation: distinct numbers get distinct deposit addresses, a repeated number
//! yields one order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::{Db, TestGateway, retcode, signed_headers_at};
use serde_json::json;
use wcheckout_app::clock::SystemClock;
use wcheckout_domain::ports::Clock;

fn body(order_no: &str) -> String {
    json!({"orderNo": order_no, "orderAmount": 25, "customerId": "c", "token": "ETH_USDT"})
        .to_string()
}

async fn distinct_numbers_get_distinct_addresses(gw: TestGateway) {
    let app = gw.create_app().await;
    let client = Arc::new(gw.client(&app));
    let tasks = (0..200).map(|i| {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            client
                .post("/checkout/order/create", &body(&format!("c{i}")))
                .await
                .unwrap()
        })
    });
    let mut addresses = HashSet::new();
    let mut sysids = HashSet::new();
    for task in tasks.collect::<Vec<_>>() {
        let response = task.await.unwrap();
        assert_eq!(response.retcode(), "200", "{}", response.body);
        addresses.insert(
            response.retdata()["depositAddress"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        sysids.insert(response.retdata()["sysid"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        addresses.len(),
        200,
        "every order has its own deposit address"
    );
    assert_eq!(sysids.len(), 200);
    let list = gw
        .signed(&app, "POST", "/checkout/order/list", r#"{"pageSize":1}"#)
        .await;
    assert_eq!(list["retdata"]["total"], 200);
}

async fn a_repeated_number_yields_one_order(gw: TestGateway) {
    let app = gw.create_app().await;
    let token = gw.token(&app).await;
    let gw = Arc::new(gw);
    let now = SystemClock.now().millis();
    // Each retry is its own request: its own timestamp, so its own signature (an identical
    // signature would rightly be refused as a replay).
    let tasks = (0..20).map(|i| {
        let gw = Arc::clone(&gw);
        let timestamp = (now - i).to_string();
        let headers = signed_headers_at(
            &token,
            &app.sign_key,
            "POST",
            "/checkout/order/create",
            &body("once"),
            &timestamp,
        );
        tokio::spawn(async move {
            gw.send("POST", "/checkout/order/create", &body("once"), &headers)
                .await
                .2
        })
    });
    let mut sysids = HashSet::new();
    for task in tasks.collect::<Vec<_>>() {
        let response = task.await.unwrap();
        assert_eq!(retcode(&response), "200", "{response}");
        sysids.insert(response["retdata"]["sysid"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        sysids.len(),
        1,
        "20 concurrent creations of one number give one order"
    );
    let list = gw.signed(&app, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&list), "200");
    assert_eq!(list["retdata"]["total"], 1);
}

on_both_engines!(
    distinct_numbers_get_distinct_addresses,
    a_repeated_number_yields_one_order
);
