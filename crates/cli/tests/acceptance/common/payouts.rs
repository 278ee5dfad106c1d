//! What the payout tests of every chain family share: a gateway paying out on the chain under
//! test with one app, its API and webhooks; the payouts the chain had open; and the books
//! checked against the chains.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::payouts::{PayoutEngine, PayoutSettings, SweepSettings};
use wcheckout_client::{ApiResponse, Client};
use wcheckout_domain::address::{Address, ChainFamily};
use wcheckout_domain::chain::{
    Broadcast, ChainError, ChainReader, ChainWriter, FeeQuote, RawTx, Receipt, SendModel,
    TransferTx,
};
use wcheckout_domain::payout::{Payout, PayoutKind, Signer};
use wcheckout_domain::ports::MoneyStore;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{Chain, ChainKey};

use wcheckout_testkit::TempDir;

use super::chain::eventually;
use super::process::Cli;
use super::receiver::{Delivery, Receiver, Reply, always};
use super::{Db, TestGateway};

/// Longest wait for anything on chain: enough for a send the node dropped to expire (about
/// 60 s of blockhash validity on Surfnet, a TRON transaction's 60 s expiration), be signed again
/// and land final. A payout that goes through does so in seconds.
pub const WAIT: Duration = Duration::from_secs(150);

/// A gateway paying out on the chain under test (payout and webhook rounds every 100 ms), with
/// one app, its client, the receiver of its webhooks and the chain's payouts watched.
pub struct PayoutGateway {
    pub gw: TestGateway,
    /// The configuration it runs (for the operator's commands and `reconcile`).
    pub config: Config,
    /// The chain under test.
    pub chain: Chain,
    pub app: IssuedCredentials,
    pub client: Arc<Client>,
    pub hooks: Receiver,
    pub seen: SeenPayouts,
}

impl PayoutGateway {
    /// A gateway whose chains `chains` sets (it starts with none; a chain's helper may turn
    /// payouts off, they are turned on after it), then changed by the test's `tweak`, paying
    /// out on `chain` (of `family`) for an app named `app_name`; `None` when PostgreSQL is
    /// wanted and absent.
    pub async fn start(
        db: Db,
        (chain, family): (&str, ChainFamily),
        app_name: &str,
        chains: impl FnOnce(&mut Config),
        tweak: impl FnOnce(&mut Config),
    ) -> Option<PayoutGateway> {
        let hooks = Receiver::start(always(Reply::ok())).await;
        let mut captured = None;
        let gw = TestGateway::start_with(db, |c| {
            // No chain but the test's (the defaults name a devnet ETH node).
            c.chains.clear();
            c.tokens.clear();
            chains(c);
            c.payouts.enabled = true;
            c.payouts.poll_interval_ms = 100;
            c.payouts.funds_retry_secs = 1;
            c.webhooks.poll_interval_ms = 100;
            tweak(c);
            captured = Some(c.clone());
        })
        .await?;
        let key = ChainKey::parse(chain).unwrap();
        let chain = gw.gateway.tokens.chain(&key).unwrap().clone();
        assert_eq!(chain.family, family);
        let app = gw
            .admin
            .create(app_name, Some(&hooks.url("/hooks")), &[])
            .await
            .unwrap();
        let client = Arc::new(gw.client(&app));
        let seen = SeenPayouts::watch(Arc::clone(&gw.store), chain.key.clone());
        Some(PayoutGateway {
            gw,
            config: captured.unwrap(),
            chain,
            app,
            client,
            hooks,
            seen,
        })
    }

    /// The chain's hot wallet.
    pub fn hot_wallet(&self) -> Address {
        self.gw.gateway.hot_wallet(&self.chain).unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> ApiResponse {
        self.client.post(path, &body.to_string()).await.unwrap()
    }

    /// What the API answered with `200`.
    pub async fn ok(&self, path: &str, body: &Value) -> Value {
        let answer = self.post(path, body).await;
        assert_eq!(answer.retcode(), "200", "{path} {body}: {}", answer.body);
        answer.retdata().clone()
    }

    pub async fn wait_order(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("order {no} {status}"), || async {
            let info = self.client.order_info(no).await.unwrap();
            assert_eq!(info.retcode(), "200", "{}", info.body);
            let order = info.retdata().clone();
            (order["orderStatus"] == status).then_some(order)
        })
        .await
    }

