//! The chain watcher and the payout engine on the in-memory chain (`wcheckout_testkit::
//! chain_fake`), driven round by round, on SQLite and PostgreSQL: reorganisations (shallow: the
//! pending transfer is forgotten; deep: the credited one is reversed and the order alerted), a
//! node outage and calls failing at every point of a round (nothing credited twice, the backlog
//! caught up), a backlog scanned in bounded ranges, and payouts whose transaction is dropped
//! (sent again, same bytes), stuck (replaced at the same nonce, one mined), mined as the
//! original after a replacement, reverted (failed, funds released), or whose nonce another
//! transaction took (failed after a wait), and a refund paid after a sweep. Each ends with the
//! ledger balanced and agreeing with the chain. No node, no sleeps: seconds for the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use secrecy::SecretBox as Secret;
use wcheckout_app::addresses::AddressAllocator;
use wcheckout_app::admin::AppAdmin;
use wcheckout_app::chain_health::{ChainHealth, ChainHealthBoard};
use wcheckout_app::payouts::{PayoutEngine, PayoutSettings, SweepSettings};
use wcheckout_app::rates::FixedRates;
use wcheckout_app::reconciler::Reconciler;
use wcheckout_app::secrets::SecretBox;
use wcheckout_app::token_limits::{LoginLimiter, TokenLimiter};
use wcheckout_app::watcher::{ChainWatcher, Round, WatchError, WatcherSettings};
use wcheckout_app::{Gateway, Settings};
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress};
use wcheckout_domain::app::App;
use wcheckout_domain::chain::{Broadcast, ChainError, ChainWriter};
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payment::{Transfer, TransferState};
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus, Signer};
use wcheckout_domain::ports::{AppStore, ChainStore, Clock, MoneyStore, OrderStore};
use wcheckout_domain::refund::{Refund, RefundStatus};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{Chain, ChainKey, Finality, Token, TokenId, TokenRegistry};
use wcheckout_store::{SqlStore, StoreOptions};
use wcheckout_testkit::chain_fake::{
    FakeChain, FakeDepositAddresses, PAYER, Payment, TxFate, fake_signer_address,
};
use wcheckout_testkit::{TestDatabase, fresh_postgres, fresh_sqlite};

/// The token contract of `ETH_USDT` on the fake chain.
const USDT: Address = Address::Evm(EvmAddress::from_bytes([0x70; 20]));
/// A payout transaction stuck this long is replaced.
const REPLACE_AFTER_SECS: i64 = 60;

/// Whole USDT in base units.
fn usdt(whole: u128) -> u128 {
    whole * 1_000_000
}

/// Time that moves only when the test says so.
struct TestClock(AtomicI64);

