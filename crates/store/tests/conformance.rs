//! One conformance suite for the store ports, run against both engines with identical
//! assertions: every scenario below is an `async fn(SqlStore)`, and `conformance!` expands it
//! into a module with a `sqlite` and a `postgres` test.
//!
//! The PostgreSQL half is skipped when no server is reachable, unless `WCHECKOUT_REQUIRE_PG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};

use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::app::{App, Branding, IpNetwork, UnderpaymentTolerance};
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::ports::{
    AppStore, ChangeSet, ChangeStore, CommitError, Grant, GrantKind, Health, Inserted, OrderFilter,
    OrderStore, OrderWrite, PageRequest, SessionStore,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::TokenId;
use wcheckout_store::{SqlStore, StoreOptions};

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url, &StoreOptions::default())
        .await
        .expect("open store")
}

/// Expands each scenario into `mod scenario { fn sqlite(); fn postgres(); }`.
macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = wcheckout_testkit::fresh_sqlite();
                    let store = super::open(&db.url).await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                    drop(db);
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let name = concat!("conformance::", stringify!($scenario), "::postgres");
                    let Some(db) = wcheckout_testkit::fresh_postgres(name).await else {
                        return;
                    };
                    let store = super::open(&db.url).await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                    drop(db);
                }
            }
        )*
    };
}

conformance!(
    health_ping,
    apps_round_trip_and_listing,
    apps_update,
    apps_duplicate_api_key,
    grants_insert_get_take,
    grants_take_concurrently,
    grants_and_signatures_purge_expired,
    signatures_first_use,
    signatures_first_use_concurrently,
    address_indexes_consecutive,
    address_indexes_concurrent,
    orders_insert_and_existing,
    orders_insert_concurrently,
    orders_round_trip_every_field,
    orders_list_filters_and_pages,
    orders_due_for_expiry_and_counts,
    commit_updates_order,
    commit_stale_version_conflicts,
    commit_is_atomic,
    commit_concurrent_same_version,
    commit_with_events,
);

// ---------------------------------------------------------------------------------------------
// Domain value helpers
// ---------------------------------------------------------------------------------------------

/// 2025-09-26T14:49:09.294114Z: a base time with microseconds, so truncation would show.
const T0: i64 = 1_758_898_149_294_114;

