//! Acceptance tests of money going out on Solana, end to end on Surfnet (the real SVM and token
//! programs) and on both engines: a refund of a `SOL_USDT` order reaches the payer's wallet, and
//! another creates the token account of an owner that has none (its rent in the refund's fee,
//! paid by the hot wallet); one refund number sent ten times at once pays once; a settlement to a
//! Solana address and a scheduled sweep land, the sweep paid by the hot wallet (the deposit owner
//! never holds SOL) and closing the deposit's token account, whose rent comes back to the hot
//! wallet; `wcheckout reconcile` finds no difference across ETH, TRX and SOL; a refund address
//! that is not a 32-byte base58 key, or is an EVM or TRON address, gives `00001` and creates
//! nothing. And, driving an engine round by round, a send lost before it reached the node is
//! sent again, the same bytes, while its blockhash is valid, and signed afresh only once it is
//! not and the signature is unknown, paying once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wcheckout::config::Config;
use wcheckout_client::routes::{CREATE_ORDER, CREATE_REFUND, CREATE_SETTLEMENT};
use wcheckout_domain::address::{Address, ChainFamily, TronAddress};
use wcheckout_domain::chain::{Broadcast, ChainWriter, RawTx};
use wcheckout_domain::ledger::{Account, Asset};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus};
use wcheckout_domain::ports::MoneyStore;
use wcheckout_domain::token::TokenId;
use wcheckout_evm::anvil::DEV_ACCOUNTS;
use wcheckout_solana::address::{ProgramAddresses, SolanaAddress, TOKEN_PROGRAM};
use wcheckout_solana::reader::SolanaChainReader;
use wcheckout_solana::rpc::{Commitment, SolanaRpc};
use wcheckout_solana::writer::SolanaChainWriter;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::console::{Console, PASSWORD, create};
use crate::common::payouts::{LosingWriter, PayoutGateway, WAIT};
use crate::common::solana::SolanaChain;
use crate::common::tron::TronChain;
use crate::common::{Db, TEST_MNEMONIC, sysids_of};

/// A Token account's rent-exempt minimum, lamports.
const TOKEN_ACCOUNT_RENT: u128 = 2_039_280;
/// What one signature costs, lamports.
const SIGNATURE_FEE: u128 = 5_000;

/// A gateway paying out on Surfnet as `SOL` (and, when asked, on anvil as `ETH` and the TRON
/// stand-in as `TRX`), its hot wallet funded by the cluster's setup and the funding recorded.
struct Bench {
    api: PayoutGateway,
    sol: SolanaChain,
    eth: Option<TestChain>,
    tron: Option<TronChain>,
    /// Reads balances (the writer's reads; it never sends here).
    reads: SolanaChainWriter,
}

/// A bench is the gateway's harness with the Solana tools beside it.
impl std::ops::Deref for Bench {
    type Target = PayoutGateway;

    fn deref(&self) -> &PayoutGateway {
        &self.api
    }
}

impl Bench {
    /// `None` when a chain's tools are missing or PostgreSQL is wanted and absent (said so).
    async fn start(db: Db, others: bool, tweak: impl FnOnce(&mut Config)) -> Option<Bench> {
        let keys =
            Arc::new(wcheckout_solana::keys::keys(&SecretString::from(TEST_MNEMONIC)).unwrap());
        let hot_secret = hex::encode(keys.hot_wallet().secret().expose_secret());
        let sol = SolanaChain::start_funding(vec![hot_secret]).await?;
        let (eth, tron) = if others {
            (
                Some(TestChain::start(31337).await),
                Some(TronChain::start().await?),
            )
        } else {
            (None, None)
        };
        let chains = |c: &mut Config| {
            sol.configure(c, "SOL", None);
            if let Some(eth) = &eth {
                eth.configure(c, "ETH", 1);
            }
            if let Some(tron) = &tron {
                tron.configure(c, "TRX", 1);
            }
        };
        let api = PayoutGateway::start(
            db,
            ("SOL", ChainFamily::Solana),
            "Solana payouts",
            chains,
            tweak,
        )
        .await?;
        let rpc = SolanaRpc::new(
            std::slice::from_ref(&sol.node.rpc_url),
            Duration::from_secs(10),
        )
        .unwrap();
        let reads = SolanaChainWriter::new(Arc::new(rpc), keys);
        let bench = Bench {
            api,
            sol,
            eth,
            tron,
            reads,
        };
        bench.record_setup_funding().await;
        Some(bench)
    }