impl TestClock {
    fn advance_secs(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

#[derive(Clone, Copy, Debug)]
enum Engine {
    Sqlite,
    Postgres,
}

/// A gateway on a fresh database watching the fake chain `ETH` with one token, `ETH_USDT`.
struct Bench {
    chain: FakeChain,
    clock: Arc<TestClock>,
    store: Arc<SqlStore>,
    gateway: Arc<Gateway>,
    eth: Chain,
    app: App,
    _db: TestDatabase,
}

impl Bench {
    /// `None` when PostgreSQL is wanted but unreachable (skipped with a message, or failing
    /// under `WCHECKOUT_REQUIRE_PG=1`).
    async fn start(engine: Engine, confirmations: u32) -> Option<Bench> {
        let db = match engine {
            Engine::Sqlite => fresh_sqlite(),
            Engine::Postgres => fresh_postgres("chain fakes").await?,
        };
        let store = Arc::new(
            SqlStore::open(&db.url, &StoreOptions::default())
                .await
                .unwrap(),
        );
        let clock = Arc::new(TestClock(AtomicI64::new(1_760_000_000_000_000)));
        let eth = Chain {
            key: ChainKey::parse("ETH").unwrap(),
            family: ChainFamily::Evm,
            display_name: "Ethereum".into(),
            chain_id: 31337,
            finality: Finality::Confirmations(confirmations),
            enabled: true,
            explorer_tx_url: None,
            wallet_rpc_url: None,
        };
        let token_id = TokenId::parse("ETH_USDT").unwrap();
        let token = Token {
            id: token_id.clone(),
            contract: USDT,
            decimals: 6,
            payment_scale: 2,
            enabled: true,
        };
        let tokens = TokenRegistry::new(vec![eth.clone()], vec![token]).unwrap();
        let rates = FixedRates::new([(token_id, Decimal::from_integer(1))], Decimal::ZERO).unwrap();
        let secrets = Arc::new(SecretBox::new(&Secret::new(Box::new([0x11; 32]))));
        let gateway = Arc::new(Gateway {
            store: store.clone(),
            clock: clock.clone(),
            tokens: Arc::new(tokens),
            rates: Arc::new(rates),
            addresses: AddressAllocator::new(store.clone(), Arc::new(FakeDepositAddresses), 16),
            secrets: secrets.clone(),
            settings: Settings::default(),
            chain_health: Arc::new(ChainHealthBoard::new(0)),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            hot_wallets: HashMap::from([(
                ChainFamily::Evm,
                fake_signer_address(Signer::HotWallet),
            )]),
            payout_signal: Arc::new(tokio::sync::Notify::new()),
            token_limits: TokenLimiter::default(),
            login_limits: LoginLimiter::default(),
            payer_transactions: HashMap::new(),
        });
        let admin = AppAdmin::new(store.clone(), secrets, clock.clone());
        let issued = admin.create("Fake shop", None, &[]).await.unwrap();
        let app = store
            .app(&AppId::new(issued.app_id))
            .await
            .unwrap()
            .unwrap();
        let chain = FakeChain::new();
        chain.mine(10);
        Some(Bench {
            chain,
            clock,
            store,
            gateway,
            eth,
            app,
            _db: db,
        })
    }

    /// A watcher starting at the block after the current head, reading `max_blocks` at a time.
    fn watcher(&self, max_blocks: u64) -> ChainWatcher {
        let settings = WatcherSettings {
            max_blocks_per_scan: max_blocks,
            start_block: Some(self.chain.head_number() + 1),
            ..WatcherSettings::default()
        };
        ChainWatcher::new(
            self.gateway.clone(),
            self.eth.clone(),
            Arc::new(self.chain.clone()),
            settings,
            "fake-watcher".into(),
            self.gateway.chain_health.clone(),
        )
    }

    fn payout_engine(&self, sweeps: bool) -> PayoutEngine {
        let settings = PayoutSettings {
            replace_after: Duration::from_secs(REPLACE_AFTER_SECS as u64),
            funds_retry: Duration::from_secs(1),
            sweeps: SweepSettings {
                enabled: sweeps,
                interval: Duration::from_secs(3600),
                ..SweepSettings::default()
            },
            ..PayoutSettings::default()
        };
        PayoutEngine::new(
            self.gateway.clone(),
            self.eth.clone(),
            Arc::new(self.chain.clone()),
            Arc::new(self.chain.clone()),
            settings,
            "fake-payouts".into(),
        )
    }

    fn hot_wallet(&self) -> Address {
        self.gateway.hot_wallets[&ChainFamily::Evm]
    }

    /// An order of `amount` whole USDT; its deposit address.
    async fn create_order(&self, no: &str, amount: u128) -> Address {
        let body = serde_json::json!({
            "orderNo": no, "orderAmount": amount.to_string(), "customerId": "c", "token": "ETH_USDT"
        });
        let view = self
            .gateway
            .create_order(&self.app, serde_json::from_value(body).unwrap(), None)
            .await
            .unwrap();
        Address::parse(ChainFamily::Evm, &view.deposit_address).unwrap()
    }

    async fn order(&self, no: &str) -> Order {
        let no = IntegratorNo::parse(no).unwrap();
        self.store
            .order_by_no(&self.app.id, &no)
            .await
            .unwrap()
            .unwrap()
    }

    async fn transfers(&self, no: &str) -> Vec<Transfer> {
        let sysid = self.order(no).await.sysid;
        self.store.transfers_of_orders(&[sysid]).await.unwrap()
    }

    fn health(&self) -> ChainHealth {
        let now = self.clock.now();
        self.gateway.chain_health.snapshot(now)["ETH"].clone()
    }

    async fn processed(&self) -> u64 {
        let key = ChainKey::parse("ETH").unwrap();
        let cursor = self.store.chain_cursor(&key).await.unwrap().unwrap();
        cursor.processed.number
    }

    /// Gives the hot wallet coin for gas and `tokens` USDT, on chain and in the ledger.
    async fn fund_hot_wallet(&self, tokens: u128) {
        let hot = self.hot_wallet();
        let gas = 10u128.pow(18);
        self.chain.fund(hot, None, gas);
        let native = Asset::Native(self.eth.key.clone());
        self.gateway
            .record_funding(&self.eth, native, TokenAmount::from_base_units(gas), "gas")
            .await
            .unwrap();
        if tokens > 0 {
            self.chain.fund(hot, Some(USDT), tokens);
            let token = Asset::Token(TokenId::parse("ETH_USDT").unwrap());
            self.gateway
                .record_funding(
                    &self.eth,
                    token,
                    TokenAmount::from_base_units(tokens),
                    "usdt",
                )
                .await
                .unwrap();
        }
    }

    /// An order of `amount` USDT paid in full by the outside payer and credited.
    async fn paid_order(&self, no: &str, amount: u128) {
        let deposit = self.create_order(no, amount).await;
        let watcher = self.watcher(1000);
        self.chain.pay(USDT, deposit, usdt(amount));
        rounds_until_caught_up(&watcher).await;
        assert_eq!(self.order(no).await.status, OrderStatus::Paid);
    }

    /// A refund of `amount` USDT of order `order_no`; its system id.
    async fn refund(&self, refund_no: &str, order_no: &str, amount: u128) -> String {
        let body = serde_json::json!({
            "refundOrderNo": refund_no, "orderNo": order_no, "amount": amount.to_string()
        });
        let view = self
            .gateway
            .create_refund(&self.app, serde_json::from_value(body).unwrap())
            .await
            .unwrap();
        assert_eq!(view.refund_status, "PENDING_REFUND");
        view.sysid
    }

    async fn refund_of(&self, sysid: &str) -> Refund {
        self.store.refund(sysid).await.unwrap().unwrap()
    }

    async fn payout_of(&self, refund_sysid: &str) -> Payout {
        let reference = format!("refund:{refund_sysid}");
        self.store
            .payout_by_reference(PayoutKind::Refund, &reference)
            .await
            .unwrap()
            .unwrap()
    }

    /// What the outside payer received from the hot wallet.
    fn paid_back(&self) -> u128 {
        let hot = self.hot_wallet();
        self.chain
            .transfers_to(PAYER)
            .iter()
            .filter(|(_, contract, from, _)| *contract == USDT && *from == hot)
            .map(|(_, _, _, amount)| amount)
            .sum()
    }

    /// Every account's totals match its entries, debits equal credits, and every custody
    /// account of ours holds on the chain what the ledger says.
    async fn assert_books_balance(&self) {
        let check = self.gateway.ledger_check().await.unwrap();
        assert!(
            check.mismatched_accounts.is_empty() && check.account_debits == check.account_credits,
            "the ledger does not balance: {check:?}"
        );
        let found = self
            .gateway
            .reconcile_chain(&self.eth, &self.chain)
            .await
            .unwrap();
        assert!(
            found.differences.is_empty(),
            "the ledger and the chain disagree: {found:?}"
        );
        assert!(found.checked > 0);
    }
}

/// Runs watcher rounds until one ends caught up; how many it took.
async fn rounds_until_caught_up(watcher: &ChainWatcher) -> usize {
    for round in 1..=50 {
        if watcher.round().await.unwrap() == Round::CaughtUp {
            return round;
        }
    }
    panic!("the watcher did not catch up in 50 rounds");
}

// --- the watcher ------------------------------------------------------------------------------

/// A transfer not yet final whose block is replaced is forgotten, never credited; included
/// again (the same transaction) in the new branch, it is credited once.
async fn a_shallow_reorg_forgets_the_pending_transfer(bench: Bench) {
    let deposit = bench.create_order("shallow", 8).await;
    let watcher = bench.watcher(1000);
    let paid = bench.chain.pay(USDT, deposit, usdt(8));
    rounds_until_caught_up(&watcher).await;
    let seen = bench.transfers("shallow").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].state,
        TransferState::Pending,
        "3 confirmations needed"
    );
    assert_eq!(bench.order("shallow").await.status, OrderStatus::Paying);

