//! Account addresses of every chain family. The core holds an [`Address`], which knows its
//! family and is validated and printed in that family's own form: EIP-55 hex on EVM chains,
//! base58check `T…` on TRON. Orders, refunds, settlements and the ledger never look inside.

mod evm;
mod tron;

use std::fmt;

pub use evm::{AddressError as EvmAddressError, EvmAddress};
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
    }
}

impl ChainFamily {
    /// Decimals of the family's native coin in its base unit: wei (10^-18 ETH) on EVM chains,
    /// sun (10^-6 TRX) on TRON.
    pub const fn native_decimals(self) -> u8 {
        match self {
            ChainFamily::Evm => 18,
            ChainFamily::Tron => 6,
        }
    }

    /// How this family's addresses look, for error messages.
    pub const fn address_form(self) -> &'static str {
        match self {
            ChainFamily::Evm => "0x followed by 40 hexadecimal digits",
            ChainFamily::Tron => "34 base58 characters starting with T",
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
    /// A valid address, but of another family than the chain's.
    #[error("is {found} address; this chain takes {expected} addresses ({form})", found = article(*.found), expected = .expected.as_str().to_uppercase(), form = .expected.address_form())]
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
    }
}

impl Address {
    /// Its family.
    pub const fn family(&self) -> ChainFamily {
        match self {
            Address::Evm(_) => ChainFamily::Evm,
            Address::Tron(_) => ChainFamily::Tron,
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
    pub fn parse_any(text: &str) -> Option<Address> {
        if text.starts_with("0x") {
            EvmAddress::parse(text).ok().map(Address::Evm)
        } else {
            TronAddress::parse(text).ok().map(Address::Tron)
        }
    }

    /// The form kept in storage and used as a lookup key: lower-case hex on EVM (so that any
    /// capitalisation finds it), base58check on TRON (whose case is significant).
    pub fn storage_key(&self) -> String {
        match self {
            Address::Evm(address) => address.to_lower_hex(),
            Address::Tron(address) => address.to_string(),
        }
    }

    /// The EVM address, when it is one.
    pub const fn as_evm(&self) -> Option<EvmAddress> {
        match self {
            Address::Evm(address) => Some(*address),
            Address::Tron(_) => None,
        }
    }

    /// The 20 account bytes of a secp256k1 family (EVM, TRON): what both put in a log topic.
    pub const fn account_bytes(&self) -> [u8; 20] {
        match self {
            Address::Evm(address) => *address.as_bytes(),
            Address::Tron(address) => *address.as_bytes(),
        }
    }

    /// The address of `family` with these 20 account bytes.
    pub const fn from_account_bytes(family: ChainFamily, bytes: [u8; 20]) -> Address {
        match family {
            ChainFamily::Evm => Address::Evm(EvmAddress::from_bytes(bytes)),
            ChainFamily::Tron => Address::Tron(TronAddress::from_bytes(bytes)),
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

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Evm(address) => fmt::Display::fmt(address, f),
            Address::Tron(address) => fmt::Display::fmt(address, f),
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
            assert_eq!(
                Address::from_account_bytes(address.family(), address.account_bytes()),
                address
            );
        }
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
