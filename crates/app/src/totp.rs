//! Time-based one-time passwords for the console's second factor: RFC 6238 with HMAC-SHA1,
//! 30-second steps and 6 digits (what authenticator apps expect from an `otpauth://` URI),
//! the secret written in Base32 (RFC 4648, no padding).

use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use wcheckout_domain::time::Timestamp;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, the length of an HMAC-SHA1 output, as RFC 4226 advises).
pub const SECRET_BYTES: usize = 20;
/// Steps before and after the current one whose codes are accepted (clock drift, typing time).
pub const DRIFT_STEPS: i64 = 1;
/// The issuer authenticator apps show beside the account name.
pub const ISSUER: &str = "wcheckout";

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4226's HOTP value of `key` at `counter`, `digits` long (as a number: leading zeros are
/// the caller's to print).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(key) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let word = [
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ];
    u32::from_be_bytes(word) % 10u32.pow(digits)
}

/// The time step of a moment (RFC 6238's T, with T0 = 0).
pub fn step_at(at: Timestamp) -> i64 {
    at.micros().div_euclid(1_000_000).div_euclid(STEP_SECS)
}

/// The code of `key` at time step `step`, `digits` long with its leading zeros.
pub fn code_at(key: &[u8], step: i64, digits: u32) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    let width = usize::try_from(digits).unwrap_or(6);
    format!("{:0width$}", hotp(key, counter, digits))
}

/// The time step, within [`DRIFT_STEPS`] of `now_step`, whose code `code` is (spaces ignored,
/// exactly [`DIGITS`] digits), or `None`. Codes are compared in constant time.
pub fn matching_step(key: &[u8], code: &str, now_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = usize::try_from(DIGITS).unwrap_or(6);
    if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in (now_step - DRIFT_STEPS)..=(now_step + DRIFT_STEPS) {
        let expected = code_at(key, step, DIGITS);
        let differ = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differ == 0 && found.is_none() && step >= 0 {
            found = Some(step);
        }
    }
    found
}

/// Base32 of `bytes` (RFC 4648 alphabet, no padding).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u16, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((buffer >> bits) & 0x1f)]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            BASE32[usize::from((buffer << (5 - bits)) & 0x1f)],
        ));
    }
    out
}

/// The bytes of a Base32 text (upper or lower case, padding and spaces ignored), or `None`.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u16, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let upper = u8::try_from(c.to_ascii_uppercase()).ok()?;
        let value = BASE32.iter().position(|&b| b == upper)?;
        buffer = (buffer << 5) | u16::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// A new random secret, in Base32.
pub fn new_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(base32(&bytes))
}

/// The `otpauth://` URI an authenticator app scans to add `account` with `secret` (Base32).
pub fn otpauth_uri(account: &str, secret: &SecretString) -> SecretString {
    // Operator names hold only letters, digits, '.', '_', '-' and '@' (encoded here).
    let label = account.replace('@', "%40");
    SecretString::from(format!(
        "otpauth://totp/{ISSUER}:{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.expose_secret()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_4226_hotp_values() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            let counter = u64::try_from(counter).unwrap();
            assert_eq!(hotp(RFC_SEED, counter, 6), value, "{counter}");
        }
    }

    /// RFC 6238 appendix B, the SHA1 column (8 digits).
    #[test]
    fn rfc_6238_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (unix_secs, code) in vectors {
            let step = step_at(Timestamp::from_micros(unix_secs * 1_000_000));
            assert_eq!(code_at(RFC_SEED, step, 8), code, "{unix_secs}");
        }
        // Six digits are the last six of the same value.
        let step = step_at(Timestamp::from_micros(59_000_000));
        assert_eq!(code_at(RFC_SEED, step, 6), "287082");
    }

    #[test]
    fn codes_match_one_step_either_side_only() {
        let now = 1_000_000;
        let code = |step| code_at(RFC_SEED, step, DIGITS);
        assert_eq!(matching_step(RFC_SEED, &code(now), now), Some(now));
        assert_eq!(matching_step(RFC_SEED, &code(now - 1), now), Some(now - 1));
        assert_eq!(matching_step(RFC_SEED, &code(now + 1), now), Some(now + 1));
        for far in [now - 2, now + 2, now - 100] {
            if [code(now - 1), code(now), code(now + 1)].contains(&code(far)) {
                continue; // a one-in-a-million collision of six digits
            }
            assert_eq!(matching_step(RFC_SEED, &code(far), now), None, "{far}");
        }
        let spaced = format!("{} {}", &code(now)[..3], &code(now)[3..]);
        assert_eq!(matching_step(RFC_SEED, &spaced, now), Some(now));
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "+12345"] {
            assert_eq!(matching_step(RFC_SEED, bad, now), None, "{bad}");
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw 6ytb oi==").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW1"), None, "1 is not Base32");
        let secret = new_secret();
        assert_eq!(secret.expose_secret().len(), 32);
        assert_eq!(
            base32_decode(secret.expose_secret()).unwrap().len(),
            SECRET_BYTES
        );
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("ops@example.com", &SecretString::from("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/wcheckout:ops%40example.com?secret=JBSWY3DPEHPK3PXP\
             &issuer=wcheckout&algorithm=SHA1&digits=6&period=30"
        );
    }
}
