//! Account addresses of every chain family. The core holds an [`Address`], which knows its
//! family and is validated and printed in that family's own form: EIP-55 hex on EVM chains,
//! base58check `T…` on TRON, base58 of 32 bytes on Solana. Orders, refunds, settlements and the
//! ledger never look inside.
//!
//! The texts of the families never collide: EVM's start with `0x`, which is not base58; a TRON
//! address decodes to 25 bytes (prefix, account, checksum) and a Solana address to 32.

mod evm;
mod solana;
mod tron;

use std::fmt;

pub use evm::{AddressError as EvmAddressError, EvmAddress};
pub use solana::{SolanaAddress, SolanaAddressError};
pub use tron::{TRON_PREFIX, TronAddress, TronAddressError};

use crate::text_enum::text_enum;

text_enum! {
    /// How a chain is built: its addresses, keys, transactions and the way payments show.
    pub enum ChainFamily {
        /// Ethereum and its kin: 20-byte hex addresses, ERC-20 logs, EIP-1559 sends with nonces.
        Evm => "evm",
        /// TRON: 20-byte base58check addresses, TRC-20 logs through its Ethereum-compatible
        /// JSON-RPC, sends that expire instead of nonces.
        Tron => "tron",
        /// Solana: 32-byte ed25519 keys in base58, SPL token accounts owned by them, sends
        /// that expire with their recent blockhash.
        Solana => "solana",
    }
}

impl ChainFamily {
    /// Decimals of the family's native coin in its base unit: wei (10^-18 ETH) on EVM chains,
    /// sun (10^-6 TRX) on TRON, lamports (10^-9 SOL) on Solana.
    pub const fn native_decimals(self) -> u8 {
        match self {
            ChainFamily::Evm => 18,
            ChainFamily::Tron => 6,
            ChainFamily::Solana => 9,
        }
    }

    /// How this family's addresses look, for error messages.
    pub const fn address_form(self) -> &'static str {
        match self {
            ChainFamily::Evm => "0x followed by 40 hexadecimal digits",
            ChainFamily::Tron => "34 base58 characters starting with T",
            ChainFamily::Solana => "32 to 44 base58 characters",
        }
    }

    /// The family's name in prose.
    pub const fn name(self) -> &'static str {
        match self {
            ChainFamily::Evm => "EVM",
            ChainFamily::Tron => "TRON",
            ChainFamily::Solana => "Solana",
        }
    }

    /// Whether its chains have a numeric chain id (EIP-155, TRON's `eth_chainId`); Solana's
    /// clusters have none.
    pub const fn has_chain_id(self) -> bool {
        match self {
            ChainFamily::Evm | ChainFamily::Tron => true,
            ChainFamily::Solana => false,
        }
    }

    /// Whether its accounts are the 20 bytes of a secp256k1 key's hash (EVM and TRON), the
    /// bytes an ERC-20 `Transfer` log carries in its topics.
    pub const fn is_secp256k1(self) -> bool {
        match self {
            ChainFamily::Evm | ChainFamily::Tron => true,
            ChainFamily::Solana => false,
        }
    }
}

/// An address of one chain family.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    /// An EVM address.
    Evm(EvmAddress),
    /// A TRON address.
    Tron(TronAddress),
    /// A Solana address.
    Solana(SolanaAddress),
}