fn at(offset_secs: i64) -> Timestamp {
    Timestamp::from_micros(T0).plus_seconds(offset_secs)
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

fn units(value: u128) -> TokenAmount {
    TokenAmount::from_base_units(value)
}

fn no(text: &str) -> IntegratorNo {
    IntegratorNo::parse(text).unwrap()
}

fn net(text: &str) -> IpNetwork {
    IpNetwork::parse(text).unwrap()
}

fn app_id(n: u32) -> AppId {
    AppId::new(format!("app_{n:016}"))
}

fn app(n: u32) -> App {
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

fn address(index: u64) -> EvmAddress {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xab;
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    EvmAddress::from_bytes(bytes)
}

fn order(app: &AppId, order_no: &str, index: u64) -> Order {
    let offset = i64::try_from(index).unwrap();
    let created_at = at(offset);
    Order {
        sysid: format!("OR{index:019}"),
        app_id: app.clone(),
        order_no: no(order_no),
        merchant_id: "default".to_owned(),
        customer_id: "customer".to_owned(),
        token: TokenId::parse("ETH_USDT").unwrap(),
        fiat: "USD".to_owned(),
        order_amount: dec("12.50"),
        exchange_rate: dec("1.000000"),
        paying_amount: units(12_500_000),
        min_accepted_amount: units(12_400_000),
        paid_amount: TokenAmount::ZERO,
        refunded_amount: TokenAmount::ZERO,
        deposit_address: address(index),
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

fn grant(hash: &str, app: &AppId, kind: GrantKind, expires_at: Timestamp) -> Grant {
    Grant {
        token_hash: hash.to_owned(),
        app_id: app.clone(),
        kind,
        secrets_version: 3,
        expires_at,
    }
}

fn event(id: &str, order: &Order) -> OutboxEvent {
    OutboxEvent {
        event_id: id.to_owned(),
        app_id: order.app_id.clone(),
        event_type: EventType::CheckoutOrderChanged,
        object_key: format!("order:{}", order.sysid),
        body: format!(r#"{{"eventId":"{id}","sysid":"{}"}}"#, order.sysid),
        created_at: order.updated_at,
    }
}

/// `order` paid: the next version, as a use case would produce it.
fn paid(order: &Order, tx_hash: &str, offset_secs: i64) -> Order {
    Order {
        status: OrderStatus::Paid,
        paid_amount: order.paying_amount,
        tx_hash: Some(tx_hash.to_owned()),
        updated_at: order.updated_at.plus_seconds(offset_secs),
        version: order.version + 1,
        ..order.clone()
    }
}

fn write(before: &Order, after: Order) -> OrderWrite {
    OrderWrite {
        expected_version: before.version,
        order: after,
    }
}

/// The first page of the largest size.
const ALL: PageRequest = PageRequest { page: 1, size: 100 };

// ---------------------------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------------------------

/// Equal field by field, and decimals equal as written (`1.50` is not `1.5` here).
fn assert_same_order(actual: &Order, expected: &Order) {
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

fn assert_same_app(actual: &App, expected: &App) {
    assert_eq!(actual, expected);
    assert_eq!(
        actual.tolerance.percent.to_string(),
        expected.tolerance.percent.to_string()
    );
    assert_eq!(
        actual.tolerance.amount.to_string(),
        expected.tolerance.amount.to_string()
    );
}

async fn insert_apps(store: &SqlStore, ns: &[u32]) -> Vec<AppId> {
    let mut ids = Vec::new();
    for &n in ns {
        store.insert_app(&app(n)).await.unwrap();
        ids.push(app_id(n));
    }
    ids
}

async fn insert_new(store: &SqlStore, order: &Order) {
    match store.insert_order(order).await.unwrap() {
        Inserted::New(stored) => assert_same_order(&stored, order),
        Inserted::Existing(existing) => panic!("{} already existed: {existing:?}", order.sysid),
    }
}

async fn stored(store: &SqlStore, order: &Order) -> Order {
    store
        .order_by_no(&order.app_id, &order.order_no)
        .await
        .unwrap()
        .expect("order is stored")
}

fn order_nos(orders: &[Order]) -> Vec<String> {
    orders
        .iter()
        .map(|o| o.order_no.as_str().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

async fn health_ping(store: SqlStore) {
    store.ping().await.unwrap();
    store.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Apps
// ---------------------------------------------------------------------------------------------

async fn apps_round_trip_and_listing(store: SqlStore) {
    assert!(store.apps().await.unwrap().is_empty());
    assert_eq!(store.app(&app_id(1)).await.unwrap(), None);
    assert_eq!(store.app_by_api_key("key_00000001").await.unwrap(), None);

    // Inserted out of creation order; listed oldest first.
    let third = app(3);
    let mut first = app(1);
    first.webhook_url = Some("https://merchant.example/hook".to_owned());
    first.ip_allow = vec![net("10.0.0.0/8"), net("2001:db8::/32")];
    first.tolerance = UnderpaymentTolerance {
        percent: dec("0.50"),
        amount: dec("0.010000"),
    };
    first.branding = Branding {
        display_name: Some("Shop «one»".to_owned()),
        logo_url: Some("data:image/png;base64,AAAA".to_owned()),
        theme_color: Some("#12ab34".to_owned()),
    };
    let second = app(2);
    for app in [&third, &first, &second] {
        store.insert_app(app).await.unwrap();
    }

    let got = store.app(&first.id).await.unwrap().expect("app by id");
    assert_same_app(&got, &first);
    let got = store.app(&second.id).await.unwrap().expect("app by id");
    assert_same_app(&got, &second);
    let got = store.app_by_api_key(&first.api_key).await.unwrap();
    assert_same_app(&got.expect("app by api key"), &first);
    let got = store.app_by_api_key(&third.api_key).await.unwrap();
    assert_same_app(&got.expect("app by api key"), &third);
    assert_eq!(store.app(&app_id(9)).await.unwrap(), None);
    assert_eq!(store.app_by_api_key("key_missing").await.unwrap(), None);

    let listed = store.apps().await.unwrap();
    assert_eq!(listed, vec![first.clone(), second.clone(), third.clone()]);
    assert_same_app(&listed[0], &first);
}

async fn apps_update(store: SqlStore) {
    let original = app(1);
    let bystander = app(2);
    store.insert_app(&original).await.unwrap();
    store.insert_app(&bystander).await.unwrap();

    let updated = App {
        id: original.id.clone(),
        name: "Renamed".to_owned(),
        api_key: "key_rotated".to_owned(),
        api_secret_hash: "f".repeat(64),
        sign_key_sealed: "sealed:rotated".to_owned(),
        webhook_url: Some("https://merchant.example/v2/hook".to_owned()),
        ip_allow: vec![
            net("203.0.113.7"),
            net("10.1.0.0/16"),
            net("2001:db8:abcd::/48"),
            net("::1"),
        ],
        tolerance: UnderpaymentTolerance {
            percent: dec("1.250"),
            amount: dec("0.000001"),
        },
        branding: Branding {
            display_name: Some("Renamed Shop".to_owned()),
            logo_url: Some("https://cdn.example/logo.svg".to_owned()),
            theme_color: Some("#000000".to_owned()),
        },
        secrets_version: 7,
        enabled: false,
        created_at: original.created_at,
        updated_at: original.updated_at.plus_seconds(3600),
    };
    store.update_app(&updated).await.unwrap();

    let got = store.app(&original.id).await.unwrap().expect("updated app");
    assert_same_app(&got, &updated);
    assert_eq!(got.ip_allow[0].to_string(), "203.0.113.7/32");
    assert_eq!(got.ip_allow[2].to_string(), "2001:db8:abcd::/48");
    assert!(got.ip_allowed("10.1.2.3".parse().unwrap()));
    assert!(got.ip_allowed("2001:db8:abcd:1::5".parse().unwrap()));
    assert!(!got.ip_allowed("10.2.0.1".parse().unwrap()));
    assert!(!got.enabled);
    assert_eq!(got.secrets_version, 7);

    // Lookups follow the new key; the old one is gone.
    let by_key = store.app_by_api_key("key_rotated").await.unwrap();
    assert_same_app(&by_key.expect("app by new key"), &updated);
    assert_eq!(store.app_by_api_key(&original.api_key).await.unwrap(), None);

    // Back to empty lists and no optional fields.
    let cleared = App {
        webhook_url: None,
        ip_allow: Vec::new(),
        branding: Branding::default(),
        tolerance: UnderpaymentTolerance::default(),
        enabled: true,
        ..updated.clone()
    };
    store.update_app(&cleared).await.unwrap();
    let got = store.app(&original.id).await.unwrap().expect("cleared app");
    assert_same_app(&got, &cleared);

    // Other apps are untouched.
    let other = store.app(&bystander.id).await.unwrap().expect("bystander");
    assert_same_app(&other, &bystander);

    // Updating an app that does not exist is an error and creates nothing.
    let missing = app(9);
    assert!(store.update_app(&missing).await.is_err());
    assert_eq!(store.app(&missing.id).await.unwrap(), None);
    assert_eq!(store.apps().await.unwrap().len(), 2);
}

async fn apps_duplicate_api_key(store: SqlStore) {
    let first = app(1);
    store.insert_app(&first).await.unwrap();
    let clash = App {
        api_key: first.api_key.clone(),
        ..app(2)
    };
    assert!(store.insert_app(&clash).await.is_err());
    assert_eq!(store.app(&clash.id).await.unwrap(), None);
    // The same id twice fails too.
    let same_id = App {
        api_key: "key_other".to_owned(),
        ..first.clone()
    };
    assert!(store.insert_app(&same_id).await.is_err());

    let listed = store.apps().await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
    let by_key = store.app_by_api_key(&first.api_key).await.unwrap();
    assert_eq!(by_key, Some(first));
}

// ---------------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------------

async fn grants_insert_get_take(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let access = grant("a".repeat(64).as_str(), &ids[0], GrantKind::Access, at(900));
    let refresh = Grant {
        secrets_version: 4,
        ..grant("b".repeat(64).as_str(), &ids[1], GrantKind::Refresh, at(-5))
    };
    store.insert_grant(&access).await.unwrap();
    store.insert_grant(&refresh).await.unwrap();

    assert_eq!(
        store.grant(&access.token_hash).await.unwrap(),
        Some(access.clone())
    );
    // Expired grants are still returned by `grant`.
    assert_eq!(
        store.grant(&refresh.token_hash).await.unwrap(),
        Some(refresh.clone())
    );
    assert_eq!(store.grant("missing").await.unwrap(), None);

    // The same hash twice is refused.
    assert!(store.insert_grant(&access).await.is_err());
    // A grant for an app that does not exist is refused.
    let orphan = grant("c", &app_id(9), GrantKind::Access, at(900));
    assert!(store.insert_grant(&orphan).await.is_err());
    assert_eq!(store.grant("c").await.unwrap(), None);

    // Taken once, then gone.
    assert_eq!(
        store.take_grant(&refresh.token_hash).await.unwrap(),
        Some(refresh.clone())
    );
    assert_eq!(store.take_grant(&refresh.token_hash).await.unwrap(), None);
    assert_eq!(store.grant(&refresh.token_hash).await.unwrap(), None);
    assert_eq!(store.take_grant("missing").await.unwrap(), None);
    // The other grant is untouched.
    assert_eq!(store.grant(&access.token_hash).await.unwrap(), Some(access));
}

async fn grants_take_concurrently(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let refresh = grant("refresh-once", &ids[0], GrantKind::Refresh, at(3600));
    store.insert_grant(&refresh).await.unwrap();

    let tasks = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_grant("refresh-once").await })
        })
        .collect::<Vec<_>>();
    let mut taken = Vec::new();
    for task in tasks {
        if let Some(grant) = task.await.unwrap().unwrap() {
            taken.push(grant);
        }
    }
    assert_eq!(taken, vec![refresh], "exactly one task takes the grant");
    assert_eq!(store.grant("refresh-once").await.unwrap(), None);
}

async fn grants_and_signatures_purge_expired(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let now = at(0);
    let expired_access = grant("expired-a", &ids[0], GrantKind::Access, at(-1));
    let expired_refresh = grant("expired-r", &ids[0], GrantKind::Refresh, at(-7200));
    let live = grant("live", &ids[0], GrantKind::Refresh, at(3600));
    for grant in [&expired_access, &expired_refresh, &live] {
        store.insert_grant(grant).await.unwrap();
    }
    assert!(
        store
            .first_use_of_signature(&ids[0], "sig-old", at(-1))
            .await
            .unwrap()
    );
    assert!(
        store
            .first_use_of_signature(&ids[0], "sig-new", at(120))
            .await
            .unwrap()
    );

    let removed = store.purge_expired(now).await.unwrap();
    assert_eq!(removed, 3, "two grants and one signature");

    assert_eq!(store.grant("expired-a").await.unwrap(), None);
    assert_eq!(store.grant("expired-r").await.unwrap(), None);
    assert_eq!(store.grant("live").await.unwrap(), Some(live));
    // The expired signature was forgotten, the live one is still remembered.
    assert!(
        store
            .first_use_of_signature(&ids[0], "sig-old", at(120))
            .await
            .unwrap()
    );
    assert!(
        !store
            .first_use_of_signature(&ids[0], "sig-new", at(120))
            .await
            .unwrap()
    );

    // Nothing left to purge at the same instant.
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

async fn signatures_first_use(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let expires = at(120);
    assert!(
        store
            .first_use_of_signature(&ids[0], "hash-1", expires)
            .await
            .unwrap()
    );
    assert!(
        !store
            .first_use_of_signature(&ids[0], "hash-1", expires)
            .await
            .unwrap(),
        "a replay"
    );
    assert!(
        !store
            .first_use_of_signature(&ids[0], "hash-1", at(999))
            .await
            .unwrap(),
        "a replay with another expiry"
    );
    assert!(
        store
            .first_use_of_signature(&ids[1], "hash-1", expires)
            .await
            .unwrap(),
        "another app, same hash"
    );
    assert!(
        store
            .first_use_of_signature(&ids[0], "hash-2", expires)
            .await
            .unwrap(),
        "same app, another hash"
    );
}

async fn signatures_first_use_concurrently(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let tasks = (0..20)
        .map(|_| {
            let store = store.clone();
            let app = ids[0].clone();
            tokio::spawn(async move {
                store
                    .first_use_of_signature(&app, "same-hash", at(120))
                    .await
            })
        })
        .collect::<Vec<_>>();
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one first use");
}

// ---------------------------------------------------------------------------------------------
// Address indexes
// ---------------------------------------------------------------------------------------------

async fn address_indexes_consecutive(store: SqlStore) {
    let a = store.reserve_address_indexes(3).await.unwrap();
    let b = store.reserve_address_indexes(5).await.unwrap();
    let c = store.reserve_address_indexes(1).await.unwrap();
    assert_eq!(a.end - a.start, 3);
    assert_eq!(b.end - b.start, 5);
    assert_eq!(c.end - c.start, 1);
    assert_eq!(b.start, a.end, "consecutive");
    assert_eq!(c.start, b.end, "consecutive");
}

async fn address_indexes_concurrent(store: SqlStore) {
    let tasks = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve_address_indexes(7).await })
        })
        .collect::<Vec<_>>();
    let mut ranges = Vec::new();
    for task in tasks {
        ranges.push(task.await.unwrap().unwrap());
    }
    assert!(ranges.iter().all(|r| r.end - r.start == 7));
    let distinct = ranges.iter().cloned().flatten().collect::<BTreeSet<u64>>();
    assert_eq!(distinct.len(), 350, "no index handed out twice");
    ranges.sort_by_key(|r| r.start);
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "disjoint and gap-free");
    }
    let next = store.reserve_address_indexes(1).await.unwrap();
    assert_eq!(next.start, ranges.last().unwrap().end);
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

async fn orders_insert_and_existing(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let original = order(&ids[0], "ORDER-1", 1);
    insert_new(&store, &original).await;

    // Same number, everything else different: the stored order comes back unchanged.
    let retry = Order {
        merchant_id: "other-merchant".to_owned(),
        customer_id: "other-customer".to_owned(),
        order_amount: dec("99.9"),
        paying_amount: units(99_900_000),
        request_fingerprint: "fp_other".to_owned(),
        ..order(&ids[0], "ORDER-1", 2)
    };
    match store.insert_order(&retry).await.unwrap() {
        Inserted::Existing(existing) => assert_same_order(&existing, &original),
        Inserted::New(new) => panic!("duplicate number inserted: {new:?}"),
    }
    assert_same_order(&stored(&store, &original).await, &original);
    assert_eq!(
        store.order_by_page_token(&retry.page_token).await.unwrap(),
        None,
        "the retry left nothing behind"
    );

    // Another app may use the same number.
    let other_app = order(&ids[1], "ORDER-1", 3);
    insert_new(&store, &other_app).await;
    assert_same_order(&stored(&store, &other_app).await, &other_app);
    assert_same_order(&stored(&store, &original).await, &original);

    // Lookups.
    let by_token = store
        .order_by_page_token(&original.page_token)
        .await
        .unwrap();
    assert_same_order(&by_token.expect("by page token"), &original);
    let by_token = store
        .order_by_page_token(&other_app.page_token)
        .await
        .unwrap();
    assert_same_order(&by_token.expect("by page token"), &other_app);
    assert_eq!(
        store.order_by_page_token("page_missing").await.unwrap(),
        None
    );
    let everywhere = store.orders_by_no_any_app(&no("ORDER-1")).await.unwrap();
    assert_eq!(everywhere.len(), 2, "one per app");
    assert!(
        store
            .orders_by_no_any_app(&no("ORDER-404"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.order_by_no(&ids[0], &no("ORDER-2")).await.unwrap(),
        None
    );
    assert_eq!(
        store.order_by_no(&app_id(9), &no("ORDER-1")).await.unwrap(),
        None
    );

    // An order of an app that does not exist is refused.
    assert!(
        store
            .insert_order(&order(&app_id(9), "ORDER-1", 4))
            .await
            .is_err()
    );
}

async fn orders_insert_concurrently(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let tasks = (1..=20u64)
        .map(|index| {
            let store = store.clone();
            let candidate = Order {
                request_fingerprint: format!("fp_{index}"),
                ..order(&ids[0], "RACE", index)
            };
            tokio::spawn(async move { (candidate.clone(), store.insert_order(&candidate).await) })
        })
        .collect::<Vec<_>>();
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        let (candidate, result) = task.await.unwrap();
        match result.unwrap() {
            Inserted::New(order) => {
                assert_same_order(&order, &candidate);
                new.push(order);
            }
            Inserted::Existing(order) => existing.push(order),
        }
    }
    assert_eq!(new.len(), 1, "exactly one insert wins");
    assert_eq!(existing.len(), 19);
    let winner = &new[0];
    for order in &existing {
        assert_same_order(order, winner);
    }
    assert_same_order(&stored(&store, winner).await, winner);
    let page = store
        .list_orders(&ids[0], &OrderFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.records, vec![winner.clone()]);
}

async fn orders_round_trip_every_field(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let extreme_index = u64::try_from(i64::MAX).unwrap();
    let full = Order {
        sysid: "OR1971467057612247041".to_owned(),
        merchant_id: "merchant-«ü»".to_owned(),
        customer_id: "c".repeat(128),
        token: TokenId::parse("BSC_USDC").unwrap(),
        fiat: "USD".to_owned(),
        order_amount: dec("0.30000000000000004"),
        exchange_rate: dec("1.123456789012345678"),
        paying_amount: units(u128::MAX),
        min_accepted_amount: units(u128::MAX - 1),
        paid_amount: units(u128::MAX),
        refunded_amount: units(1),
        deposit_address: EvmAddress::from_bytes([0xff; 20]),
        address_index: extreme_index,
        status: OrderStatus::PartialRefunded,
        tx_hash: Some(format!("0x{}", "9f".repeat(32))),
        expires_at: Timestamp::from_micros(T0 + 1),
        pc_callback_url: Some("https://shop.example/return?o=1&x=%20".to_owned()),
        app_callback_url: Some("shopapp://orders/1".to_owned()),
        page_token: "tok_".to_owned() + &"Z".repeat(40),
        request_fingerprint: "e3b0c44298fc1c149afbf4c8996fb924".to_owned(),
        alert: Some("reorg alert".to_owned()),
        created_at: Timestamp::from_micros(T0 - 999_999),
        updated_at: Timestamp::from_micros(T0 + 123_457),
        version: 42,
        ..order(&ids[0], &"N".repeat(64), 0)
    };
    let sparse = Order {
        order_amount: dec("1.000000000000000000"),
        exchange_rate: dec("7.100000000000000000"),
        paying_amount: units(1),
        min_accepted_amount: TokenAmount::ZERO,
        ..order(&ids[0], "sparse_1-x", 5)
    };
    assert_eq!(sparse.tx_hash, None);
    assert_eq!(sparse.pc_callback_url, None);
    assert_eq!(sparse.app_callback_url, None);

    for expected in [&full, &sparse] {
        insert_new(&store, expected).await;
        let by_no = stored(&store, expected).await;
        assert_same_order(&by_no, expected);
        let by_token = store
            .order_by_page_token(&expected.page_token)
            .await
            .unwrap()
            .expect("by page token");
        assert_same_order(&by_token, expected);
    }

    let got = stored(&store, &full).await;
    assert_eq!(
        got.paying_amount.base_units().to_string(),
        "340282366920938463463374607431768211455"
    );
    assert_eq!(got.paid_amount.base_units(), u128::MAX);
    assert_eq!(got.min_accepted_amount.base_units(), u128::MAX - 1);
    assert_eq!(got.order_amount.to_string(), "0.30000000000000004");
    assert_eq!(got.exchange_rate.to_string(), "1.123456789012345678");
    assert_eq!(got.address_index, extreme_index);
    assert_eq!(got.deposit_address, EvmAddress::from_bytes([0xff; 20]));
    assert_eq!(got.created_at.micros(), T0 - 999_999);

    let got = stored(&store, &sparse).await;
    assert_eq!(got.order_amount.to_string(), "1.000000000000000000");
    assert_eq!(got.exchange_rate.to_string(), "7.100000000000000000");
    assert_eq!(got.min_accepted_amount, TokenAmount::ZERO);
    assert_eq!(got.deposit_address, address(5));

    // Listing reads the same values.
    let page = store
        .list_orders(&ids[0], &OrderFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.records.len(), 2);
    assert_same_order(&page.records[0], &sparse);
    assert_same_order(&page.records[1], &full);
}

async fn orders_list_filters_and_pages(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (a, b) = (&ids[0], &ids[1]);
    let spec = [
        ("o1", "m1", "c1", "ETH_USDT", OrderStatus::Paying),
        ("o2", "m1", "c2", "BSC_USDT", OrderStatus::Paid),
        ("o3", "m2", "c1", "ETH_USDT", OrderStatus::Paid),
        ("o4", "m2", "c2", "ETH_USDC", OrderStatus::Timeout),
        ("o5", "m1", "c1", "ETH_USDT", OrderStatus::Paying),
    ];
    let mut orders = Vec::new();
    for (index, (order_no, merchant, customer, token, status)) in (1u64..).zip(spec) {
        let order = Order {
            merchant_id: merchant.to_owned(),
            customer_id: customer.to_owned(),
            token: TokenId::parse(token).unwrap(),
            status,
            ..order(a, order_no, index)
        };
        insert_new(&store, &order).await;
        orders.push(order);
    }
    // The other app's orders share numbers, merchants and customers, and are newer.
    for (index, order_no) in [(10, "o1"), (11, "b2")] {
        let order = Order {
            merchant_id: "m1".to_owned(),
            customer_id: "c1".to_owned(),
            ..order(b, order_no, index)
        };
        insert_new(&store, &order).await;
    }

    let list = |filter: OrderFilter| {
        let store = store.clone();
        let app = a.clone();
        async move {
            let page = store
                .list_orders(&app, &filter, PageRequest { page: 1, size: 100 })
                .await
                .unwrap();
            assert_eq!(page.total, u64::try_from(page.records.len()).unwrap());
            assert!(
                page.records.iter().all(|o| o.app_id == app),
                "app isolation"
            );
            order_nos(&page.records)
        }
    };

    assert_eq!(
        list(OrderFilter::default()).await,
        ["o5", "o4", "o3", "o2", "o1"]
    );
    assert_eq!(
        list(OrderFilter {
            order_no: Some("o1".into()),
            ..OrderFilter::default()
        })
        .await,
        ["o1"]
    );
    assert_eq!(
        list(OrderFilter {
            order_no: Some("b2".into()),
            ..OrderFilter::default()
        })
        .await,
        Vec::<String>::new(),
        "another app's number"
    );
    assert_eq!(
        list(OrderFilter {
            merchant_id: Some("m1".into()),
            ..OrderFilter::default()
        })
        .await,
        ["o5", "o2", "o1"]
    );
    assert_eq!(
        list(OrderFilter {
            customer_id: Some("c2".into()),
            ..OrderFilter::default()
        })
        .await,
        ["o4", "o2"]
    );
    assert_eq!(
        list(OrderFilter {
            status: Some(OrderStatus::Paid),
            ..OrderFilter::default()
        })
        .await,
        ["o3", "o2"]
    );
    assert_eq!(
        list(OrderFilter {
            status: Some(OrderStatus::Refunded),
            ..OrderFilter::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(OrderFilter {
            token: Some("ETH_USDT".into()),
            ..OrderFilter::default()
        })
        .await,
        ["o5", "o3", "o1"]
    );
    // Both bounds are inclusive.
    assert_eq!(
        list(OrderFilter {
            created_from: Some(orders[1].created_at),
            created_to: Some(orders[3].created_at),
            ..OrderFilter::default()
        })
        .await,
        ["o4", "o3", "o2"]
    );
    assert_eq!(
        list(OrderFilter {
            created_from: Some(orders[3].created_at),
            ..OrderFilter::default()
        })
        .await,
        ["o5", "o4"]
    );
    assert_eq!(
        list(OrderFilter {
            created_to: Some(orders[1].created_at),
            ..OrderFilter::default()
        })
        .await,
        ["o2", "o1"]
    );
    assert_eq!(
        list(OrderFilter {
            created_from: Some(Timestamp::from_micros(orders[1].created_at.micros() + 1)),
            created_to: Some(Timestamp::from_micros(orders[3].created_at.micros() - 1)),
            ..OrderFilter::default()
        })
        .await,
        ["o3"]
    );
    // Filters combine.
    assert_eq!(
        list(OrderFilter {
            merchant_id: Some("m1".into()),
            customer_id: Some("c1".into()),
            status: Some(OrderStatus::Paying),
            token: Some("ETH_USDT".into()),
            created_from: Some(orders[0].created_at),
            created_to: Some(orders[4].created_at),
            order_no: None,
        })
        .await,
        ["o5", "o1"]
    );
    assert_eq!(
        list(OrderFilter {
            merchant_id: Some("m2".into()),
            token: Some("BSC_USDT".into()),
            ..OrderFilter::default()
        })
        .await,
        Vec::<String>::new()
    );

    // Pages of two, newest first, with the total on every page.
    let mut seen = Vec::new();
    for (page_no, expected) in [
        (1, vec!["o5", "o4"]),
        (2, vec!["o3", "o2"]),
        (3, vec!["o1"]),
        (4, vec![]),
    ] {
        let page = store
            .list_orders(
                a,
                &OrderFilter::default(),
                PageRequest {
                    page: page_no,
                    size: 2,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 5, "page {page_no}");
        assert_eq!(order_nos(&page.records), expected, "page {page_no}");
        seen.extend(page.records);
    }
    let mut expected_all = orders.clone();
    expected_all.reverse();
    assert_eq!(seen, expected_all, "pages return the stored orders");
    for (got, expected) in seen.iter().zip(&expected_all) {
        assert_same_order(got, expected);
    }

    // A filtered page.
    let page = store
        .list_orders(
            a,
            &OrderFilter {
                merchant_id: Some("m1".into()),
                ..OrderFilter::default()
            },
            PageRequest { page: 2, size: 2 },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(order_nos(&page.records), ["o1"]);

    // The other app sees only its own orders.
    let page = store
        .list_orders(b, &OrderFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(order_nos(&page.records), ["b2", "o1"]);
    assert!(page.records.iter().all(|o| &o.app_id == b));
    let page = store
        .list_orders(&app_id(9), &OrderFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 0);
    assert!(page.records.is_empty());
}

async fn orders_due_for_expiry_and_counts(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let now = at(10_000);
    assert!(
        store
            .orders_due_for_expiry(now, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.count_orders_by_status().await.unwrap().is_empty());

    let micros = |offset: i64| Timestamp::from_micros(now.micros() + offset);
    let spec: [(&str, usize, OrderStatus, Timestamp); 8] = [
        ("a", 0, OrderStatus::Paying, micros(-30_000_000)),
        ("b", 0, OrderStatus::Paying, micros(-60_000_000)),
        ("c", 0, OrderStatus::Paying, now),
        ("d", 0, OrderStatus::Paying, micros(1)),
        ("e", 0, OrderStatus::Paid, micros(-100_000_000)),
        ("f", 0, OrderStatus::Timeout, micros(-100_000_000)),
        ("g", 1, OrderStatus::Paying, micros(-10_000_000)),
        ("h", 1, OrderStatus::Cancelled, micros(-90_000_000)),
    ];
    for (index, (order_no, app, status, expires_at)) in (1u64..).zip(spec) {
        let order = Order {
            status,
            expires_at,
            ..order(&ids[app], order_no, index)
        };
        insert_new(&store, &order).await;
    }

    let due = store.orders_due_for_expiry(now, 10).await.unwrap();
    assert_eq!(order_nos(&due), ["b", "a", "g", "c"], "oldest first");
    assert!(due.iter().all(|o| o.status == OrderStatus::Paying));
    assert!(due.iter().all(|o| o.expires_at <= now));
    let limited = store.orders_due_for_expiry(now, 2).await.unwrap();
    assert_eq!(order_nos(&limited), ["b", "a"]);
    assert_eq!(limited[..], due[..2]);
    let one = store.orders_due_for_expiry(now, 1).await.unwrap();
    assert_eq!(order_nos(&one), ["b"]);
    let earlier = store.orders_due_for_expiry(micros(-30_000_001), 10).await;
    assert_eq!(order_nos(&earlier.unwrap()), ["b"]);
    let later = store.orders_due_for_expiry(micros(1), 10).await.unwrap();
    assert_eq!(order_nos(&later), ["b", "a", "g", "c", "d"]);

    let counts = store
        .count_orders_by_status()
        .await
        .unwrap()
        .into_iter()
        .collect::<HashMap<_, _>>();
    let expected = HashMap::from([
        (OrderStatus::Paying, 5),
        (OrderStatus::Paid, 1),
        (OrderStatus::Timeout, 1),
        (OrderStatus::Cancelled, 1),
    ]);
    assert_eq!(counts, expected);
    let listed = store.count_orders_by_status().await.unwrap();
    assert_eq!(listed.len(), 4, "one row per status present");
}

// ---------------------------------------------------------------------------------------------
// Commit
// ---------------------------------------------------------------------------------------------

async fn commit_updates_order(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let original = order(&ids[0], "C1", 1);
    let bystander = order(&ids[0], "C2", 2);
    insert_new(&store, &original).await;
    insert_new(&store, &bystander).await;

    let v2 = paid(&original, "0xaaa1", 60);
    store
        .commit(ChangeSet {
            orders: vec![write(&original, v2.clone())],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let got = stored(&store, &original).await;
    assert_same_order(&got, &v2);
    assert_eq!(got.version, 2);
    assert_eq!(got.status, OrderStatus::Paid);
    assert_eq!(got.paid_amount, original.paying_amount);
    assert_eq!(got.tx_hash.as_deref(), Some("0xaaa1"));
    assert_eq!(got.updated_at, original.updated_at.plus_seconds(60));

    // A second change from the new version, with amounts at their limit.
    let v3 = Order {
        status: OrderStatus::Refunded,
        paid_amount: units(u128::MAX),
        refunded_amount: units(u128::MAX),
        tx_hash: Some("0xaaa2".to_owned()),
        updated_at: v2.updated_at.plus_seconds(60),
        version: 3,
        ..v2.clone()
    };
    store
        .commit(ChangeSet {
            orders: vec![write(&v2, v3.clone())],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let got = stored(&store, &original).await;
    assert_same_order(&got, &v3);
    assert_eq!(got.refunded_amount.base_units(), u128::MAX);
    let by_token = store.order_by_page_token(&original.page_token).await;
    assert_same_order(&by_token.unwrap().unwrap(), &v3);

    // tx_hash can be cleared again.
    let v4 = Order {
        tx_hash: None,
        version: 4,
        ..v3.clone()
    };
    store
        .commit(ChangeSet {
            orders: vec![write(&v3, v4.clone())],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    assert_same_order(&stored(&store, &original).await, &v4);

    // The other order is untouched; an empty change set is fine.
    store.commit(ChangeSet::default()).await.unwrap();
    assert_same_order(&stored(&store, &bystander).await, &bystander);

    // Listing and counting see the change.
    let counts = store.count_orders_by_status().await.unwrap();
    let counts = counts.into_iter().collect::<HashMap<_, _>>();
    assert_eq!(
        counts,
        HashMap::from([(OrderStatus::Refunded, 1), (OrderStatus::Paying, 1)])
    );
    assert!(
        store
            .orders_due_for_expiry(at(1_000_000), 10)
            .await
            .unwrap()
            .iter()
            .all(|o| o.sysid != original.sysid)
    );
}

async fn commit_stale_version_conflicts(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let original = order(&ids[0], "S1", 1);
    insert_new(&store, &original).await;
    let v2 = paid(&original, "0xbbb1", 60);
    store
        .commit(ChangeSet {
            orders: vec![write(&original, v2.clone())],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await
        .unwrap();

    // Replaying the change made from version 1 is stale now.
    let stale = Order {
        status: OrderStatus::Cancelled,
        tx_hash: None,
        paid_amount: TokenAmount::ZERO,
        ..paid(&original, "0xbbb2", 120)
    };
    let result = store
        .commit(ChangeSet {
            orders: vec![write(&original, stale)],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_same_order(&stored(&store, &original).await, &v2);

    // A version from the future is a conflict as well.
    let future = OrderWrite {
        expected_version: 7,
        order: Order {
            version: 8,
            ..v2.clone()
        },
    };
    let result = store
        .commit(ChangeSet {
            orders: vec![future],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_same_order(&stored(&store, &original).await, &v2);

    // An order that does not exist cannot be updated.
    let ghost = order(&ids[0], "GHOST", 9);
    let result = store
        .commit(ChangeSet {
            orders: vec![write(&ghost, paid(&ghost, "0xbbb3", 1))],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_eq!(
        store.order_by_no(&ids[0], &no("GHOST")).await.unwrap(),
        None
    );

    // A write whose version does not advance by one is refused, not stored.
    let skipping = OrderWrite {
        expected_version: 2,
        order: Order {
            version: 4,
            ..paid(&v2, "0xbbb4", 1)
        },
    };
    let result = store
        .commit(ChangeSet {
            orders: vec![skipping],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_same_order(&stored(&store, &original).await, &v2);
}

async fn commit_is_atomic(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let first = order(&ids[0], "A1", 1);
    let second = order(&ids[0], "A2", 2);
    insert_new(&store, &first).await;
    insert_new(&store, &second).await;
    // Move the second order on, so a write from its version 1 is stale.
    let second_v2 = paid(&second, "0xccc0", 10);
    store
        .commit(ChangeSet {
            orders: vec![write(&second, second_v2.clone())],
            events: Vec::new(),
            ..ChangeSet::default()
        })
        .await
        .unwrap();

    let valid = write(&first, paid(&first, "0xccc1", 60));
    let stale = write(&second, paid(&second, "0xccc2", 60));
    let result = store
        .commit(ChangeSet {
            orders: vec![valid.clone(), stale],
            events: vec![event("evt_atomic", &valid.order)],
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_same_order(&stored(&store, &first).await, &first);
    assert_same_order(&stored(&store, &second).await, &second_v2);

    // The event was rolled back too: its id can be used now, with the valid write alone.
    store
        .commit(ChangeSet {
            orders: vec![valid.clone()],
            events: vec![event("evt_atomic", &valid.order)],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    assert_same_order(&stored(&store, &first).await, &valid.order);
    assert_same_order(&stored(&store, &second).await, &second_v2);
}

async fn commit_concurrent_same_version(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let original = order(&ids[0], "RACE", 1);
    insert_new(&store, &original).await;

    let candidates = (0..2)
        .map(|n| {
            let mut next = paid(&original, &format!("0xddd{n}"), 60 + n);
            next.request_fingerprint = original.request_fingerprint.clone();
            next
        })
        .collect::<Vec<_>>();
    let tasks = candidates
        .iter()
        .map(|next| {
            let store = store.clone();
            let change = ChangeSet {
                orders: vec![write(&original, next.clone())],
                events: vec![event(
                    &format!("evt_{}", next.tx_hash.as_deref().unwrap()),
                    next,
                )],
                ..ChangeSet::default()
            };
            tokio::spawn(async move { store.commit(change).await })
        })
        .collect::<Vec<_>>();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one commit succeeds: {results:?}");
    let loser = results.iter().find(|r| r.is_err()).unwrap();
    assert_eq!(loser, &Err(CommitError::Conflict));

    let winner = results.iter().position(Result::is_ok).unwrap();
    let got = stored(&store, &original).await;
    assert_eq!(got.version, 2);
    assert_same_order(&got, &candidates[winner]);
}

async fn commit_with_events(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let original = order(&ids[0], "E1", 1);
    insert_new(&store, &original).await;

    let v2 = paid(&original, "0xeee1", 60);
    store
        .commit(ChangeSet {
            orders: vec![write(&original, v2.clone())],
            events: vec![event("evt_000000000001", &v2)],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    assert_eq!(stored(&store, &original).await.version, 2);

    // Reusing the event id fails the whole commit: the order stays at version 2.
    let v3 = Order {
        status: OrderStatus::Refunding,
        updated_at: v2.updated_at.plus_seconds(60),
        version: 3,
        ..v2.clone()
    };
    let result = store
        .commit(ChangeSet {
            orders: vec![write(&v2, v3.clone())],
            events: vec![event("evt_000000000001", &v3)],
            ..ChangeSet::default()
        })
        .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    let got = stored(&store, &original).await;
    assert_eq!(got.version, 2);
    assert_same_order(&got, &v2);

    // The same event id twice within one commit fails the same way.
    let result = store
        .commit(ChangeSet {
            orders: vec![write(&v2, v3.clone())],
            events: vec![
                event("evt_000000000002", &v3),
                event("evt_000000000002", &v3),
            ],
            ..ChangeSet::default()
        })
        .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_eq!(stored(&store, &original).await.version, 2);

    // An event for an app that does not exist fails too.
    let mut orphan = event("evt_000000000003", &v3);
    orphan.app_id = app_id(9);
    let result = store
        .commit(ChangeSet {
            orders: vec![write(&v2, v3.clone())],
            events: vec![orphan],
            ..ChangeSet::default()
        })
        .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_eq!(stored(&store, &original).await.version, 2);

    // With a fresh id and several events the change goes through.
    store
        .commit(ChangeSet {
            orders: vec![write(&v2, v3.clone())],
            events: vec![
                event("evt_000000000002", &v3),
                event("evt_000000000004", &v3),
            ],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let got = stored(&store, &original).await;
    assert_eq!(got.version, 3);
    assert_same_order(&got, &v3);

    // Events alone, without order writes, commit as well.
    store
        .commit(ChangeSet {
            orders: Vec::new(),
            events: vec![event("evt_000000000005", &v3)],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let result = store
        .commit(ChangeSet {
            orders: Vec::new(),
            events: vec![event("evt_000000000005", &v3)],
            ..ChangeSet::default()
        })
        .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
}
