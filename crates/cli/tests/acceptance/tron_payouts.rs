//! Acceptance tests of money going out on TRON, end to end on the TRON node stand-in (anvil
//! underneath) and on both engines: a refund of a `TRX_USDT` order reaches the payer's `T…`
//! address, through a sweep of the deposit address that first activates it with a TRX top-up;
//! one refund number sent ten times at once pays once; an on-chain settlement to a `T…` address
//! and a scheduled sweep land; the books agree with both chains (`reconcile` across ETH and
//! TRX, the ledger balanced, the TRX burned booked as fees); and a refund address of the wrong
//! family or with a bad checksum is refused with `00001`, creating nothing. And, driving an engine
//! round by round, a send lost before it reached the node is sent again, the same bytes, while it
//! may land (also once the head, but not yet the final block, is past its expiration), and
//! signed afresh only once the final block is past it, paying once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wcheckout::config::Config;
use wcheckout_client::routes::{CREATE_ORDER, CREATE_REFUND, CREATE_SETTLEMENT};
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress, TronAddress};
use wcheckout_domain::chain::ChainWriter;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus};
use wcheckout_domain::ports::MoneyStore;
use wcheckout_domain::token::TokenId;
use wcheckout_evm::anvil::{DEV_ACCOUNTS, DEV_PRIVATE_KEYS};
use wcheckout_evm::stablecoin;
use wcheckout_tron::node::TronNode;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::payouts::{LosingWriter, PayoutGateway, WAIT};
use crate::common::tron::TronChain;
use crate::common::{Db, sysids_of};

