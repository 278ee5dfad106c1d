//! Apps in the console (admins): creating one and seeing its credentials once, rotating its
//! secrets, its webhook URL, IP allow-list and payment-page branding with a preview; and refunds
//! from the order page (finance): a paid order's and an abnormal payment's, after a confirmation
//! page, through the integrator's use cases.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::ports::{MoneyStore, OperatorStore};

use crate::common::browser::{self, Browser};
use crate::common::console::{
    Answer, Console, PASSWORD, Session, create, create_for, eventually_in, page_text, pay_in_full,
    shown_at, sign_in_with, transfer_in,
};
use crate::common::{Db, TestGateway, usdt_order};

/// A 1×1 PNG as a `data:` URI.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The text of the element `#id` in a page.
fn text_of(page: &Answer, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id}: {}", page.body))
        + marker.len();
    let rest = &page.body[start..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// The credentials a credentials page shows.
fn shown_credentials(page: &Answer) -> IssuedCredentials {
    IssuedCredentials {
        app_id: text_of(page, "app-id"),
        api_key: text_of(page, "api-key"),
        api_secret: text_of(page, "api-secret"),
        sign_key: text_of(page, "sign-key"),
    }
}

/// Follows a create or rotate answer to the page showing the credentials once, checks that
/// the page clears their cookie and that asking again, without the cookie or with it, shows
/// nothing; the credentials.
async fn credentials_once(
    console: &Console,
    session: &Session,
    answer: &Answer,
) -> IssuedCredentials {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let path = answer.location().to_owned();
    assert!(path.ends_with("/credentials"), "{path}");
    let sealed = answer.set_cookie("wcheckout_credentials").unwrap();
    assert!(sealed.contains(&format!("Path={path}")), "{sealed}");
    assert!(
        sealed.contains("HttpOnly") && sealed.contains("SameSite=Strict"),
        "{sealed}"
    );
    let cookie = format!(
        "{}; wcheckout_credentials={}",
        session.cookie,
        answer.cookie_value("wcheckout_credentials")
    );
    let shown = console.get(&path, &cookie).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.headers["cache-control"], "no-store");
    let cleared = shown.set_cookie("wcheckout_credentials").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let credentials = shown_credentials(&shown);
    assert!(!credentials.api_secret.is_empty() && !credentials.sign_key.is_empty());
    // Reloaded (the browser dropped the cookie): nothing to show.
    let reloaded = console.get(&path, &session.cookie).await;
    assert_eq!(reloaded.status, StatusCode::GONE, "{}", reloaded.body);
    assert!(!reloaded.body.contains(&credentials.api_secret));
    assert!(
        reloaded.body.contains("shown only once"),
        "{}",
        reloaded.body
    );
    // The same cookie sent again (kept by a proxy, a script, a second tab) shows nothing: its
    // use was remembered.
    let replayed = console.get(&path, &cookie).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert!(!replayed.body.contains(&credentials.api_secret));
    credentials
}

