//! What the payout tests of every chain family share: the payouts a chain had open, and the
//! books checked against the chains.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wcheckout::config::Config;
use wcheckout_domain::payout::{Payout, PayoutKind};
use wcheckout_domain::ports::MoneyStore;
use wcheckout_domain::token::ChainKey;

use super::TestGateway;
use super::chain::eventually;

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
