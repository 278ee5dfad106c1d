//! The double-entry ledger: every movement of money is a posting that debits one account and
//! credits another by the same amount, so the ledger always balances. Entries are never edited;
//! a correction is a new posting.
//!
//! Sign conventions: custody and fee accounts are debit-normal (what we hold or spent); merchant,
//! abnormal and operator accounts are credit-normal (what we owe).

use std::fmt;

use crate::address::Address;
use crate::ids::AppId;
use crate::money::TokenAmount;
use crate::text_enum::text_enum;
use crate::token::{ChainKey, TokenId};

/// What a custody or fee account holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Asset {
    /// A configured token.
    Token(TokenId),
    /// The chain's native coin (gas).
    Native(ChainKey),
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asset::Token(token) => write!(f, "{token}"),
            Asset::Native(chain) => write!(f, "{chain}_NATIVE"),
        }
    }
}

impl Asset {
    /// An asset of `chain` as [`Asset`]'s `Display` writes it (`ETH_USDT`, `ETH_NATIVE`).
    pub fn parse_on(chain: &ChainKey, text: &str) -> Option<Asset> {
        if text.strip_suffix("_NATIVE") == Some(chain.as_str()) {
            return Some(Asset::Native(chain.clone()));
        }
        TokenId::parse(text).map(Asset::Token)
    }
}

text_enum! {
    /// A merchant's balance buckets.
    #[derive(PartialOrd, Ord)]
    pub enum Bucket {
        /// Seen on chain, not final yet.
        Pending => "pending",
        /// Final and free to refund or settle.
        Available => "available",
        /// Promised to a refund or settlement in progress.
        Reserved => "reserved",
    }
}

/// A ledger account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// What a merchant of an app is owed in a token.
    Merchant {
        /// The app.
        app: AppId,
        /// The integrator's merchant.
        merchant: String,
        /// The token.
        token: TokenId,
        /// Which part of the balance.
        bucket: Bucket,
    },
    /// Abnormal amounts (over-, under-, late payments) held for refunding.
    Abnormal {
        /// The app.
        app: AppId,
        /// The merchant.
        merchant: String,
        /// The token.
        token: TokenId,
    },
    /// What an address of ours holds on chain (a deposit address or the hot wallet).
    Custody {
        /// The chain.
        chain: ChainKey,
        /// The address.
        address: Address,
        /// The asset.
        asset: Asset,
    },
    /// Network fees paid on a chain.
    Fees {
        /// The chain.
        chain: ChainKey,
    },
    /// The operator's own funds: gas money put in, fiat settlements paid out of their pocket.
    Operator {
        /// The asset.
        asset: Asset,
    },
}

impl Account {
    /// The account's stable name, e.g. `merchant:app_1:default:ETH_USDT:available`.
    pub fn key(&self) -> String {
        match self {
            Account::Merchant {
                app,
                merchant,
                token,
                bucket,
            } => {
                format!("merchant:{app}:{merchant}:{token}:{}", bucket.as_str())
            }
            Account::Abnormal {
                app,
                merchant,
                token,
            } => format!("abnormal:{app}:{merchant}:{token}"),
            Account::Custody {
                chain,
                address,
                asset,
            } => {
                format!("custody:{chain}:{}:{asset}", address.storage_key())
            }
            Account::Fees { chain } => format!("fees:{chain}:{}", Asset::Native(chain.clone())),
            Account::Operator { asset } => format!("operator:{asset}"),
        }
    }

    /// True for accounts whose balance may never go below zero (what we owe a merchant cannot
    /// be spent twice). Corrections of reality (reorgs) may still take them below.
    pub fn guarded(&self) -> bool {
        match self {
            Account::Merchant { bucket, .. } => {
                matches!(bucket, Bucket::Available | Bucket::Reserved)
            }
            Account::Abnormal { .. } => true,
            Account::Custody { .. } | Account::Fees { .. } | Account::Operator { .. } => false,
        }
    }

    /// True for debit-normal accounts (custody, fees).
    pub fn debit_normal(&self) -> bool {
        matches!(self, Account::Custody { .. } | Account::Fees { .. })
    }
}

