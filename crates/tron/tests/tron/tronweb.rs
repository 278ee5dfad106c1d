//! This crate checked against tronweb, TRON's own JavaScript library (an npm devDependency of
//! the workspace, driven offline by `tests/tronweb-check.mjs`): addresses from private keys and
//! from the seed, base58check validity, the reference-block fields, the bytes and txID of TRC-20
//! and TRX transfers, their signatures, and tronweb's decoding of the transactions we build.
//! Inputs are random (the seed is printed, and named in every failure).
//!
//! Without `node` or `node_modules/tronweb` (`npm ci` at the workspace root) the tests are
//! skipped with a message, unless `WCHECKOUT_REQUIRE_TOOLS=1` (CI) makes that a failure.

use std::path::PathBuf;

use k256::ecdsa::SigningKey;
use rand::Rng;
use rand::rngs::StdRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wcheckout_testkit::node_tools::{node_answers, replayable_rng, tools_available};
use wcheckout_tron::address::TronAddress;
use wcheckout_tron::keys::{self, PayoutKeys};
use wcheckout_tron::transaction::{Call, Header, RefBlock, SignedTransaction, UnsignedTransaction};

const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";

/// Whether node and tronweb are here (skipped with a message otherwise).
fn tronweb_available() -> bool {
    tools_available("the tronweb cross-check", &["tronweb"], true)
}

/// tronweb's answers to `requests`, in order.
fn tronweb(requests: &[Value]) -> Vec<Value> {
    node_answers(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tronweb-check.mjs"),
        requests,
    )
}

fn address_of(key: &SigningKey) -> TronAddress {
    PayoutKeys::address(key)
}

#[test]
fn addresses_of_private_keys_match_tronweb() {
    if !tronweb_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut keys = vec![SigningKey::from_slice(&one).unwrap()];
    keys.extend((0..10).map(|_| SigningKey::random(&mut rng)));
    let requests: Vec<Value> = keys
        .iter()
        .map(|key| json!({"op": "address", "private_key": hex::encode(key.to_bytes())}))
        .collect();
    let answers = tronweb(&requests);
    for (key, answer) in keys.iter().zip(&answers) {
        assert_eq!(
            answer["address"],
            address_of(key).to_string(),
            "seed {seed}"
        );
    }
    assert_eq!(answers[0]["address"], "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC");
}

#[test]
fn seed_derived_addresses_match_tronweb() {
    if !tronweb_available() {
        return;
    }
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for phrase in [
        SecretString::from(ABANDON),
        wcheckout_evm::keys::generate_mnemonic(),
    ] {
        let deposits = keys::deposit_account(&phrase).unwrap();
        let payouts = keys::payout_keys(&phrase).unwrap();
        for index in [0u64, 1, 2, 77, 40_000] {
            requests.push(json!({
                "op": "mnemonic",
                "mnemonic": phrase.expose_secret(),
                "path": format!("{}/{index}", keys::DEPOSIT_ACCOUNT_PATH),
            }));
            expected.push(deposits.derive(index).unwrap());
        }
        requests.push(json!({
            "op": "mnemonic",
            "mnemonic": phrase.expose_secret(),
            "path": keys::HOT_WALLET_PATH,
        }));
        expected.push(PayoutKeys::address(&payouts.hot_wallet()));
    }
    let answers = tronweb(&requests);
    for ((request, answer), address) in requests.iter().zip(&answers).zip(&expected) {
        assert_eq!(
            answer["address"],
            address.to_string(),
            "{}",
            request["path"]
        );
    }
    assert_eq!(answers[0]["address"], "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH");
    assert_eq!(answers[1]["address"], "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK");
}

#[test]
fn tronweb_and_we_agree_on_which_addresses_are_valid() {
    if !tronweb_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let mut texts = vec![
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".to_string(),
        "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8".to_string(),
    ];
    for _ in 0..20 {
        let text = TronAddress::from_bytes(rng.r#gen()).to_string();
        // The same address with one character replaced by another base58 character.
        let mut typo: Vec<char> = text.chars().collect();
        let at = rng.gen_range(1..typo.len());
        typo[at] = if typo[at] == 'z' { 'y' } else { 'z' };
        texts.push(text);
        texts.push(typo.into_iter().collect());
    }
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| json!({"op": "valid", "address": text}))
        .collect();
    for (text, answer) in texts.iter().zip(tronweb(&requests)) {
        let ours = TronAddress::parse(text).is_ok();
        assert_eq!(answer["valid"], ours, "{text}, seed {seed}");
    }
}

/// One transaction to build here and in tronweb.
struct Case {
    call: Call,
    header: Header,
    block_number: u64,
    block_id: [u8; 32],
    key: SigningKey,
}

