//! Who may change what: a viewer (and every role below the least allowed) refused on every
//! changing route, every form refused without its session's CSRF token; the audit log page;
//! listing and ending sessions, and signing out everywhere.

use reqwest::StatusCode;
use serde_json::json;
use wcheckout_app::operators::{Actor, OperatorAdmin};
use wcheckout_domain::operator::{AuditEntry, ConsoleAction};
use wcheckout_domain::ports::{
    ChainStore, Clock, ConsoleStore, MoneyStore, OperatorStore, OutboxFilter, OutboxStore,
};
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::chain::eventually;
use crate::common::console::{
    Answer, Console, PASSWORD, Session, create, create_for, pay_in_full, session_id_of,
};
use crate::common::{Db, TestGateway, usdt_order};

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Every route that changes something, with the least role allowed on it: `{order}` is a
/// paying order's sysid, `{paid}` a paid order's and `{event}` its webhook's, `{settlement}` a
/// fiat settlement's waiting for approval, `{session}` an admin's session, `{app}` an app
/// with a webhook URL. The fields are what
/// its form sends besides the CSRF token.
/// A route, the least role allowed on it, and its form's fields.
type ChangingRoute = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CHANGING_ROUTES: [ChangingRoute; 20] = [
    ("/admin/orders/{order}/cancel", "support", &[]),
    ("/admin/apps/{app}/webhook-test", "support", &[]),
    (
        "/admin/orders/{paid}/webhooks/{event}/resend",
        "support",
        &[],
    ),
    ("/admin/webhooks/{event}/resend", "support", &[]),
    (
        "/admin/settlements/{settlement}/approve",
        "finance",
        &[("amount", "5")],
    ),
    (
        "/admin/settlements/{settlement}/reject",
        "finance",
        &[("reason", "no")],
    ),
    (
        "/admin/settlements/{settlement}/paid",
        "finance",
        &[("bank_reference", "REF")],
    ),
    ("/admin/sessions/{session}/revoke", "admin", &[]),
    (
        "/admin/orders/{paid}/refund",
        "finance",
        &[
            ("refund_no", "console-1"),
            ("amount", "1"),
            ("token", "ETH_USDT"),
            ("address", "0x1111111111111111111111111111111111111111"),
        ],
    ),
    (
        "/admin/orders/{paid}/abnormal/AP1/refund",
        "finance",
        &[("refund_no", "console-2"), ("token", "ETH_USDT")],
    ),
    ("/admin/apps", "admin", &[("name", "New")]),
    ("/admin/apps/{app}/rotate", "admin", &[]),
    (
        "/admin/apps/{app}/webhook-url",
        "admin",
        &[("webhook_url", "https://x.example/hooks")],
    ),
    (
        "/admin/apps/{app}/ip-allowlist",
        "admin",
        &[("ip_allow", "10.0.0.0/8")],
    ),
    (
        "/admin/apps/{app}/branding",
        "admin",
        &[("display_name", "Changed")],
    ),
    (
        "/admin/apps/{app}/preview",
        "admin",
        &[("display_name", "Draft")],
    ),
    (
        "/admin/operators",
        "admin",
        &[("name", "eve"), ("role", "admin"), ("password", PASSWORD)],
    ),
    ("/admin/operators/viewer/disable", "admin", &[]),
    ("/admin/operators/{disabled}/enable", "admin", &[]),
    ("/admin/operators/{enrolled}/reset-totp", "admin", &[]),
];

/// Routes every signed-in operator may post to (its own session or account only).
const OWN_SESSION_ROUTES: [&str; 5] = [
    "/admin/logout",
    "/admin/logout-everywhere",
    "/admin/account/totp/enable",
    "/admin/account/totp/disable",
    "/admin/account/password",
];

const ROLES: [&str; 4] = ["viewer", "support", "finance", "admin"];

