//! Per-chain health as the watchers see it, for `/health` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use utoipa::ToSchema;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::ChainKey;

/// One chain's health.
#[derive(Serialize, ToSchema, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChainHealth {
    /// Latest block the node reported.
    pub head_height: u64,
    /// Last block whose transfers are recorded.
    pub processed_height: u64,
    /// `head_height - processed_height`.
    pub lag_blocks: u64,
    /// Seconds between the head's and the processed block's timestamps.
    pub lag_seconds: i64,
    /// Seconds since the newest head seen was produced, computed when asked: it keeps growing
    /// while the node is down or stalled (before any head is seen: since watching started).
    pub head_age_seconds: i64,
    /// True when `head_age_seconds` is past the configured limit (`watcher.max_head_age_secs`).
    pub stalled: bool,
    /// Failed watcher rounds (RPC errors after failover).
    pub rpc_errors: u64,
    /// Reorganisations detected.
    pub reorgs: u64,
    /// Credited transfers undone by a reorg deeper than the confirmation depth.
    pub deep_reorgs: u64,
    /// True when this process holds the chain's watcher lease.
    pub leader: bool,
    /// The last error, if the last round failed.
    pub last_error: Option<String>,
    /// Seconds since the watcher's rounds started failing, computed when asked (0 while they
    /// succeed).
    pub failing_for_seconds: i64,
}

/// One chain's entry: what `/health` shows, and the newest head's time, from which the head's
/// age is computed when asked.
#[derive(Debug, Default)]
struct Entry {
    health: ChainHealth,
    head_time: Option<Timestamp>,
    /// When the current run of failed rounds began.
    failing_since: Option<Timestamp>,
}

/// The health of every watched chain, shared between watchers and the HTTP layer.
#[derive(Debug, Default)]
pub struct ChainHealthBoard {
    chains: Mutex<BTreeMap<String, Entry>>,
    /// A head older than this many seconds marks its chain stalled; `None`: never.
    max_head_age_secs: Option<i64>,
}

fn gauge(name: &'static str, chain: &ChainKey, value: u64) {
    #[allow(clippy::cast_precision_loss)] // Gauges are floats; block heights fit easily.
    metrics::gauge!(name, "chain" => chain.to_string()).set(value as f64);
}

fn age(now: Timestamp, since: Timestamp) -> i64 {
    now.seconds().saturating_sub(since.seconds()).max(0)
}

impl ChainHealthBoard {
    /// A board on which a chain whose newest head is older than `max_head_age_secs` is stalled
    /// (0: never).
    pub fn new(max_head_age_secs: u64) -> ChainHealthBoard {
        ChainHealthBoard {
            chains: Mutex::default(),
            max_head_age_secs: i64::try_from(max_head_age_secs).ok().filter(|s| *s > 0),
        }
    }

    /// Every chain as of `now`: the head's age is computed here, so it grows while no round
    /// succeeds.
    pub fn snapshot(&self, now: Timestamp) -> BTreeMap<String, ChainHealth> {
        let Ok(chains) = self.chains.lock() else {
            return BTreeMap::new();
        };
        chains
            .iter()
            .map(|(key, entry)| {
                let mut health = entry.health.clone();
                health.head_age_seconds = entry.head_time.map_or(0, |t| age(now, t));
                health.failing_for_seconds = entry.failing_since.map_or(0, |t| age(now, t));
                health.stalled = self
                    .max_head_age_secs
                    .is_some_and(|limit| health.head_age_seconds > limit);
                (key.clone(), health)
            })
            .collect()
    }

    /// Sets `wcheckout_chain_head_age_seconds` and `wcheckout_chain_failing_seconds` of every
    /// chain as of `now` (at scrape time).
    pub fn publish_head_ages(&self, now: Timestamp) {
        for (chain, health) in self.snapshot(now) {
            #[allow(clippy::cast_precision_loss)] // Gauges are floats; ages fit easily.
            let (head_age, failing) = (
                health.head_age_seconds as f64,
                health.failing_for_seconds as f64,
            );
            metrics::gauge!("wcheckout_chain_head_age_seconds", "chain" => chain.clone())
                .set(head_age);
            metrics::gauge!("wcheckout_chain_failing_seconds", "chain" => chain).set(failing);
        }
    }

    fn update(&self, chain: &ChainKey, change: impl FnOnce(&mut Entry)) {
        if let Ok(mut chains) = self.chains.lock() {
            change(chains.entry(chain.to_string()).or_default());
        }
    }

    /// A watcher starts on `chain`: the head it knows from before (stored with the cursor), or
    /// none, in which case the head's age counts from now, so a node that is down from the
    /// start still shows.
    pub fn watching(
        &self,
        chain: &ChainKey,
        stored_head: Option<(u64, Timestamp)>,
        now: Timestamp,
    ) {
        self.update(chain, |entry| {
            if entry.head_time.is_some() {
                return;
            }
            match stored_head {
                Some((number, time)) => {
                    entry.health.head_height = number;
                    entry.head_time = Some(time);
                }
                None => entry.head_time = Some(now),
            }
        });
    }

    /// Records a finished round.
    pub fn round(
        &self,
        chain: &ChainKey,
        head: (u64, Timestamp),
        processed: (u64, Timestamp),
        leader: bool,
    ) {
        let lag_blocks = head.0.saturating_sub(processed.0);
        let lag_seconds = head
            .1
            .seconds()
            .saturating_sub(processed.1.seconds())
            .max(0);
        self.update(chain, |entry| {
            let h = &mut entry.health;
            h.head_height = head.0;
            h.processed_height = processed.0;
            h.lag_blocks = lag_blocks;
            h.lag_seconds = lag_seconds;
            h.leader = leader;
            h.last_error = None;
            entry.head_time = Some(head.1);
            entry.failing_since = None;
        });
        gauge("wcheckout_chain_head_height", chain, head.0);
        gauge("wcheckout_chain_processed_height", chain, processed.0);
        gauge("wcheckout_chain_lag_blocks", chain, lag_blocks);
        gauge(
            "wcheckout_chain_lag_seconds",
            chain,
            u64::try_from(lag_seconds).unwrap_or(0),
        );
    }

    /// Records a round that failed at `now`.
    pub fn error(&self, chain: &ChainKey, error: String, now: Timestamp) {
        self.update(chain, |entry| {
            let h = &mut entry.health;
            h.rpc_errors = h.rpc_errors.saturating_add(1);
            h.last_error = Some(error);
            entry.failing_since.get_or_insert(now);
        });
        metrics::counter!("wcheckout_chain_rpc_errors_total", "chain" => chain.to_string())
            .increment(1);
    }

    /// Records a reorganisation; `deep` when it undid credited transfers.
    pub fn reorg(&self, chain: &ChainKey, deep: u64) {
        self.update(chain, |entry| {
            let h = &mut entry.health;
            h.reorgs = h.reorgs.saturating_add(1);
            h.deep_reorgs = h.deep_reorgs.saturating_add(deep);
        });
        metrics::counter!("wcheckout_chain_reorgs_total", "chain" => chain.to_string())
            .increment(1);
        if deep > 0 {
            metrics::counter!("wcheckout_chain_deep_reorgs_total", "chain" => chain.to_string())
                .increment(deep);
        }
    }
}
