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
pub mod console;
pub mod payouts;
pub mod process;
pub mod receiver;
pub mod solana;
pub mod tron;

use std::collections::HashSet;
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chain::TestChain;
use serde_json::{Value, json};
use wcheckout::application::{Application, Running, bind};
use wcheckout::config::{self, Config};
use wcheckout_app::Gateway;
use wcheckout_app::admin::{AppAdmin, AppChanges, IssuedCredentials};
use wcheckout_app::clock::SystemClock;
use wcheckout_client::signature::{SignedParts, sign_request};
use wcheckout_client::{ApiResponse, Client, Credentials, routes};
use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::money::TokenAmount;
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

/// A gateway watching a fresh test chain and one app of it: anvil (chain id 31337) as `ETH`,
/// the TRON stand-in in front of anvil as `TRX`, or Surfnet as `SOL`.
pub struct ChainFixture {
    pub gw: TestGateway,
    /// The TRON stand-in of a `TRX` fixture (stopped before the chain it fronts).
    pub tron: Option<wcheckout_tron::standin::Standin>,
    /// The anvil chain of an `ETH` or `TRX` fixture.
    pub anvil: Option<TestChain>,
    /// The cluster of a `SOL` fixture.
    pub solana: Option<solana::SolanaChain>,
    pub app: IssuedCredentials,
    /// The chain's key: the prefix of its token ids.
    pub key: &'static str,
}

/// Which chain family a scenario runs on.
#[derive(Clone, Copy, Debug)]
pub enum Family {
    Evm,
    Tron,
    Solana,
}

impl ChainFixture {
    /// A transfer final at `confirmations`; `None` when PostgreSQL is wanted and absent.
    pub async fn start(db: Db, confirmations: u32) -> Option<ChainFixture> {
        let chain = TestChain::start(31337).await;
        let gw = TestGateway::start_with(db, |c| chain.configure(c, "ETH", confirmations)).await?;
        let app = gw.create_app().await;
        Some(ChainFixture {
            gw,
            tron: None,
            anvil: Some(chain),
            solana: None,
            app,
            key: "ETH",
        })
    }

    /// The same on the TRON stand-in, as `TRX`; `None` also when its tools are missing.
    pub async fn start_tron(db: Db, confirmations: u32) -> Option<ChainFixture> {
        let tron = tron::TronChain::start().await?;
        let gw = TestGateway::start_with(db, |c| tron.configure(c, "TRX", confirmations)).await?;
        let app = gw.create_app().await;
        let tron::TronChain { standin, chain } = tron;
        Some(ChainFixture {
            gw,
            tron: Some(standin),
            anvil: Some(chain),
            solana: None,
            app,
            key: "TRX",
        })
    }

    /// The same on Surfnet, as `SOL`, final at `finalized` (or `confirmed_slots` slots at
    /// `confirmed`); `None` also when its tools are missing.
    pub async fn start_solana(db: Db, confirmed_slots: Option<u32>) -> Option<ChainFixture> {
        let solana = solana::SolanaChain::start().await?;
        let gw =
            TestGateway::start_with(db, |c| solana.configure(c, "SOL", confirmed_slots)).await?;
        let app = gw.create_app().await;
        Some(ChainFixture {
            gw,
            tron: None,
            anvil: None,
            solana: Some(solana),
            app,
            key: "SOL",
        })
    }

    /// The anvil chain of an EVM or TRON fixture.
    pub fn chain(&self) -> &TestChain {
        self.anvil
            .as_ref()
            .expect("an EVM or TRON scenario: this fixture has no anvil chain")
    }

    /// A transaction hash from the chain's node (`0x…`) as the gateway reports it on this
    /// chain: TRON's txID has no prefix; a Solana signature is the same text.
    pub fn tx_id(&self, hash: &str) -> String {
        match self.tron {
            Some(_) => tron::txid(hash),
            None => hash.to_owned(),
        }
    }

    /// Payer `payer` (1..=5) sends `amount` of the chain's USDT to `to`; the transaction's
    /// hash (Solana: signature).
    pub async fn pay_usdt(&self, payer: usize, to: &str, amount: TokenAmount) -> String {
        match &self.solana {
            Some(solana) => solana.pay(payer, solana.usdt(), to, amount).await,
            None => self.chain().pay(payer, self.chain().usdt, to, amount).await,
        }
    }

    /// A fixture of `family`.
    pub async fn start_on(family: Family, db: Db, confirmations: u32) -> Option<ChainFixture> {
        match family {
            Family::Evm => ChainFixture::start(db, confirmations).await,
            Family::Tron => ChainFixture::start_tron(db, confirmations).await,
            Family::Solana => ChainFixture::start_solana(db, None).await,
        }
    }