async fn post_with(
    console: &Console,
    session: &Session,
    path: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> Answer {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    if let Some(csrf) = csrf {
        form.push(("csrf_token", csrf));
    }
    console.post(path, &session.cookie, &form).await
}

async fn every_changing_route_refuses_lower_roles_and_missing_tokens(gw: TestGateway) {
    // The shop has no webhook URL: its events fail at their first attempt, and stay failed
    // unless resent. The other app has one, to be tested.
    let shop = gw.create_app().await;
    let hooked = gw
        .admin
        .create("Hooks", Some("http://127.0.0.1:9/hooks"), &[])
        .await
        .unwrap();
    let paying = gw
        .created_order(&shop, usdt_order("A-1", "10", json!({})))
        .await;
    let paid = gw
        .created_order(&shop, usdt_order("A-2", "10", json!({})))
        .await;
    let (paying, paid) = (
        paying["sysid"].as_str().unwrap(),
        paid["sysid"].as_str().unwrap(),
    );
    pay_in_full(&gw, paid, 1).await;
    let event = gw
        .store
        .events_of_objects(&[format!("order:{paid}")])
        .await
        .unwrap()[0]
        .event
        .event_id
        .clone();
    let body = json!({
        "settlementOrderNo": "S-1", "token": "ETH_USDT", "amount": "5",
        "bankAccount": {"accountName": "Shop", "accountNumber": "1", "bankName": "Bank"},
    });
    let created = gw
        .client(&shop)
        .create_fiat_settlement(&body)
        .await
        .unwrap();
    let settlement = created.retdata()["sysid"].as_str().unwrap().to_owned();
    for role in ROLES {
        create(&gw, role, role).await;
    }
    // An account to enable, and one whose second factor could be reset.
    create(&gw, "gone", "viewer").await;
    create(&gw, "enrolled", "viewer").await;
    let operators = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    let cli = Actor::command_line();
    operators.disable(&cli, "gone").await.unwrap();
    let enrolled = operators.enable_totp(&cli, "enrolled", &gw.gateway.secrets);
    enrolled.await.unwrap();
    let console = Console::of(&gw);
    let mut sessions = Vec::new();
    for role in ROLES {
        sessions.push((role, console.sign_in(role, PASSWORD).await));
    }
    let admin = &sessions[3].1;
    let victim = console.sign_in("admin", PASSWORD).await;
    let path_of = |route: &str| {
        route
            .replace("{order}", paying)
            .replace("{app}", &hooked.app_id)
            .replace("{paid}", paid)
            .replace("{event}", &event)
            .replace("{settlement}", &settlement)
            .replace("{session}", &session_id_of(&victim))
            .replace("{disabled}", "gone")
            .replace("{enrolled}", "enrolled")
    };
    let event_before = eventually(WAIT, "the event failed", || async {
        let found = gw.store.outbox_event(&event).await.unwrap().unwrap().0;
        (found.status == DeliveryStatus::Failed).then_some(found)
    })
    .await;
    let audit_before = gw.store.audit_log(1000).await.unwrap().len();
    let apps_before = gw.admin.list().await.unwrap();
    let accounts_before = gw.store.operators().await.unwrap();

    for (route, least, fields) in CHANGING_ROUTES {
        let path = path_of(route);
        let allowed = ROLES.iter().position(|r| *r == least).unwrap();
        assert!(allowed > 0, "{route}: a viewer may change nothing");
        for (role, session) in &sessions[..allowed] {
            let refused = post_with(&console, session, &path, Some(&session.csrf), fields).await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{role} {path}: {}",
                refused.body
            );
            assert!(
                refused.body.contains("Your role may not do this."),
                "{}",
                refused.body
            );
        }
    }
    // Every form, changing routes and one's own session's alike, wants its session's token.
    let forms = CHANGING_ROUTES
        .iter()
        .map(|(route, _, fields)| (path_of(route), *fields))
        .chain(
            OWN_SESSION_ROUTES
                .iter()
                .map(|r| ((*r).to_owned(), &[][..])),
        );
    for (path, fields) in forms {
        for csrf in [None, Some(""), Some(sessions[0].1.csrf.as_str())] {
            let refused = post_with(&console, admin, &path, csrf, fields).await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{path} {csrf:?}: {}",
                refused.body
            );
            assert!(refused.body.contains("Reload the page"), "{}", refused.body);
        }
    }

    // Nothing changed.
    let order = gw.store.order_by_sysid(paying).await.unwrap().unwrap();
    assert_eq!(order.status.to_string(), "PAYING");
    let info = gw.client(&shop).settlement_info("S-1").await.unwrap();
    assert_eq!(info.retdata()["settlementStatus"], "PENDING_SETTLEMENT");
    let event_after = gw.store.outbox_event(&event).await.unwrap().unwrap().0;
    assert_eq!(event_after, event_before, "not resent");
    let tests = gw
        .store
        .list_outbox(&OutboxFilter::default(), 10)
        .await
        .unwrap();
    assert!(
        tests
            .iter()
            .all(|e| e.event.app_id.as_str() != hooked.app_id),
        "no test sent"
    );
    assert!(
        console.opens(&victim).await,
        "the admin's other session lives"
    );
    assert!(console.opens(admin).await, "still signed in");
    assert_eq!(gw.store.audit_log(1000).await.unwrap().len(), audit_before);
    let apps_after = gw.admin.list().await.unwrap();
    let unchanged = |apps: &[wcheckout_app::admin::AppSummary]| {
        apps.iter()
            .map(|a| {
                format!(
                    "{} {:?} {:?} {:?} {}",
                    a.app_id, a.webhook_url, a.ip_allow, a.display_name, a.secrets_version
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unchanged(&apps_after),
        unchanged(&apps_before),
        "no app created or changed"
    );
    assert!(
        gw.store.refunds_of_order(paid).await.unwrap().is_empty(),
        "no refund"
    );
    assert_eq!(
        gw.store.operators().await.unwrap(),
        accounts_before,
        "no account created or changed"
    );
}

/// Appends `count` entries by `operator`.
async fn log_actions(gw: &TestGateway, operator: &str, count: u32) {
    for n in 0..count {
        let entry = AuditEntry {
            operator: operator.to_owned(),
            action: ConsoleAction::CancelOrder,
            target: format!("OR{n:04}"),
            at: fixtures::at(i64::from(n)),
            client: "192.0.2.1".into(),
        };
        gw.store.append_audit(&entry).await.unwrap();
    }
}

/// The targets of a page's entries, in order, and its link to the next page.
fn audit_rows(page: &Answer) -> (Vec<String>, Option<String>) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    let rows = match body.find("<tbody>") {
        Some(start) => {
            let tbody = &body[start..body.find("</tbody>").unwrap()];
            tbody
                .split("<tr>")
                .skip(1)
                .map(|row| {
                    let cells: Vec<&str> = row.split("<td>").skip(1).collect();
                    let operator = cells[1].trim_end_matches("</td>");
                    let target = cells[3].trim_start_matches("<code>");
                    format!("{operator} {}", &target[..target.find('<').unwrap()])
                })
                .collect()
        }
        None => Vec::new(),
    };
    let marker = r#"rel="next" href=""#;
    let next = body.find(marker).map(|at| {
        let rest = &body[at + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    });
    (rows, next)
}

async fn the_audit_log_is_read_newest_first_a_page_at_a_time(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    create(&gw, "root", "viewer").await;
    create_for(&gw, "shop-op", "support", Some(&shop.app_id)).await;
    create_for(&gw, "other-op", "support", Some(&other.app_id)).await;
    log_actions(&gw, "shop-op", 55).await;
    log_actions(&gw, "other-op", 3).await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let shop_op = console.sign_in("shop-op", PASSWORD).await;

    // Everything, newest first: shop-op's sign-in, root's sign-in, other-op's 3, shop-op's 55
    // (the newest of them first), then the 3 accounts' creation by the command line.
    let (first, next) = audit_rows(&console.get("/admin/audit", &root.cookie).await);
    assert_eq!(first.len(), 50);
    assert_eq!(
        &first[..5],
        [
            "shop-op ",
            "root ",
            "other-op OR0002",
            "other-op OR0001",
            "other-op OR0000"
        ]
    );
    assert_eq!(first[5], "shop-op OR0054");
    let next = next.expect("a second page");
    let (second, last) = audit_rows(&console.get(&next, &root.cookie).await);
    assert_eq!(second.len(), 63 - 50, "{second:?}");
    assert_eq!(
        second[second.len() - 4..],
        ["shop-op OR0000", "cli other-op", "cli shop-op", "cli root"]
    );
    assert!(last.is_none());

    // An app's operator sees its app's operators' entries only.
    let (own, next) = audit_rows(&console.get("/admin/audit", &shop_op.cookie).await);
    assert_eq!(own.len(), 50);
    assert!(own.iter().all(|row| row.starts_with("shop-op ")), "{own:?}");
    let (rest, _) = audit_rows(&console.get(&next.unwrap(), &shop_op.cookie).await);
    assert_eq!(rest.len(), 56 - 50);
    assert!(
        rest.iter().all(|row| row.starts_with("shop-op ")),
        "{rest:?}"
    );

    for query in [
        "before=abc",
        "before=0",
        "before=-5",
        "before=99999999999999999999",
    ] {
        let refused = console
            .get(&format!("/admin/audit?{query}"), &root.cookie)
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let written = console
        .post("/admin/audit", &root.cookie, &[("csrf_token", &root.csrf)])
        .await;
    assert_eq!(written.status, StatusCode::METHOD_NOT_ALLOWED, "read-only");
    let unsigned = console.get("/admin/audit", "").await;
    assert_eq!(unsigned.status, StatusCode::SEE_OTHER);
}

async fn an_admin_ends_sessions_and_operators_sign_out_everywhere(gw: TestGateway) {
    create(&gw, "boss", "admin").await;
    create(&gw, "alice", "finance").await;
    create(&gw, "bob", "support").await;
    let console = Console::of(&gw);
    let boss = console.sign_in("boss", PASSWORD).await;
    let (a1, a2, a3) = (
        console.sign_in("alice", PASSWORD).await,
        console.sign_in("alice", PASSWORD).await,
        console.sign_in("alice", PASSWORD).await,
    );
    let bob = console.sign_in("bob", PASSWORD).await;

    let refused = console.get("/admin/sessions", &a1.cookie).await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "only admins list sessions"
    );
    let listed = console.get("/admin/sessions", &boss.cookie).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body.matches("<td>alice</td>").count(),
        3,
        "{}",
        listed.body
    );
    assert!(listed.body.contains("<td>bob</td>") && listed.body.contains("this session"));
    for session in [&a1, &a2, &a3, &bob] {
        let revoke = format!(
            r#"action="/admin/sessions/{}/revoke""#,
            session_id_of(session)
        );
        assert!(listed.body.contains(&revoke), "{revoke}");
        let token = session.cookie.trim_start_matches("wcheckout_session=");
        assert!(!listed.body.contains(token), "no token on the page");
    }
    let live = gw
        .store
        .live_console_sessions(gw.clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(live.len(), 5);
    for session in live {
        let hash = &session.token_hash;
        assert!(
            !listed.body.contains(hash),
            "nor the hash the database keeps"
        );
    }

    let revoke_a1 = format!("/admin/sessions/{}/revoke", session_id_of(&a1));
    let revoked = console
        .post(&revoke_a1, &boss.cookie, &[("csrf_token", &boss.csrf)])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert!(!console.opens(&a1).await, "ended");
    assert!(console.opens(&a2).await && console.opens(&bob).await);
    let again = console
        .post(&revoke_a1, &boss.cookie, &[("csrf_token", &boss.csrf)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "no such live session");
    let log = gw.store.audit_log(1).await.unwrap();
    let target = format!("alice {}", session_id_of(&a1));
    assert_eq!(
        (
            log[0].operator.as_str(),
            log[0].action,
            log[0].target.as_str()
        ),
        ("boss", ConsoleAction::RevokeSession, target.as_str())
    );

    // Alice signs out everywhere from a2: a3 ends too, Bob's and the admin's do not.
    let everywhere = console
        .post(
            "/admin/logout-everywhere",
            &a2.cookie,
            &[("csrf_token", &a2.csrf)],
        )
        .await;
    assert_eq!(
        (everywhere.status, everywhere.location()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    assert!(
        everywhere
            .set_cookie("wcheckout_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(!console.opens(&a2).await && !console.opens(&a3).await);
    assert!(console.opens(&bob).await && console.opens(&boss).await);
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(
        (log[0].operator.as_str(), log[0].action),
        ("alice", ConsoleAction::SignOutEverywhere)
    );
    let home = console.get("/admin", &bob.cookie).await;
    assert!(home.body.contains(r#"action="/admin/logout-everywhere""#));
}

on_both_engines!(
    every_changing_route_refuses_lower_roles_and_missing_tokens,
    the_audit_log_is_read_newest_first_a_page_at_a_time,
    an_admin_ends_sessions_and_operators_sign_out_everywhere,
);
