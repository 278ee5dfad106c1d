//! An ended order waits for its chain's watcher to have read past the deadline before it
//! expires, so a payment made in time but seen late (after an outage) still pays it; a watcher
//! that stays behind is waited for only `orders.expiry_grace_secs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{Db, TestGateway};
use serde_json::json;
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::ports::{ChainStore, OrderStore};
use wcheckout_domain::token::ChainKey;

/// Read from the store: the moved clock puts signed requests outside their time window.
async fn status(gw: &TestGateway, app: &IssuedCredentials, order_no: &str) -> String {
    let app_id = wcheckout_domain::ids::AppId::new(app.app_id.clone());
    let no = wcheckout_domain::ids::IntegratorNo::parse(order_no).unwrap();
    let order = gw.store.order_by_no(&app_id, &no).await.unwrap().unwrap();
    order.status.to_string()
}

/// Creates order `order_no`, due in 60 s, then moves the clock past its deadline and lets the
/// expiry run.
async fn create_and_pass_its_deadline(gw: &TestGateway, app: &IssuedCredentials, order_no: &str) {
    let body = json!({"orderNo": order_no, "orderAmount": 5, "customerId": "c", "token": "ETH_USDT", "expiredIn": 60});
    let created = gw.client(app).create_order(&body).await.unwrap();
    assert_eq!(created.retcode(), "200", "{}", created.body);
    gw.clock.advance_secs(61);
    gw.gateway.expire_due_orders().await.unwrap();
}

async fn expiry_waits_for_a_lagging_watcher(gw: TestGateway) {
    let app = gw.create_app().await;
    let eth = ChainKey::parse("ETH").unwrap();
    // The chain is watched, and the watcher was last caught up now, before the deadline.
    let at_ten = BlockMark {
        number: 10,
        hash: "0xabc".into(),
    };
    gw.set_cursor(&eth, None, at_ten).await;
    let now = gw.gateway.clock.now();
    gw.store
        .note_chain_head(&eth, (10, now), now, true)
        .await
        .unwrap();
    create_and_pass_its_deadline(&gw, &app, "slow").await;
    assert_eq!(
        status(&gw, &app, "slow").await,
        "PAYING",
        "a payment made in time may still be unseen"
    );

    // The watcher catches up in a round that started after the deadline: now it may expire.
    let later = gw.gateway.clock.now();
    gw.store
        .note_chain_head(&eth, (12, later), later, true)
        .await
        .unwrap();
    gw.gateway.expire_due_orders().await.unwrap();
    assert_eq!(status(&gw, &app, "slow").await, "TIMEOUT");

    // A watcher that never catches up is waited for only the grace period (900 s).
    create_and_pass_its_deadline(&gw, &app, "stuck").await;
    assert_eq!(status(&gw, &app, "stuck").await, "PAYING");
    gw.clock.advance_secs(900);
    gw.gateway.expire_due_orders().await.unwrap();
    assert_eq!(status(&gw, &app, "stuck").await, "TIMEOUT");
    assert!(gw.store.chain_cursor(&eth).await.unwrap().is_some());
}

on_both_engines!(expiry_waits_for_a_lagging_watcher);
