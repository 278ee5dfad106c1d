//! A reconciliation's result for one asset of one chain: what the ledger says our addresses
//! hold, against what the chain says, at the time it was read. Results are kept (never edited),
//! so the console can show the last one and its age.

use crate::ledger::Asset;
use crate::time::Timestamp;
use crate::token::ChainKey;

/// One asset of one chain, summed over the addresses compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetReconciliation {
    /// The chain.
    pub chain: ChainKey,
    /// The asset (a token, or the chain's coin).
    pub asset: Asset,
    /// When the balances were read.
    pub at: Timestamp,
    /// What the ledger said, base units (negative when overdrawn).
    pub ledger: i128,
    /// What the chain said, base units.
    pub on_chain: u128,
    /// Addresses compared.
    pub accounts: u64,
    /// Of those, how many differ (sums can agree while two addresses differ both ways).
    pub differing: u64,
    /// Payouts of the chain signed but not final then, which move balances before the ledger
    /// records them.
    pub in_flight: u64,
}

impl AssetReconciliation {
    /// Chain minus ledger; `None` only when it does not fit in 128 bits.
    pub fn difference(&self) -> Option<i128> {
        i128::try_from(self.on_chain).ok()?.checked_sub(self.ledger)
    }

    /// Whether every address held what the ledger said.
    pub fn agrees(&self) -> bool {
        self.differing == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenId;

    fn found(ledger: i128, on_chain: u128, differing: u64) -> AssetReconciliation {
        AssetReconciliation {
            chain: ChainKey::parse("ETH").unwrap(),
            asset: Asset::Token(TokenId::parse("ETH_USDT").unwrap()),
            at: Timestamp::from_micros(0),
            ledger,
            on_chain,
            accounts: 2,
            differing,
            in_flight: 0,
        }
    }

    #[test]
    fn the_difference_is_chain_minus_ledger() {
        assert_eq!(found(10, 15, 1).difference(), Some(5));
        assert_eq!(found(10, 4, 1).difference(), Some(-6));
        assert_eq!(found(-3, 0, 1).difference(), Some(3));
        assert_eq!(found(0, u128::MAX, 1).difference(), None);
        assert!(found(10, 10, 0).agrees());
        assert!(
            !found(10, 10, 2).agrees(),
            "two addresses differing both ways"
        );
    }
}
