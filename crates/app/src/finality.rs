//! When a block counts as final on a chain: a number of confirmations, or the node's `safe` or
//! `finalized` tag. The watcher credits transfers and the payout engine completes payouts by it.

use wcheckout_domain::chain::{ChainError, ChainReader, FinalityTag};
use wcheckout_domain::token::{Chain, Finality};

/// The highest final block when the head is at `head`; `None` while no block is final yet.
pub async fn final_height(
    chain: &Chain,
    reader: &dyn ChainReader,
    head: u64,
) -> Result<Option<u64>, ChainError> {
    let tag = match chain.finality {
        Finality::Confirmations(n) => return Ok(head.saturating_add(1).checked_sub(u64::from(n))),
        Finality::Safe => FinalityTag::Safe,
        Finality::Finalized => FinalityTag::Finalized,
    };
    Ok(reader.tagged(tag).await?.map(|block| block.number))
}
