//! The console's lists: refunds, abnormal payments, payouts in flight and webhook deliveries
//! (filters, keyset pages, CSV, another app's data refused by URL, resending from the list),
//! the order list's keyset pages, and explorer links with confirmations on an order's page.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::AbnormalKind;
use wcheckout_domain::payout::{PayoutKind, PayoutStatus};
use wcheckout_domain::ports::{ChainStore, Clock, OperatorStore, OutboxStore};
use wcheckout_domain::refund::RefundStatus;
use wcheckout_domain::token::ChainKey;
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::chain::eventually;
use crate::common::console::{Answer, Console, PASSWORD, Session, create, create_for, pay_in_full};
use crate::common::{Db, TestGateway, usdt_order};

const WAIT: Duration = Duration::from_secs(20);

/// An order of `app` created through the API, as stored.
async fn stored_order(
    gw: &TestGateway,
    app: &wcheckout_app::admin::IssuedCredentials,
    no: &str,
) -> Order {
    let created = gw.created_order(app, usdt_order(no, "10", json!({}))).await;
    let sysid = created["sysid"].as_str().unwrap();
    gw.store.order_by_sysid(sysid).await.unwrap().unwrap()
}

/// The text of every `<td>` in column `column` (0-based) of the page's first table body.
fn column(page: &Answer, column: usize) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let Some(start) = page.body.find("<tbody>") else {
        return Vec::new();
    };
    let body = &page.body[start..page.body[start..].find("</tbody>").unwrap() + start];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cell = row.split("<td").nth(column + 1).unwrap();
            let text = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
            // Strip tags (links, code).
            let mut plain = String::new();
            let mut inside = false;
            for c in text.chars() {
                match c {
                    '<' => inside = true,
                    '>' => inside = false,
                    c if !inside => plain.push(c),
                    _ => {}
                }
            }
            plain
        })
        .collect()
}

/// The page's "Next" link, unescaped.
fn next_link(page: &Answer) -> Option<String> {
    let marker = r#"rel="next" href=""#;
    page.body.find(marker).map(|at| {
        let rest = &page.body[at + marker.len()..];
        rest[..rest.find('"').unwrap()].replace("&amp;", "&")
    })
}

/// Every row of column `col` along the "Next" links from `first`, and how many pages.
async fn walk(
    console: &Console,
    session: &Session,
    first: &str,
    col: usize,
) -> (Vec<String>, usize) {
    let mut rows = Vec::new();
    let mut path = Some(first.to_owned());
    let mut pages = 0;
    while let Some(here) = path {
        let page = console.get(&here, &session.cookie).await;
        rows.extend(column(&page, col));
        pages += 1;
        assert!(pages < 20, "the walk ends");
        path = next_link(&page);
    }
    (rows, pages)
}

/// The lines of a CSV answer, asserting its type and total.
fn csv_lines(answer: &Answer, total: u64) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(answer.headers["x-total-count"], total.to_string().as_str());
    assert!(answer.body.ends_with("\r\n"), "CRLF: {:?}", answer.body);
    answer
        .body
        .split_terminator("\r\n")
        .map(str::to_owned)
        .collect()
}

