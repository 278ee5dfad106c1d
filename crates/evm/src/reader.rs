//! [`ChainReader`] over JSON-RPC with alloy: endpoints tried in order (failover), a timeout per
//! call (and, when configured, a second copy of a call not answered soon, and further passes over
//! the endpoints after a short pause), block headers fetched in one batch request, and `newHeads` over WebSocket when a `ws_url` is
//! configured (polling otherwise).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, U64, U256, b256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::{RpcClient, WsConnect};
use alloy::rpc::types::{BlockNumberOrTag, Filter, Log};
use async_trait::async_trait;
use futures::StreamExt;
use futures::future::{Either, select};
use serde::Deserialize;
use tokio::sync::Notify;
use wcheckout_domain::address::{Address as ChainAddress, ChainFamily};
use wcheckout_domain::chain::{BlockRef, ChainError, ChainReader, FinalityTag, TransferLog};
use wcheckout_domain::time::Timestamp;

/// `keccak256("Transfer(address,address,uint256)")`.
pub const TRANSFER_TOPIC: B256 =
    b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// The header fields the watcher needs, read from `eth_getBlockByNumber`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct RpcBlock {
    number: U64,
    hash: B256,
    parent_hash: B256,
    timestamp: U64,
}

impl RpcBlock {
    fn into_ref(self) -> BlockRef {
        let seconds = i64::try_from(self.timestamp.to::<u64>()).unwrap_or(i64::MAX);
        BlockRef {
            number: self.number.to::<u64>(),
            hash: format!("{:#x}", self.hash),
            parent_hash: format!("{:#x}", self.parent_hash),
            time: Timestamp::from_micros(seconds.saturating_mul(1_000_000)),
        }
    }
}

struct Endpoint {
    url: String,
    client: RpcClient,
    provider: RootProvider,
}

/// Reads one chain through its configured endpoints.
pub struct EvmChainReader {
    chain: String,
    endpoints: Vec<Endpoint>,
    current: AtomicUsize,
    timeout: Duration,
    /// Passes over the endpoints before a call fails (1: each endpoint once).
    passes: u32,
    /// Pause before the second pass; the third waits twice as long, and so on.
    backoff: Duration,
    /// When set, a call not answered after this long is sent once more (see `attempt`).
    hedge_after: Option<Duration>,
    new_heads: Option<NewHeads>,
    /// The family its addresses are printed in: EVM, or TRON, whose node serves the same
    /// JSON-RPC reads.
    family: ChainFamily,
}

/// The `newHeads` follower of a reader: its wake-ups, and its task, which ends with the reader
/// (so that its WebSocket connection closes when nothing reads the chain any more).
struct NewHeads {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NewHeads {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A transaction hash as the chain's own tools write it: `0x…` on EVM chains; TRON's txID is
/// the same 32 bytes without the prefix (what TronScan, TronLink and the HTTP API show).
fn tx_hash_text(family: ChainFamily, hash: alloy::primitives::B256) -> String {
    match family {
        ChainFamily::Tron => format!("{hash:x}"),
        // No Solana chain is read through this reader: its logs never get this far.
        ChainFamily::Evm | ChainFamily::Solana => format!("{hash:#x}"),
    }
}

/// A 20-byte address of the chain's family (TRON's JSON-RPC reports its accounts' 20 bytes);
/// `None` for a family whose accounts are not 20 bytes.
fn to_domain(family: ChainFamily, address: Address) -> Option<ChainAddress> {
    ChainAddress::from_account_bytes(family, address.into_array())
}

/// The 20 account bytes a JSON-RPC call takes; an address of a family without them (Solana)
/// is refused rather than turned into some other account.
pub(crate) fn to_alloy(address: &ChainAddress) -> Result<Address, ChainError> {
    address.account_bytes().map(Address::from).ok_or_else(|| {
        ChainError::Invalid(format!(
            "{address} is a {} address, not one of an EVM-compatible chain",
            address.family().name()
        ))
    })
}

impl EvmChainReader {
    /// A reader of `chain` over `rpc_urls` (tried in order); with `ws_url`, new heads are
    /// followed by subscription.
    pub fn new(
        chain: &str,
        rpc_urls: &[String],
        ws_url: Option<&str>,
        timeout: Duration,
    ) -> Result<EvmChainReader, ChainError> {
        let endpoints = rpc_urls
            .iter()
            .map(|url| {
                let parsed = url
                    .parse()
                    .map_err(|_| ChainError::Invalid(format!("RPC URL {url} is not a URL")))?;
                let client = RpcClient::new_http(parsed);
                let provider = RootProvider::new(client.clone());
                Ok(Endpoint {
                    url: url.clone(),
                    client,
                    provider,
                })
            })
            .collect::<Result<Vec<_>, ChainError>>()?;
        if endpoints.is_empty() {
            return Err(ChainError::Invalid(format!("chain {chain} has no RPC URL")));
        }
        let new_heads = ws_url.map(|url| follow_new_heads(chain.to_owned(), url.to_owned()));
        Ok(EvmChainReader {
            chain: chain.to_owned(),
            endpoints,
            current: AtomicUsize::new(0),
            timeout,
            passes: 1,
            backoff: Duration::ZERO,
            hedge_after: None,
            new_heads,
            family: ChainFamily::Evm,
        })
    }