    /// Refund `no` once in `status` (failing at once if it fails).
    pub async fn wait_refund(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("refund {no} {status}"), || async {
            let info = self.client.refund_info(no).await.unwrap();
            assert_eq!(info.retcode(), "200", "{}", info.body);
            let data = info.retdata().clone();
            assert!(data["refundStatus"] != "FAILED", "refund {no}: {data}");
            (data["refundStatus"] == status).then_some(data)
        })
        .await
    }

    /// Settlement `no` once in `status` (failing at once if it fails).
    pub async fn wait_settlement(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("settlement {no} {status}"), || async {
            let info = self.client.settlement_info(no).await.unwrap();
            assert_eq!(info.retcode(), "200", "{}", info.body);
            let data = info.retdata().clone();
            assert!(data["settlementStatus"] != "FAILED", "{no}: {data}");
            (data["settlementStatus"] == status).then_some(data)
        })
        .await
    }

    /// Waits for the `REFUND_ORDER_CHANGED` webhook of refund `no` in `status`; its `data`.
    pub async fn wait_refund_hook(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("refund {no} {status} webhook"), || async {
            self.hooks
                .deliveries()
                .iter()
                .map(Delivery::json)
                .filter(|body| body["eventType"] == "REFUND_ORDER_CHANGED")
                .map(|body| body["data"].clone())
                .find(|data| data["refundOrderNo"] == no && data["refundStatus"] == status)
        })
        .await
    }

    /// A payout engine of the chain under test, sweeping nothing, for a test that drives it
    /// round by round (its gateway runs none: `payouts.enabled = false`).
    pub fn engine(
        &self,
        reader: Arc<dyn ChainReader>,
        writer: Arc<dyn ChainWriter>,
    ) -> PayoutEngine {
        let settings = PayoutSettings {
            sweeps: SweepSettings {
                enabled: false,
                ..SweepSettings::default()
            },
            ..PayoutSettings::default()
        };
        let gateway = Arc::clone(&self.gw.gateway);
        let holder = "test-engine".to_owned();
        PayoutEngine::new(
            gateway,
            self.chain.clone(),
            reader,
            writer,
            settings,
            holder,
        )
    }

    /// The payout of refund `sysid`, as it stands now.
    pub async fn refund_payout(&self, sysid: &str) -> Payout {
        let reference = format!("refund:{sysid}");
        let payout = self
            .gw
            .store
            .payout_by_reference(PayoutKind::Refund, &reference);
        payout.await.unwrap().expect("the refund's payout")
    }

    /// The chain's payouts of `kind` seen so far, as they stand now.
    pub async fn payouts(&self, kind: PayoutKind) -> Vec<Payout> {
        self.seen.of_kind(&self.gw, kind).await
    }

    /// Every payout final, the ledger balanced, and `reconcile` finding nothing on any chain;
    /// each chain with the accounts it checked.
    pub async fn assert_books_balance(&self) -> Vec<(String, usize)> {
        assert_books_balance(&self.gw, &self.config, WAIT).await
    }

    /// The books balance (as [`Self::assert_books_balance`]) with accounts checked on each of
    /// `chains`; then the operator's `wcheckout reconcile --json`, run as the binary on this
    /// configuration and database, says the same: no difference, accounts checked on each
    /// chain, and its USDT summed equal on the ledger's side and the chain's. The command line,
    /// for more commands, with the directory that holds its configuration.
    pub async fn assert_books_balance_on(&self, chains: &[&str]) -> (TempDir, Cli) {
        let checked = self.assert_books_balance().await;
        for key in chains {
            assert!(checked.iter().any(|(k, _)| k == key), "{checked:?}");
        }
        assert!(checked.iter().all(|(_, n)| *n > 0), "{checked:?}");
        let dir = TempDir::new();
        let cli = Cli::configured(&dir.path, &toml::to_string(&self.config).unwrap());
        let report = cli.run_async(&["reconcile", "--json"]).await.ok().stdout;
        let report: Value = serde_json::from_str(report.trim()).unwrap();
        assert_eq!(report["differences"], 0, "{report}");
        for key in chains {
            let chain = report["chains"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["chain"] == *key)
                .unwrap_or_else(|| panic!("{key} not reconciled: {report}"));
            assert_eq!(chain["differences"], json!([]), "{report}");
            assert!(chain["checked"].as_u64() > Some(0), "{report}");
            let usdt = format!("{key}_USDT");
            let assets = chain["assets"].as_array().unwrap();
            let usdt_sums = assets.iter().find(|a| a["asset"] == usdt.as_str()).unwrap();
            assert_eq!(usdt_sums["ledger"], usdt_sums["chain"], "{report}");
            assert_eq!(usdt_sums["different"], 0, "{report}");
        }
        (dir, cli)
    }
}

