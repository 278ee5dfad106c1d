//! What the domain needs to know about a chain: blocks, transfer logs, and the reader port.

use std::time::Duration;

use async_trait::async_trait;

use crate::address::EvmAddress;
use crate::time::Timestamp;

/// A block header as the node reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Height.
    pub number: u64,
    /// Hash, `0x` + 64 lower-case hex digits.
    pub hash: String,
    /// Parent hash.
    pub parent_hash: String,
    /// Timestamp.
    pub time: Timestamp,
}

/// A block remembered by height and hash (the watcher's cursor, reorg checkpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMark {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: String,
}

impl From<&BlockRef> for BlockMark {
    fn from(block: &BlockRef) -> Self {
        BlockMark {
            number: block.number,
            hash: block.hash.clone(),
        }
    }
}

/// An ERC-20 `Transfer(from, to, value)` log of a successful transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLog {
    /// The token contract that emitted it.
    pub contract: EvmAddress,
    /// Transaction hash.
    pub tx_hash: String,
    /// Log index within the block.
    pub log_index: u64,
    /// Block height.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Block timestamp, when the node includes it in logs (saves fetching the header).
    pub block_time: Option<Timestamp>,
    /// Sender.
    pub from: EvmAddress,
    /// Recipient.
    pub to: EvmAddress,
    /// Value in base units (`None` when it exceeds 128 bits, which no real payment does).
    pub value: Option<u128>,
}

/// The node's finality tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalityTag {
    /// `safe`.
    Safe,
    /// `finalized`.
    Finalized,
}

/// A chain read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Every endpoint failed or timed out.
    #[error("chain node unavailable: {0}")]
    Unavailable(String),
    /// The node answered something unusable.
    #[error("chain node answered unexpectedly: {0}")]
    Invalid(String),
}

/// Reads one EVM chain (with failover across endpoints inside the adapter).
#[async_trait]
pub trait ChainReader: Send + Sync {
    /// The latest block.
    async fn head(&self) -> Result<BlockRef, ChainError>;
    /// Blocks at these heights (absent heights are left out), in one round trip when possible.
    async fn blocks(&self, numbers: &[u64]) -> Result<Vec<BlockRef>, ChainError>;
    /// The `safe` or `finalized` block.
    async fn tagged(&self, tag: FinalityTag) -> Result<Option<BlockRef>, ChainError>;
    /// `Transfer` logs of these contracts in `from..=to`.
    async fn transfer_logs(
        &self,
        contracts: &[EvmAddress],
        from: u64,
        to: u64,
    ) -> Result<Vec<TransferLog>, ChainError>;
    /// Returns when the node announces a new head, or after `max_wait` (polling adapters
    /// simply sleep).
    async fn wait_for_new_head(&self, max_wait: Duration);
}
