//! The chain watcher's reads of a block range's transfer logs, and the read of the next range
//! ahead (fetched and matched) while the current one is committed.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{BlockMark, BlockRef, ChainReader, TransferLog};
use wcheckout_domain::order::Order;
use wcheckout_domain::payment::Transfer;
use wcheckout_domain::token::ChainKey;

use crate::transfer_match::TransferMatcher;
use crate::watcher::WatchError;

/// A range's logs, read between two reads of its end block that found the same hash: the end
/// block's hash covers every block below it, so the logs are those of one chain.
struct Fetched {
    to: u64,
    end: BlockRef,
    logs: Vec<TransferLog>,
}

/// Reads the logs of `from..=to` with the end-block check around them.
async fn fetch_range(
    reader: &dyn ChainReader,
    contracts: &[Address],
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

/// A range read and matched: the transfers paying our orders, with the orders as they were
/// read (a commit made since may have changed them: the compare-and-sets of a credit catch
/// that).
pub(crate) struct Matched {
    pub(crate) to: u64,
    pub(crate) end: BlockRef,
    pub(crate) logs: usize,
    pub(crate) transfers: Vec<(Transfer, Order)>,
    pub(crate) fetch_time: Duration,
    pub(crate) match_time: Duration,
}

/// Reads `from..=to` and matches its logs with the orders they pay.
pub(crate) async fn read_range(
    matcher: &TransferMatcher,
    contracts: &[Address],
    from: u64,
    to: u64,
) -> Result<Matched, WatchError> {
    let started = std::time::Instant::now();
    let Fetched { to, end, logs } =
        fetch_range(matcher.reader.as_ref(), contracts, from, to).await?;
    let fetch_time = started.elapsed();
    let transfers = matcher.our_transfers(&logs).await?;
    Ok(Matched {
        to,
        end,
        logs: logs.len(),
        transfers,
        fetch_time,
        match_time: started.elapsed() - fetch_time,
    })
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

/// The read of the range above `base`, started before `base` was committed as the cursor.
struct Pending {
    base: BlockMark,
    task: tokio::task::JoinHandle<Result<Matched, WatchError>>,
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
    /// Starts `read` (of the range above `base`) in the background, replacing any earlier
    /// read ahead.
    pub(crate) fn start(
        &self,
        base: BlockMark,
        read: impl Future<Output = Result<Matched, WatchError>> + Send + 'static,
    ) {
        let task = tokio::spawn(read);
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
    ) -> Option<Matched> {
        let mut pending = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        if pending.base != *cursor {
            return None;
        }
        let read = match (&mut pending.task).await {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => {
                tracing::debug!(%chain, %error, "reading ahead failed; reading again");
                return None;
            }
            Err(_) => return None,
        };
        match block_at(reader, read.to).await {
            Ok(end) if end.hash == read.end.hash => Some(read),
            _ => {
                tracing::info!(%chain, to = read.to, "range read ahead changed; reading again");
                None
            }
        }
    }
}
