//! Solana account addresses: 32 bytes written in base58 (32 to 44 characters, no checksum).
//! The type and its text form are the domain's ([`SolanaAddress`]); this module adds what only
//! the adapter needs. Most addresses are ed25519 public keys; program-derived addresses are
//! deliberately *off* the curve, so that no private key can sign for them, and only their
//! program can. The associated token account of an owner for a mint is the program-derived
//! address every wallet computes the same way, which is why a payer told the owner finds the
//! account to pay into.

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};
pub use wcheckout_domain::address::{SolanaAddress, SolanaAddressError};

/// A constant address; a text that is not 32 bytes of base58 fails the build.
const fn constant(text: &str) -> SolanaAddress {
    SolanaAddress::from_bytes(bs58::decode(text.as_bytes()).into_array_const_unwrap())
}

/// The System program: creates accounts and moves SOL.
pub const SYSTEM_PROGRAM: SolanaAddress = constant("11111111111111111111111111111111");
/// The SPL Token program, which holds USDC and USDT on mainnet.
pub const TOKEN_PROGRAM: SolanaAddress = constant("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// The SPL Token-2022 program (token extensions); its instructions used here are Token's.
pub const TOKEN_2022_PROGRAM: SolanaAddress =
    constant("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// The associated token account program, which creates an owner's account for a mint.
pub const ASSOCIATED_TOKEN_PROGRAM: SolanaAddress =
    constant("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// The compute budget program, which sets a transaction's priority fee.
pub const COMPUTE_BUDGET_PROGRAM: SolanaAddress =
    constant("ComputeBudget111111111111111111111111111111");

/// The suffix hashed after the seeds and program id of a program-derived address.
const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";
/// At most this many seeds, each at most [`MAX_SEED_LEN`] bytes (the runtime's limits).
const MAX_SEEDS: usize = 16;
const MAX_SEED_LEN: usize = 32;

/// Why no program-derived address exists for the given seeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdaError {
    /// More seeds, or a longer seed, than the runtime accepts.
    #[error("at most {MAX_SEEDS} seeds of at most {MAX_SEED_LEN} bytes each")]
    Seeds,
    /// Every bump seed gave a point on the curve (about 2^-256 likely).
    #[error("no bump seed gives an address off the ed25519 curve")]
    NoBump,
}

/// What the adapter computes about addresses: the curve check and program-derived addresses,
/// associated token accounts among them. Import it to call these on [`SolanaAddress`].
pub trait ProgramAddresses: Sized {
    /// Whether the bytes are an ed25519 point, i.e. whether a private key could sign for them.
    fn is_on_curve(&self) -> bool;

    /// The address of `seeds` under `program` with the given bump, if it is off the curve.
    fn create_program_address(
        seeds: &[&[u8]],
        program: &SolanaAddress,
    ) -> Result<Option<Self>, PdaError>;

    /// The canonical program-derived address of `seeds` under `program`: the first bump seed,
    /// counting down from 255, whose address is off the curve, and that bump.
    fn find_program_address(
        seeds: &[&[u8]],
        program: &SolanaAddress,
    ) -> Result<(Self, u8), PdaError>;

    /// The associated token account of this owner for `mint`, held by `token_program` (Token
    /// or Token-2022: the program is one of the seeds, so the two give different accounts).
    /// Three 32-byte seeds are within the limits, so the only possible error is
    /// [`PdaError::NoBump`], about 2^-256 likely.
    fn associated_token_account(
        &self,
        mint: &SolanaAddress,
        token_program: &SolanaAddress,
    ) -> Result<Self, PdaError>;
}

impl ProgramAddresses for SolanaAddress {
    fn is_on_curve(&self) -> bool {
        CompressedEdwardsY(*self.as_bytes()).decompress().is_some()
    }

    fn create_program_address(
        seeds: &[&[u8]],
        program: &SolanaAddress,
    ) -> Result<Option<SolanaAddress>, PdaError> {
        if seeds.len() > MAX_SEEDS || seeds.iter().any(|s| s.len() > MAX_SEED_LEN) {
            return Err(PdaError::Seeds);
        }
        let mut hasher = Sha256::new();
        for seed in seeds {
            hasher.update(seed);
        }
        hasher.update(program.as_bytes());
        hasher.update(PDA_MARKER);
        let address = SolanaAddress::from_bytes(hasher.finalize().into());
        Ok((!address.is_on_curve()).then_some(address))
    }

    fn find_program_address(
        seeds: &[&[u8]],
        program: &SolanaAddress,
    ) -> Result<(SolanaAddress, u8), PdaError> {
        if seeds.len() >= MAX_SEEDS {
            return Err(PdaError::Seeds);
        }
        for bump in (0..=u8::MAX).rev() {
            let bump_seed = [bump];
            let mut with_bump = seeds.to_vec();
            with_bump.push(&bump_seed);
            if let Some(address) = SolanaAddress::create_program_address(&with_bump, program)? {
                return Ok((address, bump));
            }
        }
        Err(PdaError::NoBump)
    }

    fn associated_token_account(
        &self,
        mint: &SolanaAddress,
        token_program: &SolanaAddress,
    ) -> Result<SolanaAddress, PdaError> {
        let seeds: [&[u8]; 3] = [self.as_bytes(), token_program.as_bytes(), mint.as_bytes()];
        SolanaAddress::find_program_address(&seeds, &ASSOCIATED_TOKEN_PROGRAM)
            .map(|(address, _)| address)
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
    fn the_domain_type_is_the_adapters() {
        assert_eq!(SYSTEM_PROGRAM.as_bytes(), &[0; 32]);
        assert_eq!(
            TOKEN_PROGRAM.to_string(),
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        );
        assert_eq!(
            SolanaAddress::parse("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            Err(SolanaAddressError::DecodedLength(25))
        );
    }

    #[test]
    fn associated_token_accounts_match_the_known_answers() {
        let owner = address(OWNER);
        assert_eq!(
            owner
                .associated_token_account(&address(USDC), &TOKEN_PROGRAM)
                .unwrap()
                .to_string(),
            "5N3f1tj9v1vc5TUZ8S7mCAnVmjVKrfnzXWhxLaxyZAgt"
        );
        assert_eq!(
            owner
                .associated_token_account(&address(USDT), &TOKEN_PROGRAM)
                .unwrap()
                .to_string(),
            "6pXYguUixhfdydHDMgsvSy3sAWjStL2eEYh4KeYJAUDk"
        );
        let classic = owner
            .associated_token_account(&address(USDC), &TOKEN_PROGRAM)
            .unwrap();
        let extended = owner
            .associated_token_account(&address(USDC), &TOKEN_2022_PROGRAM)
            .unwrap();
        assert_ne!(classic, extended);
        assert!(!classic.is_on_curve() && !extended.is_on_curve());
    }

    #[test]
    fn program_derived_addresses_are_off_the_curve_with_the_highest_bump() {
        let program = address(USDC);
        let (pda, bump) =
            SolanaAddress::find_program_address(&[b"order", b"42"], &program).unwrap();
        assert!(!pda.is_on_curve());
        assert_eq!(
            SolanaAddress::create_program_address(&[b"order", b"42", &[bump]], &program),
            Ok(Some(pda))
        );
        for higher in (0..=u8::MAX).filter(|higher| *higher > bump) {
            assert_eq!(
                SolanaAddress::create_program_address(&[b"order", b"42", &[higher]], &program),
                Ok(None)
            );
        }
        assert!(address(OWNER).is_on_curve());
    }

    #[test]
    fn seed_limits_are_the_runtimes() {
        let program = address(USDC);
        let long = [0u8; 33];
        assert_eq!(
            SolanaAddress::find_program_address(&[&long], &program),
            Err(PdaError::Seeds)
        );
        let many: Vec<&[u8]> = vec![b"x"; 16];
        assert_eq!(
            SolanaAddress::find_program_address(&many, &program),
            Err(PdaError::Seeds)
        );
        let fifteen: Vec<&[u8]> = vec![b"x"; 15];
        assert!(SolanaAddress::find_program_address(&fifteen, &program).is_ok());
    }
}