    fn hot(&self) -> SolanaAddress {
        match self.hot_wallet() {
            Address::Solana(address) => address,
            other @ (Address::Evm(_) | Address::Tron(_)) => {
                panic!("the Solana hot wallet is {other}")
            }
        }
    }

    fn usdt(&self) -> Address {
        Address::Solana(self.sol.usdt())
    }

    /// The SOL and tokens the cluster's setup gave the hot wallet, recorded in the ledger as
    /// the operator's funding.
    async fn record_setup_funding(&self) {
        let hot = Address::Solana(self.hot());
        let holdings = [
            (Asset::Native(self.chain.key.clone()), None),
            (
                Asset::Token(TokenId::parse("SOL_USDT").unwrap()),
                Some(self.usdt()),
            ),
            (
                Asset::Token(TokenId::parse("SOL_USDC").unwrap()),
                Some(Address::Solana(self.sol.usdc())),
            ),
        ];
        for (asset, contract) in holdings {
            let held = self.reads.balance(&hot, contract.as_ref()).await.unwrap();
            assert!(held > 0, "the setup funds the hot wallet with {asset:?}");
            self.gw
                .gateway
                .record_funding(
                    &self.chain,
                    asset,
                    TokenAmount::from_base_units(held),
                    "surfnet-setup",
                )
                .await
                .unwrap();
        }
    }

    /// A `SOL_USDT` order of `amount` paid in full by payer `payer` (1..=5), once `PAID`; its
    /// deposit owner.
    async fn paid_order(&self, no: &str, amount: &str, payer: usize) -> SolanaAddress {
        let body =
            json!({"orderNo": no, "orderAmount": amount, "customerId": "c", "token": "SOL_USDT"});
        let created = self.ok(CREATE_ORDER, &body).await;
        let deposit = created["depositAddress"].as_str().unwrap().to_owned();
        self.sol
            .pay(payer, self.sol.usdt(), &deposit, usd(amount))
            .await;
        self.wait_order(no, "PAID").await;
        SolanaAddress::parse(&deposit).unwrap()
    }

    /// `SOL_USDT` held by the owner `owner`, base units.
    async fn usdt_of(&self, owner: SolanaAddress) -> u128 {
        let owner = Address::Solana(owner);
        self.reads
            .balance(&owner, Some(&self.usdt()))
            .await
            .unwrap()
    }

    /// Lamports of `address`.
    async fn lamports_of(&self, address: SolanaAddress) -> u128 {
        self.reads
            .balance(&Address::Solana(address), None)
            .await
            .unwrap()
    }

    /// Whether `owner` has a `SOL_USDT` token account.
    async fn has_token_account(&self, owner: SolanaAddress) -> bool {
        let account = owner
            .associated_token_account(&self.sol.usdt(), &TOKEN_PROGRAM)
            .unwrap();
        let rpc = SolanaRpc::new(
            std::slice::from_ref(&self.sol.node.rpc_url),
            Duration::from_secs(10),
        )
        .unwrap();
        rpc.account_owner(&account, Commitment::Confirmed)
            .await
            .unwrap()
            .is_some()
    }

    /// A transaction the gateway names, landed and successful on the cluster.
    async fn assert_landed(&self, signature: &str) {
        let receipt = self.reads.receipt(signature).await.unwrap();
        assert!(
            receipt.is_some_and(|r| r.success),
            "{signature} is not a successful transaction on the cluster"
        );
    }
}

/// The fee a confirmed payout booked, lamports.
fn fee_of(payout: &Payout) -> u128 {
    payout.fee.map_or(0, |fee| fee.base_units())
}

fn base(whole: &str) -> u128 {
    usd(whole).base_units()
}

/// An owner no account was ever made for on the test's fresh cluster.
fn fresh_owner() -> SolanaAddress {
    wcheckout_solana::keys::Keypair::from_secret(&[42; 32]).address()
}

// ---------------------------------------------------------------------------------------------
// 1. Refunds reach the payer's wallet, and an owner without a token account gets one
// ---------------------------------------------------------------------------------------------

