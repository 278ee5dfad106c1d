//! End to end against a real local Solana node: surfpool's Surfnet (the real SVM, Token and
//! associated token account programs, signature checks and rent), started offline on loopback
//! by `wcheckout_solana::surfnet` (the devnet's), which also makes a mint and funds the hot
//! wallet. From here,
//! over JSON-RPC only: the hot wallet pays a deposit owner whose token account does not exist
//! yet (created idempotently, its rent paid by the hot wallet), pays it again (the account now
//! exists), and sweeps it back with the hot wallet paying the fee and closing the deposit
//! account; each credit is read as a detector would, from `getSignaturesForAddress` and the
//! pre/post token balances of `getTransaction`.
//!
//! Skipped with a message without node or node_modules/@solana/surfpool-linux-x64-gnu (`npm ci`),
//! a failure under `WCHECKOUT_REQUIRE_TOOLS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wcheckout_solana::address::{ProgramAddresses, SolanaAddress, TOKEN_PROGRAM};
use wcheckout_solana::keys::{self, Keypair};
use wcheckout_solana::surfnet::{Setup, Surfnet};
use wcheckout_solana::transaction::instructions::TokenPayment;
use wcheckout_solana::transaction::{Blockhash, Message};
use wcheckout_testkit::node_tools::tools_available;

/// A Token account's rent-exempt minimum, in lamports.
pub(super) const TOKEN_ACCOUNT_RENT: u64 = 2_039_280;
pub(super) const DECIMALS: u8 = 6;

/// Whether node and surfpool's Surfnet are here (skipped with a message otherwise).
pub(super) fn surfnet_available() -> bool {
    tools_available(
        "the Surfnet test",
        &["@solana/surfpool-linux-x64-gnu"],
        true,
    )
}

/// A cluster with one mint of [`DECIMALS`], whose setup funds `hot` with SOL and `balance` base
/// units of it (the mint's authority).
pub(super) async fn funded_cluster(hot: &Keypair, balance: u64) -> Surfnet {
    let mut setup = Setup::new(&[DECIMALS], 0, balance);
    setup.fund = vec![hex::encode(hot.secret().expose_secret())];
    Surfnet::start(&setup).await.expect("Surfnet starts")
}

/// A JSON-RPC client of the local node.
pub(super) struct Rpc {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
}

impl Rpc {
    pub(super) async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn latest_blockhash(&self) -> Blockhash {
        let result = self
            .call("getLatestBlockhash", json!([{"commitment": "confirmed"}]))
            .await;
        Blockhash::parse(result["value"]["blockhash"].as_str().unwrap()).unwrap()
    }

    /// Sends the payment signed by `signers` and waits until it is confirmed; its id.
    async fn pay(&self, payment: &TokenPayment, signers: &[&Keypair]) -> String {
        let instructions = payment.instructions().unwrap();
        let message = Message::compile(
            &payment.fee_payer,
            &instructions,
            self.latest_blockhash().await,
        )
        .unwrap();
        let signed = message.sign(signers).unwrap();
        let sent = self
            .call(
                "sendTransaction",
                json!([signed.to_base64(), {"encoding": "base64", "preflightCommitment": "confirmed"}]),
            )
            .await;
        assert_eq!(sent, signed.id());
        self.confirm(&signed.id()).await;
        signed.id()
    }

