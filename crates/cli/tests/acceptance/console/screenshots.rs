//! The docs' screenshots of the console, written when `WCHECKOUT_SCREENSHOTS` names a
//! directory (`WCHECKOUT_SCREENSHOTS=docs/images cargo test -p wcheckout --test acceptance
//! console::screenshots`).

use std::time::Duration;

use serde_json::json;
use wcheckout_app::admin::AppChanges;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::payment::AbnormalKind;
use wcheckout_domain::ports::{ChainStore, Clock, ConsoleStore, MoneyStore, OutboxStore};
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::browser::{self, Browser};
use crate::common::chain::eventually;
use crate::common::console::{create, eventually_in, pay_in_full, sign_in_with};
use crate::common::receiver::{Receiver, Reply, always};
use crate::common::{Db, TestGateway, usdt_order};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screenshots_for_the_docs() {
    let Ok(dir) = std::env::var("WCHECKOUT_SCREENSHOTS") else {
        eprintln!("SKIPPED: set WCHECKOUT_SCREENSHOTS=DIR to write the console's screenshots");
        return;
    };
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let receiver = Receiver::start(always(Reply::ok())).await;
    let shop = gw
        .admin
        .create("Acme Books", Some(&receiver.url("/hooks")), &[])
        .await
        .unwrap();
    let mut paid_sysid = String::new();
    let mut held = 0u128;
    for (n, (no, amount, customer)) in [
        ("INV-2026-0040", "19.90", "reader-17"),
        ("INV-2026-0041", "120", "reader-3"),
        ("INV-2026-0042", "49.90", "reader-42"),
    ]
    .into_iter()
    .enumerate()
    {
        let order = gw
            .created_order(
                &shop,
                usdt_order(no, amount, json!({"customerId": customer})),
            )
            .await;
        gw.clock.advance_secs(20);
        if n > 0 {
            paid_sysid = order["sysid"].as_str().unwrap().to_owned();
            pay_in_full(&gw, &paid_sysid, u64::try_from(n).unwrap()).await;
            let paid = gw.store.order_by_sysid(&paid_sysid).await.unwrap().unwrap();
            held += paid.paying_amount.base_units();
        }
    }
    // The payout workers' last reconciliation, seven minutes ago: the chain agreed.
    let reconciled = AssetReconciliation {
        chain: ChainKey::parse("ETH").unwrap(),
        asset: Asset::Token(TokenId::parse("ETH_USDT").unwrap()),
        at: Timestamp::from_micros(gw.clock.now().micros() - 7 * 60_000_000),
        ledger: i128::try_from(held).unwrap(),
        on_chain: held,
        accounts: 2,
        differing: 0,
        in_flight: 0,
    };
    gw.store
        .record_reconciliations(&[reconciled])
        .await
        .unwrap();
    let order = gw.store.order_by_sysid(&paid_sysid).await.unwrap().unwrap();
    let late = fixtures::abnormal(1, &order, AbnormalKind::LatePayment, 10);
    fixtures::create(&*gw.store, &[&late]).await;
    let refund = fixtures::refund(1, &order, 30);
    fixtures::create(&*gw.store, &[&refund]).await;
    let events = gw
        .store
        .events_of_objects(&[format!("order:{paid_sysid}")])
        .await
        .unwrap();
    let event_id = events[0].event.event_id.clone();
    eventually(Duration::from_secs(20), "the webhook delivered", || async {
        let found = gw.store.outbox_event(&event_id).await.unwrap();
        found.filter(|(entry, _)| entry.status == DeliveryStatus::Delivered)
    })
    .await;
    let body = json!({
        "settlementOrderNo": "PAYOUT-2026-12", "token": "ETH_USDT", "amount": "150",
        "fiat": "USD",
        "bankAccount": {"accountName": "Acme Books GmbH", "accountNumber": "DE89370400440532013000",
                        "bankName": "Commerzbank", "swiftCode": "COBADEFFXXX"},
    });
    let created = gw
        .client(&shop)
        .create_fiat_settlement(&body)
        .await
        .unwrap();
    let settlement = created.retdata()["sysid"].as_str().unwrap().to_owned();
    create(&gw, "alice", "finance").await;
    create(&gw, "root", "admin").await;
    for (name, role) in [("bob", "support"), ("carol", "viewer")] {
        create(&gw, name, role).await;
    }
    let logo = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCA0OCA0OCI+PHJlY3Qgd2lkdGg9IjQ4IiBoZWlnaHQ9IjQ4IiByeD0iMTAiIGZpbGw9IiM3YzJkMTIiLz48dGV4dCB4PSIyNCIgeT0iMzIiIGZvbnQtc2l6ZT0iMjIiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZpbGw9IiNmZmYiIGZvbnQtZmFtaWx5PSJzYW5zLXNlcmlmIj5BQjwvdGV4dD48L3N2Zz4=";
    let branding = AppChanges {
        display_name: Some("Acme Books".into()),
        theme_color: Some("#7c2d12".into()),
        logo_url: Some(logo.into()),
        ..AppChanges::default()
    };
    gw.update_app(&shop.app_id, branding).await;
    let refund = format!(
        "/admin/orders/{paid_sysid}/refund?refund_no=console-5f1e2d3c4b5a6978&amount=20&address=0x1111111111111111111111111111111111111111"
    );

    let pages = [
        ("overview", "/admin".to_owned()),
        ("orders", format!("/admin/orders?app={}", shop.app_id)),
        ("order", format!("/admin/orders/{paid_sysid}")),
        (
            "settlement-approve",
            format!("/admin/settlements/{settlement}/approve"),
        ),
        ("audit", "/admin/audit".to_owned()),
        ("refund-confirm", refund),
        ("refunds", format!("/admin/refunds?app={}", shop.app_id)),
        ("abnormal", format!("/admin/abnormal?app={}", shop.app_id)),
        ("webhooks", format!("/admin/webhooks?app={}", shop.app_id)),
    ];
    // An admin's pages: the apps, one app with its branding's preview.
    let admin_pages = [
        ("apps", "/admin/apps".to_owned()),
        ("app", format!("/admin/apps/{}", shop.app_id)),
        ("account", "/admin/account".to_owned()),
        ("operators", "/admin/operators".to_owned()),
    ];
    for (device, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let browser = Browser::start(width, height).await;
        sign_in_with(&browser, &gw.base_url, "alice").await;
        for (name, path) in &pages {
            browser.open(&format!("{}{path}", gw.base_url)).await;
            eventually_in(&browser, "return document.readyState === 'complete';").await;
            let png = browser.full_page_png().await;
            std::fs::write(format!("{dir}/console-{name}-{device}.png"), png).unwrap();
        }
        let browser = Browser::start(width, height).await;
        sign_in_with(&browser, &gw.base_url, "root").await;
        for (name, path) in &admin_pages {
            browser.open(&format!("{}{path}", gw.base_url)).await;
            eventually_in(&browser, "return document.readyState === 'complete';").await;
            // The preview's frame drawn too.
            eventually_in(&browser, "const f = document.querySelector('iframe'); return !f || (!!f.contentDocument && f.contentDocument.readyState === 'complete' && !!f.contentDocument.querySelector('main'));").await;
            let png = browser.full_page_png().await;
            std::fs::write(format!("{dir}/console-{name}-{device}.png"), png).unwrap();
        }
    }
}
