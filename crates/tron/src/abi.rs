//! The call data of a TRC-20 `transfer(address,uint256)`: TRON contracts take the Solidity ABI,
//! with addresses as their 20 bytes (no `0x41` prefix).

use crate::address::TronAddress;

/// The first 4 bytes of keccak256("transfer(address,uint256)").
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// The first 4 bytes of keccak256("balanceOf(address)").
const BALANCE_OF_SELECTOR: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// `balanceOf(owner)`.
pub(crate) fn balance_of_call(owner: &TronAddress) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + 32);
    data.extend_from_slice(&BALANCE_OF_SELECTOR);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(owner.as_bytes());
    data
}

/// The selector, the recipient and the amount, each argument in a 32-byte big-endian word.
pub(crate) fn transfer_call(to: &TronAddress, amount: u128) -> Vec<u8> {
    let mut data = Vec::with_capacity(4 + 32 + 32);
    data.extend_from_slice(&TRANSFER_SELECTOR);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to.as_bytes());
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha3::{Digest, Keccak256};

    #[test]
    fn the_selector_is_that_of_transfer() {
        let hash = Keccak256::digest(b"transfer(address,uint256)");
        assert_eq!(TRANSFER_SELECTOR, hash[..4]);
        let hash = Keccak256::digest(b"balanceOf(address)");
        assert_eq!(BALANCE_OF_SELECTOR, hash[..4]);
    }

    #[test]
    fn encodes_the_recipient_and_amount_in_words() {
        let to = TronAddress::from_bytes([0xab; 20]);
        let data = transfer_call(&to, u128::MAX);
        assert_eq!(data.len(), 68);
        assert_eq!(
            hex::encode(&data),
            format!(
                "a9059cbb{}{}{}{}",
                "00".repeat(12),
                "ab".repeat(20),
                "00".repeat(16),
                "ff".repeat(16)
            )
        );
        let small = transfer_call(&to, 100);
        assert_eq!(hex::encode(&small[36..]), format!("{}64", "00".repeat(31)));
    }
}
