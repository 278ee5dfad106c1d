//! The chain watcher: one per configured chain. Each round it takes (or renews) the chain's
//! lease, checks that the last processed block is still canonical (rewinding past a
//! reorganisation otherwise), records the transfers of the next bounded block range that pay
//! our deposit addresses together with the new cursor (crediting in that commit those already
//! final), and credits the transfers that have become final since. While behind, it fetches and
//! matches the range after the current one while the current one is committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{BlockMark, BlockRef, ChainError, ChainReader};
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{Transfer, TransferEvent, TransferState};
use wcheckout_domain::ports::{ChangeSet, CommitError, CursorMove, OrderWrite, TransferChange};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{Chain, ChainKey};

use crate::chain_health::{ChainHealth, ChainHealthBoard};
use crate::error::OrInternal;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::outage::{Outage, Recovery};
use crate::payments::Credited;
use crate::postings;
use crate::range_fetch::{Matched, ReadAhead, block_at, read_range};
use crate::transfer_match::TransferMatcher;

/// Tuning of a watcher.
#[derive(Clone, Debug)]
pub struct WatcherSettings {
    /// Most blocks fetched in one `eth_getLogs` range.
    pub max_blocks_per_scan: u64,
    /// How long to wait for a new head when caught up (without a WebSocket).
    pub poll_interval: Duration,
    /// First block to scan when the chain has no cursor yet (default: the head).
    pub start_block: Option<u64>,
    /// How long a watcher's lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Reorg checkpoints examined when looking for the fork point.
    pub max_reorg_depth: u32,
    /// Final transfers credited per database round.
    pub credit_batch: u32,
    /// Longest wait between two attempts while rounds fail (the wait doubles up to it).
    pub max_retry_wait: Duration,
}

impl Default for WatcherSettings {
    fn default() -> Self {
        WatcherSettings {
            max_blocks_per_scan: 1000,
            poll_interval: Duration::from_millis(1000),
            start_block: None,
            lease_ttl: Duration::from_secs(15),
            max_reorg_depth: 256,
            credit_batch: 500,
            max_retry_wait: Duration::from_secs(30),
        }
    }
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Storage or a use case failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The chain changed under the round (a reorganisation in progress); retried.
    #[error("chain changed during the round: {0}")]
    Moving(String),
}

impl From<wcheckout_domain::ports::StoreError> for WatchError {
    fn from(error: wcheckout_domain::ports::StoreError) -> Self {
        WatchError::Service(error.into())
    }
}

/// What a round achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Everything up to the head is recorded.
    CaughtUp,
    /// More blocks wait: go again at once.
    MoreToScan,
    /// Another process holds the lease.
    Standby,
}

/// Watches one chain.
pub struct ChainWatcher {
    gateway: Arc<Gateway>,
    chain: Chain,
    contracts: Vec<Address>,
    matcher: TransferMatcher,
    reader: Arc<dyn ChainReader>,
    settings: WatcherSettings,
    holder: String,
    health: Arc<ChainHealthBoard>,
    /// The next range, being fetched and matched while the current one is committed.
    read_ahead: ReadAhead,
}

