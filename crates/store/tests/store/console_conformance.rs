//! The console's reads: the webhooks of a set of objects with their attempts, the audit log by
//! pages (all of it, or one app's operators' entries), live sessions and ending all of one
//! operator's.

use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::operator::{ConsoleAction, Role};
use wcheckout_domain::ports::{
    AttemptOutcome, ChangeSet, ChangeStore, ConsoleStore, DeliveryAttempt, OperatorStore,
    OutboxStore,
};
use wcheckout_store::SqlStore;
use wcheckout_testkit::store_fixtures::{
    app_id, at, audit_entry, console_session, insert_apps, operator,
};

conformance!(
    events_and_attempts_of_objects,
    audit_pages_newest_first_and_per_app,
    live_sessions_and_ending_an_operators,
);

fn event(n: u32, object_key: &str) -> OutboxEvent {
    OutboxEvent {
        event_id: format!("evt_{n:03}"),
        app_id: app_id(1),
        event_type: EventType::CheckoutOrderChanged,
        object_key: object_key.to_owned(),
        body: format!(r#"{{"n":{n}}}"#),
        created_at: at(i64::from(n)),
    }
}

fn attempt(event_id: &str, attempt: u32) -> DeliveryAttempt {
    DeliveryAttempt {
        event_id: event_id.to_owned(),
        attempt,
        started_at: at(100 + i64::from(attempt)),
        duration_ms: 5,
        url: Some("https://example.com/hook".into()),
        http_status: Some(500),
        delivered: false,
        error: Some("receiver answered HTTP 500".into()),
        response_excerpt: None,
    }
}

async fn events_and_attempts_of_objects(store: SqlStore) {
    insert_apps(&store, &[1]).await;
    let events = vec![
        event(1, "order:OR1"),
        event(2, "refund:RF1"),
        event(3, "order:OR2"),
        event(4, "order:OR1"),
    ];
    let changes = ChangeSet {
        events: events.clone(),
        ..ChangeSet::default()
    };
    store.commit(changes).await.unwrap();
    let keys = ["order:OR1".to_owned(), "refund:RF1".to_owned()];
    let found = store.events_of_objects(&keys).await.unwrap();
    let ids: Vec<_> = found.iter().map(|e| e.event.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["evt_001", "evt_002", "evt_004"],
        "oldest first, others left out"
    );
    assert_eq!(found[0].event, events[0]);
    assert!(store.events_of_objects(&[]).await.unwrap().is_empty());

    for (id, n) in [("evt_001", 1), ("evt_004", 1), ("evt_001", 2)] {
        let logged = attempt(id, n);
        let outcome = AttemptOutcome::RetryAt(at(500));
        store
            .finish_attempt("nobody", &logged, outcome)
            .await
            .unwrap();
    }
    let ids = ["evt_001".to_owned(), "evt_003".to_owned()];
    let attempts = store.attempts_of_events(&ids).await.unwrap();
    assert_eq!(attempts, vec![attempt("evt_001", 1), attempt("evt_001", 2)]);
    assert!(store.attempts_of_events(&[]).await.unwrap().is_empty());
}

async fn audit_pages_newest_first_and_per_app(store: SqlStore) {
    insert_apps(&store, &[1, 2]).await;
    // op01 sees everything, op02 is bound to app 1, op03 to app 2.
    for account in [
        operator(1, Role::Admin, None),
        operator(2, Role::Support, Some(1)),
        operator(3, Role::Support, Some(2)),
    ] {
        store.insert_operator(&account).await.unwrap();
    }
    for n in [1, 2, 3, 2, 1, 2] {
        store
            .append_audit(&audit_entry(n, ConsoleAction::CancelOrder))
            .await
            .unwrap();
    }
    let first = store.audit_page(None, None, 4).await.unwrap();
    let operators = |rows: &[wcheckout_domain::ports::AuditRow]| {
        rows.iter()
            .map(|r| r.entry.operator.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(operators(&first), ["op02", "op01", "op02", "op03"]);
    assert!(first.windows(2).all(|w| w[0].id > w[1].id));
    let rest = store.audit_page(None, Some(first[3].id), 4).await.unwrap();
    assert_eq!(operators(&rest), ["op02", "op01"]);
    let app_one = store.audit_page(Some(&app_id(1)), None, 10).await.unwrap();
    assert_eq!(operators(&app_one), ["op02", "op02", "op02"]);
    let older = store
        .audit_page(Some(&app_id(1)), Some(app_one[0].id), 1)
        .await
        .unwrap();
    assert_eq!(older[0].id, app_one[1].id);
    assert!(
        store
            .audit_page(Some(&app_id(9)), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn live_sessions_and_ending_an_operators(store: SqlStore) {
    for n in [1, 2] {
        store
            .insert_operator(&operator(n, Role::Viewer, None))
            .await
            .unwrap();
    }
    let sessions = [
        console_session(1, "op01", 100),
        console_session(2, "op01", 10),
        console_session(3, "op02", 100),
        console_session(4, "op01", 100),
    ];
    for session in &sessions {
        store.insert_console_session(session).await.unwrap();
    }
    // At T0 + 20 s, session 2 has ended.
    let live = store.live_console_sessions(at(20), 10).await.unwrap();
    assert_eq!(
        live,
        vec![
            sessions[3].clone(),
            sessions[2].clone(),
            sessions[0].clone()
        ]
    );
    assert_eq!(
        store.live_console_sessions(at(20), 1).await.unwrap().len(),
        1
    );
    assert_eq!(store.end_sessions_of("op01").await.unwrap(), 3);
    let left = store.live_console_sessions(at(0), 10).await.unwrap();
    assert_eq!(left, vec![sessions[2].clone()]);
    assert_eq!(store.end_sessions_of("nobody").await.unwrap(), 0);
}
