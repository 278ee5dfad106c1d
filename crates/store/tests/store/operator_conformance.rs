//! Operator accounts and the audit log: round trips, unique names, compare-and-set of the
//! status and the password, and a log that neither the store nor a hand-written statement can change.

use wcheckout_domain::operator::{ConsoleAction, OperatorStatus, OperatorTotp, Role};
use wcheckout_domain::ports::{OperatorStore, SessionStore};
use wcheckout_store::SqlStore;
use wcheckout_testkit::store_fixtures::{at, audit_entry, console_session, insert_apps, operator};

conformance!(
    operators_insert_read_and_list,
    operators_status_compare_and_set,
    operators_password_compare_and_set,
    audit_log_appends_newest_first,
    console_sessions_insert_read_end_and_purge,
    operators_second_factor_compare_and_set,
);

async fn operators_insert_read_and_list(store: SqlStore) {
    insert_apps(&store, &[1]).await;
    let bound = operator(2, Role::Finance, Some(1));
    let unbound = operator(1, Role::Admin, None);
    for account in [&bound, &unbound] {
        assert!(store.insert_operator(account).await.unwrap());
    }
    let clash = operator(2, Role::Viewer, None);
    assert!(!store.insert_operator(&clash).await.unwrap(), "name taken");
    assert_eq!(store.operator("op02").await.unwrap(), Some(bound.clone()));
    assert_eq!(store.operator("op01").await.unwrap(), Some(unbound.clone()));
    assert_eq!(store.operator("nobody").await.unwrap(), None);
    assert_eq!(store.operators().await.unwrap(), vec![unbound, bound]);
}

async fn operators_status_compare_and_set(store: SqlStore) {
    let account = operator(1, Role::Support, None);
    store.insert_operator(&account).await.unwrap();
    let (active, disabled) = (OperatorStatus::Active, OperatorStatus::Disabled);
    let moved = store.set_operator_status("op01", active, disabled, at(50));
    assert!(moved.await.unwrap());
    let again = store.set_operator_status("op01", active, disabled, at(60));
    assert!(!again.await.unwrap(), "no longer active");
    let unknown = store.set_operator_status("nobody", active, disabled, at(60));
    assert!(!unknown.await.unwrap());
    let stored = store.operator("op01").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.updated_at), (disabled, at(50)));
    assert_eq!(stored.created_at, account.created_at);
}

async fn operators_password_compare_and_set(store: SqlStore) {
    let account = operator(1, Role::Viewer, None);
    store.insert_operator(&account).await.unwrap();
    let old = account.password_hash.as_str();
    let changed = store.set_operator_password("op01", old, "$argon2id$new", at(70));
    assert!(changed.await.unwrap());
    let stale = store.set_operator_password("op01", old, "$argon2id$other", at(80));
    assert!(
        !stale.await.unwrap(),
        "the hash read is no longer the account's"
    );
    let unknown = store.set_operator_password("nobody", old, "$argon2id$x", at(80));
    assert!(!unknown.await.unwrap());
    let stored = store.operator("op01").await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.updated_at),
        ("$argon2id$new", at(70))
    );
}

async fn audit_log_appends_newest_first(store: SqlStore) {
    assert_eq!(store.audit_log(10).await.unwrap(), vec![]);
    let actions = [
        ConsoleAction::SignIn,
        ConsoleAction::ApproveSettlement,
        ConsoleAction::SignOut,
    ];
    let entries: Vec<_> = (1..).zip(actions).map(|(n, a)| audit_entry(n, a)).collect();
    for entry in &entries {
        store.append_audit(entry).await.unwrap();
    }
    let newest: Vec<_> = entries.iter().rev().cloned().collect();
    assert_eq!(store.audit_log(10).await.unwrap(), newest);
    assert_eq!(store.audit_log(2).await.unwrap(), newest[..2]);
}

