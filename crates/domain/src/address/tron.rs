//! TRON account addresses. An address is the byte `0x41` followed by the 20 bytes an EVM
//! address would have for the same secp256k1 key (the last 20 bytes of keccak256 of the
//! uncompressed public key), written in base58check: those 21 bytes, then the first 4 bytes of
//! their double sha256. That always gives 34 characters starting with `T`.

use std::fmt;
use std::str::FromStr;

use super::EvmAddress;
use sha2::{Digest, Sha256};

/// The first byte of every TRON address (mainnet and the Nile and Shasta testnets alike).
pub const TRON_PREFIX: u8 = 0x41;

/// The length of a `T…` address in characters.
const TEXT_LEN: usize = 34;
/// Prefix, 20 address bytes, 4 checksum bytes.
const DECODED_LEN: usize = 25;

/// A TRON address. Printed in base58check (`T…`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TronAddress([u8; 20]);

/// Why a text is not a TRON address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TronAddressError {
    /// A hex (`0x…`) address, the way EVM chains write them.
    #[error("is a hex (0x…) address; TRON addresses are written in base58 and start with T")]
    HexForm,
    /// Not 34 characters long.
    #[error("has {0} characters; a TRON address has 34 and starts with T")]
    TextLength(usize),
    /// A character outside the base58 alphabet (which has no `0`, `O`, `I` or `l`).
    #[error("contains a character that is not base58 (0, O, I and l are not used)")]
    NotBase58,
    /// Decodes to a number of bytes other than 25.
    #[error("decodes to {0} bytes; a TRON address decodes to 25")]
    DecodedLength(usize),
    /// The last 4 bytes are not the checksum of the first 21 (a mistyped address).
    #[error("has a wrong checksum (a mistyped address)")]
    Checksum,
    /// A valid base58check payload of another network or kind.
    #[error("starts with byte 0x{0:02x} instead of 0x41: not a TRON address")]
    Prefix(u8),
    /// The hex form is not `41` followed by 40 hex digits.
    #[error("must be 41 followed by 40 hexadecimal digits")]
    HexFormat,
}

impl TronAddress {
    /// From the 20 bytes after the prefix (the form JSON-RPC logs carry).
    pub const fn from_bytes(bytes: [u8; 20]) -> TronAddress {
        TronAddress(bytes)
    }

    /// The 20 bytes after the prefix.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The 21 bytes TRON's protobuf messages carry: `0x41` and the 20 bytes.
    pub fn to_prefixed_bytes(&self) -> [u8; 21] {
        let mut out = [TRON_PREFIX; 21];
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The address with the same 20 bytes in EVM form: what TRON's JSON-RPC reports in logs
    /// and accepts as a log filter.
    pub const fn from_evm(address: EvmAddress) -> TronAddress {
        TronAddress(*address.as_bytes())
    }

    /// The JSON-RPC (EVM) form of this address.
    pub const fn to_evm(&self) -> EvmAddress {
        EvmAddress::from_bytes(self.0)
    }

    /// Parses the base58check form (`T…`).
    pub fn parse(text: &str) -> Result<TronAddress, TronAddressError> {
        if text.starts_with("0x") || text.starts_with("0X") {
            return Err(TronAddressError::HexForm);
        }
        let chars = text.chars().count();
        if chars != TEXT_LEN {
            return Err(TronAddressError::TextLength(chars));
        }
        let decoded = bs58::decode(text)
            .into_vec()
            .map_err(|_| TronAddressError::NotBase58)?;
        let (payload, checksum) = match decoded.len() {
            DECODED_LEN => decoded.split_at(21),
            other => return Err(TronAddressError::DecodedLength(other)),
        };
        if checksum != checksum_of(payload) {
            return Err(TronAddressError::Checksum);
        }
        TronAddress::from_prefixed(payload).ok_or(TronAddressError::Prefix(payload[0]))
    }

    /// Parses the hex form TRON's HTTP API uses when `visible` is false: `41` and 40 hex digits.
    pub fn parse_hex(text: &str) -> Result<TronAddress, TronAddressError> {
        let mut bytes = [0u8; 21];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| TronAddressError::HexFormat)?;
        TronAddress::from_prefixed(&bytes).ok_or(TronAddressError::HexFormat)
    }

    /// The hex form of the HTTP API: `41` and 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_prefixed_bytes())
    }

    /// The base58check form (`T…`).
    pub fn to_base58(&self) -> String {
        let payload = self.to_prefixed_bytes();
        let mut bytes = Vec::with_capacity(DECODED_LEN);
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&checksum_of(&payload));
        bs58::encode(bytes).into_string()
    }

    fn from_prefixed(payload: &[u8]) -> Option<TronAddress> {
        match payload.split_first() {
            Some((&TRON_PREFIX, rest)) => rest.try_into().ok().map(TronAddress),
            _ => None,
        }
    }
}