    bench.chain.reorg(1);
    bench.chain.mine(4);
    rounds_until_caught_up(&watcher).await;
    let order = bench.order("shallow").await;
    assert_eq!(order.status, OrderStatus::Paying);
    assert_eq!(order.paid_amount, TokenAmount::ZERO);
    assert!(
        bench.transfers("shallow").await.is_empty(),
        "the pending transfer is forgotten"
    );
    assert!(bench.health().reorgs >= 1);
    assert_eq!(bench.health().deep_reorgs, 0);
    bench.assert_books_balance().await;

    // The same transaction in a new branch: credited, once.
    let again = Payment::new(USDT, deposit, usdt(8)).with_hash(&paid);
    bench.chain.reorg_with(2, vec![vec![again], vec![]]);
    bench.chain.mine(3);
    rounds_until_caught_up(&watcher).await;
    bench.chain.mine(2);
    rounds_until_caught_up(&watcher).await;
    let order = bench.order("shallow").await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.paid_amount, TokenAmount::from_base_units(usdt(8)));
    let transfers = bench.transfers("shallow").await;
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(transfers[0].state, TransferState::Credited);
    assert_eq!(transfers[0].tx_hash, paid);
    let canonical = bench.chain.block_at(transfers[0].block_number).unwrap();
    assert_eq!(
        transfers[0].block_hash, canonical.hash,
        "recorded in its new block"
    );
    let abnormal = bench
        .store
        .abnormal_payments_of_order(&order.sysid)
        .await
        .unwrap();
    assert!(
        abnormal.is_empty(),
        "no double credit as an overpayment: {abnormal:?}"
    );
    bench.assert_books_balance().await;
}

