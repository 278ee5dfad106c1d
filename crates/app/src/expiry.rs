//! The expiry worker: moves `PAYING` orders whose window has ended to `TIMEOUT`. Orders are
//! found by their stored deadline, so a restart loses nothing: overdue orders expire on the
//! first pass after start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wcheckout_domain::order::OrderEvent;

use crate::error::{ChangeError, ServiceError};
use crate::gateway::Gateway;

/// Orders handled per database round.
const BATCH: u32 = 200;

impl Gateway {
    /// Expires every order due now; returns how many moved to `TIMEOUT`. An order changed
    /// concurrently (paid, cancelled, expired by another process) is left to that change.
    pub async fn expire_due_orders(&self) -> Result<usize, ServiceError> {
        let mut expired = 0usize;
        loop {
            let due = self
                .store
                .orders_due_for_expiry(self.clock.now(), BATCH)
                .await?;
            let mut moved_this_round = 0usize;
            for order in &due {
                match self.apply_order_event(order, OrderEvent::Expire).await {
                    Ok(_) => moved_this_round += 1,
                    Err(ChangeError::Conflict) => {}
                    Err(ChangeError::Failed(error)) => return Err(error),
                }
            }
            expired += moved_this_round;
            // A full batch that made progress may have more behind it.
            if due.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) || moved_this_round == 0 {
                return Ok(expired);
            }
        }
    }
}

/// Runs [`Gateway::expire_due_orders`] every `interval` until `shutdown` turns true.
pub async fn run_expiry_worker(
    gateway: Arc<Gateway>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match gateway.expire_due_orders().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "orders expired"),
            Err(error) => tracing::warn!(%error, "expiry pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