/// Why a text is not an address of the family asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not a valid EVM address.
    #[error("{0}")]
    Evm(#[from] EvmAddressError),
    /// Not a valid TRON address.
    #[error("{0}")]
    Tron(#[from] TronAddressError),
    /// Not a valid Solana address.
    #[error("{0}")]
    Solana(#[from] SolanaAddressError),
    /// A valid address, but of another family than the chain's.
    #[error("is {found} address; this chain takes {expected} addresses ({form})", found = article(*.found), expected = .expected.name(), form = .expected.address_form())]
    WrongFamily {
        /// The chain's family.
        expected: ChainFamily,
        /// The family the text belongs to.
        found: ChainFamily,
    },
}

fn article(family: ChainFamily) -> &'static str {
    match family {
        ChainFamily::Evm => "an EVM (0x…)",
        ChainFamily::Tron => "a TRON (T…)",
        ChainFamily::Solana => "a Solana",
    }
}

impl Address {
    /// Its family.
    pub const fn family(&self) -> ChainFamily {
        match self {
            Address::Evm(_) => ChainFamily::Evm,
            Address::Tron(_) => ChainFamily::Tron,
            Address::Solana(_) => ChainFamily::Solana,
        }
    }

    /// Parses an address of `family`, saying what is wrong otherwise; a valid address of
    /// another family is named as such (the commonest mistake: a refund address copied from
    /// the wrong wallet).
    pub fn parse(family: ChainFamily, text: &str) -> Result<Address, AddressError> {
        let parsed = match family {
            ChainFamily::Evm => EvmAddress::parse(text)
                .map(Address::Evm)
                .map_err(Into::into),
            ChainFamily::Tron => TronAddress::parse(text)
                .map(Address::Tron)
                .map_err(Into::into),
            ChainFamily::Solana => SolanaAddress::parse(text)
                .map(Address::Solana)
                .map_err(Into::into),
        };
        parsed.map_err(|error| match Address::parse_any(text) {
            Some(other) if other.family() != family => AddressError::WrongFamily {
                expected: family,
                found: other.family(),
            },
            _ => error,
        })
    }

    /// Parses a text of any family (stored addresses, which are written in their own form).
    /// A base58 text is TRON's when it is a valid `T…` address (25 bytes with a checksum),
    /// Solana's when it decodes to 32 bytes: no text is both.
    pub fn parse_any(text: &str) -> Option<Address> {
        if text.starts_with("0x") {
            EvmAddress::parse(text).ok().map(Address::Evm)
        } else if let Ok(address) = TronAddress::parse(text) {
            Some(Address::Tron(address))
        } else {
            SolanaAddress::parse(text).ok().map(Address::Solana)
        }
    }

    /// The form kept in storage and used as a lookup key: lower-case hex on EVM (so that any
    /// capitalisation finds it), base58 on TRON and Solana (whose case is significant).
    pub fn storage_key(&self) -> String {
        match self {
            Address::Evm(address) => address.to_lower_hex(),
            Address::Tron(address) => address.to_string(),
            Address::Solana(address) => address.to_string(),
        }
    }

    /// The EVM address, when it is one.
    pub const fn as_evm(&self) -> Option<EvmAddress> {
        match self {
            Address::Evm(address) => Some(*address),
            Address::Tron(_) | Address::Solana(_) => None,
        }
    }

    /// The Solana address, when it is one.
    pub const fn as_solana(&self) -> Option<SolanaAddress> {
        match self {
            Address::Solana(address) => Some(*address),
            Address::Evm(_) | Address::Tron(_) => None,
        }
    }

    /// The 20 account bytes of a secp256k1 family (EVM, TRON): what both put in a log topic.
    /// `None` for a Solana address, which is 32 bytes of another kind.
    pub const fn account_bytes(&self) -> Option<[u8; 20]> {
        match self {
            Address::Evm(address) => Some(*address.as_bytes()),
            Address::Tron(address) => Some(*address.as_bytes()),
            Address::Solana(_) => None,
        }
    }

    /// The address of a secp256k1 `family` with these 20 account bytes; `None` for Solana,
    /// whose addresses are not 20 bytes.
    pub const fn from_account_bytes(family: ChainFamily, bytes: [u8; 20]) -> Option<Address> {
        match family {
            ChainFamily::Evm => Some(Address::Evm(EvmAddress::from_bytes(bytes))),
            ChainFamily::Tron => Some(Address::Tron(TronAddress::from_bytes(bytes))),
            ChainFamily::Solana => None,
        }
    }

    /// Whether every byte is zero: EVM's burn address, TRON's, and Solana's System program,
    /// none of which can hand tokens back.
    pub fn is_zero(&self) -> bool {
        match self {
            Address::Evm(address) => address.as_bytes().iter().all(|b| *b == 0),
            Address::Tron(address) => address.as_bytes().iter().all(|b| *b == 0),
            Address::Solana(address) => address.as_bytes().iter().all(|b| *b == 0),
        }
    }
}

impl From<EvmAddress> for Address {
    fn from(address: EvmAddress) -> Self {
        Address::Evm(address)
    }
}

impl From<TronAddress> for Address {
    fn from(address: TronAddress) -> Self {
        Address::Tron(address)
    }
}

impl From<SolanaAddress> for Address {
    fn from(address: SolanaAddress) -> Self {
        Address::Solana(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Evm(address) => fmt::Display::fmt(address, f),
            Address::Tron(address) => fmt::Display::fmt(address, f),
            Address::Solana(address) => fmt::Display::fmt(address, f),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRON_USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
    const ETH_USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
    const SOL_USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

    #[test]
    fn each_family_parses_and_prints_its_own_form() {
        let tron = Address::parse(ChainFamily::Tron, TRON_USDT).unwrap();
        assert_eq!(tron.to_string(), TRON_USDT);
        assert_eq!(tron.storage_key(), TRON_USDT);
        let evm = Address::parse(ChainFamily::Evm, ETH_USDT).unwrap();
        assert_eq!(evm.to_string(), ETH_USDT);
        assert_eq!(evm.storage_key(), ETH_USDT.to_lowercase());
        for address in [tron, evm] {
            assert_eq!(Address::parse_any(&address.storage_key()), Some(address));
            let bytes = address.account_bytes().unwrap();
            assert_eq!(
                Address::from_account_bytes(address.family(), bytes),
                Some(address)
            );
        }
        let solana = Address::parse(ChainFamily::Solana, SOL_USDC).unwrap();
        assert_eq!(solana.family(), ChainFamily::Solana);
        assert_eq!(solana.to_string(), SOL_USDC);
        assert_eq!(solana.storage_key(), SOL_USDC);
        assert_eq!(format!("{solana:?}"), SOL_USDC);
        assert_eq!(Address::parse_any(SOL_USDC), Some(solana));
        assert_eq!(
            solana.as_solana().map(|a| a.to_string()).as_deref(),
            Some(SOL_USDC)
        );
    }

    #[test]
    fn only_secp256k1_families_have_20_account_bytes() {
        let solana = Address::parse(ChainFamily::Solana, SOL_USDC).unwrap();
        assert_eq!(solana.account_bytes(), None);
        assert_eq!(solana.as_evm(), None);
        assert_eq!(
            Address::from_account_bytes(ChainFamily::Solana, [7; 20]),
            None
        );
        assert!(ChainFamily::Evm.is_secp256k1() && ChainFamily::Tron.is_secp256k1());
        assert!(!ChainFamily::Solana.is_secp256k1());
    }

    #[test]
    fn the_solana_family_is_named_solana() {
        assert_eq!(ChainFamily::Solana.as_str(), "solana");
        assert_eq!(ChainFamily::parse("solana"), Some(ChainFamily::Solana));
        assert_eq!(ChainFamily::Solana.native_decimals(), 9);
    }

    #[test]
    fn zero_addresses_of_every_family() {
        for (family, zero) in [
            (
                ChainFamily::Evm,
                "0x0000000000000000000000000000000000000000",
            ),
            (ChainFamily::Tron, "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"),
            (ChainFamily::Solana, "11111111111111111111111111111111"),
        ] {
            assert!(Address::parse(family, zero).unwrap().is_zero(), "{zero}");
        }
        for (family, text) in [
            (ChainFamily::Evm, ETH_USDT),
            (ChainFamily::Tron, TRON_USDT),
            (ChainFamily::Solana, SOL_USDC),
        ] {
            assert!(!Address::parse(family, text).unwrap().is_zero(), "{text}");
        }
    }

    #[test]
    fn base58_texts_of_tron_and_solana_never_collide() {
        // Every TRON address decodes to 25 bytes, every Solana one to 32.
        for fill in [0x00u8, 0x01, 0x7f, 0xff] {
            let tron = TronAddress::from_bytes([fill; 20]).to_string();
            assert_eq!(
                Address::parse_any(&tron).map(|a| a.family()),
                Some(ChainFamily::Tron)
            );
            assert!(SolanaAddress::parse(&tron).is_err(), "{tron}");
            let solana = SolanaAddress::from_bytes([fill; 32]).to_string();
            assert_eq!(
                Address::parse_any(&solana).map(|a| a.family()),
                Some(ChainFamily::Solana)
            );
            assert!(TronAddress::parse(&solana).is_err(), "{solana}");
        }
    }

    #[test]
    fn an_address_of_another_family_than_solana_is_named() {
        let error = Address::parse(ChainFamily::Solana, TRON_USDT).unwrap_err();
        assert_eq!(
            error,
            AddressError::WrongFamily {
                expected: ChainFamily::Solana,
                found: ChainFamily::Tron
            }
        );
        let error = Address::parse(ChainFamily::Solana, ETH_USDT).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("is an EVM (0x…) address; this chain takes Solana"),
            "{error}"
        );
        let error = Address::parse(ChainFamily::Tron, SOL_USDC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "is a Solana address; this chain takes TRON addresses \
             (34 base58 characters starting with T)"
        );
        let error = Address::parse(ChainFamily::Evm, SOL_USDC).unwrap_err();
        assert!(
            error.to_string().starts_with("is a Solana address"),
            "{error}"
        );
        // Not an address of any family: the Solana reason, not a family mix-up.
        assert_eq!(
            Address::parse(ChainFamily::Solana, "not-an-address"),
            Err(AddressError::Solana(SolanaAddressError::TextLength(14)))
        );
    }

    #[test]
    fn an_address_of_the_other_family_is_named() {
        let error = Address::parse(ChainFamily::Tron, ETH_USDT).unwrap_err();
        assert_eq!(
            error,
            AddressError::WrongFamily {
                expected: ChainFamily::Tron,
                found: ChainFamily::Evm
            }
        );
        assert_eq!(
            error.to_string(),
            "is an EVM (0x…) address; this chain takes TRON addresses \
             (34 base58 characters starting with T)"
        );
        let error = Address::parse(ChainFamily::Evm, TRON_USDT).unwrap_err();
        assert!(
            error.to_string().starts_with("is a TRON (T…) address"),
            "{error}"
        );
    }

    #[test]
    fn a_typo_is_a_checksum_error_not_a_family_error() {
        let typo = format!("{}9{}", &TRON_USDT[..10], &TRON_USDT[11..]);
        assert_eq!(
            Address::parse(ChainFamily::Tron, &typo),
            Err(AddressError::Tron(TronAddressError::Checksum))
        );
        assert_eq!(Address::parse_any(&typo), None);
    }
}
