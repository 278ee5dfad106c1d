//! Fixtures of the store suites (`crates/store/tests/store`): domain values numbered so that a
//! scenario reads as a table (app 1, order 3, refund 2), the change sets that write them, and
//! the store calls every scenario makes. Written against the domain's store ports, not an
//! adapter, so this crate needs no store of its own and any store runs them.
//!
//! Times are offsets in seconds from [`T0`]; amounts are base units; ids carry their number
//! zero-padded behind a two-letter prefix (`RF0…07` is refund 7), read back by [`number`].

use std::fmt::Debug;
use std::sync::Arc;

use tokio::sync::Barrier;
use wcheckout_domain::address::{Address, EvmAddress};
use wcheckout_domain::app::{App, Branding, UnderpaymentTolerance};
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::events::OutboxEvent;
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::ledger::{Asset, Posting};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::operator::{
    AuditEntry, ConsoleAction, ConsoleSession, Operator, OperatorStatus, Role,
};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payment::{
    AbnormalKind, AbnormalPayment, AbnormalStatus, Transfer, TransferState,
};
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus, SignedTx, Signer};
use wcheckout_domain::ports::{
    AbnormalChange, AppStore, ChangeSet, ChangeStore, CommitError, CursorMove, NonceTaken,
    OrderInsert, OrderStore, OrderWrite, Page, PageRequest, PayoutChange, RefundChange,
    SettlementChange, TransferChange,
};
use wcheckout_domain::refund::{Refund, RefundSource, RefundStatus};
use wcheckout_domain::settlement::{Destination, Settlement, SettlementStatus};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// 2025-09-26T14:49:09.294114Z: a base time with microseconds, so truncation would show.
pub const T0: i64 = 1_758_898_149_294_114;

/// The first page of the largest size.
pub const ALL: PageRequest = PageRequest { page: 1, size: 100 };

/// [`T0`] plus `offset_secs`.
pub fn at(offset_secs: i64) -> Timestamp {
    Timestamp::from_micros(T0).plus_seconds(offset_secs)
}

/// One microsecond later: the nearest time an inclusive bound must leave out.
pub fn just_after(time: Timestamp) -> Timestamp {
    Timestamp::from_micros(time.micros() + 1)
}

/// One microsecond earlier.
pub fn just_before(time: Timestamp) -> Timestamp {
    Timestamp::from_micros(time.micros() - 1)
}

/// A decimal as written (`"1.50"` keeps its scale).
pub fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

/// An amount in base units.
pub fn units(value: u128) -> TokenAmount {
    TokenAmount::from_base_units(value)
}

/// An integrator's number.
pub fn no(text: &str) -> IntegratorNo {
    IntegratorNo::parse(text).unwrap()
}

/// A token id such as `ETH_USDT`.
pub fn token(id: &str) -> TokenId {
    TokenId::parse(id).unwrap()
}

/// A chain key such as `ETH`.
pub fn chain(key: &str) -> ChainKey {
    ChainKey::parse(key).unwrap()
}

/// Transaction hash `n`.
pub fn tx_hash(n: u64) -> String {
    format!("0x{n:064x}")
}

/// The number in a system id (`RF0…0042` is 42).
pub fn number(sysid: &str) -> u32 {
    sysid[2..].parse().unwrap()
}

/// Address `index` of a family told apart by its first byte.
fn address(first_byte: u8, index: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = first_byte;
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    Address::Evm(EvmAddress::from_bytes(bytes))
}

/// A deposit address of ours: the one of order `index`.
pub fn deposit(index: u64) -> Address {
    address(0xab, index)
}

/// Someone else's address: a payer, a merchant's wallet.
pub fn outsider(n: u64) -> Address {
    address(0xcd, n)
}