async fn an_admin_manages_apps(gw: TestGateway) {
    let other = gw.create_app().await;
    create(&gw, "root", "admin").await;
    create(&gw, "root2", "admin").await;
    create(&gw, "fin", "finance").await;
    create_for(&gw, "own", "admin", Some(&other.app_id)).await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let fin = console.sign_in("fin", PASSWORD).await;
    let own = console.sign_in("own", PASSWORD).await;
    let root2 = console.sign_in("root2", PASSWORD).await;

    // Reading the apps pages is an admin's.
    let refused = console.get("/admin/apps", &fin.cookie).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let list = console.get("/admin/apps", &root.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&other.app_id), "{}", list.body);
    assert!(list.body.contains("Create an app"));

    let created = console
        .post(
            "/admin/apps",
            &root.cookie,
            &[
                ("csrf_token", &root.csrf),
                ("name", "Console Shop"),
                ("webhook_url", "https://shop.example/hooks"),
                ("ip_allow", "10.0.0.0/8\n192.0.2.1"),
            ],
        )
        .await;
    let credentials = credentials_once(&console, &root, &created).await;
    // Another admin's session cannot open them (sealed for the session that made them), nor an
    // operator of another app (404).
    for thief in [&root2, &own] {
        let stolen = format!(
            "{}; wcheckout_credentials={}",
            thief.cookie,
            created.cookie_value("wcheckout_credentials")
        );
        let elsewhere = console.get(created.location(), &stolen).await;
        let expected = if thief.cookie == root2.cookie {
            StatusCode::GONE
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(elsewhere.status, expected, "{}", elsewhere.body);
        assert!(!elsewhere.body.contains(&credentials.api_secret));
    }
    let app_id = credentials.app_id.clone();
    let app = gw.admin.show(&app_id).await.unwrap();
    assert_eq!(app.name, "Console Shop");
    assert_eq!(
        app.webhook_url.as_deref(),
        Some("https://shop.example/hooks")
    );
    assert_eq!(app.ip_allow, ["10.0.0.0/8", "192.0.2.1/32"]);
    // The credentials work (the API is called from 127.0.0.1, which the allow-list lacks).
    let page = format!("/admin/apps/{app_id}");
    let allow_local = console
        .post(
            &format!("{page}/ip-allowlist"),
            &root.cookie,
            &[
                ("csrf_token", &root.csrf),
                ("ip_allow", "10.0.0.0/8, 127.0.0.1"),
            ],
        )
        .await;
    assert_eq!(
        allow_local.status,
        StatusCode::SEE_OTHER,
        "{}",
        allow_local.body
    );
    assert_eq!(allow_local.location(), page);
    let order = gw
        .created_order(&credentials, usdt_order("C-1", "10", json!({})))
        .await;

    // A wrong field: 400 naming it, nothing changed.
    for (route, field, value, named) in [
        (
            "webhook-url",
            "webhook_url",
            "ftp://shop.example",
            "webhook-url",
        ),
        (
            "ip-allowlist",
            "ip_allow",
            "10.0.0.0/8, not-a-network",
            "ip-allow",
        ),
        ("branding", "theme_color", "red", "theme-color"),
    ] {
        let wrong = console
            .post(
                &format!("{page}/{route}"),
                &root.cookie,
                &[("csrf_token", &root.csrf), (field, value)],
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::BAD_REQUEST,
            "{route}: {}",
            wrong.body
        );
        assert!(wrong.body.contains(named), "{}", wrong.body);
    }
    let unchanged = gw.admin.show(&app_id).await.unwrap();
    assert_eq!(
        unchanged.webhook_url.as_deref(),
        Some("https://shop.example/hooks")
    );
    assert_eq!(unchanged.ip_allow, ["10.0.0.0/8", "127.0.0.1/32"]);
    assert_eq!(unchanged.theme_color, None);

    let hooked = console
        .post(
            &format!("{page}/webhook-url"),
            &root.cookie,
            &[
                ("csrf_token", &root.csrf),
                ("webhook_url", "https://shop.example/v2/hooks"),
            ],
        )
        .await;
    assert_eq!(hooked.status, StatusCode::SEE_OTHER, "{}", hooked.body);
    let shown = console.get(&page, &root.cookie).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("https://shop.example/v2/hooks"));
    assert!(!shown.body.contains(&credentials.api_secret));
    assert!(
        shown.body.contains(r#"<iframe name="preview""#),
        "{}",
        shown.body
    );

    // The preview draws the draft and saves nothing.
    let draft = [
        ("csrf_token", root.csrf.as_str()),
        ("display_name", "Acme Preview"),
        ("theme_color", "#aa3300"),
        ("logo", PNG),
    ];
    let preview = console
        .post(&format!("{page}/preview"), &root.cookie, &draft)
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Acme Preview"), "{}", preview.body);
    assert!(preview.body.contains("--theme:#aa3300"), "{}", preview.body);
    assert!(preview.body.contains(PNG), "the draft logo inline");
    assert!(preview.body.contains("PREVIEW-0001"));
    let policy = preview.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
    assert_eq!(gw.admin.show(&app_id).await.unwrap().display_name, None);
    let no_token = console
        .post(&format!("{page}/preview"), &root.cookie, &draft[1..])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let saved = console
        .post(&format!("{page}/branding"), &root.cookie, &draft)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let after = gw.admin.show(&app_id).await.unwrap();
    assert_eq!(after.display_name.as_deref(), Some("Acme Preview"));
    assert_eq!(after.theme_color.as_deref(), Some("#aa3300"));
    assert!(
        after.logo.as_deref().unwrap().starts_with("image/png"),
        "{after:?}"
    );
    // The payment page shows it.
    let payment_page = reqwest::get(order["paymentUrl"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(payment_page.contains("Acme Preview"), "{payment_page}");
    assert!(payment_page.contains("--theme:#aa3300"));
    assert!(payment_page.contains("/logo\""), "{payment_page}");
    // An empty logo field keeps the logo; the box removes it.
    let kept = [
        ("csrf_token", root.csrf.as_str()),
        ("display_name", "Acme"),
        ("theme_color", ""),
    ];
    console
        .post(&format!("{page}/branding"), &root.cookie, &kept)
        .await;
    let after = gw.admin.show(&app_id).await.unwrap();
    assert_eq!(after.display_name.as_deref(), Some("Acme"));
    assert_eq!(after.theme_color, None);
    assert!(after.logo.is_some());
    let removed = [kept[0], kept[1], ("remove_logo", "1")];
    console
        .post(&format!("{page}/branding"), &root.cookie, &removed)
        .await;
    assert_eq!(gw.admin.show(&app_id).await.unwrap().logo, None);

    // Rotating: new secrets shown once, the old ones stop working.
    let rotated = console
        .post(
            &format!("{page}/rotate"),
            &root.cookie,
            &[("csrf_token", &root.csrf)],
        )
        .await;
    let fresh = credentials_once(&console, &root, &rotated).await;
    assert_eq!(fresh.app_id, app_id);
    assert_ne!(fresh.api_secret, credentials.api_secret);
    let old = gw.client(&credentials).access_token().await;
    assert!(old.is_err(), "the old secret is refused");
    gw.client(&fresh).access_token().await.unwrap();

    // An app-bound admin: its own app only, and no new apps.
    let listed = console.get("/admin/apps", &own.cookie).await;
    assert!(listed.body.contains(&other.app_id));
    assert!(!listed.body.contains(&app_id), "{}", listed.body);
    assert!(!listed.body.contains("Create an app"));
    assert_eq!(
        console.get(&page, &own.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    for (route, fields) in [
        ("rotate", vec![]),
        ("webhook-url", vec![("webhook_url", "https://evil.example")]),
        ("ip-allowlist", vec![("ip_allow", "")]),
        ("branding", vec![("display_name", "Evil")]),
        ("preview", vec![("display_name", "Evil")]),
    ] {
        let mut form = fields.clone();
        form.push(("csrf_token", own.csrf.as_str()));
        let hidden = console
            .post(&format!("{page}/{route}"), &own.cookie, &form)
            .await;
        assert_eq!(
            hidden.status,
            StatusCode::NOT_FOUND,
            "{route}: {}",
            hidden.body
        );
    }
    let bound_create = console
        .post(
            "/admin/apps",
            &own.cookie,
            &[("csrf_token", &own.csrf), ("name", "Mine")],
        )
        .await;
    assert_eq!(
        bound_create.status,
        StatusCode::FORBIDDEN,
        "{}",
        bound_create.body
    );
    assert_eq!(gw.admin.list().await.unwrap().len(), 2);
    let own_page = console
        .get(&format!("/admin/apps/{}", other.app_id), &own.cookie)
        .await;
    assert_eq!(own_page.status, StatusCode::OK, "{}", own_page.body);

    // In Chinese.
    let zh = console
        .get(&format!("{page}?lang=zh-CN"), &root.cookie)
        .await;
    assert!(zh.body.contains("支付页品牌"), "{}", zh.body);

    // Audited with the app's id, never a secret.
    let log = gw.store.audit_log(100).await.unwrap();
    let done: Vec<(ConsoleAction, String)> = log
        .iter()
        .filter(|e| e.operator == "root" && e.action != ConsoleAction::SignIn)
        .map(|e| (e.action, e.target.clone()))
        .collect();
    let on_app = |action| (action, app_id.clone());
    assert_eq!(
        done,
        [
            on_app(ConsoleAction::RotateSecret),
            on_app(ConsoleAction::SetBranding),
            on_app(ConsoleAction::SetBranding),
            on_app(ConsoleAction::SetBranding),
            on_app(ConsoleAction::SetWebhookUrl),
            on_app(ConsoleAction::SetIpAllowlist),
            on_app(ConsoleAction::CreateApp),
        ]
    );
    for entry in &log {
        for secret in [
            &credentials.api_secret,
            &credentials.sign_key,
            &fresh.api_secret,
        ] {
            assert!(!entry.target.contains(secret.as_str()));
        }
    }
}

/// The confirmation page's hidden fields, as the form will send them.
fn confirmation_fields(page: &Answer) -> Vec<(String, String)> {
    ["refund_no", "amount", "token", "address"]
        .iter()
        .map(|name| {
            let marker = format!(r#"name="{name}" value=""#);
            let start = page
                .body
                .find(&marker)
                .unwrap_or_else(|| panic!("no {name}: {}", page.body))
                + marker.len();
            let rest = &page.body[start..];
            (
                (*name).to_owned(),
                rest[..rest.find('"').unwrap()].to_owned(),
            )
        })
        .collect()
}

/// The refund number the order page's refund form (the first, or the one of `path`) carries.
fn refund_no_of(page: &Answer, action: &str) -> String {
    let start = page
        .body
        .find(&format!(r#"action="{action}""#))
        .unwrap_or_else(|| panic!("no form {action}: {}", page.body));
    let rest = &page.body[start..];
    let marker = r#"name="refund_no" value=""#;
    let rest = &rest[rest.find(marker).unwrap() + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn post_fields(
    console: &Console,
    session: &Session,
    path: &str,
    fields: &[(String, String)],
) -> Answer {
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("csrf_token", &session.csrf));
    console.post(path, &session.cookie, &form).await
}

const DESTINATION: &str = "0x1111111111111111111111111111111111111111";

async fn a_finance_operator_refunds_from_the_order_page(gw: TestGateway) {
    let shop = gw.create_app().await;
    let other = gw.create_app().await;
    let order = gw
        .created_order(&shop, usdt_order("R-1", "10", json!({})))
        .await;
    let sysid = order["sysid"].as_str().unwrap().to_owned();
    pay_in_full(&gw, &sysid, 1).await;
    create(&gw, "fin", "finance").await;
    create(&gw, "sup", "support").await;
    create_for(&gw, "stranger", "finance", Some(&other.app_id)).await;
    let console = Console::of(&gw);
    let fin = console.sign_in("fin", PASSWORD).await;
    let sup = console.sign_in("sup", PASSWORD).await;
    let stranger = console.sign_in("stranger", PASSWORD).await;
    let page = format!("/admin/orders/{sysid}");
    let path = format!("{page}/refund");

    let support_page = console.get(&page, &sup.cookie).await;
    assert!(
        !support_page.body.contains(&path),
        "no refund form for support"
    );
    let order_page = console.get(&page, &fin.cookie).await;
    let refund_no = refund_no_of(&order_page, &path);
    assert!(refund_no.starts_with("console-"), "{refund_no}");

    // The confirmation names amount, token and destination, and changes nothing.
    let query = format!("{path}?refund_no={refund_no}&amount=4&address={DESTINATION}");
    let confirmation = console.get(&query, &fin.cookie).await;
    assert_eq!(confirmation.status, StatusCode::OK, "{}", confirmation.body);
    assert!(
        confirmation
            .body
            .contains("Refunding sends 4.00 ETH_USDT to:"),
        "{}",
        confirmation.body
    );
    assert!(confirmation.body.contains(DESTINATION));
    assert!(gw.store.refunds_of_order(&sysid).await.unwrap().is_empty());
    assert_eq!(
        console.get(&query, &sup.cookie).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console.get(&query, &stranger.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    for (wrong, named) in [
        (
            format!("{path}?refund_no={refund_no}&amount=abc&address={DESTINATION}"),
            "amount",
        ),
        (
            format!("{path}?refund_no={refund_no}&amount=4&address=0x12"),
            "address",
        ),
        (
            format!("{path}?refund_no=a%20b&amount=4&address={DESTINATION}"),
            "refund_no",
        ),
    ] {
        let refused = console.get(&wrong, &fin.cookie).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{wrong}: {}",
            refused.body
        );
        assert!(refused.body.contains(named), "{}", refused.body);
    }
    let too_much = console
        .get(
            &format!("{path}?refund_no={refund_no}&amount=11&address={DESTINATION}"),
            &fin.cookie,
        )
        .await;
    assert_eq!(too_much.status, StatusCode::OK, "checked when refunding");

    let fields = confirmation_fields(&confirmation);
    // Refused: a lower role, another app's operator, no token.
    assert_eq!(
        post_fields(&console, &sup, &path, &fields).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_fields(&console, &stranger, &path, &fields)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let no_token: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        console.post(&path, &fin.cookie, &no_token).await.status,
        StatusCode::FORBIDDEN
    );
    // Another token than the one confirmed.
    let mut other_token = fields.clone();
    other_token[2].1 = "ETH_USDC".into();
    let refused = post_fields(&console, &fin, &path, &other_token).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(gw.store.refunds_of_order(&sysid).await.unwrap().is_empty());

    let refunded = post_fields(&console, &fin, &path, &fields).await;
    assert_eq!(refunded.status, StatusCode::SEE_OTHER, "{}", refunded.body);
    assert_eq!(refunded.location(), format!("{page}#refunds"));
    // Sent again (a reload, a double click): the same refund.
    let again = post_fields(&console, &fin, &path, &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    // Changed under the same number: refused.
    let mut changed = fields.clone();
    changed[1].1 = "5".into();
    let refused = post_fields(&console, &fin, &path, &changed).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("already exists with different content"),
        "{}",
        refused.body
    );
    let refunds = gw.store.refunds_of_order(&sysid).await.unwrap();
    assert_eq!(refunds.len(), 1);

    // The integrator's API shows it.
    let info = gw.client(&shop).refund_info(&refund_no).await.unwrap();
    let info = info.retdata();
    assert_eq!(info["orderNo"], "R-1", "{info}");
    assert_eq!(info["amount"], "4.00", "{info}");
    assert_eq!(
        info["address"].as_str().unwrap().to_ascii_lowercase(),
        DESTINATION
    );
    assert_eq!(info["refundStatus"], "PENDING_REFUND", "{info}");
    let shown = console.get(&page, &fin.cookie).await;
    assert!(shown.body.contains(&refund_no), "{}", shown.body);

    // An abnormal payment of the order (a late transfer), refunded to its sender by default.
    let late = transfer_in(&gw, &sysid, 2, 3_000_000).await;
    let order_page = console.get(&page, &fin.cookie).await;
    let abnormal = gw.store.abnormal_payments_of_order(&sysid).await.unwrap();
    assert_eq!(abnormal.len(), 1, "{abnormal:?}");
    let no = abnormal[0].abnormal_payment_no.clone();
    let abnormal_path = format!("{page}/abnormal/{no}/refund");
    let abnormal_no = refund_no_of(&order_page, &abnormal_path);
    let confirmation = console
        .get(
            &format!("{abnormal_path}?refund_no={abnormal_no}&amount=&address="),
            &fin.cookie,
        )
        .await;
    assert_eq!(confirmation.status, StatusCode::OK, "{}", confirmation.body);
    assert!(
        confirmation
            .body
            .contains("Refunding sends 3.00 ETH_USDT to:"),
        "{}",
        confirmation.body
    );
    assert!(
        confirmation.body.contains(&late.from.to_string()),
        "{}",
        confirmation.body
    );
    let fields = confirmation_fields(&confirmation);
    assert_eq!(
        post_fields(&console, &sup, &abnormal_path, &fields)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refunded = post_fields(&console, &fin, &abnormal_path, &fields).await;
    assert_eq!(refunded.status, StatusCode::SEE_OTHER, "{}", refunded.body);
    // Sent again once nothing is left: the same refund, not a refusal.
    let again = post_fields(&console, &fin, &abnormal_path, &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    // A new refund of it: nothing left.
    let handled = console
        .get(
            &format!("{abnormal_path}?refund_no=console-other&amount=&address="),
            &fin.cookie,
        )
        .await;
    assert_eq!(handled.status, StatusCode::CONFLICT, "{}", handled.body);
    assert!(handled.body.contains("already handled"), "{}", handled.body);
    let info = gw.client(&shop).refund_info(&abnormal_no).await.unwrap();
    assert_eq!(
        info.retdata()["abnormalPaymentNo"],
        Value::from(no.clone()),
        "{:?}",
        info.retdata()
    );
    let handled = gw.store.abnormal_payment(&no).await.unwrap().unwrap();
    assert!(handled.pending_amount.is_zero(), "{handled:?}");

    let log = gw.store.audit_log(10).await.unwrap();
    let done: Vec<_> = log
        .iter()
        .filter(|e| e.operator == "fin" && e.action != ConsoleAction::SignIn)
        .map(|e| e.action)
        .collect();
    assert_eq!(
        done,
        [
            ConsoleAction::RefundAbnormalPayment,
            ConsoleAction::CreateRefund
        ],
        "one entry per refund, however often sent"
    );
    let refund = gw
        .store
        .refund_by_no(
            &AppId::new(shop.app_id.clone()),
            &IntegratorNo::parse(&abnormal_no).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        log[0].target, refund.sysid,
        "audited with the refund's sysid"
    );
}

crate::on_both_engines!(
    an_admin_manages_apps,
    a_finance_operator_refunds_from_the_order_page
);

/// In Chromium: an admin creates an app and sees its credentials once (a reload shows them no
/// more), previews a branding as it types, saves it, and the payment page shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_creates_an_app_and_brands_its_page_in_a_browser() {
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    create(&gw, "root", "admin").await;
    let browser = Browser::start(1280, 900).await;
    sign_in_with(&browser, &gw.base_url, "root").await;
    browser.click("nav a[href='/admin/apps']").await;
    shown_at(&browser, "/admin/apps").await;
    browser
        .type_into("form.new-app input[name=name]", "Browser Shop")
        .await;
    browser.click("form.new-app button").await;
    eventually_in(
        &browser,
        "return location.pathname.endsWith('/credentials') && document.readyState === 'complete';",
    )
    .await;
    let secret = browser
        .eval(
            "return document.getElementById('api-secret').innerText;",
            json!([]),
        )
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.len() > 20, "{secret}");
    let app_id = browser
        .eval(
            "return document.getElementById('app-id').innerText;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let shown = |id: &'static str| {
        let browser = &browser;
        async move {
            let script = format!("return document.getElementById('{id}').innerText;");
            browser
                .eval(&script, json!([]))
                .await
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let credentials = IssuedCredentials {
        app_id: app_id.clone(),
        api_key: shown("api-key").await,
        api_secret: secret.clone(),
        sign_key: shown("sign-key").await,
    };
    let credentials_path = format!("/admin/apps/{app_id}/credentials");
    browser
        .eval("location.reload(); return true;", json!([]))
        .await;
    eventually_in(
        &browser,
        "return document.readyState === 'complete' && !document.getElementById('api-secret');",
    )
    .await;
    let reloaded = page_text(&browser).await;
    assert!(!reloaded.contains(&secret), "{reloaded}");
    assert!(reloaded.contains("shown only once"), "{reloaded}");
    shown_at(&browser, &credentials_path).await;
    browser.click(".credentials a").await;
    let page = format!("/admin/apps/{app_id}");
    shown_at(&browser, &page).await;
    // Typing previews live (the script), nothing saved yet.
    browser
        .type_into("#branding input[name=display_name]", "Live Books")
        .await;
    browser
        .type_into("#branding input[name=theme_color]", "#116633")
        .await;
    eventually_in(&browser, "const f = document.querySelector('iframe[name=preview]'); const d = f && f.contentDocument; return !!d && !!d.body && d.body.innerText.includes('Live Books') && d.documentElement.innerHTML.includes('--theme:#116633');").await;
    assert_eq!(gw.admin.show(&app_id).await.unwrap().display_name, None);
    // Saving answers with the app's page again: wait for that new document (this one is
    // marked), not for the page already open.
    browser.eval("window.__beforeSave = true;", json!([])).await;
    browser.click("#branding button.save").await;
    eventually_in(
        &browser,
        "return !window.__beforeSave && document.readyState === 'complete';",
    )
    .await;
    shown_at(&browser, &page).await;
    eventually_in(&browser, "return document.querySelector('#branding input[name=display_name]').value === 'Live Books';").await;
    let saved = gw.admin.show(&app_id).await.unwrap();
    assert_eq!(saved.display_name.as_deref(), Some("Live Books"));
    assert_eq!(saved.theme_color.as_deref(), Some("#116633"));
    // The payment page of a new order shows it.
    let order = gw
        .created_order(&credentials, usdt_order("B-1", "10", json!({})))
        .await;
    browser.open(order["paymentUrl"].as_str().unwrap()).await;
    eventually_in(&browser, "return document.readyState === 'complete' && document.body.innerText.includes('Live Books');").await;
    let theme = browser
        .eval(
            "return getComputedStyle(document.documentElement).getPropertyValue('--theme').trim();",
            json!([]),
        )
        .await;
    assert_eq!(theme, "#116633");
    let log = gw.store.audit_log(3).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            ConsoleAction::SetBranding,
            ConsoleAction::CreateApp,
            ConsoleAction::SignIn
        ]
    );
}

/// In Chromium on a phone: a finance operator refunds part of a paid order from its page, after
/// the confirmation page naming amount, token and address; the integrator's API shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finance_operator_refunds_a_paid_order_in_a_browser() {
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let shop = gw.create_app().await;
    let order = gw
        .created_order(&shop, usdt_order("R-7", "25", json!({})))
        .await;
    let sysid = order["sysid"].as_str().unwrap().to_owned();
    pay_in_full(&gw, &sysid, 7).await;
    create(&gw, "fin", "finance").await;
    let browser = Browser::start(390, 844).await;
    sign_in_with(&browser, &gw.base_url, "fin").await;
    let page = format!("/admin/orders/{sysid}");
    browser.open(&format!("{}{page}", gw.base_url)).await;
    shown_at(&browser, &page).await;
    let refund_no = browser
        .eval(
            "return document.querySelector('form.refund-order input[name=refund_no]').value;",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    browser
        .type_into("form.refund-order input[name=amount]", "12.5")
        .await;
    browser
        .type_into("form.refund-order input[name=address]", DESTINATION)
        .await;
    browser.click("form.refund-order button").await;
    shown_at(&browser, &format!("{page}/refund")).await;
    let confirmation = browser
        .eval("return document.body.innerText;", json!([]))
        .await;
    let confirmation = confirmation.as_str().unwrap();
    for shown in [
        "Refunding sends 12.50 ETH_USDT to:",
        DESTINATION,
        "R-7",
        &refund_no,
    ] {
        assert!(confirmation.contains(shown), "{shown}: {confirmation}");
    }
    assert!(gw.store.refunds_of_order(&sysid).await.unwrap().is_empty());
    browser.click("form.action button").await;
    shown_at(&browser, &page).await;
    eventually_in(
        &browser,
        &format!("return document.body.innerText.includes({refund_no:?});"),
    )
    .await;
    let info = gw.client(&shop).refund_info(&refund_no).await.unwrap();
    let info = info.retdata();
    assert_eq!(info["orderNo"], "R-7", "{info}");
    assert_eq!(info["amount"], "12.50", "{info}");
    assert_eq!(info["refundStatus"], "PENDING_REFUND", "{info}");
    let width = browser
        .eval("return document.documentElement.scrollWidth;", json!([]))
        .await;
    assert!(
        width.as_u64().unwrap() <= 390,
        "the page fits the phone: {width}"
    );
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(log[0].action, ConsoleAction::CreateRefund);
    assert_eq!(log[0].operator, "fin");
}
