//! The operator console: its accounts (`wcheckout operator …`), signing in and out at
//! `/admin` (sessions in the database, cookies, CSRF, sign-in limits) and the audit log, on
//! both engines.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wcheckout_app::console::{SESSION_TTL_SECS, SIGN_IN_REFUSED};
use wcheckout_app::secrets::{hash_secret, verify_password};
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::payment::TransferState;
use wcheckout_domain::ports::{ChainStore, ChangeSet, ChangeStore, OperatorStore};
use wcheckout_store::{SqlStore, StoreOptions};
use wcheckout_testkit::TempDir;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::browser::{self, Browser};
use crate::common::console::{
    Answer, Console, PASSWORD, Session, audited, create, create_for, disable, entry, eventually_in,
    listed_sysids,
};
use crate::common::process::{Cli, config_head};
use crate::common::{Db, TestGateway, usdt_order};
use crate::on_both_databases;

mod admin;
mod apps;
mod auth;
mod figures;
mod history;
mod lists;
mod overview;
mod screenshots;
mod settlements;

/// A password set in place of a forgotten one.
const NEW_PASSWORD: &str = "another long passphrase";

/// 32 bytes as 64 hex digits.
const MASTER_KEY: &str = "8a1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// `wcheckout operator create --name NAME --role ROLE [EXTRA] --password-stdin` fed `password`.
fn create_operator(cli: &Cli, name: &str, role: &str, extra: &[&str], password: &str) -> String {
    let mut args = vec!["operator", "create", "--name", name, "--role", role];
    args.extend(extra);
    args.push("--password-stdin");
    let ran = cli.run_with(
        &args,
        Some(password),
        crate::common::process::COMMAND_TIMEOUT,
    );
    assert!(!ran.both().contains(password), "{}", ran.both());
    if ran.status.success() {
        ran.stdout
    } else {
        format!("error {}", ran.stderr)
    }
}

fn operators(cli: &Cli) -> Value {
    cli.json(&["operator", "list", "--json"])
}

