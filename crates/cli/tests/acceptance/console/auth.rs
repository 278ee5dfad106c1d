//! The second factor and operator accounts in the console: enrolling from one's own page,
//! signing in with a code (valid, wrong, reused, late: one refusal), the limits counting code
//! failures, switching it off; an admin's operators page (create, disable, enable, reset),
//! an app's admin kept to its app; and logging in with a code in Chromium.

use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use wcheckout_app::console::{SIGN_IN_REFUSED, SIGN_IN_TICKET_TTL_SECS};
use wcheckout_app::operators::{Actor, OperatorAdmin};
use wcheckout_app::secrets::verify_password;
use wcheckout_app::totp;
use wcheckout_domain::operator::{ConsoleAction, OperatorStatus};
use wcheckout_domain::ports::{Clock, OperatorStore};

use crate::common::browser::{self, Browser};
use crate::common::console::{
    Answer, Console, PASSWORD, Session, audited, create, create_for, entry, shown_at,
};
use crate::common::{Db, TestGateway};

/// The current code of a Base32 secret on the gateway's clock.
fn code_now(gw: &TestGateway, secret: &str) -> String {
    let key = totp::base32_decode(secret).unwrap();
    totp::code_at(&key, totp::step_at(gw.clock.now()), totp::DIGITS)
}

/// A code of the secret that is not current (nor one step either side).
fn wrong_code(gw: &TestGateway, secret: &str) -> String {
    let key = totp::base32_decode(secret).unwrap();
    let now = totp::step_at(gw.clock.now());
    let near: Vec<_> = (now - 1..=now + 1)
        .map(|step| totp::code_at(&key, step, totp::DIGITS))
        .collect();
    (0..)
        .map(|n| format!("{:06}", (123_456 + n * 7_919) % 1_000_000))
        .find(|code| !near.contains(code))
        .unwrap()
}

/// What follows `marker` in a page up to the next `<` or `"`.
fn after(body: &str, marker: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker}: {body}"))
        + marker.len();
    let rest = &body[start..];
    rest[..rest.find(['<', '"']).unwrap()].to_owned()
}

/// The password step of a two-step sign-in, which must ask for a code: the cookies the code
/// step sends (the sign-in form's and the ticket) and the form's CSRF token.
async fn password_step(console: &Console, name: &str) -> (String, String) {
    let (login_cookie, csrf) = console.login_form().await;
    let fields = [
        ("username", name),
        ("password", PASSWORD),
        ("csrf_token", &csrf),
    ];
    let asked = console.post("/admin/login", &login_cookie, &fields).await;
    assert_eq!(
        (asked.status, asked.location()),
        (StatusCode::SEE_OTHER, "/admin/login/code"),
        "{}",
        asked.body
    );
    assert!(
        asked.set_cookie("wcheckout_session").is_none(),
        "no session yet"
    );
    let ticket = asked.set_cookie("wcheckout_code").unwrap();
    let max_age = format!("Max-Age={SIGN_IN_TICKET_TTL_SECS}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", &max_age] {
        assert!(ticket.contains(attribute), "{ticket}");
    }
    let cookies = format!(
        "{login_cookie}; wcheckout_code={}",
        asked.cookie_value("wcheckout_code")
    );
    let form = console.get("/admin/login/code", &cookies).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.csrf_field(), csrf);
    (cookies, csrf)
}

async fn code_step(console: &Console, cookies: &str, csrf: &str, code: &str) -> Answer {
    let fields = [("code", code), ("csrf_token", csrf)];
    console.post("/admin/login/code", cookies, &fields).await
}

/// Asserts the code step was refused with the one message, and opened no session.
fn refused(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(answer.set_cookie("wcheckout_session").is_none());
    assert!(answer.body.contains(SIGN_IN_REFUSED), "{}", answer.body);
}