/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// On the stand-in 1 sun is 10^12 wei.
const WEI_PER_SUN: u128 = 1_000_000_000_000;
const SUN_PER_TRX: u128 = 1_000_000;
/// The anvil account that funds hot wallets (as `wcheckout sandbox` does).
const FUNDER: usize = 9;
/// The anvil account that deployed the tokens and alone can mint.
const MINTER: usize = 0;
/// Where settlements go: an anvil account no test pays from.
const MERCHANT: usize = 6;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A gateway paying out on the TRON stand-in as `TRX` (and on an EVM chain as `ETH` when
/// asked), with one app and its client.
struct Bench {
    api: PayoutGateway,
    tron: TronChain,
    eth: Option<TestChain>,
}

/// A bench is the gateway's harness with the TRON tools beside it.
impl std::ops::Deref for Bench {
    type Target = PayoutGateway;

    fn deref(&self) -> &PayoutGateway {
        &self.api
    }
}

impl Bench {
    /// `None` when the TRON tools are missing or PostgreSQL is wanted and absent (said so).
    async fn start(db: Db, with_eth: bool, tweak: impl FnOnce(&mut Config)) -> Option<Bench> {
        let tron = TronChain::start().await?;
        let eth = if with_eth {
            Some(TestChain::start(31337).await)
        } else {
            None
        };
        let chains = |c: &mut Config| {
            tron.configure(c, "TRX", 1);
            if let Some(eth) = &eth {
                eth.configure(c, "ETH", 1);
            }
        };
        let api = PayoutGateway::start(
            db,
            ("TRX", ChainFamily::Tron),
            "TRON payouts",
            chains,
            tweak,
        )
        .await?;
        Some(Bench { api, tron, eth })
    }

    fn hot(&self) -> TronAddress {
        match self.hot_wallet() {
            Address::Tron(address) => address,
            other @ (Address::Evm(_) | Address::Solana(_)) => {
                panic!("the TRON hot wallet is {other}")
            }
        }
    }

    fn node(&self) -> TronNode {
        TronNode::new(self.tron.standin.url(), None).unwrap()
    }

    /// TRX for the hot wallet, recorded in the ledger as the operator's funding.
    async fn fund_trx(&self, trx: u128) {
        let sun = trx * SUN_PER_TRX;
        let tx = stablecoin::send_native(
            &self.tron.chain.rpc_url,
            DEV_PRIVATE_KEYS[FUNDER],
            self.hot().to_evm(),
            sun * WEI_PER_SUN,
        )
        .await
        .unwrap();
        let asset = Asset::Native(self.chain.key.clone());
        self.gw
            .gateway
            .record_funding(&self.chain, asset, TokenAmount::from_base_units(sun), &tx)
            .await
            .unwrap();
    }

    /// `TRX_USDT` minted to the hot wallet, recorded as the operator's funding.
    async fn fund_usdt(&self, whole: &str) {
        let amount = usd(whole);
        let tx = stablecoin::mint(
            &self.tron.chain.rpc_url,
            DEV_PRIVATE_KEYS[MINTER],
            self.tron.chain.usdt,
            self.hot().to_evm(),
            amount,
        )
        .await
        .unwrap();
        let token = Asset::Token(TokenId::parse("TRX_USDT").unwrap());
        self.gw
            .gateway
            .record_funding(&self.chain, token, amount, &tx)
            .await
            .unwrap();
    }

    /// A `TRX_USDT` order of `amount` paid in full by anvil account `payer`, once `PAID`; its
    /// deposit address.
    async fn paid_order(&self, no: &str, amount: &str, payer: usize) -> TronAddress {
        let body =
            json!({"orderNo": no, "orderAmount": amount, "customerId": "c", "token": "TRX_USDT"});
        let created = self.ok(CREATE_ORDER, &body).await;
        let deposit = TronAddress::parse(created["depositAddress"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("a TRON order's deposit address: {e}: {created}"));
        let to = deposit.to_evm().to_lower_hex();
        self.tron
            .chain
            .pay(payer, self.tron.chain.usdt, &to, usd(amount))
            .await;
        self.wait_order(no, "PAID").await;
        deposit
    }

    /// `TRX_USDT` held by `owner`, base units (read on anvil, the stand-in's state).
    async fn usdt_of(&self, owner: TronAddress) -> u128 {
        let owner = owner.to_evm().to_lower_hex();
        let chain = &self.tron.chain;
        chain.balance(chain.usdt, &owner).await.base_units()
    }

    /// TRX held by `owner`, sun (`None`: the account does not exist).
    async fn trx_of(&self, owner: TronAddress) -> Option<u128> {
        let account = self.node().account(&owner).await.unwrap();
        account.map(|a| u128::from(a.balance_sun))
    }

    /// `TRX_USDT` Transfer logs from `from` to `to` on the whole chain, as TRON's JSON-RPC shows
    /// them.
    async fn transfers(&self, from: TronAddress, to: TronAddress) -> Vec<Value> {
        let filter = json!({
            "fromBlock": "0x0",
            "toBlock": "latest",
            "address": self.tron.chain.usdt.to_checksum(),
            "topics": [TRANSFER_TOPIC, topic_of(from), topic_of(to)],
        });
        // Through the stand-in's JSON-RPC, which names transactions by their TRON txID.
        let url = self.tron.standin.jsonrpc_url();
        let http = reqwest::Client::new();
        let logs = crate::common::chain::rpc(&http, &url, "eth_getLogs", json!([filter])).await;
        logs.as_array().unwrap().clone()
    }
}

/// The TRON form of anvil account `i`.
fn payer(i: usize) -> TronAddress {
    TronAddress::from_evm(EvmAddress::parse(DEV_ACCOUNTS[i]).unwrap())
}

fn topic_of(address: TronAddress) -> String {
    format!("0x{:0>64}", hex_of(address.as_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base(whole: &str) -> u128 {
    usd(whole).base_units()
}

/// The fee a confirmed payout booked, sun.
fn fee_of(payout: &Payout) -> u128 {
    payout.fee.map_or(0, |fee| fee.base_units())
}

// ---------------------------------------------------------------------------------------------
// 1. A refund reaches the payer's T… address, through an activating top-up and a sweep
// ---------------------------------------------------------------------------------------------

async fn a_refund_reaches_the_payers_tron_address(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    b.fund_trx(100).await;
    let payer_address = payer(2);
    let deposit = b.paid_order("t1", "30", 2).await;
    assert_eq!(b.trx_of(deposit).await, None, "tokens do not activate");
    let start = b.usdt_of(payer_address).await;

    // The hot wallet holds no tokens: the refund waits for a sweep, which waits for gas, which
    // the top-up brings (and with it the deposit address's account).
    let body = json!({"refundOrderNo": "r1", "orderNo": "t1", "amount": "30"});
    let created = b.ok(CREATE_REFUND, &body).await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    assert_eq!(
        created["address"],
        payer_address.to_string(),
        "a refund goes back to the payer's T… address by default"
    );
    let refunded = b.wait_refund("r1", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer_address).await - start, base("30"));
    let logs = b.transfers(b.hot(), payer_address).await;
    assert_eq!(logs.len(), 1, "one transfer to the payer: {logs:?}");
    assert_eq!(logs[0]["data"], format!("0x{:064x}", base("30")));
    b.wait_order("t1", "REFUNDED").await;

    // TRON's transaction id, mined and successful on the node, its burn booked as the fee.
    let tx = refunded["txHash"].as_str().unwrap();
    assert!(
        tx.len() == 64 && tx.bytes().all(|c| c.is_ascii_hexdigit()),
        "{tx}"
    );
    assert_eq!(
        logs[0]["transactionHash"],
        format!("0x{tx}"),
        "the chain's log names the refund's transaction"
    );
    let refund = &b.payouts(PayoutKind::Refund).await[0];
    assert_eq!(refund.status, PayoutStatus::Confirmed);
    assert_eq!(refund.tx_hash.as_deref(), Some(tx));
    assert_eq!(refund.nonce, None, "TRON has no nonces");
    let id = wcheckout_tron::transaction::TxId::from_bytes(hex32(tx));
    let wcheckout_tron::node::TransactionState::Mined(mined) =
        b.node().transaction_info(&id).await.unwrap()
    else {
        panic!("the refund's transaction is not mined");
    };
    assert_eq!(mined.outcome, wcheckout_tron::node::Outcome::Success);
    assert_eq!(fee_of(refund), u128::from(mined.fee_sun));
    assert!(fee_of(refund) > 0, "energy burned: {mined:?}");
    let signed = b.gw.store.signed_txs(&refund.id).await.unwrap();
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert!(signed[0].expires_at.is_some() && signed[0].nonce.is_none());

    // The top-up activated the deposit address (1 TRX burned by the hot wallet), the sweep
    // moved its tokens, each booked with its fee.
    let top_ups = b.payouts(PayoutKind::GasTopUp).await;
    assert_eq!(top_ups.len(), 1, "{top_ups:?}");
    assert_eq!(top_ups[0].to, Address::Tron(deposit));
    assert!(fee_of(&top_ups[0]) >= SUN_PER_TRX, "{:?}", top_ups[0]);
    let sweeps = b.payouts(PayoutKind::Sweep).await;
    assert_eq!(sweeps.len(), 1, "{sweeps:?}");
    assert_eq!(sweeps[0].from, Address::Tron(deposit));
    assert_eq!(sweeps[0].amount.base_units(), base("30"));
    assert!(fee_of(&sweeps[0]) > 0);
    assert_eq!(b.usdt_of(deposit).await, 0);
    let left = b.trx_of(deposit).await.expect("activated");
    assert_eq!(
        left,
        top_ups[0].amount.base_units() - fee_of(&sweeps[0]),
        "the deposit address keeps what its sweep did not burn"
    );
    let checked = b.assert_books_balance().await;
    assert!(checked.iter().all(|(_, n)| *n > 0), "{checked:?}");

    // The integrator hears of it as on EVM, with TRON's transaction id.
    let hook = b.wait_refund_hook("r1", "REFUNDED").await;
    assert_eq!(hook["txHash"], tx, "{hook}");
    assert_eq!(hook["address"], payer_address.to_string(), "{hook}");
    println!(
        "TRON refund through a sweep, TRX burned (sun): top-up {} (sent {}), sweep {}, refund {}",
        fee_of(&top_ups[0]),
        top_ups[0].amount.base_units(),
        fee_of(&sweeps[0]),
        fee_of(refund)
    );
}

fn hex32(text: &str) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// 2. One refund number sent ten times at once pays once
// ---------------------------------------------------------------------------------------------

async fn a_refund_number_sent_ten_times_at_once_pays_once(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    b.fund_trx(100).await;
    b.fund_usdt("100").await;
    let payer_address = payer(3);
    b.paid_order("d1", "25", 3).await;
    let start = b.usdt_of(payer_address).await;

    let body = json!({"refundOrderNo": "dup", "orderNo": "d1", "amount": "7.5"}).to_string();
    let answers = b.gw.post_at_once(&b.app, CREATE_REFUND, &body, 10).await;
    let sysids = sysids_of(&answers);
    assert_eq!(sysids.len(), 1, "ten requests, one refund: {sysids:?}");
    let refunded = b.wait_refund("dup", "REFUNDED").await;
    assert!(sysids.contains(refunded["sysid"].as_str().unwrap()));
    // Several more payout rounds: a second payment would show now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logs = b.transfers(b.hot(), payer_address).await;
    assert_eq!(logs.len(), 1, "exactly one transfer to the payer: {logs:?}");
    let tx = refunded["txHash"].as_str().unwrap();
    assert_eq!(logs[0]["transactionHash"], format!("0x{tx}"));
    assert_eq!(b.usdt_of(payer_address).await - start, base("7.5"));
    assert_eq!(b.payouts(PayoutKind::Refund).await.len(), 1);
    b.wait_order("d1", "PARTIAL_REFUNDED").await;
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A settlement and a scheduled sweep land; reconcile finds nothing across ETH and TRX
// ---------------------------------------------------------------------------------------------

async fn a_settlement_and_a_sweep_land_and_both_chains_reconcile(db: Db) {
    let Some(b) = Bench::start(db, true, |c| {
        c.sweeps.interval_secs = 1;
        c.sweeps.min_amount = "0".into();
    })
    .await
    else {
        return;
    };
    b.fund_trx(100).await;
    let hot_trx_start = b.trx_of(b.hot()).await.unwrap();
    let deposit = b.paid_order("s1", "40", 4).await;

    // The sweep on schedule: a top-up activates the deposit address, then its tokens move.
    eventually(WAIT, "the deposit address swept", || async {
        (b.usdt_of(deposit).await == 0).then_some(())
    })
    .await;
    let hot_usdt = b.usdt_of(b.hot()).await;
    assert_eq!(hot_usdt, base("40"));

    // A settlement of part of it to the merchant's T… address.
    let merchant = payer(MERCHANT);
    let start = b.usdt_of(merchant).await;
    let settle = json!({"settlementOrderNo": "st1", "token": "TRX_USDT", "address": merchant.to_string(), "amount": "12"});
    let created = b.ok(CREATE_SETTLEMENT, &settle).await;
    assert_eq!(
        created["settlementStatus"], "PENDING_SETTLEMENT",
        "{created}"
    );
    let settled = b.wait_settlement("st1", "SETTLED").await;
    assert_eq!(b.usdt_of(merchant).await - start, base("12"));
    let logs = b.transfers(b.hot(), merchant).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    let tx = settled["txHash"].as_str().unwrap();
    assert_eq!(logs[0]["transactionHash"], format!("0x{tx}"));
    let settlement = &b.payouts(PayoutKind::Settlement).await[0];
    assert_eq!(settlement.tx_hash.as_deref(), settled["txHash"].as_str());
    assert_eq!(settlement.to, Address::Tron(merchant));

    // What the hot wallet burned is what the ledger booked for it.
    let top_ups = b.payouts(PayoutKind::GasTopUp).await;
    assert_eq!(top_ups.len(), 1, "{top_ups:?}");
    let burned_by_hot = fee_of(&top_ups[0]) + fee_of(settlement);
    let sent = top_ups[0].amount.base_units();
    assert_eq!(
        b.trx_of(b.hot()).await.unwrap(),
        hot_trx_start - sent - burned_by_hot
    );

    // An ETH order paid beside it: both chains reconcile to the last unit.
    let eth = b.eth.as_ref().unwrap();
    let body = json!({"orderNo": "e1", "orderAmount": "5", "customerId": "c", "token": "ETH_USDT"});
    let created = b.ok(CREATE_ORDER, &body).await;
    let to = created["depositAddress"].as_str().unwrap().to_owned();
    eth.pay(1, eth.usdt, &to, usd("5")).await;
    b.wait_order("e1", "PAID").await;
    // Reconciled by the gateway and by the operator's commands, run as the binary on the same
    // configuration and database.
    let (_dir, cli) = b.assert_books_balance_on(&["ETH", "TRX"]).await;
    let wallet = cli.run_async(&["hot-wallet"]).await.ok().stdout;
    assert!(
        wallet.contains(&format!("hot wallet (tron): {}", b.hot())),
        "{wallet}"
    );
    let trx = b.trx_of(b.hot()).await.unwrap();
    let shown = format!("  TRX: {} native", trx_text(trx));
    assert!(wallet.contains(&shown), "{shown} in:\n{wallet}");
    assert!(wallet.contains("  TRX: 28 TRX_USDT"), "{wallet}");
}

/// Sun as whole TRX, trailing zeros trimmed (as the operator tools print them).
fn trx_text(sun: u128) -> String {
    let whole = sun / SUN_PER_TRX;
    let fraction = format!("{:06}", sun % SUN_PER_TRX);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Refund addresses of the wrong family or with a bad checksum: 00001, nothing created
// ---------------------------------------------------------------------------------------------

async fn refund_addresses_not_tron_are_refused_and_create_nothing(db: Db) {
    let Some(b) = Bench::start(db, false, |_| {}).await else {
        return;
    };
    b.paid_order("a1", "10", 5).await;
    let good = payer(5).to_string();
    // One character changed: still base58, the checksum no longer matches.
    let last = good.chars().last().unwrap();
    let typo = format!(
        "{}{}",
        &good[..good.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    assert!(TronAddress::parse(&typo).is_err());
    for (no, address) in [("bad1", DEV_ACCOUNTS[5].to_owned()), ("bad2", typo)] {
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
// 5. A send lost before it reached the node: the same bytes again while it may land, a fresh
//    transaction only once the chain's final block is past its expiration
// ---------------------------------------------------------------------------------------------

/// Blocks until a TRON block is final in the lost-send test: the head passing an expiration is
/// not enough, the final block must.
const LOST_CONFIRMATIONS: u32 = 4;

async fn a_lost_send_is_signed_again_only_after_it_expired(db: Db) {
    // The gateway runs no payout engine: this test drives one round by round.
    let Some(b) = Bench::start(db, false, |c| {
        c.payouts.enabled = false;
        c.chains.get_mut("TRX").unwrap().confirmations = Some(LOST_CONFIRMATIONS);
    })
    .await
    else {
        return;
    };
    b.fund_trx(100).await;
    b.fund_usdt("50").await;
    let payer_address = payer(1);
    let order =
        json!({"orderNo": "x1", "orderAmount": "20", "customerId": "c", "token": "TRX_USDT"});
    let deposit = b.ok(CREATE_ORDER, &order).await["depositAddress"]
        .as_str()
        .map(|text| TronAddress::parse(text).unwrap())
        .unwrap();
    let chain = &b.tron.chain;
    let to = deposit.to_evm().to_lower_hex();
    chain.pay(1, chain.usdt, &to, usd("20")).await;
    chain.mine(u64::from(LOST_CONFIRMATIONS)).await;
    b.wait_order("x1", "PAID").await;
    let start = b.usdt_of(payer_address).await;
    let body = json!({"refundOrderNo": "lost", "orderNo": "x1", "amount": "20"});
    let created = b.ok(CREATE_REFUND, &body).await;
    let sysid = created["sysid"].as_str().unwrap().to_owned();

    let keys = wcheckout_tron::keys::payout_keys(&secrecy::SecretString::from(
        crate::common::TEST_MNEMONIC,
    ))
    .unwrap();
    let writer = Arc::new(LosingWriter::new(
        wcheckout_tron::writer::TronChainWriter::new(vec![b.node()], keys),
    ));
    let reader = wcheckout_evm::reader::EvmChainReader::new(
        "TRX",
        &[b.tron.standin.jsonrpc_url()],
        None,
        Duration::from_secs(5),
    )
    .unwrap()
    .with_family(ChainFamily::Tron);
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
    let expires = first[0].expires_at.unwrap();

    // While the chain is before its expiration, each round sends the same bytes again.
    for _ in 0..3 {
        engine.round().await.unwrap();
    }
    let node_time = b.node().now_block().await.unwrap().timestamp_ms;
    assert!(i64::try_from(node_time).unwrap() * 1000 < expires.micros());
    assert_eq!(b.gw.store.signed_txs(&signed.id).await.unwrap(), first);
    let sent = writer.sent();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(
        sent.iter().all(|hash| *hash == first[0].tx_hash),
        "{sent:?}"
    );
    assert_eq!(b.usdt_of(payer_address).await, start, "nothing paid");

    // The head moves past the expiration (two minutes on, a block), the final block not yet:
    // a block that holds it could still be undone into one that does not, so nothing is
    // signed: the same bytes are sent again.
    b.tron.chain.rpc("evm_increaseTime", json!([120])).await;
    b.tron.chain.mine(1).await;
    let node_time = b.node().now_block().await.unwrap().timestamp_ms;
    assert!(i64::try_from(node_time).unwrap() * 1000 >= expires.micros());
    engine.round().await.unwrap();
    assert_eq!(b.gw.store.signed_txs(&signed.id).await.unwrap(), first);
    assert_eq!(writer.sent().len(), 5);

    // The final block passes it too: the transaction is dead, a fresh one is signed,
    // recorded, and this time reaches the node.
    b.tron.chain.mine(u64::from(LOST_CONFIRMATIONS)).await;
    writer.stop_losing();
    engine.round().await.unwrap();
    let txs = b.gw.store.signed_txs(&signed.id).await.unwrap();
    assert_eq!(txs.len(), 2, "{txs:?}");
    assert_ne!(txs[1].tx_hash, txs[0].tx_hash);
    assert!(txs[1].expires_at.unwrap() > expires);
    assert!(txs[1].nonce.is_none());
    eventually(WAIT, "the refund confirmed", || async {
        b.tron.chain.mine(1).await;
        engine.round().await.unwrap();
        (payout().await.status == PayoutStatus::Confirmed).then_some(())
    })
    .await;
    let done = payout().await;
    assert_eq!(done.tx_hash.as_ref(), Some(&txs[1].tx_hash));
    b.wait_refund("lost", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer_address).await - start, base("20"));
    assert_eq!(b.transfers(b.hot(), payer_address).await.len(), 1);
    // The dead one was never sent after its expiration, and never lands.
    let dead = wcheckout_tron::transaction::TxId::from_bytes(hex32(&txs[0].tx_hash));
    assert!(!b.node().transaction_known(&dead).await.unwrap());
    let refused = b.node().broadcast_hex(&txs[0].raw).await.unwrap();
    assert!(
        matches!(
            refused,
            wcheckout_tron::node::Broadcast::Refused {
                code: wcheckout_tron::node::RefusalCode::Expired,
                ..
            }
        ),
        "{refused:?}"
    );
}

on_both_engines_with_db!(
    a_lost_send_is_signed_again_only_after_it_expired,
    a_refund_reaches_the_payers_tron_address,
    a_refund_number_sent_ten_times_at_once_pays_once,
    a_settlement_and_a_sweep_land_and_both_chains_reconcile,
    refund_addresses_not_tron_are_refused_and_create_nothing,
);