async fn console_sessions_insert_read_end_and_purge(store: SqlStore) {
    let alice = operator(1, Role::Viewer, None);
    store.insert_operator(&alice).await.unwrap();
    let (short, long) = (
        console_session(1, "op01", 60),
        console_session(2, "op01", 3600),
    );
    for session in [&short, &long] {
        store.insert_console_session(session).await.unwrap();
    }
    let read = store.console_session(&long.token_hash).await.unwrap();
    assert_eq!(read, Some((long.clone(), alice.clone())));
    assert_eq!(store.console_session(&"f".repeat(64)).await.unwrap(), None);
    let (active, disabled) = (OperatorStatus::Active, OperatorStatus::Disabled);
    store
        .set_operator_status("op01", active, disabled, at(5))
        .await
        .unwrap();
    let (_, operator) = store
        .console_session(&long.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(operator.status, disabled, "the operator as it is now");
    // Purging removes the expired session only.
    store.purge_expired(at(62)).await.unwrap();
    assert_eq!(
        store.console_session(&short.token_hash).await.unwrap(),
        None
    );
    assert!(
        store
            .console_session(&long.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.end_console_session(&long.token_hash).await.unwrap());
    assert!(
        !store.end_console_session(&long.token_hash).await.unwrap(),
        "ended once"
    );
    assert_eq!(store.console_session(&long.token_hash).await.unwrap(), None);
}

/// The database itself refuses to change or remove audit entries.
async fn audit_log_refuses_changes(url: &str) {
    let store = crate::open(url).await;
    let entry = audit_entry(1, ConsoleAction::CancelOrder);
    store.append_audit(&entry).await.unwrap();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    for statement in [
        "update audit_log set target = 'other'",
        "delete from audit_log",
    ] {
        let refused = sqlx::query(statement).execute(&pool).await;
        let error = refused.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    pool.close().await;
    assert_eq!(store.audit_log(10).await.unwrap(), vec![entry]);
    store.close().await;
}

mod audit_log_refuses_changes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let db = wcheckout_testkit::fresh_sqlite();
        super::audit_log_refuses_changes(&db.url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        if let Some(db) = wcheckout_testkit::fresh_postgres(module_path!()).await {
            super::audit_log_refuses_changes(&db.url).await;
        }
    }
}

/// The second factor is switched on only when off and off only with the secret expected; a time
/// step is accepted once, and never one at or before the last; sign-ins are remembered; an
/// account inserted with a second factor reads back with it.
async fn operators_second_factor_compare_and_set(store: SqlStore) {
    store
        .insert_operator(&operator(1, Role::Viewer, None))
        .await
        .unwrap();
    assert!(
        !store.use_totp_step("op01", "v1.a", 5).await.unwrap(),
        "off"
    );
    let on = store.enable_operator_totp("op01", "v1.a", Some(10), at(20));
    assert!(on.await.unwrap());
    let again = store.enable_operator_totp("op01", "v1.b", None, at(21));
    assert!(!again.await.unwrap(), "on already");
    let read = store.operator("op01").await.unwrap().unwrap();
    let expected = OperatorTotp {
        sealed_secret: "v1.a".into(),
        last_step: Some(10),
    };
    assert_eq!((read.totp, read.updated_at), (Some(expected), at(20)));
    assert!(
        !store.use_totp_step("op01", "v1.a", 10).await.unwrap(),
        "used"
    );
    assert!(
        !store.use_totp_step("op01", "v1.a", 9).await.unwrap(),
        "older"
    );
    assert!(
        !store.use_totp_step("op01", "v1.b", 11).await.unwrap(),
        "not its secret"
    );
    assert!(!store.use_totp_step("nobody", "v1.a", 11).await.unwrap());
    assert!(store.use_totp_step("op01", "v1.a", 11).await.unwrap());
    assert!(
        !store.use_totp_step("op01", "v1.a", 11).await.unwrap(),
        "once"
    );
    let read = store.operator("op01").await.unwrap().unwrap();
    assert_eq!(read.totp.unwrap().last_step, Some(11));
    let off = store.disable_operator_totp("op01", "v1.b", at(30));
    assert!(!off.await.unwrap(), "not the secret expected");
    assert!(
        store
            .disable_operator_totp("op01", "v1.a", at(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .disable_operator_totp("op01", "v1.a", at(31))
            .await
            .unwrap()
    );
    let read = store.operator("op01").await.unwrap().unwrap();
    assert_eq!((read.totp, read.last_sign_in_at), (None, None));
    store.record_operator_sign_in("op01", at(40)).await.unwrap();
    let read = store.operator("op01").await.unwrap().unwrap();
    assert_eq!(read.last_sign_in_at, Some(at(40)));

    let with_totp = wcheckout_domain::operator::Operator {
        totp: Some(OperatorTotp {
            sealed_secret: "v1.c".into(),
            last_step: None,
        }),
        last_sign_in_at: Some(at(3)),
        ..operator(2, Role::Admin, None)
    };
    assert!(store.insert_operator(&with_totp).await.unwrap());
    assert_eq!(store.operator("op02").await.unwrap(), Some(with_totp));
}
