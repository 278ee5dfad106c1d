//! The console's settlements: the list of one app's settlements (and its CSV), one settlement,
//! and a `finance` operator approving (after a confirmation page), marking paid and rejecting
//! fiat settlements, which the integrator's API then shows; in Chromium too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::ports::OperatorStore;

use crate::common::browser::{self, Browser};
use crate::common::console::{
    Answer, Console, PASSWORD, Session, create, create_for, eventually_in, page_text, pay_in_full,
    shown_at, sign_in_with,
};
use crate::common::{Db, TestGateway, usdt_order};

/// A fiat settlement of `amount` ETH_USDT for `merchant` to Shop GmbH's account.
fn fiat_settlement(no: &str, amount: &str, merchant: &str) -> Value {
    json!({
        "settlementOrderNo": no, "token": "ETH_USDT", "amount": amount, "fiat": "USD",
        "merchantId": merchant,
        "bankAccount": {"accountName": "Shop GmbH", "accountNumber": "DE89370400440532013000",
                        "bankName": "Commerzbank", "swiftCode": "COBADEFFXXX"},
    })
}

/// The merchant of the tests' settlements.
const MERCHANT: &str = "shop-1";

/// An app whose merchant `merchant` has 100 USDT available (a paid order), and the sysids of
/// its fiat settlements `nos` of `amount` each.
async fn funded_app_with_settlements(
    gw: &TestGateway,
    merchant: &str,
    nos: &[&str],
    amount: &str,
) -> (IssuedCredentials, Vec<String>) {
    let shop = gw.create_app().await;
    let order = gw
        .created_order(
            &shop,
            usdt_order("P-1", "100", json!({"merchantId": merchant})),
        )
        .await;
    pay_in_full(gw, order["sysid"].as_str().unwrap(), 1).await;
    let client = gw.client(&shop);
    let mut sysids = Vec::new();
    for no in nos {
        let created = client
            .create_fiat_settlement(&fiat_settlement(no, amount, merchant))
            .await
            .unwrap();
        let data = created.retdata().clone();
        assert_eq!(data["settlementStatus"], "PENDING_SETTLEMENT", "{data}");
        sysids.push(data["sysid"].as_str().unwrap().to_owned());
        gw.clock.advance_secs(1);
    }
    (shop, sysids)
}

/// The settlement as the integrator's API shows it.
async fn api_settlement(gw: &TestGateway, app: &IssuedCredentials, no: &str) -> Value {
    let info = gw.client(app).settlement_info(no).await.unwrap();
    info.retdata().clone()
}

