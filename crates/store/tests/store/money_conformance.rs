//! The conformance suite of the store's money part: refunds, settlements, payouts, their signed
//! transactions, nonces and the ledger, through `MoneyStore` and the money parts of `ChangeSet`.

use std::collections::HashMap;
use std::fmt::Debug;

use wcheckout_domain::address::Address;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::{Account, Asset, Bucket, Posting, PostingKind, Totals};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::AbnormalKind;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus, SignedTx, Signer};
use wcheckout_domain::ports::{
    AbnormalChange, ChangeSet, ChangeStore, CommitError, LedgerCheck, MoneyStore, NonceTaken,
    OrderStore, OutboxStore, PageRequest, PayoutChange, RefundChange, RefundFilter,
    SettlementChange, SettlementFilter,
};
use wcheckout_domain::refund::{Refund, RefundEvent, RefundSource, RefundStatus};
use wcheckout_domain::settlement::{Settlement, SettlementEvent, SettlementStatus};
use wcheckout_store::SqlStore;
use wcheckout_testkit::store_fixtures::{
    ALL, Versioned, abnormal, app_id, assert_list, at, bank, chain, change_set, commit, create,
    deposit, hot, insert_apps, insert_orders, no, nonce, number, numbered, order, paid, payout,
    race, race_to_create, refund, settlement, signed_tx, sole_winner, token, tx_hash, units,
    update, write,
};

conformance!(
    refunds_create_and_read,
    refunds_duplicate_number_rolls_back,
    refunds_update_compare_and_set,
    refunds_list_filters_and_pages,
    settlements_create_and_read,
    settlements_duplicate_number_rolls_back,
    settlements_update_compare_and_set,
    settlements_list_filters_and_pages,
    settlements_in_status_oldest_first,
    payouts_create_and_read,
    payouts_duplicate_reference_rolls_back,
    payouts_open_and_compare_and_set,
    payouts_signed_txs,
    nonces_forward_only,
    nonces_conflict_rolls_back,
    nonces_taken_concurrently,
    ledger_postings_move_totals,
    ledger_accounts_prefix_and_nonzero,
    ledger_guarded_accounts,
    ledger_check_and_large_amounts,
    ledger_totals_overflow,
    ledger_reserves_concurrently,
    ledger_reserve_and_release_concurrently,
    money_change_set_all_or_nothing,
);

// ---------------------------------------------------------------------------------------------
// Domain value helpers
// ---------------------------------------------------------------------------------------------

/// 10^30 base units: far beyond `i64` and `f64` precision, well within `u128`.
const HUGE: u128 = 1_000_000_000_000_000_000_000_000_000_000;

