//! TRON account addresses. The text forms (`T…` base58check, `41…` hex) are the domain's
//! [`TronAddress`]; this module adds what needs a key: the address of a secp256k1 public key,
//! the byte `0x41` followed by the 20 bytes an EVM address would have for the same key.

use k256::ecdsa::VerifyingKey;
use wcheckout_domain::address::EvmAddress;
pub use wcheckout_domain::address::{TRON_PREFIX as PREFIX, TronAddress, TronAddressError};

/// The address of a secp256k1 public key.
pub fn of_public_key(key: &VerifyingKey) -> TronAddress {
    let point = key.to_encoded_point(false);
    let mut xy = [0u8; 64];
    // An uncompressed point is 0x04 followed by x and y, 65 bytes.
    xy.copy_from_slice(&point.as_bytes()[1..]);
    TronAddress::from_evm(EvmAddress::from_public_key(&xy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    #[test]
    fn private_key_one_gives_the_known_address() {
        let mut bytes = [0u8; 32];
        bytes[31] = 1;
        let key = SigningKey::from_slice(&bytes).unwrap();
        let address = of_public_key(key.verifying_key());
        assert_eq!(address.to_string(), "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC");
        // The same key's EVM address is the well-known one of private key 1.
        assert_eq!(
            address.to_evm().to_checksum(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }
}
