//! Test harness: a real gateway (store, use cases, HTTP on a loopback port) per test, on
//! SQLite or PostgreSQL, with a clock the test can move.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod browser;
pub mod chain;
pub mod process;
pub mod receiver;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;
use wcheckout::application::{Application, Running, bind};
use wcheckout::config::{self, Config};
use wcheckout_app::Gateway;
use wcheckout_app::admin::{AppAdmin, AppChanges, IssuedCredentials};
use wcheckout_app::clock::SystemClock;
use wcheckout_client::signature::{SignedParts, sign_request};
use wcheckout_client::{Client, Credentials};
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::ports::{ChangeSet, ChangeStore, Clock, CursorMove};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::ChainKey;
use wcheckout_store::SqlStore;
use wcheckout_testkit::{TestDatabase, fresh_postgres, fresh_sqlite};

/// A fixed seed that is not anvil's, so deposit addresses never coincide with devnet accounts.
pub const TEST_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// Real time plus an offset the test can move forward.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(AtomicI64::new(0))
    }

    pub fn advance_secs(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(SystemClock.now().micros() + self.0.load(Ordering::SeqCst))
    }
}

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running gateway.
pub struct TestGateway {
    /// The engine this gateway's store runs on (to start another one like it).
    pub db: Db,
    pub base_url: String,
    pub clock: Arc<ManualClock>,
    pub gateway: Arc<Gateway>,
    pub store: Arc<SqlStore>,
    pub admin: AppAdmin,
    pub http: reqwest::Client,
    running: Running,
    _db: TestDatabase,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.running.signal_stop();
    }
}

pub fn test_config(db_url: &str) -> Config {
    let mut config = config::load(None).unwrap();
    config.database.url = db_url.to_owned();
    config.keys.seed = Some(TEST_MNEMONIC.into());
    config.keys.master_key = Some("11".repeat(32));
    config.orders.expiry_interval_ms = 100;
    config.database.max_connections = 8;
    // The database is in a temporary directory of its own; nothing else is written.
    config.server.data_dir = std::env::temp_dir();
    // API tests run without a chain; the chain tests turn watching on with their own node.
    config.watcher.enabled = false;
    config
}

impl TestGateway {
    /// A gateway on `db`, or `None` when PostgreSQL is wanted but unreachable (the test is
    /// then skipped with a message, or fails under `WCHECKOUT_REQUIRE_PG=1`).
    pub async fn start(db: Db) -> Option<TestGateway> {
        TestGateway::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, customize: impl FnOnce(&mut Config)) -> Option<TestGateway> {
        let database = match db {
            Db::Sqlite => fresh_sqlite(),
            Db::Postgres => fresh_postgres("integration test").await?,
        };
        let mut config = test_config(&database.url);
        let listener = bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        config.server.public_url = format!("http://{address}");
        customize(&mut config);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let clock = Arc::new(ManualClock::new());
        let application = Application::build_on(listener, &config, clock.clone())
            .await
            .unwrap();
        let running = application.start(None).unwrap();
        let (gateway, store) = (running.gateway.clone(), running.store.clone());
        let admin = AppAdmin::new(store.clone(), gateway.secrets.clone(), clock.clone());
        Some(TestGateway {
            db,
            base_url: format!("http://{address}"),
            clock,
            gateway,
            store,
            admin,
            http: reqwest::Client::new(),
            running,
            _db: database,
        })
    }

    /// Sets the chain's cursor, as the watcher's commit would (compare-and-set on `expected`,
    /// `None` creating it).
    pub async fn set_cursor(&self, chain: &ChainKey, expected: Option<BlockMark>, to: BlockMark) {
        let cursor = CursorMove {
            chain: chain.clone(),
            expected,
            to,
            checkpoints: Vec::new(),
            forget_above: None,
        };
        self.store
            .commit(ChangeSet {
                cursor: Some(cursor),
                ..ChangeSet::default()
            })
            .await
            .unwrap();
    }

    pub async fn create_app(&self) -> IssuedCredentials {
        self.admin.create("Test shop", None, &[]).await.unwrap()
    }

    pub async fn create_app_allowing(&self, networks: &[&str]) -> IssuedCredentials {
        let networks = networks.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        self.admin
            .create("Test shop", None, &networks)
            .await
            .unwrap()
    }

    pub async fn update_app(&self, app_id: &str, changes: AppChanges) {
        self.admin.update(app_id, changes).await.unwrap();
    }

    pub fn client(&self, credentials: &IssuedCredentials) -> Client {
        Client::new(&self.base_url, credentials_of(credentials))
    }

    /// A fresh access token.
    pub async fn token(&self, credentials: &IssuedCredentials) -> String {
        self.client(credentials).access_token().await.unwrap()
    }

    /// Sends a request with exactly the given headers and body; returns status, headers and
    /// the JSON body.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.base_url));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    /// Bearer + SIGNATURE + TIMESTAMP headers for a request signed now.
    pub fn signed_headers(
        token: &str,
        sign_key: &str,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> Vec<(&'static str, String)> {
        let timestamp = SystemClock.now().millis().to_string();
        signed_headers_at(token, sign_key, method, path_and_query, body, &timestamp)
    }

    /// A signed request from `credentials`, returning the `retcode`, and the body.
    pub async fn signed(
        &self,
        credentials: &IssuedCredentials,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> Value {
        let token = self.token(credentials).await;
        let headers =
            Self::signed_headers(&token, &credentials.sign_key, method, path_and_query, body);
        self.send(method, path_and_query, body, &headers).await.2
    }

    /// Lets the background expiry worker run.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub fn signed_headers_at(
    token: &str,
    sign_key: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
    timestamp: &str,
) -> Vec<(&'static str, String)> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let parts = SignedParts {
        method,
        path,
        query,
        body: body.as_bytes(),
    };
    vec![
        ("authorization", format!("Bearer {token}")),
        (
            "signature",
            sign_request(sign_key.as_bytes(), &parts, timestamp),
        ),
        ("timestamp", timestamp.to_owned()),
    ]
}

pub fn credentials_of(credentials: &IssuedCredentials) -> Credentials {
    Credentials {
        api_key: credentials.api_key.clone(),
        api_secret: credentials.api_secret.clone(),
        sign_key: credentials.sign_key.clone(),
    }
}

/// The `retcode` of a body.
pub fn retcode(body: &Value) -> &str {
    body["retcode"].as_str().unwrap_or("")
}

/// Expands each scenario `async fn name(gw: TestGateway)` into `name::sqlite` and
/// `name::postgres` tests.
#[macro_export]
macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let gw = TestGateway::start(Db::Sqlite).await.unwrap();
                    super::$scenario(gw).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if let Some(gw) = TestGateway::start(Db::Postgres).await {
                        super::$scenario(gw).await;
                    }
                }
            }
        )*
    };
}
