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
    /// Seconds since the head block was produced (a stalled node shows here).
    pub head_age_seconds: i64,
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
}

/// The health of every watched chain, shared between watchers and the HTTP layer.
#[derive(Debug, Default)]
pub struct ChainHealthBoard {
    chains: Mutex<BTreeMap<String, ChainHealth>>,
}

fn gauge(name: &'static str, chain: &ChainKey, value: u64) {
    #[allow(clippy::cast_precision_loss)] // Gauges are floats; block heights fit easily.
    metrics::gauge!(name, "chain" => chain.to_string()).set(value as f64);
}

impl ChainHealthBoard {
    /// A snapshot of every chain.
    pub fn snapshot(&self) -> BTreeMap<String, ChainHealth> {
        self.chains.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn update(&self, chain: &ChainKey, change: impl FnOnce(&mut ChainHealth)) {
        if let Ok(mut chains) = self.chains.lock() {
            change(chains.entry(chain.to_string()).or_default());
        }
    }

    /// Records a finished round.
    pub fn round(
        &self,
        chain: &ChainKey,
        head: (u64, Timestamp),
        processed: (u64, Timestamp),
        leader: bool,
        now: Timestamp,
    ) {
        let lag_blocks = head.0.saturating_sub(processed.0);
        let lag_seconds = head
            .1
            .seconds()
            .saturating_sub(processed.1.seconds())
            .max(0);
        let head_age = now.seconds().saturating_sub(head.1.seconds()).max(0);
        self.update(chain, |h| {
            h.head_height = head.0;
            h.processed_height = processed.0;
            h.lag_blocks = lag_blocks;
            h.lag_seconds = lag_seconds;
            h.head_age_seconds = head_age;
            h.leader = leader;
            h.last_error = None;
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

    /// Records a failed round.
    pub fn error(&self, chain: &ChainKey, error: String) {
        self.update(chain, |h| {
            h.rpc_errors = h.rpc_errors.saturating_add(1);
            h.last_error = Some(error);
        });
        metrics::counter!("wcheckout_chain_rpc_errors_total", "chain" => chain.to_string())
            .increment(1);
    }

    /// Records a reorganisation; `deep` when it undid credited transfers.
    pub fn reorg(&self, chain: &ChainKey, deep: u64) {
        self.update(chain, |h| {
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