fn random_case(rng: &mut StdRng, trc20: bool) -> Case {
    let key = SigningKey::random(&mut *rng);
    let owner = address_of(&key);
    let to = TronAddress::from_bytes(rng.r#gen());
    // Numbers tronweb reads as JavaScript numbers stay below 2^53.
    let block_number = rng.gen_range(0..1u64 << 40);
    let mut block_id: [u8; 32] = rng.r#gen();
    block_id[..8].copy_from_slice(&block_number.to_be_bytes());
    let timestamp_ms = rng.gen_range(1_500_000_000_000..2_000_000_000_000u64);
    let header = Header {
        ref_block: RefBlock::new(block_number, &block_id),
        timestamp_ms,
        expiration_ms: timestamp_ms + rng.gen_range(1..=86_400_000),
        fee_limit_sun: if trc20 {
            rng.gen_range(1..=15_000_000_000)
        } else {
            0
        },
    };
    let call = if trc20 {
        let amount = match rng.gen_range(0..3) {
            0 => rng.gen_range(1..=1_000_000_000_000u128),
            1 => rng.gen_range(1..=u128::MAX),
            _ => u128::MAX,
        };
        Call::Trc20Transfer {
            owner,
            token: TronAddress::from_bytes(rng.r#gen()),
            to,
            amount,
        }
    } else {
        Call::TrxTransfer {
            owner,
            to,
            amount_sun: rng.gen_range(1..1u64 << 53),
        }
    };
    Case {
        call,
        header,
        block_number,
        block_id,
        key,
    }
}

fn request(case: &Case, signed: &SignedTransaction) -> Value {
    let mut request = json!({
        "block_number": case.block_number,
        "block_id": hex::encode(case.block_id),
        "expiration": case.header.expiration_ms,
        "timestamp": case.header.timestamp_ms,
        "fee_limit": case.header.fee_limit_sun,
        "private_key": hex::encode(case.key.to_bytes()),
        "ours": {
            "raw_data_hex": hex::encode(signed.raw_data()),
            "transaction_hex": signed.to_hex(),
        },
    });
    let fields = match case.call {
        Call::Trc20Transfer {
            owner,
            token,
            to,
            amount,
        } => json!({"op": "trc20", "owner": owner.to_string(), "token": token.to_string(),
                    "to": to.to_string(), "amount": amount.to_string()}),
        Call::TrxTransfer {
            owner,
            to,
            amount_sun,
        } => json!({"op": "trx", "owner": owner.to_string(), "to": to.to_string(),
                    "amount": amount_sun}),
    };
    for (name, value) in fields.as_object().unwrap() {
        request[name] = value.clone();
    }
    request
}

/// The contract value tronweb decoded from our raw_data, as it should read.
fn expected_value(call: &Call) -> Value {
    match *call {
        Call::Trc20Transfer {
            owner,
            token,
            to,
            amount,
        } => json!({
            "owner_address": owner.to_hex(),
            "contract_address": token.to_hex(),
            "call_value": 0,
            "data": format!("a9059cbb{:0>64}{amount:064x}", hex::encode(to.as_bytes())),
            "call_token_value": 0,
            "token_id": 0,
        }),
        Call::TrxTransfer {
            owner,
            to,
            amount_sun,
        } => json!({
            "owner_address": owner.to_hex(),
            "to_address": to.to_hex(),
            "amount": amount_sun,
        }),
    }
}

fn check(case: &Case, signed: &SignedTransaction, answer: &Value, seed: u64) {
    let context = format!("{:?}, seed {seed}", case.call);
    let ours_raw = hex::encode(signed.raw_data());
    let ours_signature = hex::encode(signed.signature().as_bytes());
    // tronweb's reference block, encoding, txID and signature are ours.
    let ref_block = &case.header.ref_block;
    assert_eq!(
        answer["ref_block_bytes"],
        hex::encode(ref_block.bytes()),
        "{context}"
    );
    assert_eq!(
        answer["ref_block_hash"],
        hex::encode(ref_block.hash()),
        "{context}"
    );
    assert_eq!(answer["raw_data_hex"], ours_raw, "{context}");
    assert_eq!(answer["txID"], signed.id().to_string(), "{context}");
    assert_eq!(answer["signature"], ours_signature, "{context}");
    // tronweb reads in our raw_data the fields we meant.
    let decoded = &answer["decoded"];
    let contract = &decoded["contract"][0];
    assert_eq!(
        contract["parameter"]["value"],
        expected_value(&case.call),
        "{context}"
    );
    let type_url = contract["parameter"]["type_url"].as_str().unwrap();
    assert_eq!(
        type_url,
        format!(
            "type.googleapis.com/protocol.{}",
            contract["type"].as_str().unwrap()
        ),
        "{context}"
    );
    assert_eq!(
        decoded["expiration"], case.header.expiration_ms,
        "{context}"
    );
    assert_eq!(decoded["timestamp"], case.header.timestamp_ms, "{context}");
    assert_eq!(decoded["fee_limit"], case.header.fee_limit_sun, "{context}");
    assert_eq!(
        decoded["ref_block_hash"], answer["ref_block_hash"],
        "{context}"
    );
    // Our whole Transaction decodes to our raw_data and signature, which recovers the owner.
    let transaction = &answer["transaction"];
    assert_eq!(transaction["raw_data_hex"], ours_raw, "{context}");
    assert_eq!(transaction["txID"], signed.id().to_string(), "{context}");
    assert_eq!(
        transaction["signatures"],
        json!([ours_signature]),
        "{context}"
    );
    assert_eq!(
        answer["recovered"],
        json!([case.call.owner().to_string()]),
        "{context}"
    );
}

#[test]
fn transactions_match_tronweb_byte_for_byte() {
    if !tronweb_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let cases: Vec<Case> = (0..24).map(|i| random_case(&mut rng, i % 3 != 2)).collect();
    let signed: Vec<SignedTransaction> = cases
        .iter()
        .map(|case| {
            UnsignedTransaction::new(&case.call, &case.header)
                .unwrap()
                .sign(&case.key)
                .unwrap()
        })
        .collect();
    let requests: Vec<Value> = cases
        .iter()
        .zip(&signed)
        .map(|(c, s)| request(c, s))
        .collect();
    let answers = tronweb(&requests);
    for ((case, signed), answer) in cases.iter().zip(&signed).zip(&answers) {
        check(case, signed, answer, seed);
    }
}
