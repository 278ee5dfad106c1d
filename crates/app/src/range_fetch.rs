//! The chain watcher's reads of a block range's transfer logs, and the read of the next range
//! ahead, while the current one is matched and committed.

use std::sync::{Arc, Mutex, PoisonError};

use wcheckout_domain::address::EvmAddress;
use wcheckout_domain::chain::{BlockMark, BlockRef, ChainReader, TransferLog};
use wcheckout_domain::token::ChainKey;

use crate::watcher::WatchError;

/// A range's logs, read between two reads of its end block that found the same hash: the end
/// block's hash covers every block below it, so the logs are those of one chain.
pub(crate) struct Fetched {
    pub(crate) to: u64,
    pub(crate) end: BlockRef,
    pub(crate) logs: Vec<TransferLog>,
}

/// Reads the logs of `from..=to` with the end-block check around them.
pub(crate) async fn fetch_range(
    reader: &dyn ChainReader,
    contracts: &[EvmAddress],
    from: u64,
    to: u64,
) -> Result<Fetched, WatchError> {
    let end_before = block_at(reader, to).await?;
    let logs = reader.transfer_logs(contracts, from, to).await?;
    let end = block_at(reader, to).await?;
    if end.hash != end_before.hash {
        return Err(WatchError::Moving(format!(
            "block {to} changed during the scan"
        )));
    }
    Ok(Fetched { to, end, logs })
}

/// Block `number` of the node's current chain.
pub(crate) async fn block_at(
    reader: &dyn ChainReader,
    number: u64,
) -> Result<BlockRef, WatchError> {
    let blocks = reader.blocks(&[number]).await?;
    blocks
        .into_iter()
        .find(|b| b.number == number)
        .ok_or_else(|| WatchError::Moving(format!("block {number} is not on the chain")))
}

/// The fetch of the range above `base`, started before `base` was committed as the cursor.
struct Pending {
    base: BlockMark,
    task: tokio::task::JoinHandle<Result<Fetched, WatchError>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// At most one range being read ahead. It is used only by a scan whose cursor is exactly the
/// block it was read above, and only after its end block is found unchanged once more;
/// otherwise it is dropped (which stops it) and the range is read again.
#[derive(Default)]
pub(crate) struct ReadAhead {
    slot: Mutex<Option<Pending>>,
}

impl ReadAhead {
    /// Starts reading `base + 1..=to` in the background, replacing any earlier read ahead.
    pub(crate) fn start(
        &self,
        reader: Arc<dyn ChainReader>,
        contracts: Vec<EvmAddress>,
        base: BlockMark,
        to: u64,
    ) {
        let from = base.number + 1;
        let task =
            tokio::spawn(async move { fetch_range(reader.as_ref(), &contracts, from, to).await });
        let previous = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Pending { base, task });
        drop(previous);
    }

    /// The range read ahead above `cursor`, if it was read above exactly this cursor and its
    /// end block is still the one it was read under.
    pub(crate) async fn take(
        &self,
        reader: &dyn ChainReader,
        cursor: &BlockMark,
        chain: &ChainKey,
    ) -> Option<Fetched> {
        let mut pending = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        if pending.base != *cursor {
            return None;
        }
        let fetched = match (&mut pending.task).await {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(error)) => {
                tracing::debug!(%chain, %error, "reading ahead failed; reading again");
                return None;
            }
            Err(_) => return None,
        };
        match block_at(reader, fetched.to).await {
            Ok(end) if end.hash == fetched.end.hash => Some(fetched),
            _ => {
                tracing::info!(%chain, to = fetched.to, "range read ahead changed; reading again");
                None
            }
        }
    }
}
