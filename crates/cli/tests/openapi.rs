//! `/openapi.json` describes every route, request and response as implemented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestGateway};
use serde_json::Value;

#[tokio::test]
async fn describes_every_route() {
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let (status, _, doc) = gw.send("GET", "/openapi.json", "", &[]).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/user/auth/oauth2/token", "post"),
        ("/checkout/order/create", "post"),
        ("/checkout/order/cancel", "get"),
        ("/checkout/order/info", "get"),
        ("/checkout/order/list", "post"),
        ("/pay/{page_token}/status", "get"),
        ("/health", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "CreateCheckoutOrderRequest",
        "ListCheckoutOrdersRequest",
        "OrderView",
        "TokenResponse",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let order = &schemas["OrderView"]["properties"];
    for field in [
        "sysid",
        "orderNo",
        "payingAmount",
        "depositAddress",
        "paymentUrl",
        "orderStatus",
        "txHash",
    ] {
        assert!(order.get(field).is_some(), "OrderView.{field} missing");
    }
    let create = &doc["paths"]["/checkout/order/create"]["post"];
    assert!(create["security"].as_array().is_some_and(|s| !s.is_empty()));
    assert_ne!(create["requestBody"], Value::Null);
}