/// A credited transfer removed by a reorganisation deeper than the confirmation depth is
/// reversed, its order alerted (and left paid), the deep reorganisation counted.
async fn a_deep_reorg_reverses_the_credited_transfer_and_alerts(bench: Bench) {
    let deposit = bench.create_order("deep", 4).await;
    let watcher = bench.watcher(1000);
    let paid = bench.chain.pay(USDT, deposit, usdt(4));
    rounds_until_caught_up(&watcher).await;
    assert_eq!(bench.order("deep").await.status, OrderStatus::Paid);

    bench.chain.reorg(2);
    bench.chain.mine(1);
    rounds_until_caught_up(&watcher).await;
    let order = bench.order("deep").await;
    assert_eq!(
        order.status,
        OrderStatus::Paid,
        "a paid order is not silently un-paid"
    );
    let alert = order.alert.clone().expect("an alert on the order");
    assert!(
        alert.contains("reorganisation") && alert.contains(&paid),
        "{alert}"
    );
    let transfers = bench.transfers("deep").await;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].state, TransferState::Reversed);
    assert_eq!(bench.health().deep_reorgs, 1);
    assert_eq!(bench.chain.balance_of(deposit, Some(USDT)), 0);
    bench.assert_books_balance().await;
}

/// While the node is down every round fails and changes nothing; back up, the watcher catches
/// up with what happened meanwhile. Then a call fails at each point of a round in turn: every
/// payment is still credited exactly once.
async fn an_outage_changes_nothing_and_the_watcher_catches_up(bench: Bench) {
    let first = bench.create_order("before", 3).await;
    let during = bench.create_order("during", 4).await;
    let watcher = bench.watcher(1000);
    bench.chain.pay(USDT, first, usdt(3));
    bench.chain.mine(1);
    rounds_until_caught_up(&watcher).await;
    assert_eq!(bench.order("before").await.status, OrderStatus::Paid);
    let processed = bench.processed().await;

    bench.chain.set_down(true);
    bench.chain.pay(USDT, during, usdt(4));
    bench.chain.mine(3);
    for _ in 0..3 {
        let failed = watcher.round().await;
        assert!(
            matches!(failed, Err(WatchError::Chain(ChainError::Unavailable(_)))),
            "{failed:?}"
        );
    }
    assert_eq!(bench.processed().await, processed, "the cursor stays");
    assert_eq!(bench.order("during").await.status, OrderStatus::Paying);

    bench.chain.set_down(false);
    rounds_until_caught_up(&watcher).await;
    assert_eq!(bench.processed().await, bench.chain.head_number());
    assert_eq!(bench.order("during").await.status, OrderStatus::Paid);
    assert_eq!(
        bench.order("before").await.paid_amount,
        TokenAmount::from_base_units(usdt(3)),
        "credited once"
    );

    // One failed call at every point of a round (and of the read ahead).
    for skip in 0..12u32 {
        let no = format!("flaky-{skip}");
        let deposit = bench.create_order(&no, 2).await;
        bench.chain.pay(USDT, deposit, usdt(2));
        bench.chain.mine(1);
        bench.chain.fail_calls(skip, 1);
        let _ = watcher.round().await;
        bench.chain.fail_calls(0, 0);
        rounds_until_caught_up(&watcher).await;
        let order = bench.order(&no).await;
        assert_eq!(order.status, OrderStatus::Paid, "{no}");
        assert_eq!(
            order.paid_amount,
            TokenAmount::from_base_units(usdt(2)),
            "{no}"
        );
        assert_eq!(bench.transfers(&no).await.len(), 1, "{no}");
    }
    for no in ["before", "during"] {
        assert_eq!(bench.transfers(no).await.len(), 1, "{no} recorded once");
    }
    bench.assert_books_balance().await;
}

