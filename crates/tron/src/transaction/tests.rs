use super::*;

fn address(hex: &str) -> TronAddress {
    TronAddress::parse_hex(hex).unwrap()
}

fn key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).unwrap()
}

fn owner_of(key: &SigningKey) -> TronAddress {
    crate::address::of_public_key(key.verifying_key())
}

fn header() -> Header {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&1000u64.to_be_bytes());
    id[8..16].copy_from_slice(&[0xaa; 8]);
    Header {
        ref_block: RefBlock::new(1000, &id),
        timestamp_ms: 1_700_000_000_000,
        expiration_ms: 1_700_000_060_000,
        fee_limit_sun: 30_000_000,
    }
}

/// A USDT-style transfer captured on the Nile testnet from `/wallet/triggersmartcontract`:
/// 100 base units from `41dd79…` through contract `41eca9…` to `41088a…`. Our encoding of its
/// fields gives its `raw_data_hex` byte for byte, and its txID is sha256 of those bytes.
#[test]
fn encodes_a_real_trigger_transaction_byte_for_byte() {
    let call = Call::Trc20Transfer {
        owner: address("41dd791d6b49e190062d650e6a23c575510d35f2f9"),
        token: address("41eca9bc828a3005b9a3b909f2cc5c2a54794de05f"),
        to: address("41088a2bfcb1c7271029fd69a66859d55560895884"),
        amount: 100,
    };
    let header = Header {
        ref_block: RefBlock {
            bytes: [0x28, 0xc3],
            hash: [0xce, 0x6d, 0x34, 0x02, 0x82, 0x78, 0x85, 0x69],
        },
        timestamp_ms: 1_777_447_168_009,
        expiration_ms: 1_777_447_227_000,
        fee_limit_sun: 100_000_000,
    };
    let tx = UnsignedTransaction::new(&call, &header).unwrap();
    assert_eq!(
        hex::encode(tx.raw_data()),
        "0a0228c32208ce6d34028278856940f89cf1c0dd335aae01081f12a9010a31747970652e676f6f676c65\
         617069732e636f6d2f70726f746f636f6c2e54726967676572536d617274436f6e747261637412740a15\
         41dd791d6b49e190062d650e6a23c575510d35f2f9121541eca9bc828a3005b9a3b909f2cc5c2a54794d\
         e05f2244a9059cbb000000000000000000000000088a2bfcb1c7271029fd69a66859d555608958840000\
         0000000000000000000000000000000000000000000000000000000000647089d0edc0dd33900180c2d72f"
    );
    assert_eq!(
        tx.id().to_string(),
        "8c621a0dc9bd4d405b20d0a43143955b9f546f98bbfde1aec295a65b0f925629"
    );
}

#[test]
fn the_ref_block_takes_the_height_low_bytes_and_the_id_middle_bytes() {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    for (i, byte) in id.iter_mut().enumerate().skip(8) {
        *byte = u8::try_from(i).unwrap();
    }
    let block = RefBlock::new(0x0123_4567_89ab_cdef, &id);
    assert_eq!(block.bytes(), [0xcd, 0xef]);
    assert_eq!(block.hash(), [8, 9, 10, 11, 12, 13, 14, 15]);
}

#[test]
fn a_trx_transfer_is_a_transfer_contract_without_fee_limit() {
    let sender = key(3);
    let to = owner_of(&key(4));
    let call = Call::TrxTransfer {
        owner: owner_of(&sender),
        to,
        amount_sun: 1_000_000,
    };
    let header = Header {
        fee_limit_sun: 0,
        ..header()
    };
    let tx = UnsignedTransaction::new(&call, &header).unwrap();
    let raw = hex::encode(tx.raw_data());
    let value = format!(
        "0a15{}1215{}18c0843d",
        owner_of(&sender).to_hex(),
        to.to_hex()
    );
    let type_url = hex::encode("type.googleapis.com/protocol.TransferContract");
    assert!(
        raw.contains(&format!("080112630a2d{type_url}1232{value}")),
        "{raw}"
    );
    // The timestamp is the last field: no fee_limit.
    let timestamp = Message::new().varint(14, header.timestamp_ms).into_bytes();
    assert!(raw.ends_with(&hex::encode(timestamp)), "{raw}");
}