    /// Tries every endpoint up to `passes` times before a call fails, pausing `backoff` (then
    /// twice, three times as long) between passes: on a lossy link a lost or late answer costs
    /// one timeout and a short pause, not the whole operation.
    #[must_use]
    pub fn with_retries(mut self, passes: u32, backoff: Duration) -> EvmChainReader {
        self.passes = passes.max(1);
        self.backoff = backoff;
        self
    }

    /// Sends a call not answered after `after` a second time, taking the first good answer.
    /// Only for calls that may be repeated: reads, and broadcasts of signed bytes (a node that
    /// has them already says so).
    #[must_use]
    pub fn with_hedge(mut self, after: Duration) -> EvmChainReader {
        self.hedge_after = Some(after);
        self
    }

    /// Prints addresses in `family`'s form: a TRON node's JSON-RPC is read like an EVM node's,
    /// and its 20-byte accounts are TRON addresses.
    #[must_use]
    pub fn with_family(mut self, family: ChainFamily) -> EvmChainReader {
        self.family = family;
        self
    }

    /// Runs `call` against the current endpoint, then the others in turn, until one answers.
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ChainError>
    where
        F: Fn(RootProvider, RpcClient) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        self.failover(what, call).await
    }

    async fn failover<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ChainError>
    where
        F: Fn(RootProvider, RpcClient) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut last_error = String::new();
        for pass in 0..self.passes {
            if pass > 0 {
                tokio::time::sleep(self.backoff.saturating_mul(pass)).await;
            }
            if let Some(value) = self.one_pass(what, &call, &mut last_error).await {
                return Ok(value);
            }
        }
        Err(ChainError::Unavailable(format!("{what}: {last_error}")))
    }

    /// One call to `endpoint` within the timeout. With a hedge, a call not answered after
    /// `hedge_after` is sent a second time and the first good answer wins: one late answer
    /// then costs `hedge_after`, not the timeout.
    async fn attempt<T, F, Fut>(&self, call: &F, endpoint: &Endpoint) -> Result<T, String>
    where
        F: Fn(RootProvider, RpcClient) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let timed_out = || format!("timed out after {:?}", self.timeout);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut first = Box::pin(call(endpoint.provider.clone(), endpoint.client.clone()));
        let Some(hedge_after) = self.hedge_after.filter(|after| *after < self.timeout) else {
            return tokio::time::timeout_at(deadline, first)
                .await
                .unwrap_or_else(|_| Err(timed_out()));
        };
        tokio::select! {
            answer = &mut first => return answer,
            () = tokio::time::sleep(hedge_after) => {}
        }
        let second = Box::pin(call(endpoint.provider.clone(), endpoint.client.clone()));
        let (answer, other) = match tokio::time::timeout_at(deadline, select(first, second)).await {
            Ok(Either::Left((answer, other)) | Either::Right((answer, other))) => (answer, other),
            Err(_) => return Err(timed_out()),
        };
        match answer {
            Ok(value) => Ok(value),
            // One failed: the other may still answer in time.
            Err(_) => tokio::time::timeout_at(deadline, other)
                .await
                .unwrap_or_else(|_| Err(timed_out())),
        }
    }

    /// Each endpoint once, from the one that answered last; `None` when none answered.
    async fn one_pass<T, F, Fut>(&self, what: &str, call: &F, last_error: &mut String) -> Option<T>
    where
        F: Fn(RootProvider, RpcClient) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let count = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed) % count;
        for attempt in 0..count {
            let index = (first + attempt) % count;
            let endpoint = &self.endpoints[index];
            match self.attempt(call, endpoint).await {
                Ok(value) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Some(value);
                }
                Err(error) => *last_error = error,
            }
            // Said by the caller, once per outage; each failed call shows in the metrics.
            tracing::debug!(chain = %self.chain, url = %endpoint.url, %what, error = %last_error, "RPC call failed");
            metrics::counter!("wcheckout_rpc_errors_total", "chain" => self.chain.clone(), "url" => endpoint.url.clone())
                .increment(1);
        }
        None
    }
}

