//! Transaction ids and signatures. A TRON transaction is identified by sha256 of its `raw_data`
//! bytes and signed by signing that hash directly (no further hashing) with secp256k1 and
//! RFC 6979 nonces. The 65-byte signature is r, s (low-s form) and `27 + recovery id`, which
//! lets the node recover the signer's key and compare its address with the owner's.

use std::fmt;

use k256::ecdsa::{RecoveryId, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::address::TronAddress;

/// The transaction id: sha256 of `raw_data`. Printed as 64 lowercase hex digits, as the HTTP
/// API and explorers show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxId([u8; 32]);

impl TxId {
    /// The id of a transaction with these `raw_data` bytes.
    pub fn of_raw_data(raw_data: &[u8]) -> TxId {
        TxId(Sha256::digest(raw_data).into())
    }

    /// From the 32 bytes (as a node reports them).
    pub const fn from_bytes(bytes: [u8; 32]) -> TxId {
        TxId(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({self})")
    }
}

/// The recovery byte is `27 + recovery id`, as TRON's wallets write it.
const RECOVERY_OFFSET: u8 = 27;

/// A recoverable signature: r ‖ s ‖ (27 + recovery id).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 65]);

/// Why a signature is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes.
    #[error("a signature has 65 bytes, not {0}")]
    Length(usize),
    /// The last byte is not a recovery id (0 to 3, or 27 to 30).
    #[error("the recovery byte {0} is not 0-3 or 27-30")]
    RecoveryByte(u8),
    /// r or s out of range, or no key signs this id with this signature.
    #[error("the signature does not recover a public key for this transaction")]
    Unrecoverable,
    /// The signer failed (practically impossible with a valid key).
    #[error("signing failed")]
    Signing,
}

impl Signature {
    /// Signs a transaction id.
    pub fn sign(key: &SigningKey, id: &TxId) -> Result<Signature, SignatureError> {
        let (signature, recovery) = key
            .sign_prehash_recoverable(id.as_bytes())
            .map_err(|_| SignatureError::Signing)?;
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&signature.to_bytes());
        bytes[64] = recovery.to_byte().saturating_add(RECOVERY_OFFSET);
        Ok(Signature(bytes))
    }

    /// From 65 bytes, as a node returns them; the recovery byte may be 0-3 or 27-30.
    pub fn from_slice(bytes: &[u8]) -> Result<Signature, SignatureError> {
        let bytes: [u8; 65] = bytes
            .try_into()
            .map_err(|_| SignatureError::Length(bytes.len()))?;
        recovery_id(bytes[64])?;
        Ok(Signature(bytes))
    }

    /// The 65 bytes.
    pub const fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// The address whose key made this signature over `id`.
    pub fn recover(&self, id: &TxId) -> Result<TronAddress, SignatureError> {
        let signature = k256::ecdsa::Signature::from_slice(&self.0[..64])
            .map_err(|_| SignatureError::Unrecoverable)?;
        let key =
            VerifyingKey::recover_from_prehash(id.as_bytes(), &signature, recovery_id(self.0[64])?)
                .map_err(|_| SignatureError::Unrecoverable)?;
        Ok(crate::address::of_public_key(&key))
    }
}

fn recovery_id(byte: u8) -> Result<RecoveryId, SignatureError> {
    let id = byte.checked_sub(RECOVERY_OFFSET).unwrap_or(byte);
    RecoveryId::from_byte(id).ok_or(SignatureError::RecoveryByte(byte))
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::scalar::IsHigh;

    fn id(text: &str) -> TxId {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).unwrap();
        TxId::from_bytes(bytes)
    }

    /// A contract call on the Nile testnet, as `/wallet/gettransactionbyid` returns it: its
    /// signature recovers the owner `41dd791d6b49e190062d650e6a23c575510d35f2f9`.
    #[test]
    fn recovers_the_signer_of_a_real_transaction() {
        let signature = Signature::from_slice(
            &hex::decode(
                "2154e8ef08f014063de8a88bafe748c8cbb48633c1657c083dca1a73439b289f\
                 6aa796bfa58797da6354d35fb7334a8c145c48ae266e4a885f7ee44791b5a3c31b",
            )
            .unwrap(),
        )
        .unwrap();
        let tx = id("01b4cde4197b9d1a1ff09ef5d2b1d939d3ec2401b3f002ebd0802c0f30a6e4ca");
        let signer = signature.recover(&tx).unwrap();
        assert_eq!(signer.to_string(), "TWAFRfZFmhVQZjxM3De7Mp5UZ9sLqWqpHp");
        assert_eq!(
            signer.to_hex(),
            "41dd791d6b49e190062d650e6a23c575510d35f2f9"
        );
        // Another id: the same signature recovers someone else.
        let other = id(&"11".repeat(32));
        assert_ne!(signature.recover(&other).ok(), Some(signer));
    }

    #[test]
    fn signs_deterministically_in_low_s_form_and_recovers_the_signer() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let owner = crate::address::of_public_key(key.verifying_key());
        for n in 0u8..16 {
            let tx = TxId::of_raw_data(&[n; 40]);
            let signature = Signature::sign(&key, &tx).unwrap();
            assert_eq!(signature, Signature::sign(&key, &tx).unwrap());
            let parsed = k256::ecdsa::Signature::from_slice(&signature.0[..64]).unwrap();
            assert!(!bool::from(parsed.s().is_high()));
            assert!(matches!(signature.0[64], 27 | 28));
            assert_eq!(signature.recover(&tx).unwrap(), owner);
            // Nodes also write the recovery id without the offset.
            let mut bare = signature.0;
            bare[64] -= 27;
            assert_eq!(
                Signature::from_slice(&bare).unwrap().recover(&tx).unwrap(),
                owner
            );
        }
    }

    #[test]
    fn refuses_malformed_signatures() {
        assert_eq!(
            Signature::from_slice(&[0u8; 64]),
            Err(SignatureError::Length(64))
        );
        let mut bytes = [1u8; 65];
        bytes[64] = 31;
        assert_eq!(
            Signature::from_slice(&bytes),
            Err(SignatureError::RecoveryByte(31))
        );
        bytes[64] = 27;
        let zero_r = {
            let mut b = bytes;
            b[..32].fill(0);
            Signature::from_slice(&b).unwrap()
        };
        assert_eq!(
            zero_r.recover(&TxId::of_raw_data(b"x")),
            Err(SignatureError::Unrecoverable)
        );
    }

    #[test]
    fn the_id_is_sha256_and_prints_as_hex() {
        let tx = TxId::of_raw_data(b"abc");
        assert_eq!(
            tx.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{tx:?}"), format!("TxId({tx})"));
    }
}
