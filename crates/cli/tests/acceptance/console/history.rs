//! The order page's history: its timeline (every state change), refunds, abnormal payments and
//! every webhook sent for it with its attempts; resending a webhook (support and above); and
//! the order list as CSV.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wcheckout_app::console_webhooks::TEST_MESSAGE;
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::payment::AbnormalKind;
use wcheckout_domain::ports::{ChainStore, ConsoleStore, OperatorStore, OutboxStore};
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::chain::eventually;
use crate::common::console::{Console, PASSWORD, create, create_for, pay_in_full};
use crate::common::receiver::{Receiver, Reply, always};
use crate::common::{Db, TestGateway, usdt_order};

const WAIT: Duration = Duration::from_secs(20);

/// Waits until the event is delivered `attempts` times.
async fn delivered(gw: &TestGateway, event_id: &str, attempts: u32) {
    eventually(
        WAIT,
        &format!("{event_id} delivered {attempts} times"),
        || async {
            let found = gw.store.outbox_event(event_id).await.unwrap();
            found.filter(|(entry, tried)| {
                entry.status == DeliveryStatus::Delivered && tried.len() == attempts as usize
            })
        },
    )
    .await;
}

async fn the_order_page_shows_its_history_and_resends_a_webhook(gw: TestGateway) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let hooks = receiver.url("/hooks");
    let shop = gw.admin.create("Hooks", Some(&hooks), &[]).await.unwrap();
    let other = gw.create_app().await;
    let created = gw
        .created_order(&shop, usdt_order("H-1", "10", json!({})))
        .await;
    let sysid = created["sysid"].as_str().unwrap().to_owned();
    gw.clock.advance_secs(5);
    let transfer = pay_in_full(&gw, &sysid, 3).await;
    let order = gw.store.order_by_sysid(&sysid).await.unwrap().unwrap();
    let refund = fixtures::refund(1, &order, 10);
    let abnormal = fixtures::abnormal(1, &order, AbnormalKind::LatePayment, 10);
    fixtures::create(&*gw.store, &[&refund]).await;
    fixtures::create(&*gw.store, &[&abnormal]).await;
    let events = gw
        .store
        .events_of_objects(&[format!("order:{sysid}")])
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the payment is announced");
    let event_id = events[0].event.event_id.clone();
    delivered(&gw, &event_id, 1).await;

    create(&gw, "root", "viewer").await;
    create_for(&gw, "helper", "support", Some(&shop.app_id)).await;
    create_for(&gw, "stranger", "support", Some(&other.app_id)).await;
    let console = Console::of(&gw);
    let viewer = console.sign_in("root", PASSWORD).await;
    let support = console.sign_in("helper", PASSWORD).await;
    let stranger = console.sign_in("stranger", PASSWORD).await;

    let path = format!("/admin/orders/{sysid}");
    let page = console.get(&path, &viewer.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    // The timeline, oldest first: created, the transfer seen, the change to PAID.
    let timeline = &body[body.find(r#"<table class="timeline">"#).unwrap()..];
    let timeline = &timeline[..timeline.find("</table>").unwrap()];
    let created_at = timeline
        .find("<td>CREATED</td><td><code>PAYING</code>")
        .unwrap();
    let seen_at = timeline.find(&format!(
        "<td>TRANSFER</td><td><code>{}</code>",
        transfer.tx_hash
    ));
    let paid_at = timeline.find("<td>CHECKOUT_ORDER_CHANGED</td><td><code>PAID</code>");
    assert!(
        seen_at
            .zip(paid_at)
            .is_some_and(|(s, p)| created_at < s && s < p),
        "{timeline}"
    );
    for shown in [
        refund.refund_order_no.as_str(),
        "PENDING_REFUND",
        abnormal.abnormal_payment_no.as_str(),
        "LATE_PAYMENT",
        &event_id,
        "DELIVERED",
        "<td>200</td>",
    ] {
        assert!(body.contains(shown), "{shown}: {body}");
    }
    let resend = format!("/admin/orders/{sysid}/webhooks/{event_id}/resend");
    assert!(!body.contains(&resend), "a viewer gets no resend button");
    let support_page = console.get(&path, &support.cookie).await.body;
    assert!(
        support_page.contains(&format!(r#"action="{resend}""#)),
        "{support_page}"
    );

    // Resending: refused for the wrong order, an unknown event, another app's operator.
    let unknown = format!("/admin/orders/{sysid}/webhooks/evt_nothing/resend");
    let foreign = console
        .get(&format!("/admin/orders/{sysid}"), &stranger.cookie)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    for (session, path) in [(&support, &unknown), (&stranger, &resend)] {
        let fields = [("csrf_token", session.csrf.as_str())];
        let refused = console.post(path, &session.cookie, &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            refused.body
        );
    }
    let resent = console
        .post(&resend, &support.cookie, &[("csrf_token", &support.csrf)])
        .await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.body);
    assert_eq!(resent.location(), format!("/admin/orders/{sysid}#webhooks"));
    delivered(&gw, &event_id, 2).await;
    assert_eq!(receiver.deliveries_of(&event_id).len(), 2, "sent again");
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(
        (
            log[0].operator.as_str(),
            log[0].action,
            log[0].target.as_str()
        ),
        ("helper", ConsoleAction::ResendWebhook, event_id.as_str())
    );
    let after = console.get(&path, &viewer.cookie).await.body;
    let attempts = after.matches("<td>200</td>").count();
    assert_eq!(attempts, 2, "both attempts are listed: {after}");
}

/// The order list as CSV: the list's filters, every matching order, quoted and formula-safe.
async fn orders_export_as_csv(gw: TestGateway) {
    let shop = gw.create_app().await;
    for (no, customer) in [("C-1", "=1+1"), ("C-2", "Doe, \"J\""), ("C-3", "plain")] {
        gw.created_order(&shop, usdt_order(no, "10", json!({"customerId": customer})))
            .await;
        gw.clock.advance_secs(1);
    }
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let path = format!("/admin/orders?app={}&format=csv", shop.app_id);
    let all = console.get(&path, &root.cookie).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(all.headers["x-total-count"], "3");
    let lines: Vec<&str> = all.body.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 4, "{}", all.body);
    assert!(lines[0].starts_with("sysid,orderNo,app,merchantId,customerId,orderStatus,"));
    let cells = |line: &str| line.split(',').nth(1).unwrap().to_owned();
    assert_eq!(
        lines[1..].iter().map(|l| cells(l)).collect::<Vec<_>>(),
        ["C-3", "C-2", "C-1"],
        "newest first"
    );
    assert!(lines[1].contains(",plain,PAYING,"), "{}", lines[1]);
    assert!(
        lines[2].contains(r#","Doe, ""J""",PAYING,"#),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains(",'=1+1,PAYING,"), "{}", lines[3]);
    let filtered = console
        .get(&format!("{path}&customer=plain"), &root.cookie)
        .await;
    assert_eq!(
        filtered.body.split_terminator("\r\n").count(),
        2,
        "{}",
        filtered.body
    );
    let refused = console.get(&format!("{path}&q=C-1"), &root.cookie).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let list = console
        .get(&format!("/admin/orders?app={}", shop.app_id), &root.cookie)
        .await;
    assert!(
        list.body.contains("format=csv"),
        "the list links to its file"
    );
}

/// A support operator sends a test webhook to an app's endpoint: it arrives signed like any
/// other, and its page shows the delivery.
async fn an_apps_endpoint_is_tested_from_the_console(gw: TestGateway) {
    let receiver = Receiver::start(always(Reply::ok())).await;
    let shop = gw
        .admin
        .create("Hooks", Some(&receiver.url("/hooks")), &[])
        .await
        .unwrap();
    let bare = gw.create_app().await;
    create(&gw, "helper", "support").await;
    create(&gw, "root", "viewer").await;
    create_for(&gw, "stranger", "support", Some(&bare.app_id)).await;
    let console = Console::of(&gw);
    let support = console.sign_in("helper", PASSWORD).await;
    let viewer = console.sign_in("root", PASSWORD).await;
    let stranger = console.sign_in("stranger", PASSWORD).await;

    let test_shop = format!("/admin/apps/{}/webhook-test", shop.app_id);
    let list = format!("/admin/orders?app={}", shop.app_id);
    let offered = console.get(&list, &support.cookie).await.body;
    assert!(
        offered.contains(&format!(r#"action="{test_shop}""#)),
        "{offered}"
    );
    assert!(
        !console
            .get(&list, &viewer.cookie)
            .await
            .body
            .contains(&test_shop)
    );

    let sent = console
        .post(
            &test_shop,
            &support.cookie,
            &[("csrf_token", &support.csrf)],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let page = sent.location().to_owned();
    let event_id = page.strip_prefix("/admin/webhooks/").unwrap().to_owned();
    delivered(&gw, &event_id, 1).await;
    let arrived = receiver.deliveries_of(&event_id);
    let body = arrived[0].json();
    assert_eq!(body["eventType"], "WEBHOOK_TEST", "{body}");
    assert_eq!(body["data"]["appId"], shop.app_id.as_str());
    assert_eq!(body["data"]["message"], TEST_MESSAGE);
    assert!(
        arrived[0].header("SIGNATURE").is_some(),
        "signed like any webhook"
    );
    let shown = console.get(&page, &support.cookie).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    for expected in ["WEBHOOK_TEST", "DELIVERED", "<td>200</td>", TEST_MESSAGE] {
        assert!(shown.body.contains(expected), "{expected}: {}", shown.body);
    }
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(
        (
            log[0].operator.as_str(),
            log[0].action,
            log[0].target.as_str()
        ),
        ("helper", ConsoleAction::TestWebhook, event_id.as_str())
    );

    // An app without a webhook URL is told so; another app's operator finds neither the app
    // nor the event.
    let test_bare = format!("/admin/apps/{}/webhook-test", bare.app_id);
    let refused = console
        .post(
            &test_bare,
            &support.cookie,
            &[("csrf_token", &support.csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("has no webhook URL"),
        "{}",
        refused.body
    );
    let foreign = console
        .post(
            &test_shop,
            &stranger.cookie,
            &[("csrf_token", &stranger.csrf)],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        console.get(&page, &stranger.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    for path in ["/admin/webhooks/evt_none", "/admin/webhooks/%00"] {
        assert_eq!(
            console.get(path, &support.cookie).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(receiver.deliveries().len(), 1, "nothing else was sent");
}

on_both_engines!(
    the_order_page_shows_its_history_and_resends_a_webhook,
    orders_export_as_csv,
    an_apps_endpoint_is_tested_from_the_console,
);
