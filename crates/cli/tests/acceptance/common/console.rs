//! The operator console as a test sees it: a client without JavaScript, cookies or redirects
//! (every header is the test's to check), signed-in sessions, operators and the audit log.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::json;
use wcheckout_app::operators::{Actor, OperatorAdmin};
use wcheckout_app::postings;
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::payment::{Transfer, TransferState};
use wcheckout_domain::ports::{
    ChainStore, ChangeSet, ChangeStore, Clock, OperatorStore, TransferChange,
};
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::TestGateway;
use crate::common::browser::Browser;

/// Every test operator's password.
pub const PASSWORD: &str = "correct horse battery";

/// What a console request answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The cells of the overview's custody row of `asset` (`ETH_USDT`).
    pub fn custody_row(&self, asset: &str) -> &str {
        let marker = format!("<tr data-asset=\"{asset}\">");
        let start = self.body.find(&marker).map(|i| i + marker.len());
        let start = start.unwrap_or_else(|| panic!("no {asset} row in {}", self.body));
        let end = self.body[start..].find("</tr>").unwrap_or(0);
        &self.body[start..start + end]
    }

    /// The `Set-Cookie` line of cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .find(|line| line.starts_with(&prefix))
    }

    /// The value cookie `name` is set to.
    pub fn cookie_value(&self, name: &str) -> String {
        let line = self
            .set_cookie(name)
            .unwrap_or_else(|| panic!("no {name}: {:?}", self.headers));
        let pair = line.split(';').next().unwrap();
        pair.split_once('=').unwrap().1.to_owned()
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The hidden `csrf_token` field of the page's (first) form.
    pub fn csrf_field(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf_token: {}", self.body));
        let rest = &self.body[start + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser without JavaScript, cookies or redirects: every header is the test's to check.
pub struct Console {
    pub base_url: String,
    pub http: reqwest::Client,
}

/// A signed-in session: its cookie and its forms' CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Console {
    pub fn of(gw: &TestGateway) -> Console {
        Console::at(&gw.base_url)
    }

    pub fn at(base_url: &str) -> Console {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Console {
            base_url: base_url.to_owned(),
            http,
        }
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base_url));
        Console::answer(request.header("cookie", cookie).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}{path}", self.base_url));
        let request = request.header("cookie", cookie).form(form);
        Console::answer(request.send().await.unwrap()).await
    }

    /// The sign-in form: its cookie (`wcheckout_login=…`) and CSRF token.
    pub async fn login_form(&self) -> (String, String) {
        let form = self.get("/admin/login", "").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let cookie = format!("wcheckout_login={}", form.cookie_value("wcheckout_login"));
        (cookie, form.csrf_field())
    }

    /// Signs in through the form.
    pub async fn try_sign_in(&self, username: &str, password: &str) -> Answer {
        let (cookie, csrf) = self.login_form().await;
        let fields = [
            ("username", username),
            ("password", password),
            ("csrf_token", &csrf),
        ];
        self.post("/admin/login", &cookie, &fields).await
    }

    /// Signs in, which must succeed.
    pub async fn sign_in(&self, username: &str, password: &str) -> Session {
        let signed_in = self.try_sign_in(username, password).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        assert_eq!(signed_in.location(), "/admin");
        let cookie = format!(
            "wcheckout_session={}",
            signed_in.cookie_value("wcheckout_session")
        );
        let home = self.get("/admin", &cookie).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        Session {
            csrf: home.csrf_field(),
            cookie,
        }
    }

    /// Whether `session` still opens the console.
    pub async fn opens(&self, session: &Session) -> bool {
        let home = self.get("/admin", &session.cookie).await;
        match home.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert_eq!(home.location(), "/admin/login");
                false
            }
            other => panic!("GET /admin answered {other}: {}", home.body),
        }
    }
}

pub async fn create(gw: &TestGateway, name: &str, role: &str) {
    create_for(gw, name, role, None).await;
}

/// An operator bound to `app` when given.
pub async fn create_for(gw: &TestGateway, name: &str, role: &str, app: Option<&str>) {
    let admin = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    let password = SecretString::from(PASSWORD.to_owned());
    let actor = Actor::command_line();
    let created = admin.create(&actor, name, role, app, &password).await;
    created.unwrap();
}

pub async fn disable(gw: &TestGateway, name: &str) {
    let admin = OperatorAdmin::new(gw.store.clone(), gw.clock.clone());
    admin.disable(&Actor::command_line(), name).await.unwrap();
}