async fn a_refund_reaches_the_payer_and_creates_a_missing_token_account(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    let payer = b.sol.node.payers[0];
    b.paid_order("s1", "30", 1).await;
    let start = b.usdt_of(payer).await;
    let hot_start = b.lamports_of(b.hot()).await;

    // To the payer by default: its token account exists.
    let body = json!({"refundOrderNo": "r1", "orderNo": "s1", "amount": "10"});
    let created = b.ok(CREATE_REFUND, &body).await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    assert_eq!(
        created["address"],
        payer.to_string(),
        "a refund goes back to the wallet that paid by default"
    );
    let refunded = b.wait_refund("r1", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer).await - start, base("10"));
    let signature = refunded["txHash"].as_str().unwrap().to_owned();
    b.assert_landed(&signature).await;

    // To an owner that has no token account: the refund creates it, the hot wallet paying.
    let fresh = fresh_owner();
    assert!(!b.has_token_account(fresh).await);
    let body = json!({"refundOrderNo": "r2", "orderNo": "s1", "amount": "5",
                      "address": fresh.to_string()});
    b.ok(CREATE_REFUND, &body).await;
    let second = b.wait_refund("r2", "REFUNDED").await;
    assert_eq!(b.usdt_of(fresh).await, base("5"));
    assert!(b.has_token_account(fresh).await);
    assert_eq!(b.lamports_of(fresh).await, 0, "the owner pays nothing");
    b.wait_order("s1", "PARTIAL_REFUNDED").await;

    // Each payout: no nonce, one transaction with its expiration, its fee what the hot wallet
    // lost (the new account's rent in the second's).
    let refunds = b.payouts(PayoutKind::Refund).await;
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    let by_hash = |hash: &str| {
        refunds
            .iter()
            .find(|p| p.tx_hash.as_deref() == Some(hash))
            .unwrap_or_else(|| panic!("no payout sent {hash}: {refunds:?}"))
            .clone()
    };
    let first = by_hash(&signature);
    let with_account = by_hash(second["txHash"].as_str().unwrap());
    for payout in [&first, &with_account] {
        assert_eq!(payout.status, PayoutStatus::Confirmed);
        assert_eq!(payout.nonce, None, "Solana payouts have no nonce");
        let signed = b.gw.store.signed_txs(&payout.id).await.unwrap();
        assert_eq!(signed.len(), 1, "{signed:?}");
        assert!(signed[0].expires_at.is_some() && signed[0].nonce.is_none());
        assert!(
            signed[0].raw.split_once(':').is_some(),
            "stored with its blockhash's slot"
        );
    }
    assert!(
        (SIGNATURE_FEE..TOKEN_ACCOUNT_RENT).contains(&fee_of(&first)),
        "{first:?}"
    );
    assert!(
        fee_of(&with_account) >= SIGNATURE_FEE + TOKEN_ACCOUNT_RENT,
        "{with_account:?}"
    );
    assert_eq!(
        hot_start - b.lamports_of(b.hot()).await,
        fee_of(&first) + fee_of(&with_account),
        "the hot wallet lost exactly the fees booked"
    );
    let checked = b.assert_books_balance().await;
    assert!(checked.iter().all(|(_, n)| *n > 0), "{checked:?}");

    // The integrator hears of it with the transaction's signature.
    let hook = b.wait_refund_hook("r1", "REFUNDED").await;
    assert_eq!(hook["txHash"], signature.as_str(), "{hook}");
    assert_eq!(hook["address"], payer.to_string(), "{hook}");
    println!(
        "Solana refunds, lamports paid by the hot wallet: {} to an existing account, {} \
         creating one",
        fee_of(&first),
        fee_of(&with_account)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. One refund number sent ten times at once pays once
// ---------------------------------------------------------------------------------------------

async fn a_refund_number_sent_ten_times_at_once_pays_once(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    let payer = b.sol.node.payers[2];
    b.paid_order("d1", "25", 3).await;
    let start = b.usdt_of(payer).await;
    let hot_start = b.usdt_of(b.hot()).await;

    let body = json!({"refundOrderNo": "dup", "orderNo": "d1", "amount": "7.5"}).to_string();
    let answers = b.gw.post_at_once(&b.app, CREATE_REFUND, &body, 10).await;
    let sysids = sysids_of(&answers);
    assert_eq!(sysids.len(), 1, "ten requests, one refund: {sysids:?}");
    let refunded = b.wait_refund("dup", "REFUNDED").await;
    assert!(sysids.contains(refunded["sysid"].as_str().unwrap()));
    // Several more payout rounds: a second payment would show now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.usdt_of(payer).await - start, base("7.5"));
    assert_eq!(hot_start - b.usdt_of(b.hot()).await, base("7.5"));
    let refunds = b.payouts(PayoutKind::Refund).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let signed = b.gw.store.signed_txs(&refunds[0].id).await.unwrap();
    assert_eq!(signed.len(), 1, "signed once: {signed:?}");
    b.wait_order("d1", "PARTIAL_REFUNDED").await;
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A settlement and a scheduled sweep land; reconcile finds nothing across ETH, TRX and SOL
// ---------------------------------------------------------------------------------------------

async fn a_settlement_and_a_sweep_land_and_three_chains_reconcile(db: Db) {
    let Some(b) = Bench::start(db, true, |c| {
        c.sweeps.interval_secs = 1;
        c.sweeps.min_amount = "0".into();
    })
    .await
    else {
        return;
    };
    // The gateway's scheduled reconcilers ran at start, one per chain, nobody asking.
    eventually(WAIT, "every chain reconciled on schedule", || async {
        let kept = b.gw.store.last_reconciliations().await.unwrap();
        let chains: std::collections::BTreeSet<&str> =
            kept.iter().map(|r| r.chain.as_str()).collect();
        (chains.len() == 3).then_some(())
    })
    .await;
    let hot_start = b.lamports_of(b.hot()).await;
    let hot_usdt_start = b.usdt_of(b.hot()).await;
    let deposit = b.paid_order("s1", "40", 4).await;
    assert!(b.has_token_account(deposit).await);

    // The sweep on schedule: the hot wallet pays its fee, the deposit owner only signs, and the
    // emptied token account is closed, its rent coming back to the hot wallet.
    eventually(WAIT, "the deposit swept", || async {
        let swept = b.payouts(PayoutKind::Sweep).await;
        swept
            .iter()
            .any(|p| p.status == PayoutStatus::Confirmed)
            .then_some(())
    })
    .await;
    assert_eq!(b.usdt_of(deposit).await, 0);
    assert!(
        !b.has_token_account(deposit).await,
        "the deposit account is closed"
    );
    assert_eq!(
        b.lamports_of(deposit).await,
        0,
        "the deposit owner never holds SOL"
    );
    assert_eq!(b.usdt_of(b.hot()).await - hot_usdt_start, base("40"));
    assert!(
        b.payouts(PayoutKind::GasTopUp).await.is_empty(),
        "no top-up on Solana"
    );
    let sweeps = b.payouts(PayoutKind::Sweep).await;
    assert_eq!(sweeps.len(), 1, "{sweeps:?}");
    let sweep = &sweeps[0];
    assert_eq!(sweep.from, Address::Solana(deposit));
    assert!(
        fee_of(sweep) >= 2 * SIGNATURE_FEE,
        "two signatures: {sweep:?}"
    );
    // The rent reclaimed is booked against the chain's fees: its only credit.
    let fees = Account::Fees {
        chain: b.chain.key.clone(),
    }
    .key();
    let totals =
        b.gw.store
            .ledger_totals(std::slice::from_ref(&fees))
            .await
            .unwrap();
    assert_eq!(totals[&fees].credits, TOKEN_ACCOUNT_RENT, "{totals:?}");

    // A settlement of part of it to the merchant's Solana wallet.
    let merchant = b.sol.node.payers[4];
    let start = b.usdt_of(merchant).await;
    let settle = json!({"settlementOrderNo": "st1", "token": "SOL_USDT",
                        "address": merchant.to_string(), "amount": "12"});
    let created = b.ok(CREATE_SETTLEMENT, &settle).await;
    assert_eq!(
        created["settlementStatus"], "PENDING_SETTLEMENT",
        "{created}"
    );
    let settled = b.wait_settlement("st1", "SETTLED").await;
    assert_eq!(b.usdt_of(merchant).await - start, base("12"));
    b.assert_landed(settled["txHash"].as_str().unwrap()).await;
    let settlement = &b.payouts(PayoutKind::Settlement).await[0];
    assert_eq!(settlement.to, Address::Solana(merchant));
    assert_eq!(
        i128::try_from(b.lamports_of(b.hot()).await).unwrap() - i128::try_from(hot_start).unwrap(),
        i128::try_from(TOKEN_ACCOUNT_RENT).unwrap()
            - i128::try_from(fee_of(sweep) + fee_of(settlement)).unwrap(),
        "the hot wallet got the rent back and paid both fees"
    );

    // Orders paid on ETH and TRX beside it: three chains reconcile to the last unit.
    let eth = b.eth.as_ref().unwrap();
    let body = json!({"orderNo": "e1", "orderAmount": "5", "customerId": "c", "token": "ETH_USDT"});
    let created = b.ok(CREATE_ORDER, &body).await;
    let to = created["depositAddress"].as_str().unwrap().to_owned();
    eth.pay(1, eth.usdt, &to, usd("5")).await;
    b.wait_order("e1", "PAID").await;
    let tron = b.tron.as_ref().unwrap();
    let body = json!({"orderNo": "t1", "orderAmount": "6", "customerId": "c", "token": "TRX_USDT"});
    let created = b.ok(CREATE_ORDER, &body).await;
    let to = TronAddress::parse(created["depositAddress"].as_str().unwrap()).unwrap();
    tron.chain
        .pay(2, tron.chain.usdt, &to.to_evm().to_lower_hex(), usd("6"))
        .await;
    b.wait_order("t1", "PAID").await;
    // Reconciled by the gateway and by the operator's command, run as the binary on the same
    // configuration and database.
    b.assert_books_balance_on(&["ETH", "TRX", "SOL"]).await;

    // The console's overview shows what was reconciled beside the ledger: no difference.
    create(&b.gw, "auditor", "viewer").await;
    let console = Console::of(&b.gw);
    let auditor = console.sign_in("auditor", PASSWORD).await;
    let overview = console.get("/admin?lang=en", &auditor.cookie).await;
    for asset in ["ETH_USDT", "TRX_USDT", "SOL_USDT", "SOL_NATIVE"] {
        let row = overview.custody_row(asset);
        assert!(
            row.contains("<td class=\"num difference\">0</td>"),
            "{asset}: {row}"
        );
        assert!(row.contains(" s ago</time>"), "{asset}: {row}");
    }
    println!(
        "Solana sweep: fee {} lamports, rent reclaimed {TOKEN_ACCOUNT_RENT}; settlement fee {}",
        fee_of(sweep),
        fee_of(settlement)
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Refund addresses that are not Solana keys: 00001, nothing created
// ---------------------------------------------------------------------------------------------

async fn refund_addresses_not_solana_are_refused_and_create_nothing(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    b.paid_order("a1", "10", 5).await;
    let good = b.sol.node.payers[4].to_string();
    let evm = DEV_ACCOUNTS[5].to_owned();
    let tron = TronAddress::from_evm(wcheckout_domain::address::EvmAddress::parse(&evm).unwrap())
        .to_string();
    // 31 and 33 bytes in base58, and a character outside base58's alphabet.
    let short = "7DUeBUtEcb7nujVZRJmeBju3X1mo6PpnWNtJ9EBhdY".to_owned();
    let long = "365efUdXGhRExyDEUeKXWPg1zTZyfvuJQJDLsS7JZqzyt".to_owned();
    assert!(SolanaAddress::parse(&short).is_err() && SolanaAddress::parse(&long).is_err());
    let not_base58 = format!("{}0", &good[..good.len() - 1]);
    for (no, address) in [
        ("bad1", evm),
        ("bad2", tron),
        ("bad3", short),
        ("bad4", long),
        ("bad5", not_base58),
    ] {
        let body = json!({"refundOrderNo": no, "orderNo": "a1", "amount": "1", "address": address});
        let answer = b.post(CREATE_REFUND, &body).await;
        assert_eq!(answer.retcode(), "00001", "{address}: {}", answer.body);
        assert!(
            answer.retmsg().to_lowercase().contains("address"),
            "{}",
            answer.body
        );
        let info = b.client.refund_info(no).await.unwrap();
        assert_eq!(info.retcode(), "00404", "{}", info.body);
    }
    let order = b.wait_order("a1", "PAID").await;
    assert_eq!(order["refundedAmount"].to_string().trim_matches('"'), "0");
    let open = b.gw.store.open_payouts(&b.chain.key, 100).await.unwrap();
    assert!(open.is_empty(), "{open:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. A send lost before it reached the node: the same bytes again while its blockhash is valid,
//    a fresh transaction only once it is not and the signature is unknown
// ---------------------------------------------------------------------------------------------

async fn a_lost_send_is_signed_again_only_once_its_blockhash_expired(db: Db) {
    // The gateway runs no payout engine: this test drives one round by round.
    let Some(b) = Bench::start(db, false, |c| c.payouts.enabled = false).await else {
        return;
    };
    let payer = b.sol.node.payers[0];
    b.paid_order("x1", "20", 1).await;
    let start = b.usdt_of(payer).await;
    let body = json!({"refundOrderNo": "lost", "orderNo": "x1", "amount": "20"});
    let created = b.ok(CREATE_REFUND, &body).await;
    let sysid = created["sysid"].as_str().unwrap().to_owned();

    let keys = Arc::new(wcheckout_solana::keys::keys(&SecretString::from(TEST_MNEMONIC)).unwrap());
    let rpc = Arc::new(
        SolanaRpc::new(
            std::slice::from_ref(&b.sol.node.rpc_url),
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let writer = Arc::new(LosingWriter::new(SolanaChainWriter::new(
        Arc::clone(&rpc),
        keys,
    )));
    let reader = SolanaChainReader::new(rpc, Commitment::Finalized, None);
    let engine = b.engine(
        Arc::new(reader),
        Arc::clone(&writer) as Arc<dyn ChainWriter>,
    );
    let payout = || b.refund_payout(&sysid);

    // Signed, recorded, sent: the send is lost.
    assert_eq!(engine.round().await.unwrap().sent, 1);
    let signed = payout().await;
    assert_eq!(signed.status, PayoutStatus::Signed);
    let first = b.gw.store.signed_txs(&signed.id).await.unwrap();
    assert_eq!(first.len(), 1);
    let dead = RawTx {
        hash: first[0].tx_hash.clone(),
        raw: first[0].raw.clone(),
        expires_at: first[0].expires_at,
    };

    // Round after round the same bytes go out again, until the blockhash is no longer valid
    // and the signature unknown: only then is a fresh transaction signed.
    let started = std::time::Instant::now();
    let mut rounds = 0;
    loop {
        engine.round().await.unwrap();
        let txs = b.gw.store.signed_txs(&signed.id).await.unwrap();
        if txs.len() > 1 {
            break;
        }
        rounds += 1;
        assert!(
            started.elapsed() < WAIT,
            "never signed again after {rounds} rounds"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        b.reads.expired(&dead).await.unwrap(),
        Some(true),
        "signed again only once the first is dead"
    );
    let sent = writer.sent();
    let (before, after) = sent.split_at(sent.len() - 1);
    assert!(before.len() > 3, "sent again while it could land: {sent:?}");
    assert!(before.iter().all(|hash| *hash == dead.hash), "{sent:?}");
    let txs = b.gw.store.signed_txs(&signed.id).await.unwrap();
    assert_eq!(txs.len(), 2, "{txs:?}");
    assert_eq!(after, [txs[1].tx_hash.clone()]);
    assert_ne!(txs[1].tx_hash, dead.hash);
    assert!(txs[1].nonce.is_none() && txs[1].expires_at.is_some());

    // The fresh one reaches the node this time and pays; the dead one never lands.
    writer.stop_losing();
    eventually(WAIT, "the refund confirmed", || async {
        engine.round().await.unwrap();
        (payout().await.status == PayoutStatus::Confirmed).then_some(())
    })
    .await;
    assert_eq!(payout().await.tx_hash.as_ref(), Some(&txs[1].tx_hash));
    b.wait_refund("lost", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer).await - start, base("20"));
    assert_eq!(b.reads.receipt(&dead.hash).await.unwrap(), None);
    assert!(!b.reads.known(&dead.hash).await.unwrap());
    let refused = b.reads.broadcast(&dead).await.unwrap();
    assert!(
        matches!(&refused, Broadcast::Refused(reason) if reason.contains("BlockhashNotFound")),
        "{refused:?}"
    );
    println!(
        "Solana lost send: {} sends of the first transaction over {rounds} rounds, renewed \
         after {:.1} s",
        before.len(),
        started.elapsed().as_secs_f64()
    );
}

on_both_engines_with_db!(
    a_refund_reaches_the_payer_and_creates_a_missing_token_account,
    a_refund_number_sent_ten_times_at_once_pays_once,
    a_settlement_and_a_sweep_land_and_three_chains_reconcile,
    refund_addresses_not_solana_are_refused_and_create_nothing,
    a_lost_send_is_signed_again_only_once_its_blockhash_expired,
);