/// The base58check checksum: the first 4 bytes of sha256(sha256(payload)).
fn checksum_of(payload: &[u8]) -> [u8; 4] {
    let hash = Sha256::digest(Sha256::digest(payload));
    let mut out = [0u8; 4];
    out.copy_from_slice(&hash[..4]);
    out
}

impl fmt::Display for TronAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for TronAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TronAddress({self})")
    }
}

impl FromStr for TronAddress {
    type Err = TronAddressError;

    fn from_str(text: &str) -> Result<TronAddress, TronAddressError> {
        TronAddress::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
    const USDC: &str = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8";

    #[test]
    fn mainnet_stablecoin_contracts_round_trip() {
        for text in [USDT, USDC] {
            let address = TronAddress::parse(text).unwrap();
            assert_eq!(address.to_string(), text);
            assert_eq!(text.parse::<TronAddress>().unwrap(), address);
            assert_eq!(TronAddress::parse_hex(&address.to_hex()).unwrap(), address);
            assert_eq!(TronAddress::from_evm(address.to_evm()), address);
            assert_eq!(address.to_prefixed_bytes()[0], TRON_PREFIX);
        }
        assert_eq!(
            TronAddress::parse(USDT).unwrap().to_hex(),
            "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
        );
    }

    #[test]
    fn the_20_byte_form_is_the_address_without_its_prefix() {
        let address = TronAddress::parse(USDT).unwrap();
        assert_eq!(
            address.to_evm().to_lower_hex(),
            "0xa614f803b6fd780986a42c78ec9c7f77e6ded13c"
        );
        assert_eq!(TronAddress::from_bytes(*address.as_bytes()), address);
    }

    #[test]
    fn refuses_malformed_addresses_with_the_reason() {
        let parse = TronAddress::parse;
        assert_eq!(
            parse("0xa614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            Err(TronAddressError::HexForm)
        );
        assert_eq!(parse(""), Err(TronAddressError::TextLength(0)));
        assert_eq!(parse(&USDT[..33]), Err(TronAddressError::TextLength(33)));
        assert_eq!(
            parse(&format!("{USDT}1")),
            Err(TronAddressError::TextLength(35))
        );
        // 0 is not in the base58 alphabet.
        let zero = format!("{}0{}", &USDT[..10], &USDT[11..]);
        assert_eq!(parse(&zero), Err(TronAddressError::NotBase58));
        // One character changed: the checksum catches the typo.
        let typo = format!("{}9{}", &USDT[..10], &USDT[11..]);
        assert_eq!(parse(&typo), Err(TronAddressError::Checksum));
        // Thirty-four leading ones decode to 34 zero bytes.
        assert_eq!(
            parse(&"1".repeat(34)),
            Err(TronAddressError::DecodedLength(34))
        );
    }

    #[test]
    fn refuses_a_valid_base58check_of_another_prefix() {
        // The neighbouring prefix 0x42, encoded with a correct checksum: also 34 characters.
        let mut payload = [0x42u8; 21];
        payload[1..].copy_from_slice(TronAddress::parse(USDT).unwrap().as_bytes());
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&checksum_of(&payload));
        let text = bs58::encode(bytes).into_string();
        assert_eq!(text.len(), 34);
        assert_eq!(
            TronAddress::parse(&text),
            Err(TronAddressError::Prefix(0x42))
        );
    }

    #[test]
    fn refuses_malformed_hex_forms() {
        let hex20 = "a614f803b6fd780986a42c78ec9c7f77e6ded13c";
        for bad in [
            hex20.to_string(),
            format!("42{hex20}"),
            format!("41{hex20}00"),
            format!("0x41{hex20}"),
            format!("41{}zz", &hex20[..38]),
        ] {
            assert_eq!(
                TronAddress::parse_hex(&bad),
                Err(TronAddressError::HexFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_address_prints_as_34_characters_starting_with_t() {
        for fill in [0x00u8, 0x01, 0x7f, 0xff] {
            let text = TronAddress::from_bytes([fill; 20]).to_string();
            assert_eq!(text.len(), 34, "{text}");
            assert!(text.starts_with('T'), "{text}");
            assert_eq!(TronAddress::parse(&text).unwrap(), TronAddress([fill; 20]));
        }
    }

    #[test]
    fn debug_shows_the_base58_form() {
        let address = TronAddress::parse(USDT).unwrap();
        assert_eq!(format!("{address:?}"), format!("TronAddress({USDT})"));
    }
}