fn decode_transfer(family: ChainFamily, log: &Log) -> Option<TransferLog> {
    let topics = log.topics();
    // ERC-20 Transfer has exactly three topics; ERC-721's has four.
    if topics.len() != 3 || topics[0] != TRANSFER_TOPIC {
        return None;
    }
    let data = &log.data().data;
    let value = (data.len() == 32).then(|| U256::from_be_slice(data))?;
    Some(TransferLog {
        contract: to_domain(family, log.address())?,
        tx_hash: tx_hash_text(family, log.transaction_hash?),
        log_index: log.log_index?,
        block_number: log.block_number?,
        block_hash: format!("{:#x}", log.block_hash?),
        block_time: log
            .block_timestamp
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| Timestamp::from_micros(s.saturating_mul(1_000_000))),
        from: to_domain(family, Address::from_word(topics[1]))?,
        to: to_domain(family, Address::from_word(topics[2]))?,
        value: u128::try_from(value).ok(),
    })
}

#[async_trait]
impl ChainReader for EvmChainReader {
    async fn head(&self) -> Result<BlockRef, ChainError> {
        let blocks = self.tagged_blocks(BlockNumberOrTag::Latest).await?;
        blocks.ok_or_else(|| ChainError::Invalid("the node has no latest block".into()))
    }

