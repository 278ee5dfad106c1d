//! The chain writer the payout engine sends TRON payouts through, against the stand-in: a TRC-20
//! transfer estimated, signed, broadcast and mined with the TRX it burned reported as its fee; a
//! transaction that expired before any node had it is refused and unknown, and only a fresh one
//! lands; a forged signature is refused; a TRX transfer to a new address budgets and pays its
//! activation; a deposit address that was never activated cannot send; a reverted transfer is a
//! failed receipt whose fee is the energy it burned.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{Broadcast, ChainWriter, RawTx, Receipt, SendModel, TransferTx};
use wcheckout_domain::payout::Signer;
use wcheckout_tron::address::TronAddress;
use wcheckout_tron::keys;
use wcheckout_tron::writer::TronChainWriter;

use crate::standin::{ABANDON, Chain, SUN_PER_TRX, chain, standin_available, stranger, usdt};

fn writer(chain: &Chain) -> TronChainWriter {
    let keys = keys::payout_keys(&SecretString::from(ABANDON)).unwrap();
    TronChainWriter::new(vec![chain.node.clone()], keys)
}

fn tron(address: TronAddress) -> Address {
    Address::Tron(address)
}

/// A transfer priced as the engine prices it: the node's energy price, the estimate and a fifth.
async fn priced(writer: &TronChainWriter, from: TronAddress, mut tx: TransferTx) -> TransferTx {
    let quote = writer.fee_quote().await.unwrap();
    assert_eq!(quote.base_fee, 210, "the stand-in's energy price");
    let estimate = writer.estimate_gas(&tron(from), &tx).await.unwrap();
    tx.gas_limit = estimate + estimate / 5;
    tx.max_fee_per_gas = quote.base_fee;
    tx
}

fn trc20(chain: &Chain, to: TronAddress, amount: u128) -> TransferTx {
    TransferTx {
        nonce: 0,
        contract: Some(tron(chain.token)),
        to: tron(to),
        amount,
        gas_limit: 0,
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
    }
}

async fn mined(writer: &TronChainWriter, raw: &RawTx) -> Receipt {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(receipt) = writer.receipt(&raw.hash).await.unwrap() {
            return receipt;
        }
        assert!(Instant::now() < deadline, "{} not mined", raw.hash);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_trc20_payout_lands_and_its_fee_is_the_trx_burned() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let writer = writer(&chain);
    assert_eq!(writer.send_model(), SendModel::Expiring);
    assert_eq!(
        writer.address_of(Signer::HotWallet).unwrap(),
        tron(chain.hot)
    );
    assert_eq!(
        writer.address_of(Signer::Deposit(0)).unwrap().to_string(),
        "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
    );
    let to = stranger(0x61);
    let amount = usdt(25).base_units();
    let hot = tron(chain.hot);
    let trx_before = writer.balance(&hot, None).await.unwrap();
    assert_eq!(trx_before, u128::from(100 * SUN_PER_TRX));
    let tx = priced(&writer, chain.hot, trc20(&chain, to, amount)).await;

    let head = writer.head_time().await.unwrap();
    let raw = writer.sign(Signer::HotWallet, &tx).await.unwrap();
    let expires = raw.expires_at.expect("a TRON transaction expires");
    let lifetime = expires.micros() - head.micros();
    // A minute from the later of our clock and the node's head (anvil's head may be older).
    assert!((60_000_000..120_000_000).contains(&lifetime), "{lifetime}");
    assert_eq!(raw.hash.len(), 64, "TRON's txID form: 64 hex digits");
    assert!(!writer.known(&raw.hash).await.unwrap());
    assert_eq!(writer.broadcast(&raw).await.unwrap(), Broadcast::Accepted);
    let receipt = mined(&writer, &raw).await;

    assert!(receipt.success);
    assert!(writer.known(&raw.hash).await.unwrap());
    assert_eq!(
        writer.broadcast(&raw).await.unwrap(),
        Broadcast::AlreadyKnown
    );
    let trx_after = writer.balance(&hot, None).await.unwrap();
    assert_eq!(
        receipt.fee,
        trx_before - trx_after,
        "the fee is what burned"
    );
    // Energy at 210 sun, within the fee limit the estimate and its margin set.
    assert!(receipt.fee > 0 && receipt.fee % 210 == 0, "{receipt:?}");
    assert!(receipt.fee <= u128::from(tx.gas_limit) * tx.max_fee_per_gas);
    let token = tron(chain.token);
    assert_eq!(
        writer.balance(&tron(to), Some(&token)).await.unwrap(),
        amount
    );
    assert_eq!(
        chain.token_balance(to).await,
        amount,
        "as the watcher reads it"
    );
    assert_eq!(
        writer.balance(&hot, Some(&token)).await.unwrap(),
        usdt(1_000).base_units() - amount
    );
    assert_eq!(writer.head_number().await.unwrap(), receipt.block_number);
}