/// Why money moved.
/// The custody account a key names (`custody:{chain}:{address}:{asset}`), if it is one.
pub fn parse_custody(key: &str) -> Option<Account> {
    let mut parts = key.split(':');
    let (Some("custody"), Some(chain), Some(address), Some(asset), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let chain = ChainKey::parse(chain)?;
    let asset = Asset::parse_on(&chain, asset)?;
    Some(Account::Custody {
        chain,
        address: Address::parse_any(address)?,
        asset,
    })
}

text_enum! {
    /// Why a posting was made.
    pub enum PostingKind {
        /// A transfer to a deposit address was seen (pending).
        PaymentSeen => "PAYMENT_SEEN",
        /// A seen transfer became final and counts for the merchant.
        PaymentFinal => "PAYMENT_FINAL",
        /// A final transfer is abnormal and held for refunding.
        PaymentAbnormal => "PAYMENT_ABNORMAL",
        /// A seen transfer vanished in a reorganisation.
        PaymentVanished => "PAYMENT_VANISHED",
        /// A credited transfer was undone by a deep reorganisation.
        PaymentReversed => "PAYMENT_REVERSED",
        /// Funds promised to a refund or settlement.
        Reserve => "RESERVE",
        /// A cancelled, rejected or failed payout's funds given back.
        Release => "RELEASE",
        /// Tokens sent out (refund, settlement).
        PaidOut => "PAID_OUT",
        /// A fiat settlement the operator paid from their own funds.
        FiatPaid => "FIAT_PAID",
        /// Tokens swept from a deposit address to the hot wallet.
        Sweep => "SWEEP",
        /// Gas money sent from the hot wallet to a deposit address.
        GasTopUp => "GAS_TOP_UP",
        /// Gas burned by a transaction.
        NetworkFee => "NETWORK_FEE",
        /// Coin a transaction gave back to its fee payer (Solana: a closed token account's
        /// rent), against the chain's fees.
        RentReclaimed => "RENT_RECLAIMED",
        /// Operator money put into the hot wallet.
        Funding => "FUNDING",
    }
}

/// One movement: `amount` debited from `debit` and credited to `credit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The account debited.
    pub debit: Account,
    /// The account credited.
    pub credit: Account,
    /// How much, in base units of the asset.
    pub amount: TokenAmount,
    /// Why.
    pub kind: PostingKind,
    /// What it belongs to (`order:OR…`, `refund:RF…`, `payout:PO…`, a tx hash).
    pub reference: String,
    /// Allows a guarded account to go below zero (a correction of what the chain did).
    pub correction: bool,
}

/// An account's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of debits.
    pub debits: u128,
    /// Sum of credits.
    pub credits: u128,
}

impl Totals {
    /// The balance on the account's normal side (what a merchant is owed, what custody holds);
    /// negative when it is overdrawn.
    pub fn balance(&self, debit_normal: bool) -> i128 {
        let debits = i128::try_from(self.debits).unwrap_or(i128::MAX);
        let credits = i128::try_from(self.credits).unwrap_or(i128::MAX);
        if debit_normal {
            debits.saturating_sub(credits)
        } else {
            credits.saturating_sub(debits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        let token = TokenId::parse("ETH_USDT").unwrap();
        let chain = ChainKey::parse("ETH").unwrap();
        let merchant = Account::Merchant {
            app: AppId::new("app_1"),
            merchant: "m1".into(),
            token: token.clone(),
            bucket: Bucket::Available,
        };
        assert_eq!(merchant.key(), "merchant:app_1:m1:ETH_USDT:available");
        assert!(merchant.guarded());
        let custody = Account::Custody {
            chain: chain.clone(),
            address: Address::Evm(crate::address::EvmAddress::from_bytes([0xab; 20])),
            asset: Asset::Native(chain.clone()),
        };
        assert_eq!(
            custody.key(),
            format!("custody:ETH:0x{}:ETH_NATIVE", "ab".repeat(20))
        );
        assert!(custody.debit_normal() && !custody.guarded());
        assert_eq!(parse_custody(&custody.key()), Some(custody.clone()));
        let tokens = Account::Custody {
            chain: chain.clone(),
            address: Address::Evm(crate::address::EvmAddress::from_bytes([0xcd; 20])),
            asset: Asset::Token(token.clone()),
        };
        assert_eq!(parse_custody(&tokens.key()), Some(tokens));
        assert_eq!(parse_custody(&merchant.key()), None);
        assert_eq!(Account::Fees { chain }.key(), "fees:ETH:ETH_NATIVE");
    }

    #[test]
    fn balances_by_normal_side() {
        let totals = Totals {
            debits: 10,
            credits: 25,
        };
        assert_eq!(totals.balance(false), 15);
        assert_eq!(totals.balance(true), -15);
    }
}