/// The settlement sysids a list page links to, in order.
fn listed(page: &Answer) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let marker = r#"href="/admin/settlements/"#;
    page.body
        .match_indices(marker)
        .map(|(at, _)| {
            let rest = &page.body[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn post(console: &Console, session: &Session, path: &str, fields: &[(&str, &str)]) -> Answer {
    let mut form = vec![("csrf_token", session.csrf.as_str())];
    form.extend_from_slice(fields);
    console.post(path, &session.cookie, &form).await
}

async fn a_finance_operator_decides_fiat_settlements(gw: TestGateway) {
    let (shop, sysids) = funded_app_with_settlements(&gw, MERCHANT, &["fs1", "fs2"], "30").await;
    let other = gw.create_app().await;
    create(&gw, "fin", "finance").await;
    create(&gw, "watcher", "viewer").await;
    create_for(&gw, "elsewhere", "admin", Some(&other.app_id)).await;
    let console = Console::of(&gw);
    let fin = console.sign_in("fin", PASSWORD).await;
    let viewer = console.sign_in("watcher", PASSWORD).await;
    let elsewhere = console.sign_in("elsewhere", PASSWORD).await;
    let (fs1, fs2) = (sysids[0].as_str(), sysids[1].as_str());

    // The list: newest first, filtered by status; a wrong filter is named.
    let list = |query: &str| {
        let (console, cookie) = (&console, fin.cookie.clone());
        let path = format!("/admin/settlements?{query}");
        async move { console.get(&path, &cookie).await }
    };
    let shop_app = format!("app={}", shop.app_id);
    assert_eq!(listed(&list(&shop_app).await), [fs2, fs1]);
    assert_eq!(listed(&list("status=PENDING_SETTLEMENT").await), [fs2, fs1]);
    assert!(listed(&list("status=SETTLED").await).is_empty());
    for (query, problem) in [
        ("status=settled", "status: not a settlement status"),
        ("page=0", "page: a number from 1 to 100000"),
        ("format=xls", "format: csv or nothing"),
        ("app=%00", "app: control characters are not allowed"),
    ] {
        let refused = list(query).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(refused.body.contains(problem), "{query}: {}", refused.body);
    }
    // Another app's operator finds nothing of the shop's, by list or URL.
    let foreign = console
        .get(&format!("/admin/settlements?{shop_app}"), &elsewhere.cookie)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let foreign = console
        .get(&format!("/admin/settlements/{fs1}"), &elsewhere.cookie)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let approve_fs1 = format!("/admin/settlements/{fs1}/approve");
    let foreign = post(&console, &elsewhere, &approve_fs1, &[("amount", "30")]).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);

    // The settlement's page offers what the role may do; a viewer sees no such button.
    let details = console
        .get(&format!("/admin/settlements/{fs1}"), &fin.cookie)
        .await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    for shown in [
        "fs1",
        "PENDING_SETTLEMENT",
        "Shop GmbH",
        "DE89370400440532013000",
        "Commerzbank",
    ] {
        assert!(details.body.contains(shown), "{shown}: {}", details.body);
    }
    assert!(details.body.contains(&format!(r#"href="{approve_fs1}""#)));
    assert!(
        details
            .body
            .contains(&format!(r#"action="/admin/settlements/{fs1}/reject""#))
    );
    let seen_by_viewer = console
        .get(&format!("/admin/settlements/{fs1}"), &viewer.cookie)
        .await;
    assert_eq!(seen_by_viewer.status, StatusCode::OK);
    assert!(!seen_by_viewer.body.contains(&approve_fs1));
    let confirmation = console.get(&approve_fs1, &viewer.cookie).await;
    assert_eq!(confirmation.status, StatusCode::FORBIDDEN);

    // The second look names the amount, token and destination.
    let confirmation = console.get(&approve_fs1, &fin.cookie).await;
    assert_eq!(confirmation.status, StatusCode::OK, "{}", confirmation.body);
    for shown in [
        "Approving sends 30.00 ETH_USDT to:",
        "Shop GmbH",
        "DE89370400440532013000",
        "Commerzbank",
        "COBADEFFXXX",
        r#"name="amount" value="30.00""#,
        &format!(r#"action="{approve_fs1}""#),
    ] {
        assert!(
            confirmation.body.contains(shown),
            "{shown}: {}",
            confirmation.body
        );
    }
    // Without the session's CSRF token, or confirming another amount, nothing changes.
    let unsigned = console
        .post(&approve_fs1, &fin.cookie, &[("amount", "30")])
        .await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    let other_token = [("csrf_token", viewer.csrf.as_str()), ("amount", "30")];
    let forged = console.post(&approve_fs1, &fin.cookie, &other_token).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = post(&console, &fin, &approve_fs1, &[("amount", "31")]).await;
    assert_eq!(wrong.status, StatusCode::CONFLICT, "{}", wrong.body);
    assert!(
        wrong.body.contains("not the 31 confirmed"),
        "{}",
        wrong.body
    );
    assert_eq!(
        api_settlement(&gw, &shop, "fs1").await["settlementStatus"],
        "PENDING_SETTLEMENT"
    );

    let approved = post(&console, &fin, &approve_fs1, &[("amount", "30")]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(approved.location(), format!("/admin/settlements/{fs1}"));
    assert_eq!(
        api_settlement(&gw, &shop, "fs1").await["settlementStatus"],
        "SETTLING"
    );
    let again = post(&console, &fin, &approve_fs1, &[("amount", "30")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(
        console.get(&approve_fs1, &fin.cookie).await.status,
        StatusCode::CONFLICT
    );

    // Marking it paid needs a bank reference, a clean one.
    let paid_fs1 = format!("/admin/settlements/{fs1}/paid");
    for bad in ["", "   ", "REF\u{0}1", &"R".repeat(201)] {
        let refused = post(&console, &fin, &paid_fs1, &[("bank_reference", bad)]).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad:?}: {}",
            refused.body
        );
    }
    let paid = post(
        &console,
        &fin,
        &paid_fs1,
        &[("bank_reference", " BANKREF-1 ")],
    )
    .await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    let info = api_settlement(&gw, &shop, "fs1").await;
    assert_eq!(
        (&info["settlementStatus"], &info["bankReference"]),
        (&json!("SETTLED"), &json!("BANKREF-1")),
        "{info}"
    );
    let twice = post(
        &console,
        &fin,
        &paid_fs1,
        &[("bank_reference", "BANKREF-2")],
    )
    .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // Rejecting fs2 with a reason returns its funds; the integrator reads the reason.
    let reject_fs2 = format!("/admin/settlements/{fs2}/reject");
    let refused = post(&console, &fin, &reject_fs2, &[("reason", "")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let rejected = post(&console, &fin, &reject_fs2, &[("reason", "name mismatch")]).await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.body);
    let info = api_settlement(&gw, &shop, "fs2").await;
    assert_eq!(
        (&info["settlementStatus"], &info["failureReason"]),
        (&json!("REJECTED"), &json!("name mismatch")),
        "{info}"
    );

    // Each decision is in the audit log, by whom, on which settlement, from where.
    let log = gw.store.audit_log(3).await.unwrap();
    let decisions: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e.operator.as_str(),
                e.action,
                e.target.as_str(),
                e.client.as_str(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("fin", ConsoleAction::RejectSettlement, fs2, "127.0.0.1"),
            ("fin", ConsoleAction::MarkSettlementPaid, fs1, "127.0.0.1"),
            ("fin", ConsoleAction::ApproveSettlement, fs1, "127.0.0.1"),
        ]
    );
}

/// The settlement list as CSV: the same filters, one line per settlement, cells quoted and kept
/// from being read as formulas.
async fn settlements_export_as_csv(gw: TestGateway) {
    let merchant = r#"=HYPERLINK("http://x","y"), z"#;
    let (shop, sysids) = funded_app_with_settlements(&gw, merchant, &["-1", "s-2"], "10").await;
    create(&gw, "fin", "finance").await;
    let console = Console::of(&gw);
    let fin = console.sign_in("fin", PASSWORD).await;
    let reject = format!("/admin/settlements/{}/reject", sysids[1]);
    let rejected = post(&console, &fin, &reject, &[("reason", "no")]).await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER);

    let path = format!("/admin/settlements?app={}&format=csv", shop.app_id);
    let all = console.get(&path, &fin.cookie).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(all.headers["x-total-count"], "2");
    let disposition = all.headers["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"settlements-{}.csv\"", shop.app_id)
    );
    let lines: Vec<&str> = all.body.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{}", all.body);
    assert!(lines[0].starts_with("sysid,settlementOrderNo,app,merchantId,token,amount,"));
    let merchant_cell = r#""'=HYPERLINK(""http://x"",""y""), z""#;
    let second = format!(
        "{},s-2,{},{merchant_cell},ETH_USDT,10.00,",
        sysids[1], shop.app_id
    );
    assert!(lines[1].starts_with(&second), "{}", lines[1]);
    assert!(lines[1].contains(",REJECTED,"), "{}", lines[1]);
    assert!(
        lines[2].starts_with(&format!("{},'-1,", sysids[0])),
        "{}",
        lines[2]
    );
    let pending = console
        .get(&format!("{path}&status=PENDING_SETTLEMENT"), &fin.cookie)
        .await;
    let lines: Vec<&str> = pending.body.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{}", pending.body);
    assert!(lines[1].starts_with(&sysids[0]));
    let unsigned = console.get(&path, "").await;
    assert_eq!(
        unsigned.status,
        StatusCode::SEE_OTHER,
        "no file without a session"
    );
}

on_both_engines!(
    a_finance_operator_decides_fiat_settlements,
    settlements_export_as_csv
);

/// In Chromium: a finance operator opens a fiat settlement, approves it on the confirmation
/// page, marks it paid with the bank's reference; the integrator's API shows it `SETTLED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finance_operator_approves_and_pays_a_fiat_settlement_in_a_browser() {
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let (shop, sysids) = funded_app_with_settlements(&gw, MERCHANT, &["wire-7"], "42.5").await;
    create(&gw, "fin", "finance").await;
    let browser = Browser::start(390, 844).await;
    sign_in_with(&browser, &gw.base_url, "fin").await;
    browser.click("nav a[href='/admin/settlements']").await;
    shown_at(&browser, "/admin/settlements").await;
    browser.click("td a").await;
    let page = format!("/admin/settlements/{}", sysids[0]);
    shown_at(&browser, &page).await;
    browser.click("a.approve").await;
    shown_at(&browser, &format!("{page}/approve")).await;
    let confirmation = page_text(&browser).await;
    for shown in [
        "42.50 ETH_USDT",
        "Shop GmbH",
        "DE89370400440532013000",
        "Commerzbank",
    ] {
        assert!(confirmation.contains(shown), "{shown}: {confirmation}");
    }
    browser.click("form.action button").await;
    shown_at(&browser, &page).await;
    eventually_in(
        &browser,
        "return document.querySelector('dd.status').innerText === 'SETTLING';",
    )
    .await;
    assert_eq!(
        api_settlement(&gw, &shop, "wire-7").await["settlementStatus"],
        "SETTLING"
    );
    browser
        .type_into("form.paid input[name=bank_reference]", "WIRE-2026-0042")
        .await;
    browser.click("form.paid button").await;
    eventually_in(
        &browser,
        "return document.querySelector('dd.status').innerText === 'SETTLED';",
    )
    .await;
    let info = api_settlement(&gw, &shop, "wire-7").await;
    assert_eq!(info["settlementStatus"], "SETTLED", "{info}");
    assert_eq!(info["bankReference"], "WIRE-2026-0042");
    let shown = page_text(&browser).await;
    assert!(shown.contains("WIRE-2026-0042"), "{shown}");
    let width = browser
        .eval("return document.documentElement.scrollWidth;", json!([]))
        .await;
    assert!(
        width.as_u64().unwrap() <= 390,
        "the page fits the phone: {width}"
    );
    let log = gw.store.audit_log(2).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            ConsoleAction::MarkSettlementPaid,
            ConsoleAction::ApproveSettlement
        ]
    );
}
