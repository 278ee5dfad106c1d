//! The figures of docs/console.md ("Measured"): how long the console's heavier pages take with
//! 12,000 orders and 20,000 audit entries. Run when `WCHECKOUT_CONSOLE_FIGURES` is set, in a
//! release build:
//! `WCHECKOUT_CONSOLE_FIGURES=1 cargo test --release -p wcheckout --test acceptance console::figures -- --nocapture --test-threads 1`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use wcheckout_domain::operator::{AuditEntry, ConsoleAction};
use wcheckout_domain::ports::{AppStore, OperatorStore, OrderStore};
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::console::{Console, PASSWORD, create};
use crate::common::{Db, TestGateway};

const ORDERS: u64 = 12_000;
const AUDIT_ENTRIES: u32 = 20_000;

async fn pages_with_a_big_store(db: Db) {
    if std::env::var("WCHECKOUT_CONSOLE_FIGURES").is_err() {
        eprintln!("SKIPPED: set WCHECKOUT_CONSOLE_FIGURES=1 to measure the console's pages");
        return;
    }
    let Some(gw) = TestGateway::start(db).await else {
        return;
    };
    gw.store.insert_app(&fixtures::app(1)).await.unwrap();
    let app = fixtures::app_id(1);
    let orders: Vec<_> = (0..ORDERS)
        .map(|i| fixtures::order(&app, &format!("M-{i}"), i))
        .collect();
    let mut inserts = Vec::new();
    for chunk in orders.chunks(1000) {
        let (store, chunk) = (gw.store.clone(), chunk.to_vec());
        inserts.push(tokio::spawn(async move {
            for order in &chunk {
                store.insert_order(order, None).await.unwrap();
            }
        }));
    }
    for insert in inserts {
        insert.await.unwrap();
    }
    for n in 0..AUDIT_ENTRIES {
        let entry = AuditEntry {
            operator: "cli".into(),
            action: ConsoleAction::CancelOrder,
            target: format!("T{n}"),
            at: fixtures::at(i64::from(n)),
            client: "local".into(),
        };
        gw.store.append_audit(&entry).await.unwrap();
    }
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;
    let middle_order = fixtures::order(&app, "M-5000", 5000);
    let middle = middle_order.sysid.clone();
    let deep = format!("{}.{}", middle_order.created_at.micros(), middle);
    for (label, path) in [
        ("order list, page 1", format!("/admin/orders?app={app}")),
        (
            "order list, a page in the middle (keyset)",
            format!("/admin/orders?app={app}&after={deep}"),
        ),
        ("an order's page", format!("/admin/orders/{middle}")),
        ("audit log, first page", "/admin/audit".to_owned()),
        (
            "audit log, near the oldest",
            "/admin/audit?before=100".to_owned(),
        ),
        (
            "orders CSV, 10,000 rows",
            format!("/admin/orders?app={app}&format=csv"),
        ),
    ] {
        let mut best = Duration::MAX;
        let mut size = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let answer = console.get(&path, &root.cookie).await;
            best = best.min(started.elapsed());
            assert_eq!(answer.status, StatusCode::OK, "{label}");
            size = answer.body.len();
        }
        eprintln!("[{db:?}] {label}: best of 5 {best:?}, {size} bytes");
    }
}

on_both_engines_with_db!(pages_with_a_big_store);
