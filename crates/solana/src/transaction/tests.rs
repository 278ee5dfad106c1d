use super::instructions::{self, TokenPayment};
use super::*;
use crate::address::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, ProgramAddresses, SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
};

const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

fn key(byte: u8) -> Keypair {
    Keypair::from_secret(&[byte; 32])
}

fn usdc() -> SolanaAddress {
    SolanaAddress::parse(USDC).unwrap()
}

fn sweep(hot: &Keypair, owner: &Keypair) -> TokenPayment {
    TokenPayment {
        fee_payer: hot.address(),
        sender: owner.address(),
        recipient: hot.address(),
        mint: usdc(),
        token_program: TOKEN_PROGRAM,
        decimals: 6,
        amount: 12_500_000,
        compute_unit_limit: None,
        priority_micro_lamports: Some(5_000),
        create_recipient_account: true,
        close_source: true,
    }
}

#[test]
fn a_sweep_compiles_with_the_hot_wallet_paying_and_both_signing() {
    let (hot, owner) = (key(1), key(2));
    let blockhash = Blockhash::from_bytes([7; 32]);
    let instructions = sweep(&hot, &owner).instructions().unwrap();
    let message = Message::compile(&hot.address(), &instructions, blockhash).unwrap();
    let source = owner
        .address()
        .associated_token_account(&usdc(), &TOKEN_PROGRAM)
        .unwrap();
    let target = hot
        .address()
        .associated_token_account(&usdc(), &TOKEN_PROGRAM)
        .unwrap();
    // Signers (hot writable, owner read-only), writable accounts, then programs and the mint
    // in order of appearance.
    assert_eq!(
        message.account_keys(),
        [
            hot.address(),
            owner.address(),
            target,
            source,
            COMPUTE_BUDGET_PROGRAM,
            ASSOCIATED_TOKEN_PROGRAM,
            usdc(),
            SYSTEM_PROGRAM,
            TOKEN_PROGRAM,
        ]
    );
    assert_eq!(message.signers(), [hot.address(), owner.address()]);
    let bytes = message.serialize();
    assert_eq!(bytes[..4], [2, 1, 5, 9]);
    assert_eq!(bytes[4 + 9 * 32..4 + 10 * 32], [7; 32]);
    // Four instructions: price, create, transfer, close.
    assert_eq!(bytes[4 + 10 * 32], 4);
    assert_eq!(message.recent_blockhash(), blockhash);

    let signed = message.sign(&[&owner, &hot]).unwrap();
    assert_eq!(signed.signatures().len(), 2);
    for (signature, signer) in signed.signatures().iter().zip([&hot, &owner]) {
        let public = ed25519_dalek::VerifyingKey::from_bytes(signer.address().as_bytes()).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        assert!(public.verify_strict(&bytes, &signature).is_ok());
    }
    assert_eq!(
        signed.id(),
        bs58::encode(signed.signatures()[0]).into_string()
    );
    let wire = signed.to_bytes();
    assert_eq!(wire[0], 2);
    assert_eq!(&wire[1 + 128..], bytes.as_slice());
    assert!(wire.len() <= MAX_TRANSACTION_SIZE);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(signed.to_base64())
            .unwrap(),
        wire
    );
}