#[tokio::test]
async fn a_transaction_expired_unsent_is_refused_and_only_a_fresh_one_lands() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let writer = writer(&chain);
    let to = stranger(0x62);
    let tx = priced(&writer, chain.hot, trc20(&chain, to, 7_000_000)).await;
    let lost = writer.sign(Signer::HotWallet, &tx).await.unwrap();
    let expires = lost.expires_at.unwrap();
    assert!(
        writer.head_time().await.unwrap() < expires,
        "alive when made"
    );
    assert!(!writer.known(&lost.hash).await.unwrap());

    // The chain moves past its expiration: two minutes on, one block.
    chain.control("evm_increaseTime", json!([120])).await;
    chain.control("evm_mine", json!([])).await;
    assert!(writer.head_time().await.unwrap() >= expires, "dead now");
    let refused = writer.broadcast(&lost).await.unwrap();
    assert!(
        matches!(&refused, Broadcast::Refused(why) if why.starts_with("Expired")),
        "{refused:?}"
    );
    assert!(!writer.known(&lost.hash).await.unwrap());
    assert_eq!(writer.receipt(&lost.hash).await.unwrap(), None);

    let fresh = writer.sign(Signer::HotWallet, &tx).await.unwrap();
    assert_ne!(fresh.hash, lost.hash);
    assert!(fresh.expires_at.unwrap() > writer.head_time().await.unwrap());
    assert_eq!(writer.broadcast(&fresh).await.unwrap(), Broadcast::Accepted);
    assert!(mined(&writer, &fresh).await.success);
    assert_eq!(chain.token_balance(to).await, 7_000_000, "paid once");
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let writer = writer(&chain);
    let to = stranger(0x63);
    let tx = priced(&writer, chain.hot, trc20(&chain, to, 1)).await;
    let good = writer.sign(Signer::HotWallet, &tx).await.unwrap();
    // The last byte is the signature's recovery id: flipped, it recovers another key.
    let mut bytes = hex::decode(&good.raw).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = RawTx {
        raw: hex::encode(&bytes),
        ..good.clone()
    };
    let answer = writer.broadcast(&forged).await.unwrap();
    assert!(
        matches!(&answer, Broadcast::Refused(why) if why.starts_with("Signature")),
        "{answer:?}"
    );
    assert!(!writer.known(&good.hash).await.unwrap());
    // A key that is not the owner's is refused before anything is sent.
    let from_deposit = TransferTx {
        to: tron(chain.hot),
        ..tx
    };
    let signed = writer
        .sign(Signer::Deposit(3), &from_deposit)
        .await
        .unwrap();
    let answer = writer.broadcast(&signed).await.unwrap();
    assert!(
        matches!(&answer, Broadcast::Refused(why) if why.contains("does not exist")),
        "a deposit address never activated cannot send: {answer:?}"
    );
    assert_eq!(chain.token_balance(to).await, 0);
}

#[tokio::test]
async fn a_trx_transfer_to_a_new_address_budgets_and_pays_its_activation() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let writer = writer(&chain);
    let deposit = writer.address_of(Signer::Deposit(0)).unwrap();
    let hot = tron(chain.hot);
    assert_eq!(writer.balance(&deposit, None).await.unwrap(), 0);
    let top_up = TransferTx {
        contract: None,
        to: deposit,
        amount: u128::from(5 * SUN_PER_TRX),
        ..trc20(&chain, stranger(0), 0)
    };
    let estimate = writer.estimate_gas(&hot, &top_up).await.unwrap();
    // 1.1 TRX of activation at 210 sun per energy unit, the bandwidth being free.
    assert_eq!(estimate, 1_100_000u64.div_ceil(210));
    let top_up = TransferTx {
        gas_limit: estimate,
        max_fee_per_gas: 210,
        ..top_up
    };
    let raw = writer.sign(Signer::HotWallet, &top_up).await.unwrap();
    assert_eq!(writer.broadcast(&raw).await.unwrap(), Broadcast::Accepted);
    let receipt = mined(&writer, &raw).await;
    assert!(receipt.success);
    assert_eq!(
        receipt.fee,
        u128::from(SUN_PER_TRX),
        "the activation burned"
    );
    assert!(receipt.fee <= u128::from(estimate) * 210);
    assert_eq!(
        writer.balance(&deposit, None).await.unwrap(),
        u128::from(5 * SUN_PER_TRX)
    );
    assert_eq!(
        chain.trx_balance(chain.hot).await,
        94 * SUN_PER_TRX,
        "5 TRX sent, 1 burned"
    );
    // Now active: a second transfer budgets no activation.
    let again = writer.estimate_gas(&hot, &top_up).await.unwrap();
    assert!(again < estimate, "{again}");
}

#[tokio::test]
async fn a_reverted_transfer_is_a_failed_receipt_that_still_burned_its_energy() {
    if !standin_available() {
        return;
    }
    let chain = chain().await;
    let writer = writer(&chain);
    let hot = tron(chain.hot);
    let before = writer.balance(&hot, None).await.unwrap();
    // More than the hot wallet holds: the node cannot estimate it (the call reverts), so it is
    // priced by hand, and mined as failed.
    let too_much = trc20(&chain, stranger(0x64), usdt(5_000).base_units());
    assert!(writer.estimate_gas(&hot, &too_much).await.is_err());
    let tx = TransferTx {
        gas_limit: 60_000,
        max_fee_per_gas: 210,
        ..too_much
    };
    let raw = writer.sign(Signer::HotWallet, &tx).await.unwrap();
    assert_eq!(writer.broadcast(&raw).await.unwrap(), Broadcast::Accepted);
    let receipt = mined(&writer, &raw).await;
    assert!(!receipt.success, "{receipt:?}");
    assert!(receipt.fee > 0);
    assert_eq!(
        writer.balance(&hot, None).await.unwrap(),
        before - receipt.fee
    );
    assert_eq!(chain.token_balance(stranger(0x64)).await, 0);
}