async fn operators_are_administered_from_the_command_line(label: &str, database_url: &str) {
    let dir = TempDir::new();
    let cli = Cli::configured(&dir.path, &config_head(database_url, MASTER_KEY));
    let app = cli.create_app("Shop", &[]).app_id;
    let created = create_operator(&cli, "alice", "admin", &[], &format!("{PASSWORD}\n"));
    assert_eq!(
        created.trim(),
        "alice  admin  all apps  ACTIVE",
        "[{label}]"
    );
    let created = create_operator(&cli, "bob", "finance", &["--app", &app], PASSWORD);
    assert_eq!(created.trim(), format!("bob  finance  {app}  ACTIVE"));
    let listed = json!([
        {"name": "alice", "role": "admin", "appId": null, "status": "ACTIVE", "totp": false,
         "lastSignInTime": null},
        {"name": "bob", "role": "finance", "appId": app, "status": "ACTIVE", "totp": false,
         "lastSignInTime": null},
    ]);
    let without_times = |mut list: Value| {
        for operator in list.as_array_mut().unwrap() {
            assert!(operator["createdTime"].is_string(), "{operator}");
            operator.as_object_mut().unwrap().remove("createdTime");
        }
        list
    };
    assert_eq!(without_times(operators(&cli)), listed, "[{label}]");

    let refusals = [
        (
            "alice",
            "viewer",
            vec![],
            PASSWORD,
            "operator 'alice' exists already",
        ),
        (
            "carol",
            "root",
            vec![],
            PASSWORD,
            "role: must be viewer, support, finance or admin",
        ),
        (
            "carol x",
            "viewer",
            vec![],
            PASSWORD,
            "name: must be 1 to 64 characters",
        ),
        (
            "carol",
            "viewer",
            vec![],
            "short",
            "password: must be 12 to 1024 characters",
        ),
        (
            "carol",
            "viewer",
            vec!["--app", "app_nope"],
            PASSWORD,
            "app 'app_nope' not found",
        ),
    ];
    for (name, role, extra, password, message) in refusals {
        let refused = create_operator(&cli, name, role, &extra, password);
        assert!(
            refused.starts_with("error ") && refused.contains(message),
            "{refused}"
        );
    }
    let unasked = cli.run_with(
        &["operator", "create", "--name", "carol", "--role", "viewer"],
        Some(PASSWORD),
        crate::common::process::COMMAND_TIMEOUT,
    );
    assert!(unasked.failed().stderr.contains("--password-stdin"));
    assert_eq!(
        without_times(operators(&cli)),
        listed,
        "refusals change nothing"
    );

    let disabled = cli.run_ok(&["operator", "disable", "bob"]).stdout;
    assert_eq!(disabled.trim(), format!("bob  finance  {app}  DISABLED"));
    let again = cli.run_fails(&["operator", "disable", "bob"]).stderr;
    assert!(
        again.contains("operator 'bob' is disabled already"),
        "{again}"
    );
    let unknown = cli.run_fails(&["operator", "disable", "nobody"]).stderr;
    assert!(unknown.contains("operator 'nobody' not found"), "{unknown}");

    let enabled = cli.run_ok(&["operator", "enable", "bob"]).stdout;
    assert_eq!(enabled.trim(), format!("bob  finance  {app}  ACTIVE"));
    let again = cli.run_fails(&["operator", "enable", "bob"]).stderr;
    assert!(
        again.contains("operator 'bob' is active already"),
        "{again}"
    );

    // The second factor: switched on with a new secret shown this once, then off.
    let enrolled = cli
        .run_ok(&["operator", "totp", "alice", "--enable"])
        .stdout;
    let mut lines = enrolled.lines();
    assert_eq!(lines.next(), Some("alice  admin  all apps  ACTIVE  TOTP"));
    let uri = lines.next().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/wcheckout:alice?secret=")
            && uri.ends_with("&issuer=wcheckout&algorithm=SHA1&digits=6&period=30"),
        "{enrolled}"
    );
    let secret = &uri[uri.find("secret=").unwrap() + 7..uri.find('&').unwrap()];
    assert_eq!(secret.len(), 32, "160 bits in Base32: {uri}");
    let twice = cli.run_fails(&["operator", "totp", "alice", "--enable"]);
    assert!(twice.stderr.contains("has its second factor on already"));
    let unasked = cli.run_fails(&["operator", "totp", "alice"]).stderr;
    assert!(unasked.contains("--enable"), "{unasked}");
    assert_eq!(operators(&cli)[0]["totp"], true);
    let off = cli
        .run_ok(&["operator", "totp", "alice", "--disable"])
        .stdout;
    assert_eq!(off.trim(), "alice  admin  all apps  ACTIVE");
    let off_again = cli.run_fails(&["operator", "totp", "alice", "--disable"]);
    assert!(
        off_again
            .stderr
            .contains("operator 'alice' has no second factor")
    );

    // A forgotten password set anew, read from stdin like at creation.
    let set_password = |name: &str, password: &str| {
        let args = ["operator", "password", name, "--password-stdin"];
        let ran = cli.run_with(
            &args,
            Some(password),
            crate::common::process::COMMAND_TIMEOUT,
        );
        assert!(!ran.both().contains(password), "{}", ran.both());
        ran
    };
    let set = set_password("bob", NEW_PASSWORD).ok().stdout;
    assert!(
        set.starts_with(&format!("bob  finance  {app}  ACTIVE\n")),
        "{set}"
    );
    assert!(set.contains("every session of 'bob' has ended"), "{set}");
    let short = set_password("bob", "short").failed().stderr;
    assert!(
        short.contains("password: must be 12 to 1024 characters"),
        "{short}"
    );
    let nobody = set_password("nobody", NEW_PASSWORD).failed().stderr;
    assert!(nobody.contains("operator 'nobody' not found"), "{nobody}");

    let store = SqlStore::open(database_url, &StoreOptions::default())
        .await
        .unwrap();
    let alice = store.operator("alice").await.unwrap().unwrap();
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(alice.totp.is_none());
    assert!(
        verify_password(PASSWORD, &alice.password_hash),
        "the line break is not part of it"
    );
    let bob = store.operator("bob").await.unwrap().unwrap();
    assert!(verify_password(NEW_PASSWORD, &bob.password_hash));
    assert!(!verify_password(PASSWORD, &bob.password_hash));
    let audit: Vec<_> = store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| {
            assert_eq!(
                (entry.operator.as_str(), entry.client.as_str()),
                ("cli", "local")
            );
            (entry.action, entry.target)
        })
        .collect();
    let action = |action: ConsoleAction, target: &str| (action, target.to_owned());
    assert_eq!(
        audit,
        [
            action(ConsoleAction::ChangePassword, "bob"),
            action(ConsoleAction::ResetTotp, "alice"),
            action(ConsoleAction::EnableTotp, "alice"),
            action(ConsoleAction::EnableOperator, "bob"),
            action(ConsoleAction::DisableOperator, "bob"),
            action(ConsoleAction::CreateOperator, "bob"),
            action(ConsoleAction::CreateOperator, "alice"),
        ],
        "newest first"
    );
    store.close().await;
}