/// A commit that another process may have made first; losing that race is fine.
fn tolerating_races(outcome: Result<(), CommitError>) -> Result<(), WatchError> {
    match outcome {
        Ok(()) | Err(CommitError::Conflict) => Ok(()),
        // Watcher postings are corrections or credits; none can overdraw a guarded account.
        Err(CommitError::Insufficient(account)) => {
            Err(ServiceError::internal(format!("watcher posting overdrew {account}")).into())
        }
        Err(CommitError::Store(error)) => Err(error.into()),
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl ChainWatcher {
    /// A watcher of `chain` reading through `reader`; `holder` names this process in leases.
    pub fn new(
        gateway: Arc<Gateway>,
        chain: Chain,
        reader: Arc<dyn ChainReader>,
        settings: WatcherSettings,
        holder: String,
        health: Arc<ChainHealthBoard>,
    ) -> ChainWatcher {
        let tokens_by_contract = gateway
            .tokens
            .tokens_of(&chain.key)
            .map(|t| (t.contract, t.id.clone()))
            .collect::<HashMap<_, _>>();
        let contracts = tokens_by_contract.keys().copied().collect();
        let matcher = TransferMatcher {
            gateway: Arc::clone(&gateway),
            reader: Arc::clone(&reader),
            chain: chain.key.clone(),
            tokens_by_contract: Arc::new(tokens_by_contract),
        };
        ChainWatcher {
            gateway,
            chain,
            contracts,
            matcher,
            reader,
            settings,
            holder,
            health,
            read_ahead: ReadAhead::default(),
        }
    }

    fn key(&self) -> &ChainKey {
        &self.chain.key
    }

    /// Runs rounds until `shutdown` turns true, then gives up the chain's lease.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(chain = %self.key(), contracts = self.contracts.len(), "watcher started");
        // The head known from before counts towards the head's age until a round sees a newer
        // one: a node that is down from the start shows in `/health` at once.
        let stored = self.gateway.store.chain_cursor(self.key()).await;
        let stored_head = stored
            .ok()
            .flatten()
            .filter(|cursor| cursor.head_time.micros() > 0)
            .map(|cursor| (cursor.head_number, cursor.head_time));
        self.health
            .watching(self.key(), stored_head, self.gateway.clock.now());
        let first_retry = self.settings.poll_interval.max(Duration::from_millis(500));
        let mut outage = Outage::new(first_retry, self.settings.max_retry_wait);
        // The last block processed when the outage began: how far the watcher comes back from.
        let mut processed_before = 0;
        while !*shutdown.borrow() {
            let round = self.round().await;
            let now = self.gateway.clock.now();
            let wait = match round {
                Ok(round) => {
                    if let Some(recovery) = outage.succeeded(now) {
                        self.say_recovered(recovery, processed_before, now);
                    }
                    match round {
                        Round::MoreToScan => continue,
                        Round::CaughtUp | Round::Standby => self.settings.poll_interval,
                    }
                }
                Err(error) => {
                    self.health.error(self.key(), error.to_string(), now);
                    let failure = outage.failed(now);
                    if failure.starts_outage {
                        processed_before = self.chain_health(now).processed_height;
                        tracing::warn!(chain = %self.key(), %error, max_retry_secs = self.settings.max_retry_wait.as_secs(), "watcher rounds failing; retrying with backoff until the chain answers again");
                    } else {
                        tracing::debug!(chain = %self.key(), %error, "watcher round failed again");
                    }
                    failure.wait
                }
            };
            tokio::select! {
                () = self.reader.wait_for_new_head(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Err(error) = self
            .gateway
            .store
            .release_lease(self.key().as_str(), &self.holder)
            .await
        {
            tracing::warn!(chain = %self.key(), %error, "could not release the chain lease");
        }
    }

    /// This chain's health as of `now`.
    fn chain_health(&self, now: Timestamp) -> ChainHealth {
        let mut all = self.health.snapshot(now);
        all.remove(self.key().as_str()).unwrap_or_default()
    }

    /// The end of a run of failed rounds, said once: how long it lasted, and how many blocks the
    /// chain had moved past the last one processed before it (what the watcher catches up).
    fn say_recovered(&self, recovery: Recovery, processed_before: u64, now: Timestamp) {
        let head = self.chain_health(now).head_height;
        let behind = head.saturating_sub(processed_before);
        tracing::info!(chain = %self.key(), down_secs = recovery.down_secs, failed_rounds = recovery.failed_rounds, blocks_to_catch_up = behind, "watcher rounds succeed again");
    }

    /// One round: lease, reorg check, one scan step, crediting of final transfers.
    pub async fn round(&self) -> Result<Round, WatchError> {
        let store = &self.gateway.store;
        let now = self.gateway.clock.now();
        let head = self.reader.head().await?;
        let until =
            Timestamp::from_micros(now.micros().saturating_add(micros(self.settings.lease_ttl)));
        let leader = crate::lease::take(
            store.as_ref(),
            self.key().as_str(),
            &self.holder,
            now,
            until,
        )
        .await?;
        let Some(cursor) = store.chain_cursor(self.key()).await? else {
            if leader {
                self.start_cursor(&head).await?;
            }
            return Ok(if leader {
                Round::MoreToScan
            } else {
                Round::Standby
            });
        };
        if !leader {
            let processed = (cursor.processed.number, head.time);
            self.health
                .round(self.key(), (head.number, head.time), processed, false);
            return Ok(Round::Standby);
        }
        let processed = self.block(cursor.processed.number).await;
        let processed = match processed {
            Ok(block) if block.hash == cursor.processed.hash => block,
            Ok(_) | Err(WatchError::Moving(_)) => {
                self.rewind(&cursor.processed).await?;
                return Ok(Round::MoreToScan);
            }
            Err(error) => return Err(error),
        };
        // Read once per round: the scan credits transfers already final, and so does the
        // crediting of those recorded earlier.
        let final_height =
            crate::finality::final_height(&self.chain, self.reader.as_ref(), head.number).await?;
        let (processed, more) = if head.number > processed.number {
            self.scan(&cursor.processed, &head, final_height).await?
        } else {
            (processed, false)
        };
        // The head first: the views (and webhooks) of orders credited below count confirmations
        // from it.
        store
            .note_chain_head(self.key(), (head.number, head.time), now, !more)
            .await?;
        // A full credit batch means more final transfers may wait: the next round comes at once.
        let more = self.credit_final(final_height).await? || more;
        let processed_at = (processed.number, processed.time);
        self.health
            .round(self.key(), (head.number, head.time), processed_at, true);
        Ok(if more {
            Round::MoreToScan
        } else {
            Round::CaughtUp
        })
    }

    async fn block(&self, number: u64) -> Result<BlockRef, WatchError> {
        block_at(self.reader.as_ref(), number).await
    }

    async fn start_cursor(&self, head: &BlockRef) -> Result<(), WatchError> {
        let start = match self.settings.start_block {
            Some(first) => self.block(first.saturating_sub(1)).await?,
            None => head.clone(),
        };
        let changes = ChangeSet {
            cursor: Some(CursorMove {
                chain: self.key().clone(),
                expected: None,
                to: BlockMark::from(&start),
                checkpoints: Vec::new(),
                forget_above: None,
            }),
            ..ChangeSet::default()
        };
        tracing::info!(chain = %self.key(), block = start.number, "watcher cursor created");
        self.commit_tolerating_races(changes).await
    }

    /// A commit that another process may have made first; losing that race is fine.
    async fn commit_tolerating_races(&self, changes: ChangeSet) -> Result<(), WatchError> {
        tolerating_races(self.gateway.store.commit(changes).await)
    }

    /// Records the transfers of the next range and moves the cursor past it, atomically,
    /// crediting in the same commit those already final. The range after it is fetched
    /// meanwhile.
    async fn scan(
        &self,
        cursor: &BlockMark,
        head: &BlockRef,
        final_height: Option<u64>,
    ) -> Result<(BlockRef, bool), WatchError> {
        let started = std::time::Instant::now();
        let ahead = self
            .read_ahead
            .take(self.reader.as_ref(), cursor, self.key())
            .await;
        let read = match ahead {
            Some(read) => read,
            None => {
                let to = head.number.min(
                    cursor
                        .number
                        .saturating_add(self.settings.max_blocks_per_scan),
                );
                read_range(&self.matcher, &self.contracts, cursor.number + 1, to).await?
            }
        };
        let waited = started.elapsed();
        let Matched { to, end, .. } = &read;
        if *to < head.number {
            let next_to = head
                .number
                .min(to.saturating_add(self.settings.max_blocks_per_scan));
            let (matcher, contracts) = (self.matcher.clone(), self.contracts.clone());
            let from = to + 1;
            self.read_ahead.start(BlockMark::from(end), async move {
                read_range(&matcher, &contracts, from, next_to).await
            });
        }
        let credited = self
            .commit_range(cursor, end, &read.transfers, head, final_height)
            .await?;
        if !read.transfers.is_empty() {
            tracing::info!(
                chain = %self.key(),
                count = read.transfers.len(),
                credited,
                logs = read.logs,
                to,
                waited_ms = waited.as_millis(),
                fetch_ms = read.fetch_time.as_millis(),
                match_ms = read.match_time.as_millis(),
                commit_ms = (started.elapsed() - waited).as_millis(),
                "transfers recorded"
            );
        }
        metrics::counter!("wcheckout_chain_blocks_scanned_total", "chain" => self.key().to_string())
            .increment(to.saturating_sub(cursor.number));
        Ok((read.end, read.to < head.number))
    }

    /// Commits the records of a range's transfers with the cursor's move to its end, crediting
    /// in the same commit the transfers already final; returns how many it credited. When that
    /// commit meets a conflict (an order changed since it was read, or another process moved
    /// the cursor), the range is committed again as records only: its credits are decided
    /// again in a later round.
    async fn commit_range(
        &self,
        cursor: &BlockMark,
        end: &BlockRef,
        transfers: &[(Transfer, Order)],
        head: &BlockRef,
        final_height: Option<u64>,
    ) -> Result<usize, WatchError> {
        let mut changes = self.record_changes(cursor, end, transfers);
        let credited = match final_height.filter(|_| !transfers.is_empty()) {
            Some(final_height) => {
                self.gateway
                    .credit_on_record(transfers, final_height, head.number, &mut changes)
                    .await?
            }
            None => Vec::new(),
        };
        match self.gateway.store.commit(changes).await {
            Err(CommitError::Conflict) if !credited.is_empty() => {
                let changes = self.record_changes(cursor, end, transfers);
                self.commit_tolerating_races(changes).await?;
                return Ok(0);
            }
            outcome => tolerating_races(outcome)?,
        }
        if !credited.is_empty() {
            // The credits wrote webhook events: delivery starts now, not at the next poll.
            self.gateway.outbox_signal.notify_one();
        }
        for (key, outcome) in &credited {
            tracing::info!(tx = %key.tx_hash, log_index = key.log_index, ?outcome, "transfer final");
        }
        let count = u64::try_from(credited.len()).unwrap_or(u64::MAX);
        metrics::counter!("wcheckout_transfers_credited_total", "chain" => self.key().to_string())
            .increment(count);
        Ok(credited.len())
    }

    /// The cursor's move to `end` with the records of `transfers` (and a reorg checkpoint at
    /// each of their blocks).
    fn record_changes(
        &self,
        cursor: &BlockMark,
        end: &BlockRef,
        transfers: &[(Transfer, Order)],
    ) -> ChangeSet {
        let checkpoints: BTreeSet<(u64, String)> = transfers
            .iter()
            .map(|(t, _)| (t.block_number, t.block_hash.clone()))
            .collect();
        ChangeSet {
            cursor: Some(CursorMove {
                chain: self.key().clone(),
                expected: Some(cursor.clone()),
                to: BlockMark::from(end),
                checkpoints: checkpoints
                    .into_iter()
                    .map(|(number, hash)| BlockMark { number, hash })
                    .collect(),
                forget_above: None,
            }),
            transfers: transfers
                .iter()
                .map(|(t, order)| record(t, order))
                .collect(),
            ..ChangeSet::default()
        }
    }

    /// Credits up to `credit_batch` recorded transfers that have become final, in one commit
    /// when nothing conflicts; true when the batch was full (more may be waiting: the next
    /// round comes at once).
    async fn credit_final(&self, final_height: Option<u64>) -> Result<bool, WatchError> {
        let Some(final_height) = final_height else {
            return Ok(false);
        };
        let batch = self.settings.credit_batch;
        let pending = self
            .gateway
            .store
            .pending_transfers_up_to(self.key(), final_height, batch)
            .await?;
        let started = std::time::Instant::now();
        let outcomes = self.gateway.credit_transfers(&pending).await?;
        if !pending.is_empty() {
            tracing::info!(chain = %self.key(), count = pending.len(), ms = started.elapsed().as_millis(), "final transfers credited");
        }
        let mut waiting = 0usize;
        for (transfer, outcome) in pending.iter().zip(outcomes) {
            if outcome == Credited::Waiting {
                waiting += 1;
            } else {
                tracing::info!(order = %transfer.order_sysid, tx = %transfer.tx_hash, ?outcome, "transfer final");
            }
        }
        // Transfers waiting for their order's expiry stay pending: a full batch of them is no
        // reason to hurry.
        Ok(
            pending.len() >= usize::try_from(batch).unwrap_or(usize::MAX)
                && waiting < pending.len(),
        )
    }

    /// Undoes what a reorganisation abandoned: finds the highest checkpoint still canonical,
    /// forgets pending transfers of abandoned blocks, marks credited ones `REVERSED` with an
    /// alert on their order, and moves the cursor back to the fork point.
    async fn rewind(&self, cursor: &BlockMark) -> Result<(), WatchError> {
        let store = &self.gateway.store;
        let checkpoints = store
            .checkpoints(self.key(), cursor.number, self.settings.max_reorg_depth)
            .await?;
        let heights = checkpoints.iter().map(|c| c.number).collect::<Vec<_>>();
        let canonical = self.canonical_hashes(&heights).await?;
        let ancestor = match checkpoints
            .iter()
            .find(|c| canonical.get(&c.number) == Some(&c.hash))
        {
            Some(ancestor) => ancestor.clone(),
            None => {
                let lowest = checkpoints.last().map_or(cursor.number, |c| c.number);
                tracing::error!(chain = %self.key(), lowest, "ALERT: reorganisation deeper than every remembered checkpoint; rescanning from below them");
                BlockMark::from(&self.block(lowest.saturating_sub(1)).await?)
            }
        };
        let affected = store.transfers_above(self.key(), ancestor.number).await?;
        let heights = affected
            .iter()
            .map(|t| t.block_number)
            .collect::<BTreeSet<_>>();
        let canonical = self
            .canonical_hashes(&heights.into_iter().collect::<Vec<_>>())
            .await?;
        let abandoned = affected
            .iter()
            .filter(|t| canonical.get(&t.block_number) != Some(&t.block_hash))
            .collect::<Vec<_>>();
        let orders = self.orders_of(&abandoned).await?;
        let mut changes = ChangeSet::default();
        let mut reversed: BTreeMap<String, Vec<&Transfer>> = BTreeMap::new();
        for transfer in abandoned {
            let Some(order) = orders.get(&transfer.order_sysid) else {
                continue;
            };
            match transfer.state {
                TransferState::Pending => {
                    changes
                        .transfers
                        .push(TransferChange::ForgetPending(transfer.key()));
                    changes.postings.push(postings::vanished(order, transfer));
                }
                TransferState::Credited => {
                    let reorganised =
                        TransferChange::transition(transfer, TransferEvent::Reorganised)
                            .or_internal("undoing a credited transfer")?;
                    changes.transfers.push(reorganised);
                    changes.postings.push(postings::reversed(order, transfer));
                    reversed
                        .entry(transfer.order_sysid.clone())
                        .or_default()
                        .push(transfer);
                }
                TransferState::Reversed => {}
            }
        }
        let deep = self.alert_orders(&reversed, &mut changes).await?;
        changes.cursor = Some(CursorMove {
            chain: self.key().clone(),
            expected: Some(cursor.clone()),
            to: ancestor.clone(),
            checkpoints: Vec::new(),
            forget_above: Some(ancestor.number),
        });
        self.commit_tolerating_races(changes).await?;
        tracing::warn!(chain = %self.key(), from = cursor.number, to = ancestor.number, deep, "reorganisation: rewound");
        self.health.reorg(self.key(), deep);
        Ok(())
    }

    async fn orders_of(
        &self,
        transfers: &[&Transfer],
    ) -> Result<HashMap<String, Order>, WatchError> {
        let mut orders = HashMap::new();
        for transfer in transfers {
            if orders.contains_key(&transfer.order_sysid) {
                continue;
            }
            if let Some(order) = self
                .gateway
                .store
                .order_by_sysid(&transfer.order_sysid)
                .await?
            {
                orders.insert(order.sysid.clone(), order);
            }
        }
        Ok(orders)
    }

    async fn canonical_hashes(&self, heights: &[u64]) -> Result<HashMap<u64, String>, WatchError> {
        if heights.is_empty() {
            return Ok(HashMap::new());
        }
        let blocks = self.reader.blocks(heights).await?;
        Ok(blocks.into_iter().map(|b| (b.number, b.hash)).collect())
    }

    /// Records on each order that credited transfers were undone; returns how many.
    async fn alert_orders(
        &self,
        reversed: &BTreeMap<String, Vec<&Transfer>>,
        changes: &mut ChangeSet,
    ) -> Result<u64, WatchError> {
        let now = self.gateway.clock.now();
        let mut count = 0u64;
        for (sysid, transfers) in reversed {
            let Some(order) = self.gateway.store.order_by_sysid(sysid).await? else {
                continue;
            };
            let txs = transfers
                .iter()
                .map(|t| t.tx_hash.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let note = format!(
                "credited transfer(s) {txs} removed by a chain reorganisation deeper than the confirmation depth"
            );
            tracing::error!(order = %sysid, %txs, "ALERT: {note}");
            count = count.saturating_add(u64::try_from(transfers.len()).unwrap_or(u64::MAX));
            let after = order.with_alert(note, now);
            changes.orders.push(OrderWrite {
                expected_version: order.version,
                order: after,
            });
        }
        Ok(count)
    }
}

/// Records a transfer; the ledger holds it for the merchant as pending (only the first time).
fn record(transfer: &Transfer, order: &Order) -> TransferChange {
    TransferChange::Record {
        transfer: transfer.clone(),
        if_new: vec![postings::seen(order, transfer)],
        if_revived: vec![postings::revived(order, transfer)],
    }
}