/// Six hundred blocks behind, the watcher scans them in ranges of at most a hundred blocks,
/// crediting every payment in them once, and then follows the head.
async fn a_backlog_is_scanned_in_bounded_ranges(bench: Bench) {
    let watcher = bench.watcher(100);
    let start = bench.chain.head_number() + 1;
    let heights = [
        start + 40,
        start + 170,
        start + 250,
        start + 389,
        start + 390,
        start + 544,
    ];
    let mut orders = Vec::new();
    for (i, height) in heights.iter().enumerate() {
        let no = format!("backlog-{i}");
        let deposit = bench.create_order(&no, 5).await;
        bench.chain.mine_to(height - 1);
        bench.chain.pay(USDT, deposit, usdt(5));
        orders.push(no);
    }
    bench.chain.mine_to(start + 599);
    let rounds = rounds_until_caught_up(&watcher).await;
    // The cursor's creation, six ranges of a hundred blocks, and the credits.
    assert!((7..=9).contains(&rounds), "{rounds} rounds");
    assert_eq!(bench.processed().await, bench.chain.head_number());
    for no in &orders {
        let order = bench.order(no).await;
        assert_eq!(order.status, OrderStatus::Paid, "{no}");
        assert_eq!(
            order.paid_amount,
            TokenAmount::from_base_units(usdt(5)),
            "{no}"
        );
        assert_eq!(bench.transfers(no).await.len(), 1, "{no}");
    }
    // Caught up, it follows the head one round at a time.
    let next = bench.create_order("after-backlog", 1).await;
    bench.chain.pay(USDT, next, usdt(1));
    bench.chain.mine(2);
    assert_eq!(watcher.round().await.unwrap(), Round::CaughtUp);
    assert_eq!(bench.order("after-backlog").await.status, OrderStatus::Paid);
    bench.assert_books_balance().await;
}

// --- the payout engine ------------------------------------------------------------------------

/// A refund of a paid 5 USDT order, with the hot wallet funded; the refund's id.
async fn refund_of_a_paid_order(bench: &Bench) -> String {
    bench.fund_hot_wallet(usdt(20)).await;
    bench.paid_order("o1", 5).await;
    bench.refund("r1", "o1", 5).await
}

/// A transaction the node forgets is sent again, the same bytes, and completes the refund.
async fn a_dropped_payout_is_sent_again_with_the_same_bytes(bench: Bench) {
    let refund = refund_of_a_paid_order(&bench).await;
    let engine = bench.payout_engine(false);
    bench.chain.script_fates(&[TxFate::Drop]);
    assert_eq!(engine.round().await.unwrap().sent, 1);
    assert_eq!(
        bench.payout_of(&refund).await.status,
        PayoutStatus::Broadcast
    );
    assert_eq!(
        bench.refund_of(&refund).await.status,
        RefundStatus::Refunding
    );
    assert!(bench.chain.pool().is_empty(), "the node forgot it");
    bench.chain.mine(1);

    engine.round().await.unwrap();
    let sent = bench.chain.broadcasts();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the same signed bytes");
    assert_eq!(bench.chain.pool(), vec![sent[0].hash.clone()]);
    bench.chain.mine(1);

    assert_eq!(engine.round().await.unwrap().finished, 1);
    let payout = bench.payout_of(&refund).await;
    assert_eq!(payout.status, PayoutStatus::Confirmed);
    let done = bench.refund_of(&refund).await;
    assert_eq!(done.status, RefundStatus::Refunded);
    assert_eq!(done.tx_hash.as_deref(), Some(sent[0].hash.as_str()));
    assert_eq!(bench.store.signed_txs(&payout.id).await.unwrap().len(), 1);
    assert_eq!(bench.paid_back(), usdt(5), "paid once");
    assert_eq!(bench.order("o1").await.status, OrderStatus::Refunded);
    bench.assert_books_balance().await;
}

