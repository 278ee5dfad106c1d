//! Payouts: every on-chain send (refund, settlement, sweep, gas top-up). A payout is recorded
//! before anything is signed, its signed transaction is stored before it is broadcast, and it
//! keeps one nonce for life (replacements reuse it), so no crash or retry can pay twice.

use crate::address::Address;
use crate::ledger::Asset;
use crate::money::TokenAmount;
use crate::text_enum::text_enum;
use crate::time::Timestamp;
use crate::token::ChainKey;

text_enum! {
    /// What a payout is for.
    pub enum PayoutKind {
        /// Tokens back to a payer.
        Refund => "REFUND",
        /// Tokens to a merchant's address.
        Settlement => "SETTLEMENT",
        /// Tokens from a deposit address to the hot wallet.
        Sweep => "SWEEP",
        /// Gas money from the hot wallet to a deposit address about to be swept.
        GasTopUp => "GAS_TOP_UP",
    }
}

text_enum! {
    /// Where a payout stands.
    pub enum PayoutStatus {
        /// Recorded; not signed yet (waiting for its turn, funds, gas or an approval).
        Queued => "QUEUED",
        /// Signed with its nonce; the transaction is stored and may or may not have reached a node.
        Signed => "SIGNED",
        /// A node accepted the transaction.
        Broadcast => "BROADCAST",
        /// Mined, successful and final.
        Confirmed => "CONFIRMED",
        /// Will not be paid: reverted, refused, or cancelled before signing.
        Failed => "FAILED",
    }
}

impl PayoutStatus {
    /// True once nothing can change it.
    pub const fn is_final(self) -> bool {
        match self {
            PayoutStatus::Confirmed | PayoutStatus::Failed => true,
            PayoutStatus::Queued | PayoutStatus::Signed | PayoutStatus::Broadcast => false,
        }
    }

    /// True while it may still be cancelled: nothing was signed.
    pub const fn cancellable(self) -> bool {
        matches!(self, PayoutStatus::Queued)
    }
}

/// Which key signs a payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signer {
    /// The hot wallet (`m/44'/60'/1'/0/0`).
    HotWallet,
    /// A deposit address (`m/44'/60'/0'/0/i`).
    Deposit(u64),
}

/// One on-chain send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    /// `PO…`.
    pub id: String,
    /// Chain.
    pub chain: ChainKey,
    /// Purpose.
    pub kind: PayoutKind,
    /// The object it pays (`refund:RF…`, `settlement:ST…`, `sweep:0x…`); unique per kind, so
    /// the same object is never paid twice.
    pub reference: String,
    /// Signing key.
    pub signer: Signer,
    /// Sending address (the signer's).
    pub from: Address,
    /// Receiving address.
    pub to: Address,
    /// Token or native coin.
    pub asset: Asset,
    /// Amount in base units.
    pub amount: TokenAmount,
    /// Status.
    pub status: PayoutStatus,
    /// The sending address's nonce, fixed when first signed (`None` on chains without nonces).
    pub nonce: Option<u64>,
    /// The transaction that was mined (or the latest signed one before that).
    pub tx_hash: Option<String>,
    /// Gas paid, in native base units, once mined.
    pub fee: Option<TokenAmount>,
    /// Why it waits or failed.
    pub note: Option<String>,
    /// Not before this time (an approval or funds awaited).
    pub not_before: Timestamp,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Compare-and-set version.
    pub version: i64,
}

/// A payout status change that its rules forbid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("payout in status {from} cannot become {to}")]
pub struct InvalidPayoutTransition {
    /// Where it stood.
    pub from: PayoutStatus,
    /// Where it was asked to go.
    pub to: PayoutStatus,
}