/// The session a code step opened.
async fn session_of(console: &Console, signed_in: &Answer) -> Session {
    assert_eq!(
        (signed_in.status, signed_in.location()),
        (StatusCode::SEE_OTHER, "/admin"),
        "{}",
        signed_in.body
    );
    let cookie = format!(
        "wcheckout_session={}",
        signed_in.cookie_value("wcheckout_session")
    );
    assert!(
        signed_in
            .set_cookie("wcheckout_code")
            .unwrap()
            .contains("Max-Age=0")
    );
    let home = console.get("/admin", &cookie).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    Session {
        csrf: home.csrf_field(),
        cookie,
    }
}

async fn an_operator_enrols_and_signs_in_with_a_code(gw: TestGateway) {
    create(&gw, "alice", "viewer").await;
    let console = Console::of(&gw);
    let session = console.sign_in("alice", PASSWORD).await;

    // The page offers a secret: its URI as text and as a QR code, and its key.
    let page = console.get("/admin/account", &session.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"<dd class="totp-status">Off</dd>"#),
        "{}",
        page.body
    );
    let uri = after(&page.body, r#"<code class="otpauth">"#);
    let secret = after(&page.body, r#"<code class="secret">"#);
    assert_eq!(
        uri.replace("&amp;", "&"),
        format!(
            "otpauth://totp/wcheckout:alice?secret={secret}&issuer=wcheckout&algorithm=SHA1&digits=6&period=30"
        )
    );
    assert!(page.body.contains("<svg") && page.body.contains(r#"role="img""#));
    let offer = after(&page.body, r#"name="offer" value=""#);
    assert!(!offer.contains(&secret), "sealed");
    let chinese = console
        .get("/admin/account?lang=zh-CN", &session.cookie)
        .await;
    assert!(chinese.body.contains("两步验证（TOTP）") && chinese.body.contains("未开启"));

    // Without the session's token, or with a wrong code, nothing is switched on.
    let enable = |csrf: &'static str, code: String| {
        let (console, session, offer) = (&console, &session, offer.clone());
        async move {
            let csrf = if csrf == "session" {
                session.csrf.as_str()
            } else {
                csrf
            };
            let fields = [("csrf_token", csrf), ("offer", &offer), ("code", &code)];
            console
                .post("/admin/account/totp/enable", &session.cookie, &fields)
                .await
        }
    };
    for csrf in ["", "not-the-token"] {
        let forged = enable(csrf, code_now(&gw, &secret)).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    }
    let wrong = enable("session", wrong_code(&gw, &secret)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(
        wrong
            .body
            .contains("That is not a current code of the app.")
    );
    assert_eq!(
        after(&wrong.body, r#"<code class="secret">"#),
        secret,
        "the same secret offered again"
    );
    assert!(
        gw.store
            .operator("alice")
            .await
            .unwrap()
            .unwrap()
            .totp
            .is_none()
    );

    let first_code = code_now(&gw, &secret);
    let enabled = enable("session", first_code.clone()).await;
    assert_eq!(
        (enabled.status, enabled.location()),
        (StatusCode::SEE_OTHER, "/admin/account"),
        "{}",
        enabled.body
    );
    let stored = gw
        .store
        .operator("alice")
        .await
        .unwrap()
        .unwrap()
        .totp
        .unwrap();
    assert!(stored.sealed_secret.starts_with("v1.") && !stored.sealed_secret.contains(&secret));
    let page = console.get("/admin/account", &session.cookie).await;
    assert!(
        page.body.contains(r#"<dd class="totp-status">On</dd>"#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&secret) && !page.body.contains("otpauth://"),
        "never shown again"
    );
    let twice = enable("session", code_now(&gw, &secret)).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

    // Signing in now takes a code; the one that switched it on is used already.
    let (cookies, csrf) = password_step(&console, "alice").await;
    refused(&code_step(&console, &cookies, &csrf, &first_code).await);
    refused(&code_step(&console, &cookies, &csrf, &wrong_code(&gw, &secret)).await);
    refused(&code_step(&console, &cookies, &csrf, "").await);
    let no_ticket = cookies.split(';').next().unwrap();
    refused(&code_step(&console, no_ticket, &csrf, &code_now(&gw, &secret)).await);
    let forged_ticket = format!("{no_ticket}; wcheckout_code=v1.AAAA");
    refused(&code_step(&console, &forged_ticket, &csrf, &code_now(&gw, &secret)).await);
    let wrong_csrf = code_step(&console, &cookies, "other", &code_now(&gw, &secret)).await;
    assert_eq!(
        wrong_csrf.status,
        StatusCode::FORBIDDEN,
        "{}",
        wrong_csrf.body
    );
    gw.clock.advance_secs(totp::STEP_SECS);
    let code = code_now(&gw, &secret);
    let signed_in = code_step(&console, &cookies, &csrf, &code).await;
    let second = session_of(&console, &signed_in).await;
    assert!(console.opens(&second).await);
    // The same code again, with a new ticket: refused.
    let (cookies, csrf) = password_step(&console, "alice").await;
    refused(&code_step(&console, &cookies, &csrf, &code).await);
    // A ticket ends.
    gw.clock.advance_secs(SIGN_IN_TICKET_TTL_SECS + 1);
    refused(&code_step(&console, &cookies, &csrf, &code_now(&gw, &secret)).await);
    let summary = &OperatorAdmin::new(gw.store.clone(), gw.clock.clone())
        .list()
        .await
        .unwrap()[0];
    assert!(summary.totp && summary.last_sign_in_time.is_some());

    // Switching it off takes a current code (a wrong one changes nothing).
    let off = |code: String| {
        let (console, second) = (&console, &second);
        async move {
            let fields = [("csrf_token", second.csrf.as_str()), ("code", &code)];
            console
                .post("/admin/account/totp/disable", &second.cookie, &fields)
                .await
        }
    };
    let kept = off(wrong_code(&gw, &secret)).await;
    assert_eq!(kept.status, StatusCode::BAD_REQUEST, "{}", kept.body);
    assert!(
        gw.store
            .operator("alice")
            .await
            .unwrap()
            .unwrap()
            .totp
            .is_some()
    );
    gw.clock.advance_secs(totp::STEP_SECS);
    let switched_off = off(code_now(&gw, &secret)).await;
    assert_eq!(
        (switched_off.status, switched_off.location()),
        (StatusCode::SEE_OTHER, "/admin/account"),
        "{}",
        switched_off.body
    );
    assert!(
        gw.store
            .operator("alice")
            .await
            .unwrap()
            .unwrap()
            .totp
            .is_none()
    );
    console.sign_in("alice", PASSWORD).await;

    let local = "127.0.0.1";
    let actions: Vec<_> = audited(&gw)
        .await
        .into_iter()
        .filter(|e| e.1 != ConsoleAction::SignIn)
        .collect();
    assert_eq!(
        actions,
        [
            entry("alice", ConsoleAction::DisableTotp, local),
            entry("alice", ConsoleAction::EnableTotp, local),
            entry("cli", ConsoleAction::CreateOperator, "local"),
        ]
    );
    let targets = gw.store.audit_log(100).await.unwrap();
    assert!(
        targets
            .iter()
            .filter(|e| e.action != ConsoleAction::SignIn)
            .all(|e| e.target == "alice")
    );
}

/// Code failures count towards the sign-in limits: after five, even a right code is refused,
/// and so is the password step.
async fn code_failures_count_towards_the_limits(gw: TestGateway) {
    create(&gw, "bob", "support").await;
    let admin = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    let (_, uri) = admin
        .enable_totp(&Actor::command_line(), "bob", &gw.gateway.secrets)
        .await
        .unwrap();
    let uri = uri.expose_secret().to_owned();
    let secret = &uri[uri.find("secret=").unwrap() + 7..uri.find('&').unwrap()];
    let console = Console::of(&gw);
    let (cookies, csrf) = password_step(&console, "bob").await;
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let answer = code_step(&console, &cookies, &csrf, &wrong_code(&gw, secret)).await;
        refused(&answer);
        bodies.push(answer.body);
    }
    let locked = code_step(&console, &cookies, &csrf, &code_now(&gw, secret)).await;
    refused(&locked);
    assert_eq!(locked.body, bodies[0], "the same page");
    let password_locked = console.try_sign_in("bob", PASSWORD).await;
    assert_eq!(password_locked.status, StatusCode::UNAUTHORIZED);
    assert!(password_locked.body.contains(SIGN_IN_REFUSED));
    assert_eq!(
        gw.store
            .operator("bob")
            .await
            .unwrap()
            .unwrap()
            .totp
            .unwrap()
            .last_step,
        None,
        "no code was accepted"
    );
}

/// A form's fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

async fn post(console: &Console, session: &Session, path: &str, fields: &[(&str, &str)]) -> Answer {
    let mut form = fields.to_vec();
    form.push(("csrf_token", &session.csrf));
    console.post(path, &session.cookie, &form).await
}

fn assert_redirected_to_list(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.location()),
        (StatusCode::SEE_OTHER, "/admin/operators"),
        "{}",
        answer.body
    );
}

async fn an_admin_manages_operators(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    create(&gw, "root", "admin").await;
    create_for(&gw, "shop-admin", "admin", Some(&shop.app_id)).await;
    create_for(&gw, "other-op", "viewer", Some(&other.app_id)).await;
    create(&gw, "finn", "finance").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;

    let list = console.get("/admin/operators", &root.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    for name in ["root", "shop-admin", "other-op", "finn"] {
        assert!(list.body.contains(&format!("<td>{name}</td>")), "{name}");
    }
    let finn_session = console.sign_in("finn", PASSWORD).await;
    let page = console.get("/admin/operators", &finn_session.cookie).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "a finance operator");

    // Create: checked like the command line's, the password hashed with Argon2id.
    let carol = [
        ("name", "carol"),
        ("role", "support"),
        ("app", ""),
        ("password", "a long enough password"),
    ];
    assert_redirected_to_list(&post(&console, &root, "/admin/operators", &carol).await);
    let stored = gw.store.operator("carol").await.unwrap().unwrap();
    assert!(verify_password(
        "a long enough password",
        &stored.password_hash
    ));
    assert_eq!((stored.app, stored.role.as_str()), (None, "support"));
    let refusals: [(Fields<'_>, StatusCode, &str); 4] = [
        (
            &carol,
            StatusCode::CONFLICT,
            "operator 'carol' exists already",
        ),
        (
            &[("name", "dave"), ("role", "root"), ("password", PASSWORD)],
            StatusCode::BAD_REQUEST,
            "role: must be viewer",
        ),
        (
            &[("name", "dave"), ("role", "viewer"), ("password", "short")],
            StatusCode::BAD_REQUEST,
            "password: must be 12 to 1024 characters",
        ),
        (
            &[
                ("name", "da ve"),
                ("role", "viewer"),
                ("password", PASSWORD),
            ],
            StatusCode::BAD_REQUEST,
            "name: must be 1 to 64 characters",
        ),
    ];
    for (fields, status, text) in refusals {
        let refused = post(&console, &root, "/admin/operators", fields).await;
        assert_eq!(refused.status, status, "{fields:?}: {}", refused.body);
        assert!(refused.body.contains(text), "{}", refused.body);
    }
    let carol_session = console.sign_in("carol", "a long enough password").await;

    // Disable (its sessions end), enable, and never oneself.
    let disabled = post(&console, &root, "/admin/operators/carol/disable", &[]).await;
    assert_redirected_to_list(&disabled);
    assert!(!console.opens(&carol_session).await, "its sessions ended");
    let refused = console.try_sign_in("carol", "a long enough password").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let again = post(&console, &root, "/admin/operators/carol/disable", &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let enabled = post(&console, &root, "/admin/operators/carol/enable", &[]).await;
    assert_redirected_to_list(&enabled);
    assert!(
        !console.opens(&carol_session).await,
        "old sessions stay ended"
    );
    console.sign_in("carol", "a long enough password").await;
    let own = post(&console, &root, "/admin/operators/root/disable", &[]).await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.body);
    let nobody = post(&console, &root, "/admin/operators/nobody/disable", &[]).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{}", nobody.body);

    // Reset a second factor: the account signs in with its password alone again.
    let admin = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    let cli = Actor::command_line();
    let enrol = admin.enable_totp(&cli, "carol", &gw.gateway.secrets);
    enrol.await.unwrap();
    let list = console.get("/admin/operators", &root.cookie).await;
    assert!(
        list.body.contains("/admin/operators/carol/reset-totp"),
        "{}",
        list.body
    );
    let reset = post(&console, &root, "/admin/operators/carol/reset-totp", &[]).await;
    assert_redirected_to_list(&reset);
    assert!(
        gw.store
            .operator("carol")
            .await
            .unwrap()
            .unwrap()
            .totp
            .is_none()
    );
    let again = post(&console, &root, "/admin/operators/carol/reset-totp", &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    console.sign_in("carol", "a long enough password").await;

    // An app's admin sees and manages its app's accounts only, and creates them for its app.
    let shop_admin = console.sign_in("shop-admin", PASSWORD).await;
    let list = console.get("/admin/operators", &shop_admin.cookie).await;
    assert!(list.body.contains("<td>shop-admin</td>"));
    for hidden in ["root", "other-op", "carol", "finn"] {
        assert!(
            !list.body.contains(&format!("<td>{hidden}</td>")),
            "{hidden}"
        );
        for change in ["disable", "reset-totp"] {
            let path = format!("/admin/operators/{hidden}/{change}");
            let refused = post(&console, &shop_admin, &path, &[]).await;
            assert_eq!(
                refused.status,
                StatusCode::NOT_FOUND,
                "{path}: {}",
                refused.body
            );
        }
    }
    let shop_op = [
        ("name", "shop-op"),
        ("role", "viewer"),
        ("app", ""),
        ("password", PASSWORD),
    ];
    assert_redirected_to_list(&post(&console, &shop_admin, "/admin/operators", &shop_op).await);
    let stored = gw.store.operator("shop-op").await.unwrap().unwrap();
    assert_eq!(
        stored.app.unwrap().as_str(),
        shop.app_id,
        "bound to the shop"
    );
    let elsewhere = [
        ("name", "sneaky"),
        ("role", "admin"),
        ("app", other.app_id.as_str()),
        ("password", PASSWORD),
    ];
    let refused = post(&console, &shop_admin, "/admin/operators", &elsewhere).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    assert!(gw.store.operator("sneaky").await.unwrap().is_none());
    let other_status = gw.store.operator("other-op").await.unwrap().unwrap().status;
    assert_eq!(other_status, OperatorStatus::Active);

    let entries: Vec<_> = gw
        .store
        .audit_log(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.operator != "cli" && e.action != ConsoleAction::SignIn)
        .map(|e| (e.operator, e.action, e.target, e.client))
        .collect();
    let by = |who: &str, action, target: &str| {
        (
            who.to_owned(),
            action,
            target.to_owned(),
            "127.0.0.1".to_owned(),
        )
    };
    assert_eq!(
        entries,
        [
            by("shop-admin", ConsoleAction::CreateOperator, "shop-op"),
            by("root", ConsoleAction::ResetTotp, "carol"),
            by("root", ConsoleAction::EnableOperator, "carol"),
            by("root", ConsoleAction::DisableOperator, "carol"),
            by("root", ConsoleAction::CreateOperator, "carol"),
        ]
    );
}

/// In Chromium on a phone-sized screen: an account with a second factor signs in with its
/// password, then its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_signs_in_with_a_code_in_a_browser() {
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    create(&gw, "ops", "viewer").await;
    let admin = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    let (_, uri) = admin
        .enable_totp(&Actor::command_line(), "ops", &gw.gateway.secrets)
        .await
        .unwrap();
    let uri = uri.expose_secret().to_owned();
    let secret = uri[uri.find("secret=").unwrap() + 7..uri.find('&').unwrap()].to_owned();

    let browser = Browser::start(390, 844).await;
    browser.open(&format!("{}/admin", gw.base_url)).await;
    shown_at(&browser, "/admin/login").await;
    browser.type_into("input[name=username]", "ops").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    shown_at(&browser, "/admin/login/code").await;
    browser
        .type_into("input[name=code]", &code_now(&gw, &secret))
        .await;
    browser.click("button[type=submit]").await;
    shown_at(&browser, "/admin").await;
    let text = browser
        .eval("return document.body.innerText;", json!([]))
        .await;
    assert!(text.as_str().unwrap().contains("ops"), "{text}");
    browser.click("nav a[href='/admin/account']").await;
    shown_at(&browser, "/admin/account").await;
    let status = browser
        .eval(
            "return document.querySelector('.totp-status').innerText;",
            json!([]),
        )
        .await;
    assert_eq!(status, "On");
    let width = browser
        .eval("return document.documentElement.scrollWidth;", json!([]))
        .await;
    assert!(width.as_u64().unwrap() <= 390, "fits the phone: {width}");
}

/// An operator changes their own password on the account page: a wrong current password, a
/// short or unchanged new one and a missing CSRF token change nothing (the page says why, 400 /
/// 403); the change ends every session of the account (two here), the old password no longer
/// opens it and the new one does; it is audited. Wrong current passwords count towards the
/// sign-in limits.
async fn an_operator_changes_their_password(gw: TestGateway) {
    create(&gw, "carol", "viewer").await;
    let console = Console::of(&gw);
    let (first, second) = (
        console.sign_in("carol", PASSWORD).await,
        console.sign_in("carol", PASSWORD).await,
    );
    let account = console.get("/admin/account", &first.cookie).await;
    for field in [
        "current_password",
        "new_password",
        "autocomplete=\"new-password\"",
    ] {
        assert!(account.body.contains(field), "{field}: {}", account.body);
    }
    let hash_before = gw
        .store
        .operator("carol")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let new = "a much longer new passphrase";
    let path = "/admin/account/password";
    let refusals: [(Fields<'_>, &str); 3] = [
        (
            &[
                ("current_password", "not the password"),
                ("new_password", new),
            ],
            "That is not this account's current password.",
        ),
        (
            &[("current_password", PASSWORD), ("new_password", "short")],
            "new_password: must be 12 to 1024 characters",
        ),
        (
            &[("current_password", PASSWORD), ("new_password", PASSWORD)],
            "new_password: must differ from the current password",
        ),
    ];
    for (fields, said) in refusals {
        let answer = post(&console, &first, path, fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{said}");
        assert!(answer.body.contains(said), "{said}: {}", answer.body);
    }
    let forged = [("current_password", PASSWORD), ("new_password", new)];
    let no_token = console.post(path, &first.cookie, &forged).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let unchanged = gw
        .store
        .operator("carol")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_eq!(unchanged, hash_before, "refusals change nothing");

    let changed = post(&console, &first, path, &forged).await;
    assert_eq!(
        (changed.status, changed.location()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    for session in [&first, &second] {
        let after = console.get("/admin/account", &session.cookie).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "every session ended");
    }
    let old = console.try_sign_in("carol", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let hash = gw
        .store
        .operator("carol")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(hash.starts_with("$argon2id$") && verify_password(new, &hash));
    let signed_in = console.sign_in("carol", new).await;
    assert!(audited(&gw).await.contains(&entry(
        "carol",
        ConsoleAction::ChangePassword,
        "127.0.0.1"
    )));

    // Wrong current passwords count towards the sign-in limits: five, and the account's
    // sign-in is refused even with the right password.
    let wrong = [
        ("current_password", "not the password"),
        ("new_password", PASSWORD),
    ];
    for _ in 0..5 {
        post(&console, &signed_in, path, &wrong).await;
    }
    let locked = console.try_sign_in("carol", new).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.body.contains(SIGN_IN_REFUSED));
}

on_both_engines!(
    an_operator_changes_their_password,
    an_operator_enrols_and_signs_in_with_a_code,
    code_failures_count_towards_the_limits,
    an_admin_manages_operators,
);