on_both_databases!(operators_are_administered_from_the_command_line);

// ---------------------------------------------------------------------------------------------
// Signing in and out
// ---------------------------------------------------------------------------------------------

async fn sign_in_and_out_with_a_session_in_the_database(gw: TestGateway) {
    create(&gw, "alice", "admin").await;
    let console = Console::of(&gw);
    let unsigned = console.get("/admin", "").await;
    assert_eq!(
        (unsigned.status, unsigned.location()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );

    let form = console.get("/admin/login", "").await;
    let login_cookie = form.set_cookie("wcheckout_login").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(login_cookie.contains(attribute), "{login_cookie}");
    }
    let signed_in = console.try_sign_in("alice", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let cookie = signed_in.set_cookie("wcheckout_session").unwrap();
    let max_age = format!("Max-Age={SESSION_TTL_SECS}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", &max_age] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "sandbox mode serves plain HTTP: {cookie}"
    );
    // The database keeps the token's hash only.
    let token = signed_in.cookie_value("wcheckout_session");
    assert!(gw.store.console_session(&token).await.unwrap().is_none());
    let (stored, operator) = gw
        .store
        .console_session(&hash_secret(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.operator.as_str(), operator.name.as_str()),
        ("alice", "alice")
    );

    let session = Session {
        cookie: format!("wcheckout_session={token}"),
        csrf: console
            .get("/admin", &format!("wcheckout_session={token}"))
            .await
            .csrf_field(),
    };
    let home = console.get("/admin", &session.cookie).await;
    assert!(
        home.body.contains("alice") && home.body.contains("admin"),
        "{}",
        home.body
    );
    assert!(!home.body.contains(&token), "the token stays in the cookie");

    // Signing out without the session's CSRF token, or with another, changes nothing.
    let other = console.sign_in("alice", PASSWORD).await;
    for form in [
        vec![],
        vec![("csrf_token", "")],
        vec![("csrf_token", other.csrf.as_str())],
    ] {
        let refused = console.post("/admin/logout", &session.cookie, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{form:?}: {}",
            refused.body
        );
        assert!(refused.set_cookie("wcheckout_session").is_none());
        assert!(console.opens(&session).await, "{form:?}");
    }
    let signed_out = console
        .post(
            "/admin/logout",
            &session.cookie,
            &[("csrf_token", &session.csrf)],
        )
        .await;
    assert_eq!(
        (signed_out.status, signed_out.location()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    assert!(
        signed_out
            .set_cookie("wcheckout_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(!console.opens(&session).await, "ended");
    assert!(console.opens(&other).await, "only that session ended");
    let again = console
        .post(
            "/admin/logout",
            &session.cookie,
            &[("csrf_token", &session.csrf)],
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::FORBIDDEN,
        "an ended session signs out no more"
    );

    // Sessions expire, and end with their operator's account.
    gw.clock.advance_secs(SESSION_TTL_SECS);
    assert!(!console.opens(&other).await, "expired");
    let third = console.sign_in("alice", PASSWORD).await;
    disable(&gw, "alice").await;
    assert!(!console.opens(&third).await, "disabled");

    let local = "127.0.0.1";
    assert_eq!(
        audited(&gw).await,
        [
            entry("cli", ConsoleAction::CreateOperator, "local"),
            entry("alice", ConsoleAction::SignIn, local),
            entry("alice", ConsoleAction::SignIn, local),
            entry("alice", ConsoleAction::SignOut, local),
            entry("alice", ConsoleAction::SignIn, local),
            entry("cli", ConsoleAction::DisableOperator, "local"),
        ]
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
    );
}

/// Asserts a sign-in was refused with the one message, and opened no session.
fn refusal(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(answer.set_cookie("wcheckout_session").is_none());
    assert!(answer.body.contains(SIGN_IN_REFUSED), "{}", answer.body);
}

async fn refused_sign_ins_all_look_the_same(gw: TestGateway) {
    create(&gw, "alice", "finance").await;
    create(&gw, "bob", "viewer").await;
    disable(&gw, "bob").await;
    let console = Console::of(&gw);
    let wrong_password = console.try_sign_in("alice", "not her password").await;
    let unknown = console.try_sign_in("nobody", PASSWORD).await;
    let disabled = console.try_sign_in("bob", PASSWORD).await;
    let impossible = console.try_sign_in("al\0ice", PASSWORD).await;
    let too_long = console.try_sign_in(&"a".repeat(10_000), PASSWORD).await;
    for answer in [&wrong_password, &unknown, &disabled, &impossible, &too_long] {
        refusal(answer);
    }
    assert!(
        wrong_password.body.contains(r#"value="alice""#),
        "the name stays filled in"
    );
    // Five failures lock the name: then even the right password gets the same answer.
    for _ in 0..4 {
        refusal(&console.try_sign_in("alice", "still not it").await);
    }
    let locked_out = console.try_sign_in("alice", PASSWORD).await;
    refusal(&locked_out);
    let strip = |body: &str| {
        body.replace("alice", "")
            .replace("nobody", "")
            .replace("bob", "")
    };
    assert_eq!(
        strip(&locked_out.body).len(),
        strip(&unknown.body).len(),
        "the same page"
    );
    let signed_in = audited(&gw)
        .await
        .into_iter()
        .filter(|e| e.1 == ConsoleAction::SignIn);
    assert_eq!(signed_in.count(), 0);
}

async fn sign_in_forms_need_their_csrf_token(gw: TestGateway) {
    create(&gw, "alice", "support").await;
    let console = Console::of(&gw);
    let (cookie, csrf) = console.login_form().await;
    let (_, other_csrf) = console.login_form().await;
    let user = [("username", "alice"), ("password", PASSWORD)];
    let attempts: [(&str, Vec<(&str, &str)>); 4] = [
        (&cookie, user.to_vec()),
        (&cookie, [user[0], user[1], ("csrf_token", "")].to_vec()),
        (
            &cookie,
            [user[0], user[1], ("csrf_token", &other_csrf)].to_vec(),
        ),
        ("", [user[0], user[1], ("csrf_token", &csrf)].to_vec()),
    ];
    for (cookie, form) in attempts {
        let refused = console.post("/admin/login", cookie, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{cookie} {form:?}: {}",
            refused.body
        );
        assert!(refused.set_cookie("wcheckout_session").is_none());
        assert!(refused.body.contains("Reload the page"), "{}", refused.body);
    }
    assert_eq!(audited(&gw).await.len(), 1, "only the account's creation");
    console.sign_in("alice", PASSWORD).await;
}

/// A session outlives the process that opened it: the gateway is SIGKILLed and started again.
async fn sessions_survive_a_restart(label: &str, database_url: &str) {
    let dir = TempDir::new();
    let cli = Cli::configured(&dir.path, &config_head(database_url, MASTER_KEY));
    create_operator(&cli, "alice", "viewer", &[], PASSWORD);
    let mut first = cli.serve(format_args!("{label}-first"));
    let session = Console::at(&first.url()).sign_in("alice", PASSWORD).await;
    first.kill();
    let second = cli.serve(format_args!("{label}-second"));
    assert!(
        Console::at(&second.url()).opens(&session).await,
        "[{label}]"
    );
}

on_both_databases!(sessions_survive_a_restart);

// ---------------------------------------------------------------------------------------------
// Reading orders
// ---------------------------------------------------------------------------------------------

async fn search(console: &Console, session: &Session, text: &str) -> Vec<String> {
    let request = console
        .http
        .get(format!("{}/admin/orders", console.base_url));
    let request = request
        .query(&[("q", text)])
        .header("cookie", &session.cookie);
    listed_sysids(&Console::answer(request.send().await.unwrap()).await)
}

async fn orders_are_found_and_kept_to_the_operators_app(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    let a = gw
        .created_order(&shop, usdt_order("A-1", "10", json!({})))
        .await;
    let b = gw
        .created_order(&other, usdt_order("B-1", "20", json!({})))
        .await;
    let (a_sysid, b_sysid) = (a["sysid"].as_str().unwrap(), b["sysid"].as_str().unwrap());
    // A-1 is paid by transaction 7.
    let order = gw.store.order_by_sysid(a_sysid).await.unwrap().unwrap();
    let paid_by = fixtures::transfer(&order, 7, 0, 100, TransferState::Credited);
    fixtures::commit(&*gw.store, [fixtures::recorded(&paid_by)])
        .await
        .unwrap();

    create(&gw, "root", "viewer").await;
    create_for(&gw, "shop", "viewer", Some(&shop.app_id)).await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let a_address = a["depositAddress"].as_str().unwrap();
    for (text, expected) in [
        ("A-1", vec![a_sysid]),
        (b_sysid, vec![b_sysid]),
        (a_address, vec![a_sysid]),
        (&a_address.to_lowercase(), vec![a_sysid]),
        (&paid_by.tx_hash, vec![a_sysid]),
        (
            &paid_by.tx_hash.to_uppercase().replace("0X", "0x"),
            vec![a_sysid],
        ),
        ("  B-1 ", vec![b_sysid]),
        ("nothing-like-it", vec![]),
        // Nothing to search for: the list of the first app's orders.
        ("", vec![a_sysid]),
        ("%ZZ<script>", vec![]),
        ("A-1\0", vec![]),
        ("\u{7f}", vec![]),
        (&"9".repeat(5000), vec![]),
    ] {
        assert_eq!(search(&console, &root, text).await, expected, "{text}");
    }
    let detail = console
        .get(&format!("/admin/orders/{a_sysid}"), &root.cookie)
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    for shown in ["A-1", a_address, &paid_by.tx_hash, "CREDITED", &shop.app_id] {
        assert!(detail.body.contains(shown), "{shown}: {}", detail.body);
    }

    // An operator bound to the shop's app finds nothing of the other app, even by its URL.
    let bound = console.sign_in("shop", PASSWORD).await;
    assert_eq!(search(&console, &bound, "A-1").await, [a_sysid]);
    assert_eq!(search(&console, &bound, "B-1").await, Vec::<String>::new());
    assert_eq!(
        search(&console, &bound, b_sysid).await,
        Vec::<String>::new()
    );
    let foreign = console
        .get(&format!("/admin/orders/{b_sysid}"), &bound.cookie)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    assert!(!foreign.body.contains("B-1"));
    for path in [
        "/admin/orders/nope",
        "/admin/orders/%00",
        "/admin/orders/%E2%82%AC",
    ] {
        assert_eq!(
            console.get(path, &root.cookie).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in ["/admin/orders?q=A-1", &format!("/admin/orders/{a_sysid}")] {
        let unsigned = console.get(path, "").await;
        assert_eq!(
            (unsigned.status, unsigned.location()),
            (StatusCode::SEE_OTHER, "/admin/login")
        );
    }
}

async fn list(console: &Console, session: &Session, query: &str) -> Answer {
    console
        .get(&format!("/admin/orders?{query}"), &session.cookie)
        .await
}

async fn order_lists_filter_one_app_at_a_time(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    let mut sysids = Vec::new();
    for order_no in ["A-1", "A-2", "A-3"] {
        let created = gw
            .created_order(&shop, usdt_order(order_no, "10", json!({})))
            .await;
        sysids.push(created["sysid"].as_str().unwrap().to_owned());
        gw.clock.advance_secs(1);
    }
    let b = gw
        .created_order(&other, usdt_order("B-1", "5", json!({"customerId": "zed"})))
        .await;
    let b_sysid = b["sysid"].as_str().unwrap().to_owned();
    let first = gw.store.order_by_sysid(&sysids[0]).await.unwrap().unwrap();
    let paid = fixtures::write(&first, fixtures::paid(&first, &fixtures::tx_hash(1), 1));
    gw.store
        .commit(ChangeSet {
            orders: vec![paid],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    create(&gw, "root", "viewer").await;
    create_for(&gw, "shop", "support", Some(&shop.app_id)).await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;

    let newest_first: Vec<String> = sysids.iter().rev().cloned().collect();
    let other_app = format!("app={}", other.app_id);
    for (query, expected) in [
        ("", newest_first.clone()),
        (&format!("app={}", shop.app_id), newest_first.clone()),
        (&other_app, vec![b_sysid.clone()]),
        ("status=PAID", vec![sysids[0].clone()]),
        (
            "status=PAYING&customer=c",
            vec![sysids[2].clone(), sysids[1].clone()],
        ),
        (
            &format!("{other_app}&customer=zed&token=ETH_USDT"),
            vec![b_sysid.clone()],
        ),
        ("customer=zed", vec![]),
        ("token=TRON_USDT", vec![]),
        ("from=2999-01-01", vec![]),
        ("from=2000-01-01&to=2999-12-31", newest_first.clone()),
        ("to=2000-01-01 00:00:00&status=", vec![]),
        ("after=1.OR0", vec![]),
    ] {
        assert_eq!(
            listed_sysids(&list(&console, &root, query).await),
            expected,
            "{query}"
        );
    }
    for (query, problem) in [
        ("status=paid", "status: not an order status"),
        ("from=yesterday", "from: not a date"),
        ("from=abcdefghij", "from: not a date"),
        ("to=1%2F2", "to: not a date"),
        ("after=x", "after: not a position in this list"),
        ("after=12.a%20b", "after: not a position in this list"),
        ("token=%00", "token: control characters are not allowed"),
        (
            "customer=c%0A",
            "customer: control characters are not allowed",
        ),
        ("app=%00", "app: control characters are not allowed"),
    ] {
        let refused = list(&console, &root, query).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            refused.body
        );
        assert!(refused.body.contains(problem), "{query}: {}", refused.body);
    }
    // The overview counts what each operator sees.
    let counted = |paying: u64, paid: u64| {
        let row =
            |status: &str, n: u64| format!(r#"<tr><td>{status}</td><td class="num">{n}</td></tr>"#);
        [row("PAYING", paying), row("PAID", paid), row("TIMEOUT", 0)]
    };
    let everything = console.get("/admin", &root.cookie).await.body;
    for row in counted(3, 1) {
        assert!(everything.contains(&row), "{row}: {everything}");
    }
    let unknown = list(&console, &root, "app=app_unknown").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let bound = console.sign_in("shop", PASSWORD).await;
    assert_eq!(
        listed_sysids(&list(&console, &bound, "").await),
        newest_first
    );
    let own = console.get("/admin", &bound.cookie).await.body;
    for row in counted(2, 1) {
        assert!(own.contains(&row), "{row}: {own}");
    }
    let foreign = list(&console, &bound, &other_app).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    assert!(!foreign.body.contains(&b_sysid));
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

async fn a_support_operator_cancels_an_order_of_its_app(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    let a = gw
        .created_order(&shop, usdt_order("A-1", "10", json!({})))
        .await;
    let b = gw
        .created_order(&other, usdt_order("B-1", "10", json!({})))
        .await;
    let (a_sysid, b_sysid) = (a["sysid"].as_str().unwrap(), b["sysid"].as_str().unwrap());
    create(&gw, "watcher", "viewer").await;
    create_for(&gw, "helper", "support", Some(&shop.app_id)).await;
    let console = Console::of(&gw);
    let viewer = console.sign_in("watcher", PASSWORD).await;
    let support = console.sign_in("helper", PASSWORD).await;
    let status = |credentials, order_no| {
        let gw = &gw;
        async move { gw.order(credentials, order_no).await["orderStatus"].clone() }
    };

    // A viewer is refused (every changing route: `admin::every_changing_route_…`).
    let viewer_cancel = format!("/admin/orders/{a_sysid}/cancel");
    let refused = console
        .post(
            &viewer_cancel,
            &viewer.cookie,
            &[("csrf_token", &viewer.csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // Without the session's CSRF token, or with another session's, nothing changes.
    let cancel_a = format!("/admin/orders/{a_sysid}/cancel");
    for form in [vec![], vec![("csrf_token", viewer.csrf.as_str())]] {
        let refused = console.post(&cancel_a, &support.cookie, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form:?}");
    }
    // Another app's order is not there for it.
    let cancel_b = format!("/admin/orders/{b_sysid}/cancel");
    let foreign = console
        .post(&cancel_b, &support.cookie, &[("csrf_token", &support.csrf)])
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    assert_eq!(status(&shop, "A-1").await, "PAYING");
    assert_eq!(status(&other, "B-1").await, "PAYING");
    assert!(
        audited(&gw)
            .await
            .iter()
            .all(|e| e.1 != ConsoleAction::CancelOrder)
    );

    let page = console
        .get(&format!("/admin/orders/{a_sysid}"), &support.cookie)
        .await;
    assert!(
        page.body.contains(&format!(r#"action="{cancel_a}""#)),
        "{}",
        page.body
    );
    let viewer_page = console
        .get(&format!("/admin/orders/{a_sysid}"), &viewer.cookie)
        .await;
    assert!(
        !viewer_page.body.contains(&cancel_a),
        "no button a viewer cannot use"
    );
    let cancelled = console
        .post(&cancel_a, &support.cookie, &[("csrf_token", &support.csrf)])
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    assert_eq!(cancelled.location(), format!("/admin/orders/{a_sysid}"));
    assert_eq!(
        status(&shop, "A-1").await,
        "CANCELLED",
        "the integrator sees it"
    );
    let log = gw.store.audit_log(1).await.unwrap();
    assert_eq!(
        (
            log[0].operator.as_str(),
            log[0].action,
            log[0].target.as_str(),
            log[0].client.as_str()
        ),
        ("helper", ConsoleAction::CancelOrder, a_sysid, "127.0.0.1")
    );
    // A paid or cancelled order cannot be cancelled: a clear refusal.
    let create_paid = gw
        .created_order(&shop, usdt_order("A-2", "10", json!({})))
        .await;
    let order = gw
        .store
        .order_by_sysid(create_paid["sysid"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let paid = fixtures::write(&order, fixtures::paid(&order, &fixtures::tx_hash(9), 1));
    gw.store
        .commit(ChangeSet {
            orders: vec![paid],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let path = format!("/admin/orders/{}/cancel", order.sysid);
    let refused = console
        .post(&path, &support.cookie, &[("csrf_token", &support.csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(status(&shop, "A-2").await, "PAID");
}

/// In Chromium on a phone-sized screen: sign in, find a paid order by its transaction hash, open
/// it. The pages need no script, and none is run by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_order_is_found_by_its_transaction_in_a_browser() {
    if !browser::available() {
        return;
    }
    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
    let shop = gw.create_app().await;
    let created = gw
        .created_order(&shop, usdt_order("book-42", "12.5", json!({})))
        .await;
    let order = gw
        .store
        .order_by_sysid(created["sysid"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let transfer = fixtures::transfer(&order, 42, 0, 100, TransferState::Credited);
    let changes = ChangeSet {
        orders: vec![fixtures::write(
            &order,
            fixtures::paid(&order, &transfer.tx_hash, 5),
        )],
        transfers: vec![fixtures::recorded(&transfer)],
        ..ChangeSet::default()
    };
    gw.store.commit(changes).await.unwrap();
    create(&gw, "ops", "viewer").await;

    let browser = Browser::start(390, 844).await;
    // Each click may return before the page it leads to has loaded: wait for that page.
    let at = |path: String, search: &'static str| {
        let script = format!(
            "return location.pathname === {path:?} && location.search.startsWith({search:?}) \
             && document.readyState === 'complete';"
        );
        let browser = &browser;
        async move { eventually_in(browser, &script).await }
    };
    browser.open(&format!("{}/admin", gw.base_url)).await;
    at("/admin/login".into(), "").await;
    browser.type_into("input[name=username]", "ops").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    at("/admin".into(), "").await;
    browser.click("nav a[href='/admin/orders']").await;
    at("/admin/orders".into(), "").await;
    browser.type_into("input[name=q]", &transfer.tx_hash).await;
    browser.click("form.search button").await;
    at("/admin/orders".into(), "?q=").await;
    browser.click("td a").await;
    at(format!("/admin/orders/{}", order.sysid), "").await;
    let text = browser
        .eval("return document.body.innerText;", json!([]))
        .await;
    let text = text.as_str().unwrap();
    for shown in ["book-42", "PAID", &transfer.tx_hash, "CREDITED", "12.5"] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    let width = browser
        .eval("return document.documentElement.scrollWidth;", json!([]))
        .await;
    assert!(
        width.as_u64().unwrap() <= 390,
        "the page fits the phone: {width}"
    );
}

on_both_engines!(
    a_support_operator_cancels_an_order_of_its_app,
    order_lists_filter_one_app_at_a_time,
    orders_are_found_and_kept_to_the_operators_app,
    sign_in_and_out_with_a_session_in_the_database,
    refused_sign_ins_all_look_the_same,
    sign_in_forms_need_their_csrf_token,
);
