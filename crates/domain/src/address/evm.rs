//! EVM account addresses: 20 bytes in hex with EIP-55 checksums.

use std::fmt;

use sha3::{Digest, Keccak256};

/// A 20-byte EVM address. Displayed with its EIP-55 checksum.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvmAddress([u8; 20]);

/// Why a text is not an EVM address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    #[error("must be 0x followed by 40 hexadecimal digits")]
    Format,
    /// Mixed case whose EIP-55 checksum does not match (a mistyped address).
    #[error("has an invalid EIP-55 checksum")]
    Checksum,
}

impl EvmAddress {
    /// The zero address, which burns what is sent to it.
    pub const ZERO: EvmAddress = EvmAddress([0; 20]);

    /// From raw bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> EvmAddress {
        EvmAddress(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Parses `0x` + 40 hex digits. All-lowercase and all-uppercase are accepted as they are;
    /// mixed case must carry a valid EIP-55 checksum.
    pub fn parse(text: &str) -> Result<EvmAddress, AddressError> {
        let hex_part = text.strip_prefix("0x").ok_or(AddressError::Format)?;
        if hex_part.len() != 40 {
            return Err(AddressError::Format);
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| AddressError::Format)?;
        let address = EvmAddress(bytes);
        let has_lower = hex_part.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = hex_part.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum() != text {
            return Err(AddressError::Checksum);
        }
        Ok(address)
    }

    /// The EIP-55 mixed-case form.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    /// The all-lowercase form, used as the storage and lookup key.
    pub fn to_lower_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// The address of an uncompressed secp256k1 public key (64 bytes, without the 0x04 prefix).
    pub fn from_public_key(uncompressed_xy: &[u8; 64]) -> EvmAddress {
        let hash = Keccak256::digest(uncompressed_xy);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&hash[12..]);
        EvmAddress(bytes)
    }
}

impl fmt::Display for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl std::str::FromStr for EvmAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvmAddress::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_vectors() {
        for text in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        ] {
            assert_eq!(EvmAddress::parse(text).unwrap().to_checksum(), text);
        }
    }

    #[test]
    fn refuses_bad_checksums_and_formats() {
        assert_eq!(
            EvmAddress::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
            Err(AddressError::Checksum)
        );
        assert!(EvmAddress::parse("0xdac17f958d2ee523a2206206994597c13d831ec7").is_ok());
        assert_eq!(
            EvmAddress::parse("dac17f958d2ee523a2206206994597c13d831ec7"),
            Err(AddressError::Format)
        );
        assert_eq!(EvmAddress::parse("0x1234"), Err(AddressError::Format));
        assert_eq!(
            EvmAddress::parse("0xzz17f958d2ee523a2206206994597c13d831ec7"),
            Err(AddressError::Format)
        );
    }
}
