//! This crate checked against Solana's own JavaScript libraries, @solana/web3.js and
//! @solana/spl-token (npm devDependencies of the workspace, driven offline by
//! `tests/web3js-check.mjs`): keys from secrets and from the seed, which texts are addresses,
//! associated token accounts and program-derived addresses, the bytes of the transactions we
//! build (equal to web3.js's compile and signature of the same instructions) and web3.js's
//! reading of them, and Solana Pay URLs read back by `URL`. Inputs are random (the seed is
//! printed, and named in every failure).
//!
//! Without `node` or `node_modules/@solana/web3.js` (`npm ci` at the workspace root) the tests
//! are skipped with a message, unless `WCHECKOUT_REQUIRE_TOOLS=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine;
use rand::Rng;
use rand::rngs::StdRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wcheckout_solana::address::{
    ProgramAddresses, SolanaAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM,
};
use wcheckout_solana::keys::{self, Keypair};
use wcheckout_solana::pay_url::{TransferRequest, decimal};
use wcheckout_solana::payer::{COMPUTE_UNIT_LIMIT, PRIORITY_MICRO_LAMPORTS, PayerTransfer};
use wcheckout_solana::transaction::instructions::{self, TokenPayment};
use wcheckout_solana::transaction::{Blockhash, Instruction, Message};
use wcheckout_testkit::node_tools::{node_answers, replayable_rng, tools_available};

const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";

/// Whether node and web3.js are here (skipped with a message otherwise).
pub(super) fn web3js_available() -> bool {
    tools_available(
        "the web3.js cross-check",
        &["@solana/web3.js", "@solana/spl-token"],
        true,
    )
}

/// web3.js's answers to `requests`, in order.
pub(super) fn web3js(requests: &[Value]) -> Vec<Value> {
    node_answers(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/web3js-check.mjs"),
        requests,
    )
}

fn random_key(rng: &mut StdRng) -> Keypair {
    Keypair::from_secret(&rng.r#gen())
}

pub(super) fn secret_hex(key: &Keypair) -> String {
    hex::encode(key.secret().expose_secret())
}

#[test]
fn keys_match_web3js() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..10 {
        let key = random_key(&mut rng);
        requests.push(json!({"op": "keypair", "secret": secret_hex(&key)}));
        expected.push(key.address());
    }
    for phrase in [
        SecretString::from(ABANDON),
        wcheckout_seed::generate_mnemonic(),
    ] {
        let keys = keys::keys(&phrase).unwrap();
        for index in [0u64, 1, 2, 77, 40_000, (1 << 31) - 1] {
            let path = keys::DEPOSIT_PATH.replace("{i}", &index.to_string());
            requests
                .push(json!({"op": "seed_key", "mnemonic": phrase.expose_secret(), "path": path}));
            expected.push(keys.deposit_owner(index).unwrap());
        }
        requests.push(json!({
            "op": "seed_key",
            "mnemonic": phrase.expose_secret(),
            "path": keys::HOT_WALLET_PATH,
        }));
        expected.push(keys.hot_wallet().address());
    }
    let answers = web3js(&requests);
    for ((request, answer), address) in requests.iter().zip(&answers).zip(&expected) {
        assert_eq!(
            answer["address"],
            address.to_string(),
            "{request}, seed {seed}"
        );
    }
    assert_eq!(
        answers[10]["address"],
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    );
    assert_eq!(
        answers[11]["address"],
        "Hh8QwFUA6MtVu1qAoq12ucvFHNwCcVTV7hpWjeY1Hztb"
    );
}