    async fn confirm(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let statuses = self.call("getSignatureStatuses", json!([[id]])).await;
            let status = &statuses["value"][0];
            if matches!(
                status["confirmationStatus"].as_str(),
                Some("confirmed" | "finalized")
            ) {
                assert_eq!(status["err"], Value::Null, "{id}: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "{id} not confirmed in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn transaction(&self, id: &str) -> Value {
        let config = json!({"encoding": "json", "commitment": "confirmed",
                            "maxSupportedTransactionVersion": 0});
        self.call("getTransaction", json!([id, config])).await
    }

    async fn signatures_for(&self, account: &SolanaAddress) -> Vec<String> {
        let result = self
            .call(
                "getSignaturesForAddress",
                json!([account.to_string(), {"commitment": "confirmed"}]),
            )
            .await;
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["signature"].as_str().unwrap().to_string())
            .collect()
    }
}

/// `account`'s token balance in a transaction's `preTokenBalances` or `postTokenBalances` (a
/// missing entry is a zero balance: the account did not exist).
fn token_balance(transaction: &Value, field: &str, account: &SolanaAddress) -> i128 {
    let index = account_index(transaction, account);
    transaction["meta"][field]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["accountIndex"] == json!(index))
        .map_or(0, |b| {
            b["uiTokenAmount"]["amount"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
}

/// The change of `account`'s token balance in a transaction, as a detector reads it.
fn token_credit(transaction: &Value, account: &SolanaAddress) -> i128 {
    token_balance(transaction, "postTokenBalances", account)
        - token_balance(transaction, "preTokenBalances", account)
}

fn account_index(transaction: &Value, account: &SolanaAddress) -> usize {
    let keys = transaction["transaction"]["message"]["accountKeys"]
        .as_array()
        .unwrap();
    keys.iter()
        .position(|k| k == &json!(account.to_string()))
        .unwrap()
}

/// The change of `account`'s lamports in a transaction.
pub(super) fn lamport_change(transaction: &Value, account: &SolanaAddress) -> i128 {
    let index = account_index(transaction, account);
    let meta = &transaction["meta"];
    i128::from(meta["postBalances"][index].as_u64().unwrap())
        - i128::from(meta["preBalances"][index].as_u64().unwrap())
}

/// The compute unit limit and price of the test's transactions: a priority fee of exactly
/// 100 lamports.
const UNIT_LIMIT: u32 = 100_000;
const UNIT_PRICE: u64 = 1_000;
const PRIORITY_FEE: i128 = 100;

/// What the hot wallet paid in a transaction besides its fees (negative: what it received).
/// A validator's `meta.fee` includes the priority fee; Surfnet's leaves it out, so either is
/// accepted.
fn hot_wallet_cost(transaction: &Value, hot: &SolanaAddress) -> i128 {
    let fee = i128::from(transaction["meta"]["fee"].as_u64().unwrap());
    let signatures = transaction["transaction"]["signatures"]
        .as_array()
        .unwrap()
        .len();
    let base = 5_000 * i128::try_from(signatures).unwrap();
    assert!(fee == base || fee == base + PRIORITY_FEE, "fee {fee}");
    let priority_outside_fee = if fee == base { PRIORITY_FEE } else { 0 };
    -lamport_change(transaction, hot) - fee - priority_outside_fee
}

#[tokio::test]
async fn payments_and_a_sweep_land_on_a_local_solana_node() {
    if !surfnet_available() {
        return;
    }
    let keys = keys::keys(&wcheckout_seed::generate_mnemonic()).unwrap();
    let hot = keys.hot_wallet().clone();
    let owner = keys.deposit(7).unwrap();
    let node = funded_cluster(&hot, 1_000_000_000).await;
    let mint = node.mints[0];
    let rpc = Rpc {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        url: node.rpc_url.clone(),
    };
    let deposit_account = owner
        .address()
        .associated_token_account(&mint, &TOKEN_PROGRAM)
        .unwrap();
    let hot_account = hot
        .address()
        .associated_token_account(&mint, &TOKEN_PROGRAM)
        .unwrap();
    let payment = |sender: &Keypair, recipient: &Keypair, amount: u64| TokenPayment {
        fee_payer: hot.address(),
        sender: sender.address(),
        recipient: recipient.address(),
        mint,
        token_program: TOKEN_PROGRAM,
        decimals: DECIMALS,
        amount,
        compute_unit_limit: Some(UNIT_LIMIT),
        priority_micro_lamports: Some(UNIT_PRICE),
        create_recipient_account: true,
        close_source: false,
    };

    // The first payment creates the deposit account; the hot wallet pays its rent.
    let first = rpc.pay(&payment(&hot, &owner, 12_500_000), &[&hot]).await;
    let landed = rpc.transaction(&first).await;
    assert_eq!(landed["meta"]["err"], Value::Null);
    assert_eq!(token_credit(&landed, &deposit_account), 12_500_000);
    assert_eq!(token_credit(&landed, &hot_account), -12_500_000);
    assert_eq!(
        lamport_change(&landed, &deposit_account),
        i128::from(TOKEN_ACCOUNT_RENT)
    );
    assert_eq!(
        hot_wallet_cost(&landed, &hot.address()),
        i128::from(TOKEN_ACCOUNT_RENT)
    );

    // The second finds the account there: the idempotent creation does nothing.
    let second = rpc.pay(&payment(&hot, &owner, 2_500_000), &[&hot]).await;
    let landed = rpc.transaction(&second).await;
    assert_eq!(token_credit(&landed, &deposit_account), 2_500_000);
    assert_eq!(lamport_change(&landed, &deposit_account), 0);
    let seen = rpc.signatures_for(&deposit_account).await;
    assert!(seen.contains(&first) && seen.contains(&second), "{seen:?}");

    // The sweep: the deposit owner, holding no SOL, signs the transfer; the hot wallet pays
    // the fee and gets the closed account's rent back.
    let owner_sol = rpc
        .call("getBalance", json!([owner.address().to_string()]))
        .await;
    assert_eq!(owner_sol["value"], 0);
    let sweep = TokenPayment {
        create_recipient_account: false,
        close_source: true,
        ..payment(&owner, &hot, 15_000_000)
    };
    let swept = rpc.pay(&sweep, &[&hot, &owner]).await;
    let landed = rpc.transaction(&swept).await;
    assert_eq!(token_credit(&landed, &hot_account), 15_000_000);
    // A validator leaves the closed account out of postTokenBalances; Surfnet lists it with its
    // balance before the close, so only its balance before is asserted here.
    assert_eq!(
        token_balance(&landed, "preTokenBalances", &deposit_account),
        15_000_000
    );
    assert_eq!(
        hot_wallet_cost(&landed, &hot.address()),
        -i128::from(TOKEN_ACCOUNT_RENT)
    );
    let closed = rpc
        .call(
            "getAccountInfo",
            json!([deposit_account.to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    assert_eq!(closed["value"], Value::Null);
    assert!(rpc.signatures_for(&deposit_account).await.contains(&swept));
    let hot_tokens = rpc
        .call(
            "getTokenAccountBalance",
            json!([hot_account.to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    assert_eq!(hot_tokens["value"]["amount"], "1000000000");
    drop(node);
}
