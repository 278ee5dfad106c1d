//! The store ports' conformance suite: apps, grants, signatures, address indexes, orders,
//! commits, chain cursors, leases, transfers and abnormal payments.

use std::collections::{BTreeSet, HashMap};

use wcheckout_domain::address::{Address, EvmAddress};
use wcheckout_domain::app::{App, Branding, IpNetwork, UnderpaymentTolerance};
use wcheckout_domain::chain::BlockMark;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::payment::{
    AbnormalKind, AbnormalPayment, AbnormalStatus, Transfer, TransferState,
};
use wcheckout_domain::ports::{
    AbnormalChange, AbnormalFilter, AppStore, ChainCursor, ChainStore, ChangeSet, ChangeStore,
    CommitError, CursorMove, Grant, GrantKind, Health, OrderFilter, OrderInsert, OrderStore,
    OrderWrite, PageRequest, SessionStore, SignatureUse, TransferChange,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::ChainKey;
use wcheckout_store::SqlStore;
use wcheckout_testkit::store_fixtures::{
    ALL, T0, abnormal, app, app_id, assert_list, assert_same_order, at, block_hash, block_time,
    chain, change_set, commit, create, cursor_move, dec, deposit, in_state, insert_apps,
    insert_new, insert_orders, just_after, just_before, mark, marks, no, numbered, on_token, order,
    outsider, paid, race, recorded, records, sole_winner, token, transfer, transition, tx_hash,
    units, update, write,
};

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
    restored_database_skips_addresses_and_holds_payouts,
    orders_insert_and_existing,
    orders_insert_concurrently,
    orders_insert_records_the_signature,
    orders_insert_same_signature_concurrently,
    order_counts_stay_exact_under_concurrent_folds,
    orders_round_trip_every_field,
    orders_list_filters_and_pages,
    orders_due_for_expiry_and_counts,
    commit_updates_order,
    commit_stale_version_conflicts,
    commit_is_atomic,
    commit_concurrent_same_version,
    commit_with_events,
    chain_cursor_create_and_move,
    chain_checkpoints_and_reorg,
    chain_head_notes,
    chain_leases_take_renew_release,
    chain_leases_race,
    chain_leases_taken_from_a_named_holder,
    transfers_record_round_trip,
    transfers_record_idempotent_and_reversed,
    transfers_set_state_and_forget_pending,
    transfers_recorded_and_moved_in_one_commit,
    transfers_queries,
    chain_lookups_past_in_list_limit,
    abnormal_round_trip_and_update,
    abnormal_list_filters_and_pages,
    commit_chain_set_all_or_nothing,
);

/// SQLite only: the log is copied back into the database file by the store's background
/// checkpoint, not left to the commit that crosses the (raised) automatic threshold, which
/// these few commits never reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_log_is_checkpointed_in_the_background() {
    let db = wcheckout_testkit::fresh_sqlite();
    let store = crate::open(&db.url).await;
    let file = db.url.trim_start_matches("sqlite://").to_owned();
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let ids = insert_apps(&store, &[1]).await;
    let before = size();
    for n in 0..200 {
        insert_new(&store, &order(&ids[0], &format!("CK{n}"), n)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file did not grow from {before} bytes: the log was not checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn net(text: &str) -> IpNetwork {
    IpNetwork::parse(text).unwrap()
}

/// The stored grant of a token hash, expired or not (through the one lookup the store has).
async fn grant_of(store: &SqlStore, token_hash: &str) -> Option<Grant> {
    let found = store.grant_with_app(token_hash).await.unwrap();
    found.map(|(grant, _)| grant)
}

/// Whether this is the first use of a signature (remembered until `expires`).
async fn first_use(store: &SqlStore, app: &AppId, hash: &str, expires: Timestamp) -> bool {
    let first = store.first_use_of_signature(app, hash, expires).await;
    first.unwrap()
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
        grant_of(&store, &access.token_hash).await,
        Some(access.clone())
    );
    // Expired grants are still returned by the lookup.
    assert_eq!(
        grant_of(&store, &refresh.token_hash).await,
        Some(refresh.clone())
    );
    assert_eq!(grant_of(&store, "missing").await, None);
    // With its app, in one lookup; the grant's own secrets version, not the app's.
    let (found, owner) = store
        .grant_with_app(&refresh.token_hash)
        .await
        .unwrap()
        .expect("grant with app");
    assert_eq!(found, refresh);
    assert_eq!(Some(owner), store.app(&ids[1]).await.unwrap());
    assert_eq!(store.grant_with_app("missing").await.unwrap(), None);

    // The same hash twice is refused.
    assert!(store.insert_grant(&access).await.is_err());
    // A grant for an app that does not exist is refused.
    let orphan = grant("c", &app_id(9), GrantKind::Access, at(900));
    assert!(store.insert_grant(&orphan).await.is_err());
    assert_eq!(grant_of(&store, "c").await, None);

    let take = |hash: &str, kind| {
        let store = store.clone();
        let hash = hash.to_owned();
        async move { store.take_grant(&hash, kind).await.unwrap() }
    };
    // Taken only as its own kind.
    assert_eq!(take(&refresh.token_hash, GrantKind::Access).await, None);
    // Taken once, then gone.
    assert_eq!(
        take(&refresh.token_hash, GrantKind::Refresh).await,
        Some(refresh.clone())
    );
    assert_eq!(take(&refresh.token_hash, GrantKind::Refresh).await, None);
    assert_eq!(grant_of(&store, &refresh.token_hash).await, None);
    assert_eq!(take("missing", GrantKind::Refresh).await, None);
    // A grant of another kind is neither taken nor removed.
    assert_eq!(take(&access.token_hash, GrantKind::Refresh).await, None);
    // The other grant is untouched.
    assert_eq!(grant_of(&store, &access.token_hash).await, Some(access));
}

async fn grants_take_concurrently(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let refresh = grant("refresh-once", &ids[0], GrantKind::Refresh, at(3600));
    store.insert_grant(&refresh).await.unwrap();

    let tasks = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_grant("refresh-once", GrantKind::Refresh).await })
        })
        .collect::<Vec<_>>();
    let mut taken = Vec::new();
    for task in tasks {
        if let Some(grant) = task.await.unwrap().unwrap() {
            taken.push(grant);
        }
    }
    assert_eq!(taken, vec![refresh], "exactly one task takes the grant");
    assert_eq!(grant_of(&store, "refresh-once").await, None);
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
    assert!(first_use(&store, &ids[0], "sig-old", at(-1)).await);
    assert!(first_use(&store, &ids[0], "sig-new", at(120)).await);

    let removed = store.purge_expired(now).await.unwrap();
    assert_eq!(removed, 3, "two grants and one signature");

    assert_eq!(grant_of(&store, "expired-a").await, None);
    assert_eq!(grant_of(&store, "expired-r").await, None);
    assert_eq!(grant_of(&store, "live").await, Some(live));
    // The expired signature was forgotten, the live one is still remembered.
    assert!(first_use(&store, &ids[0], "sig-old", at(120)).await);
    assert!(!first_use(&store, &ids[0], "sig-new", at(120)).await);

    // Nothing left to purge at the same instant.
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