fn event(id: &str, app: &AppId, object_key: &str) -> OutboxEvent {
    OutboxEvent {
        event_id: id.to_owned(),
        app_id: app.clone(),
        event_type: EventType::RefundOrderChanged,
        object_key: object_key.to_owned(),
        body: format!(r#"{{"eventId":"{id}"}}"#),
        created_at: at(500),
    }
}

fn merchant_account(app: &AppId, merchant: &str, bucket: Bucket) -> Account {
    Account::Merchant {
        app: app.clone(),
        merchant: merchant.to_owned(),
        token: token("ETH_USDT"),
        bucket,
    }
}

fn abnormal_account(app: &AppId) -> Account {
    Account::Abnormal {
        app: app.clone(),
        merchant: "default".to_owned(),
        token: token("ETH_USDT"),
    }
}

/// What deposit address `index` holds of ETH_USDT.
fn custody(index: u64) -> Account {
    Account::Custody {
        chain: chain("ETH"),
        address: deposit(index),
        asset: Asset::Token(token("ETH_USDT")),
    }
}

fn posting(debit: &Account, credit: &Account, amount: u128, kind: PostingKind) -> Posting {
    Posting {
        debit: debit.clone(),
        credit: credit.clone(),
        amount: units(amount),
        kind,
        reference: format!("test:{}", kind.as_str()),
        correction: false,
    }
}

/// A merchant's available balance funded from a deposit address.
fn fund(available: &Account, amount: u128) -> Posting {
    posting(&custody(1), available, amount, PostingKind::PaymentFinal)
}

/// The totals of one account, both sides.
fn totals(debits: u128, credits: u128) -> Totals {
    Totals { debits, credits }
}

// ---------------------------------------------------------------------------------------------
// Store helpers
// ---------------------------------------------------------------------------------------------

async fn take_nonces(store: &SqlStore, taken: &[NonceTaken]) -> Result<(), CommitError> {
    commit(store, taken.to_vec()).await
}

async fn next_nonce(store: &SqlStore, chain_key: &str, address: Address) -> Option<u64> {
    store.next_nonce(&chain(chain_key), &address).await.unwrap()
}

async fn post(store: &SqlStore, postings: &[Posting]) -> Result<(), CommitError> {
    commit(store, postings.to_vec()).await
}

/// An account's totals; an account never posted to is absent from `ledger_totals`.
async fn totals_of(store: &SqlStore, account: &Account) -> Option<Totals> {
    let key = account.key();
    let mut found = store
        .ledger_totals(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(found.len() <= 1, "{found:?}");
    found.remove(&key)
}

/// An account's balance on its normal side (zero when never posted to).
async fn balance_of(store: &SqlStore, account: &Account) -> i128 {
    totals_of(store, account)
        .await
        .unwrap_or_default()
        .balance(account.debit_normal())
}

async fn ledger_check(store: &SqlStore) -> LedgerCheck {
    store.ledger_check().await.unwrap()
}

/// The check of a consistent ledger of `entries` entries adding up to `total`.
fn balanced(entries: u64, total: u128) -> LedgerCheck {
    LedgerCheck {
        entries,
        total,
        account_debits: total,
        account_credits: total,
        mismatched_accounts: Vec::new(),
    }
}

async fn event_stored(store: &SqlStore, event_id: &str) -> bool {
    store.outbox_event(event_id).await.unwrap().is_some()
}

/// Apps 1 and 2 with orders O1 and O2 of app 1 and O1 of app 2 (the same number), inserted.
async fn two_apps_three_orders(store: &SqlStore) -> (Vec<AppId>, [Order; 3]) {
    let ids = insert_apps(store, &[1, 2]).await;
    let orders = [
        order(&ids[0], "O1", 1),
        order(&ids[0], "O2", 2),
        order(&ids[1], "O1", 3),
    ];
    insert_orders(store, &[&orders[0], &orders[1], &orders[2]]).await;
    (ids, orders)
}

/// `next`, the change of `current` (at version 1), written out of turn: from a version not read
/// (a conflict), or at a version that does not advance by exactly one (refused). `read` must
/// find `current` still.
async fn refused_out_of_turn<T, F>(store: &SqlStore, current: &T, next: &T, read: impl Fn() -> F)
where
    T: Versioned + PartialEq + Debug,
    F: Future<Output = T>,
{
    let stale = next.clone().at_version(3);
    assert_eq!(update(store, 2, &stale).await, Err(CommitError::Conflict));
    assert_eq!(&read().await, current);
    for version in [1, 3] {
        let skewed = next.clone().at_version(version);
        let result = update(store, 1, &skewed).await;
        assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
        assert_eq!(&read().await, current);
    }
}

async fn refund_page(
    store: &SqlStore,
    app: &AppId,
    filter: RefundFilter,
    page: PageRequest,
) -> (Vec<u32>, u64) {
    let page = store.list_refunds(app, &filter, page).await.unwrap();
    numbered(page, |refund| &refund.sysid)
}

async fn settlement_page(
    store: &SqlStore,
    app: &AppId,
    filter: SettlementFilter,
    page: PageRequest,
) -> (Vec<u32>, u64) {
    let page = store.list_settlements(app, &filter, page).await.unwrap();
    numbered(page, |settlement| &settlement.sysid)
}

async fn in_status(store: &SqlStore, status: SettlementStatus, limit: u32) -> Vec<u32> {
    let found = store.settlements_in_status(status, limit).await.unwrap();
    found.iter().map(|s| number(&s.sysid)).collect()
}

async fn open_payouts(store: &SqlStore, chain_key: &str, limit: u32) -> Vec<u32> {
    let found = store.open_payouts(&chain(chain_key), limit).await.unwrap();
    found.iter().map(|p| number(&p.id)).collect()
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

async fn refunds_create_and_read(store: SqlStore) {
    let (ids, [first_order, second_order, foreign_order]) = two_apps_three_orders(&store).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let excess = abnormal(1, &first_order, AbnormalKind::OverPaid, 5);
    commit(&store, [AbnormalChange::Create(excess.clone())])
        .await
        .unwrap();

    assert_eq!(
        store
            .refund(&refund(1, &first_order, 0).sysid)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.refund_by_no(app1, &no("R1")).await.unwrap(), None);
    assert!(
        store
            .refunds_of_order(&first_order.sysid)
            .await
            .unwrap()
            .is_empty()
    );

    // Every optional field set, an abnormal payment as the source, an amount beyond i64/f64.
    let full = Refund {
        source: RefundSource::AbnormalPayment(excess.abnormal_payment_no.clone()),
        amount: units(HUGE + 1),
        remark: Some("refund «partial» 50%_off, 'quoted'".to_owned()),
        status: RefundStatus::Refunding,
        tx_hash: Some(tx_hash(77)),
        failure_reason: Some("first attempt reverted".to_owned()),
        ..refund(3, &first_order, 30)
    };
    let bare = refund(1, &first_order, 10);
    // Created in the same microsecond as `full`, with a lower id.
    let twin = refund(2, &first_order, 30);
    let elsewhere = refund(4, &second_order, 5);
    // Another app may use the same refund number.
    let foreign = Refund {
        refund_order_no: no("R1"),
        ..refund(5, &foreign_order, 1)
    };
    create(&store, &[&full, &bare]).await;
    create(&store, &[&elsewhere, &twin, &foreign]).await;

    for expected in [&full, &bare, &twin, &elsewhere, &foreign] {
        let got = store.refund(&expected.sysid).await.unwrap();
        assert_eq!(got.as_ref(), Some(expected));
        let by_no = store
            .refund_by_no(&expected.app_id, &expected.refund_order_no)
            .await
            .unwrap();
        assert_eq!(by_no.as_ref(), Some(expected));
    }
    assert_eq!(store.refund_by_no(app2, &no("R3")).await.unwrap(), None);
    assert_eq!(store.refund_by_no(app1, &no("R9")).await.unwrap(), None);
    assert_eq!(
        store
            .refund(&refund(9, &first_order, 0).sysid)
            .await
            .unwrap(),
        None
    );

    // By order, oldest first; the same instant by id.
    let of = |order: &Order| {
        let store = store.clone();
        let sysid = order.sysid.clone();
        async move { store.refunds_of_order(&sysid).await.unwrap() }
    };
    assert_eq!(of(&first_order).await, vec![bare.clone(), twin, full]);
    assert_eq!(of(&second_order).await, vec![elsewhere]);
    assert_eq!(of(&foreign_order).await, vec![foreign]);
    assert!(
        store
            .refunds_of_order("OR-missing")
            .await
            .unwrap()
            .is_empty()
    );

    // A refund of an order or an abnormal payment that does not exist is refused.
    let orphan = Refund {
        order_sysid: "OR-missing".to_owned(),
        ..refund(6, &first_order, 60)
    };
    let no_source = Refund {
        source: RefundSource::AbnormalPayment("AP-missing".to_owned()),
        ..refund(7, &first_order, 60)
    };
    for bad in [orphan, no_source] {
        let result = commit(&store, [RefundChange::Create(bad.clone())]).await;
        assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
        assert_eq!(store.refund(&bad.sysid).await.unwrap(), None);
    }
    assert_eq!(of(&first_order).await.len(), 3);
}

async fn refunds_duplicate_number_rolls_back(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let paying = order(app1, "O1", 1);
    let foreign_order = order(app2, "O1", 2);
    insert_orders(&store, &[&paying, &foreign_order]).await;
    let first = refund(1, &paying, 10);
    create(&store, &[&first]).await;

    // A set with a part of every kind, whose last refund reuses the number of `first`.
    let available = merchant_account(app1, "default", Bucket::Available);
    let excess = abnormal(1, &paying, AbnormalKind::OverPaid, 20);
    let other = refund(2, &paying, 20);
    let clash = Refund {
        refund_order_no: first.refund_order_no.clone(),
        amount: units(7),
        ..refund(9, &paying, 20)
    };
    let new_settlement = settlement(1, app1, 20);
    let new_payout = payout(1, "ETH", PayoutKind::Refund, 20);
    let set = |refunds: Vec<RefundChange>| ChangeSet {
        orders: vec![write(&paying, paid(&paying, &tx_hash(9_999), 60))],
        abnormal: vec![AbnormalChange::Create(excess.clone())],
        refunds,
        settlements: vec![SettlementChange::Create(new_settlement.clone())],
        payouts: vec![PayoutChange::Create(new_payout.clone())],
        nonces: vec![nonce("ETH", hot(1), 0)],
        signed_txs: vec![signed_tx(&new_payout, 1, 0, 20)],
        postings: vec![fund(&available, 1_000)],
        events: vec![event("evt_refund_2", app1, "refund:2")],
        ..ChangeSet::default()
    };
    let with_clash = vec![
        RefundChange::Create(other.clone()),
        RefundChange::Create(clash.clone()),
    ];
    let result = store.commit(set(with_clash)).await;
    assert_eq!(result, Err(CommitError::Conflict));
    let nothing_written = || async {
        let by_no = store.refund_by_no(app1, &first.refund_order_no).await;
        assert_eq!(by_no.unwrap(), Some(first.clone()));
        assert_eq!(store.refund(&clash.sysid).await.unwrap(), None);
        assert_eq!(store.refund(&other.sysid).await.unwrap(), None);
        let order_now = store.order_by_no(app1, &paying.order_no).await.unwrap();
        assert_eq!(order_now.unwrap().version, 1);
        let excess_now = store.abnormal_payment(&excess.abnormal_payment_no).await;
        assert_eq!(excess_now.unwrap(), None);
        assert_eq!(store.settlement(&new_settlement.sysid).await.unwrap(), None);
        assert_eq!(store.payout(&new_payout.id).await.unwrap(), None);
        assert!(store.signed_txs(&new_payout.id).await.unwrap().is_empty());
        assert_eq!(next_nonce(&store, "ETH", hot(1)).await, None);
        assert_eq!(totals_of(&store, &available).await, None);
        assert_eq!(ledger_check(&store).await, balanced(0, 0));
        assert!(!event_stored(&store, "evt_refund_2").await);
    };
    nothing_written().await;

    // Two new refunds of one set under one number: the same.
    let twin = Refund {
        refund_order_no: other.refund_order_no.clone(),
        ..refund(8, &paying, 20)
    };
    let twins = vec![
        RefundChange::Create(other.clone()),
        RefundChange::Create(twin.clone()),
    ];
    assert_eq!(store.commit(set(twins)).await, Err(CommitError::Conflict));
    nothing_written().await;
    assert_eq!(store.refund(&twin.sysid).await.unwrap(), None);

    // Without the clash, every part of the set is written.
    store
        .commit(set(vec![RefundChange::Create(other.clone())]))
        .await
        .unwrap();
    assert_eq!(
        store.refund(&other.sysid).await.unwrap(),
        Some(other.clone())
    );
    let order_now = store.order_by_no(app1, &paying.order_no).await.unwrap();
    assert_eq!(order_now.unwrap().version, 2);
    let excess_now = store.abnormal_payment(&excess.abnormal_payment_no).await;
    assert_eq!(excess_now.unwrap(), Some(excess.clone()));
    let settlement_now = store.settlement(&new_settlement.sysid).await.unwrap();
    assert_eq!(settlement_now, Some(new_settlement));
    assert_eq!(
        store.payout(&new_payout.id).await.unwrap(),
        Some(new_payout.clone())
    );
    assert_eq!(store.signed_txs(&new_payout.id).await.unwrap().len(), 1);
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(1));
    assert_eq!(balance_of(&store, &available).await, 1_000);
    assert_eq!(ledger_check(&store).await, balanced(1, 1_000));
    assert!(event_stored(&store, "evt_refund_2").await);

    // The number is free in another app.
    let foreign = Refund {
        refund_order_no: first.refund_order_no.clone(),
        ..refund(3, &foreign_order, 30)
    };
    create(&store, &[&foreign]).await;
    let by_no = store.refund_by_no(app2, &first.refund_order_no).await;
    assert_eq!(by_no.unwrap(), Some(foreign));

    // Concurrent creations under one number: exactly one is written, the others conflict.
    let contenders = (0..8)
        .map(|n| Refund {
            refund_order_no: no("RACE"),
            ..refund(100 + n, &paying, 40)
        })
        .collect::<Vec<_>>();
    let winner = race_to_create(&store, &contenders).await;
    let stored = store.refund_by_no(app1, &no("RACE")).await.unwrap();
    assert_eq!(stored.as_ref(), Some(winner));
    assert_eq!(
        store.refunds_of_order(&paying.sysid).await.unwrap().len(),
        3
    );
}

async fn refunds_update_compare_and_set(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "O1", 1);
    insert_orders(&store, &[&paying]).await;
    let original = refund(1, &paying, 10);
    let bystander = refund(2, &paying, 11);
    create(&store, &[&original, &bystander]).await;
    let stored = |sysid: String| {
        let store = store.clone();
        async move { store.refund(&sysid).await.unwrap().expect("stored refund") }
    };

    let sent = Refund {
        tx_hash: Some(tx_hash(1)),
        ..original.transition(RefundEvent::Sent, at(20)).unwrap()
    };
    assert_eq!(sent.version, 2);

    // Out of turn, from a stale version or not advancing it by one: refused, nothing written.
    refused_out_of_turn(&store, &original, &sent, || stored(original.sysid.clone())).await;

    // The right version: written; lookups by number and order see it; others are untouched.
    update(&store, 1, &sent).await.unwrap();
    assert_eq!(stored(original.sysid.clone()).await, sent);
    let by_no = store.refund_by_no(&ids[0], &original.refund_order_no).await;
    assert_eq!(by_no.unwrap(), Some(sent.clone()));
    let of_order = store.refunds_of_order(&paying.sysid).await.unwrap();
    assert_eq!(of_order, vec![sent.clone(), bystander.clone()]);

    // The version read before is stale now.
    let cancelled = original.transition(RefundEvent::Cancel, at(21)).unwrap();
    assert_eq!(
        update(&store, 1, &cancelled).await,
        Err(CommitError::Conflict)
    );
    assert_eq!(stored(original.sysid.clone()).await, sent);

    // Two updates of one refund in one set chain: a replacement transaction, then failure.
    let replaced = Refund {
        tx_hash: Some(tx_hash(2)),
        updated_at: at(30),
        version: 3,
        ..sent.clone()
    };
    let failed = Refund {
        failure_reason: Some("reverted: «transfer amount exceeds balance»".to_owned()),
        ..replaced.transition(RefundEvent::Fail, at(40)).unwrap()
    };
    commit(
        &store,
        [
            RefundChange::Update {
                expected_version: 2,
                refund: replaced,
            },
            RefundChange::Update {
                expected_version: 3,
                refund: failed.clone(),
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(stored(original.sysid.clone()).await, failed);

    // Optional fields can be cleared again.
    let cleared = Refund {
        tx_hash: None,
        failure_reason: None,
        updated_at: at(50),
        version: 5,
        ..failed.clone()
    };
    update(&store, 4, &cleared).await.unwrap();
    assert_eq!(stored(original.sysid.clone()).await, cleared);

    // An update of a refund that does not exist is a conflict.
    let ghost = Refund {
        version: 2,
        ..refund(9, &paying, 10)
    };
    assert_eq!(update(&store, 1, &ghost).await, Err(CommitError::Conflict));
    assert_eq!(store.refund(&ghost.sysid).await.unwrap(), None);

    // A stale update undoes the rest of its set.
    let newcomer = refund(3, &paying, 60);
    assert_eq!(
        commit(
            &store,
            [
                RefundChange::Create(newcomer.clone()),
                RefundChange::Update {
                    expected_version: 1,
                    refund: bystander.transition(RefundEvent::Sent, at(60)).unwrap(),
                },
                RefundChange::Update {
                    expected_version: 1,
                    refund: cancelled,
                },
            ]
        )
        .await,
        Err(CommitError::Conflict)
    );
    assert_eq!(store.refund(&newcomer.sysid).await.unwrap(), None);
    assert_eq!(stored(bystander.sysid.clone()).await, bystander);
    assert_eq!(stored(original.sysid.clone()).await, cleared);
}

async fn refunds_list_filters_and_pages(store: SqlStore) {
    let (ids, [first_order, second_order, foreign_order]) = two_apps_three_orders(&store).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let r1 = refund(1, &first_order, 10);
    let r2 = refund(2, &first_order, 20);
    let r3 = Refund {
        status: RefundStatus::Refunded,
        ..refund(3, &second_order, 30)
    };
    let r4 = Refund {
        status: RefundStatus::Failed,
        ..refund(4, &second_order, 40)
    };
    let r5 = refund(5, &first_order, 40); // The same instant as r4.
    let r6 = refund(6, &foreign_order, 25);
    create(&store, &[&r3, &r6, &r1]).await;
    create(&store, &[&r5, &r2, &r4]).await;
    // r2 is sent and completed later: the status filter sees the update.
    let r2_done = r2.transition(RefundEvent::Confirmed, at(100)).unwrap();
    update(&store, 1, &r2_done).await.unwrap();

    let everything = RefundFilter::default;
    assert_eq!(
        refund_page(&store, app1, everything(), ALL).await,
        (vec![5, 4, 3, 2, 1], 5)
    );
    let listed = store.list_refunds(app1, &everything(), ALL).await.unwrap();
    assert_eq!(listed.records, vec![r5, r4, r3, r2_done, r1]);

    let status = |status| RefundFilter {
        status: Some(status),
        ..everything()
    };
    let order_no = |no: &str| RefundFilter {
        order_no: Some(no.to_owned()),
        ..everything()
    };
    let cases = vec![
        (order_no("O1"), vec![5, 2, 1]),
        (order_no("O2"), vec![4, 3]),
        (order_no("O9"), vec![]),
        (status(RefundStatus::PendingRefund), vec![5, 1]),
        (status(RefundStatus::Refunded), vec![3, 2]),
        (status(RefundStatus::Failed), vec![4]),
        (status(RefundStatus::Refunding), vec![]),
        (status(RefundStatus::Cancelled), vec![]),
        (
            RefundFilter {
                order_no: Some("O1".to_owned()),
                status: Some(RefundStatus::PendingRefund),
                created_from: Some(at(40)),
                created_to: Some(at(40)),
            },
            vec![5],
        ),
        (
            RefundFilter {
                order_no: Some("O2".to_owned()),
                status: Some(RefundStatus::PendingRefund),
                ..everything()
            },
            vec![],
        ),
    ];
    let created = |created_from, created_to| RefundFilter {
        created_from,
        created_to,
        ..everything()
    };
    let list = |filter, page| refund_page(&store, app1, filter, page);
    assert_list(list, cases, created).await;
    let one = PageRequest { page: 5, size: 1 };
    assert_eq!(
        refund_page(&store, app1, everything(), one).await,
        (vec![1], 5)
    );
    let pending = status(RefundStatus::PendingRefund);
    let second = PageRequest { page: 2, size: 1 };
    assert_eq!(
        refund_page(&store, app1, pending, second).await,
        (vec![1], 2)
    );

    // Each app sees its own, even under the same order number.
    assert_eq!(
        refund_page(&store, app2, everything(), ALL).await,
        (vec![6], 1)
    );
    assert_eq!(
        refund_page(&store, app2, order_no("O1"), ALL).await,
        (vec![6], 1)
    );
    assert_eq!(
        refund_page(&store, &app_id(9), everything(), ALL).await,
        (vec![], 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Settlements
// ---------------------------------------------------------------------------------------------

async fn stored_settlement(store: &SqlStore, sysid: &str) -> Settlement {
    store
        .settlement(sysid)
        .await
        .unwrap()
        .expect("stored settlement")
}

async fn settlements_create_and_read(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    assert_eq!(
        store
            .settlement(&settlement(1, app1, 0).sysid)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.settlement_by_no(app1, &no("S1")).await.unwrap(), None);

    // On chain, covering orders, an amount beyond i64/f64.
    let on_chain = Settlement {
        order_nos: vec![
            "O1".to_owned(),
            "O-2_x".to_owned(),
            "1759988038609".to_owned(),
        ],
        amount: units(HUGE + 3),
        ..settlement(1, app1, 10)
    };
    // To a bank, with the account details inline, approved and under way.
    let wired = Settlement {
        destination: bank(
            "USD",
            r#"{"bankName":"Bank «Ünï», N.A.","accountNo":"0012-34_56","memo":"it's \"quoted\""}"#,
        ),
        merchant_id: "m2".to_owned(),
        token: token("BSC_USDT"),
        status: SettlementStatus::Settling,
        approved: true,
        tx_hash: None,
        bank_reference: Some("WIRE-2025-0001".to_owned()),
        failure_reason: Some("first wire bounced".to_owned()),
        ..settlement(2, app1, 20)
    };
    // To a registered bank account, on chain fields empty.
    let registered = Settlement {
        destination: bank("EUR", r#"{"id":"ba_1"}"#),
        ..settlement(3, app1, 30)
    };
    // Done on chain, with its transaction.
    let done = Settlement {
        status: SettlementStatus::Settled,
        approved: true,
        tx_hash: Some(tx_hash(3)),
        ..settlement(4, app1, 40)
    };
    // Another app may use the same number.
    let foreign = Settlement {
        settlement_order_no: no("S1"),
        ..settlement(5, app2, 5)
    };
    create(&store, &[&on_chain, &wired]).await;
    create(&store, &[&registered, &done, &foreign]).await;

    for expected in [&on_chain, &wired, &registered, &done, &foreign] {
        let got = stored_settlement(&store, &expected.sysid).await;
        assert_eq!(&got, expected);
        let by_no = store
            .settlement_by_no(&expected.app_id, &expected.settlement_order_no)
            .await
            .unwrap();
        assert_eq!(by_no.as_ref(), Some(expected));
    }
    assert_eq!(
        stored_settlement(&store, &wired.sysid).await.destination,
        wired.destination
    );
    assert!(stored_settlement(&store, &registered.sysid).await.is_fiat());
    assert!(!stored_settlement(&store, &on_chain.sysid).await.is_fiat());
    assert_eq!(store.settlement_by_no(app2, &no("S2")).await.unwrap(), None);
    assert_eq!(store.settlement_by_no(app1, &no("S9")).await.unwrap(), None);
    assert_eq!(
        store
            .settlement(&settlement(9, app1, 0).sysid)
            .await
            .unwrap(),
        None
    );

    // A settlement of an app that does not exist is refused.
    let orphan = settlement(6, &app_id(9), 60);
    let result = commit(&store, [SettlementChange::Create(orphan.clone())]).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_eq!(store.settlement(&orphan.sysid).await.unwrap(), None);
}

async fn settlements_duplicate_number_rolls_back(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let paying = order(app1, "O1", 1);
    insert_orders(&store, &[&paying]).await;
    let first = settlement(1, app1, 10);
    create(&store, &[&first]).await;

    // The refund and the first settlement come before the clash in the set: both undone.
    let available = merchant_account(app1, "default", Bucket::Available);
    let new_refund = refund(1, &paying, 20);
    let other = settlement(2, app1, 20);
    let clash = Settlement {
        settlement_order_no: first.settlement_order_no.clone(),
        destination: bank("USD", "{}"),
        ..settlement(9, app1, 20)
    };
    let result = store
        .commit(ChangeSet {
            refunds: vec![RefundChange::Create(new_refund.clone())],
            settlements: vec![
                SettlementChange::Create(other.clone()),
                SettlementChange::Create(clash.clone()),
            ],
            postings: vec![fund(&available, 10)],
            events: vec![event("evt_settlement_2", app1, "settlement:2")],
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    let by_no = store
        .settlement_by_no(app1, &first.settlement_order_no)
        .await;
    assert_eq!(by_no.unwrap(), Some(first.clone()));
    assert_eq!(store.settlement(&clash.sysid).await.unwrap(), None);
    assert_eq!(store.settlement(&other.sysid).await.unwrap(), None);
    assert_eq!(store.refund(&new_refund.sysid).await.unwrap(), None);
    assert_eq!(totals_of(&store, &available).await, None);
    assert!(!event_stored(&store, "evt_settlement_2").await);

    // The number is free in another app.
    let foreign = Settlement {
        settlement_order_no: first.settlement_order_no.clone(),
        ..settlement(3, app2, 30)
    };
    create(&store, &[&foreign]).await;

    // Concurrent creations under one number: exactly one is written, the others conflict.
    let contenders = (0..8)
        .map(|n| Settlement {
            settlement_order_no: no("RACE"),
            ..settlement(100 + n, app1, 40)
        })
        .collect::<Vec<_>>();
    let winner = race_to_create(&store, &contenders).await;
    let stored = store.settlement_by_no(app1, &no("RACE")).await.unwrap();
    assert_eq!(stored.as_ref(), Some(winner));
    let page = store
        .list_settlements(app1, &SettlementFilter::default(), ALL)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

async fn settlements_update_compare_and_set(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let app1 = &ids[0];
    let on_chain = settlement(1, app1, 10);
    let fiat = Settlement {
        destination: bank("USD", r#"{"id":"ba_7"}"#),
        ..settlement(2, app1, 20)
    };
    let refused = settlement(3, app1, 30);
    create(&store, &[&on_chain, &fiat, &refused]).await;

    // On chain: approved (still pending), then sent, then done.
    let approved = on_chain.approve(at(40)).unwrap();
    assert!(approved.approved && approved.status == SettlementStatus::PendingSettlement);
    update(&store, 1, &approved).await.unwrap();
    assert_eq!(stored_settlement(&store, &on_chain.sysid).await, approved);
    let sending = Settlement {
        tx_hash: Some(tx_hash(11)),
        ..approved.transition(SettlementEvent::Start, at(50)).unwrap()
    };
    update(&store, 2, &sending).await.unwrap();
    assert_eq!(stored_settlement(&store, &on_chain.sysid).await, sending);
    let settled = sending
        .transition(SettlementEvent::Complete, at(60))
        .unwrap();
    update(&store, 3, &settled).await.unwrap();
    assert_eq!(stored_settlement(&store, &on_chain.sysid).await, settled);

    // Fiat: approval starts it; the wire's reference comes with completion. Its destination
    // is untouched by updates.
    let wiring = fiat.approve(at(45)).unwrap();
    assert_eq!(wiring.status, SettlementStatus::Settling);
    let wired = Settlement {
        bank_reference: Some("WIRE-2025-0002/«ref»".to_owned()),
        ..wiring
            .transition(SettlementEvent::Complete, at(55))
            .unwrap()
    };
    commit(
        &store,
        [
            SettlementChange::Update {
                expected_version: 1,
                settlement: wiring,
            },
            SettlementChange::Update {
                expected_version: 2,
                settlement: wired.clone(),
            },
        ],
    )
    .await
    .unwrap();
    let got = stored_settlement(&store, &fiat.sysid).await;
    assert_eq!(got, wired);
    assert_eq!(got.destination, fiat.destination);

    // Refused with a reason.
    let rejected = Settlement {
        failure_reason: Some("destination on a sanctions list".to_owned()),
        ..refused.transition(SettlementEvent::Reject, at(70)).unwrap()
    };

    // Out of turn, from a stale version or not advancing it by one: refused, nothing written.
    refused_out_of_turn(&store, &refused, &rejected, || {
        stored_settlement(&store, &refused.sysid)
    })
    .await;
    update(&store, 1, &rejected).await.unwrap();
    assert_eq!(stored_settlement(&store, &refused.sysid).await, rejected);
    assert_eq!(
        update(&store, 1, &rejected).await,
        Err(CommitError::Conflict)
    );

    // Every updatable field back to empty.
    let cleared = Settlement {
        approved: false,
        tx_hash: None,
        bank_reference: None,
        failure_reason: None,
        status: SettlementStatus::PendingSettlement,
        updated_at: at(90),
        version: 5,
        ..settled.clone()
    };
    update(&store, 4, &cleared).await.unwrap();
    assert_eq!(stored_settlement(&store, &on_chain.sysid).await, cleared);

    // Unknown settlements conflict; a stale update undoes its set.
    let ghost = Settlement {
        version: 2,
        ..settlement(9, app1, 10)
    };
    assert_eq!(update(&store, 1, &ghost).await, Err(CommitError::Conflict));
    let newcomer = settlement(4, app1, 95);
    assert_eq!(
        commit(
            &store,
            [
                SettlementChange::Create(newcomer.clone()),
                SettlementChange::Update {
                    expected_version: 4,
                    settlement: Settlement {
                        version: 5,
                        ..cleared.clone()
                    },
                },
            ]
        )
        .await,
        Err(CommitError::Conflict)
    );
    assert_eq!(store.settlement(&newcomer.sysid).await.unwrap(), None);
    assert_eq!(stored_settlement(&store, &on_chain.sysid).await, cleared);
}

async fn settlements_list_filters_and_pages(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    let s1 = settlement(1, app1, 10);
    let s2 = Settlement {
        merchant_id: "m2".to_owned(),
        token: token("BSC_USDT"),
        destination: bank("USD", r#"{"id":"ba_1"}"#),
        status: SettlementStatus::Settling,
        approved: true,
        ..settlement(2, app1, 20)
    };
    let s3 = Settlement {
        token: token("BSC_USDT"),
        status: SettlementStatus::Settled,
        ..settlement(3, app1, 30)
    };
    let s4 = Settlement {
        merchant_id: "m2".to_owned(),
        ..settlement(4, app1, 40)
    };
    let s5 = Settlement {
        status: SettlementStatus::Rejected,
        ..settlement(5, app1, 40) // The same instant as s4.
    };
    let s6 = settlement(6, app2, 25);
    create(&store, &[&s3, &s6, &s1]).await;
    create(&store, &[&s5, &s2, &s4]).await;
    // s1 is cancelled later: the status filter sees the update.
    let s1_cancelled = s1.transition(SettlementEvent::Cancel, at(100)).unwrap();
    update(&store, 1, &s1_cancelled).await.unwrap();

    let everything = SettlementFilter::default;
    assert_eq!(
        settlement_page(&store, app1, everything(), ALL).await,
        (vec![5, 4, 3, 2, 1], 5)
    );
    let listed = store.list_settlements(app1, &everything(), ALL).await;
    assert_eq!(listed.unwrap().records, vec![s5, s4, s3, s2, s1_cancelled]);

    let merchant = |id: &str| SettlementFilter {
        merchant_id: Some(id.to_owned()),
        ..everything()
    };
    let of_token = |id: &str| SettlementFilter {
        token: Some(id.to_owned()),
        ..everything()
    };
    let status = |status| SettlementFilter {
        status: Some(status),
        ..everything()
    };
    use SettlementStatus as S;
    let cases = vec![
        (merchant("default"), vec![5, 3, 1]),
        (merchant("m2"), vec![4, 2]),
        (merchant("m9"), vec![]),
        (of_token("ETH_USDT"), vec![5, 4, 1]),
        (of_token("BSC_USDT"), vec![3, 2]),
        (of_token("TRON_USDT"), vec![]),
        (status(S::PendingSettlement), vec![4]),
        (status(S::Settling), vec![2]),
        (status(S::Settled), vec![3]),
        (status(S::Rejected), vec![5]),
        (status(S::Cancelled), vec![1]),
        (status(S::Failed), vec![]),
        (
            SettlementFilter {
                merchant_id: Some("default".to_owned()),
                token: Some("ETH_USDT".to_owned()),
                status: Some(S::Rejected),
                created_from: Some(at(40)),
                created_to: Some(at(40)),
            },
            vec![5],
        ),
        (
            SettlementFilter {
                merchant_id: Some("m2".to_owned()),
                token: Some("BSC_USDT".to_owned()),
                ..everything()
            },
            vec![2],
        ),
        (
            SettlementFilter {
                merchant_id: Some("m2".to_owned()),
                status: Some(S::Settled),
                ..everything()
            },
            vec![],
        ),
    ];
    let created = |created_from, created_to| SettlementFilter {
        created_from,
        created_to,
        ..everything()
    };
    let list = |filter, page| settlement_page(&store, app1, filter, page);
    assert_list(list, cases, created).await;

    let second = PageRequest { page: 2, size: 2 };
    assert_eq!(
        settlement_page(&store, app1, merchant("default"), second).await,
        (vec![1], 3)
    );

    // Each app sees its own.
    assert_eq!(
        settlement_page(&store, app2, everything(), ALL).await,
        (vec![6], 1)
    );
    assert_eq!(
        settlement_page(&store, app2, status(S::Cancelled), ALL).await,
        (vec![], 0)
    );
    assert_eq!(
        settlement_page(&store, &app_id(9), everything(), ALL).await,
        (vec![], 0)
    );
}

async fn settlements_in_status_oldest_first(store: SqlStore) {
    let ids = insert_apps(&store, &[1, 2]).await;
    let (app1, app2) = (&ids[0], &ids[1]);
    assert!(
        in_status(&store, SettlementStatus::PendingSettlement, 10)
            .await
            .is_empty()
    );
    let p1 = settlement(1, app1, 10);
    let p2 = settlement(2, app2, 20);
    let p3 = settlement(3, app1, 30);
    // Two created in the same microsecond, the higher id stored first.
    let p4 = settlement(4, app2, 40);
    let p5 = settlement(5, app1, 40);
    let busy = Settlement {
        status: SettlementStatus::Settling,
        approved: true,
        ..settlement(6, app1, 5)
    };
    let done = Settlement {
        status: SettlementStatus::Settled,
        ..settlement(7, app2, 1)
    };
    create(&store, &[&p5, &p3]).await;
    create(&store, &[&done, &p1, &busy]).await;
    create(&store, &[&p4, &p2]).await;

    use SettlementStatus as S;
    assert_eq!(
        in_status(&store, S::PendingSettlement, 100).await,
        vec![1, 2, 3, 4, 5]
    );
    // The limit cuts the oldest first; the same instant is ordered by id.
    assert_eq!(
        in_status(&store, S::PendingSettlement, 3).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        in_status(&store, S::PendingSettlement, 4).await,
        vec![1, 2, 3, 4]
    );
    assert_eq!(in_status(&store, S::PendingSettlement, 1).await, vec![1]);
    assert!(in_status(&store, S::PendingSettlement, 0).await.is_empty());
    assert_eq!(in_status(&store, S::Settling, 100).await, vec![6]);
    assert_eq!(in_status(&store, S::Settled, 100).await, vec![7]);
    assert!(in_status(&store, S::Failed, 100).await.is_empty());
    let full = store
        .settlements_in_status(S::PendingSettlement, 1)
        .await
        .unwrap();
    assert_eq!(full, vec![p1.clone()]);

    // Updates move settlements between statuses.
    let approved = p1.approve(at(50)).unwrap();
    let started = approved.transition(SettlementEvent::Start, at(60)).unwrap();
    update(&store, 1, &approved).await.unwrap();
    update(&store, 2, &started).await.unwrap();
    assert_eq!(
        in_status(&store, S::PendingSettlement, 100).await,
        vec![2, 3, 4, 5]
    );
    assert_eq!(in_status(&store, S::Settling, 100).await, vec![6, 1]);
    assert_eq!(in_status(&store, S::Settling, 1).await, vec![6]);
}

// ---------------------------------------------------------------------------------------------
// Payouts and their signed transactions
// ---------------------------------------------------------------------------------------------

async fn stored_payout(store: &SqlStore, id: &str) -> Payout {
    store.payout(id).await.unwrap().expect("stored payout")
}

async fn payouts_create_and_read(store: SqlStore) {
    assert_eq!(
        store
            .payout(&payout(1, "ETH", PayoutKind::Refund, 0).id)
            .await
            .unwrap(),
        None
    );
    let missing = store
        .payout_by_reference(PayoutKind::Refund, "refund:0001")
        .await;
    assert_eq!(missing.unwrap(), None);

    // Every optional field set, the extremes of each number.
    let full = Payout {
        signer: Signer::Deposit(u64::MAX),
        from: deposit(u64::MAX),
        asset: Asset::Native(chain("ETH")),
        amount: units(HUGE + 5),
        status: PayoutStatus::Broadcast,
        nonce: Some(u64::try_from(i64::MAX).unwrap()),
        tx_hash: Some(tx_hash(1)),
        fee: Some(units(u128::MAX)),
        note: Some("gas «top-up», 100%_done".to_owned()),
        not_before: at(99),
        ..payout(1, "ETH", PayoutKind::GasTopUp, 10)
    };
    let refunding = payout(2, "ETH", PayoutKind::Refund, 20);
    let settling = Payout {
        signer: Signer::Deposit(0),
        from: deposit(0),
        nonce: Some(0),
        status: PayoutStatus::Signed,
        fee: Some(TokenAmount::ZERO),
        ..payout(3, "BSC", PayoutKind::Settlement, 30)
    };
    let sweeping = Payout {
        reference: format!("sweep:{}", deposit(7).storage_key()),
        ..payout(4, "ETH", PayoutKind::Sweep, 40)
    };
    create(&store, &[&full, &refunding]).await;
    create(&store, &[&settling, &sweeping]).await;

    for expected in [&full, &refunding, &settling, &sweeping] {
        assert_eq!(&stored_payout(&store, &expected.id).await, expected);
        let by_reference = store
            .payout_by_reference(expected.kind, &expected.reference)
            .await
            .unwrap();
        assert_eq!(by_reference.as_ref(), Some(expected));
    }
    assert_eq!(
        stored_payout(&store, &full.id).await.fee,
        Some(units(u128::MAX))
    );
    // The reference is looked up under its kind only.
    let wrong_kind = store
        .payout_by_reference(PayoutKind::Settlement, &refunding.reference)
        .await;
    assert_eq!(wrong_kind.unwrap(), None);
    assert_eq!(store.payout("PO-missing").await.unwrap(), None);
}

async fn payouts_duplicate_reference_rolls_back(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let first = payout(1, "ETH", PayoutKind::Refund, 10);
    create(&store, &[&first]).await;

    // The same object paid again, even from another chain and signer: a conflict that undoes
    // the set (a settlement and a payout before it, a nonce after it).
    let new_settlement = settlement(1, &ids[0], 20);
    let other = payout(2, "ETH", PayoutKind::Refund, 20);
    let again = Payout {
        reference: first.reference.clone(),
        signer: Signer::Deposit(3),
        from: deposit(3),
        ..payout(9, "BSC", PayoutKind::Refund, 20)
    };
    let result = store
        .commit(ChangeSet {
            settlements: vec![SettlementChange::Create(new_settlement.clone())],
            payouts: vec![
                PayoutChange::Create(other.clone()),
                PayoutChange::Create(again.clone()),
            ],
            nonces: vec![nonce("ETH", hot(1), 0)],
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, Err(CommitError::Conflict));
    let by_reference = store
        .payout_by_reference(PayoutKind::Refund, &first.reference)
        .await;
    assert_eq!(by_reference.unwrap(), Some(first.clone()));
    assert_eq!(store.payout(&again.id).await.unwrap(), None);
    assert_eq!(store.payout(&other.id).await.unwrap(), None);
    assert_eq!(store.settlement(&new_settlement.sysid).await.unwrap(), None);
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, None);
    assert_eq!(open_payouts(&store, "ETH", 100).await, vec![1]);

    // The same reference under another kind is another object.
    let swept = Payout {
        reference: first.reference.clone(),
        ..payout(3, "ETH", PayoutKind::Sweep, 30)
    };
    create(&store, &[&swept]).await;
    let by_kind = |kind| {
        let store = store.clone();
        let reference = first.reference.clone();
        async move { store.payout_by_reference(kind, &reference).await.unwrap() }
    };
    assert_eq!(by_kind(PayoutKind::Refund).await, Some(first.clone()));
    assert_eq!(by_kind(PayoutKind::Sweep).await, Some(swept));
    assert_eq!(by_kind(PayoutKind::GasTopUp).await, None);

    // The reference stays taken once its payout is final (failed): still a conflict.
    let given_up = first.moved(PayoutStatus::Failed, at(40)).unwrap();
    update(&store, 1, &given_up).await.unwrap();
    let retry = Payout {
        reference: first.reference.clone(),
        ..payout(4, "ETH", PayoutKind::Refund, 50)
    };
    assert_eq!(
        commit(&store, [PayoutChange::Create(retry.clone())]).await,
        Err(CommitError::Conflict)
    );
    assert_eq!(store.payout(&retry.id).await.unwrap(), None);

    // Concurrent payouts of one object: exactly one is written.
    let contenders = (0..8)
        .map(|n| Payout {
            reference: "settlement:RACE".to_owned(),
            ..payout(100 + n, "ETH", PayoutKind::Settlement, 60)
        })
        .collect::<Vec<_>>();
    let winner = race_to_create(&store, &contenders).await;
    let stored = store
        .payout_by_reference(PayoutKind::Settlement, "settlement:RACE")
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(winner));
}

async fn payouts_open_and_compare_and_set(store: SqlStore) {
    assert!(open_payouts(&store, "ETH", 100).await.is_empty());
    let queued = payout(1, "ETH", PayoutKind::Refund, 10);
    let signed = Payout {
        status: PayoutStatus::Signed,
        nonce: Some(0),
        ..payout(2, "ETH", PayoutKind::Settlement, 20)
    };
    let broadcast = Payout {
        status: PayoutStatus::Broadcast,
        nonce: Some(1),
        tx_hash: Some(tx_hash(3)),
        ..payout(3, "ETH", PayoutKind::Refund, 30)
    };
    let confirmed = Payout {
        status: PayoutStatus::Confirmed,
        nonce: Some(2),
        tx_hash: Some(tx_hash(4)),
        fee: Some(units(21_000)),
        ..payout(4, "ETH", PayoutKind::Sweep, 5)
    };
    let failed = Payout {
        status: PayoutStatus::Failed,
        note: Some("cancelled".to_owned()),
        ..payout(5, "ETH", PayoutKind::Refund, 15)
    };
    // The same instant as `broadcast`, a higher id.
    let queued_too = payout(6, "ETH", PayoutKind::GasTopUp, 30);
    let elsewhere = payout(7, "BSC", PayoutKind::Refund, 1);
    create(&store, &[&queued_too, &confirmed, &elsewhere]).await;
    create(&store, &[&broadcast, &failed, &signed, &queued]).await;

    // Only payouts not final yet, of that chain, oldest first; the same instant by id.
    assert_eq!(open_payouts(&store, "ETH", 100).await, vec![1, 2, 3, 6]);
    assert_eq!(open_payouts(&store, "ETH", 2).await, vec![1, 2]);
    assert_eq!(open_payouts(&store, "ETH", 3).await, vec![1, 2, 3]);
    assert!(open_payouts(&store, "ETH", 0).await.is_empty());
    assert_eq!(open_payouts(&store, "BSC", 100).await, vec![7]);
    assert!(open_payouts(&store, "TRON", 100).await.is_empty());
    let rows = store.open_payouts(&chain("ETH"), 100).await.unwrap();
    assert_eq!(
        rows,
        vec![
            queued.clone(),
            signed.clone(),
            broadcast.clone(),
            queued_too
        ]
    );

    // Waiting: a note and a later time, still open.
    let waiting = queued.waiting("hot wallet short of gas".to_owned(), at(300), at(40));
    update(&store, 1, &waiting).await.unwrap();
    assert_eq!(stored_payout(&store, &queued.id).await, waiting);

    // Signed with a nonce and a transaction; then the note cleared.
    let now_signed = Payout {
        nonce: Some(3),
        tx_hash: Some(tx_hash(5)),
        note: None,
        ..waiting.moved(PayoutStatus::Signed, at(50)).unwrap()
    };
    update(&store, 2, &now_signed).await.unwrap();
    assert_eq!(stored_payout(&store, &queued.id).await, now_signed);

    // Mined: its fee (up to u128::MAX) is stored and it leaves the open list.
    let mined = Payout {
        fee: Some(units(u128::MAX - 1)),
        ..broadcast.moved(PayoutStatus::Confirmed, at(60)).unwrap()
    };

    // Out of turn, from a stale version or not advancing it by one: refused, nothing written.
    refused_out_of_turn(&store, &broadcast, &mined, || {
        stored_payout(&store, &broadcast.id)
    })
    .await;
    update(&store, 1, &mined).await.unwrap();
    assert_eq!(stored_payout(&store, &broadcast.id).await, mined);
    assert_eq!(open_payouts(&store, "ETH", 100).await, vec![1, 2, 6]);
    assert_eq!(update(&store, 1, &mined).await, Err(CommitError::Conflict));

    // Failing the signed one: gone from the list too; the other chain is untouched.
    let given_up = signed.moved(PayoutStatus::Failed, at(70)).unwrap();
    update(&store, 1, &given_up).await.unwrap();
    assert_eq!(open_payouts(&store, "ETH", 100).await, vec![1, 6]);
    assert_eq!(open_payouts(&store, "BSC", 100).await, vec![7]);

    // A payout that does not exist: a conflict.
    let ghost = Payout {
        version: 2,
        ..payout(9, "ETH", PayoutKind::Refund, 10)
    };
    assert_eq!(update(&store, 1, &ghost).await, Err(CommitError::Conflict));
    assert_eq!(store.payout(&ghost.id).await.unwrap(), None);
}

async fn payouts_signed_txs(store: SqlStore) {
    let sending = payout(1, "ETH", PayoutKind::Refund, 10);
    let bystander = payout(2, "ETH", PayoutKind::Settlement, 10);
    create(&store, &[&bystander]).await;
    assert!(store.signed_txs(&sending.id).await.unwrap().is_empty());

    // Recorded, signed and its first transaction stored in one commit, as the signer does.
    let first_tx = signed_tx(&sending, 1, 7, 20);
    let signed = Payout {
        nonce: Some(7),
        tx_hash: Some(first_tx.tx_hash.clone()),
        ..sending.moved(PayoutStatus::Signed, at(20)).unwrap()
    };
    let changes = ChangeSet {
        payouts: vec![
            PayoutChange::Create(sending.clone()),
            PayoutChange::Update {
                expected_version: 1,
                payout: signed.clone(),
            },
        ],
        nonces: vec![nonce("ETH", hot(1), 7)],
        signed_txs: vec![first_tx.clone()],
        ..ChangeSet::default()
    };
    store.commit(changes).await.unwrap();
    assert_eq!(stored_payout(&store, &sending.id).await, signed);
    assert_eq!(
        store.signed_txs(&sending.id).await.unwrap(),
        vec![first_tx.clone()]
    );
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(8));

    // Fee-bumped replacements with the same nonce, fees up to u128::MAX; one stored later but
    // signed earlier (clocks), two signed in the same microsecond.
    let bumped = SignedTx {
        max_fee_per_gas: u128::MAX,
        max_priority_fee_per_gas: u128::MAX - 1,
        ..signed_tx(&sending, 2, 7, 30)
    };
    let twin_high = signed_tx(&sending, 4, 7, 40);
    let twin_low = SignedTx {
        raw: String::new(),
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
        ..signed_tx(&sending, 3, 7, 40)
    };
    let early = signed_tx(&sending, 5, 7, 15);
    let other = signed_tx(&bystander, 6, 8, 25);
    commit(
        &store,
        [
            twin_high.clone(),
            bumped.clone(),
            other.clone(),
            twin_low.clone(),
        ],
    )
    .await
    .unwrap();
    commit(&store, [early.clone()]).await.unwrap();
    let all = store.signed_txs(&sending.id).await.unwrap();
    assert_eq!(
        all,
        vec![early, first_tx, bumped.clone(), twin_low, twin_high]
    );
    assert_eq!(all[2].max_fee_per_gas, u128::MAX);
    assert_eq!(all[2].max_priority_fee_per_gas, u128::MAX - 1);
    assert_eq!(store.signed_txs(&bystander.id).await.unwrap(), vec![other]);
    assert!(store.signed_txs("PO-missing").await.unwrap().is_empty());

    // A transaction of a payout that does not exist, or a hash stored already: refused, and
    // the rest of the set with it.
    let orphan = signed_tx(&payout(9, "ETH", PayoutKind::Refund, 0), 9, 0, 50);
    let again = SignedTx {
        raw: "0xdifferent".to_owned(),
        ..bumped
    };
    for bad in [orphan, again] {
        let fresh = signed_tx(&bystander, 10, 8, 60);
        let result = commit(&store, [fresh.clone(), bad]).await;
        assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
        let of_bystander = store.signed_txs(&bystander.id).await.unwrap();
        assert!(!of_bystander.contains(&fresh), "{of_bystander:?}");
    }
    assert_eq!(store.signed_txs(&sending.id).await.unwrap().len(), 5);
    assert!(
        store
            .signed_txs(&payout(9, "ETH", PayoutKind::Refund, 0).id)
            .await
            .unwrap()
            .is_empty()
    );

    // A chain without nonces: no nonce, an expiration; a fresh transaction after it expired.
    let expiring = SignedTx {
        nonce: None,
        expires_at: Some(at(120)),
        ..signed_tx(&bystander, 11, 0, 70)
    };
    let fresh = SignedTx {
        expires_at: Some(at(200)),
        ..signed_tx(&bystander, 12, 0, 130)
    };
    let fresh = SignedTx {
        nonce: None,
        ..fresh
    };
    commit(&store, [expiring.clone(), fresh.clone()])
        .await
        .unwrap();
    let of_bystander = store.signed_txs(&bystander.id).await.unwrap();
    assert_eq!(of_bystander[of_bystander.len() - 2..], [expiring, fresh]);
}

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

async fn nonces_forward_only(store: SqlStore) {
    let (a, b, c) = (hot(1), hot(2), deposit(3));
    assert_eq!(next_nonce(&store, "ETH", a).await, None);

    // The first use records the address; each nonce taken moves it to nonce + 1.
    take_nonces(&store, &[nonce("ETH", a, 0)]).await.unwrap();
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(1));
    take_nonces(&store, &[nonce("ETH", a, 1)]).await.unwrap();
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(2));

    // A nonce below the next one was taken already: a conflict, nothing moves.
    for taken in [1, 0] {
        let result = take_nonces(&store, &[nonce("ETH", a, taken)]).await;
        assert_eq!(result, Err(CommitError::Conflict), "nonce {taken}");
        assert_eq!(next_nonce(&store, "ETH", a).await, Some(2));
    }

    // A gap (transactions sent from the address elsewhere) is allowed and moves it forward.
    take_nonces(&store, &[nonce("ETH", a, 5)]).await.unwrap();
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(6));
    for taken in [3, 4, 5] {
        let result = take_nonces(&store, &[nonce("ETH", a, taken)]).await;
        assert_eq!(result, Err(CommitError::Conflict), "nonce {taken}");
    }
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(6));

    // A first use may start anywhere; addresses and chains are independent.
    take_nonces(&store, &[nonce("ETH", b, 41)]).await.unwrap();
    assert_eq!(next_nonce(&store, "ETH", b).await, Some(42));
    assert_eq!(next_nonce(&store, "BSC", a).await, None);
    take_nonces(&store, &[nonce("BSC", a, 0)]).await.unwrap();
    assert_eq!(next_nonce(&store, "BSC", a).await, Some(1));
    take_nonces(&store, &[nonce("ETH", b, 42)]).await.unwrap();
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(6));
    assert_eq!(next_nonce(&store, "ETH", b).await, Some(43));
    assert_eq!(next_nonce(&store, "BSC", a).await, Some(1));
    assert_eq!(next_nonce(&store, "BSC", b).await, None);

    // Several in one set apply in order; a repeat within the set conflicts and undoes it all.
    take_nonces(
        &store,
        &[nonce("ETH", a, 6), nonce("ETH", a, 7), nonce("BSC", a, 1)],
    )
    .await
    .unwrap();
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(8));
    assert_eq!(next_nonce(&store, "BSC", a).await, Some(2));
    let repeat = [
        nonce("BSC", a, 2),
        nonce("ETH", c, 0),
        nonce("ETH", a, 8),
        nonce("ETH", a, 8),
    ];
    assert_eq!(
        take_nonces(&store, &repeat).await,
        Err(CommitError::Conflict)
    );
    assert_eq!(next_nonce(&store, "ETH", a).await, Some(8));
    assert_eq!(next_nonce(&store, "BSC", a).await, Some(2));
    assert_eq!(next_nonce(&store, "ETH", c).await, None);

    // The largest nonce the store keeps.
    let top = u64::try_from(i64::MAX).unwrap();
    take_nonces(&store, &[nonce("ETH", c, top - 1)])
        .await
        .unwrap();
    assert_eq!(next_nonce(&store, "ETH", c).await, Some(top));
}

async fn nonces_conflict_rolls_back(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let paying = order(&ids[0], "O1", 1);
    insert_orders(&store, &[&paying]).await;
    take_nonces(&store, &[nonce("ETH", hot(1), 4)])
        .await
        .unwrap();
    let queued = payout(1, "ETH", PayoutKind::Refund, 10);
    create(&store, &[&queued]).await;

    // A signer that read the nonce before another took it: its whole set is undone.
    let available = merchant_account(&ids[0], "default", Bucket::Available);
    let new_refund = refund(1, &paying, 20);
    let new_settlement = settlement(1, &ids[0], 20);
    let new_payout = payout(2, "ETH", PayoutKind::Settlement, 20);
    let tx = signed_tx(&queued, 1, 4, 20);
    let signed = Payout {
        nonce: Some(4),
        tx_hash: Some(tx.tx_hash.clone()),
        ..queued.moved(PayoutStatus::Signed, at(20)).unwrap()
    };
    let set = |taken: u64| ChangeSet {
        refunds: vec![RefundChange::Create(new_refund.clone())],
        settlements: vec![SettlementChange::Create(new_settlement.clone())],
        payouts: vec![
            PayoutChange::Create(new_payout.clone()),
            PayoutChange::Update {
                expected_version: 1,
                payout: Payout {
                    nonce: Some(taken),
                    ..signed.clone()
                },
            },
        ],
        nonces: vec![nonce("ETH", hot(2), 0), nonce("ETH", hot(1), taken)],
        signed_txs: vec![SignedTx {
            nonce: Some(taken),
            ..tx.clone()
        }],
        postings: vec![fund(&available, 500)],
        events: vec![event("evt_signed", &ids[0], "refund:1")],
        ..ChangeSet::default()
    };
    assert_eq!(store.commit(set(4)).await, Err(CommitError::Conflict));
    assert_eq!(store.commit(set(3)).await, Err(CommitError::Conflict));
    assert_eq!(store.refund(&new_refund.sysid).await.unwrap(), None);
    assert_eq!(store.settlement(&new_settlement.sysid).await.unwrap(), None);
    assert_eq!(store.payout(&new_payout.id).await.unwrap(), None);
    assert_eq!(stored_payout(&store, &queued.id).await, queued);
    assert!(store.signed_txs(&queued.id).await.unwrap().is_empty());
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(5));
    assert_eq!(next_nonce(&store, "ETH", hot(2)).await, None);
    assert_eq!(ledger_check(&store).await, balanced(0, 0));
    assert!(!event_stored(&store, "evt_signed").await);

    // With the next nonce, all of it is written.
    store.commit(set(5)).await.unwrap();
    assert!(store.refund(&new_refund.sysid).await.unwrap().is_some());
    assert!(
        store
            .settlement(&new_settlement.sysid)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.payout(&new_payout.id).await.unwrap().is_some());
    assert_eq!(stored_payout(&store, &queued.id).await.nonce, Some(5));
    assert_eq!(store.signed_txs(&queued.id).await.unwrap().len(), 1);
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(6));
    assert_eq!(next_nonce(&store, "ETH", hot(2)).await, Some(1));
    assert_eq!(ledger_check(&store).await, balanced(1, 500));
    assert!(event_stored(&store, "evt_signed").await);
}

async fn nonces_taken_concurrently(store: SqlStore) {
    // Ten signers race for the first nonce of a new address, then for the next one.
    for taken in [0, 1] {
        let sets = (0..10)
            .map(|_| change_set([nonce("ETH", hot(1), taken)]))
            .collect();
        sole_winner(&race(&store, sets).await);
        assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(taken + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

async fn ledger_postings_move_totals(store: SqlStore) {
    let app = app_id(1);
    let deposit_account = custody(1);
    let pending = merchant_account(&app, "default", Bucket::Pending);
    let available = merchant_account(&app, "default", Bucket::Available);
    let reserved = merchant_account(&app, "default", Bucket::Reserved);
    let eth = chain("ETH");
    let gas = Account::Custody {
        chain: eth.clone(),
        address: hot(1),
        asset: Asset::Native(eth.clone()),
    };
    let fees = Account::Fees { chain: eth.clone() };
    let operator = Account::Operator {
        asset: Asset::Native(eth),
    };
    assert!(
        store
            .ledger_totals(&[available.key()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ledger_check(&store).await, balanced(0, 0));

    // A payment seen, made final, partly reserved and paid out; gas funded and burned.
    let postings = [
        posting(&deposit_account, &pending, 1_000, PostingKind::PaymentSeen),
        posting(&pending, &available, 1_000, PostingKind::PaymentFinal),
        posting(&available, &reserved, 300, PostingKind::Reserve),
        posting(&reserved, &deposit_account, 300, PostingKind::PaidOut),
        posting(&gas, &operator, 50_000, PostingKind::Funding),
        posting(&fees, &gas, 21_000, PostingKind::NetworkFee),
    ];
    post(&store, &postings[..2]).await.unwrap();
    post(&store, &postings[2..]).await.unwrap();

    let expected = [
        (&deposit_account, totals(1_000, 300), 700),
        (&pending, totals(1_000, 1_000), 0),
        (&available, totals(300, 1_000), 700),
        (&reserved, totals(300, 300), 0),
        (&gas, totals(50_000, 21_000), 29_000),
        (&fees, totals(21_000, 0), 21_000),
        (&operator, totals(0, 50_000), 50_000),
    ];
    for (account, account_totals, balance) in expected {
        assert_eq!(
            totals_of(&store, account).await,
            Some(account_totals),
            "{}",
            account.key()
        );
        assert_eq!(
            balance_of(&store, account).await,
            balance,
            "{}",
            account.key()
        );
    }

    // Totals of several at once: absent accounts are left out, duplicates are harmless.
    let missing = merchant_account(&app, "other", Bucket::Available);
    let asked = vec![
        available.key(),
        missing.key(),
        reserved.key(),
        available.key(),
    ];
    let found = store.ledger_totals(&asked).await.unwrap();
    let want = HashMap::from([
        (available.key(), totals(300, 1_000)),
        (reserved.key(), totals(300, 300)),
    ]);
    assert_eq!(found, want);
    assert!(store.ledger_totals(&[]).await.unwrap().is_empty());
    assert_eq!(ledger_check(&store).await, balanced(6, 73_600));

    // A zero posting writes nothing.
    let nothing = posting(&missing, &deposit_account, 0, PostingKind::Release);
    post(&store, &[nothing]).await.unwrap();
    assert_eq!(totals_of(&store, &missing).await, None);
    assert_eq!(ledger_check(&store).await, balanced(6, 73_600));

    // Many accounts in one set, read back in one call (more than one statement's 500).
    const MANY: u64 = 510;
    let merchants = (0..MANY)
        .map(|n| merchant_account(&app, &format!("m{n:03}"), Bucket::Available))
        .collect::<Vec<_>>();
    let funding = merchants
        .iter()
        .zip(1u128..)
        .map(|(account, amount)| fund(account, amount))
        .collect::<Vec<_>>();
    post(&store, &funding).await.unwrap();
    let mut keys = merchants.iter().map(Account::key).collect::<Vec<_>>();
    keys.push(missing.key());
    let found = store.ledger_totals(&keys).await.unwrap();
    assert_eq!(u64::try_from(found.len()).unwrap(), MANY);
    for (account, amount) in merchants.iter().zip(1u128..) {
        assert_eq!(found[&account.key()], totals(0, amount));
    }
    let sum: u128 = (1..=u128::from(MANY)).sum();
    assert_eq!(
        totals_of(&store, &custody(1)).await,
        Some(totals(1_000 + sum, 300))
    );
    assert_eq!(ledger_check(&store).await, balanced(6 + MANY, 73_600 + sum));
}

async fn ledger_accounts_prefix_and_nonzero(store: SqlStore) {
    // Names where `_` and `%` would be LIKE wildcards, upper and lower case, and non-ASCII.
    let app_1 = AppId::new("app_1");
    let app_x1 = AppId::new("appX1");
    let names = [
        merchant_account(&app_1, "m_1", Bucket::Available),
        merchant_account(&app_1, "m_1", Bucket::Reserved),
        merchant_account(&app_1, "mX1", Bucket::Available),
        merchant_account(&app_1, "m%1", Bucket::Available),
        merchant_account(&app_1, "商户", Bucket::Available),
        merchant_account(&app_1, "Zeta", Bucket::Available),
        merchant_account(&app_x1, "m_1", Bucket::Available),
        abnormal_account(&app_1),
    ];
    let postings = names
        .iter()
        .zip(1u128..)
        .map(|(account, amount)| fund(account, amount))
        .collect::<Vec<_>>();
    post(&store, &postings).await.unwrap();
    // One account back at zero: reserved and fully released.
    let released = posting(&names[1], &names[0], 2, PostingKind::Release);
    post(&store, &[released]).await.unwrap();

    let listed = |prefix: &'static str, nonzero_only: bool| {
        let store = store.clone();
        async move {
            let accounts = store.ledger_accounts(prefix, nonzero_only).await.unwrap();
            accounts
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
        }
    };
    // By name in byte order: `X` (0x58) sorts before `_` (0x5f), upper before lower case.
    let all_merchants = [
        "merchant:appX1:m_1:ETH_USDT:available",
        "merchant:app_1:Zeta:ETH_USDT:available",
        "merchant:app_1:m%1:ETH_USDT:available",
        "merchant:app_1:mX1:ETH_USDT:available",
        "merchant:app_1:m_1:ETH_USDT:available",
        "merchant:app_1:m_1:ETH_USDT:reserved",
        "merchant:app_1:商户:ETH_USDT:available",
    ];
    assert_eq!(listed("merchant:", false).await, all_merchants);
    assert_eq!(listed("merchant:app_1:", false).await, all_merchants[1..]);
    assert_eq!(listed("merchant:app_1", false).await, all_merchants[1..]);
    assert_eq!(
        listed("merchant:app_1:m_1:", false).await,
        all_merchants[4..6]
    );
    assert_eq!(
        listed("merchant:app_1:m_1:", true).await,
        all_merchants[4..5]
    );
    assert_eq!(
        listed("merchant:app_1:m%", false).await,
        all_merchants[2..3]
    );
    assert_eq!(
        listed("merchant:app_1:商户:", false).await,
        all_merchants[6..]
    );
    assert_eq!(listed("merchant:app_1:商", true).await, all_merchants[6..]);
    assert!(listed("merchant:APP_1:", false).await.is_empty());
    assert!(listed("merchant:app_1:zeta", false).await.is_empty());
    assert!(
        listed("merchant:app_1:m_1:ETH_USDT:available:", false)
            .await
            .is_empty()
    );
    assert_eq!(
        listed("merchant:app_1:m_1:ETH_USDT:available", false).await,
        all_merchants[4..5]
    );
    assert_eq!(
        listed("abnormal:", false).await,
        ["abnormal:app_1:default:ETH_USDT"]
    );
    assert_eq!(listed("custody:ETH:", false).await, [custody(1).key()]);
    assert!(listed("fees:", false).await.is_empty());

    // Everything, by name (byte order), with totals; the zero account only when asked for.
    let everything = store.ledger_accounts("", false).await.unwrap();
    let mut expected = names
        .iter()
        .zip(1u128..)
        .map(|(account, amount)| (account.key(), totals(0, amount)))
        .collect::<Vec<_>>();
    expected[0].1 = totals(0, 3);
    expected[1].1 = totals(2, 2);
    expected.push((custody(1).key(), totals(36, 0)));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(everything, expected);
    let nonzero = store.ledger_accounts("", true).await.unwrap();
    expected.retain(|(name, _)| name != &names[1].key());
    assert_eq!(nonzero, expected);
}

async fn ledger_guarded_accounts(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let app = &ids[0];
    let paying = order(app, "O1", 1);
    insert_orders(&store, &[&paying]).await;
    let deposit_account = custody(1);
    let pending = merchant_account(app, "default", Bucket::Pending);
    let available = merchant_account(app, "default", Bucket::Available);
    let reserved = merchant_account(app, "default", Bucket::Reserved);
    let other = merchant_account(app, "other", Bucket::Available);
    let held = abnormal_account(app);
    let reserve = |amount| posting(&available, &reserved, amount, PostingKind::Reserve);
    let insufficient = |account: &Account| Err(CommitError::Insufficient(account.key()));
    post(&store, &[fund(&available, 1_000)]).await.unwrap();

    // Down to exactly zero is allowed; one unit more is not, and writes nothing.
    post(&store, &[reserve(600)]).await.unwrap();
    assert_eq!(
        post(&store, &[reserve(401)]).await,
        insufficient(&available)
    );
    assert_eq!(balance_of(&store, &available).await, 400);
    assert_eq!(balance_of(&store, &reserved).await, 600);
    post(&store, &[reserve(400)]).await.unwrap();
    assert_eq!(balance_of(&store, &available).await, 0);
    assert_eq!(post(&store, &[reserve(1)]).await, insufficient(&available));

    // The reserved bucket and abnormal amounts are guarded too.
    let pay_out = |amount| posting(&reserved, &deposit_account, amount, PostingKind::PaidOut);
    assert_eq!(
        post(&store, &[pay_out(1_001)]).await,
        insufficient(&reserved)
    );
    let refund_held = posting(&held, &deposit_account, 1, PostingKind::PaidOut);
    assert_eq!(post(&store, &[refund_held]).await, insufficient(&held));
    assert_eq!(totals_of(&store, &held).await, None);
    let from_nothing = posting(&other, &reserved, 1, PostingKind::Reserve);
    assert_eq!(post(&store, &[from_nothing]).await, insufficient(&other));
    assert_eq!(totals_of(&store, &other).await, None);
    assert_eq!(ledger_check(&store).await, balanced(3, 2_000));

    // Pending, custody, fees and the operator are not guarded.
    let vanished = posting(&pending, &deposit_account, 5, PostingKind::PaymentVanished);
    post(&store, &[vanished]).await.unwrap();
    assert_eq!(balance_of(&store, &pending).await, -5);
    let operator = Account::Operator {
        asset: Asset::Token(token("ETH_USDT")),
    };
    let fiat_paid = posting(&operator, &custody(2), 7, PostingKind::FiatPaid);
    post(&store, &[fiat_paid]).await.unwrap();
    assert_eq!(balance_of(&store, &operator).await, -7);
    assert_eq!(balance_of(&store, &custody(2)).await, -7);

    // The postings of a set apply in order: a credit first can cover a later debit, not the
    // other way round.
    let credit = fund(&available, 10);
    let debit = reserve(10);
    assert_eq!(
        post(&store, &[debit.clone(), credit.clone()]).await,
        insufficient(&available)
    );
    assert_eq!(balance_of(&store, &available).await, 0);
    post(&store, &[credit, debit]).await.unwrap();
    assert_eq!(balance_of(&store, &available).await, 0);
    assert_eq!(balance_of(&store, &reserved).await, 1_010);

    // A refused posting undoes its whole set: the objects, earlier postings and events.
    let new_refund = refund(1, &paying, 20);
    let new_settlement = settlement(1, app, 20);
    let new_payout = payout(1, "ETH", PayoutKind::Refund, 20);
    let result = store
        .commit(ChangeSet {
            refunds: vec![RefundChange::Create(new_refund.clone())],
            settlements: vec![SettlementChange::Create(new_settlement.clone())],
            payouts: vec![PayoutChange::Create(new_payout.clone())],
            nonces: vec![nonce("ETH", hot(1), 0)],
            signed_txs: vec![signed_tx(&new_payout, 1, 0, 20)],
            postings: vec![fund(&other, 50), pay_out(5), reserve(1)],
            events: vec![event("evt_refused", app, "refund:1")],
            ..ChangeSet::default()
        })
        .await;
    assert_eq!(result, insufficient(&available));
    assert_eq!(store.refund(&new_refund.sysid).await.unwrap(), None);
    assert_eq!(store.settlement(&new_settlement.sysid).await.unwrap(), None);
    assert_eq!(store.payout(&new_payout.id).await.unwrap(), None);
    assert!(store.signed_txs(&new_payout.id).await.unwrap().is_empty());
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, None);
    assert_eq!(totals_of(&store, &other).await, None);
    assert_eq!(balance_of(&store, &reserved).await, 1_010);
    assert!(!event_stored(&store, "evt_refused").await);
    let entries_before = ledger_check(&store).await;
    assert_eq!(entries_before, balanced(7, 2_032));

    // A correction (what the chain did) may overdraw a guarded account; ordinary debits stay
    // refused until it is covered again.
    let reversed = Posting {
        correction: true,
        ..posting(
            &available,
            &deposit_account,
            50,
            PostingKind::PaymentReversed,
        )
    };
    post(&store, &[reversed]).await.unwrap();
    assert_eq!(balance_of(&store, &available).await, -50);
    assert_eq!(post(&store, &[reserve(1)]).await, insufficient(&available));
    post(&store, &[fund(&available, 50)]).await.unwrap();
    assert_eq!(balance_of(&store, &available).await, 0);
    assert_eq!(post(&store, &[reserve(1)]).await, insufficient(&available));
    post(&store, &[fund(&available, 10), reserve(10)])
        .await
        .unwrap();
    assert_eq!(balance_of(&store, &available).await, 0);
    let held_back = Posting {
        correction: true,
        ..posting(&held, &deposit_account, 3, PostingKind::PaymentReversed)
    };
    post(&store, &[held_back]).await.unwrap();
    assert_eq!(balance_of(&store, &held).await, -3);
    assert_eq!(ledger_check(&store).await, balanced(12, 2_032 + 123));
}

async fn ledger_check_and_large_amounts(store: SqlStore) {
    let app = app_id(1);
    let available = merchant_account(&app, "default", Bucket::Available);
    let reserved = merchant_account(&app, "default", Bucket::Reserved);
    let held = abnormal_account(&app);

    // Amounts of 10^30 and neighbours: exact on both engines (no float, no i64 anywhere).
    post(
        &store,
        &[
            fund(&available, HUGE),
            fund(&available, HUGE + 1),
            fund(&held, HUGE - 1),
        ],
    )
    .await
    .unwrap();
    post(
        &store,
        &[posting(
            &available,
            &reserved,
            HUGE - 7,
            PostingKind::Reserve,
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        totals_of(&store, &available).await,
        Some(totals(HUGE - 7, 2 * HUGE + 1))
    );
    assert_eq!(
        balance_of(&store, &available).await,
        i128::try_from(HUGE + 8).unwrap()
    );
    assert_eq!(
        totals_of(&store, &reserved).await,
        Some(totals(0, HUGE - 7))
    );
    assert_eq!(totals_of(&store, &held).await, Some(totals(0, HUGE - 1)));
    assert_eq!(
        totals_of(&store, &custody(1)).await,
        Some(totals(3 * HUGE, 0))
    );

    // Taking all of it is allowed, one unit more is not, however large the numbers.
    let too_much = posting(&available, &reserved, HUGE + 9, PostingKind::Reserve);
    assert_eq!(
        post(&store, &[too_much]).await,
        Err(CommitError::Insufficient(available.key()))
    );
    post(
        &store,
        &[posting(
            &available,
            &reserved,
            HUGE + 8,
            PostingKind::Reserve,
        )],
    )
    .await
    .unwrap();
    assert_eq!(balance_of(&store, &available).await, 0);
    assert_eq!(
        totals_of(&store, &reserved).await,
        Some(totals(0, 2 * HUGE + 1))
    );

    // The check: every entry counted and summed, accounts agreeing with their entries.
    let total = 3 * HUGE + (HUGE - 7) + (HUGE + 8);
    assert_eq!(ledger_check(&store).await, balanced(5, total));
    let listed = store.ledger_accounts("", false).await.unwrap();
    let debits: u128 = listed.iter().map(|(_, t)| t.debits).sum();
    let credits: u128 = listed.iter().map(|(_, t)| t.credits).sum();
    assert_eq!((debits, credits), (total, total));
}

async fn ledger_totals_overflow(store: SqlStore) {
    // The largest amount an account can total: u128::MAX, exactly.
    let operator = Account::Operator {
        asset: Asset::Native(chain("ETH")),
    };
    let wallet = Account::Custody {
        chain: chain("ETH"),
        address: hot(1),
        asset: Asset::Native(chain("ETH")),
    };
    let funding = |amount| posting(&wallet, &operator, amount, PostingKind::Funding);
    post(&store, &[funding(u128::MAX - 1)]).await.unwrap();
    post(&store, &[funding(1)]).await.unwrap();
    assert_eq!(totals_of(&store, &wallet).await, Some(totals(u128::MAX, 0)));
    assert_eq!(
        totals_of(&store, &operator).await,
        Some(totals(0, u128::MAX))
    );
    assert_eq!(ledger_check(&store).await, balanced(2, u128::MAX));

    // One more unit would overflow: refused as a storage error, the set undone.
    let elsewhere = custody(5);
    let result = post(&store, &[fund(&elsewhere, 1), funding(1)]).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    assert_eq!(totals_of(&store, &wallet).await, Some(totals(u128::MAX, 0)));
    assert_eq!(totals_of(&store, &elsewhere).await, None);
    assert_eq!(ledger_check(&store).await, balanced(2, u128::MAX));
}

// ---------------------------------------------------------------------------------------------
// Concurrency: the guard against spending a balance twice
// ---------------------------------------------------------------------------------------------

async fn ledger_reserves_concurrently(store: SqlStore) {
    let app = app_id(1);
    let available = merchant_account(&app, "default", Bucket::Available);
    let reserved = merchant_account(&app, "default", Bucket::Reserved);
    // 1 000 covers 7 reservations of 130, not 8.
    const START: u128 = 1_000;
    const AMOUNT: u128 = 130;
    const COVERED: usize = 7;
    post(&store, &[fund(&available, START)]).await.unwrap();

    let sets = (0..20)
        .map(|n| {
            change_set([Posting {
                reference: format!("refund:RF{n}"),
                ..posting(&available, &reserved, AMOUNT, PostingKind::Reserve)
            }])
        })
        .collect();
    let results = race(&store, sets).await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, COVERED, "{results:?}");
    for result in results.iter().filter(|r| r.is_err()) {
        assert_eq!(result, &Err(CommitError::Insufficient(available.key())));
    }
    let spent = AMOUNT * 7;
    assert_eq!(
        totals_of(&store, &available).await,
        Some(totals(spent, START))
    );
    assert_eq!(
        balance_of(&store, &available).await,
        i128::try_from(START - spent).unwrap()
    );
    assert_eq!(totals_of(&store, &reserved).await, Some(totals(0, spent)));
    assert_eq!(ledger_check(&store).await, balanced(8, START + spent));
}

async fn ledger_reserve_and_release_concurrently(store: SqlStore) {
    // Reservations and releases between the same two accounts, in opposite directions, at
    // once: every one is valid, so every one must commit (no deadlock, no lost update).
    let app = app_id(1);
    let available = merchant_account(&app, "default", Bucket::Available);
    let reserved = merchant_account(&app, "default", Bucket::Reserved);
    post(
        &store,
        &[
            fund(&available, 2_000),
            posting(&available, &reserved, 1_000, PostingKind::Reserve),
        ],
    )
    .await
    .unwrap();

    let sets = (0..20)
        .map(|n| {
            let moved = if n % 2 == 0 {
                posting(&available, &reserved, 10, PostingKind::Reserve)
            } else {
                posting(&reserved, &available, 10, PostingKind::Release)
            };
            change_set([moved])
        })
        .collect();
    let results = race(&store, sets).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        totals_of(&store, &available).await,
        Some(totals(1_100, 2_100))
    );
    assert_eq!(totals_of(&store, &reserved).await, Some(totals(100, 1_100)));
    assert_eq!(ledger_check(&store).await, balanced(22, 3_200));
}

// ---------------------------------------------------------------------------------------------
// A payout round in one change set
// ---------------------------------------------------------------------------------------------

async fn money_change_set_all_or_nothing(store: SqlStore) {
    let ids = insert_apps(&store, &[1]).await;
    let app = &ids[0];
    let paying = order(app, "O1", 1);
    insert_orders(&store, &[&paying]).await;
    let available = merchant_account(app, "default", Bucket::Available);
    let reserved = merchant_account(app, "default", Bucket::Reserved);
    let pending_refund = refund(1, &paying, 10);
    let pending_settlement = settlement(1, app, 10);
    let queued = payout(1, "ETH", PayoutKind::Refund, 10);
    store
        .commit(ChangeSet {
            refunds: vec![RefundChange::Create(pending_refund.clone())],
            settlements: vec![SettlementChange::Create(pending_settlement.clone())],
            payouts: vec![PayoutChange::Create(queued.clone())],
            postings: vec![
                fund(&available, 10_000),
                posting(&available, &reserved, 4_000, PostingKind::Reserve),
            ],
            events: vec![event("evt_round_0", app, "refund:1")],
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    take_nonces(&store, &[nonce("ETH", hot(1), 2)])
        .await
        .unwrap();

    // A round: the refund is sent, its payout signed with the next nonce and its transaction
    // stored, the settlement approved, money moves, and an event announces it.
    let tx = signed_tx(&queued, 1, 3, 20);
    let sent = Refund {
        tx_hash: Some(tx.tx_hash.clone()),
        ..pending_refund
            .transition(RefundEvent::Sent, at(20))
            .unwrap()
    };
    let signed = Payout {
        nonce: Some(3),
        tx_hash: Some(tx.tx_hash.clone()),
        ..queued.moved(PayoutStatus::Signed, at(20)).unwrap()
    };
    let approved = pending_settlement.approve(at(20)).unwrap();
    let round = |postings: Vec<Posting>, events: Vec<OutboxEvent>| ChangeSet {
        refunds: vec![RefundChange::Update {
            expected_version: 1,
            refund: sent.clone(),
        }],
        settlements: vec![SettlementChange::Update {
            expected_version: 1,
            settlement: approved.clone(),
        }],
        payouts: vec![PayoutChange::Update {
            expected_version: 1,
            payout: signed.clone(),
        }],
        nonces: vec![nonce("ETH", hot(1), 3)],
        signed_txs: vec![tx.clone()],
        postings,
        events,
        ..ChangeSet::default()
    };
    let reserve = |amount| posting(&available, &reserved, amount, PostingKind::Reserve);
    let pay_out = |amount| posting(&reserved, &custody(1), amount, PostingKind::PaidOut);
    let announce = || vec![event("evt_round_1", app, "refund:1")];
    let untouched = || async {
        let refund_now = store.refund(&pending_refund.sysid).await.unwrap();
        assert_eq!(refund_now, Some(pending_refund.clone()));
        let settlement_now = stored_settlement(&store, &pending_settlement.sysid).await;
        assert_eq!(settlement_now, pending_settlement);
        assert_eq!(stored_payout(&store, &queued.id).await, queued);
        assert!(store.signed_txs(&queued.id).await.unwrap().is_empty());
        assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(3));
        assert_eq!(balance_of(&store, &available).await, 6_000);
        assert_eq!(balance_of(&store, &reserved).await, 4_000);
        assert_eq!(ledger_check(&store).await, balanced(2, 14_000));
        assert!(!event_stored(&store, "evt_round_1").await);
    };

    // Paying out more than is reserved: nothing of the set happens.
    let result = store.commit(round(vec![pay_out(4_001)], announce())).await;
    assert_eq!(result, Err(CommitError::Insufficient(reserved.key())));
    untouched().await;
    // Nor when an earlier posting of the set went through.
    let postings = vec![reserve(5_000), pay_out(9_001)];
    let result = store.commit(round(postings, announce())).await;
    assert_eq!(result, Err(CommitError::Insufficient(reserved.key())));
    untouched().await;

    // The very last write, an event, fails (its id is taken): nothing happens either.
    let events = vec![
        event("evt_round_1", app, "refund:1"),
        event("evt_round_0", app, "refund:1"),
    ];
    let postings = || vec![reserve(5_000), pay_out(9_000)];
    let result = store.commit(round(postings(), events)).await;
    assert!(matches!(result, Err(CommitError::Store(_))), "{result:?}");
    untouched().await;

    // Every part valid: all of it is written.
    store.commit(round(postings(), announce())).await.unwrap();
    assert_eq!(
        store.refund(&pending_refund.sysid).await.unwrap(),
        Some(sent)
    );
    assert_eq!(
        stored_settlement(&store, &pending_settlement.sysid).await,
        approved
    );
    assert_eq!(stored_payout(&store, &queued.id).await, signed);
    assert_eq!(store.signed_txs(&queued.id).await.unwrap(), vec![tx]);
    assert_eq!(next_nonce(&store, "ETH", hot(1)).await, Some(4));
    assert_eq!(balance_of(&store, &available).await, 1_000);
    assert_eq!(balance_of(&store, &reserved).await, 0);
    assert_eq!(ledger_check(&store).await, balanced(4, 28_000));
    assert!(event_stored(&store, "evt_round_1").await);
}
