//! `SolanaChainWriter` against a real local node (Surfnet, see `surfnet.rs`): a refund to an
//! owner without a token account (created, its rent in the fee), a sweep that closes the deposit
//! account with the hot wallet paying and getting the rent back, each fee equal to the lamports
//! the fee payer lost; an unsent transaction dead only once its blockhash is no longer valid and
//! its signature is unknown; the writer's bytes as web3.js and spl-token build them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{Broadcast, ChainWriter, RawTx, Receipt, TransferTx};
use wcheckout_domain::payout::Signer;
use wcheckout_solana::address::{ProgramAddresses, SolanaAddress, TOKEN_PROGRAM};
use wcheckout_solana::keys::{self, Keypair, SolanaKeys};
use wcheckout_solana::rpc::SolanaRpc;
use wcheckout_solana::transaction::recent_blockhash_of;
use wcheckout_solana::writer::{LAMPORTS_PER_SIGNATURE, SolanaChainWriter};

use super::surfnet::{DECIMALS, Rpc, TOKEN_ACCOUNT_RENT, funded_cluster, surfnet_available};
use super::web3js::{secret_hex, web3js, web3js_available};
use wcheckout_solana::surfnet::Surfnet;

struct Stand {
    node: Surfnet,
    rpc: Rpc,
    keys: Arc<SolanaKeys>,
    writer: SolanaChainWriter,
}

async fn stand() -> Option<Stand> {
    if !surfnet_available() {
        return None;
    }
    let keys = Arc::new(keys::keys(&wcheckout_seed::generate_mnemonic()).unwrap());
    let node = funded_cluster(keys.hot_wallet(), 1_000_000_000).await;
    let client = SolanaRpc::new(std::slice::from_ref(&node.rpc_url), Duration::from_secs(10));
    let writer = SolanaChainWriter::new(Arc::new(client.unwrap()), Arc::clone(&keys));
    let rpc = Rpc {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        url: node.rpc_url.clone(),
    };
    Some(Stand {
        node,
        rpc,
        keys,
        writer,
    })
}

impl Stand {
    fn hot(&self) -> Address {
        Address::Solana(self.keys.hot_wallet().address())
    }

    fn mint(&self) -> Address {
        Address::Solana(self.node.mints[0])
    }

    fn owner(&self, index: u64) -> SolanaAddress {
        self.keys.deposit_owner(index).unwrap()
    }

    fn token_account(&self, owner: &SolanaAddress) -> SolanaAddress {
        owner
            .associated_token_account(&self.node.mints[0], &TOKEN_PROGRAM)
            .unwrap()
    }

    async fn lamports(&self, address: &Address) -> u128 {
        self.writer.balance(address, None).await.unwrap()
    }

    /// A transfer of `amount` to `to`, its budget the writer's estimate from `from` and a fifth
    /// more (as the engine asks), at one lamport per unit.
    async fn transfer(&self, from: &Address, to: SolanaAddress, amount: u128) -> (TransferTx, u64) {
        let mut tx = TransferTx {
            nonce: 0,
            contract: Some(self.mint()),
            to: Address::Solana(to),
            amount,
            gas_limit: 0,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 0,
        };
        let estimate = self.writer.estimate_gas(from, &tx).await.unwrap();
        tx.gas_limit = estimate + estimate / 5;
        (tx, estimate)
    }

