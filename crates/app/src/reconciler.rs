//! Reconciling each chain on a schedule, so the console always shows a recent result.
//!
//! The schedule is the stored results themselves: a chain is due when its newest result (from
//! this worker in any gateway process, or from `wcheckout reconcile`) is older than the
//! interval. A restart therefore does not reconcile more often, and a second gateway process
//! finds the work done. It runs beside the payout engine, never inside its rounds: reading
//! thousands of balances must not hold up a refund.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wcheckout_domain::chain::ChainWriter;
use wcheckout_domain::token::Chain;

use crate::gateway::Gateway;
use crate::payouts::PayoutError;
use crate::reconcile::ChainReconciliation;

/// The pause before a failed look or reconciliation is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Reconciles one chain every `every`.
pub struct Reconciler {
    gateway: Arc<Gateway>,
    chain: Chain,
    writer: Arc<dyn ChainWriter>,
    every: Duration,
}

impl Reconciler {
    /// The reconciler of `chain`, reading balances through `writer`.
    pub fn new(
        gateway: Arc<Gateway>,
        chain: Chain,
        writer: Arc<dyn ChainWriter>,
        every: Duration,
    ) -> Reconciler {
        Reconciler {
            gateway,
            chain,
            writer,
            every,
        }
    }

    /// Reconciles whenever due until `shutdown` turns true, reading the kept results only when
    /// the chain may be due (at start, then once an interval has passed): another process's run
    /// meanwhile is seen then, and moves the next look on. A failure is logged and tried again
    /// after [`RETRY_AFTER`].
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let wait = match self.due_in().await {
                Ok(Some(wait)) => wait,
                Ok(None) => self.reconcile_now().await,
                Err(error) => {
                    tracing::warn!(chain = %self.chain.key, %error, "could not reconcile");
                    RETRY_AFTER
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait.min(self.every)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Reconciles and logs what it found; how long until the next look.
    async fn reconcile_now(&self) -> Duration {
        let found = self
            .gateway
            .reconcile_chain(&self.chain, self.writer.as_ref())
            .await;
        match found {
            Ok(found) if !found.differences.is_empty() => tracing::warn!(
                chain = %self.chain.key,
                checked = found.checked,
                different = found.differences.len(),
                in_flight = found.in_flight,
                "the ledger and the chain disagree; see `wcheckout reconcile`"
            ),
            Ok(found) => {
                tracing::info!(chain = %self.chain.key, checked = found.checked, "reconciled");
            }
            Err(error) => {
                tracing::warn!(chain = %self.chain.key, %error, "could not reconcile");
                return RETRY_AFTER;
            }
        }
        self.every
    }

    /// Reconciles the chain if its newest stored result is older than the interval (or there
    /// is none); what it found, or `None` when it was not due.
    pub async fn reconcile_if_due(&self) -> Result<Option<ChainReconciliation>, PayoutError> {
        if self.due_in().await?.is_some() {
            return Ok(None);
        }
        let found = self
            .gateway
            .reconcile_chain(&self.chain, self.writer.as_ref())
            .await?;
        Ok(Some(found))
    }

    /// How long until the chain is due by its newest kept result; `None` when it is due now.
    async fn due_in(&self) -> Result<Option<Duration>, PayoutError> {
        let last = self
            .gateway
            .last_reconciliations()
            .await?
            .into_iter()
            .filter(|r| r.chain == self.chain.key)
            .map(|r| r.at)
            .max();
        let Some(at) = last else {
            return Ok(None);
        };
        let age = self
            .gateway
            .clock
            .now()
            .micros()
            .saturating_sub(at.micros());
        let age = Duration::from_micros(u64::try_from(age).unwrap_or(0));
        Ok(self.every.checked_sub(age).filter(|left| !left.is_zero()))
    }
}
