//! The operator's BIP-39 seed, the root of every chain family's keys: secp256k1 by BIP-32 for
//! EVM and TRON, ed25519 by SLIP-0010 for Solana. Kept apart from the chain adapters so that
//! each derives from the same seed without depending on another's stack.

use coins_bip39::{English, Mnemonic};
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Why the seed is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Not a valid BIP-39 English mnemonic (word list or checksum).
    #[error("the seed is not a valid BIP-39 mnemonic (check the words and their order)")]
    InvalidMnemonic,
    /// Derivation failed (practically impossible with a valid seed).
    #[error("key derivation failed: {0}")]
    Derivation(String),
}

/// A new random 24-word mnemonic.
pub fn generate_mnemonic() -> SecretString {
    let mut rng = rand::rngs::OsRng;
    // 24 is a valid word count, so this cannot fail.
    let phrase = Mnemonic::<English>::new_with_count(&mut rng, 24)
        .map(|m| m.to_phrase())
        .unwrap_or_default();
    SecretString::from(phrase)
}

/// The 64-byte BIP-39 seed of a mnemonic (no passphrase), whitespace between words normalized.
pub fn bip39_seed(phrase: &SecretString) -> Result<SecretBox<[u8; 64]>, SeedError> {
    let normalized = phrase
        .expose_secret()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mnemonic = Mnemonic::<English>::new_from_phrase(&normalized)
        .map_err(|_| SeedError::InvalidMnemonic)?;
    let seed = mnemonic
        .to_seed(None)
        .map_err(|_| SeedError::InvalidMnemonic)?;
    Ok(SecretBox::new(Box::new(seed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bip39_test_vector_without_passphrase() {
        let phrase = SecretString::from(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon  about",
        );
        let seed = bip39_seed(&phrase).unwrap();
        let hex: String = seed
            .expose_secret()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1\
             9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
        );
    }

    #[test]
    fn new_mnemonics_are_valid_and_distinct() {
        let (a, b) = (generate_mnemonic(), generate_mnemonic());
        assert_eq!(a.expose_secret().split(' ').count(), 24);
        assert!(bip39_seed(&a).is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(
            bip39_seed(&SecretString::from("abandon ".repeat(12))).unwrap_err(),
            SeedError::InvalidMnemonic
        );
    }
}