async fn signatures_first_use(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let expires = at(120);
    assert!(first_use(&store, &ids[0], "hash-1", expires).await);
    assert!(
        !first_use(&store, &ids[0], "hash-1", expires).await,
        "a replay"
    );
    assert!(
        !first_use(&store, &ids[0], "hash-1", at(999)).await,
        "a replay with another expiry"
    );
    assert!(
        first_use(&store, &ids[1], "hash-1", expires).await,
        "another app, same hash"
    );
    assert!(
        first_use(&store, &ids[0], "hash-2", expires).await,
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

async fn restored_database_skips_addresses_and_holds_payouts(store: SqlStore) {
    use wcheckout_domain::ports::MoneyStore;
    let before = store.reserve_address_indexes(4).await.unwrap();
    assert!(!store.payouts_held().await.unwrap());
    store.mark_restored(1000).await.unwrap();
    let after = store.reserve_address_indexes(1).await.unwrap();
    assert_eq!(after.start, before.end + 1000, "indexes skipped");
    assert!(store.payouts_held().await.unwrap());
    assert!(store.set_payouts_held(false).await.unwrap(), "it was held");
    assert!(!store.payouts_held().await.unwrap());
    assert!(
        !store.set_payouts_held(true).await.unwrap(),
        "it was not held"
    );
    assert!(store.payouts_held().await.unwrap());
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
    match store.insert_order(&retry, None).await.unwrap() {
        OrderInsert::Existing(existing) => assert_same_order(&existing, &original),
        other => panic!("duplicate number not found: {other:?}"),
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
            .insert_order(&order(&app_id(9), "ORDER-1", 4), None)
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
            tokio::spawn(async move {
                (
                    candidate.clone(),
                    store.insert_order(&candidate, None).await,
                )
            })
        })
        .collect::<Vec<_>>();
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        let (candidate, result) = task.await.unwrap();
        match result.unwrap() {
            OrderInsert::New(order) => {
                assert_same_order(&order, &candidate);
                new.push(order);
            }
            OrderInsert::Existing(order) => existing.push(order),
            OrderInsert::Replayed => panic!("no signature was given"),
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

fn signature_use(app: &AppId, hash: &str) -> SignatureUse {
    SignatureUse {
        app: app.clone(),
        signature_hash: hash.to_owned(),
        expires_at: at(120),
    }
}

async fn orders_insert_records_the_signature(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let signed = signature_use(&ids[0], "sig-create");
    let first = order(&ids[0], "SIGNED-1", 1);
    match store.insert_order(&first, Some(&signed)).await.unwrap() {
        OrderInsert::New(stored) => assert_same_order(&stored, &first),
        other => panic!("not inserted: {other:?}"),
    }
    // The signature is remembered with the order.
    assert!(!first_use(&store, &ids[0], "sig-create", at(120)).await);
    // The same signature on another order writes nothing.
    let replay = order(&ids[0], "SIGNED-2", 2);
    assert_eq!(
        store.insert_order(&replay, Some(&signed)).await.unwrap(),
        OrderInsert::Replayed
    );
    assert_eq!(
        store.order_by_no(&ids[0], &no("SIGNED-2")).await.unwrap(),
        None
    );
    // A new signature for an existing number is remembered and finds the order.
    let retry = order(&ids[0], "SIGNED-1", 3);
    let fresh = signature_use(&ids[0], "sig-retry");
    match store.insert_order(&retry, Some(&fresh)).await.unwrap() {
        OrderInsert::Existing(existing) => assert_same_order(&existing, &first),
        other => panic!("existing order not found: {other:?}"),
    }
    assert!(!first_use(&store, &ids[0], "sig-retry", at(120)).await);
}

async fn orders_insert_same_signature_concurrently(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let tasks = (1..=20u64)
        .map(|index| {
            let store = store.clone();
            let candidate = order(&ids[0], &format!("REPLAY-{index}"), index);
            let signed = signature_use(&ids[0], "one-signature");
            tokio::spawn(async move { store.insert_order(&candidate, Some(&signed)).await })
        })
        .collect::<Vec<_>>();
    let mut new = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            OrderInsert::New(_) => new += 1,
            OrderInsert::Replayed => {}
            OrderInsert::Existing(order) => panic!("distinct numbers: {order:?}"),
        }
    }
    assert_eq!(new, 1, "one signature creates one order");
    let page = store
        .list_orders(&ids[0], &OrderFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

async fn orders_round_trip_every_field(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let extreme_index = u64::try_from(i64::MAX).unwrap();
    let full = Order {
        sysid: "OR1971467057612247041".to_owned(),
        merchant_id: "merchant-«ü»".to_owned(),
        customer_id: "c".repeat(128),
        token: token("BSC_USDC"),
        fiat: "USD".to_owned(),
        order_amount: dec("0.30000000000000004"),
        exchange_rate: dec("1.123456789012345678"),
        paying_amount: units(u128::MAX),
        min_accepted_amount: units(u128::MAX - 1),
        paid_amount: units(u128::MAX),
        refunded_amount: units(1),
        deposit_address: Address::Evm(EvmAddress::from_bytes([0xff; 20])),
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
    assert_eq!(
        got.deposit_address,
        Address::Evm(EvmAddress::from_bytes([0xff; 20]))
    );
    assert_eq!(got.created_at.micros(), T0 - 999_999);

    let got = stored(&store, &sparse).await;
    assert_eq!(got.order_amount.to_string(), "1.000000000000000000");
    assert_eq!(got.exchange_rate.to_string(), "7.100000000000000000");
    assert_eq!(got.min_accepted_amount, TokenAmount::ZERO);
    assert_eq!(got.deposit_address, deposit(5));

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
    for (index, (order_no, merchant, customer, token_id, status)) in (1u64..).zip(spec) {
        let order = Order {
            merchant_id: merchant.to_owned(),
            customer_id: customer.to_owned(),
            token: token(token_id),
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

    let any = OrderFilter::default;
    let text = |value: &str| Some(value.to_owned());
    let created = |from: Option<usize>, to: Option<usize>| OrderFilter {
        created_from: from.map(|n| orders[n].created_at),
        created_to: to.map(|n| orders[n].created_at),
        ..any()
    };
    let cases: Vec<(OrderFilter, Vec<&str>)> = vec![
        (any(), vec!["o5", "o4", "o3", "o2", "o1"]),
        (
            OrderFilter {
                order_no: text("o1"),
                ..any()
            },
            vec!["o1"],
        ),
        // Another app's number.
        (
            OrderFilter {
                order_no: text("b2"),
                ..any()
            },
            vec![],
        ),
        (
            OrderFilter {
                merchant_id: text("m1"),
                ..any()
            },
            vec!["o5", "o2", "o1"],
        ),
        (
            OrderFilter {
                customer_id: text("c2"),
                ..any()
            },
            vec!["o4", "o2"],
        ),
        (
            OrderFilter {
                status: Some(OrderStatus::Paid),
                ..any()
            },
            vec!["o3", "o2"],
        ),
        (
            OrderFilter {
                status: Some(OrderStatus::Refunded),
                ..any()
            },
            vec![],
        ),
        (
            OrderFilter {
                token: text("ETH_USDT"),
                ..any()
            },
            vec!["o5", "o3", "o1"],
        ),
        // Both bounds are inclusive.
        (created(Some(1), Some(3)), vec!["o4", "o3", "o2"]),
        (created(Some(3), None), vec!["o5", "o4"]),
        (created(None, Some(1)), vec!["o2", "o1"]),
        (
            OrderFilter {
                created_from: Some(just_after(orders[1].created_at)),
                created_to: Some(just_before(orders[3].created_at)),
                ..any()
            },
            vec!["o3"],
        ),
        // Filters combine.
        (
            OrderFilter {
                merchant_id: text("m1"),
                customer_id: text("c1"),
                status: Some(OrderStatus::Paying),
                token: text("ETH_USDT"),
                created_from: Some(orders[0].created_at),
                created_to: Some(orders[4].created_at),
                order_no: None,
            },
            vec!["o5", "o1"],
        ),
        (
            OrderFilter {
                merchant_id: text("m2"),
                token: text("BSC_USDT"),
                ..any()
            },
            vec![],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(list(filter.clone()).await, expected, "{filter:?}");
    }

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

/// Counts by status stay exact while orders are inserted and paid in batches and counted from
/// several tasks at once (each count folds the deltas the triggers appended).
async fn order_counts_stay_exact_under_concurrent_folds(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let inserts = (1..=40u64).map(|index| {
        let store = store.clone();
        let order = order(&ids[0], &format!("COUNT-{index}"), index);
        tokio::spawn(async move { store.insert_order(&order, None).await.map(|_| order) })
    });
    let counters = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.count_orders_by_status().await })
    });
    let counters = counters.collect::<Vec<_>>();
    let mut orders = Vec::new();
    for insert in inserts.collect::<Vec<_>>() {
        orders.push(insert.await.unwrap().unwrap());
    }
    for counter in counters {
        counter.await.unwrap().unwrap();
    }
    let counts = |store: SqlStore| async move {
        let counts = store.count_orders_by_status().await.unwrap();
        counts.into_iter().collect::<HashMap<_, _>>()
    };
    assert_eq!(
        counts(store.clone()).await,
        HashMap::from([(OrderStatus::Paying, 40)])
    );
    // Half paid in one change set (one multi-row update), a quarter only re-versioned.
    let mut writes: Vec<OrderWrite> = orders[..20]
        .iter()
        .map(|o| write(o, paid(o, &format!("0x{:064x}", o.address_index), 1)))
        .collect();
    writes.extend(orders[20..30].iter().map(|o| {
        write(
            o,
            Order {
                version: o.version + 1,
                ..o.clone()
            },
        )
    }));
    let commit = {
        let store = store.clone();
        tokio::spawn(async move { commit(&store, writes).await })
    };
    let during = counts(store.clone()).await;
    commit.await.unwrap().unwrap();
    assert!(
        during == HashMap::from([(OrderStatus::Paying, 40)])
            || during == HashMap::from([(OrderStatus::Paying, 20), (OrderStatus::Paid, 20)]),
        "a count sees the change set whole or not at all: {during:?}"
    );
    let expected = HashMap::from([(OrderStatus::Paying, 20), (OrderStatus::Paid, 20)]);
    assert_eq!(counts(store.clone()).await, expected);
    assert_eq!(
        counts(store.clone()).await,
        expected,
        "folding again changes nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Commit
// ---------------------------------------------------------------------------------------------

async fn commit_updates_order(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let original = order(&ids[0], "C1", 1);
    let bystander = order(&ids[0], "C2", 2);
    insert_orders(&store, &[&original, &bystander]).await;

    let v2 = paid(&original, "0xaaa1", 60);
    commit(&store, [write(&original, v2.clone())])
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
    commit(&store, [write(&v2, v3.clone())]).await.unwrap();
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
    commit(&store, [write(&v3, v4.clone())]).await.unwrap();
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
    commit(&store, [write(&original, v2.clone())])
        .await
        .unwrap();

    // Replaying the change made from version 1 is stale now.
    let stale = Order {
        status: OrderStatus::Cancelled,
        tx_hash: None,
        paid_amount: TokenAmount::ZERO,
        ..paid(&original, "0xbbb2", 120)
    };
    let result = commit(&store, [write(&original, stale)]).await;
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
    let result = commit(&store, [future]).await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_same_order(&stored(&store, &original).await, &v2);

    // An order that does not exist cannot be updated.
    let ghost = order(&ids[0], "GHOST", 9);
    let result = commit(&store, [write(&ghost, paid(&ghost, "0xbbb3", 1))]).await;
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
    let result = commit(&store, [skipping]).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_same_order(&stored(&store, &original).await, &v2);
}

async fn commit_is_atomic(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let first = order(&ids[0], "A1", 1);
    let second = order(&ids[0], "A2", 2);
    insert_orders(&store, &[&first, &second]).await;
    // Move the second order on, so a write from its version 1 is stale.
    let second_v2 = paid(&second, "0xccc0", 10);
    commit(&store, [write(&second, second_v2.clone())])
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
    let sets = candidates
        .iter()
        .map(|next| {
            let announced = event(&format!("evt_{}", next.tx_hash.as_deref().unwrap()), next);
            ChangeSet {
                orders: vec![write(&original, next.clone())],
                events: vec![announced],
                ..ChangeSet::default()
            }
        })
        .collect();
    let winner = sole_winner(&race(&store, sets).await);
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
    commit(&store, [event("evt_000000000005", &v3)])
        .await
        .unwrap();
    let result = commit(&store, [event("evt_000000000005", &v3)]).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// Chain helpers
// ---------------------------------------------------------------------------------------------

async fn record(store: &SqlStore, transfers: &[&Transfer]) {
    commit(store, records(transfers)).await.unwrap();
}

async fn set_state(
    store: &SqlStore,
    transfer: &Transfer,
    from: TransferState,
    to: TransferState,
) -> Result<(), CommitError> {
    commit(store, [transition(transfer, from, to)]).await
}

async fn forget_pending(store: &SqlStore, transfer: &Transfer) -> Result<(), CommitError> {
    commit(store, [TransferChange::ForgetPending(transfer.key())]).await
}

/// The live transfers of a chain above a height, by block and log index.
async fn above(store: &SqlStore, chain: &ChainKey, height: u64) -> Vec<Transfer> {
    store.transfers_above(chain, height).await.unwrap()
}

/// The pending transfers of a chain at or below a height, by block and log index.
async fn pending_up_to(
    store: &SqlStore,
    chain: &ChainKey,
    height: u64,
    limit: u32,
) -> Vec<Transfer> {
    let pending = store.pending_transfers_up_to(chain, height, limit).await;
    pending.unwrap()
}

/// A transaction's transfers on a chain, by log index.
async fn of_tx(store: &SqlStore, chain: &ChainKey, hash: &str) -> Vec<Transfer> {
    store.transfers_of_tx(chain, hash).await.unwrap()
}

/// An order's transfers, oldest first.
async fn of_order(store: &SqlStore, order: &Order) -> Vec<Transfer> {
    let sysids = std::slice::from_ref(&order.sysid);
    store.transfers_of_orders(sysids).await.unwrap()
}

/// The stored transfer with `transfer`'s key, if any.
async fn stored_transfer(store: &SqlStore, transfer: &Transfer) -> Option<Transfer> {
    let of_tx = of_tx(store, &transfer.chain, &transfer.tx_hash).await;
    of_tx
        .into_iter()
        .find(|t| t.log_index == transfer.log_index)
}

/// Every remembered checkpoint of a chain, highest first.
async fn checkpoints_of(store: &SqlStore, chain_key: &str) -> Vec<BlockMark> {
    let top = u64::try_from(i64::MAX).unwrap();
    store
        .checkpoints(&chain(chain_key), top, 10_000)
        .await
        .unwrap()
}

async fn cursor_of(store: &SqlStore, chain_key: &str) -> Option<ChainCursor> {
    store.chain_cursor(&chain(chain_key)).await.unwrap()
}

/// Every abnormal payment of an app, newest first.
async fn abnormal_of(store: &SqlStore, app: &AppId) -> Vec<AbnormalPayment> {
    let page = store
        .list_abnormal_payments(app, &AbnormalFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, u64::try_from(page.records.len()).unwrap());
    page.records
}

/// The numbers (without the `AP0…` prefix) of a filtered page, and the total.
async fn abnormal_page(
    store: &SqlStore,
    app: &AppId,
    filter: AbnormalFilter,
    page: PageRequest,
) -> (Vec<u32>, u64) {
    let page = store.list_abnormal_payments(app, &filter, page).await;
    numbered(page.unwrap(), |payment| &payment.abnormal_payment_no)
}

// ---------------------------------------------------------------------------------------------
// Chain cursors and checkpoints
// ---------------------------------------------------------------------------------------------

async fn chain_cursor_create_and_move(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "CUR1", 1);
    insert_new(&store, &paying).await;
    assert_eq!(cursor_of(&store, "ETH").await, None);
    assert!(checkpoints_of(&store, "ETH").await.is_empty());

    // The first move creates the cursor and remembers its checkpoints and its target.
    let m100 = mark(100, 0);
    commit(
        &store,
        [CursorMove {
            checkpoints: marks(&[98, 99]),
            ..cursor_move("ETH", None, &m100)
        }],
    )
    .await
    .unwrap();
    let created = cursor_of(&store, "ETH").await.expect("cursor created");
    assert_eq!(created.processed, m100);
    assert_eq!(created.head_number, 0, "no head noted yet");
    assert_eq!(
        created.caught_up_at,
        Timestamp::from_micros(0),
        "never caught up yet"
    );
    assert_eq!(checkpoints_of(&store, "ETH").await, marks(&[100, 99, 98]));

    // Creating it a second time is a conflict, and nothing else of that set is written.
    let early = transfer(&paying, 1, 0, 101, TransferState::Pending);
    let result = store
        .commit(ChangeSet {
            cursor: Some(CursorMove {
                checkpoints: marks(&[97]),
                ..cursor_move("ETH", None, &mark(101, 0))
            }),
            transfers: records(&[&early]),
            orders: vec![write(&paying, paid(&paying, "0xc1", 10))],
            events: vec![event("evt_cursor_1", &paying)],
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_eq!(cursor_of(&store, "ETH").await, Some(created.clone()));
    assert_eq!(checkpoints_of(&store, "ETH").await, marks(&[100, 99, 98]));
    assert_eq!(stored_transfer(&store, &early).await, None);
    assert_same_order(&stored(&store, &paying).await, &paying);

    // A move from the cursor as read succeeds, together with the rest of its set.
    let m105 = mark(105, 0);
    store
        .commit(ChangeSet {
            cursor: Some(CursorMove {
                checkpoints: marks(&[103]),
                ..cursor_move("ETH", Some(&m100), &m105)
            }),
            transfers: records(&[&early]),
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let moved = cursor_of(&store, "ETH").await.expect("cursor");
    assert_eq!(
        moved,
        ChainCursor {
            processed: m105.clone(),
            updated_at: moved.updated_at,
            ..created.clone()
        }
    );
    assert_eq!(
        checkpoints_of(&store, "ETH").await,
        marks(&[105, 103, 100, 99, 98])
    );
    assert_eq!(stored_transfer(&store, &early).await, Some(early.clone()));

    // Stale expectations: the previous cursor, the right height with another hash, another
    // height with the right hash, and none at all. Each conflicts and changes nothing.
    let stale_marks = [
        Some(m100.clone()),
        Some(mark(105, 1)),
        Some(BlockMark {
            number: 104,
            hash: m105.hash.clone(),
        }),
        None,
    ];
    for expected in stale_marks {
        let late = transfer(&paying, 2, 0, 106, TransferState::Pending);
        let result = store
            .commit(ChangeSet {
                cursor: Some(CursorMove {
                    checkpoints: marks(&[104]),
                    forget_above: Some(99),
                    ..cursor_move("ETH", expected.as_ref(), &mark(106, 0))
                }),
                transfers: vec![
                    recorded(&late),
                    transition(&early, TransferState::Pending, TransferState::Credited),
                ],
                orders: vec![write(&paying, paid(&paying, "0xc2", 20))],
                events: vec![event("evt_cursor_2", &paying)],
                ..ChangeSet::default()
            })
            .await;
        assert_eq!(result, Err(CommitError::Conflict), "expected {expected:?}");
        assert_eq!(cursor_of(&store, "ETH").await, Some(moved.clone()));
        assert_eq!(
            checkpoints_of(&store, "ETH").await,
            marks(&[105, 103, 100, 99, 98]),
            "neither forgotten nor added"
        );
        assert_eq!(stored_transfer(&store, &late).await, None);
        assert_eq!(stored_transfer(&store, &early).await, Some(early.clone()));
        assert_same_order(&stored(&store, &paying).await, &paying);
    }

    // The events of the rejected sets were never written: their ids are still free.
    commit(
        &store,
        [
            event("evt_cursor_1", &paying),
            event("evt_cursor_2", &paying),
        ],
    )
    .await
    .unwrap();

    // The cursor keeps moving from wherever it is.
    commit(&store, [cursor_move("ETH", Some(&m105), &mark(106, 0))])
        .await
        .unwrap();
    let cursor = cursor_of(&store, "ETH").await.expect("cursor");
    assert_eq!(cursor.processed, mark(106, 0));
    assert_eq!(checkpoints_of(&store, "ETH").await[0], mark(106, 0));
}

async fn chain_checkpoints_and_reorg(store: SqlStore) {
    let eth = chain("ETH");
    let bsc = chain("BSC");
    commit(
        &store,
        [CursorMove {
            checkpoints: marks(&[100, 102, 104, 106, 108]),
            ..cursor_move("ETH", None, &mark(110, 0))
        }],
    )
    .await
    .unwrap();
    commit(
        &store,
        [CursorMove {
            checkpoints: vec![mark(40, 7)],
            ..cursor_move("BSC", None, &mark(50, 7))
        }],
    )
    .await
    .unwrap();
    let bsc_cursor = cursor_of(&store, "BSC").await.expect("BSC cursor");
    assert_eq!(bsc_cursor.processed, mark(50, 7));
    assert_eq!(
        cursor_of(&store, "ETH").await.unwrap().processed,
        mark(110, 0)
    );
    assert_eq!(cursor_of(&store, "POLYGON").await, None);

    // Highest first, at or below the height, at most `limit`.
    let all = marks(&[110, 108, 106, 104, 102, 100]);
    assert_eq!(store.checkpoints(&eth, 1_000_000, 100).await.unwrap(), all);
    assert_eq!(store.checkpoints(&eth, 110, 100).await.unwrap(), all);
    assert_eq!(
        store.checkpoints(&eth, 110, 3).await.unwrap(),
        marks(&[110, 108, 106])
    );
    assert_eq!(
        store.checkpoints(&eth, 109, 2).await.unwrap(),
        marks(&[108, 106])
    );
    assert_eq!(
        store.checkpoints(&eth, 107, 100).await.unwrap(),
        marks(&[106, 104, 102, 100])
    );
    assert_eq!(
        store.checkpoints(&eth, 100, 100).await.unwrap(),
        marks(&[100])
    );
    assert!(store.checkpoints(&eth, 99, 100).await.unwrap().is_empty());
    assert!(store.checkpoints(&eth, 0, 100).await.unwrap().is_empty());
    assert_eq!(
        store.checkpoints(&eth, 1_000_000, 1).await.unwrap(),
        marks(&[110])
    );
    assert_eq!(
        store.checkpoints(&bsc, 1_000_000, 100).await.unwrap(),
        vec![mark(50, 7), mark(40, 7)]
    );
    assert!(
        store
            .checkpoints(&chain("POLYGON"), 1_000_000, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // One chain's cursor is no expectation for another's.
    let result = commit(
        &store,
        [cursor_move("ETH", Some(&mark(50, 7)), &mark(111, 0))],
    )
    .await;
    assert_eq!(result, Err(CommitError::Conflict));

    // A reorg: back to the fork point 104, forgetting the abandoned checkpoints above it.
    commit(
        &store,
        [CursorMove {
            forget_above: Some(104),
            ..cursor_move("ETH", Some(&mark(110, 0)), &mark(104, 0))
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        cursor_of(&store, "ETH").await.unwrap().processed,
        mark(104, 0)
    );
    assert_eq!(checkpoints_of(&store, "ETH").await, marks(&[104, 102, 100]));

    // Forward again on the new fork.
    commit(
        &store,
        [CursorMove {
            checkpoints: vec![mark(105, 1), mark(106, 1)],
            ..cursor_move("ETH", Some(&mark(104, 0)), &mark(107, 1))
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        checkpoints_of(&store, "ETH").await,
        vec![
            mark(107, 1),
            mark(106, 1),
            mark(105, 1),
            mark(104, 0),
            mark(102, 0),
            mark(100, 0),
        ]
    );

    // A checkpoint at a remembered height takes the new hash.
    commit(
        &store,
        [CursorMove {
            checkpoints: vec![mark(100, 2)],
            ..cursor_move("ETH", Some(&mark(107, 1)), &mark(108, 1))
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        store.checkpoints(&eth, 101, 10).await.unwrap(),
        vec![mark(100, 2)]
    );

    // Forgetting happens before the move's own checkpoints are remembered.
    commit(
        &store,
        [CursorMove {
            checkpoints: vec![mark(103, 3)],
            forget_above: Some(101),
            ..cursor_move("ETH", Some(&mark(108, 1)), &mark(109, 3))
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        checkpoints_of(&store, "ETH").await,
        vec![mark(109, 3), mark(103, 3), mark(100, 2)]
    );

    // Forgetting above everything forgets nothing.
    commit(
        &store,
        [CursorMove {
            forget_above: Some(1_000_000),
            ..cursor_move("ETH", Some(&mark(109, 3)), &mark(109, 3))
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        checkpoints_of(&store, "ETH").await,
        vec![mark(109, 3), mark(103, 3), mark(100, 2)]
    );

    // The other chain saw none of it.
    assert_eq!(cursor_of(&store, "BSC").await, Some(bsc_cursor));
    assert_eq!(
        checkpoints_of(&store, "BSC").await,
        vec![mark(50, 7), mark(40, 7)]
    );
    // And a reorg there leaves ETH alone.
    commit(
        &store,
        [CursorMove {
            forget_above: Some(0),
            ..cursor_move("BSC", Some(&mark(50, 7)), &mark(0, 8))
        }],
    )
    .await
    .unwrap();
    assert_eq!(checkpoints_of(&store, "BSC").await, vec![mark(0, 8)]);
    assert_eq!(
        checkpoints_of(&store, "ETH").await,
        vec![mark(109, 3), mark(103, 3), mark(100, 2)]
    );
}

/// A cursor at block `processed` (fork 0) with a head noted.
fn noted(
    processed: u64,
    (head_number, head_time): (u64, Timestamp),
    caught_up_at: Timestamp,
    updated_at: Timestamp,
) -> ChainCursor {
    ChainCursor {
        processed: mark(processed, 0),
        head_number,
        head_time,
        caught_up_at,
        updated_at,
    }
}

async fn chain_head_notes(store: SqlStore) {
    let never = Timestamp::from_micros(0);
    // Notes ETH's head in a round started at `round`; ETH's cursor after.
    let note = |head: (u64, Timestamp), round: Timestamp, caught_up: bool| {
        let store = store.clone();
        async move {
            let eth = chain("ETH");
            let noting = store.note_chain_head(&eth, head, round, caught_up).await;
            noting.unwrap();
            store.chain_cursor(&eth).await.unwrap()
        }
    };
    // Without a cursor there is nothing to note on, and no cursor appears.
    assert_eq!(note((120, at(10)), at(5), true).await, None);

    for (key, to) in [("ETH", mark(100, 0)), ("BSC", mark(7, 3))] {
        commit(&store, [cursor_move(key, None, &to)]).await.unwrap();
    }
    let bsc_before = cursor_of(&store, "BSC").await.expect("BSC cursor");

    // Not caught up: the head is noted, `caught_up_at` stays.
    let head = (120, at(10));
    let expected = noted(100, head, never, at(5));
    assert_eq!(note(head, at(5), false).await, Some(expected));

    // Caught up: the round's start is when the chain is known up to.
    let head = (130, at(22));
    let expected = noted(100, head, at(20), at(20));
    assert_eq!(note(head, at(20), true).await, Some(expected));

    // Behind again: the head and time move on, `caught_up_at` keeps the last caught-up round.
    let head = (131, at(34));
    let expected = noted(100, head, at(20), at(30));
    assert_eq!(note(head, at(30), false).await, Some(expected));

    // A cursor move keeps the noted head.
    let forward = cursor_move("ETH", Some(&mark(100, 0)), &mark(131, 0));
    commit(&store, [forward]).await.unwrap();
    let after_move = cursor_of(&store, "ETH").await.expect("cursor");
    let expected = noted(131, head, at(20), after_move.updated_at);
    assert_eq!(after_move, expected);

    // A shorter head (after a reorg) is noted as it is; caught up again, at a microsecond.
    let round = Timestamp::from_micros(at(40).micros() + 7);
    let head = (129, at(41));
    let expected = noted(131, head, round, round);
    assert_eq!(note(head, round, true).await, Some(expected));

    // The other chain is untouched.
    assert_eq!(cursor_of(&store, "BSC").await, Some(bsc_before));
}

// ---------------------------------------------------------------------------------------------
// Chain leases
// ---------------------------------------------------------------------------------------------

async fn chain_leases_take_renew_release(store: SqlStore) {
    let eth = chain("ETH");
    let bsc = chain("BSC");
    let lease = |key: &ChainKey, holder: &str, now: i64, until: i64| {
        let store = store.clone();
        let key = key.clone();
        let holder = holder.to_owned();
        async move {
            store
                .take_lease(key.as_str(), &holder, at(now), at(until))
                .await
                .unwrap()
        }
    };

    assert!(lease(&eth, "A", 0, 30).await, "a free lease is taken");
    assert!(!lease(&eth, "B", 10, 40).await, "A's lease is live");
    assert!(lease(&eth, "A", 20, 50).await, "the holder renews");
    assert!(
        !lease(&eth, "B", 40, 70).await,
        "the renewed lease is live past the first expiry"
    );
    assert!(lease(&bsc, "B", 40, 70).await, "leases are per chain");
    assert!(lease(&eth, "B", 51, 80).await, "expired: B takes it");
    assert!(!lease(&eth, "A", 52, 82).await, "A lost it");

    // A release by someone else does nothing.
    store.release_lease(eth.as_str(), "A").await.unwrap();
    store.release_lease(eth.as_str(), "C").await.unwrap();
    assert!(!lease(&eth, "C", 53, 83).await, "B still holds it");

    // A release by the holder frees the lease at once, long before it would expire.
    store.release_lease(eth.as_str(), "B").await.unwrap();
    assert!(lease(&eth, "C", 54, 84).await, "released: C takes it");
    assert!(!lease(&eth, "B", 55, 85).await, "C holds it now");
    // Only that chain's lease was released.
    assert!(!lease(&bsc, "C", 55, 85).await, "B still holds BSC");

    // Releasing what nobody holds, or twice, is fine.
    store
        .release_lease(chain("POLYGON").as_str(), "A")
        .await
        .unwrap();
    store.release_lease(eth.as_str(), "B").await.unwrap();
    assert!(!lease(&eth, "A", 56, 86).await, "C still holds it");

    // The holder may renew after expiry when nobody took it meanwhile.
    assert!(lease(&eth, "C", 200, 230).await);
    assert!(!lease(&eth, "A", 229, 260).await);
    // And releasing BSC lets anyone in.
    store.release_lease(bsc.as_str(), "B").await.unwrap();
    assert!(lease(&bsc, "A", 56, 86).await);
}

/// Ten holders race for a chain's lease; the winners.
async fn race_for_lease(store: &SqlStore, key: &str, round: &str, now: i64) -> Vec<String> {
    let tasks = (0..10)
        .map(|n| {
            let store = store.clone();
            let key = chain(key);
            let holder = format!("{round}-{n}");
            tokio::spawn(async move {
                let won = store
                    .take_lease(key.as_str(), &holder, at(now), at(now + 30))
                    .await
                    .unwrap();
                won.then_some(holder)
            })
        })
        .collect::<Vec<_>>();
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(holder) = task.await.unwrap() {
            winners.push(holder);
        }
    }
    winners
}

async fn chain_leases_race(store: SqlStore) {
    // A lease nobody ever held.
    let winners = race_for_lease(&store, "ETH", "first", 0).await;
    assert_eq!(winners.len(), 1, "exactly one holder: {winners:?}");
    let first = winners[0].clone();
    assert!(
        store
            .take_lease(chain("ETH").as_str(), &first, at(10), at(40))
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_lease(chain("ETH").as_str(), "first-x", at(10), at(40))
            .await
            .unwrap()
    );

    // An expired lease.
    let winners = race_for_lease(&store, "ETH", "second", 100).await;
    assert_eq!(winners.len(), 1, "exactly one holder: {winners:?}");
    let second = winners[0].clone();
    assert!(
        !store
            .take_lease(chain("ETH").as_str(), &first, at(101), at(131))
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease(chain("ETH").as_str(), &second, at(101), at(131))
            .await
            .unwrap()
    );

    // A released lease.
    store
        .release_lease(chain("ETH").as_str(), &second)
        .await
        .unwrap();
    let winners = race_for_lease(&store, "ETH", "third", 102).await;
    assert_eq!(winners.len(), 1, "exactly one holder: {winners:?}");
    assert!(
        !store
            .take_lease(chain("ETH").as_str(), &second, at(103), at(133))
            .await
            .unwrap()
    );
}

async fn chain_leases_taken_from_a_named_holder(store: SqlStore) {
    let eth = chain("ETH");
    assert_eq!(store.lease_holder(eth.as_str()).await.unwrap(), None);
    assert!(
        !store
            .take_lease_from(eth.as_str(), "old", "new", at(40))
            .await
            .unwrap(),
        "nobody holds it: nothing to take from"
    );
    assert!(
        store
            .take_lease(eth.as_str(), "old", at(0), at(30))
            .await
            .unwrap()
    );
    assert_eq!(
        store.lease_holder(eth.as_str()).await.unwrap().as_deref(),
        Some("old")
    );
    // Live, yet taken from the holder named, and only from it.
    assert!(
        !store
            .take_lease_from(eth.as_str(), "other", "new", at(40))
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease_from(eth.as_str(), "old", "new", at(40))
            .await
            .unwrap()
    );
    assert_eq!(
        store.lease_holder(eth.as_str()).await.unwrap().as_deref(),
        Some("new")
    );
    // The new holder renews it; the old one lost it; it lasts as long as it was given.
    assert!(
        store
            .take_lease(eth.as_str(), "new", at(5), at(45))
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_lease(eth.as_str(), "old", at(6), at(36))
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_lease(eth.as_str(), "third", at(44), at(74))
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease(eth.as_str(), "third", at(46), at(76))
            .await
            .unwrap()
    );
    // Two takers from the same holder: one wins.
    let tasks = ["a", "b"].map(|taker| {
        let store = store.clone();
        let eth = eth.clone();
        tokio::spawn(async move {
            store
                .take_lease_from(eth.as_str(), "third", taker, at(90))
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
    store.release_lease(eth.as_str(), "a").await.unwrap();
    store.release_lease(eth.as_str(), "b").await.unwrap();
    assert_eq!(store.lease_holder(eth.as_str()).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Transfers
// ---------------------------------------------------------------------------------------------

async fn transfers_record_round_trip(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "TR1", 1);
    insert_new(&store, &paying).await;
    let eth = chain("ETH");

    let largest = Transfer {
        chain: eth.clone(),
        tx_hash: tx_hash(0xdead_beef),
        log_index: 7,
        block_number: 19_000_123,
        block_hash: block_hash(19_000_123, 9),
        block_time: Timestamp::from_micros(T0 + 1),
        token: paying.token.clone(),
        from: Address::Evm(EvmAddress::from_bytes([0xff; 20])),
        to: paying.deposit_address,
        amount: units(u128::MAX),
        order_sysid: paying.sysid.clone(),
        state: TransferState::Pending,
        observed_at: Timestamp::from_micros(T0 + 999_999),
    };
    // Same transaction, another log: a zero amount from the zero address, already credited.
    let smallest = Transfer {
        log_index: 0,
        from: Address::Evm(EvmAddress::ZERO),
        amount: TokenAmount::ZERO,
        state: TransferState::Credited,
        observed_at: at(-1),
        ..largest.clone()
    };
    assert!(of_tx(&store, &eth, &largest.tx_hash).await.is_empty());
    record(&store, &[&largest, &smallest]).await;

    let both = of_tx(&store, &eth, &largest.tx_hash).await;
    assert_eq!(both, vec![smallest.clone(), largest.clone()]);
    let got = &both[1];
    assert_eq!(got.amount.base_units(), u128::MAX);
    assert_eq!(got.block_time.micros(), T0 + 1);
    assert_eq!(got.observed_at.micros(), T0 + 999_999);
    assert_eq!(got.from, Address::Evm(EvmAddress::from_bytes([0xff; 20])));
    assert_eq!(got.to, paying.deposit_address);
    assert_eq!(got.block_hash, block_hash(19_000_123, 9));
    assert_eq!(both[0].amount, TokenAmount::ZERO);
    assert_eq!(both[0].from, Address::Evm(EvmAddress::ZERO));

    // Every read returns the same values.
    assert_eq!(
        of_order(&store, &paying).await,
        vec![smallest.clone(), largest.clone()]
    );
    assert_eq!(
        above(&store, &eth, 19_000_122).await,
        vec![smallest.clone(), largest.clone()]
    );
    assert!(above(&store, &eth, 19_000_123).await.is_empty());
    assert_eq!(
        pending_up_to(&store, &eth, 19_000_123, 10).await,
        vec![largest.clone()]
    );
    assert!(pending_up_to(&store, &eth, 19_000_122, 10).await.is_empty());

    // A transfer for an order that does not exist is refused, and nothing of its set stays.
    let ghost = Transfer {
        tx_hash: tx_hash(0xdead),
        order_sysid: "OR-missing".to_owned(),
        ..largest.clone()
    };
    let orphan_sibling = Transfer {
        tx_hash: tx_hash(0xdead),
        log_index: 8,
        ..largest.clone()
    };
    let result = commit(&store, records(&[&orphan_sibling, &ghost])).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert!(of_tx(&store, &eth, &ghost.tx_hash).await.is_empty());
}

async fn transfers_record_idempotent_and_reversed(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "TR2", 1);
    insert_new(&store, &paying).await;
    let eth = chain("ETH");
    let original = transfer(&paying, 1, 3, 200, TransferState::Pending);
    record(&store, &[&original]).await;
    assert_eq!(
        stored_transfer(&store, &original).await,
        Some(original.clone())
    );

    // A rescan reports the same key again, with whatever differences: nothing changes.
    let rescanned = Transfer {
        block_number: 201,
        block_hash: block_hash(201, 1),
        block_time: block_time(201),
        from: outsider(99),
        amount: units(5),
        state: TransferState::Credited,
        observed_at: at(999),
        ..original.clone()
    };
    record(&store, &[&rescanned]).await;
    assert_eq!(
        stored_transfer(&store, &original).await,
        Some(original.clone())
    );
    // Twice within one set as well.
    record(&store, &[&original, &rescanned, &original]).await;
    assert_eq!(
        of_tx(&store, &eth, &original.tx_hash).await,
        vec![original.clone()]
    );

    // Credited, then seen again: still credited and unchanged.
    set_state(
        &store,
        &original,
        TransferState::Pending,
        TransferState::Credited,
    )
    .await
    .unwrap();
    let credited = in_state(&original, TransferState::Credited);
    record(&store, &[&in_state(&rescanned, TransferState::Pending)]).await;
    record(&store, &[&original]).await;
    assert_eq!(
        stored_transfer(&store, &original).await,
        Some(credited.clone())
    );

    // Reversed: kept, but no longer among the live transfers above a height.
    set_state(
        &store,
        &original,
        TransferState::Credited,
        TransferState::Reversed,
    )
    .await
    .unwrap();
    let reversed = in_state(&original, TransferState::Reversed);
    assert_eq!(
        stored_transfer(&store, &original).await,
        Some(reversed.clone())
    );
    assert!(above(&store, &eth, 0).await.is_empty());
    assert_eq!(of_order(&store, &paying).await, vec![reversed.clone()]);

    // Seen again under the same key: back on the chain in its new block, credited.
    let reincluded = Transfer {
        block_number: 230,
        block_hash: block_hash(230, 2),
        block_time: just_after(block_time(230)),
        state: TransferState::Pending,
        observed_at: at(5_000),
        ..original.clone()
    };
    record(&store, &[&reincluded]).await;
    let back = Transfer {
        block_number: 230,
        block_hash: block_hash(230, 2),
        block_time: reincluded.block_time,
        state: TransferState::Credited,
        ..original.clone()
    };
    assert_eq!(stored_transfer(&store, &original).await, Some(back.clone()));
    assert_eq!(above(&store, &eth, 229).await, vec![back.clone()]);
    assert!(above(&store, &eth, 230).await.is_empty());
    assert!(pending_up_to(&store, &eth, 1_000, 10).await.is_empty());

    // Credited again, a further rescan leaves it as it is.
    record(&store, &[&rescanned, &original]).await;
    assert_eq!(stored_transfer(&store, &original).await, Some(back));
}

async fn transfers_set_state_and_forget_pending(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "TR3", 1);
    insert_new(&store, &paying).await;
    let a = transfer(&paying, 1, 0, 300, TransferState::Pending);
    let b = transfer(&paying, 2, 0, 301, TransferState::Pending);
    let c = transfer(&paying, 3, 0, 302, TransferState::Pending);
    record(&store, &[&a, &b, &c]).await;
    let all_unchanged = || async {
        assert_eq!(stored_transfer(&store, &a).await, Some(a.clone()));
        assert_eq!(stored_transfer(&store, &b).await, Some(b.clone()));
        assert_eq!(stored_transfer(&store, &c).await, Some(c.clone()));
    };

    // A wrong `from` conflicts, and the valid changes before it are not applied either.
    let result = commit(
        &store,
        [
            transition(&b, TransferState::Pending, TransferState::Credited),
            TransferChange::ForgetPending(c.key()),
            transition(&a, TransferState::Credited, TransferState::Reversed),
        ],
    )
    .await;
    assert_eq!(result, Err(CommitError::Conflict));
    all_unchanged().await;

    // A transfer that does not exist (another log, another chain) conflicts.
    let missing = Transfer {
        log_index: 1,
        ..a.clone()
    };
    let other_chain = Transfer {
        chain: chain("BSC"),
        ..a.clone()
    };
    for ghost in [&missing, &other_chain] {
        let result = set_state(
            &store,
            ghost,
            TransferState::Pending,
            TransferState::Credited,
        )
        .await;
        assert_eq!(result, Err(CommitError::Conflict));
        assert_eq!(
            forget_pending(&store, ghost).await,
            Err(CommitError::Conflict)
        );
    }
    all_unchanged().await;

    // The right `from` moves it.
    commit(
        &store,
        [
            transition(&a, TransferState::Pending, TransferState::Credited),
            transition(&b, TransferState::Pending, TransferState::Credited),
        ],
    )
    .await
    .unwrap();
    let a_credited = in_state(&a, TransferState::Credited);
    assert_eq!(stored_transfer(&store, &a).await, Some(a_credited.clone()));
    assert_eq!(
        stored_transfer(&store, &b).await,
        Some(in_state(&b, TransferState::Credited))
    );
    // The same change again is stale.
    let result = set_state(&store, &a, TransferState::Pending, TransferState::Credited).await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_eq!(stored_transfer(&store, &a).await, Some(a_credited.clone()));

    // ForgetPending deletes a PENDING transfer, once.
    forget_pending(&store, &c).await.unwrap();
    assert_eq!(stored_transfer(&store, &c).await, None);
    assert_eq!(forget_pending(&store, &c).await, Err(CommitError::Conflict));
    // It never deletes a CREDITED or REVERSED one.
    assert_eq!(forget_pending(&store, &a).await, Err(CommitError::Conflict));
    assert_eq!(stored_transfer(&store, &a).await, Some(a_credited.clone()));
    set_state(&store, &b, TransferState::Credited, TransferState::Reversed)
        .await
        .unwrap();
    assert_eq!(forget_pending(&store, &b).await, Err(CommitError::Conflict));
    let b_reversed = in_state(&b, TransferState::Reversed);
    assert_eq!(stored_transfer(&store, &b).await, Some(b_reversed.clone()));
    assert_eq!(
        of_order(&store, &paying).await,
        vec![a_credited.clone(), b_reversed.clone()]
    );

    // A forgotten transfer can be recorded again; forgetting and recording its replacement on
    // the new fork in one set works too.
    record(&store, &[&c]).await;
    assert_eq!(stored_transfer(&store, &c).await, Some(c.clone()));
    let c_on_fork = Transfer {
        block_number: 303,
        block_hash: block_hash(303, 1),
        block_time: block_time(303),
        ..c.clone()
    };
    commit(
        &store,
        [TransferChange::ForgetPending(c.key()), recorded(&c_on_fork)],
    )
    .await
    .unwrap();
    assert_eq!(stored_transfer(&store, &c).await, Some(c_on_fork.clone()));
    assert_eq!(
        pending_up_to(&store, &chain("ETH"), 1_000, 10).await,
        vec![c_on_fork]
    );
}

/// A change set recording transfers and moving them on (as the watcher does when it records
/// and credits in one commit): new ones end in the moved-to state, stored ones are moved by
/// compare-and-set, and one stored in another state makes the whole commit a conflict.
async fn transfers_recorded_and_moved_in_one_commit(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "TR4", 1);
    insert_new(&store, &paying).await;
    let known = transfer(&paying, 1, 0, 300, TransferState::Pending);
    let fresh = transfer(&paying, 2, 0, 301, TransferState::Pending);
    let credited_before = transfer(&paying, 3, 0, 302, TransferState::Pending);
    record(&store, &[&known, &credited_before]).await;
    set_state(
        &store,
        &credited_before,
        TransferState::Pending,
        TransferState::Credited,
    )
    .await
    .unwrap();
    let record_and_credit = |transfers: &[&Transfer]| {
        let mut changes = records(transfers);
        changes.extend(
            transfers
                .iter()
                .map(|t| transition(t, TransferState::Pending, TransferState::Credited)),
        );
        change_set(changes)
    };
    let credited = |t: &Transfer| Transfer {
        state: TransferState::Credited,
        ..t.clone()
    };

    // Already credited: the move conflicts, and the new record is not kept either.
    let result = store
        .commit(record_and_credit(&[&fresh, &credited_before]))
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    assert_eq!(stored_transfer(&store, &fresh).await, None);

    store
        .commit(record_and_credit(&[&fresh, &known]))
        .await
        .unwrap();
    assert_eq!(
        stored_transfer(&store, &fresh).await,
        Some(credited(&fresh))
    );
    assert_eq!(
        stored_transfer(&store, &known).await,
        Some(credited(&known))
    );

    // Once more: both are stored credited now, so moving them from pending conflicts.
    let result = store.commit(record_and_credit(&[&fresh, &known])).await;
    assert_eq!(result, Err(CommitError::Conflict));
}

async fn transfers_queries(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let o1 = order(&ids[0], "Q1", 1);
    let o2 = order(&ids[0], "Q2", 2);
    let o3 = on_token(order(&ids[0], "Q3", 3), "BSC_USDT");
    insert_orders(&store, &[&o1, &o2, &o3]).await;
    let eth = chain("ETH");
    let bsc = chain("BSC");
    use TransferState::{Credited, Pending};
    let e1 = transfer(&o1, 1, 5, 100, Credited);
    let e2 = transfer(&o1, 2, 1, 101, Pending);
    let e3 = transfer(&o2, 3, 0, 101, Pending);
    let e4 = transfer(&o2, 4, 2, 103, Credited);
    let e5 = transfer(&o1, 5, 0, 104, Pending);
    let e6 = transfer(&o2, 6, 9, 110, Credited);
    let e7 = transfer(&o1, 2, 4, 101, Pending); // Same transaction as e2.
    let b1 = transfer(&o3, 2, 3, 101, Pending); // Same hash as e2, on another chain.
    let b2 = transfer(&o3, 7, 0, 50, Pending);
    record(&store, &[&e6, &b1, &e4, &e2, &e7, &e1, &b2, &e5, &e3]).await;
    set_state(&store, &e4, Credited, TransferState::Reversed)
        .await
        .unwrap();
    let e4 = in_state(&e4, TransferState::Reversed);
    let list = |items: &[&Transfer]| items.iter().map(|t| (*t).clone()).collect::<Vec<_>>();

    // Above a height: PENDING and CREDITED, by block then log index.
    assert_eq!(
        above(&store, &eth, 100).await,
        list(&[&e3, &e2, &e7, &e5, &e6])
    );
    assert_eq!(
        above(&store, &eth, 99).await,
        list(&[&e1, &e3, &e2, &e7, &e5, &e6])
    );
    assert_eq!(above(&store, &eth, 104).await, list(&[&e6]));
    assert!(above(&store, &eth, 110).await.is_empty());
    assert_eq!(above(&store, &bsc, 0).await, list(&[&b2, &b1]));
    assert!(above(&store, &chain("POLYGON"), 0).await.is_empty());

    // PENDING at or below a height, by block then log index, at most `limit`.
    assert_eq!(
        pending_up_to(&store, &eth, 104, 10).await,
        list(&[&e3, &e2, &e7, &e5])
    );
    assert_eq!(
        pending_up_to(&store, &eth, 1_000, 10).await,
        list(&[&e3, &e2, &e7, &e5])
    );
    assert_eq!(
        pending_up_to(&store, &eth, 103, 10).await,
        list(&[&e3, &e2, &e7])
    );
    assert_eq!(pending_up_to(&store, &eth, 104, 2).await, list(&[&e3, &e2]));
    assert_eq!(pending_up_to(&store, &eth, 104, 1).await, list(&[&e3]));
    assert!(pending_up_to(&store, &eth, 100, 10).await.is_empty());
    assert_eq!(
        pending_up_to(&store, &bsc, 1_000, 10).await,
        list(&[&b2, &b1])
    );
    assert_eq!(pending_up_to(&store, &bsc, 100, 10).await, list(&[&b2]));

    // A transaction's transfers on one chain, any state, by log index.
    assert_eq!(of_tx(&store, &eth, &tx_hash(2)).await, list(&[&e2, &e7]));
    assert_eq!(of_tx(&store, &bsc, &tx_hash(2)).await, list(&[&b1]));
    assert_eq!(of_tx(&store, &eth, &tx_hash(4)).await, list(&[&e4]));
    assert!(of_tx(&store, &eth, &tx_hash(7)).await.is_empty());
    assert!(of_tx(&store, &eth, &tx_hash(99)).await.is_empty());

    // Orders' transfers, any state and chain, oldest first.
    assert_eq!(of_order(&store, &o1).await, list(&[&e1, &e2, &e7, &e5]));
    assert_eq!(of_order(&store, &o2).await, list(&[&e3, &e4, &e6]));
    let every = [
        o3.sysid.clone(),
        "OR-missing".to_owned(),
        o1.sysid.clone(),
        o2.sysid.clone(),
    ];
    assert_eq!(
        store.transfers_of_orders(&every).await.unwrap(),
        list(&[&b2, &e1, &e3, &e2, &b1, &e7, &e4, &e5, &e6])
    );
    assert!(
        store
            .transfers_of_orders(&["OR-missing".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.transfers_of_orders(&[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Lookups by many keys (past the IN-list chunk of 500)
// ---------------------------------------------------------------------------------------------

async fn chain_lookups_past_in_list_limit(store: SqlStore) {
    const COUNT: u64 = 1_050;
    let ids = insert_apps(&store, &[1, 2]).await;
    let mut orders = Vec::new();
    for index in 1..=COUNT {
        let owner = &ids[usize::from(index % 2 == 0)];
        let order = order(owner, &format!("N{index:05}"), index);
        insert_new(&store, &order).await;
        orders.push(order);
    }
    let by_sysid = |found: Vec<Order>| {
        let mut found = found;
        found.sort_by(|a, b| a.sysid.cmp(&b.sysid));
        found
    };

    // Every address, with unknown ones in between, in three chunks.
    let mut addresses = Vec::new();
    for (n, order) in (0u64..).zip(&orders) {
        addresses.push(order.deposit_address);
        if n % 97 == 0 {
            addresses.push(outsider(n));
        }
    }
    assert!(addresses.len() > 1_000);
    let found = by_sysid(store.orders_by_deposit_addresses(&addresses).await.unwrap());
    assert_eq!(found.len(), orders.len());
    for (got, expected) in found.iter().zip(&orders) {
        assert_same_order(got, expected);
    }
    // A subset, in reverse.
    let some = orders
        .iter()
        .rev()
        .step_by(3)
        .map(|o| o.deposit_address)
        .collect::<Vec<_>>();
    let found = by_sysid(store.orders_by_deposit_addresses(&some).await.unwrap());
    let expected = by_sysid(orders.iter().rev().step_by(3).cloned().collect());
    assert_eq!(found, expected);
    assert_eq!(found.len(), 350);
    // Unknown addresses only, one address, none.
    let unknown = (0..600).map(outsider).collect::<Vec<_>>();
    assert!(
        store
            .orders_by_deposit_addresses(&unknown)
            .await
            .unwrap()
            .is_empty()
    );
    let one = store
        .orders_by_deposit_addresses(&[orders[700].deposit_address])
        .await;
    assert_eq!(one.unwrap(), vec![orders[700].clone()]);
    assert!(
        store
            .orders_by_deposit_addresses(&[])
            .await
            .unwrap()
            .is_empty()
    );

    // By system id.
    for order in [&orders[0], &orders[701], &orders[1_049]] {
        let got = store.order_by_sysid(&order.sysid).await.unwrap();
        assert_same_order(&got.expect("order by sysid"), order);
    }
    assert_eq!(store.order_by_sysid("OR-missing").await.unwrap(), None);
    assert_eq!(store.order_by_sysid("").await.unwrap(), None);

    // One transfer per order; later orders have older blocks, so the oldest transfers are in
    // the last chunk of system ids.
    let transfers = (0u64..)
        .zip(&orders)
        .map(|(n, order)| {
            let state = if n % 2 == 0 {
                TransferState::Pending
            } else {
                TransferState::Credited
            };
            transfer(order, n + 1, n % 3, 10_000 - n / 2, state)
        })
        .collect::<Vec<_>>();
    commit(&store, transfers.iter().map(recorded))
        .await
        .unwrap();
    let mut oldest_first = transfers.clone();
    oldest_first.sort_by_key(|t| (t.block_number, t.log_index));

    let mut sysids = orders.iter().map(|o| o.sysid.clone()).collect::<Vec<_>>();
    sysids.insert(250, "OR-missing".to_owned());
    sysids.push("OR-missing-too".to_owned());
    let found = store.transfers_of_orders(&sysids).await.unwrap();
    let positions = |list: &[Transfer]| {
        list.iter()
            .map(|t| (t.block_number, t.log_index))
            .collect::<Vec<_>>()
    };
    assert_eq!(found.len(), transfers.len());
    assert_eq!(positions(&found), positions(&oldest_first), "oldest first");
    assert_eq!(found, oldest_first, "every transfer, oldest first");

    let some = orders
        .iter()
        .step_by(2)
        .map(|o| o.sysid.clone())
        .collect::<Vec<_>>();
    let found = store.transfers_of_orders(&some).await.unwrap();
    let expected = oldest_first
        .iter()
        .filter(|t| some.contains(&t.order_sysid))
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 525);
    assert_eq!(positions(&found), positions(&expected), "oldest first");
    assert_eq!(found, expected);
}

// ---------------------------------------------------------------------------------------------
// Abnormal payments
// ---------------------------------------------------------------------------------------------

async fn abnormal_round_trip_and_update(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let late = order(&ids[0], "AB1", 1);
    insert_new(&store, &late).await;

    // No transfer, no payer; and every optional field set, amounts at their limits.
    let bare = abnormal(1, &late, AbnormalKind::UnderPaid, 10);
    let full = AbnormalPayment {
        amount: units(u128::MAX),
        pending_amount: units(u128::MAX - 1),
        tx_hash: Some(tx_hash(0xabc)),
        payer: Some(Address::Evm(EvmAddress::from_bytes([0xfe; 20]))),
        created_at: just_after(at(20)),
        updated_at: Timestamp::from_micros(at(21).micros() + 3),
        ..abnormal(2, &late, AbnormalKind::OverPaid, 20)
    };
    let zero = AbnormalPayment {
        amount: TokenAmount::ZERO,
        pending_amount: TokenAmount::ZERO,
        tx_hash: Some(tx_hash(0xdef)),
        payer: None,
        status: AbnormalStatus::Handled,
        version: 5,
        ..abnormal(3, &late, AbnormalKind::LatePayment, 5)
    };
    assert!(abnormal_of(&store, &ids[0]).await.is_empty());
    create(&store, &[&bare, &full, &zero]).await;
    let listed = abnormal_of(&store, &ids[0]).await;
    assert_eq!(listed, vec![full.clone(), bare.clone(), zero.clone()]);
    assert_eq!(listed[0].amount.base_units(), u128::MAX);
    assert_eq!(listed[0].pending_amount.base_units(), u128::MAX - 1);
    assert_eq!(
        listed[0].payer,
        Some(Address::Evm(EvmAddress::from_bytes([0xfe; 20])))
    );
    assert_eq!(listed[0].tx_hash, Some(tx_hash(0xabc)));
    assert_eq!(listed[0].created_at.micros(), at(20).micros() + 1);
    assert_eq!(listed[1].payer, None);
    assert_eq!(listed[1].tx_hash, None);
    assert_eq!(listed[2].amount, TokenAmount::ZERO);
    assert_eq!(listed[2].version, 5);

    // Update from the version read.
    let handled = AbnormalPayment {
        pending_amount: TokenAmount::ZERO,
        status: AbnormalStatus::Handled,
        updated_at: at(60),
        version: 2,
        ..full.clone()
    };
    update(&store, 1, &handled).await.unwrap();
    assert_eq!(
        abnormal_of(&store, &ids[0]).await,
        vec![handled.clone(), bare.clone(), zero.clone()]
    );

    // A stale version conflicts and changes nothing.
    let stale = AbnormalPayment {
        pending_amount: units(5),
        status: AbnormalStatus::Pending,
        updated_at: at(70),
        version: 2,
        ..full.clone()
    };
    assert_eq!(update(&store, 1, &stale).await, Err(CommitError::Conflict));
    // So does a version from the future, and a payment that does not exist.
    let future = AbnormalPayment {
        version: 9,
        ..stale.clone()
    };
    assert_eq!(update(&store, 8, &future).await, Err(CommitError::Conflict));
    let ghost = AbnormalPayment {
        version: 2,
        ..abnormal(99, &late, AbnormalKind::OverPaid, 1)
    };
    assert_eq!(update(&store, 1, &ghost).await, Err(CommitError::Conflict));
    // A version that does not advance by one is refused.
    let skipping = AbnormalPayment {
        version: 4,
        ..handled.clone()
    };
    let result = update(&store, 2, &skipping).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    // The same number twice, or for an order that does not exist, is refused.
    let result = commit(
        &store,
        [AbnormalChange::Create(AbnormalPayment {
            amount: units(1),
            ..bare.clone()
        })],
    )
    .await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    let orphan = AbnormalPayment {
        order_sysid: "OR-missing".to_owned(),
        ..abnormal(4, &late, AbnormalKind::OverPaid, 30)
    };
    let result = commit(&store, [AbnormalChange::Create(orphan)]).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_eq!(
        abnormal_of(&store, &ids[0]).await,
        vec![handled.clone(), bare.clone(), zero.clone()]
    );

    // Later changes go on from the new version; two updates of one payment in one set chain.
    let partly = AbnormalPayment {
        pending_amount: units(1_000_000),
        updated_at: at(80),
        version: 2,
        ..bare.clone()
    };
    let settled = AbnormalPayment {
        pending_amount: TokenAmount::ZERO,
        status: AbnormalStatus::Handled,
        updated_at: at(90),
        version: 3,
        ..bare.clone()
    };
    commit(
        &store,
        [
            AbnormalChange::Update {
                expected_version: 1,
                payment: partly,
            },
            AbnormalChange::Update {
                expected_version: 2,
                payment: settled.clone(),
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        abnormal_of(&store, &ids[0]).await,
        vec![handled, settled, zero]
    );
}

async fn abnormal_list_filters_and_pages(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let a1 = order(app1, "L1", 1);
    let a2 = on_token(order(app1, "L2", 2), "BSC_USDT");
    let b1 = order(app2, "L1", 3);
    insert_orders(&store, &[&a1, &a2, &b1]).await;
    use AbnormalKind::{LatePayment, OverPaid, UnderPaid};
    let p1 = abnormal(1, &a1, OverPaid, 10);
    let p2 = abnormal(2, &a1, UnderPaid, 20);
    let p3 = abnormal(3, &a2, LatePayment, 30);
    let p4 = AbnormalPayment {
        status: AbnormalStatus::Handled,
        ..abnormal(4, &a2, OverPaid, 40)
    };
    let p5 = abnormal(5, &a1, LatePayment, 40); // Same instant as p4.
    let p6 = abnormal(6, &b1, OverPaid, 25);
    create(&store, &[&p3, &p6, &p1, &p5, &p2, &p4]).await;
    // p2 is handled later: the status filter sees the update.
    let p2_handled = AbnormalPayment {
        status: AbnormalStatus::Handled,
        pending_amount: TokenAmount::ZERO,
        updated_at: at(100),
        version: 2,
        ..p2.clone()
    };
    update(&store, 1, &p2_handled).await.unwrap();

    let everything = AbnormalFilter::default;
    // Newest first; the same instant by number, highest first.
    assert_eq!(
        abnormal_page(&store, app1, everything(), ALL).await,
        (vec![5, 4, 3, 2, 1], 5)
    );
    assert_eq!(
        abnormal_of(&store, app1).await,
        vec![p5.clone(), p4.clone(), p3.clone(), p2_handled, p1.clone()]
    );

    // Each filter.
    let order_no = |no: &str| AbnormalFilter {
        order_no: Some(no.to_owned()),
        ..everything()
    };
    let of_kind = |kind| AbnormalFilter {
        kind: Some(kind),
        ..everything()
    };
    let status = |status| AbnormalFilter {
        status: Some(status),
        ..everything()
    };
    let of_token = |id: &str| AbnormalFilter {
        token: Some(id.to_owned()),
        ..everything()
    };
    let cases = vec![
        (order_no("L1"), vec![5, 2, 1]),
        (order_no("L2"), vec![4, 3]),
        (order_no("L9"), vec![]),
        (of_kind(OverPaid), vec![4, 1]),
        (of_kind(UnderPaid), vec![2]),
        (of_kind(LatePayment), vec![5, 3]),
        (status(AbnormalStatus::Pending), vec![5, 3, 1]),
        (status(AbnormalStatus::Handled), vec![4, 2]),
        (of_token("BSC_USDT"), vec![4, 3]),
        (of_token("ETH_USDT"), vec![5, 2, 1]),
        (of_token("TRON_USDT"), vec![]),
        (
            AbnormalFilter {
                created_from: Some(at(41)),
                ..everything()
            },
            vec![],
        ),
        (
            AbnormalFilter {
                order_no: Some("L1".into()),
                kind: Some(LatePayment),
                status: Some(AbnormalStatus::Pending),
                token: Some("ETH_USDT".into()),
                created_from: Some(at(40)),
                created_to: Some(at(40)),
            },
            vec![5],
        ),
        (
            AbnormalFilter {
                token: Some("ETH_USDT".into()),
                created_from: Some(at(15)),
                ..everything()
            },
            vec![5, 2],
        ),
        (
            AbnormalFilter {
                order_no: Some("L2".into()),
                kind: Some(UnderPaid),
                ..everything()
            },
            vec![],
        ),
    ];
    let created = |created_from, created_to| AbnormalFilter {
        created_from,
        created_to,
        ..everything()
    };
    let list = |filter, page| abnormal_page(&store, app1, filter, page);
    assert_list(list, cases, created).await;

    // Pages.
    let size2 = |page| PageRequest { page, size: 2 };
    let one = PageRequest { page: 5, size: 1 };
    assert_eq!(
        abnormal_page(&store, app1, everything(), one).await,
        (vec![1], 5)
    );
    let pending = status(AbnormalStatus::Pending);
    assert_eq!(
        abnormal_page(&store, app1, pending.clone(), size2(1)).await,
        (vec![5, 3], 3)
    );
    assert_eq!(
        abnormal_page(&store, app1, pending, size2(2)).await,
        (vec![1], 3)
    );

    // Each app sees its own only, even under the same order number.
    assert_eq!(
        abnormal_page(&store, app2, everything(), ALL).await,
        (vec![6], 1)
    );
    assert_eq!(abnormal_of(&store, app2).await, vec![p6]);
    let l1 = order_no("L1");
    assert_eq!(abnormal_page(&store, app2, l1, ALL).await, (vec![6], 1));
    let handled = status(AbnormalStatus::Handled);
    assert_eq!(abnormal_page(&store, app2, handled, ALL).await, (vec![], 0));
    assert_eq!(
        abnormal_page(&store, &app_id(9), everything(), ALL).await,
        (vec![], 0)
    );
}

// ---------------------------------------------------------------------------------------------
// A whole watcher round in one change set
// ---------------------------------------------------------------------------------------------

async fn commit_chain_set_all_or_nothing(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "MIX", 1);
    let bystander = order(&ids[0], "MIX2", 2);
    insert_orders(&store, &[&paying, &bystander]).await;
    let m100 = mark(100, 0);
    let seen = transfer(&paying, 1, 0, 95, TransferState::Pending);
    let doomed = transfer(&paying, 5, 0, 99, TransferState::Pending);
    let earlier = abnormal(1, &bystander, AbnormalKind::UnderPaid, 5);
    store
        .commit(ChangeSet {
            cursor: Some(CursorMove {
                checkpoints: marks(&[90]),
                ..cursor_move("ETH", None, &m100)
            }),
            transfers: records(&[&seen, &doomed]),
            abnormal: vec![AbnormalChange::Create(earlier.clone())],
            events: vec![event("evt_mix_0", &paying)],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    // Someone handles `earlier` meanwhile: it is at version 2.
    let handled = AbnormalPayment {
        status: AbnormalStatus::Handled,
        pending_amount: TokenAmount::ZERO,
        updated_at: at(50),
        version: 2,
        ..earlier.clone()
    };
    update(&store, 1, &handled).await.unwrap();
    let cursor_before = cursor_of(&store, "ETH").await.expect("cursor");

    // A round: the cursor moves on, a new transfer is credited, an old one credited and an
    // abandoned one forgotten, the order is paid with an excess, an abnormal payment is updated,
    // and events announce it all.
    let arrived = transfer(&paying, 2, 3, 108, TransferState::Credited);
    let next = Order {
        paid_amount: units(13_000_000),
        ..paid(&paying, &arrived.tx_hash, 60)
    };
    let excess = AbnormalPayment {
        amount: units(500_000),
        pending_amount: units(500_000),
        tx_hash: Some(arrived.tx_hash.clone()),
        payer: Some(arrived.from),
        ..abnormal(2, &paying, AbnormalKind::OverPaid, 60)
    };
    let round = |update: AbnormalChange, events: Vec<OutboxEvent>| ChangeSet {
        cursor: Some(CursorMove {
            checkpoints: marks(&[105]),
            forget_above: Some(95),
            ..cursor_move("ETH", Some(&m100), &mark(110, 0))
        }),
        transfers: vec![
            recorded(&arrived),
            transition(&seen, TransferState::Pending, TransferState::Credited),
            TransferChange::ForgetPending(doomed.key()),
        ],
        orders: vec![write(&paying, next.clone())],
        abnormal: vec![AbnormalChange::Create(excess.clone()), update],
        events,
        ..ChangeSet::default()
    };
    let untouched = || async {
        assert_eq!(cursor_of(&store, "ETH").await, Some(cursor_before.clone()));
        assert_eq!(checkpoints_of(&store, "ETH").await, marks(&[100, 90]));
        assert_eq!(stored_transfer(&store, &arrived).await, None);
        assert_eq!(stored_transfer(&store, &seen).await, Some(seen.clone()));
        assert_eq!(stored_transfer(&store, &doomed).await, Some(doomed.clone()));
        assert_same_order(&stored(&store, &paying).await, &paying);
        assert_eq!(abnormal_of(&store, &ids[0]).await, vec![handled.clone()]);
    };

    // The abnormal update, the last compare-and-set, is stale: nothing of the set happens.
    let stale = AbnormalChange::Update {
        expected_version: 1,
        payment: AbnormalPayment {
            pending_amount: units(1),
            updated_at: at(60),
            version: 2,
            ..earlier.clone()
        },
    };
    let result = store
        .commit(round(stale, vec![event("evt_mix_1", &next)]))
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    untouched().await;

    // The very last write, an event, fails (its id is taken): nothing happens either.
    let reopened = AbnormalPayment {
        status: AbnormalStatus::Pending,
        pending_amount: units(1),
        updated_at: at(60),
        version: 3,
        ..earlier.clone()
    };
    let fresh = AbnormalChange::Update {
        expected_version: 2,
        payment: reopened.clone(),
    };
    let events = vec![event("evt_mix_1", &next), event("evt_mix_0", &next)];
    let result = store.commit(round(fresh.clone(), events)).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    untouched().await;

    // Every part valid: all of it is committed (and the rejected sets' event ids were free).
    store
        .commit(round(fresh, vec![event("evt_mix_1", &next)]))
        .await
        .unwrap();
    let cursor = cursor_of(&store, "ETH").await.expect("cursor");
    assert_eq!(cursor.processed, mark(110, 0));
    assert_eq!(checkpoints_of(&store, "ETH").await, marks(&[110, 105, 90]));
    assert_eq!(
        stored_transfer(&store, &arrived).await,
        Some(arrived.clone())
    );
    assert_eq!(
        stored_transfer(&store, &seen).await,
        Some(in_state(&seen, TransferState::Credited))
    );
    assert_eq!(stored_transfer(&store, &doomed).await, None);
    assert_same_order(&stored(&store, &paying).await, &next);
    assert_same_order(&stored(&store, &bystander).await, &bystander);
    assert_eq!(abnormal_of(&store, &ids[0]).await, vec![excess, reopened]);
    let result = commit(&store, [event("evt_mix_1", &next)]).await;
    assert!(
        matches!(result, Err(CommitError::Store(_))),
        "the event was written: {result:?}"
    );
}
