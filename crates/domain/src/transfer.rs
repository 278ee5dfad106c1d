//! Transfers seen on chain: what the chain reported, keyed so a rescan never records one twice,
//! and the one transition function of their state.

use std::fmt;

use crate::address::Address;
use crate::money::TokenAmount;
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::{ChainKey, TokenId};

text_enum! {
    /// Where a transfer stands.
    pub enum TransferState {
        /// Seen in a block that is not final yet.
        Pending => "PENDING",
        /// Final and applied to its order.
        Credited => "CREDITED",
        /// Was credited, then its block left the canonical chain (a reorg deeper than the
        /// confirmation depth). Kept, alerted, never silently dropped.
        Reversed => "REVERSED",
    }
}

/// Something that happens to a recorded transfer. (A pending transfer whose block is abandoned
/// is forgotten, not moved: nothing was ever counted for it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEvent {
    /// Its block is final: it counts for its order.
    Finalised,
    /// Its block left the canonical chain after it was credited.
    Reorganised,
    /// A reversed transfer is back on the canonical chain under the same key.
    Reincluded,
}

/// A transition the transfer state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transfer in state {from} cannot take {event:?}")]
pub struct InvalidTransferTransition {
    /// State before.
    pub from: TransferState,
    /// What was attempted.
    pub event: TransferEvent,
}

impl TransferState {
    /// The only way a transfer's state changes.
    pub fn apply(self, event: TransferEvent) -> Result<TransferState, InvalidTransferTransition> {
        use TransferEvent as E;
        use TransferState as S;
        let next = match (self, event) {
            (S::Pending, E::Finalised) | (S::Reversed, E::Reincluded) => Some(S::Credited),
            (S::Credited, E::Reorganised) => Some(S::Reversed),
            (S::Pending, E::Reorganised | E::Reincluded)
            | (S::Credited, E::Finalised | E::Reincluded)
            | (S::Reversed, E::Finalised | E::Reorganised) => None,
        };
        next.ok_or(InvalidTransferTransition { from: self, event })
    }
}

/// An ERC-20 `Transfer` to one of our deposit addresses, as the chain reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Chain.
    pub chain: ChainKey,
    /// Transaction hash, `0x` + 64 lower-case hex digits.
    pub tx_hash: String,
    /// Position of the log in its block.
    pub log_index: u64,
    /// Block number.
    pub block_number: u64,
    /// Block hash, to undo the transfer if the block is abandoned.
    pub block_hash: String,
    /// Block timestamp: a transfer counts as on time when its block is not after the deadline.
    pub block_time: Timestamp,
    /// Token (by its contract).
    pub token: TokenId,
    /// Sender: the default refund destination.
    pub from: Address,
    /// Recipient: a deposit address.
    pub to: Address,
    /// Amount in base units.
    pub amount: TokenAmount,
    /// The order whose deposit address received it.
    pub order_sysid: String,
    /// Where it stands.
    pub state: TransferState,
    /// When the gateway first saw it.
    pub observed_at: Timestamp,
}

impl Transfer {
    /// Its identity: unique per chain.
    pub fn key(&self) -> TransferKey {
        TransferKey {
            chain: self.chain.clone(),
            tx_hash: self.tx_hash.clone(),
            log_index: self.log_index,
        }
    }

    /// Confirmations at a head height (1 when the head is the transfer's own block).
    pub fn confirmations(&self, head: u64) -> u64 {
        head.saturating_add(1).saturating_sub(self.block_number)
    }
}

/// `(chain, tx hash, log index)`: a chain observation is idempotent on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransferKey {
    /// Chain.
    pub chain: ChainKey,
    /// Transaction hash.
    pub tx_hash: String,
    /// Log index.
    pub log_index: u64,
}

impl fmt::Display for TransferKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.chain, self.tx_hash, self.log_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_states_move_only_by_their_events() {
        use TransferEvent as E;
        use TransferState as S;
        assert_eq!(S::Pending.apply(E::Finalised), Ok(S::Credited));
        assert_eq!(S::Credited.apply(E::Reorganised), Ok(S::Reversed));
        assert_eq!(S::Reversed.apply(E::Reincluded), Ok(S::Credited));
        for (from, event) in [
            (S::Pending, E::Reorganised),
            (S::Pending, E::Reincluded),
            (S::Credited, E::Finalised),
            (S::Credited, E::Reincluded),
            (S::Reversed, E::Finalised),
            (S::Reversed, E::Reorganised),
        ] {
            assert_eq!(
                from.apply(event),
                Err(InvalidTransferTransition { from, event })
            );
        }
    }
}