/// The audit log's latest entries as (operator, action, client), newest first.
pub async fn audited(gw: &TestGateway) -> Vec<(String, ConsoleAction, String)> {
    let entries = gw.store.audit_log(100).await.unwrap();
    entries
        .into_iter()
        .map(|e| (e.operator, e.action, e.client))
        .collect()
}

pub fn entry(
    operator: &str,
    action: ConsoleAction,
    client: &str,
) -> (String, ConsoleAction, String) {
    (operator.to_owned(), action, client.to_owned())
}

/// The sysids of the orders a search lists, in order.
pub fn listed_sysids(page: &Answer) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let marker = r#"href="/admin/orders/"#;
    page.body
        .match_indices(marker)
        .map(|(at, _)| {
            let rest = &page.body[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// Waits (bounded) until `script` returns true in the page: a form's navigation may still be
/// under way when the click returns.
/// Waits until `browser` shows `path`, its document loaded.
pub async fn shown_at(browser: &Browser, path: &str) {
    let script =
        format!("return location.pathname === {path:?} && document.readyState === 'complete';");
    eventually_in(browser, &script).await;
}

/// The text of the page `browser` shows.
pub async fn page_text(browser: &Browser) -> String {
    let text = browser
        .eval("return document.body.innerText;", json!([]))
        .await;
    text.as_str().expect("the page's text").to_owned()
}

/// Signs `name` in with [`PASSWORD`] through the sign-in form of the gateway at `base_url`, and
/// waits for the first page.
pub async fn sign_in_with(browser: &Browser, base_url: &str, name: &str) {
    browser.open(&format!("{base_url}/admin/login")).await;
    shown_at(browser, "/admin/login").await;
    browser.type_into("input[name=username]", name).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    shown_at(browser, "/admin").await;
}

pub async fn eventually_in(browser: &Browser, script: &str) {
    for _ in 0..100 {
        if browser.eval(script, json!([])).await == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never true: {script}");
}

/// Pays the order `sysid` in full by transaction `tx` through the use case that credits a final
/// transfer: the transfer is recorded pending (with its ledger posting), then credited, which
/// makes the order `PAID`, the amount available to its merchant, and announces it.
pub async fn pay_in_full(gw: &TestGateway, sysid: &str, tx: u64) -> Transfer {
    let order = gw.store.order_by_sysid(sysid).await.unwrap().unwrap();
    let transfer = Transfer {
        amount: order.paying_amount,
        observed_at: gw.clock.now(),
        ..fixtures::transfer(&order, tx, 0, 100, TransferState::Pending)
    };
    let record = TransferChange::Record {
        transfer: transfer.clone(),
        if_new: vec![postings::seen(&order, &transfer)],
        if_revived: Vec::new(),
    };
    let changes = ChangeSet {
        transfers: vec![record],
        ..ChangeSet::default()
    };
    gw.store.commit(changes).await.unwrap();
    gw.gateway.credit_transfer(&transfer).await.unwrap();
    let paid = gw.store.order_by_sysid(sysid).await.unwrap().unwrap();
    assert_eq!(paid.status.to_string(), "PAID");
    transfer
}

/// The id the console shows a session by, from its cookie (`wcheckout_session=…`).
pub fn session_id_of(session: &Session) -> String {
    let token = session.cookie.trim_start_matches("wcheckout_session=");
    wcheckout_app::console::session_id(&wcheckout_app::secrets::hash_secret(token))
}

/// A final transfer of `amount` base units by transaction `tx` to the deposit address of the
/// order `sysid`, recorded and credited like [`pay_in_full`]'s (to a paid order: an abnormal
/// payment).
pub async fn transfer_in(gw: &TestGateway, sysid: &str, tx: u64, amount: u128) -> Transfer {
    let order = gw.store.order_by_sysid(sysid).await.unwrap().unwrap();
    let transfer = Transfer {
        amount: fixtures::units(amount),
        observed_at: gw.clock.now(),
        ..fixtures::transfer(&order, tx, 0, 100, TransferState::Pending)
    };
    let record = TransferChange::Record {
        transfer: transfer.clone(),
        if_new: vec![postings::seen(&order, &transfer)],
        if_revived: Vec::new(),
    };
    let changes = ChangeSet {
        transfers: vec![record],
        ..ChangeSet::default()
    };
    gw.store.commit(changes).await.unwrap();
    gw.gateway.credit_transfer(&transfer).await.unwrap();
    transfer
}