impl PayoutStatus {
    /// The one transition function: a payout only moves forward, a signed one is never
    /// unsigned (its nonce stays taken), and a broadcast one may be replaced (same status).
    pub fn to(self, next: PayoutStatus) -> Result<PayoutStatus, InvalidPayoutTransition> {
        use PayoutStatus as S;
        let allowed = match (self, next) {
            (S::Queued, S::Signed | S::Failed)
            | (S::Signed, S::Signed | S::Broadcast | S::Confirmed | S::Failed)
            | (S::Broadcast, S::Broadcast | S::Confirmed | S::Failed) => true,
            (S::Queued, S::Queued | S::Broadcast | S::Confirmed)
            | (S::Signed, S::Queued)
            | (S::Broadcast, S::Queued | S::Signed)
            | (S::Confirmed | S::Failed, _) => false,
        };
        if allowed {
            Ok(next)
        } else {
            Err(InvalidPayoutTransition {
                from: self,
                to: next,
            })
        }
    }
}

impl Payout {
    /// The payout in another status (or the same, for a replacement), as the next version.
    pub fn moved(
        &self,
        status: PayoutStatus,
        now: Timestamp,
    ) -> Result<Payout, InvalidPayoutTransition> {
        Ok(Payout {
            status: self.status.to(status)?,
            updated_at: now,
            version: self.version.saturating_add(1),
            ..self.clone()
        })
    }

    /// The same payout with a new note and wait, as the next version (still queued).
    pub fn waiting(&self, note: String, not_before: Timestamp, now: Timestamp) -> Payout {
        Payout {
            note: Some(note),
            not_before,
            updated_at: now,
            version: self.version.saturating_add(1),
            ..self.clone()
        }
    }
}

/// A signed transaction of a payout: the first, a fee-bumped replacement with the same nonce
/// (nonce-ordered chains), or a fresh one signed after the previous one expired unmined
/// (expiring chains).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The payout.
    pub payout_id: String,
    /// Transaction hash.
    pub tx_hash: String,
    /// The signed transaction as the node takes it, hex.
    pub raw: String,
    /// Nonce (`None` on chains without nonces).
    pub nonce: Option<u64>,
    /// Max fee per gas, wei.
    pub max_fee_per_gas: u128,
    /// Max priority fee per gas, wei.
    pub max_priority_fee_per_gas: u128,
    /// When signed.
    pub signed_at: Timestamp,
    /// When it expires (`None` on nonce-ordered chains, whose transactions do not).
    pub expires_at: Option<Timestamp>,
}

/// Fee bump of a replacement: nodes require at least 10 % more on both fees; 12.5 % clears it.
pub fn bumped_fee(fee: u128, cap: u128) -> u128 {
    let bumped = fee.saturating_add(fee.div_ceil(8)).saturating_add(1);
    bumped.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_queued_cancels() {
        for status in [
            PayoutStatus::Queued,
            PayoutStatus::Signed,
            PayoutStatus::Broadcast,
            PayoutStatus::Confirmed,
            PayoutStatus::Failed,
        ] {
            assert_eq!(PayoutStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.cancellable(), status == PayoutStatus::Queued);
        }
        assert!(PayoutStatus::Confirmed.is_final() && !PayoutStatus::Broadcast.is_final());
    }

    #[test]
    fn payouts_only_move_forward() {
        use PayoutStatus as S;
        assert_eq!(S::Queued.to(S::Signed), Ok(S::Signed));
        assert_eq!(S::Broadcast.to(S::Broadcast), Ok(S::Broadcast));
        assert!(
            S::Signed.to(S::Queued).is_err(),
            "a taken nonce is never given back"
        );
        assert!(S::Queued.to(S::Confirmed).is_err());
        for status in [S::Queued, S::Signed, S::Broadcast, S::Confirmed, S::Failed] {
            assert!(S::Confirmed.to(status).is_err() && S::Failed.to(status).is_err());
        }
    }

    #[test]
    fn replacements_pay_at_least_ten_percent_more_within_the_cap() {
        assert_eq!(bumped_fee(1_000_000_000, u128::MAX), 1_125_000_001);
        assert!(bumped_fee(100, u128::MAX) * 10 >= 110 * 10);
        assert_eq!(bumped_fee(1_000, 1_050), 1_050);
    }
}
