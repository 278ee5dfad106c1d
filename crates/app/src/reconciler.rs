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
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::Chain;

use crate::gateway::Gateway;
use crate::payouts::PayoutError;
use crate::reconcile::ChainReconciliation;

/// The longest pause between two looks at whether a chain is due.
const LOOK_EVERY: Duration = Duration::from_secs(60);

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

    /// Reconciles whenever due until `shutdown` turns true. A failure is logged and tried again
    /// at the next look.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.reconcile_if_due().await {
                Ok(Some(found)) if !found.differences.is_empty() => tracing::warn!(
                    chain = %self.chain.key,
                    checked = found.checked,
                    different = found.differences.len(),
                    in_flight = found.in_flight,
                    "the ledger and the chain disagree; see `wcheckout reconcile`"
                ),
                Ok(Some(found)) => {
                    tracing::info!(chain = %self.chain.key, checked = found.checked, "reconciled");
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(chain = %self.chain.key, %error, "could not reconcile")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.every.min(LOOK_EVERY)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Reconciles the chain if its newest stored result is older than the interval (or there
    /// is none); what it found, or `None` when it was not due.
    pub async fn reconcile_if_due(&self) -> Result<Option<ChainReconciliation>, PayoutError> {
        let last = self
            .gateway
            .last_reconciliations()
            .await?
            .into_iter()
            .filter(|r| r.chain == self.chain.key)
            .map(|r| r.at)
            .max();
        if last.is_some_and(|at| !self.due_after(at)) {
            return Ok(None);
        }
        let found = self
            .gateway
            .reconcile_chain(&self.chain, self.writer.as_ref())
            .await?;
        Ok(Some(found))
    }

    fn due_after(&self, at: Timestamp) -> bool {
        let every = i64::try_from(self.every.as_micros()).unwrap_or(i64::MAX);
        self.gateway
            .clock
            .now()
            .micros()
            .saturating_sub(at.micros())
            >= every
    }
}
