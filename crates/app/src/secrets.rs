//! Secrets at rest and random credentials. `signKey`s are sealed with the operator's master
//! key (XChaCha20-Poly1305, bound to the app id); `apiSecret`s and bearer tokens are kept only
//! as SHA-256 hashes, which is enough for 256-bit random values.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox as Secret, SecretString};
use sha2::{Digest, Sha256};

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// Seals and opens secrets with the operator's master key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([REDACTED])")
    }
}

/// A sealed value could not be opened: wrong master key or damaged data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot open sealed secret (wrong master key or damaged data)")]
pub struct OpenError;

const SEALED_PREFIX: &str = "v1.";

impl SecretBox {
    /// A box for a 32-byte master key.
    pub fn new(master_key: &Secret<[u8; MASTER_KEY_LEN]>) -> SecretBox {
        let key = chacha20poly1305::Key::from_slice(master_key.expose_secret());
        SecretBox {
            cipher: XChaCha20Poly1305::new(key),
        }
    }

    /// Seals `secret`, binding it to `context` (the app id), as `v1.` + Base64url.
    pub fn seal(&self, context: &str, secret: &str) -> String {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption only fails for inputs beyond 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<SecretString, OpenError> {
        let encoded = sealed.strip_prefix(SEALED_PREFIX).ok_or(OpenError)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| OpenError)?;
        if bytes.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| OpenError)
    }
}

/// SHA-256 of a secret, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The Argon2id hash of a password (PHC string: default parameters, a random salt).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt)?;
    Ok(hash.to_string())
}

/// Whether `password` matches a hash made by [`hash_password`] (false for one that does not
/// parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// `bytes` random bytes from the OS, Base64url (a bearer token, an `apiSecret`, a page token).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `len` random characters from `[A-Za-z0-9]` (the shape of W Checkout's `signKey`s).
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut byte = [0u8; 1];
        OsRng.fill_bytes(&mut byte);
        // Rejection sampling keeps the characters uniform: 248 = 4 × 62.
        if byte[0] < 248 {
            out.push(char::from(ALPHABET[usize::from(byte[0] % 62)]));
        }
    }
    out
}

/// `len` random lower-case hex digits.
pub fn random_hex(len: usize) -> String {
    let mut buf = vec![0u8; len.div_ceil(2)];
    OsRng.fill_bytes(&mut buf);
    let mut text = hex::encode(buf);
    text.truncate(len);
    text
}

/// The low bits of a new sysid (`compose_sysid` keeps 22): a process-wide counter starting at
/// a random point. Random bits alone collide within a millisecond about once in a few million
/// ids at a thousand ids a second (a refused order); a counter never does within one process,
/// and processes sharing a database start far apart.
pub fn sysid_suffix() -> u32 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU32::new(OsRng.next_u32()))
        .fetch_add(1, Ordering::Relaxed)
}

/// A fresh 32-byte master key.
pub fn generate_master_key() -> [u8; MASTER_KEY_LEN] {
    let mut key = [0u8; MASTER_KEY_LEN];
    OsRng.fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(key: [u8; 32]) -> SecretBox {
        SecretBox::new(&Secret::new(Box::new(key)))
    }

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn sysids_of_one_millisecond_never_collide() {
        use wcheckout_domain::ids::{SysidKind, compose_sysid};
        use wcheckout_domain::time::Timestamp;
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ids = (0..100_000)
            .map(|_| compose_sysid(SysidKind::Order, now, sysid_suffix()))
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(ids.len(), 100_000);
    }

    #[test]
    fn seals_and_opens_for_the_same_app_only() {
        let secret_box = boxed(generate_master_key());
        let sealed = secret_box.seal("app_a", "aR2822Y6XbehWMclnB0Y2NJK");
        assert!(!sealed.contains("aR2822Y6XbehWMclnB0Y2NJK"));
        assert_eq!(
            secret_box.open("app_a", &sealed).unwrap().expose_secret(),
            "aR2822Y6XbehWMclnB0Y2NJK"
        );
        assert_eq!(secret_box.open("app_b", &sealed).unwrap_err(), OpenError);
        assert_eq!(
            boxed(generate_master_key())
                .open("app_a", &sealed)
                .unwrap_err(),
            OpenError
        );
        assert_eq!(
            secret_box.open("app_a", "v1.garbage").unwrap_err(),
            OpenError
        );
    }

    #[test]
    fn random_values_have_their_shape() {
        let key = random_alphanumeric(32);
        assert_eq!(key.len(), 32);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(random_hex(24).len(), 24);
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(hash_secret("abc").len(), 64);
    }
}