fn event(n: u32, app: &str, event_type: EventType, object_key: &str, at: i64) -> OutboxEvent {
    OutboxEvent {
        event_id: format!("evt_list{n:08}"),
        app_id: AppId::new(app),
        event_type,
        object_key: object_key.to_owned(),
        body: format!(r#"{{"eventId":"evt_list{n:08}","data":{{}}}}"#),
        created_at: fixtures::at(at),
    }
}

async fn every_list_filters_pages_exports_and_keeps_to_its_app(gw: TestGateway) {
    // The shop has no webhook URL: its events fail at their first attempt.
    let shop = gw.create_app().await;
    let other = gw.create_app().await;
    let first = stored_order(&gw, &shop, "L-1").await;
    let second = stored_order(&gw, &shop, "L-2").await;
    let foreign = stored_order(&gw, &other, "F-1").await;

    // Refunds: 120 of the shop (60 created in the same microsecond), one of the other app.
    let mut refunds = Vec::new();
    for n in 10..130u32 {
        let order = if n % 2 == 0 { &first } else { &second };
        let secs = if n < 70 { 100 } else { i64::from(n) };
        let mut refund = fixtures::refund(n, order, secs);
        if n == 129 {
            refund.status = RefundStatus::Refunded;
        }
        refunds.push(refund);
    }
    let refs: Vec<_> = refunds.iter().collect();
    fixtures::create(&*gw.store, &refs).await;
    let foreign_refund = fixtures::refund(200, &foreign, 150);
    fixtures::create(&*gw.store, &[&foreign_refund]).await;

    // Abnormal payments: two of the shop, one of the other app.
    let over = fixtures::abnormal(1, &first, AbnormalKind::OverPaid, 10);
    let late = fixtures::abnormal(2, &second, AbnormalKind::LatePayment, 20);
    let elsewhere = fixtures::abnormal(3, &foreign, AbnormalKind::UnderPaid, 30);
    fixtures::create(&*gw.store, &[&over, &late, &elsewhere]).await;

    // Payouts on a chain this gateway does not run (no worker touches them): the shop's
    // refund (signed, with its transaction), the other app's settlement, a sweep, and a
    // confirmed one that is no longer in flight.
    let settlement = fixtures::settlement(1, &AppId::new(&other.app_id), 40);
    fixtures::create(&*gw.store, &[&settlement]).await;
    let mut refund_payout = fixtures::payout(1, "BSC", PayoutKind::Refund, 50);
    refund_payout.reference = format!("refund:{}", refunds[0].sysid);
    refund_payout.status = PayoutStatus::Broadcast;
    refund_payout.nonce = Some(7);
    let mut settlement_payout = fixtures::payout(2, "BSC", PayoutKind::Settlement, 60);
    settlement_payout.reference = format!("settlement:{}", settlement.sysid);
    let sweep = fixtures::payout(3, "BSC", PayoutKind::Sweep, 70);
    let mut done = fixtures::payout(4, "BSC", PayoutKind::Refund, 80);
    done.status = PayoutStatus::Confirmed;
    fixtures::create(
        &*gw.store,
        &[&refund_payout, &settlement_payout, &sweep, &done],
    )
    .await;
    let signed = fixtures::signed_tx(&refund_payout, 77, 7, 55);
    fixtures::commit(&*gw.store, [signed.clone()])
        .await
        .unwrap();

    // Webhook events of the shop (they fail: no URL) and of the other app.
    let events = [
        event(
            1,
            &shop.app_id,
            EventType::CheckoutOrderChanged,
            &format!("order:{}", first.sysid),
            10,
        ),
        event(
            2,
            &shop.app_id,
            EventType::RefundOrderChanged,
            &format!("refund:{}", refunds[0].sysid),
            20,
        ),
        event(
            3,
            &shop.app_id,
            EventType::CheckoutOrderChanged,
            &format!("order:{}", second.sysid),
            30,
        ),
        event(
            4,
            &other.app_id,
            EventType::CheckoutOrderChanged,
            &format!("order:{}", foreign.sysid),
            40,
        ),
    ];
    fixtures::commit(&*gw.store, events.iter().cloned())
        .await
        .unwrap();
    for e in &events {
        eventually(WAIT, &format!("{} failed", e.event_id), || async {
            let found = gw.store.outbox_event(&e.event_id).await.unwrap().unwrap().0;
            (found.status == DeliveryStatus::Failed).then_some(())
        })
        .await;
    }

    create(&gw, "root", "viewer").await;
    create(&gw, "helper", "support").await;
    create_for(&gw, "stranger", "support", Some(&other.app_id)).await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let helper = console.sign_in("helper", PASSWORD).await;
    let stranger = console.sign_in("stranger", PASSWORD).await;
    let app = &shop.app_id;

    // Refunds: three pages of 50, 50 and 20 without repeats, newest first, ties by sysid.
    let (numbers, pages) = walk(&console, &root, &format!("/admin/refunds?app={app}"), 0).await;
    assert_eq!(pages, 3);
    assert_eq!(numbers.len(), 120, "{numbers:?}");
    assert_eq!(
        numbers.iter().collect::<HashSet<_>>().len(),
        120,
        "no repeats"
    );
    let mut expected: Vec<_> = refunds.iter().collect();
    expected.sort_by(|a, b| (b.created_at, &b.sysid).cmp(&(a.created_at, &a.sysid)));
    let expected: Vec<String> = expected
        .iter()
        .map(|r| r.refund_order_no.to_string())
        .collect();
    assert_eq!(numbers, expected);
    let page = console
        .get(&format!("/admin/refunds?app={app}"), &root.cookie)
        .await;
    assert!(
        page.body
            .contains(&format!(r#"href="/admin/orders/{}""#, first.sysid)),
        "links to the order"
    );
    assert!(
        page.body.contains("More than") || page.body.contains("120 match"),
        "{}",
        page.body
    );
    let refunded = console
        .get(
            &format!("/admin/refunds?app={app}&status=REFUNDED"),
            &root.cookie,
        )
        .await;
    assert_eq!(column(&refunded, 0), ["R129"]);
    let none = console
        .get(
            &format!("/admin/refunds?app={app}&token=TRON_USDT"),
            &root.cookie,
        )
        .await;
    assert!(column(&none, 0).is_empty());
    let file = console
        .get(
            &format!("/admin/refunds?app={app}&status=PENDING_REFUND&format=csv"),
            &root.cookie,
        )
        .await;
    let lines = csv_lines(&file, 119);
    assert_eq!(lines.len(), 120);
    assert!(
        lines[0].starts_with("sysid,refundOrderNo,app,orderSysid,orderNo,"),
        "{}",
        lines[0]
    );
    assert_eq!(
        file.headers["content-disposition"],
        format!("attachment; filename=\"refunds-{app}.csv\"").as_str()
    );
    // Another app's operator: its own refund only, the shop's list 404 by URL.
    assert_eq!(
        column(&console.get("/admin/refunds", &stranger.cookie).await, 0),
        ["R200"]
    );
    for path in [
        format!("/admin/refunds?app={app}"),
        format!("/admin/refunds?app={app}&format=csv"),
        format!("/admin/abnormal?app={app}"),
        format!("/admin/webhooks?app={app}"),
        format!("/admin/webhooks?app={app}&format=csv"),
    ] {
        let refused = console.get(&path, &stranger.cookie).await;
        assert_eq!(
            refused.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            refused.body
        );
    }
    for (path, problem) in [
        (
            "/admin/refunds?status=paid",
            "status: not one of the values offered",
        ),
        (
            "/admin/refunds?after=x",
            "after: not a position in this list",
        ),
        ("/admin/refunds?format=pdf", "format: csv or nothing"),
        (
            "/admin/abnormal?kind=ODD",
            "kind: not one of the values offered",
        ),
        (
            "/admin/payouts?kind=GIFT",
            "kind: not one of the values offered",
        ),
        (
            "/admin/webhooks?status=LOST",
            "status: not one of the values offered",
        ),
        (
            "/admin/webhooks?type=X",
            "type: not one of the values offered",
        ),
        (
            "/admin/orders?after=1.%01",
            "after: not a position in this list",
        ),
    ] {
        let refused = console.get(path, &root.cookie).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            refused.body
        );
        assert!(refused.body.contains(problem), "{path}: {}", refused.body);
    }

    // Abnormal payments.
    let all = console
        .get(&format!("/admin/abnormal?app={app}"), &root.cookie)
        .await;
    assert_eq!(
        column(&all, 0),
        [
            late.abnormal_payment_no.clone(),
            over.abnormal_payment_no.clone()
        ]
    );
    assert!(
        all.body
            .contains(&format!(r#"href="/admin/orders/{}""#, second.sysid))
    );
    let over_only = console
        .get(
            &format!("/admin/abnormal?app={app}&kind=OVER_PAID&status=PENDING"),
            &root.cookie,
        )
        .await;
    assert_eq!(column(&over_only, 0), [over.abnormal_payment_no.as_str()]);
    let handled = console
        .get(
            &format!("/admin/abnormal?app={app}&status=HANDLED"),
            &root.cookie,
        )
        .await;
    assert!(column(&handled, 0).is_empty());
    let lines = csv_lines(
        &console
            .get(
                &format!("/admin/abnormal?app={app}&format=csv"),
                &root.cookie,
            )
            .await,
        2,
    );
    assert!(
        lines[1].starts_with(&format!("{},{app},", late.abnormal_payment_no)),
        "{}",
        lines[1]
    );
    assert_eq!(
        column(&console.get("/admin/abnormal", &stranger.cookie).await, 0),
        [elsewhere.abnormal_payment_no.as_str()]
    );

    // Payouts in flight: every app's for root (not the confirmed one), with the transaction.
    let payouts = console.get("/admin/payouts", &root.cookie).await;
    assert_eq!(payouts.status, StatusCode::OK, "{}", payouts.body);
    for shown in [
        &sweep.id,
        &settlement_payout.id,
        &refund_payout.id,
        &signed.tx_hash,
    ] {
        assert!(
            payouts.body.contains(shown.as_str()),
            "{shown}: {}",
            payouts.body
        );
    }
    assert!(
        !payouts.body.contains(&done.id),
        "a confirmed payout is not in flight"
    );
    let order = |id: &str| payouts.body.find(id).unwrap();
    assert!(
        order(&sweep.id) < order(&settlement_payout.id)
            && order(&settlement_payout.id) < order(&refund_payout.id),
        "newest first"
    );
    let sweeps = console.get("/admin/payouts?kind=SWEEP", &root.cookie).await;
    assert!(sweeps.body.contains(&sweep.id) && !sweeps.body.contains(&refund_payout.id));
    let lines = csv_lines(
        &console.get("/admin/payouts?format=csv", &root.cookie).await,
        3,
    );
    assert!(lines[3].starts_with(&refund_payout.id), "{}", lines[3]);
    assert!(lines[3].contains(&signed.tx_hash), "{}", lines[3]);
    // The other app's operator: only its settlement's payout.
    let own = console.get("/admin/payouts", &stranger.cookie).await;
    assert!(own.body.contains(&settlement_payout.id), "{}", own.body);
    assert!(!own.body.contains(&sweep.id) && !own.body.contains(&refund_payout.id));
    csv_lines(
        &console
            .get("/admin/payouts?format=csv", &stranger.cookie)
            .await,
        1,
    );

    // Webhook deliveries: filters, a viewer without resend (403 on the route), support resends.
    let hooks = console
        .get(&format!("/admin/webhooks?app={app}"), &root.cookie)
        .await;
    assert_eq!(
        column(&hooks, 0),
        ["evt_list00000003", "evt_list00000002", "evt_list00000001"]
    );
    let resend = "/admin/webhooks/evt_list00000003/resend";
    assert!(
        !hooks.body.contains(resend),
        "a viewer gets no resend button"
    );
    let typed = console
        .get(
            &format!("/admin/webhooks?app={app}&type=REFUND_ORDER_CHANGED&status=FAILED"),
            &root.cookie,
        )
        .await;
    assert_eq!(column(&typed, 0), ["evt_list00000002"]);
    let delivered = console
        .get(
            &format!("/admin/webhooks?app={app}&status=DELIVERED"),
            &root.cookie,
        )
        .await;
    assert!(column(&delivered, 0).is_empty());
    let lines = csv_lines(
        &console
            .get(
                &format!("/admin/webhooks?app={app}&format=csv"),
                &root.cookie,
            )
            .await,
        3,
    );
    assert!(
        lines[1].starts_with(&format!("evt_list00000003,{app},CHECKOUT_ORDER_CHANGED,")),
        "{}",
        lines[1]
    );
    let offered = console
        .get(&format!("/admin/webhooks?app={app}"), &helper.cookie)
        .await;
    assert!(
        offered.body.contains(&format!(r#"action="{resend}""#)),
        "{}",
        offered.body
    );

    let attempts = |id: &'static str| {
        let gw = &gw;
        async move { gw.store.outbox_event(id).await.unwrap().unwrap().1.len() }
    };
    let refused = console
        .post(resend, &root.cookie, &[("csrf_token", &root.csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let foreign_resend = console
        .post(resend, &stranger.cookie, &[("csrf_token", &stranger.csrf)])
        .await;
    assert_eq!(foreign_resend.status, StatusCode::NOT_FOUND);
    let unknown = console
        .post(
            "/admin/webhooks/evt_none/resend",
            &helper.cookie,
            &[("csrf_token", &helper.csrf)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(attempts("evt_list00000003").await, 1, "nothing resent yet");
    let resent = console
        .post(resend, &helper.cookie, &[("csrf_token", &helper.csrf)])
        .await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.body);
    assert_eq!(resent.location(), "/admin/webhooks/evt_list00000003");
    eventually(WAIT, "tried again", || async {
        (attempts("evt_list00000003").await == 2).then_some(())
    })
    .await;
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(
        (
            log[0].operator.as_str(),
            log[0].action,
            log[0].target.as_str()
        ),
        ("helper", ConsoleAction::ResendWebhook, "evt_list00000003")
    );

    // The layout links every list.
    for link in [
        "/admin/refunds",
        "/admin/abnormal",
        "/admin/payouts",
        "/admin/webhooks",
    ] {
        assert!(hooks.body.contains(&format!(r#"href="{link}""#)), "{link}");
    }
    let chinese = console.get("/admin/payouts?lang=zh-CN", &root.cookie).await;
    assert!(chinese.body.contains("进行中的出款"), "{}", chinese.body);
}

/// The order list pages by keyset: 55 orders in two pages without repeats, the filter kept.
async fn the_order_list_pages_by_keyset(gw: TestGateway) {
    let shop = gw.create_app().await;
    let app_id = AppId::new(&shop.app_id);
    let mut orders = Vec::new();
    for n in 0..55u64 {
        let mut order = fixtures::order(&app_id, &format!("K-{n}"), 1_000 + n);
        // Groups of five created in the same microsecond.
        order.created_at = fixtures::at(i64::try_from(n / 5).unwrap());
        order.updated_at = order.created_at;
        orders.push(order);
    }
    let refs: Vec<_> = orders.iter().collect();
    fixtures::insert_orders(&*gw.store, &refs).await;
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let first = format!("/admin/orders?app={}&token=ETH_USDT", shop.app_id);
    let (numbers, pages) = walk(&console, &root, &first, 0).await;
    assert_eq!(pages, 2, "{numbers:?}");
    let mut expected = orders.clone();
    expected.sort_by(|a, b| (b.created_at, &b.sysid).cmp(&(a.created_at, &a.sysid)));
    let expected: Vec<String> = expected.iter().map(|o| o.order_no.to_string()).collect();
    assert_eq!(numbers, expected, "newest first, each once");
    let second = next_link(&console.get(&first, &root.cookie).await).unwrap();
    assert!(second.contains("token=ETH_USDT"), "{second}");
    let last = console.get(&second, &root.cookie).await;
    assert!(
        last.body.contains(r#"rel="first""#),
        "a way back to the first page"
    );
    assert_eq!(next_link(&last), None);
}

/// An order's transfers link to the chain's explorer and count their confirmations.
async fn transfers_link_to_the_explorer_with_confirmations(db: Db) {
    let Some(gw) = TestGateway::start_with(db, |config| {
        for chain in config.chains.values_mut() {
            chain.explorer_tx_url = Some("https://explorer.example/tx/{tx}".into());
        }
    })
    .await
    else {
        return;
    };
    let shop = gw.create_app().await;
    let order = stored_order(&gw, &shop, "X-1").await;
    let transfer = pay_in_full(&gw, &order.sysid, 5).await;
    let chain = ChainKey::parse("ETH").unwrap();
    let before = gw
        .store
        .chain_cursor(&chain)
        .await
        .unwrap()
        .map(|c| c.processed);
    gw.set_cursor(&chain, before, fixtures::mark(transfer.block_number, 0))
        .await;
    let now = gw.clock.now();
    gw.store
        .note_chain_head(&chain, (transfer.block_number + 11, now), now, true)
        .await
        .unwrap();
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let page = console
        .get(&format!("/admin/orders/{}", order.sysid), &root.cookie)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let link = format!(r#"href="https://explorer.example/tx/{}""#, transfer.tx_hash);
    assert!(page.body.contains(&link), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<td class="num confirmations">12</td>"#),
        "{}",
        page.body
    );
}

/// Without an explorer configured, the hash is shown without a link.
async fn transfers_without_explorer_have_no_link(gw: TestGateway) {
    let shop = gw.create_app().await;
    let order = stored_order(&gw, &shop, "Y-1").await;
    pay_in_full(&gw, &order.sysid, 6).await;
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let page = console
        .get(&format!("/admin/orders/{}", order.sysid), &root.cookie)
        .await;
    assert!(!page.body.contains("explorer.example") && !page.body.contains(r#"class="explorer""#));
}

on_both_engines!(
    every_list_filters_pages_exports_and_keeps_to_its_app,
    the_order_list_pages_by_keyset,
    transfers_without_explorer_have_no_link,
);

on_both_engines_with_db!(transfers_link_to_the_explorer_with_confirmations);
