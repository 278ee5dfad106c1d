//! Concurrent creation: distinct numbers get distinct deposit addresses, a repeated number
//! yields one order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use crate::common::{Db, TestGateway, retcode, sysids_of};
use serde_json::{Value, json};
use wcheckout_client::routes::CREATE_ORDER;

fn body(order_no: &str) -> Value {
    json!({"orderNo": order_no, "orderAmount": 25, "customerId": "c", "token": "ETH_USDT"})
}

async fn distinct_numbers_get_distinct_addresses(gw: TestGateway) {
    let app = gw.create_app().await;
    let client = Arc::new(gw.client(&app));
    let tasks = (0..200).map(|i| {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.create_order(&body(&format!("c{i}"))).await.unwrap() })
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
    let list = gw.list_orders(&app, json!({"pageSize": 1})).await;
    assert_eq!(list["retdata"]["total"], 200);
}

async fn a_repeated_number_yields_one_order(gw: TestGateway) {
    let app = gw.create_app().await;
    // Each retry is its own request: its own timestamp, so its own signature (an identical
    // signature would rightly be refused as a replay).
    let answers = gw
        .post_at_once(&app, CREATE_ORDER, &body("once").to_string(), 20)
        .await;
    assert_eq!(
        sysids_of(&answers).len(),
        1,
        "20 concurrent creations of one number give one order"
    );
    let list = gw.list_orders(&app, "{}").await;
    assert_eq!(retcode(&list), "200");
    assert_eq!(list["retdata"]["total"], 1);
}

on_both_engines!(
    distinct_numbers_get_distinct_addresses,
    a_repeated_number_yields_one_order
);