    /// Sends and waits for the receipt.
    async fn land(&self, raw: &RawTx) -> Receipt {
        assert_eq!(
            self.writer.broadcast(raw).await.unwrap(),
            Broadcast::Accepted
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(receipt) = self.writer.receipt(&raw.hash).await.unwrap() {
                return receipt;
            }
            assert!(Instant::now() < deadline, "{} did not land", raw.hash);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn account_exists(&self, account: &SolanaAddress) -> bool {
        let info = self
            .rpc
            .call(
                "getAccountInfo",
                json!([account.to_string(), {"commitment": "confirmed"}]),
            )
            .await;
        info["value"] != Value::Null
    }
}

fn wire(raw: &RawTx) -> Vec<u8> {
    let (_, base64) = raw.raw.split_once(':').unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .unwrap()
}

#[tokio::test]
async fn a_refund_creates_the_payers_account_and_a_sweep_closes_the_deposit_account() {
    let Some(stand) = stand().await else {
        return;
    };
    let hot = stand.hot();
    let payer = stand.owner(3);
    let payer_account = stand.token_account(&payer);
    assert!(!stand.account_exists(&payer_account).await);
    assert_eq!(
        stand.writer.fee_payer(Signer::Deposit(3)).unwrap(),
        Some(hot)
    );
    assert_eq!(
        stand.writer.address_of(Signer::Deposit(3)).unwrap(),
        Address::Solana(payer)
    );

    // The refund: the payer's account is missing, so its rent is in the estimate.
    let (tx, estimate) = stand.transfer(&hot, payer, 12_500_000).await;
    let raw = stand.writer.sign(Signer::HotWallet, &tx).await.unwrap();
    assert_eq!(
        u128::from(estimate),
        u128::from(LAMPORTS_PER_SIGNATURE + TOKEN_ACCOUNT_RENT) + priority(&raw),
        "one signature, the new account's rent and the priority fee"
    );
    assert!(raw.expires_at.is_some());
    let before = stand.lamports(&hot).await;
    let receipt = stand.land(&raw).await;
    let after = stand.lamports(&hot).await;
    assert!(receipt.success);
    assert_eq!(receipt.reclaimed, 0);
    assert_eq!(
        receipt.fee,
        before - after,
        "the fee is what the hot wallet lost"
    );
    assert!(receipt.fee >= u128::from(LAMPORTS_PER_SIGNATURE + TOKEN_ACCOUNT_RENT));
    assert!(receipt.fee <= u128::from(tx.gas_limit), "within the budget");
    assert_eq!(
        stand
            .writer
            .balance(&Address::Solana(payer), Some(&stand.mint()))
            .await
            .unwrap(),
        12_500_000
    );
    assert!(stand.writer.known(&raw.hash).await.unwrap());
    // Sent again: the node has it.
    assert_eq!(
        stand.writer.broadcast(&raw).await.unwrap(),
        Broadcast::AlreadyKnown
    );
    // Landed, its blockhash still valid: not dead.
    assert_eq!(stand.writer.expired(&raw).await.unwrap(), Some(false));
    let landed = stand.rpc.transaction(&raw.hash).await;
    assert!(
        landed["meta"]["computeUnitsConsumed"].as_u64().unwrap()
            <= u64::from(compute_budget(&raw).0),
        "{}",
        landed["meta"]
    );
    println!(
        "refund creating the account: fee {} lamports, {} compute units of {}",
        receipt.fee,
        landed["meta"]["computeUnitsConsumed"],
        compute_budget(&raw).0
    );
    cross_check(
        &stand,
        &raw,
        &[stand.keys.hot_wallet().clone()],
        payer,
        12_500_000,
        false,
    );

    // The sweep: the deposit owner holds no SOL, signs the transfer of everything it holds;
    // the hot wallet pays and gets the closed account's rent back.
    let owner = Address::Solana(payer);
    assert_eq!(stand.lamports(&owner).await, 0);
    let hot_owner = stand.keys.hot_wallet().address();
    let (sweep, estimate) = stand.transfer(&owner, hot_owner, 12_500_000).await;
    let raw = stand.writer.sign(Signer::Deposit(3), &sweep).await.unwrap();
    assert_eq!(
        u128::from(estimate),
        u128::from(2 * LAMPORTS_PER_SIGNATURE) + priority(&raw),
        "two signatures, no rent (the hot wallet's account exists)"
    );
    let before = stand.lamports(&hot).await;
    let receipt = stand.land(&raw).await;
    let after = stand.lamports(&hot).await;
    assert!(receipt.success);
    assert_eq!(receipt.reclaimed, u128::from(TOKEN_ACCOUNT_RENT));
    assert_eq!(
        i128::try_from(after).unwrap() - i128::try_from(before).unwrap(),
        i128::try_from(receipt.reclaimed).unwrap() - i128::try_from(receipt.fee).unwrap(),
        "the hot wallet gained the rent less the fee"
    );
    assert!(receipt.fee >= u128::from(2 * LAMPORTS_PER_SIGNATURE));
    assert!(receipt.fee <= u128::from(sweep.gas_limit));
    assert!(!stand.account_exists(&payer_account).await, "closed");
    assert_eq!(
        stand.lamports(&owner).await,
        0,
        "the deposit owner never held SOL"
    );
    assert_eq!(
        stand
            .writer
            .balance(&owner, Some(&stand.mint()))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        stand
            .writer
            .balance(&hot, Some(&stand.mint()))
            .await
            .unwrap(),
        1_000_000_000
    );
    let landed = stand.rpc.transaction(&raw.hash).await;
    println!(
        "sweep closing the account: fee {} lamports, reclaimed {}, {} compute units of {}",
        receipt.fee,
        receipt.reclaimed,
        landed["meta"]["computeUnitsConsumed"],
        compute_budget(&raw).0
    );
    let signers = [
        stand.keys.hot_wallet().clone(),
        stand.keys.deposit(3).unwrap(),
    ];
    cross_check(&stand, &raw, &signers, hot_owner, 12_500_000, true);

    // A sweep that leaves tokens behind (a payment arrived after the amount was planned) does
    // not close the account.
    let (refund, _) = stand.transfer(&hot, payer, 3_000_000).await;
    let raw = stand.writer.sign(Signer::HotWallet, &refund).await.unwrap();
    assert!(stand.land(&raw).await.success);
    let (part, _) = stand.transfer(&owner, hot_owner, 1_000_000).await;
    let raw = stand.writer.sign(Signer::Deposit(3), &part).await.unwrap();
    let receipt = stand.land(&raw).await;
    assert!(receipt.success);
    assert_eq!(receipt.reclaimed, 0);
    assert!(stand.account_exists(&payer_account).await);
    assert_eq!(
        stand
            .writer
            .balance(&owner, Some(&stand.mint()))
            .await
            .unwrap(),
        2_000_000
    );
}

/// The instructions of a signed legacy transaction: program and data (lengths below 128, as
/// in every transaction the writer makes).
fn instructions(raw: &RawTx) -> Vec<(SolanaAddress, Vec<u8>)> {
    let wire = wire(raw);
    let signatures = usize::from(wire[0]);
    let message = &wire[1 + 64 * signatures..];
    let keys = usize::from(message[3]);
    let key = |i: usize| {
        SolanaAddress::from_bytes(message[4 + 32 * i..4 + 32 * (i + 1)].try_into().unwrap())
    };
    let mut at = 4 + 32 * keys + 32;
    let count = usize::from(message[at]);
    at += 1;
    let mut found = Vec::new();
    for _ in 0..count {
        let program = key(usize::from(message[at]));
        let accounts = usize::from(message[at + 1]);
        at += 2 + accounts;
        let len = usize::from(message[at]);
        found.push((program, message[at + 1..at + 1 + len].to_vec()));
        at += 1 + len;
    }
    found
}

/// The compute unit limit and price (micro-lamports) a signed transaction sets.
fn compute_budget(raw: &RawTx) -> (u32, u64) {
    let mut limit = None;
    let mut price = 0;
    for (_, data) in instructions(raw)
        .into_iter()
        .filter(|(program, _)| program.to_string().starts_with("ComputeBudget"))
    {
        match data[0] {
            2 => limit = Some(u32::from_le_bytes(data[1..5].try_into().unwrap())),
            3 => price = u64::from_le_bytes(data[1..9].try_into().unwrap()),
            other => panic!("compute budget instruction {other}"),
        }
    }
    (limit.expect("a compute unit limit"), price)
}

/// The priority fee of a signed transaction, lamports.
fn priority(raw: &RawTx) -> u128 {
    let (limit, price) = compute_budget(raw);
    (u128::from(limit) * u128::from(price)).div_ceil(1_000_000)
}

/// The writer's transaction against web3.js and spl-token's build of the same transfer
/// (compute budget, idempotent creation of the recipient's account, `TransferChecked`, and
/// for a sweep that empties its account `CloseAccount`): the same bytes, signatures verified.
fn cross_check(
    stand: &Stand,
    raw: &RawTx,
    signers: &[Keypair],
    recipient: SolanaAddress,
    amount: u64,
    close: bool,
) {
    if !web3js_available() {
        return;
    }
    let hot = stand.keys.hot_wallet().address();
    let sender = signers.last().unwrap().address();
    let (units, price) = compute_budget(raw);
    let (mint, program) = (stand.node.mints[0].to_string(), TOKEN_PROGRAM.to_string());
    let mut requests = vec![json!({"kind": "limit", "units": units})];
    if price > 0 {
        requests.push(json!({"kind": "price", "micro_lamports": price.to_string()}));
    }
    requests.push(json!({"kind": "create", "payer": hot.to_string(),
        "owner": recipient.to_string(), "mint": mint, "program": program}));
    requests.push(json!({"kind": "transfer_checked",
        "source": stand.token_account(&sender).to_string(), "mint": mint,
        "destination": stand.token_account(&recipient).to_string(),
        "authority": sender.to_string(), "amount": amount.to_string(), "decimals": DECIMALS,
        "program": program}));
    if close {
        requests.push(
            json!({"kind": "close", "account": stand.token_account(&sender).to_string(),
            "destination": hot.to_string(), "owner": sender.to_string(), "program": program}),
        );
    }
    let ours = base64::engine::general_purpose::STANDARD.encode(wire(raw));
    let blockhash = recent_blockhash_of(&wire(raw)).unwrap();
    let answers = web3js(&[json!({
        "op": "transaction",
        "payer": hot.to_string(),
        "blockhash": blockhash.to_string(),
        "instructions": requests,
        "secrets": signers.iter().map(secret_hex).collect::<Vec<_>>(),
        "ours": ours,
    })]);
    assert_eq!(answers[0]["transaction"], ours, "{requests:?}");
    assert_eq!(answers[0]["decoded"]["verified"], true);
    assert_eq!(answers[0]["decoded"]["fee_payer"], hot.to_string());
}

#[tokio::test]
async fn an_unsent_transaction_is_dead_only_once_its_blockhash_is_invalid_and_it_is_unknown() {
    let Some(stand) = stand().await else {
        return;
    };
    let hot = stand.hot();
    let (tx, _) = stand.transfer(&hot, stand.owner(1), 1_000_000).await;
    let sent = stand.writer.sign(Signer::HotWallet, &tx).await.unwrap();
    let (tx, _) = stand.transfer(&hot, stand.owner(2), 2_000_000).await;
    let kept = stand.writer.sign(Signer::HotWallet, &tx).await.unwrap();
    assert!(stand.land(&sent).await.success);
    assert!(!stand.writer.known(&kept.hash).await.unwrap());
    let blockhash = recent_blockhash_of(&wire(&kept)).unwrap().to_string();
    let started = Instant::now();
    let mut alive_checks = 0;
    loop {
        let valid = stand
            .rpc
            .call(
                "isBlockhashValid",
                json!([blockhash, {"commitment": "finalized"}]),
            )
            .await;
        let expired = stand.writer.expired(&kept).await.unwrap();
        if valid["value"] == true {
            // The blockhash may still be valid when the writer asked (it asked first): only
            // "alive" is certain before the node says invalid.
            if expired == Some(false) {
                alive_checks += 1;
            }
        } else if expired == Some(true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the blockhash of {} never expired",
            kept.hash
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(alive_checks > 0, "seen alive while its blockhash was valid");
    println!(
        "blockhash expired {:.1} s after signing; alive at {alive_checks} checks before",
        started.elapsed().as_secs_f64()
    );
    let status = stand
        .rpc
        .call(
            "getSignatureStatuses",
            json!([[kept.hash], {"searchTransactionHistory": true}]),
        )
        .await;
    assert_eq!(status["value"][0], Value::Null);
    // The landed one is as old, but known: never dead.
    assert_eq!(stand.writer.expired(&sent).await.unwrap(), Some(false));
    // The dead one is refused, and never lands.
    let refused = stand.writer.broadcast(&kept).await.unwrap();
    assert!(
        matches!(&refused, Broadcast::Refused(reason) if reason.contains("BlockhashNotFound")),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stand.writer.receipt(&kept.hash).await.unwrap(), None);
    assert!(!stand.writer.known(&kept.hash).await.unwrap());
    assert_eq!(
        stand
            .writer
            .balance(&Address::Solana(stand.owner(2)), Some(&stand.mint()))
            .await
            .unwrap(),
        0
    );
    let broken = RawTx {
        raw: "not stored by the writer".into(),
        ..kept
    };
    assert!(stand.writer.expired(&broken).await.is_err());
}
