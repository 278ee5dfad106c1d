//! `/openapi.json` describes every route, request and response as implemented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{Db, TestGateway};
use serde_json::Value;
use wcheckout_client::routes;

#[tokio::test]
async fn describes_every_route() {
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let (status, _, doc) = gw.send("GET", "/openapi.json", "", &[]).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        (routes::TOKEN, "post"),
        (routes::CREATE_ORDER, "post"),
        (routes::CANCEL_ORDER, "get"),
        (routes::ORDER_INFO, "get"),
        (routes::LIST_ORDERS, "post"),
        (routes::LIST_ABNORMAL_PAYMENTS, "post"),
        (routes::REFUND_ABNORMAL_PAYMENT, "post"),
        (routes::CREATE_REFUND, "post"),
        (routes::CANCEL_REFUND, "get"),
        (routes::REFUND_INFO, "get"),
        (routes::LIST_REFUNDS, "post"),
        (routes::CREATE_SETTLEMENT, "post"),
        (routes::CREATE_FIAT_SETTLEMENT, "post"),
        (routes::CANCEL_SETTLEMENT, "get"),
        (routes::SETTLEMENT_INFO, "get"),
        (routes::LIST_SETTLEMENTS, "post"),
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
    let create = &doc["paths"][routes::CREATE_ORDER]["post"];
    assert!(create["security"].as_array().is_some_and(|s| !s.is_empty()));
    assert_ne!(create["requestBody"], Value::Null);
}

/// What the description says matches what the routes answer: `retdata` is `null` on every
/// error, so every envelope schema admits it; the page routes answer HTTP 404 for unknown
/// tokens and say so; the token endpoint's body is optional. (scripts/fuzz-api checks real
/// answers against the whole description.)
#[tokio::test]
async fn the_description_admits_what_the_routes_answer() {
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let (_, _, doc) = gw.send("GET", "/openapi.json", "", &[]).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let envelopes = schemas
        .iter()
        .filter(|(name, _)| name.starts_with("Envelope_"))
        .collect::<Vec<_>>();
    assert!(envelopes.len() >= 8, "{:?}", schemas.keys());
    for (name, schema) in envelopes {
        let retdata = &schema["properties"]["retdata"];
        let nullable = retdata["oneOf"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["type"] == "null"));
        assert!(nullable, "{name}.retdata does not admit null: {retdata}");
        assert!(
            !schema["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from("retdata")),
            "{name}"
        );
    }
    // A business error really answers `"retdata": null`, with HTTP 200.
    let (status, _, body) = gw
        .send(
            "POST",
            &routes::with_query(routes::TOKEN, "grant_type", "client_credentials"),
            "",
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["retdata"].is_null(), "{body}");

    let paths = &doc["paths"];
    for path in [
        "/pay/{page_token}",
        "/pay/{page_token}/status",
        "/pay/{page_token}/qr.svg",
        "/pay/{page_token}/logo",
    ] {
        let responses = &paths[path]["get"]["responses"];
        assert!(responses.get("200").is_some(), "{path}");
        assert!(
            responses.get("404").is_some(),
            "{path} does not document 404"
        );
        let (status, _, _) = gw
            .send(
                "GET",
                &path.replace("{page_token}", &"x".repeat(43)),
                "",
                &[],
            )
            .await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(
        paths["/pay/{page_token}/status"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/Envelope_PageStatus"
    );
    let token_body = &paths[routes::TOKEN]["post"]["requestBody"];
    assert_ne!(token_body["required"], true, "{token_body}");
}