#[test]
fn associated_token_accounts_and_program_addresses_match_spl_token() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for i in 0..30 {
        // Wallet owners (on the curve) and arbitrary 32 bytes, as a program-owned owner has.
        let owner = if i % 2 == 0 {
            random_key(&mut rng).address()
        } else {
            SolanaAddress::from_bytes(rng.r#gen())
        };
        let mint = SolanaAddress::from_bytes(rng.r#gen());
        let program = if i % 3 == 0 {
            TOKEN_2022_PROGRAM
        } else {
            TOKEN_PROGRAM
        };
        requests.push(
            json!({"op": "ata", "owner": owner.to_string(), "mint": mint.to_string(),
                             "program": program.to_string()}),
        );
        expected.push(json!({"address": owner.associated_token_account(&mint, &program).unwrap().to_string()}));
    }
    for _ in 0..20 {
        let seeds: Vec<Vec<u8>> = (0..rng.gen_range(0..4))
            .map(|_| (0..rng.gen_range(0..=32)).map(|_| rng.r#gen()).collect())
            .collect();
        let program = SolanaAddress::from_bytes(rng.r#gen());
        let refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
        let (address, bump) = SolanaAddress::find_program_address(&refs, &program).unwrap();
        let hex_seeds: Vec<String> = seeds.iter().map(hex::encode).collect();
        requests.push(json!({"op": "pda", "seeds": hex_seeds, "program": program.to_string()}));
        expected.push(json!({"address": address.to_string(), "bump": bump}));
    }
    for ((request, answer), ours) in requests.iter().zip(web3js(&requests)).zip(&expected) {
        assert_eq!(&answer, ours, "{request}, seed {seed}");
    }
}

#[test]
fn web3js_and_we_agree_on_which_texts_are_addresses() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let mut texts = vec![
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".to_string(),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".to_string(),
        "1111111111111111111111111111111111111111".to_string(),
        "11111111111111111111111111111111".to_string(),
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".to_string(),
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1vv".to_string(),
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10".to_string(),
    ];
    for i in 0..20 {
        let address = if i % 2 == 0 {
            random_key(&mut rng).address()
        } else {
            SolanaAddress::from_bytes(rng.r#gen())
        };
        let text = address.to_string();
        texts.push(text[1..].to_string());
        texts.push(text);
    }
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| json!({"op": "valid", "address": t}))
        .collect();
    for (text, answer) in texts.iter().zip(web3js(&requests)) {
        let ours = SolanaAddress::parse(text);
        assert_eq!(answer["valid"], ours.is_ok(), "{text}, seed {seed}");
        if let Ok(address) = ours {
            assert_eq!(
                answer["on_curve"],
                address.is_on_curve(),
                "{text}, seed {seed}"
            );
        }
    }
}

/// One transaction: its instructions here, the same as web3.js requests, and its keys.
struct Case {
    payer: Keypair,
    signers: Vec<Keypair>,
    instructions: Vec<Instruction>,
    requests: Vec<Value>,
    blockhash: Blockhash,
}

fn token_payment_case(rng: &mut StdRng) -> Case {
    let payer = random_key(rng);
    // A refund or settlement (the hot wallet sends) or a sweep (a deposit owner sends).
    let pays_itself = rng.gen_bool(0.5);
    let sender = if pays_itself {
        payer.clone()
    } else {
        random_key(rng)
    };
    let payment = TokenPayment {
        fee_payer: payer.address(),
        sender: sender.address(),
        recipient: SolanaAddress::from_bytes(rng.r#gen()),
        mint: SolanaAddress::from_bytes(rng.r#gen()),
        token_program: if rng.gen_bool(0.5) {
            TOKEN_PROGRAM
        } else {
            TOKEN_2022_PROGRAM
        },
        decimals: rng.gen_range(0..=18),
        amount: rng.gen_range(1..=u64::MAX),
        compute_unit_limit: rng.gen_bool(0.5).then(|| rng.r#gen()),
        priority_micro_lamports: rng.gen_bool(0.7).then(|| rng.r#gen()),
        create_recipient_account: rng.gen_bool(0.5),
        close_source: rng.gen_bool(0.3),
    };
    let program = payment.token_program.to_string();
    let mint = payment.mint.to_string();
    let ata = |owner: &SolanaAddress| {
        owner
            .associated_token_account(&payment.mint, &payment.token_program)
            .unwrap()
            .to_string()
    };
    let mut requests = Vec::new();
    if let Some(units) = payment.compute_unit_limit {
        requests.push(json!({"kind": "limit", "units": units}));
    }
    if let Some(price) = payment.priority_micro_lamports {
        requests.push(json!({"kind": "price", "micro_lamports": price.to_string()}));
    }
    if payment.create_recipient_account {
        requests.push(
            json!({"kind": "create", "payer": payer.address().to_string(),
            "owner": payment.recipient.to_string(), "mint": mint, "program": program}),
        );
    }
    requests.push(
        json!({"kind": "transfer_checked", "source": ata(&payment.sender), "mint": mint,
        "destination": ata(&payment.recipient), "authority": payment.sender.to_string(),
        "amount": payment.amount.to_string(), "decimals": payment.decimals, "program": program}),
    );
    if payment.close_source {
        requests.push(json!({"kind": "close", "account": ata(&payment.sender),
            "destination": payer.address().to_string(), "owner": payment.sender.to_string(),
            "program": program}));
    }
    let signers = if pays_itself {
        vec![payer.clone()]
    } else {
        vec![payer.clone(), sender]
    };
    Case {
        instructions: payment.instructions().unwrap(),
        payer,
        signers,
        requests,
        blockhash: Blockhash::from_bytes(rng.r#gen()),
    }
}

fn sol_transfer_case(rng: &mut StdRng) -> Case {
    let payer = random_key(rng);
    let to = SolanaAddress::from_bytes(rng.r#gen());
    let lamports = rng.gen_range(1..=u64::MAX);
    let units = rng.r#gen::<u32>();
    Case {
        instructions: vec![
            instructions::set_compute_unit_limit(units),
            instructions::system_transfer(&payer.address(), &to, lamports).unwrap(),
        ],
        requests: vec![
            json!({"kind": "limit", "units": units}),
            json!({"kind": "system_transfer", "from": payer.address().to_string(),
                   "to": to.to_string(), "lamports": lamports.to_string()}),
        ],
        signers: vec![payer.clone()],
        payer,
        blockhash: Blockhash::from_bytes(rng.r#gen()),
    }
}

#[test]
fn transactions_match_web3js_byte_for_byte() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let cases: Vec<Case> = (0..40)
        .map(|i| {
            if i % 5 == 4 {
                sol_transfer_case(&mut rng)
            } else {
                token_payment_case(&mut rng)
            }
        })
        .collect();
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for case in &cases {
        let message =
            Message::compile(&case.payer.address(), &case.instructions, case.blockhash).unwrap();
        let keys: Vec<&Keypair> = case.signers.iter().collect();
        let signed = message.sign(&keys).unwrap();
        requests.push(json!({
            "op": "transaction",
            "payer": case.payer.address().to_string(),
            "blockhash": case.blockhash.to_string(),
            "instructions": case.requests,
            "secrets": case.signers.iter().map(secret_hex).collect::<Vec<_>>(),
            "ours": signed.to_base64(),
        }));
        ours.push((message, signed));
    }
    let answers = web3js(&requests);
    for ((case, (message, signed)), answer) in cases.iter().zip(&ours).zip(&answers) {
        let context = format!("{}, seed {seed}", json!(case.requests));
        assert_eq!(
            answer["message"],
            base64.encode(message.serialize()),
            "{context}"
        );
        assert_eq!(answer["transaction"], signed.to_base64(), "{context}");
        let decoded = &answer["decoded"];
        assert_eq!(decoded["verified"], true, "{context}");
        assert_eq!(
            decoded["fee_payer"],
            case.payer.address().to_string(),
            "{context}"
        );
        assert_eq!(
            decoded["blockhash"],
            case.blockhash.to_string(),
            "{context}"
        );
        let signers: Vec<String> = case
            .signers
            .iter()
            .map(|k| k.address().to_string())
            .collect();
        assert_eq!(decoded["signers"], json!(signers), "{context}");
        let instructions: Vec<Value> = case
            .instructions
            .iter()
            .map(|ix| {
                let accounts: Vec<Value> = ix
                    .accounts
                    .iter()
                    .map(|m| json!([m.address.to_string(), m.signer, m.writable]))
                    .collect();
                json!({"program": ix.program.to_string(), "accounts": accounts,
                       "data": hex::encode(&ix.data)})
            })
            .collect();
        // web3.js reads each account with its role in the whole message, which for these
        // instructions is the role the instruction gave it, except for a fee payer named again.
        for (theirs, ours) in decoded["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&instructions)
        {
            assert_eq!(theirs["program"], ours["program"], "{context}");
            assert_eq!(theirs["data"], ours["data"], "{context}");
            let names = |v: &Value| -> Vec<Value> {
                v["accounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a[0].clone())
                    .collect()
            };
            assert_eq!(names(theirs), names(ours), "{context}");
        }
        assert_eq!(
            signed.id(),
            bs58::encode(signed.signatures()[0]).into_string()
        );
    }
}

/// The unsigned payment the payment page hands a payer's wallet: web3.js compiles the same
/// instructions (spl-token's, with the reference appended to the transfer) to the same bytes,
/// reads the signature as empty, and spl-token reads the transfer as the order's.
#[test]
fn payer_transactions_match_web3js_and_decode_to_the_order_s_transfer() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut requests = Vec::new();
    let mut cases = Vec::new();
    for _ in 0..12 {
        let transfer = PayerTransfer {
            payer: random_key(&mut rng).address(),
            recipient: random_key(&mut rng).address(),
            mint: SolanaAddress::from_bytes(rng.r#gen()),
            token_program: if rng.gen_bool(0.5) {
                TOKEN_PROGRAM
            } else {
                TOKEN_2022_PROGRAM
            },
            decimals: rng.gen_range(0..=18),
            amount: rng.gen_range(1..=u64::MAX),
            reference: SolanaAddress::from_bytes(rng.r#gen()),
        };
        let blockhash = Blockhash::from_bytes(rng.r#gen());
        let ata = |owner: &SolanaAddress| {
            owner
                .associated_token_account(&transfer.mint, &transfer.token_program)
                .unwrap()
                .to_string()
        };
        let (program, mint) = (
            transfer.token_program.to_string(),
            transfer.mint.to_string(),
        );
        let ours = base64.encode(transfer.unsigned_transaction(blockhash).unwrap());
        requests.push(json!({
            "op": "transaction",
            "payer": transfer.payer.to_string(),
            "blockhash": blockhash.to_string(),
            "instructions": [
                {"kind": "limit", "units": COMPUTE_UNIT_LIMIT},
                {"kind": "price", "micro_lamports": PRIORITY_MICRO_LAMPORTS.to_string()},
                {"kind": "create", "payer": transfer.payer.to_string(),
                 "owner": transfer.recipient.to_string(), "mint": mint, "program": program},
                {"kind": "transfer_checked", "source": ata(&transfer.payer), "mint": mint,
                 "destination": ata(&transfer.recipient), "authority": transfer.payer.to_string(),
                 "amount": transfer.amount.to_string(), "decimals": transfer.decimals,
                 "program": program, "reference": transfer.reference.to_string()},
            ],
            "secrets": [],
            "ours": ours,
        }));
        requests.push(json!({"op": "unsigned", "ours": ours}));
        cases.push((
            transfer,
            blockhash,
            ours,
            ata(&transfer.payer),
            ata(&transfer.recipient),
        ));
    }
    let answers = web3js(&requests);
    for ((transfer, blockhash, ours, source, destination), pair) in
        cases.iter().zip(answers.chunks(2))
    {
        let context = format!("{transfer:?}, seed {seed}");
        let message = transfer.message(*blockhash).unwrap();
        assert_eq!(
            pair[0]["message"],
            base64.encode(message.serialize()),
            "{context}"
        );
        assert_eq!(
            pair[0]["transaction"], *ours,
            "{context}: the same unsigned bytes"
        );
        let read = &pair[1];
        assert_eq!(read["unsigned"], true, "{context}");
        assert_eq!(
            read["decoded"]["fee_payer"],
            transfer.payer.to_string(),
            "{context}"
        );
        assert_eq!(
            read["decoded"]["signers"],
            json!([transfer.payer.to_string()]),
            "{context}"
        );
        assert_eq!(
            read["decoded"]["blockhash"],
            blockhash.to_string(),
            "{context}"
        );
        assert_eq!(
            read["transfers"],
            json!([{
                "source": source,
                "mint": transfer.mint.to_string(),
                "destination": destination,
                "owner": transfer.payer.to_string(),
                "owner_signs": true,
                "extra": [[transfer.reference.to_string(), false, false]],
                "amount": transfer.amount.to_string(),
                "decimals": transfer.decimals,
            }]),
            "{context}"
        );
    }
}

#[test]
fn pay_urls_read_back_through_url_and_url_search_params() {
    if !web3js_available() {
        return;
    }
    let (mut rng, seed) = replayable_rng();
    let labels = [
        "Café & Co",
        "a+b=c?",
        "100% / #1",
        "日本語 ショップ",
        "plain",
        "quote's \"x\"",
    ];
    let mut requests = Vec::new();
    let mut cases = Vec::new();
    for label in labels {
        let shift = rng.gen_range(0..60);
        let request = TransferRequest {
            recipient: random_key(&mut rng).address(),
            amount: Some((rng.gen_range(1..=u64::MAX >> shift), rng.gen_range(0..=12))),
            spl_token: Some(SolanaAddress::from_bytes(rng.r#gen())),
            references: vec![SolanaAddress::from_bytes(rng.r#gen())],
            label: Some(label.to_string()),
            message: Some(format!("Order {} — thanks", rng.gen_range(0..1000))),
            memo: None,
        };
        requests.push(json!({"op": "pay_url", "url": request.to_url()}));
        cases.push(request);
    }
    for (request, answer) in cases.iter().zip(web3js(&requests)) {
        let context = format!("{}, seed {seed}", request.to_url());
        let (units, decimals) = request.amount.unwrap();
        assert_eq!(answer["protocol"], "solana:", "{context}");
        assert_eq!(
            answer["recipient"],
            request.recipient.to_string(),
            "{context}"
        );
        assert_eq!(answer["amount"], decimal(units, decimals), "{context}");
        assert_eq!(
            answer["spl_token"],
            request.spl_token.unwrap().to_string(),
            "{context}"
        );
        assert_eq!(
            answer["references"],
            json!([request.references[0].to_string()]),
            "{context}"
        );
        assert_eq!(answer["label"], request.label.clone().unwrap(), "{context}");
        assert_eq!(
            answer["label_uri"],
            request.label.clone().unwrap(),
            "{context}"
        );
        assert_eq!(
            answer["message"],
            request.message.clone().unwrap(),
            "{context}"
        );
    }
}