    /// The app's order of `amount` in the chain's USDT with `extra` fields (see
    /// [`usdt_order`]), asserted created.
    pub async fn create(&self, order_no: &str, amount: &str, extra: Value) -> Value {
        let mut body = usdt_order(order_no, amount, extra);
        if body["token"] == "ETH_USDT" {
            body["token"] = json!(format!("{}_USDT", self.key));
        }
        self.gw.created_order(&self.app, body).await
    }

    /// The app's order `order_no`, asserted found.
    pub async fn info(&self, order_no: &str) -> Value {
        self.gw.order(&self.app, order_no).await
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
    /// The hot wallet of EVM chains, as the anvil account it is.
    pub fn evm_hot_wallet(&self) -> EvmAddress {
        let hot = self.gateway.hot_wallets[&wcheckout_domain::address::ChainFamily::Evm];
        hot.as_evm().expect("the EVM hot wallet is an EVM address")
    }

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
    /// the JSON body (the text as a JSON string when it is not JSON).
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let (status, headers, text) = self.send_raw(method, path_and_query, body, headers).await;
        (status, headers, parse_body(text))
    }

    /// Sends a request with exactly the given headers and body; returns status, headers and
    /// the body's text as it came (to check a signature over it).
    pub async fn send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let url = format!("{}{path_and_query}", self.base_url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        exchange(self.http.clone(), method, url, body.to_owned(), headers).await
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

    /// A timestamp (ms) on the gateway's clock. Waits 2 ms first so that two requests with the
    /// same content never share a signature (and look like a replay) by accident.
    pub fn fresh_timestamp(&self) -> String {
        std::thread::sleep(Duration::from_millis(2));
        self.clock.now().millis().to_string()
    }

    /// Bearer + a correct signature at a fresh timestamp on the gateway's clock (which a test
    /// may have moved).
    pub fn headers_now(
        &self,
        token: &str,
        sign_key: &str,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> Vec<(&'static str, String)> {
        let timestamp = self.fresh_timestamp();
        signed_headers_at(token, sign_key, method, path_and_query, body, &timestamp)
    }

    /// A signed POST of `body`'s text as it is (a JSON value, or exact bytes); the answer.
    pub async fn post(
        &self,
        credentials: &IssuedCredentials,
        path: &str,
        body: impl Display,
    ) -> Value {
        self.signed(credentials, "POST", path, &body.to_string())
            .await
    }

    /// A signed GET of `path?orderNo=order_no`; the answer.
    async fn get_order(
        &self,
        credentials: &IssuedCredentials,
        path: &str,
        order_no: &str,
    ) -> Value {
        let path = routes::with_query(path, "orderNo", order_no);
        self.signed(credentials, "GET", &path, "").await
    }

    /// CreateCheckoutOrder; the answer.
    pub async fn create_order(&self, credentials: &IssuedCredentials, body: impl Display) -> Value {
        self.post(credentials, routes::CREATE_ORDER, body).await
    }

    /// QueryCheckoutOrder; the answer.
    pub async fn order_info(&self, credentials: &IssuedCredentials, order_no: &str) -> Value {
        self.get_order(credentials, routes::ORDER_INFO, order_no)
            .await
    }

    /// CancelCheckoutOrder; the answer.
    pub async fn cancel_order(&self, credentials: &IssuedCredentials, order_no: &str) -> Value {
        self.get_order(credentials, routes::CANCEL_ORDER, order_no)
            .await
    }

    /// ListCheckoutOrders; the answer.
    pub async fn list_orders(
        &self,
        credentials: &IssuedCredentials,
        filter: impl Display,
    ) -> Value {
        self.post(credentials, routes::LIST_ORDERS, filter).await
    }

    /// ListAbnormalPayments; the answer.
    pub async fn list_abnormal_payments(
        &self,
        credentials: &IssuedCredentials,
        filter: impl Display,
    ) -> Value {
        self.post(credentials, routes::LIST_ABNORMAL_PAYMENTS, filter)
            .await
    }

    /// Creates an order and asserts it was; the order.
    pub async fn created_order(
        &self,
        credentials: &IssuedCredentials,
        body: impl Display,
    ) -> Value {
        succeeded(&self.create_order(credentials, body).await)
    }

    /// The order `order_no`, asserted found.
    pub async fn order(&self, credentials: &IssuedCredentials, order_no: &str) -> Value {
        succeeded(&self.order_info(credentials, order_no).await)
    }

    /// CreateCheckoutOrder through `credentials`' client with `body` sent byte for byte, for
    /// the tests that read the answer's text (a JSON number keeps every digit as written, which
    /// a parsed `Value` would not).
    pub async fn create_order_text(
        &self,
        credentials: &IssuedCredentials,
        body: &str,
    ) -> ApiResponse {
        self.client(credentials)
            .post(routes::CREATE_ORDER, body)
            .await
            .unwrap()
    }

    /// `count` POSTs of the same `body` to `path`, all in flight at once, each signed at its
    /// own timestamp (the same signature twice would be refused as a replay); the answers in
    /// the order sent.
    pub async fn post_at_once(
        &self,
        credentials: &IssuedCredentials,
        path: &str,
        body: &str,
        count: i64,
    ) -> Vec<Value> {
        let token = self.token(credentials).await;
        let now = SystemClock.now().millis();
        let requests = (0..count)
            .map(|i| {
                let timestamp = (now - i).to_string();
                let headers = signed_headers_at(
                    &token,
                    &credentials.sign_key,
                    "POST",
                    path,
                    body,
                    &timestamp,
                )
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
                let url = format!("{}{path}", self.base_url);
                let (http, body) = (self.http.clone(), body.to_owned());
                tokio::spawn(exchange(http, reqwest::Method::POST, url, body, headers))
            })
            .collect::<Vec<_>>();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(parse_body(request.await.unwrap().2));
        }
        answers
    }

    /// Lets the background expiry worker run.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One HTTP exchange from owned parts (so that it can be spawned); status, headers and the
/// body's text.
async fn exchange(
    http: reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: String,
    headers: Vec<(String, String)>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if !body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A body as JSON, or as a JSON string when it is not JSON.
fn parse_body(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// What a signature over a request or its answer covers: `path_and_query` split at its `?`.
pub fn signed_parts<'a>(
    method: &'a str,
    path_and_query: &'a str,
    body: &'a [u8],
) -> SignedParts<'a> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    SignedParts {
        method,
        path,
        query,
        body,
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
    let parts = signed_parts(method, path_and_query, body.as_bytes());
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

/// The `retdata` of an answer that must be a success.
pub fn succeeded(answer: &Value) -> Value {
    assert_eq!(retcode(answer), "200", "{answer}");
    answer["retdata"].clone()
}

/// The `sysid`s in answers that must all be successes.
pub fn sysids_of(answers: &[Value]) -> HashSet<String> {
    answers
        .iter()
        .map(|answer| succeeded(answer)["sysid"].as_str().unwrap().to_owned())
        .collect()
}

/// An ETH_USDT order of `amount` for customer `c`, with `extra`'s fields added (or replacing).
pub fn usdt_order(order_no: &str, amount: &str, extra: Value) -> Value {
    let mut body =
        json!({"orderNo": order_no, "orderAmount": amount, "customerId": "c", "token": "ETH_USDT"});
    let Value::Object(extra) = extra else {
        panic!("extra fields must be an object: {extra}");
    };
    body.as_object_mut().unwrap().extend(extra);
    body
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

/// Expands each scenario `async fn name(db: Db)`, which starts what it needs itself (a chain,
/// a gateway configured for it) and returns early when PostgreSQL is absent, into
/// `name::sqlite` and `name::postgres` tests.
#[macro_export]
/// One test of a scenario `async fn name(family: Family, db: Db)`: `test` runs it on `family`
/// and `db`.
macro_rules! family_test {
    ($scenario:ident, $test:ident, $family:ident, $db:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $test() {
            super::$scenario($crate::common::Family::$family, $crate::common::Db::$db).await;
        }
    };
}

/// Expands each scenario `async fn name(family: Family, db: Db)` into `name::sqlite` and
/// `name::postgres` on an EVM chain and `name::tron` on the TRON stand-in (SQLite).
macro_rules! on_both_families {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                family_test!($scenario, sqlite, Evm, Sqlite);
                family_test!($scenario, postgres, Evm, Postgres);
                family_test!($scenario, tron, Tron, Sqlite);
            }
        )*
    };
}

/// The same as [`on_both_families`], plus `name::solana` and `name::solana_postgres` on
/// Surfnet.
macro_rules! on_every_family {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                family_test!($scenario, sqlite, Evm, Sqlite);
                family_test!($scenario, postgres, Evm, Postgres);
                family_test!($scenario, tron, Tron, Sqlite);
                family_test!($scenario, solana, Solana, Sqlite);
                family_test!($scenario, solana_postgres, Solana, Postgres);
            }
        )*
    };
}

macro_rules! on_both_engines_with_db {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$scenario($crate::common::Db::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$scenario($crate::common::Db::Postgres).await;
                }
            }
        )*
    };
}