/// A transaction never mined is replaced after the replacement period at the same nonce with
/// higher fees; only the replacement is mined, and the original can never be.
async fn a_stuck_payout_is_replaced_at_the_same_nonce(bench: Bench) {
    let refund = refund_of_a_paid_order(&bench).await;
    let engine = bench.payout_engine(false);
    bench.chain.script_fates(&[TxFate::Stick]);
    assert_eq!(engine.round().await.unwrap().sent, 1);
    bench.chain.mine(3);
    engine.round().await.unwrap();
    let payout = bench.payout_of(&refund).await;
    assert_eq!(
        bench.store.signed_txs(&payout.id).await.unwrap().len(),
        1,
        "not stuck yet"
    );

    bench.clock.advance_secs(REPLACE_AFTER_SECS + 1);
    engine.round().await.unwrap();
    let payout = bench.payout_of(&refund).await;
    let txs = bench.store.signed_txs(&payout.id).await.unwrap();
    assert_eq!(txs.len(), 2, "replaced");
    let (original, replacement) = (&txs[0], &txs[1]);
    assert_eq!(original.nonce, replacement.nonce, "at the same nonce");
    assert_eq!(payout.nonce, original.nonce);
    assert!(replacement.max_fee_per_gas > original.max_fee_per_gas);
    assert!(replacement.max_priority_fee_per_gas > original.max_priority_fee_per_gas);
    assert_eq!(
        payout.tx_hash.as_deref(),
        Some(replacement.tx_hash.as_str())
    );
    assert_eq!(
        bench.chain.pool(),
        vec![replacement.tx_hash.clone()],
        "it took the original's place"
    );
    bench.chain.mine(1);

    assert_eq!(engine.round().await.unwrap().finished, 1);
    let done = bench.refund_of(&refund).await;
    assert_eq!(done.status, RefundStatus::Refunded);
    assert_eq!(done.tx_hash.as_deref(), Some(replacement.tx_hash.as_str()));
    assert!(
        bench.chain.receipt_of(&original.tx_hash).is_none(),
        "the original is never mined"
    );
    let original_bytes = bench.chain.broadcasts()[0].clone();
    assert_eq!(original_bytes.hash, original.tx_hash);
    let late = bench.chain.broadcast(&original_bytes).await.unwrap();
    assert_eq!(late, Broadcast::NonceTooLow);
    assert_eq!(bench.paid_back(), usdt(5), "paid once");
    bench.assert_books_balance().await;
}

/// After a replacement, the original transaction is the one mined (another node still had it):
/// the payout completes with the original, paid once.
async fn a_replaced_payout_completes_with_the_original_when_it_is_mined(bench: Bench) {
    let refund = refund_of_a_paid_order(&bench).await;
    let engine = bench.payout_engine(false);
    bench.chain.script_fates(&[TxFate::Stick]);
    engine.round().await.unwrap();
    bench.clock.advance_secs(REPLACE_AFTER_SECS + 1);
    engine.round().await.unwrap();
    let payout = bench.payout_of(&refund).await;
    let txs = bench.store.signed_txs(&payout.id).await.unwrap();
    assert_eq!(txs.len(), 2, "replaced");
    // The replacement is lost, and the original comes back from a node that kept it.
    assert!(bench.chain.drop_tx(&txs[1].tx_hash));
    let original = bench.chain.broadcasts()[0].clone();
    assert_eq!(original.hash, txs[0].tx_hash);
    assert_eq!(
        bench.chain.broadcast(&original).await.unwrap(),
        Broadcast::Accepted
    );
    bench.chain.mine(1);

    assert_eq!(engine.round().await.unwrap().finished, 1);
    let payout = bench.payout_of(&refund).await;
    assert_eq!(payout.status, PayoutStatus::Confirmed);
    assert_eq!(payout.tx_hash.as_deref(), Some(txs[0].tx_hash.as_str()));
    let done = bench.refund_of(&refund).await;
    assert_eq!(done.status, RefundStatus::Refunded);
    assert_eq!(done.tx_hash.as_deref(), Some(txs[0].tx_hash.as_str()));
    assert!(bench.chain.receipt_of(&txs[1].tx_hash).is_none());
    assert_eq!(bench.paid_back(), usdt(5), "paid once");
    bench.assert_books_balance().await;
}