#[test]
fn instruction_data_follows_the_programs_layouts() {
    let (a, b, c, d) = (
        key(1).address(),
        key(2).address(),
        key(3).address(),
        key(4).address(),
    );
    let transfer =
        instructions::transfer_checked(&TOKEN_PROGRAM, &a, &b, &c, &d, 0x0102, 6).unwrap();
    assert_eq!(transfer.data, [12, 2, 1, 0, 0, 0, 0, 0, 0, 6]);
    assert_eq!(
        transfer.accounts,
        [
            AccountMeta::writable(a, false),
            AccountMeta::readonly(b, false),
            AccountMeta::writable(c, false),
            AccountMeta::readonly(d, true),
        ]
    );
    let sol = instructions::system_transfer(&a, &b, u64::MAX).unwrap();
    assert_eq!(
        sol.data,
        [2, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]
    );
    assert_eq!(
        instructions::set_compute_unit_price(1).data,
        [3, 1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        instructions::set_compute_unit_limit(200_000).data,
        [2, 0x40, 0x0d, 0x03, 0]
    );
    assert_eq!(
        instructions::close_account(&TOKEN_PROGRAM, &a, &b, &c).data,
        [9]
    );
    let create =
        instructions::create_associated_token_account_idempotent(&a, &b, &usdc(), &TOKEN_PROGRAM)
            .unwrap();
    assert_eq!(create.data, [1]);
    assert_eq!(
        create.accounts[1].address,
        b.associated_token_account(&usdc(), &TOKEN_PROGRAM).unwrap()
    );
}

#[test]
fn zero_amounts_are_refused() {
    let (a, b) = (key(1).address(), key(2).address());
    assert_eq!(
        instructions::transfer_checked(&TOKEN_PROGRAM, &a, &b, &a, &b, 0, 6),
        Err(TransactionError::ZeroAmount)
    );
    assert_eq!(
        instructions::system_transfer(&a, &b, 0),
        Err(TransactionError::ZeroAmount)
    );
}

#[test]
fn signing_needs_exactly_the_required_keys() {
    let (hot, owner, stranger) = (key(1), key(2), key(3));
    let instructions = sweep(&hot, &owner).instructions().unwrap();
    let message = Message::compile(
        &hot.address(),
        &instructions,
        Blockhash::from_bytes([0; 32]),
    )
    .unwrap();
    assert_eq!(
        message.sign(&[&hot]),
        Err(TransactionError::MissingSigner(owner.address()))
    );
    assert_eq!(
        message.sign(&[&hot, &owner, &stranger]),
        Err(TransactionError::UnexpectedSigner(stranger.address()))
    );
}

#[test]
fn a_key_used_twice_takes_the_strongest_role_once() {
    let payer = key(1);
    let other = key(2).address();
    // The payer appears again as a read-only non-signer and as the destination.
    let instructions = vec![
        instructions::system_transfer(&payer.address(), &other, 5).unwrap(),
        Instruction {
            program: SYSTEM_PROGRAM,
            accounts: vec![AccountMeta::readonly(payer.address(), false)],
            data: Vec::new(),
        },
    ];
    let message = Message::compile(
        &payer.address(),
        &instructions,
        Blockhash::from_bytes([0; 32]),
    )
    .unwrap();
    assert_eq!(
        message.account_keys(),
        [payer.address(), other, SYSTEM_PROGRAM]
    );
    assert_eq!(message.serialize()[..3], [1, 0, 1]);
}

#[test]
fn an_oversized_transaction_is_refused() {
    let payer = key(1);
    let instructions: Vec<Instruction> = (0..40u8)
        .map(|i| instructions::system_transfer(&payer.address(), &key(i + 2).address(), 1).unwrap())
        .collect();
    let message = Message::compile(
        &payer.address(),
        &instructions,
        Blockhash::from_bytes([0; 32]),
    )
    .unwrap();
    assert!(matches!(
        message.sign(&[&payer]),
        Err(TransactionError::TooLarge(_))
    ));
}

#[test]
fn blockhashes_read_and_print_in_base58() {
    let text = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N";
    let hash = Blockhash::parse(text).unwrap();
    assert_eq!(hash.to_string(), text);
    assert!(Blockhash::parse("0xabc").is_err());
}

#[test]
fn the_recent_blockhash_is_read_back_from_the_wire_form() {
    let (hot, owner) = (key(1), key(2));
    let blockhash = Blockhash::from_bytes([9; 32]);
    let instructions = sweep(&hot, &owner).instructions().unwrap();
    let message = Message::compile(&hot.address(), &instructions, blockhash).unwrap();
    let wire = message.sign(&[&hot, &owner]).unwrap().to_bytes();
    assert_eq!(recent_blockhash_of(&wire), Ok(blockhash));
    for cut in [
        0,
        1,
        64,
        129,
        140,
        wire.len() - message.serialize().len() + 100,
    ] {
        assert_eq!(
            recent_blockhash_of(&wire[..cut]),
            Err(TransactionError::Malformed),
            "{cut}"
        );
    }
    let mut versioned = wire.clone();
    versioned[129] |= 0x80;
    assert_eq!(
        recent_blockhash_of(&versioned),
        Err(TransactionError::Malformed)
    );
}