#[test]
fn the_signed_transaction_is_raw_data_then_the_signature() {
    let sender = key(5);
    let call = Call::Trc20Transfer {
        owner: owner_of(&sender),
        token: owner_of(&key(6)),
        to: owner_of(&key(7)),
        amount: 12_500_000,
    };
    let unsigned = UnsignedTransaction::new(&call, &header()).unwrap();
    let raw = unsigned.raw_data().to_vec();
    let signed = unsigned.sign(&sender).unwrap();
    assert_eq!(signed.raw_data(), raw);
    assert_eq!(signed.id(), TxId::of_raw_data(&raw));
    assert_eq!(
        signed.signature().recover(&signed.id()).unwrap(),
        call.owner()
    );
    // raw_data is between 128 and 255 bytes here: a two-byte length.
    let raw_len = u8::try_from(raw.len()).unwrap();
    assert!(raw_len >= 128);
    let mut expected = vec![0x0a, (raw_len & 0x7f) | 0x80, raw_len >> 7];
    expected.extend_from_slice(&raw);
    expected.extend_from_slice(&[0x12, 65]);
    expected.extend_from_slice(signed.signature().as_bytes());
    assert_eq!(signed.to_bytes(), expected);
    assert_eq!(signed.to_hex(), hex::encode(expected));
}

#[test]
fn refuses_a_key_that_is_not_the_owners() {
    let call = Call::Trc20Transfer {
        owner: owner_of(&key(1)),
        token: owner_of(&key(2)),
        to: owner_of(&key(3)),
        amount: 1,
    };
    let tx = UnsignedTransaction::new(&call, &header()).unwrap();
    assert_eq!(
        tx.sign(&key(9)).unwrap_err(),
        TransactionError::WrongKey {
            owner: owner_of(&key(1)),
            signer: owner_of(&key(9)),
        }
    );
}

#[test]
fn refuses_zero_amounts_self_transfers_and_bad_times() {
    let a = owner_of(&key(1));
    let b = owner_of(&key(2));
    let build = |call: Call, header: Header| UnsignedTransaction::new(&call, &header);
    let trx = |owner, to, amount_sun| Call::TrxTransfer {
        owner,
        to,
        amount_sun,
    };
    let trc20 = Call::Trc20Transfer {
        owner: a,
        token: b,
        to: b,
        amount: 0,
    };
    assert_eq!(build(trc20, header()), Err(TransactionError::ZeroAmount));
    assert_eq!(
        build(trx(a, b, 0), header()),
        Err(TransactionError::ZeroAmount)
    );
    assert_eq!(
        build(trx(a, a, 1), header()),
        Err(TransactionError::SelfTransfer)
    );
    let too_big = u64::try_from(i64::MAX).unwrap() + 1;
    assert_eq!(
        build(trx(a, b, too_big), header()),
        Err(TransactionError::OutOfRange {
            field: "amount",
            value: too_big
        })
    );
    let late = Header {
        fee_limit_sun: too_big,
        ..header()
    };
    assert!(matches!(
        build(trx(a, b, 1), late),
        Err(TransactionError::OutOfRange {
            field: "fee_limit",
            ..
        })
    ));
    let expired = Header {
        expiration_ms: header().timestamp_ms,
        ..header()
    };
    assert!(matches!(
        build(trx(a, b, 1), expired),
        Err(TransactionError::Expiration { .. })
    ));
}

#[test]
fn the_largest_amounts_are_encoded() {
    let a = owner_of(&key(1));
    let b = owner_of(&key(2));
    let call = Call::Trc20Transfer {
        owner: a,
        token: b,
        to: b,
        amount: u128::MAX,
    };
    let tx = UnsignedTransaction::new(&call, &header()).unwrap();
    assert!(hex::encode(tx.raw_data()).contains(&"ff".repeat(16)));
    let max = u64::try_from(i64::MAX).unwrap();
    let trx = Call::TrxTransfer {
        owner: a,
        to: b,
        amount_sun: max,
    };
    let tx = UnsignedTransaction::new(&trx, &header()).unwrap();
    assert!(hex::encode(tx.raw_data()).contains("18ffffffffffffffff7f"));
}