/// A reverted transaction fails its payout and refund with the funds released (a new refund
/// of the whole amount is accepted and paid); the gas it burned is booked.
async fn a_reverted_payout_fails_and_releases_the_funds(bench: Bench) {
    let refund = refund_of_a_paid_order(&bench).await;
    let engine = bench.payout_engine(false);
    bench.chain.script_fates(&[TxFate::Revert]);
    engine.round().await.unwrap();
    bench.chain.mine(1);
    assert_eq!(engine.round().await.unwrap().finished, 1);
    let payout = bench.payout_of(&refund).await;
    assert_eq!(payout.status, PayoutStatus::Failed);
    assert!(
        payout.fee.is_some_and(|fee| !fee.is_zero()),
        "the gas is booked"
    );
    assert_eq!(bench.refund_of(&refund).await.status, RefundStatus::Failed);
    assert_eq!(bench.paid_back(), 0);
    let order = bench.order("o1").await;
    assert_eq!(order.refunded_amount, TokenAmount::ZERO);
    bench.assert_books_balance().await;

    let again = bench.refund("r2", "o1", 5).await;
    engine.round().await.unwrap();
    bench.chain.mine(1);
    engine.round().await.unwrap();
    assert_eq!(bench.refund_of(&again).await.status, RefundStatus::Refunded);
    assert_eq!(bench.paid_back(), usdt(5));
    bench.assert_books_balance().await;
}

/// The payout's nonce is taken by a transaction that is not ours while its own was lost: it is
/// noted, checked again after the replacement period, then failed with nothing sent and the
/// funds released.
async fn a_payout_whose_nonce_is_used_elsewhere_fails_after_a_wait(bench: Bench) {
    let refund = refund_of_a_paid_order(&bench).await;
    let engine = bench.payout_engine(false);
    bench.chain.script_fates(&[TxFate::Drop]);
    engine.round().await.unwrap();
    bench.chain.take_nonce_elsewhere(bench.hot_wallet());

    engine.round().await.unwrap();
    let payout = bench.payout_of(&refund).await;
    assert_eq!(payout.status, PayoutStatus::Broadcast, "not failed at once");
    let note = payout.note.clone().unwrap_or_default();
    assert!(
        note.starts_with("nonce used by another transaction"),
        "{note}"
    );
    engine.round().await.unwrap();
    assert_eq!(
        bench.payout_of(&refund).await.status,
        PayoutStatus::Broadcast
    );

    bench.clock.advance_secs(REPLACE_AFTER_SECS + 1);
    engine.round().await.unwrap();
    let payout = bench.payout_of(&refund).await;
    assert_eq!(payout.status, PayoutStatus::Failed);
    assert!(payout.note.unwrap_or_default().contains("nothing was sent"));
    assert_eq!(bench.refund_of(&refund).await.status, RefundStatus::Failed);
    assert_eq!(bench.paid_back(), 0);
    bench.assert_books_balance().await;
    let again = bench.refund("r2", "o1", 5).await;
    assert_eq!(
        bench.refund_of(&again).await.status,
        RefundStatus::PendingRefund,
        "funds released"
    );
}

