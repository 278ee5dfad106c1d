//! Matching a range's transfer logs with the orders they pay: a log counts when its recipient
//! is the deposit address of an order in the log's token and it arrived within the order's
//! monitoring window.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{BlockRef, ChainReader, TransferLog};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::{self, Transfer, TransferState};
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::gateway::Gateway;
use crate::watcher::WatchError;

/// Matches one chain's transfer logs with orders; cheap to clone, so that a range read ahead
/// is matched in the background too.
#[derive(Clone)]
pub(crate) struct TransferMatcher {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) reader: Arc<dyn ChainReader>,
    pub(crate) chain: ChainKey,
    pub(crate) tokens_by_contract: Arc<HashMap<Address, TokenId>>,
}

impl TransferMatcher {
    /// The logs paying a monitored deposit address of an order in the same token.
    pub(crate) async fn our_transfers(
        &self,
        logs: &[TransferLog],
    ) -> Result<Vec<(Transfer, Order)>, WatchError> {
        let recipients: BTreeSet<Address> = logs.iter().map(|l| l.to).collect();
        if recipients.is_empty() {
            return Ok(Vec::new());
        }
        let recipients = recipients.into_iter().collect::<Vec<_>>();
        let orders: HashMap<Address, Order> = self
            .gateway
            .store
            .orders_by_deposit_addresses(&recipients)
            .await?
            .into_iter()
            .map(|o| (o.deposit_address, o))
            .collect();
        let matched = logs
            .iter()
            .filter_map(|log| self.paid_order(log, &orders).map(|order| (log, order)))
            .collect::<Vec<_>>();
        if matched.is_empty() {
            return Ok(Vec::new());
        }
        // Nodes that put `blockTimestamp` in logs spare a header fetch; the others need one
        // per block (in a single batch).
        let heights: BTreeSet<u64> = matched
            .iter()
            .filter(|(log, _)| log.block_time.is_none())
            .map(|(log, _)| log.block_number)
            .collect();
        let blocks: HashMap<u64, BlockRef> = if heights.is_empty() {
            HashMap::new()
        } else {
            let heights = heights.into_iter().collect::<Vec<_>>();
            self.reader
                .blocks(&heights)
                .await?
                .into_iter()
                .map(|b| (b.number, b))
                .collect()
        };
        let now = self.gateway.clock.now();
        let window = self.gateway.settings.monitoring_window_secs;
        let mut transfers = Vec::with_capacity(matched.len());
        for (log, order) in matched {
            let fetched = || {
                blocks
                    .get(&log.block_number)
                    .filter(|b| b.hash == log.block_hash)
            };
            let block_time = log.block_time.or_else(|| fetched().map(|b| b.time));
            let block_time = block_time.ok_or_else(|| {
                WatchError::Moving(format!(
                    "block {} changed during the scan",
                    log.block_number
                ))
            })?;
            if !payment::monitored(order, block_time, window) {
                tracing::info!(order = %order.sysid, tx = %log.tx_hash, "transfer after the monitoring window; ignored");
                continue;
            }
            transfers.push((
                Transfer {
                    chain: self.chain.clone(),
                    tx_hash: log.tx_hash.clone(),
                    log_index: log.log_index,
                    block_number: log.block_number,
                    block_hash: log.block_hash.clone(),
                    block_time,
                    token: order.token.clone(),
                    from: log.from,
                    to: log.to,
                    amount: TokenAmount::from_base_units(log.value.unwrap_or(0)),
                    order_sysid: order.sysid.clone(),
                    state: TransferState::Pending,
                    observed_at: now,
                },
                order.clone(),
            ));
        }
        Ok(transfers)
    }

    /// The order a log pays, when its recipient is a deposit address for that log's token.
    fn paid_order<'a>(
        &self,
        log: &TransferLog,
        orders: &'a HashMap<Address, Order>,
    ) -> Option<&'a Order> {
        let order = orders.get(&log.to)?;
        let token = self.tokens_by_contract.get(&log.contract)?;
        if &order.token != token {
            tracing::warn!(order = %order.sysid, tx = %log.tx_hash, received = %token, expected = %order.token, "transfer of another token to a deposit address; not credited");
            metrics::counter!("wcheckout_transfers_wrong_token_total", "chain" => self.chain.to_string()).increment(1);
            return None;
        }
        if log.value.is_none() {
            tracing::warn!(tx = %log.tx_hash, "transfer value beyond 128 bits; ignored");
        }
        log.value.map(|_| order)
    }
}