    async fn blocks(&self, numbers: &[u64]) -> Result<Vec<BlockRef>, ChainError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        self.failover("eth_getBlockByNumber (batch)", |_, client| async move {
            let mut batch = client.new_batch();
            let mut waiters = Vec::with_capacity(numbers.len());
            for number in numbers {
                let params = (BlockNumberOrTag::Number(*number), false);
                let waiter = batch
                    .add_call::<_, Option<RpcBlock>>("eth_getBlockByNumber", &params)
                    .map_err(|e| with_causes(&e))?;
                waiters.push(waiter);
            }
            batch.send().await.map_err(|e| with_causes(&e))?;
            let mut blocks = Vec::with_capacity(waiters.len());
            for waiter in waiters {
                if let Some(block) = waiter.await.map_err(|e| with_causes(&e))? {
                    blocks.push(block.into_ref());
                }
            }
            Ok(blocks)
        })
        .await
    }

    async fn tagged(&self, tag: FinalityTag) -> Result<Option<BlockRef>, ChainError> {
        let tag = match tag {
            FinalityTag::Safe => BlockNumberOrTag::Safe,
            FinalityTag::Finalized => BlockNumberOrTag::Finalized,
        };
        self.tagged_blocks(tag).await
    }

    async fn transfer_logs(
        &self,
        contracts: &[ChainAddress],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError> {
        let mut ranges = vec![(from, to)];
        let mut logs = Vec::new();
        // Nodes cap a log query (TRON: 5,000 blocks and 10,000 results; hosted Ethereum
        // endpoints similarly): a range refused for its size is read in halves, in order.
        while let Some((from, to)) = ranges.pop() {
            match self.transfer_logs_of_range(contracts, from, to).await {
                Ok(found) => logs.extend(found),
                Err(error) if from < to && is_size_refusal(&error) => {
                    let middle = from + (to - from) / 2;
                    ranges.push((middle + 1, to));
                    ranges.push((from, middle));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(logs)
    }

    async fn wait_for_new_head(&self, max_wait: Duration) {
        match &self.new_heads {
            Some(heads) => {
                let _ = tokio::time::timeout(max_wait, heads.wake.notified()).await;
            }
            None => tokio::time::sleep(max_wait).await,
        }
    }
}

/// Whether a node refused a log query for its size (blocks or results), not for a fault:
/// java-tron says `exceed max block range: 5000` and `query returned more than 10000 results`,
/// geth and most providers the latter or a `block range` / `response size` complaint.
fn is_size_refusal(error: &ChainError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    [
        "exceed max block range",
        "query returned more than",
        "block range",
        "response size",
        "too many results",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

impl EvmChainReader {
    /// One `eth_getLogs` of the `Transfer` logs of `contracts` in `from..=to`.
    async fn transfer_logs_of_range(
        &self,
        contracts: &[ChainAddress],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError> {
        let contracts = contracts
            .iter()
            .map(to_alloy)
            .collect::<Result<Vec<_>, _>>()?;
        let filter = Filter::new()
            .address(contracts)
            .event_signature(TRANSFER_TOPIC)
            .from_block(from)
            .to_block(to);
        let logs = self
            .failover("eth_getLogs", |provider, _| {
                let filter = filter.clone();
                async move {
                    provider
                        .get_logs(&filter)
                        .await
                        .map_err(|e| with_causes(&e))
                }
            })
            .await?;
        // A log marked `removed` belongs to an abandoned block; the watcher detects reorgs
        // by block hash, so such a log is simply not a transfer.
        Ok(logs
            .iter()
            .filter(|log| !log.removed)
            .filter_map(|log| decode_transfer(self.family, log))
            .collect())
    }
}

impl EvmChainReader {
    async fn tagged_blocks(&self, tag: BlockNumberOrTag) -> Result<Option<BlockRef>, ChainError> {
        self.failover("eth_getBlockByNumber", |_, client| async move {
            let params = (tag, false);
            let block: Option<RpcBlock> = client
                .request("eth_getBlockByNumber", params)
                .await
                .map_err(|e| with_causes(&e))?;
            Ok(block.map(RpcBlock::into_ref))
        })
        .await
    }
}

/// Follows `newHeads` on `url` in the background; each new head wakes the watcher (a wake-up
/// arriving while it is busy is kept for its next wait). The connection is this loop's own:
/// the client library does not reconnect (it would log every attempt), and a lost connection
/// is said once when lost and once when back (at INFO: the watcher polls in the meantime, so
/// nothing is missed, and a node that is really down is the watcher's to report), retried
/// meanwhile with a wait that doubles up to half a minute.
fn follow_new_heads(chain: String, url: String) -> NewHeads {
    const FIRST_RETRY: Duration = Duration::from_secs(1);
    const MAX_RETRY: Duration = Duration::from_secs(30);
    let notify = Arc::new(Notify::new());
    let wake = Arc::clone(&notify);
    let task = tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        let mut lost = false;
        loop {
            let connect = WsConnect::new(url.clone()).with_max_retries(0);
            let subscribed = match RpcClient::connect_pubsub(connect).await {
                Ok(client) => {
                    let provider = RootProvider::<alloy::network::Ethereum>::new(client);
                    provider
                        .subscribe_blocks()
                        .await
                        .map(|subscription| (provider, subscription))
                        .map_err(|e| with_causes(&e))
                }
                Err(error) => Err(with_causes(&error)),
            };
            match subscribed {
                Ok((_provider, subscription)) => {
                    if std::mem::take(&mut lost) {
                        tracing::info!(%chain, "newHeads subscription restored");
                    }
                    retry = FIRST_RETRY;
                    let mut stream = subscription.into_stream();
                    while stream.next().await.is_some() {
                        wake.notify_one();
                    }
                    lost = true;
                    tracing::info!(%chain, "newHeads subscription lost; polling until it is back");
                }
                Err(error) if lost => tracing::debug!(%chain, %error, "newHeads still unavailable"),
                Err(error) => {
                    lost = true;
                    tracing::info!(%chain, %error, "newHeads unavailable; polling until it is back");
                }
            }
            // Falling back to polling meanwhile: wake the watcher so it does not wait long.
            wake.notify_one();
            tokio::time::sleep(retry).await;
            retry = retry.saturating_mul(2).min(MAX_RETRY);
        }
    });
    NewHeads { wake: notify, task }
}

/// An error's text with every cause after it (transport errors keep the useful part, such as
/// "connection refused", in their sources).
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_refusals_are_told_from_faults() {
        for refusal in [
            "eth_getLogs: server returned an error response: error code -32602: exceed max block range: 5000",
            "eth_getLogs: server returned an error response: error code -32005: query returned more than 10000 results",
            "eth_getLogs: Log response size exceeded",
        ] {
            assert!(
                is_size_refusal(&ChainError::Unavailable(refusal.into())),
                "{refusal}"
            );
        }
        for fault in [
            "eth_getLogs: timed out after 10s",
            "eth_getLogs: error sending request: connection refused",
        ] {
            assert!(
                !is_size_refusal(&ChainError::Unavailable(fault.into())),
                "{fault}"
            );
        }
    }
}