/// With no tokens in the hot wallet, a refund waits; the engine sweeps the deposit (after a gas
/// top-up from the hot wallet, since a deposit address holds no coin), then pays the refund.
async fn a_refund_waiting_for_funds_is_paid_after_a_sweep(bench: Bench) {
    bench.fund_hot_wallet(0).await;
    bench.paid_order("o1", 5).await;
    let deposit = bench.order("o1").await.deposit_address;
    let refund = bench.refund("r1", "o1", 5).await;
    let engine = bench.payout_engine(true);
    let mut rounds = 0;
    while bench.refund_of(&refund).await.status != RefundStatus::Refunded {
        rounds += 1;
        assert!(rounds <= 20, "the refund was not paid in 20 rounds");
        engine.round().await.unwrap();
        bench.chain.mine(1);
        // Waiting payouts are looked at again after `funds_retry`.
        bench.clock.advance_secs(2);
    }
    let kinds = [PayoutKind::GasTopUp, PayoutKind::Sweep];
    for kind in kinds {
        let open = bench.store.open_payouts(&bench.eth.key, 100).await.unwrap();
        assert!(
            open.iter().all(|p| p.kind != kind),
            "{kind:?} left open: {open:?}"
        );
    }
    assert_eq!(bench.chain.balance_of(deposit, Some(USDT)), 0, "swept");
    assert_eq!(bench.paid_back(), usdt(5));
    bench.assert_books_balance().await;
}

// --- reconciliation ---------------------------------------------------------------------------

/// Each reconciliation is kept per asset (ledger and chain summed over our addresses); the
/// scheduled reconciler runs when the newest kept result is older than its interval, and an
/// unrecorded transfer to the hot wallet shows as a difference of exactly its amount.
async fn reconciliations_are_kept_per_asset_and_scheduled(bench: Bench) {
    bench.fund_hot_wallet(usdt(3)).await;
    bench.paid_order("o1", 5).await;
    let every = Duration::from_secs(3600);
    let reconciler = Reconciler::new(
        bench.gateway.clone(),
        bench.eth.clone(),
        Arc::new(bench.chain.clone()),
        every,
    );
    let first = reconciler.reconcile_if_due().await.unwrap();
    assert!(
        first.is_some_and(|f| f.differences.is_empty()),
        "nothing kept yet: due"
    );
    let usdt_asset = Asset::Token(TokenId::parse("ETH_USDT").unwrap());
    let last_usdt = || async {
        let kept = bench.gateway.last_reconciliations().await.unwrap();
        assert_eq!(kept.len(), 2, "ETH_USDT and ETH_NATIVE: {kept:?}");
        kept.into_iter().find(|r| r.asset == usdt_asset).unwrap()
    };
    let agreed = last_usdt().await;
    assert_eq!(
        agreed.ledger,
        i128::try_from(usdt(8)).unwrap(),
        "hot wallet 3 + deposit 5"
    );
    assert_eq!(
        (agreed.on_chain, agreed.accounts, agreed.differing),
        (usdt(8), 2, 0)
    );
    assert_eq!(agreed.at, bench.clock.now());

    bench.clock.advance_secs(3599);
    assert!(
        reconciler.reconcile_if_due().await.unwrap().is_none(),
        "not due yet"
    );
    bench.chain.pay(USDT, bench.hot_wallet(), usdt(2));
    bench.clock.advance_secs(1);
    let second = reconciler.reconcile_if_due().await.unwrap().expect("due");
    assert_eq!(second.differences.len(), 1, "{second:?}");
    let differs = last_usdt().await;
    assert_eq!(differs.on_chain, usdt(10));
    assert_eq!(differs.difference(), Some(i128::try_from(usdt(2)).unwrap()));
    assert_eq!((differs.differing, differs.at), (1, bench.clock.now()));
}

macro_rules! on_both_engines {
    ($confirmations:expr => $($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::{Bench, Engine};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let bench = Bench::start(Engine::Sqlite, $confirmations).await.unwrap();
                    super::$scenario(bench).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(bench) = Bench::start(Engine::Postgres, $confirmations).await {
                        super::$scenario(bench).await;
                    }
                }
            }
        )*
    };
}

on_both_engines!(3 =>
    a_shallow_reorg_forgets_the_pending_transfer,
    a_backlog_is_scanned_in_bounded_ranges,
);
on_both_engines!(2 => an_outage_changes_nothing_and_the_watcher_catches_up);
on_both_engines!(1 =>
    a_deep_reorg_reverses_the_credited_transfer_and_alerts,
    a_dropped_payout_is_sent_again_with_the_same_bytes,
    a_stuck_payout_is_replaced_at_the_same_nonce,
    a_replaced_payout_completes_with_the_original_when_it_is_mined,
    a_reverted_payout_fails_and_releases_the_funds,
    a_payout_whose_nonce_is_used_elsewhere_fails_after_a_wait,
    a_refund_waiting_for_funds_is_paid_after_a_sweep,
    reconciliations_are_kept_per_asset_and_scheduled,
);
