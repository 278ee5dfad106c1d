//! The expiry worker: moves `PAYING` orders whose window has ended to `TIMEOUT` (with an
//! `UNDER_PAID` abnormal payment when part of the amount arrived). Orders are found by their
//! stored deadline, so a restart loses nothing: overdue orders expire on the first pass.
//! An order whose in-time transfer is still confirming waits for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{self, Expiry, ExpiryFacts, TransferState};
use wcheckout_domain::ports::{ChainCursor, ChangeSet, OrderWrite};
use wcheckout_domain::time::Timestamp;

use crate::error::{ChangeError, ServiceError};
use crate::gateway::{Gateway, payment_progress};
use crate::postings;
use crate::wire::order_changed_event;

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
            let mut moved = 0usize;
            for order in &due {
                match self.try_expire(order).await {
                    Ok(true) => moved += 1,
                    Ok(false) | Err(ChangeError::Conflict) => {}
                    Err(ChangeError::Failed(error)) => return Err(error),
                }
            }
            expired += moved;
            // A full batch that made progress may have more behind it.
            if due.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) || moved == 0 {
                return Ok(expired);
            }
        }
    }

    async fn try_expire(&self, order: &Order) -> Result<bool, ChangeError> {
        let transfers = self
            .store
            .transfers_of_orders(std::slice::from_ref(&order.sysid))
            .await?;
        let confirming_in_time = transfers
            .iter()
            .any(|t| t.state == TransferState::Pending && t.block_time <= order.expires_at);
        let last_credited = transfers
            .iter()
            .rev()
            .find(|t| t.state == TransferState::Credited);
        let now = self.clock.now();
        let (_, chain) = self.token_of(&order.token)?;
        let cursor = self.store.chain_cursor(&chain.key).await?;
        let facts = ExpiryFacts {
            chain_read_past_deadline: self.chain_read_past(cursor.as_ref(), order.expires_at, now),
            confirming_in_time,
        };
        let (after, under_paid) = match payment::expire(order, facts, last_credited, now)? {
            Expiry::Wait => return Ok(false),
            Expiry::Expire { order, under_paid } => (*order, under_paid),
        };
        let head = cursor.map(|c| c.head_number);
        let view =
            self.order_view_with(&after, &payment_progress(transfers.iter(), head, chain))?;
        let mut changes = ChangeSet {
            orders: vec![OrderWrite {
                expected_version: order.version,
                order: after.clone(),
            }],
            events: vec![order_changed_event(&view, &after, now)],
            ..ChangeSet::default()
        };
        if let Some(draft) = under_paid {
            let reference = format!("order:{}", order.sysid);
            changes
                .postings
                .push(postings::set_aside(order, draft.amount, reference));
            self.add_abnormal(draft, order, now, &mut changes)?;
        }
        self.commit(changes).await?;
        metrics::counter!("wcheckout_order_transitions_total", "to" => after.status.as_str())
            .increment(1);
        Ok(true)
    }
}

impl Gateway {
    /// True when every transfer made before `deadline` has been seen: the chain's watcher
    /// finished a round, caught up with the head, that started after the deadline. A chain
    /// never watched has nothing to wait for; a lagging watcher is waited for at most
    /// `expiry_grace_secs` (then late payments become abnormal payments).
    fn chain_read_past(
        &self,
        cursor: Option<&ChainCursor>,
        deadline: Timestamp,
        now: Timestamp,
    ) -> bool {
        match cursor {
            None => true,
            Some(cursor) => {
                cursor.caught_up_at >= deadline
                    || now >= deadline.plus_seconds(self.settings.expiry_grace_secs)
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