/// Every payout of a chain seen open, polled every 20 ms (a payout on a chain whose
/// transactions expire stays open for at least one 100 ms payout round after its broadcast),
/// until dropped.
pub struct SeenPayouts {
    ids: Arc<Mutex<BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SeenPayouts {
    pub fn watch(store: Arc<wcheckout_store::SqlStore>, chain: ChainKey) -> SeenPayouts {
        let ids = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = Arc::clone(&ids);
        let task = tokio::spawn(async move {
            loop {
                if let Ok(open) = store.open_payouts(&chain, 1000).await {
                    seen.lock().unwrap().extend(open.into_iter().map(|p| p.id));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        SeenPayouts { ids, task }
    }

    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().iter().cloned().collect()
    }

    /// The payouts of `kind` seen so far, as they stand now.
    pub async fn of_kind(&self, gw: &TestGateway, kind: PayoutKind) -> Vec<Payout> {
        let mut found = Vec::new();
        for id in self.ids() {
            let payout = gw.store.payout(&id).await.unwrap().unwrap();
            if payout.kind == kind {
                found.push(payout);
            }
        }
        found
    }
}

impl Drop for SeenPayouts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every payout final, the ledger balanced, and on every chain each custody account of ours
/// (the hot wallets' too) holding exactly what the ledger says: `wcheckout reconcile`, through
/// the same writers (`payout_workers::chain_access`). Each chain with the accounts it checked.
pub async fn assert_books_balance(
    gw: &TestGateway,
    config: &Config,
    wait: Duration,
) -> Vec<(String, usize)> {
    let chains = wcheckout::payout_workers::chain_access(config, &gw.gateway.tokens).unwrap();
    let mut checked = Vec::new();
    for access in &chains {
        let writer = access.writer.as_ref();
        let found = eventually(wait, "no payout in flight", || async move {
            let found = gw
                .gateway
                .reconcile_chain(&access.chain, writer)
                .await
                .unwrap();
            (found.in_flight == 0).then_some(found)
        })
        .await;
        assert!(
            found.differences.is_empty(),
            "{}: the ledger and the chain disagree: {found:?}",
            access.chain.key
        );
        checked.push((access.chain.key.to_string(), found.checked));
    }
    let check = gw.gateway.ledger_check().await.unwrap();
    assert!(
        check.mismatched_accounts.is_empty() && check.account_debits == check.account_credits,
        "the ledger does not balance: {check:?}"
    );
    checked
}

/// A chain's writer whose broadcasts are lost (never reaching the node, the answer an error)
/// while `losing` is set; every transaction handed to it to broadcast is noted.
pub struct LosingWriter<W> {
    inner: W,
    losing: AtomicBool,
    sent: Mutex<Vec<String>>,
}

impl<W> LosingWriter<W> {
    /// `inner`, losing every broadcast until [`Self::stop_losing`].
    pub fn new(inner: W) -> LosingWriter<W> {
        LosingWriter {
            inner,
            losing: AtomicBool::new(true),
            sent: Mutex::new(Vec::new()),
        }
    }

    pub fn stop_losing(&self) {
        self.losing.store(false, Ordering::SeqCst);
    }

    /// The hashes of the transactions handed over to broadcast, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl<W: ChainWriter> ChainWriter for LosingWriter<W> {
    fn send_model(&self) -> SendModel {
        self.inner.send_model()
    }
    fn address_of(&self, signer: Signer) -> Result<Address, ChainError> {
        self.inner.address_of(signer)
    }
    fn fee_payer(&self, signer: Signer) -> Result<Option<Address>, ChainError> {
        self.inner.fee_payer(signer)
    }
    async fn expired(&self, raw: &RawTx) -> Result<Option<bool>, ChainError> {
        self.inner.expired(raw).await
    }
    async fn sign(&self, signer: Signer, tx: &TransferTx) -> Result<RawTx, ChainError> {
        self.inner.sign(signer, tx).await
    }
    fn resign(
        &self,
        signer: Signer,
        original: &RawTx,
        max_fee: u128,
        tip: u128,
    ) -> Result<RawTx, ChainError> {
        self.inner.resign(signer, original, max_fee, tip)
    }
    async fn nonce(&self, address: &Address, pending: bool) -> Result<u64, ChainError> {
        self.inner.nonce(address, pending).await
    }
    async fn fee_quote(&self) -> Result<FeeQuote, ChainError> {
        self.inner.fee_quote().await
    }
    async fn estimate_gas(&self, from: &Address, tx: &TransferTx) -> Result<u64, ChainError> {
        self.inner.estimate_gas(from, tx).await
    }
    async fn broadcast(&self, raw: &RawTx) -> Result<Broadcast, ChainError> {
        self.sent.lock().unwrap().push(raw.hash.clone());
        if self.losing.load(Ordering::SeqCst) {
            return Err(ChainError::Unavailable("the answer was lost".into()));
        }
        self.inner.broadcast(raw).await
    }
    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        self.inner.receipt(tx_hash).await
    }
    async fn known(&self, tx_hash: &str) -> Result<bool, ChainError> {
        self.inner.known(tx_hash).await
    }
    async fn balance(
        &self,
        address: &Address,
        contract: Option<&Address>,
    ) -> Result<u128, ChainError> {
        self.inner.balance(address, contract).await
    }
    async fn head_number(&self) -> Result<u64, ChainError> {
        self.inner.head_number().await
    }
    async fn head_time(&self) -> Result<Timestamp, ChainError> {
        self.inner.head_time().await
    }
}