/// A hot wallet of ours.
pub fn hot(n: u64) -> Address {
    address(0xee, n)
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// The id of app `n`.
pub fn app_id(n: u32) -> AppId {
    AppId::new(format!("app_{n:016}"))
}

/// App `n`, created `n` seconds after [`T0`], with no optional settings.
pub fn app(n: u32) -> App {
    App {
        id: app_id(n),
        name: format!("App {n}"),
        api_key: format!("key_{n:08}"),
        api_secret_hash: format!("{n:064x}"),
        sign_key_sealed: format!("sealed:{n}"),
        webhook_url: None,
        ip_allow: Vec::new(),
        tolerance: UnderpaymentTolerance::default(),
        branding: Branding::default(),
        secrets_version: 1,
        enabled: true,
        created_at: at(i64::from(n)),
        updated_at: at(i64::from(n)),
    }
}

/// An ETH_USDT order of `app` paying to deposit address `index`, created `index` seconds after
/// [`T0`]: paying, with no optional field set.
pub fn order(app: &AppId, order_no: &str, index: u64) -> Order {
    let created_at = at(i64::try_from(index).unwrap());
    Order {
        sysid: format!("OR{index:019}"),
        app_id: app.clone(),
        order_no: no(order_no),
        merchant_id: "default".to_owned(),
        customer_id: "customer".to_owned(),
        token: token("ETH_USDT"),
        fiat: "USD".to_owned(),
        order_amount: dec("12.50"),
        exchange_rate: dec("1.000000"),
        paying_amount: units(12_500_000),
        min_accepted_amount: units(12_400_000),
        paid_amount: TokenAmount::ZERO,
        refunded_amount: TokenAmount::ZERO,
        deposit_address: deposit(index),
        address_index: index,
        status: OrderStatus::Paying,
        tx_hash: None,
        expires_at: created_at.plus_seconds(1800),
        pc_callback_url: None,
        app_callback_url: None,
        page_token: format!("page_{index:08}"),
        request_fingerprint: format!("fp_{order_no}"),
        alert: None,
        created_at,
        updated_at: created_at,
        version: 1,
    }
}

/// `order` paid by `tx_hash`, `offset_secs` after its last change: its next version, as a use
/// case would produce it.
pub fn paid(order: &Order, tx_hash: &str, offset_secs: i64) -> Order {
    Order {
        status: OrderStatus::Paid,
        paid_amount: order.paying_amount,
        tx_hash: Some(tx_hash.to_owned()),
        updated_at: order.updated_at.plus_seconds(offset_secs),
        version: order.version + 1,
        ..order.clone()
    }
}

/// The write of `after` over `before` as read.
pub fn write(before: &Order, after: Order) -> OrderWrite {
    OrderWrite {
        expected_version: before.version,
        order: after,
    }
}

/// Abnormal payment `n` (`AP…n`) of `order`, pending, created `created_secs` after [`T0`].
pub fn abnormal(n: u32, order: &Order, kind: AbnormalKind, created_secs: i64) -> AbnormalPayment {
    AbnormalPayment {
        abnormal_payment_no: format!("AP{n:018}"),
        app_id: order.app_id.clone(),
        order_sysid: order.sysid.clone(),
        order_no: order.order_no.clone(),
        token: order.token.clone(),
        kind,
        amount: units(2_500_000),
        pending_amount: units(2_500_000),
        tx_hash: None,
        payer: None,
        status: AbnormalStatus::Pending,
        created_at: at(created_secs),
        updated_at: at(created_secs),
        version: 1,
    }
}

/// Refund `n` (`RF…n`, number `R{n}`) of `order`, pending, created `created_secs` after [`T0`].
pub fn refund(n: u32, order: &Order, created_secs: i64) -> Refund {
    Refund {
        sysid: format!("RF{n:019}"),
        app_id: order.app_id.clone(),
        refund_order_no: no(&format!("R{n}")),
        order_sysid: order.sysid.clone(),
        order_no: order.order_no.clone(),
        merchant_id: order.merchant_id.clone(),
        source: RefundSource::Order,
        token: order.token.clone(),
        amount: units(1_000_000 + u128::from(n)),
        address: outsider(u64::from(n)),
        remark: None,
        status: RefundStatus::PendingRefund,
        tx_hash: None,
        failure_reason: None,
        request_fingerprint: format!("fp_refund_{n}"),
        created_at: at(created_secs),
        updated_at: at(created_secs),
        version: 1,
    }
}

/// Settlement `n` (`ST…n`, number `S{n}`) of `app` on chain, pending, created `created_secs`
/// after [`T0`].
pub fn settlement(n: u32, app: &AppId, created_secs: i64) -> Settlement {
    Settlement {
        sysid: format!("ST{n:019}"),
        app_id: app.clone(),
        settlement_order_no: no(&format!("S{n}")),
        merchant_id: "default".to_owned(),
        token: token("ETH_USDT"),
        amount: units(5_000_000 + u128::from(n)),
        destination: Destination::OnChain(outsider(100 + u64::from(n))),
        order_nos: Vec::new(),
        status: SettlementStatus::PendingSettlement,
        approved: false,
        tx_hash: None,
        bank_reference: None,
        failure_reason: None,
        request_fingerprint: format!("fp_settlement_{n}"),
        created_at: at(created_secs),
        updated_at: at(created_secs),
        version: 1,
    }
}

/// A settlement's destination in a bank, its account details as given.
pub fn bank(fiat: &str, account: &str) -> Destination {
    Destination::Bank {
        fiat: fiat.to_owned(),
        account: account.to_owned(),
    }
}

/// Payout `n` (`PO…n`) on `chain_key`, queued, paying `{kind}:{n}` from the hot wallet.
pub fn payout(n: u32, chain_key: &str, kind: PayoutKind, created_secs: i64) -> Payout {
    Payout {
        id: format!("PO{n:019}"),
        chain: chain(chain_key),
        kind,
        reference: format!("{}:{n:04}", kind.as_str().to_lowercase()),
        signer: Signer::HotWallet,
        from: hot(1),
        to: outsider(200 + u64::from(n)),
        asset: Asset::Token(token(&format!("{chain_key}_USDT"))),
        amount: units(3_000_000 + u128::from(n)),
        status: PayoutStatus::Queued,
        nonce: None,
        tx_hash: None,
        fee: None,
        note: None,
        not_before: at(created_secs),
        created_at: at(created_secs),
        updated_at: at(created_secs),
        version: 1,
    }
}

/// Transaction `n` of `payout` at `nonce`, signed `signed_secs` after [`T0`].
pub fn signed_tx(payout: &Payout, n: u64, nonce: u64, signed_secs: i64) -> SignedTx {
    SignedTx {
        payout_id: payout.id.clone(),
        tx_hash: tx_hash(n),
        raw: format!("0x02f8{}", "ab".repeat(120)),
        nonce: Some(nonce),
        max_fee_per_gas: 30_000_000_000 + u128::from(n),
        max_priority_fee_per_gas: 1_000_000_000 + u128::from(n),
        signed_at: at(signed_secs),
        expires_at: None,
    }
}

/// `nonce` taken by `address` on `chain_key`.
pub fn nonce(chain_key: &str, address: Address, nonce: u64) -> NonceTaken {
    NonceTaken {
        chain: chain(chain_key),
        address,
        nonce,
    }
}

/// Operator `n` (`op01`), created `n` seconds after [`T0`], active, with a made-up hash.
pub fn operator(n: u32, role: Role, app: Option<u32>) -> Operator {
    Operator {
        name: format!("op{n:02}"),
        role,
        app: app.map(app_id),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt{n}$hash{n}"),
        status: OperatorStatus::Active,
        created_at: at(i64::from(n)),
        updated_at: at(i64::from(n)),
        totp: None,
        last_sign_in_at: None,
    }
}

/// Session `n` of operator `operator`, opened `n` seconds after [`T0`], ending `ttl_secs` later.
pub fn console_session(n: u32, operator: &str, ttl_secs: i64) -> ConsoleSession {
    ConsoleSession {
        token_hash: format!("{n:064x}"),
        operator: operator.to_owned(),
        created_at: at(i64::from(n)),
        expires_at: at(i64::from(n) + ttl_secs),
    }
}

/// Audit entry `n`: operator `n` did `action` to target `Tn` at `n` seconds after [`T0`].
pub fn audit_entry(n: u32, action: ConsoleAction) -> AuditEntry {
    AuditEntry {
        operator: format!("op{n:02}"),
        action,
        target: format!("T{n}"),
        at: at(i64::from(n)),
        client: format!("192.0.2.{n}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Chain records
// ---------------------------------------------------------------------------------------------

/// A block hash, distinct per height and fork.
pub fn block_hash(number: u64, fork: u8) -> String {
    format!("0x{fork:02x}{number:062x}")
}

/// Block `number` of `fork`.
pub fn mark(number: u64, fork: u8) -> BlockMark {
    BlockMark {
        number,
        hash: block_hash(number, fork),
    }
}

/// Blocks `numbers` of fork 0.
pub fn marks(numbers: &[u64]) -> Vec<BlockMark> {
    numbers.iter().map(|&n| mark(n, 0)).collect()
}

/// When block `number` was made: one every 12 seconds from [`T0`].
pub fn block_time(number: u64) -> Timestamp {
    at(i64::try_from(number).unwrap() * 12)
}

/// `order` in token `id`, on that token's chain.
pub fn on_token(order: Order, id: &str) -> Order {
    Order {
        token: token(id),
        ..order
    }
}

/// A transfer of transaction `tx` from [`outsider`] `tx` to `order`'s deposit address, on the
/// order's chain, in block `block` of fork 0.
pub fn transfer(
    order: &Order,
    tx: u64,
    log_index: u64,
    block: u64,
    state: TransferState,
) -> Transfer {
    Transfer {
        chain: order.token.chain_key(),
        tx_hash: tx_hash(tx),
        log_index,
        block_number: block,
        block_hash: block_hash(block, 0),
        block_time: block_time(block),
        token: order.token.clone(),
        from: outsider(tx),
        to: order.deposit_address,
        amount: units(1_000_000 + u128::from(tx)),
        order_sysid: order.sysid.clone(),
        state,
        observed_at: block_time(block).plus_seconds(3),
    }
}

/// `transfer` as it should be stored in `state`.
pub fn in_state(transfer: &Transfer, state: TransferState) -> Transfer {
    Transfer {
        state,
        ..transfer.clone()
    }
}

/// Equal field by field, and decimals equal as written (`1.50` is not `1.5` here).
pub fn assert_same_order(actual: &Order, expected: &Order) {
    assert_eq!(actual, expected);
    assert_eq!(
        actual.order_amount.to_string(),
        expected.order_amount.to_string(),
        "order_amount as written"
    );
    assert_eq!(
        actual.exchange_rate.to_string(),
        expected.exchange_rate.to_string(),
        "exchange_rate as written"
    );
}

// ---------------------------------------------------------------------------------------------
// Change sets
// ---------------------------------------------------------------------------------------------

/// A part of a change set: each kind knows its place in [`ChangeSet`], so a set of one kind is
/// written as a list of parts.
pub trait Change {
    /// Adds this part to `set`.
    fn put(self, set: &mut ChangeSet);
}

macro_rules! changes_in {
    ($($part:ty => $field:ident),* $(,)?) => {
        $(
            impl Change for $part {
                fn put(self, set: &mut ChangeSet) {
                    set.$field.push(self);
                }
            }
        )*
    };
}

changes_in!(
    OrderWrite => orders,
    TransferChange => transfers,
    AbnormalChange => abnormal,
    RefundChange => refunds,
    SettlementChange => settlements,
    PayoutChange => payouts,
    SignedTx => signed_txs,
    NonceTaken => nonces,
    Posting => postings,
    OutboxEvent => events,
);

impl Change for CursorMove {
    fn put(self, set: &mut ChangeSet) {
        set.cursor = Some(self);
    }
}

/// A change set of `parts` alone.
pub fn change_set<C: Change>(parts: impl IntoIterator<Item = C>) -> ChangeSet {
    let mut set = ChangeSet::default();
    for part in parts {
        part.put(&mut set);
    }
    set
}

/// Commits a change set of `parts` alone.
pub async fn commit<S, C>(store: &S, parts: impl IntoIterator<Item = C>) -> Result<(), CommitError>
where
    S: ChangeStore + ?Sized,
    C: Change,
{
    store.commit(change_set(parts)).await
}

/// A move of `chain_key`'s cursor from `expected` to `to`, remembering and forgetting no other
/// checkpoint.
pub fn cursor_move(chain_key: &str, expected: Option<&BlockMark>, to: &BlockMark) -> CursorMove {
    CursorMove {
        chain: chain(chain_key),
        expected: expected.cloned(),
        to: to.clone(),
        checkpoints: Vec::new(),
        forget_above: None,
    }
}

/// `transfer` recorded, without postings.
pub fn recorded(transfer: &Transfer) -> TransferChange {
    TransferChange::Record {
        transfer: transfer.clone(),
        if_new: Vec::new(),
        if_revived: Vec::new(),
    }
}

/// `transfers` recorded, without postings.
pub fn records(transfers: &[&Transfer]) -> Vec<TransferChange> {
    transfers.iter().map(|t| recorded(t)).collect()
}

/// `transfer` moved from state `from` to `to`.
pub fn transition(transfer: &Transfer, from: TransferState, to: TransferState) -> TransferChange {
    TransferChange::SetState {
        key: transfer.key(),
        from,
        to,
    }
}

/// A record created and then updated by compare-and-set on its version, through change sets.
pub trait Versioned: Clone {
    /// Its kind of change.
    type Change: Change;
    /// Its creation.
    fn created(self) -> Self::Change;
    /// Its update from `expected_version` (it carries `expected_version + 1`).
    fn updated(self, expected_version: i64) -> Self::Change;
    /// The same record at another version.
    fn at_version(self, version: i64) -> Self;
}

macro_rules! versioned {
    ($($record:ty => $change:ident { $field:ident }),* $(,)?) => {
        $(
            impl Versioned for $record {
                type Change = $change;

                fn created(self) -> $change {
                    $change::Create(self)
                }

                fn updated(self, expected_version: i64) -> $change {
                    $change::Update {
                        expected_version,
                        $field: self,
                    }
                }

                fn at_version(self, version: i64) -> Self {
                    Self { version, ..self }
                }
            }
        )*
    };
}

versioned!(
    AbnormalPayment => AbnormalChange { payment },
    Refund => RefundChange { refund },
    Settlement => SettlementChange { settlement },
    Payout => PayoutChange { payout },
);

/// Creates `records` in one change set, which must succeed.
pub async fn create<S, T>(store: &S, records: &[&T])
where
    S: ChangeStore + ?Sized,
    T: Versioned,
{
    let parts = records.iter().map(|record| (*record).clone().created());
    commit(store, parts).await.unwrap();
}

/// Updates `record` from `expected_version`, alone in its change set.
pub async fn update<S, T>(store: &S, expected_version: i64, record: &T) -> Result<(), CommitError>
where
    S: ChangeStore + ?Sized,
    T: Versioned,
{
    commit(store, [record.clone().updated(expected_version)]).await
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

/// The numbers of a page's records (see [`number`]), and the total of all pages.
pub fn numbered<T>(page: Page<T>, id: impl Fn(&T) -> &str) -> (Vec<u32>, u64) {
    let numbers = page
        .records
        .iter()
        .map(|record| number(id(record)))
        .collect();
    (numbers, page.total)
}

/// Checks a list filter over records 1 to 5 of one app, created 10, 20, 30, 40 and 40 seconds
/// after [`T0`]: `list` must find, on the first page of [`ALL`], the records of each filter of
/// `cases` and of each created-at range (both bounds inclusive, a microsecond past a bound leaves
/// its record out) made into a filter by `created`, newest first and the same instant by number,
/// highest first; and unfiltered, in pages of two, with the total of all pages.
pub async fn assert_list<F, Fut>(
    list: impl Fn(F, PageRequest) -> Fut,
    cases: Vec<(F, Vec<u32>)>,
    created: impl Fn(Option<Timestamp>, Option<Timestamp>) -> F,
) where
    F: Clone + Debug + Default,
    Fut: Future<Output = (Vec<u32>, u64)>,
{
    let ranges = [
        (Some(at(30)), None, vec![5, 4, 3]),
        (Some(just_after(at(30))), None, vec![5, 4]),
        (None, Some(at(20)), vec![2, 1]),
        (None, Some(just_before(at(20))), vec![1]),
        (Some(at(20)), Some(at(30)), vec![3, 2]),
        (Some(just_after(at(40))), None, vec![]),
    ];
    let ranges = ranges.map(|(from, to, expected)| (created(from, to), expected));
    for (filter, expected) in cases.into_iter().chain(ranges) {
        let total = u64::try_from(expected.len()).unwrap();
        let found = list(filter.clone(), ALL).await;
        assert_eq!(found, (expected, total), "{filter:?}");
    }
    let pages = [vec![5, 4], vec![3, 2], vec![1], vec![]];
    for (page, expected) in (1..).zip(pages) {
        let page = PageRequest { page, size: 2 };
        assert_eq!(list(F::default(), page).await, (expected, 5), "{page:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Store calls
// ---------------------------------------------------------------------------------------------

/// Inserts apps `ns` and returns their ids in that order.
pub async fn insert_apps<S: AppStore + ?Sized>(store: &S, ns: &[u32]) -> Vec<AppId> {
    let mut ids = Vec::new();
    for &n in ns {
        store.insert_app(&app(n)).await.unwrap();
        ids.push(app_id(n));
    }
    ids
}

/// Inserts a new order, which must come back as stored.
pub async fn insert_new<S: OrderStore + ?Sized>(store: &S, order: &Order) {
    match store.insert_order(order, None).await.unwrap() {
        OrderInsert::New(stored) => assert_same_order(&stored, order),
        other => panic!("{} not inserted: {other:?}", order.sysid),
    }
}

/// Inserts new orders, one by one.
pub async fn insert_orders<S: OrderStore + ?Sized>(store: &S, orders: &[&Order]) {
    for order in orders {
        insert_new(store, order).await;
    }
}

/// Commits `sets` concurrently, all released at once, and returns each result in order.
pub async fn race<S>(store: &S, sets: Vec<ChangeSet>) -> Vec<Result<(), CommitError>>
where
    S: ChangeStore + Clone + 'static,
{
    let start = Arc::new(Barrier::new(sets.len()));
    let tasks = sets
        .into_iter()
        .map(|changes| {
            let store = store.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.commit(changes).await
            })
        })
        .collect::<Vec<_>>();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// The position of the one result of a race that succeeded; every other one is a conflict.
pub fn sole_winner(results: &[Result<(), CommitError>]) -> usize {
    let winners = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(winners, 1, "exactly one commit succeeds: {results:?}");
    for result in results.iter().filter(|result| result.is_err()) {
        assert_eq!(result, &Err(CommitError::Conflict));
    }
    results.iter().position(Result::is_ok).unwrap()
}

/// Races the creation of `contenders` (which clash): exactly one is written, the others
/// conflict. Returns the one written.
pub async fn race_to_create<'a, S, T>(store: &S, contenders: &'a [T]) -> &'a T
where
    S: ChangeStore + Clone + 'static,
    T: Versioned,
{
    let sets = contenders
        .iter()
        .map(|record| change_set([record.clone().created()]))
        .collect();
    &contenders[sole_winner(&race(store, sets).await)]
}
