//! The store's conformance suites, one binary (each test binary links the whole store and
//! sqlx): the store ports in `conformance`, the money part (refunds, settlements, payouts,
//! nonces, the ledger) in `money_conformance`, operator accounts and the audit log in
//! `operator_conformance`, the operator console's own reads in `console_conformance`. Each
//! runs against both engines with identical assertions: every scenario is an
//! `async fn(SqlStore)`, and `conformance!` expands it into a module with a `sqlite` and a
//! `postgres` test. The values they write are built by
//! `wcheckout_testkit::store_fixtures`.
//!
//! The PostgreSQL half is skipped when no server is reachable, unless `WCHECKOUT_REQUIRE_PG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wcheckout_store::{SqlStore, StoreOptions};

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
                    let store = crate::open(&db.url).await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                    drop(db);
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(db) = wcheckout_testkit::fresh_postgres(module_path!()).await else {
                        return;
                    };
                    let store = crate::open(&db.url).await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                    drop(db);
                }
            }
        )*
    };
}

mod conformance;
mod console_conformance;
mod money_conformance;
mod operator_conformance;
