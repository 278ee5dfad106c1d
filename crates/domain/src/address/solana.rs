//! Solana account addresses: 32 bytes written in base58 (32 to 44 characters, no checksum).
//! Most are ed25519 public keys; the rest are program-derived addresses (token accounts among
//! them). Which is which, and how program-derived addresses are found, is the Solana adapter's
//! business: the core only parses, prints and compares them.

use std::fmt;
use std::str::FromStr;

/// The shortest and longest base58 texts of 32 bytes (all zeros is 32 `1`s).
const MIN_TEXT_LEN: usize = 32;
const MAX_TEXT_LEN: usize = 44;

/// A Solana address (a public key or a program-derived address). Printed in base58. The
/// default is the all-zero address, the System program's.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SolanaAddress([u8; 32]);

/// Why a text is not a Solana address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolanaAddressError {
    /// A hex (`0x…`) address, the way EVM chains write them.
    #[error("is a hex (0x…) address; Solana addresses are base58 of 32 bytes")]
    HexForm,
    /// Not 32 to 44 characters long.
    #[error("has {0} characters; a Solana address has 32 to 44 base58 characters")]
    TextLength(usize),
    /// A character outside the base58 alphabet (which has no `0`, `O`, `I` or `l`).
    #[error("contains a character that is not base58 (0, O, I and l are not used)")]
    NotBase58,
    /// Decodes to a number of bytes other than 32 (a TRON or Bitcoin address, for instance).
    #[error("decodes to {0} bytes; a Solana address decodes to 32")]
    DecodedLength(usize),
}

impl SolanaAddress {
    /// From its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> SolanaAddress {
        SolanaAddress(bytes)
    }

    /// Its 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses a base58 address, saying what is wrong with a text that is not one.
    pub fn parse(text: &str) -> Result<SolanaAddress, SolanaAddressError> {
        if text.starts_with("0x") || text.starts_with("0X") {
            return Err(SolanaAddressError::HexForm);
        }
        let chars = text.chars().count();
        if !(MIN_TEXT_LEN..=MAX_TEXT_LEN).contains(&chars) {
            return Err(SolanaAddressError::TextLength(chars));
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|_| SolanaAddressError::NotBase58)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SolanaAddressError::DecodedLength(bytes.len()))?;
        Ok(SolanaAddress(array))
    }
}

impl fmt::Display for SolanaAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for SolanaAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SolanaAddress({self})")
    }
}

impl FromStr for SolanaAddress {
    type Err = SolanaAddressError;

    fn from_str(text: &str) -> Result<SolanaAddress, SolanaAddressError> {
        SolanaAddress::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    const USDT: &str = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB";
    /// The `abandon ×11 about` seed's address at m/44'/501'/0'/0'.
    const OWNER: &str = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk";

    fn address(text: &str) -> SolanaAddress {
        SolanaAddress::parse(text).unwrap()
    }

    #[test]
    fn base58_round_trips() {
        for text in [USDC, USDT, OWNER, "11111111111111111111111111111111"] {
            assert_eq!(address(text).to_string(), text);
            assert_eq!(text.parse::<SolanaAddress>().unwrap(), address(text));
        }
        assert_eq!(
            address("11111111111111111111111111111111"),
            SolanaAddress::default()
        );
        assert_eq!(
            format!("{:?}", address(USDC)),
            format!("SolanaAddress({USDC})")
        );
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        use SolanaAddressError::*;
        let cases = [
            ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", HexForm),
            ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", DecodedLength(25)),
            ("", TextLength(0)),
            (
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v1",
                TextLength(45),
            ),
            ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10", NotBase58),
            ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDtIv", NotBase58),
            (
                "1111111111111111111111111111111111111111",
                DecodedLength(40),
            ),
            (
                "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                DecodedLength(33),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(SolanaAddress::parse(text), Err(error), "{text}");
        }
        assert!(SolanaAddress::parse(" EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v").is_err());
    }
}
