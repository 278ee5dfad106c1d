//! Acceptance tests of money going out, end to end on a real anvil chain and on both engines:
//! refunds of paid orders (partial, then the rest; too much refused), one refund number sent ten
//! times at once paying once, an overpayment returned to its payer, on-chain settlements (too
//! much refused), fiat settlements through the operator's approve / mark-paid / reject,
//! cancellations before a payout is signed, the webhooks all this announces, and after each
//! scenario the books: the ledger balances and every address we hold matches the chain. A
//! hundred refunds through a lossy node (a fault-injecting proxy) are all paid, each once,
//! within a bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::common::chain::{TestChain, eventually, usd};
use crate::common::receiver::{Receiver, Reply, always};
use crate::common::{Db, TestGateway, sysids_of, usdt_order};
use serde_json::{Value, json};
use wcheckout::config::{BankAccountConfig, Config};
use wcheckout_app::admin::IssuedCredentials;
use wcheckout_app::clock::SystemClock;
use wcheckout_client::routes::{
    CREATE_FIAT_SETTLEMENT, CREATE_ORDER, CREATE_REFUND, CREATE_SETTLEMENT, LIST_ABNORMAL_PAYMENTS,
    LIST_REFUNDS, REFUND_ABNORMAL_PAYMENT,
};
use wcheckout_client::{ApiResponse, Client};
use wcheckout_domain::app::{App, Branding, UnderpaymentTolerance};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::payout::PayoutKind;
use wcheckout_domain::ports::{AppStore, Clock, MoneyStore};
use wcheckout_domain::token::{Chain, TokenId};
use wcheckout_evm::anvil::DEV_ACCOUNTS;
use wcheckout_testkit::faulty_rpc::{Faults, FaultyRpc};

/// Longest wait for anything on chain or in a webhook.
const WAIT: Duration = Duration::from_secs(45);
/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// The app the operator registered bank accounts for (its id is fixed so the configuration can
/// name it before the gateway starts).
const BANK_APP: &str = "app_payouts_bank";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A chain, a gateway watching it and paying out on it, an app whose webhooks a receiver
/// records, and that app's signed client.
struct Bench {
    chain: TestChain,
    gw: TestGateway,
    eth: Chain,
    hooks: Receiver,
    app: IssuedCredentials,
    client: Arc<Client>,
}

impl Bench {
    /// `None` when PostgreSQL is wanted and absent (the harness has said so).
    async fn start(db: Db, tweak: impl FnOnce(&mut Config)) -> Option<Bench> {
        Bench::start_on(db, TestChain::start(31337).await, tweak).await
    }

    /// A bench on `chain` (started by the caller, to put something in front of its node).
    async fn start_on(db: Db, chain: TestChain, tweak: impl FnOnce(&mut Config)) -> Option<Bench> {
        let hooks = Receiver::start(always(Reply::ok())).await;
        let gw = TestGateway::start_with(db, |c| {
            chain.configure(c, "ETH", 1);
            c.payouts.poll_interval_ms = 100;
            c.payouts.funds_retry_secs = 1;
            c.webhooks.poll_interval_ms = 100;
            tweak(c);
        })
        .await?;
        let eth = gw.gateway.tokens.chains().next().unwrap().clone();
        let app = gw
            .admin
            .create("Payouts", Some(&hooks.url("/hooks")), &[])
            .await
            .unwrap();
        let client = Arc::new(gw.client(&app));
        Some(Bench {
            chain,
            gw,
            eth,
            hooks,
            app,
            client,
        })
    }

    /// Gas for the hot wallet, recorded in the ledger.
    async fn fund_gas(&self) {
        wcheckout::devnet::fund_hot_wallet(&self.gw.gateway, &self.eth, &self.chain.rpc_url)
            .await
            .unwrap();
    }

    fn hot_wallet(&self) -> String {
        self.gw.evm_hot_wallet().to_lower_hex()
    }

    /// Tokens sent to the hot wallet from payer `payer`, recorded as the operator's funding.
    async fn fund_tokens(&self, payer: usize, amount: TokenAmount) {
        let hot = self.hot_wallet();
        let tx = self.chain.pay(payer, self.chain.usdt, &hot, amount).await;
        let token = TokenId::parse("ETH_USDT").unwrap();
        self.gw
            .gateway
            .record_funding(&self.eth, Asset::Token(token), amount, &tx)
            .await
            .unwrap();
    }

    async fn post(&self, path: &str, body: &Value) -> ApiResponse {
        self.client.post(path, &body.to_string()).await.unwrap()
    }

    /// POSTs every body at once (each its own request and signature); the answers in order.
    async fn race(&self, path: &str, bodies: &[Value]) -> Vec<ApiResponse> {
        let requests = bodies
            .iter()
            .map(|body| {
                let (client, path, body) =
                    (Arc::clone(&self.client), path.to_owned(), body.to_string());
                tokio::spawn(async move { client.post(&path, &body).await.unwrap() })
            })
            .collect::<Vec<_>>();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap());
        }
        answers
    }

    /// POSTs and asserts success; the `retdata`.
    async fn ok(&self, path: &str, body: &Value) -> Value {
        let answer = self.post(path, body).await;
        assert_eq!(answer.retcode(), "200", "{path} {body}: {}", answer.body);
        answer.retdata().clone()
    }

    /// POSTs and asserts the refusal `code`.
    async fn refused(&self, path: &str, body: &Value, code: &str) -> ApiResponse {
        let answer = self.post(path, body).await;
        assert_eq!(answer.retcode(), code, "{path} {body}: {}", answer.body);
        answer
    }

    /// An order of `amount` USDT paid with `paid` by payer `payer`, once `PAID`; its deposit
    /// address and the payment's transaction.
    async fn paid_order(
        &self,
        no: &str,
        amount: &str,
        paid: &str,
        payer: usize,
    ) -> (String, String) {
        let created = self
            .ok(CREATE_ORDER, &usdt_order(no, amount, json!({})))
            .await;
        let address = created["depositAddress"].as_str().unwrap().to_owned();
        let tx = self
            .chain
            .pay(payer, self.chain.usdt, &address, usd(paid))
            .await;
        self.wait_order(no, "PAID").await;
        (address, tx)
    }

    async fn order(&self, no: &str) -> Value {
        let info = self.client.order_info(no).await.unwrap();
        assert_eq!(info.retcode(), "200", "{}", info.body);
        info.retdata().clone()
    }

    async fn wait_order(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("order {no} {status}"), || async {
            let order = self.order(no).await;
            (order["orderStatus"] == status).then_some(order)
        })
        .await
    }

    async fn refund(&self, no: &str) -> ApiResponse {
        self.client.refund_info(no).await.unwrap()
    }

    async fn wait_refund(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("refund {no} {status}"), || async {
            let info = self.refund(no).await;
            assert_eq!(info.retcode(), "200", "{}", info.body);
            let data = info.retdata().clone();
            assert!(
                data["refundStatus"] != "FAILED",
                "refund {no} failed: {data}"
            );
            (data["refundStatus"] == status).then_some(data)
        })
        .await
    }

    async fn settlement(&self, no: &str) -> ApiResponse {
        self.client.settlement_info(no).await.unwrap()
    }

    async fn wait_settlement(&self, no: &str, status: &str) -> Value {
        eventually(WAIT, &format!("settlement {no} {status}"), || async {
            let info = self.settlement(no).await;
            assert_eq!(info.retcode(), "200", "{}", info.body);
            let data = info.retdata().clone();
            assert!(
                data["settlementStatus"] != "FAILED",
                "settlement {no} failed: {data}"
            );
            (data["settlementStatus"] == status).then_some(data)
        })
        .await
    }

    /// USDT held by `owner`, base units.
    async fn usdt_of(&self, owner: &str) -> u128 {
        self.chain
            .balance(self.chain.usdt, owner)
            .await
            .base_units()
    }

    /// USDT Transfer logs from `from` to `to` on the whole chain.
    async fn transfers(&self, from: &str, to: &str) -> Vec<Value> {
        let filter = json!({
            "fromBlock": "0x0",
            "toBlock": "latest",
            "address": self.chain.usdt.to_checksum(),
            "topics": [TRANSFER_TOPIC, topic_of(from), topic_of(to)],
        });
        let logs = self.chain.rpc("eth_getLogs", json!([filter])).await;
        logs.as_array().unwrap().clone()
    }

    /// The `data` of every distinct `event_type` webhook whose `data[key] == value`, in arrival
    /// order (a redelivery of an event counts once).
    fn hooks_of(&self, event_type: &str, key: &str, value: &str) -> Vec<Value> {
        let mut seen = HashSet::new();
        self.hooks
            .deliveries()
            .iter()
            .map(crate::common::receiver::Delivery::json)
            .filter(|body| body["eventType"] == event_type && body["data"][key] == value)
            .filter(|body| seen.insert(body["eventId"].as_str().unwrap_or("").to_owned()))
            .map(|body| body["data"].clone())
            .collect()
    }

    /// Waits for the `event_type` webhook of object `data[key] == value` in `data[field] ==
    /// status`; its `data`.
    async fn wait_hook(
        &self,
        event_type: &str,
        (key, value): (&str, &str),
        (field, status): (&str, &str),
    ) -> Value {
        eventually(
            WAIT,
            &format!("{event_type} {value} {status} webhook"),
            || async {
                self.hooks_of(event_type, key, value)
                    .into_iter()
                    .find(|data| data[field] == status)
            },
        )
        .await
    }

    /// Every payout final, the ledger balanced, and every custody account of ours holding on
    /// chain exactly what the ledger says.
    async fn assert_books_balance(&self) {
        let reader = Arc::new(
            wcheckout_evm::reader::EvmChainReader::new(
                "ETH",
                std::slice::from_ref(&self.chain.rpc_url),
                None,
                Duration::from_secs(5),
            )
            .unwrap(),
        );
        let keys = wcheckout_evm::keys::payout_keys(&secrecy::SecretString::from(
            crate::common::TEST_MNEMONIC,
        ))
        .unwrap();
        let writer = wcheckout_evm::writer::EvmChainWriter::new(reader, keys, 31337);
        let writer = &writer;
        let settled = eventually(
            Duration::from_secs(15),
            "no payout in flight",
            || async move {
                let found = self
                    .gw
                    .gateway
                    .reconcile_chain(&self.eth, writer)
                    .await
                    .unwrap();
                (found.in_flight == 0).then_some(found)
            },
        )
        .await;
        assert!(
            settled.differences.is_empty(),
            "the ledger and the chain disagree: {settled:?}"
        );
        assert!(settled.checked > 0, "{settled:?}");
        let check = self.gw.gateway.ledger_check().await.unwrap();
        assert!(
            check.mismatched_accounts.is_empty() && check.account_debits == check.account_credits,
            "the ledger does not balance: {check:?}"
        );
    }
}

/// A 32-byte log topic holding an address.
fn topic_of(address: &str) -> String {
    format!(
        "0x{:0>64}",
        address.trim_start_matches("0x").to_ascii_lowercase()
    )
}

/// A decimal from the API (string or number) as USDT base units.
fn units(value: &Value) -> u128 {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    usd(&text).base_units()
}

fn base(whole: &str) -> u128 {
    usd(whole).base_units()
}

// ---------------------------------------------------------------------------------------------
// 1. Refunds of a paid order: a part, then the rest; too much refused
// ---------------------------------------------------------------------------------------------

async fn partial_then_full_refund_reach_the_payer(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let payer = DEV_ACCOUNTS[2];
    b.paid_order("o1", "30", "30", 2).await;
    let start = b.usdt_of(payer).await;

    // Too much: refused, and nothing changes (not even the refund number is taken).
    let paid = b.order("o1").await;
    assert_eq!(units(&paid["refundedAmount"]), 0, "{paid}");
    let too_much = json!({"refundOrderNo": "r1", "orderNo": "o1", "amount": "30.01"});
    let answer = b.refused(CREATE_REFUND, &too_much, "00422").await;
    assert!(answer.retmsg().contains("30"), "{}", answer.body);
    assert_eq!(
        b.order("o1").await,
        paid,
        "a refused refund changed the order"
    );
    assert_eq!(b.refund("r1").await.retcode(), "00404");

    // A part: PENDING_REFUND at once, the order REFUNDING, then paid on chain.
    let part =
        json!({"refundOrderNo": "r1", "orderNo": "o1", "amount": "10", "remark": "one of three"});
    let created = b.ok(CREATE_REFUND, &part).await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    assert_eq!(created["orderNo"], "o1");
    assert_eq!(units(&created["amount"]), base("10"));
    assert!(created["txHash"].is_null(), "{created}");
    assert_eq!(
        created["address"].as_str().unwrap().to_ascii_lowercase(),
        payer.to_ascii_lowercase(),
        "a refund goes back to the payer by default"
    );
    // (The hot wallet holds no tokens yet, so this refund waits for a sweep: time to look.)
    let refunding = b.order("o1").await;
    assert_eq!(refunding["orderStatus"], "REFUNDING", "{refunding}");
    let refunded = b.wait_refund("r1", "REFUNDED").await;
    let tx1 = refunded["txHash"].as_str().unwrap().to_owned();
    assert_eq!(refunded["sysid"], created["sysid"]);
    assert_eq!(b.usdt_of(payer).await - start, base("10"));
    let order = b.wait_order("o1", "PARTIAL_REFUNDED").await;
    assert_eq!(units(&order["refundedAmount"]), base("10"), "{order}");

    // A TRON address for an ETH order: refused and named, nothing created.
    let tron = json!({"refundOrderNo": "r2", "orderNo": "o1", "amount": "1",
        "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"});
    let answer = b.refused(CREATE_REFUND, &tron, "00001").await;
    assert!(answer.body.contains("TRON"), "{}", answer.body);
    assert_eq!(b.refund("r2").await.retcode(), "00404");

    // More than what is left (20): refused, nothing changes.
    let over = json!({"refundOrderNo": "r2", "orderNo": "o1", "amount": "20.000001"});
    b.refused(CREATE_REFUND, &over, "00422").await;
    assert_eq!(b.order("o1").await, order);
    assert_eq!(b.refund("r2").await.retcode(), "00404");

    // The rest.
    let rest = json!({"refundOrderNo": "r2", "orderNo": "o1", "amount": "20"});
    let created = b.ok(CREATE_REFUND, &rest).await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    let refunded = b.wait_refund("r2", "REFUNDED").await;
    let tx2 = refunded["txHash"].as_str().unwrap().to_owned();
    assert_ne!(tx1, tx2);
    assert_eq!(b.usdt_of(payer).await - start, base("30"));
    let order = b.wait_order("o1", "REFUNDED").await;
    assert_eq!(units(&order["refundedAmount"]), base("30"), "{order}");
    let nothing_left = json!({"refundOrderNo": "r3", "orderNo": "o1", "amount": "0.01"});
    b.refused(CREATE_REFUND, &nothing_left, "00409").await;

    // On chain: exactly two transfers from the hot wallet to the payer, the refunds' own.
    let logs = b.transfers(&b.hot_wallet(), payer).await;
    let hashes = logs
        .iter()
        .map(|l| l["transactionHash"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(hashes, vec![tx1.clone(), tx2.clone()], "{logs:?}");

    // Webhooks: each refund REFUNDING then REFUNDED with its transaction; the order's steps.
    for (no, tx, amount) in [("r1", &tx1, "10"), ("r2", &tx2, "20")] {
        let done = b
            .wait_hook(
                "REFUND_ORDER_CHANGED",
                ("refundOrderNo", no),
                ("refundStatus", "REFUNDED"),
            )
            .await;
        assert_eq!(done["txHash"], tx.as_str(), "{done}");
        assert_eq!(units(&done["amount"]), base(amount));
        assert_eq!(done["orderNo"], "o1");
        let steps = b
            .hooks_of("REFUND_ORDER_CHANGED", "refundOrderNo", no)
            .iter()
            .map(|d| d["refundStatus"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            steps,
            ["PENDING_REFUND", "REFUNDING", "REFUNDED"],
            "refund {no}"
        );
        let sending = b
            .wait_hook(
                "REFUND_ORDER_CHANGED",
                ("refundOrderNo", no),
                ("refundStatus", "REFUNDING"),
            )
            .await;
        assert_eq!(
            sending["txHash"],
            tx.as_str(),
            "REFUNDING carries the transaction"
        );
        assert_eq!(b.refund(no).await.retdata()["txHash"], tx.as_str());
    }
    b.wait_hook(
        "CHECKOUT_ORDER_CHANGED",
        ("orderNo", "o1"),
        ("orderStatus", "REFUNDED"),
    )
    .await;
    let order_steps = b
        .hooks_of("CHECKOUT_ORDER_CHANGED", "orderNo", "o1")
        .iter()
        .map(|d| d["orderStatus"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(
        order_steps,
        [
            "PAID",
            "REFUNDING",
            "PARTIAL_REFUNDED",
            "REFUNDING",
            "REFUNDED"
        ]
    );

    let list = b.ok(LIST_REFUNDS, &json!({"orderNo": "o1"})).await;
    assert_eq!(list["total"], 2, "{list}");
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 2. One refund number sent ten times at once pays once
// ---------------------------------------------------------------------------------------------

async fn repeated_refund_number_pays_once(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let payer = DEV_ACCOUNTS[3];
    b.paid_order("d1", "25", "25", 3).await;
    let start = b.usdt_of(payer).await;

    // Ten requests at once, each its own (signature, timestamp), all the same body.
    let body = json!({"refundOrderNo": "dup", "orderNo": "d1", "amount": "7.5"}).to_string();
    let answers = b.gw.post_at_once(&b.app, CREATE_REFUND, &body, 10).await;
    let sysids = sysids_of(&answers);
    assert_eq!(
        sysids.len(),
        1,
        "ten identical requests, one refund: {sysids:?}"
    );

    let refunded = b.wait_refund("dup", "REFUNDED").await;
    assert!(sysids.contains(refunded["sysid"].as_str().unwrap()));
    // Several more payout rounds: a second payment would show now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logs = b.transfers(&b.hot_wallet(), payer).await;
    assert_eq!(logs.len(), 1, "exactly one transfer to the payer: {logs:?}");
    assert_eq!(logs[0]["transactionHash"], refunded["txHash"]);
    assert_eq!(b.usdt_of(payer).await - start, base("7.5"));
    let order = b.wait_order("d1", "PARTIAL_REFUNDED").await;
    assert_eq!(units(&order["refundedAmount"]), base("7.5"), "{order}");
    let list = b.ok(LIST_REFUNDS, &json!({"orderNo": "d1"})).await;
    assert_eq!(list["total"], 1, "{list}");

    // Sent again later, the same body answers with the same refund; another body is refused.
    let again = b
        .ok(CREATE_REFUND, &serde_json::from_str(&body).unwrap())
        .await;
    assert_eq!(again["sysid"], refunded["sysid"]);
    assert_eq!(again["refundStatus"], "REFUNDED");
    let other = json!({"refundOrderNo": "dup", "orderNo": "d1", "amount": "8"});
    b.refused(CREATE_REFUND, &other, "00409").await;
    assert_eq!(b.transfers(&b.hot_wallet(), payer).await.len(), 1);
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 3. An overpayment returned to its payer
// ---------------------------------------------------------------------------------------------

/// The `retcode` and `retmsg` (the number replaced by `N`) of a refund of abnormal payment `no`.
async fn abnormal_refund_answer(
    client: &Client,
    path: &str,
    no: &str,
    token: Option<&str>,
) -> (String, String) {
    let mut body = json!({"refundOrderNo": "xs", "abnormalPaymentNo": no, "amount": "0.1"});
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    let answer = client.post(path, &body.to_string()).await.unwrap();
    (
        answer.retcode().to_owned(),
        answer.retmsg().replace(no, "N"),
    )
}

async fn overpayment_returns_to_the_payer(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let payer = DEV_ACCOUNTS[5];
    let (_, tx) = b.paid_order("x1", "10", "10.75", 5).await;
    let start = b.usdt_of(payer).await;

    let list = eventually(WAIT, "the OVER_PAID abnormal payment", || async {
        let list = b
            .ok(LIST_ABNORMAL_PAYMENTS, &json!({"orderNo": "x1"}))
            .await;
        (list["total"] == 1).then_some(list)
    })
    .await;
    let abnormal = list["records"][0].clone();
    assert_eq!(abnormal["type"], "OVER_PAID", "{abnormal}");
    assert_eq!(abnormal["status"], "PENDING");
    assert_eq!(abnormal["hash"], tx.as_str());
    assert_eq!(units(&abnormal["amount"]), base("0.75"));
    assert_eq!(units(&abnormal["pendingAmount"]), base("0.75"));

    // Another app learns nothing of it: its number answers exactly as one that does not exist.
    let stranger = b.gw.client(&b.gw.create_app().await);
    let real = abnormal["abnormalPaymentNo"].as_str().unwrap();
    for path in [REFUND_ABNORMAL_PAYMENT, CREATE_REFUND] {
        for token in [None, Some("ETH_USDC"), Some("ETH_USDT")] {
            let known = abnormal_refund_answer(&stranger, path, real, token).await;
            assert_eq!(known.0, "00404", "{path} {token:?}: {known:?}");
            let unknown = abnormal_refund_answer(&stranger, path, "APX0000000000", token).await;
            assert_eq!(known, unknown, "{path} {token:?}");
        }
    }

    // By order and transaction, no amount: the whole abnormal amount.
    let body = json!({"refundOrderNo": "xr1", "orderNo": "x1", "txHash": tx, "token": "ETH_USDT", "remark": "excess"});
    let created = b.ok(REFUND_ABNORMAL_PAYMENT, &body).await;
    assert_eq!(created["refundStatus"], "PENDING_REFUND", "{created}");
    assert_eq!(created["abnormalPaymentNo"], abnormal["abnormalPaymentNo"]);
    assert_eq!(units(&created["amount"]), base("0.75"));
    assert_eq!(
        created["address"].as_str().unwrap().to_ascii_lowercase(),
        payer.to_ascii_lowercase()
    );
    let refunded = b.wait_refund("xr1", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer).await - start, base("0.75"));
    let logs = b.transfers(&b.hot_wallet(), payer).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["transactionHash"], refunded["txHash"]);

    let handled = eventually(WAIT, "the abnormal payment HANDLED", || async {
        let list = b
            .ok(LIST_ABNORMAL_PAYMENTS, &json!({"orderNo": "x1"}))
            .await;
        let record = list["records"][0].clone();
        (record["status"] == "HANDLED").then_some(record)
    })
    .await;
    assert_eq!(units(&handled["pendingAmount"]), 0, "{handled}");
    assert_eq!(units(&handled["amount"]), base("0.75"));
    // The order itself is untouched: paid, nothing refunded from it.
    let order = b.order("x1").await;
    assert_eq!(order["orderStatus"], "PAID", "{order}");
    assert_eq!(units(&order["refundedAmount"]), 0);
    let twice = json!({"refundOrderNo": "xr2", "orderNo": "x1", "txHash": tx});
    b.refused(REFUND_ABNORMAL_PAYMENT, &twice, "00409").await;
    b.wait_hook(
        "REFUND_ORDER_CHANGED",
        ("refundOrderNo", "xr1"),
        ("refundStatus", "REFUNDED"),
    )
    .await;
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 4. An on-chain settlement; too much refused
// ---------------------------------------------------------------------------------------------

async fn onchain_settlement_arrives(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let merchant = DEV_ACCOUNTS[6];
    b.paid_order("s1", "20", "20", 4).await;
    let start = b.usdt_of(merchant).await;
    let settle = |no: &str, amount: &str| json!({"settlementOrderNo": no, "token": "ETH_USDT", "address": merchant, "amount": amount});

    b.refused(CREATE_SETTLEMENT, &settle("st1", "20.01"), "00422")
        .await;
    assert_eq!(b.settlement("st1").await.retcode(), "00404");
    // Balances are per merchant and token.
    let other_merchant = json!({"settlementOrderNo": "st1", "merchantId": "m2", "token": "ETH_USDT", "address": merchant, "amount": "1"});
    b.refused(CREATE_SETTLEMENT, &other_merchant, "00422").await;
    let other_token = json!({"settlementOrderNo": "st1", "token": "ETH_USDC", "address": merchant, "amount": "1"});
    b.refused(CREATE_SETTLEMENT, &other_token, "00422").await;
    // A TRON address for an ETH settlement: refused and named, nothing created.
    let tron = json!({"settlementOrderNo": "st1", "token": "ETH_USDT",
        "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "amount": "1"});
    let answer = b.refused(CREATE_SETTLEMENT, &tron, "00001").await;
    assert!(answer.body.contains("is a TRON"), "{}", answer.body);
    assert_eq!(b.settlement("st1").await.retcode(), "00404");

    let created = b.ok(CREATE_SETTLEMENT, &settle("st1", "12")).await;
    assert_eq!(
        created["settlementStatus"], "PENDING_SETTLEMENT",
        "{created}"
    );
    assert_eq!(created["merchantId"], "default");
    assert_eq!(units(&created["amount"]), base("12"));
    assert!(created["txHash"].is_null());
    let settled = b.wait_settlement("st1", "SETTLED").await;
    let tx = settled["txHash"].as_str().unwrap().to_owned();
    assert_eq!(b.usdt_of(merchant).await - start, base("12"));
    let logs = b.transfers(&b.hot_wallet(), merchant).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["transactionHash"], tx.as_str());

    // What is left is 8.
    b.refused(CREATE_SETTLEMENT, &settle("st2", "8.01"), "00422")
        .await;

    let hook = b
        .wait_hook(
            "SETTLEMENT_ORDER_CHANGED",
            ("settlementOrderNo", "st1"),
            ("settlementStatus", "SETTLED"),
        )
        .await;
    assert_eq!(hook["txHash"], tx.as_str(), "{hook}");
    assert_eq!(units(&hook["amount"]), base("12"));
    assert_eq!(
        hook["address"].as_str().unwrap().to_ascii_lowercase(),
        merchant.to_ascii_lowercase()
    );
    let steps = b
        .hooks_of("SETTLEMENT_ORDER_CHANGED", "settlementOrderNo", "st1")
        .iter()
        .map(|d| d["settlementStatus"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(steps, ["PENDING_SETTLEMENT", "SETTLING", "SETTLED"]);
    let sending = b
        .wait_hook(
            "SETTLEMENT_ORDER_CHANGED",
            ("settlementOrderNo", "st1"),
            ("settlementStatus", "SETTLING"),
        )
        .await;
    assert_eq!(
        sending["txHash"],
        tx.as_str(),
        "SETTLING carries the transaction"
    );
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Fiat settlements: approved and paid, or rejected
// ---------------------------------------------------------------------------------------------

/// Registers `app_id` (fixed, so the configuration can name it) as an app with a webhook URL.
async fn app_with_id(gw: &TestGateway, app_id: &str, webhook_url: &str) -> IssuedCredentials {
    let api_key = format!("ak_{}", wcheckout_app::secrets::random_hex(32));
    let api_secret = wcheckout_app::secrets::random_token(32);
    let sign_key = wcheckout_app::secrets::random_alphanumeric(32);
    let now = SystemClock.now();
    let app = App {
        id: AppId::new(app_id),
        name: "Bank".into(),
        api_key: api_key.clone(),
        api_secret_hash: wcheckout_app::secrets::hash_secret(&api_secret),
        sign_key_sealed: gw.gateway.secrets.seal(app_id, &sign_key),
        webhook_url: Some(webhook_url.to_owned()),
        ip_allow: Vec::new(),
        tolerance: UnderpaymentTolerance::default(),
        branding: Branding::default(),
        secrets_version: 1,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    gw.store.insert_app(&app).await.unwrap();
    IssuedCredentials {
        app_id: app_id.to_owned(),
        api_key,
        api_secret,
        sign_key,
    }
}

fn bank_account(app: &str, name: &str) -> BankAccountConfig {
    BankAccountConfig {
        app: app.into(),
        account_name: name.into(),
        account_number: "DE89370400440532013000".into(),
        bank_name: "Commerzbank".into(),
        swift_code: Some("COBADEFFXXX".into()),
        ..BankAccountConfig::default()
    }
}

async fn fiat_settlements_are_paid_or_rejected(db: Db) {
    let Some(mut b) = Bench::start(db, |c| {
        c.bank_accounts
            .insert("ba1".into(), bank_account(BANK_APP, "Shop GmbH"));
        c.bank_accounts
            .insert("ba2".into(), bank_account("app_someone_else", "Other"));
    })
    .await
    else {
        return;
    };
    b.app = app_with_id(&b.gw, BANK_APP, &b.hooks.url("/hooks")).await;
    b.client = Arc::new(b.gw.client(&b.app));
    b.paid_order("f1", "30", "30", 1).await;
    let gateway = &b.gw.gateway;

    // Inline bank details: waiting for the operator, then SETTLING, then SETTLED.
    let inline = json!({
        "settlementOrderNo": "fs1", "token": "ETH_USDT", "amount": "10", "fiat": "USD",
        "bankAccount": {"accountName": "Shop GmbH", "accountNumber": "DE89370400440532013000", "bankName": "Commerzbank"},
    });
    let created = b.ok(CREATE_FIAT_SETTLEMENT, &inline).await;
    assert_eq!(
        created["settlementStatus"], "PENDING_SETTLEMENT",
        "{created}"
    );
    assert_eq!(created["fiat"], "USD");
    assert!(created["address"].is_null(), "{created}");
    let sysid = created["sysid"].as_str().unwrap().to_owned();
    let approved = gateway.approve_settlement(&sysid).await.unwrap();
    assert_eq!(approved.status.to_string(), "SETTLING");
    assert_eq!(
        b.settlement("fs1").await.retdata()["settlementStatus"],
        "SETTLING"
    );
    assert!(
        gateway.approve_settlement(&sysid).await.is_err(),
        "approved twice"
    );
    let paid = gateway
        .mark_settlement_paid(&sysid, "BANKREF1")
        .await
        .unwrap();
    assert_eq!(paid.bank_reference.as_deref(), Some("BANKREF1"));
    let info = b.settlement("fs1").await.retdata().clone();
    assert_eq!(info["settlementStatus"], "SETTLED", "{info}");
    assert_eq!(info["bankReference"], "BANKREF1");
    assert!(
        gateway
            .mark_settlement_paid(&sysid, "BANKREF2")
            .await
            .is_err(),
        "paid twice"
    );
    let cancel = b.client.cancel_settlement("fs1").await.unwrap();
    assert_eq!(cancel.retcode(), "00409", "{}", cancel.body);

    // A registered account by id: the other 20, then rejected, its funds back.
    let by_id = |no: &str, amount: &str, id: &str| json!({"settlementOrderNo": no, "token": "ETH_USDT", "amount": amount, "bankAccountId": id});
    let created = b
        .ok(CREATE_FIAT_SETTLEMENT, &by_id("fs2", "20", "ba1"))
        .await;
    assert_eq!(
        created["settlementStatus"], "PENDING_SETTLEMENT",
        "{created}"
    );
    let sysid = created["sysid"].as_str().unwrap().to_owned();
    b.refused(
        CREATE_FIAT_SETTLEMENT,
        &by_id("fs3", "0.01", "ba1"),
        "00422",
    )
    .await;
    let rejected = gateway
        .reject_settlement(&sysid, "beneficiary name mismatch")
        .await
        .unwrap();
    assert_eq!(rejected.status.to_string(), "REJECTED");
    let info = b.settlement("fs2").await.retdata().clone();
    assert_eq!(info["settlementStatus"], "REJECTED", "{info}");
    assert_eq!(info["failureReason"], "beneficiary name mismatch");
    let again = b
        .ok(CREATE_FIAT_SETTLEMENT, &by_id("fs3", "20", "ba1"))
        .await;
    assert_eq!(again["settlementStatus"], "PENDING_SETTLEMENT", "{again}");
    b.refused(
        CREATE_FIAT_SETTLEMENT,
        &by_id("fs4", "0.01", "ba1"),
        "00422",
    )
    .await;

    // Unknown accounts, and another app's, are not found.
    for id in ["nope", "ba2"] {
        b.refused(CREATE_FIAT_SETTLEMENT, &by_id("fs5", "1", id), "00404")
            .await;
    }

    let hook = b
        .wait_hook(
            "SETTLEMENT_ORDER_CHANGED",
            ("settlementOrderNo", "fs1"),
            ("settlementStatus", "SETTLED"),
        )
        .await;
    assert_eq!(hook["bankReference"], "BANKREF1", "{hook}");
    let hook = b
        .wait_hook(
            "SETTLEMENT_ORDER_CHANGED",
            ("settlementOrderNo", "fs2"),
            ("settlementStatus", "REJECTED"),
        )
        .await;
    assert_eq!(hook["failureReason"], "beneficiary name mismatch", "{hook}");
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Cancellations: before the payout is signed only
// ---------------------------------------------------------------------------------------------

async fn cancellations_before_signing_only(db: Db) {
    // No gas and no sweeps: the hot wallet cannot pay until the test funds it.
    let Some(b) = Bench::start(db, |c| {
        c.sweeps.enabled = false;
        c.settlements.approval_above = Some("5".into());
    })
    .await
    else {
        return;
    };
    b.paid_order("c1", "20", "20", 1).await;
    let refund =
        |no: &str, amount: &str| json!({"refundOrderNo": no, "orderNo": "c1", "amount": amount});
    let settle = |no: &str, amount: &str, to: &str| json!({"settlementOrderNo": no, "token": "ETH_USDT", "address": to, "amount": amount});

    // A refund the engine cannot pay yet.
    let created = b.ok(CREATE_REFUND, &refund("cr1", "5")).await;
    let reference = format!("refund:{}", created["sysid"].as_str().unwrap());
    let note = eventually(WAIT, "the refund's payout waiting for funds", || async {
        let payout =
            b.gw.store
                .payout_by_reference(PayoutKind::Refund, &reference)
                .await
                .unwrap()
                .unwrap();
        payout.note.filter(|n| n.starts_with("waiting for"))
    })
    .await;
    println!("cr1 payout: {note}");
    let info = b.refund("cr1").await.retdata().clone();
    assert_eq!(info["refundStatus"], "PENDING_REFUND", "{info}");
    assert!(info["txHash"].is_null());
    assert_eq!(b.order("c1").await["orderStatus"], "REFUNDING");

    let cancelled = b.client.cancel_refund("cr1").await.unwrap();
    assert_eq!(cancelled.retcode(), "200", "{}", cancelled.body);
    assert_eq!(cancelled.retdata()["refundStatus"], "CANCELLED");
    let again = b.client.cancel_refund("cr1").await.unwrap();
    assert_eq!(
        again.retdata()["refundStatus"],
        "CANCELLED",
        "{}",
        again.body
    );
    let order = b.order("c1").await;
    assert_eq!(order["orderStatus"], "PAID", "{order}");
    assert_eq!(units(&order["refundedAmount"]), 0);
    b.wait_hook(
        "REFUND_ORDER_CHANGED",
        ("refundOrderNo", "cr1"),
        ("refundStatus", "CANCELLED"),
    )
    .await;
    // Its 5 are refundable again: all 20 can be asked for (then that is cancelled too).
    b.ok(CREATE_REFUND, &refund("cr2", "20")).await;
    b.refused(CREATE_REFUND, &refund("cr3", "0.01"), "00422")
        .await;
    assert_eq!(
        b.client.cancel_refund("cr2").await.unwrap().retdata()["refundStatus"],
        "CANCELLED"
    );

    // A settlement waiting for approval (above 5) is cancelled; its funds come back.
    let waiting = b
        .ok(CREATE_SETTLEMENT, &settle("cs1", "6", DEV_ACCOUNTS[6]))
        .await;
    assert_eq!(waiting["settlementStatus"], "PENDING_SETTLEMENT");
    let cancelled = b.client.cancel_settlement("cs1").await.unwrap();
    assert_eq!(cancelled.retcode(), "200", "{}", cancelled.body);
    assert_eq!(cancelled.retdata()["settlementStatus"], "CANCELLED");
    b.ok(CREATE_SETTLEMENT, &settle("cs2", "20", DEV_ACCOUNTS[6]))
        .await;
    b.refused(
        CREATE_SETTLEMENT,
        &settle("cs3", "0.01", DEV_ACCOUNTS[6]),
        "00422",
    )
    .await;
    assert_eq!(
        b.client.cancel_settlement("cs2").await.unwrap().retdata()["settlementStatus"],
        "CANCELLED"
    );

    // Now the hot wallet can pay: what is paid can no longer be cancelled.
    b.fund_gas().await;
    b.fund_tokens(1, usd("20")).await;
    let payer = DEV_ACCOUNTS[1];
    let before = b.usdt_of(payer).await;
    b.ok(CREATE_REFUND, &refund("cr4", "5")).await;
    let paid = b.wait_refund("cr4", "REFUNDED").await;
    assert_eq!(b.usdt_of(payer).await - before, base("5"));
    let refused = b.client.cancel_refund("cr4").await.unwrap();
    assert_eq!(refused.retcode(), "00409", "{}", refused.body);
    assert_eq!(b.refund("cr4").await.retdata().clone(), paid);
    let order = b.wait_order("c1", "PARTIAL_REFUNDED").await;
    assert_eq!(units(&order["refundedAmount"]), base("5"));

    // A settlement of 5 needs no approval; once settled it cannot be cancelled.
    let before = b.usdt_of(DEV_ACCOUNTS[6]).await;
    b.ok(CREATE_SETTLEMENT, &settle("cs4", "5", DEV_ACCOUNTS[6]))
        .await;
    let settled = b.wait_settlement("cs4", "SETTLED").await;
    assert_eq!(b.usdt_of(DEV_ACCOUNTS[6]).await - before, base("5"));
    let refused = b.client.cancel_settlement("cs4").await.unwrap();
    assert_eq!(refused.retcode(), "00409", "{}", refused.body);
    assert_eq!(b.settlement("cs4").await.retdata().clone(), settled);

    // Above 5 it waits for the operator, then goes out.
    let before = b.usdt_of(DEV_ACCOUNTS[7]).await;
    let created = b
        .ok(CREATE_SETTLEMENT, &settle("cs5", "6", DEV_ACCOUNTS[7]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let info = b.settlement("cs5").await.retdata().clone();
    assert_eq!(info["settlementStatus"], "PENDING_SETTLEMENT", "{info}");
    assert!(info["txHash"].is_null());
    b.gw.gateway
        .approve_settlement(created["sysid"].as_str().unwrap())
        .await
        .unwrap();
    b.wait_settlement("cs5", "SETTLED").await;
    assert_eq!(b.usdt_of(DEV_ACCOUNTS[7]).await - before, base("6"));
    // 20 - 5 refunded - 5 - 6 settled.
    b.refused(
        CREATE_SETTLEMENT,
        &settle("cs6", "4.01", DEV_ACCOUNTS[7]),
        "00422",
    )
    .await;
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Distinct requests racing for one limit: an order's refundable amount, an abnormal payment's
//    pending amount, a merchant's balance. One wins each race, and the chain pays no more.
// ---------------------------------------------------------------------------------------------

/// Twenty requests with their own numbers at once; exactly one is accepted, the others are
/// refused with `00422`. The accepted one's number.
async fn one_wins(b: &Bench, path: &str, bodies: &[Value], number: &str) -> String {
    let answers = b.race(path, bodies).await;
    let accepted = answers
        .iter()
        .filter(|a| a.retcode() == "200")
        .map(|a| a.retdata()[number].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(accepted.len(), 1, "{path}: accepted {accepted:?}");
    for answer in answers.iter().filter(|a| a.retcode() != "200") {
        assert_eq!(answer.retcode(), "00422", "{path}: {}", answer.body);
    }
    accepted[0].clone()
}

/// What `to` received from the hot wallet on chain, base units.
async fn paid_out_to(b: &Bench, to: &str) -> u128 {
    let logs = b.transfers(&b.hot_wallet(), to).await;
    logs.iter()
        .map(|log| {
            let data = log["data"].as_str().unwrap().trim_start_matches("0x");
            u128::from_str_radix(data, 16).unwrap()
        })
        .sum()
}

async fn racing_requests_never_spend_more_than_the_limit(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let payer = DEV_ACCOUNTS[2];
    b.paid_order("q1", "10", "10", 2).await;
    // A second paid order of the same merchant: its balance (20) is not what stops a refund.
    b.paid_order("q2", "10", "10", 3).await;
    // Overpaid by 5: an OVER_PAID abnormal payment to refund from.
    b.paid_order("q3", "10", "15", 4).await;

    // An order already REFUNDING: 1 of its 10 reserved, then twenty refunds of 9 at once.
    let first = json!({"refundOrderNo": "q1-first", "orderNo": "q1", "amount": "1"});
    b.ok(CREATE_REFUND, &first).await;
    assert_eq!(b.order("q1").await["orderStatus"], "REFUNDING");
    let refunds = (0..20)
        .map(|i| json!({"refundOrderNo": format!("q1-{i}"), "orderNo": "q1", "amount": "9"}))
        .collect::<Vec<_>>();
    let won = one_wins(&b, CREATE_REFUND, &refunds, "refundOrderNo").await;

    // The overpayment's 5: twenty refunds of 3 at once.
    let abnormal = eventually(WAIT, "the OVER_PAID abnormal payment", || async {
        let list = b
            .ok(LIST_ABNORMAL_PAYMENTS, &json!({"orderNo": "q3"}))
            .await;
        (list["total"] == 1).then(|| list["records"][0].clone())
    })
    .await;
    let number = abnormal["abnormalPaymentNo"].as_str().unwrap();
    let abnormal_refunds = (0..20)
        .map(|i| json!({"refundOrderNo": format!("q3-{i}"), "abnormalPaymentNo": number, "amount": "3"}))
        .collect::<Vec<_>>();
    let abnormal_won = one_wins(&b, CREATE_REFUND, &abnormal_refunds, "refundOrderNo").await;

    // The merchant's balance: 30 brought, 10 of it refunded from q1: twenty settlements of 15.
    let merchant = DEV_ACCOUNTS[6];
    let settlements = (0..20)
        .map(|i| json!({"settlementOrderNo": format!("qs-{i}"), "token": "ETH_USDT", "address": merchant, "amount": "15"}))
        .collect::<Vec<_>>();
    let settled = one_wins(&b, CREATE_SETTLEMENT, &settlements, "settlementOrderNo").await;

    b.wait_refund(&won, "REFUNDED").await;
    b.wait_refund(&abnormal_won, "REFUNDED").await;
    b.wait_settlement(&settled, "SETTLED").await;
    let order = b.wait_order("q1", "REFUNDED").await;
    assert_eq!(units(&order["paidAmount"]), base("10"), "{order}");
    assert_eq!(units(&order["refundedAmount"]), base("10"), "{order}");
    // On chain, no more than each limit left: 1 + 9 to q1's payer, 3 to q3's, 15 to the merchant.
    assert_eq!(paid_out_to(&b, payer).await, base("10"));
    assert_eq!(paid_out_to(&b, DEV_ACCOUNTS[4]).await, base("3"));
    assert_eq!(paid_out_to(&b, merchant).await, base("15"));
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Held payouts: nothing queued is signed until the hold is released (after a restore)
// ---------------------------------------------------------------------------------------------

async fn held_payouts_wait_for_release(db: Db) {
    let Some(b) = Bench::start(db, |_| {}).await else {
        return;
    };
    b.fund_gas().await;
    let payer = DEV_ACCOUNTS[2];
    b.paid_order("h1", "5", "5", 2).await;
    // Tokens in the hot wallet already: without the hold the refund would leave at once.
    b.fund_tokens(3, usd("5")).await;
    assert!(!b.gw.store.set_payouts_held(true).await.unwrap());
    let body = json!({"refundOrderNo": "h1-r", "orderNo": "h1", "amount": "5"});
    b.ok(CREATE_REFUND, &body).await;
    // Many payout rounds (100 ms apart): the refund stays queued, nothing leaves.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        b.refund("h1-r").await.retdata()["refundStatus"],
        "PENDING_REFUND"
    );
    assert_eq!(paid_out_to(&b, payer).await, 0);
    assert!(b.gw.store.set_payouts_held(false).await.unwrap());
    b.wait_refund("h1-r", "REFUNDED").await;
    assert_eq!(paid_out_to(&b, payer).await, base("5"));
    b.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 9. A hundred refunds through a lossy node: all paid within the bound, each exactly once
// ---------------------------------------------------------------------------------------------

/// Refunds sent through the lossy node.
const LOSSY_REFUNDS: usize = 100;
/// The issue asks for three minutes; the test holds the engine to less.
const LOSSY_BOUND: Duration = Duration::from_secs(150);
/// The proxy's seed: the same sequence of faults on every run.
const LOSSY_SEED: u64 = 15;

/// The amount of the `i`th order and of its refund: 1.00 to 1.99, each its own.
fn lossy_amount(i: usize) -> String {
    format!("{}.{:02}", 1 + i / 100, i % 100)
}

async fn refunds_complete_through_a_lossy_node(db: Db) {
    let chain = TestChain::start(31337).await;
    let proxy = FaultyRpc::start(&chain.rpc_url, Faults::NONE, LOSSY_SEED).await;
    let proxied = proxy.url();
    let Some(b) = Bench::start_on(db, chain, |c| {
        c.chains.get_mut("ETH").unwrap().rpc_urls = vec![proxied];
        // Refunds are paid from tokens the operator put in the hot wallet.
        c.sweeps.enabled = false;
    })
    .await
    else {
        return;
    };
    b.fund_gas().await;
    let mut deposits = Vec::new();
    for i in 0..LOSSY_REFUNDS {
        let body = json!({"orderNo": format!("lo{i}"), "orderAmount": lossy_amount(i),
            "customerId": "c", "token": "ETH_USDT"});
        let created = b.ok(CREATE_ORDER, &body).await;
        deposits.push(created["depositAddress"].as_str().unwrap().to_owned());
    }
    for (i, deposit) in deposits.iter().enumerate() {
        let payer = 1 + i % 5;
        b.chain
            .pay(payer, b.chain.usdt, deposit, usd(&lossy_amount(i)))
            .await;
    }
    for i in 0..LOSSY_REFUNDS {
        b.wait_order(&format!("lo{i}"), "PAID").await;
    }
    b.fund_tokens(1, usd("200")).await;

    // From here on 30% of the node's answers come 0.3-4 s late and 7% never.
    proxy.set_faults(Faults::LOSSY);
    let started = std::time::Instant::now();
    let proxy_start = proxy.elapsed();
    for i in 0..LOSSY_REFUNDS {
        let body = json!({"refundOrderNo": format!("lr{i}"), "orderNo": format!("lo{i}"),
            "amount": lossy_amount(i)});
        b.ok(CREATE_REFUND, &body).await;
    }
    let created = started.elapsed();
    let mut open: Vec<usize> = (0..LOSSY_REFUNDS).collect();
    let mut refunds = vec![Value::Null; LOSSY_REFUNDS];
    // (seconds, refunds done, transactions sent) each time the count of done ones changes.
    let mut progress: Vec<(u64, usize, usize)> = Vec::new();
    while !open.is_empty() {
        let sends = proxy.stats().sends.len();
        assert!(
            started.elapsed() < LOSSY_BOUND,
            "{} of {LOSSY_REFUNDS} refunds still open after {LOSSY_BOUND:?} \
             ({sends} transactions sent through the proxy)",
            open.len(),
        );
        let mut still = Vec::new();
        let before = open.len();
        for i in open {
            let data = b.refund(&format!("lr{i}")).await.retdata().clone();
            assert_ne!(data["refundStatus"], "FAILED", "refund lr{i}: {data}");
            if data["refundStatus"] == "REFUNDED" {
                refunds[i] = data;
            } else {
                still.push(i);
            }
        }
        let done = LOSSY_REFUNDS - still.len();
        if still.len() != before {
            progress.push((started.elapsed().as_secs(), done, sends));
        }
        open = still;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    proxy.set_faults(Faults::NONE);
    let stats = proxy.stats();
    let sends = stats.sends.iter().filter(|at| **at >= proxy_start).count();

    // Each refund paid exactly once: one Transfer from the hot wallet per refund, its own,
    // to its payer, of its amount, and no other.
    let filter = json!({"fromBlock": "0x0", "toBlock": "latest",
        "address": b.chain.usdt.to_checksum(),
        "topics": [TRANSFER_TOPIC, topic_of(&b.hot_wallet())]});
    let logs = b.chain.rpc("eth_getLogs", json!([filter])).await;
    let logs = logs.as_array().unwrap().clone();
    assert_eq!(logs.len(), LOSSY_REFUNDS, "transfers from the hot wallet");
    for (i, refund) in refunds.iter().enumerate() {
        let tx = refund["txHash"].as_str().unwrap();
        let paid = logs
            .iter()
            .filter(|log| log["transactionHash"] == tx)
            .collect::<Vec<_>>();
        assert_eq!(paid.len(), 1, "refund lr{i} ({tx}): {paid:?}");
        let to = paid[0]["topics"][2].as_str().unwrap();
        let address = refund["address"].as_str().unwrap();
        assert_eq!(to, topic_of(address), "refund lr{i} recipient");
        let amount = u128::from_str_radix(
            paid[0]["data"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        assert_eq!(amount, base(&lossy_amount(i)), "refund lr{i} amount");
        assert_eq!(units(&refund["amount"]), amount, "refund lr{i}");
    }
    b.assert_books_balance().await;
    eprintln!(
        "[{:?}] {LOSSY_REFUNDS} refunds created in {:.1} s and REFUNDED through the lossy node \
         in {:.1} s; {sends} eth_sendRawTransaction through the proxy ({:.2}/s); proxy saw {} \
         requests, {} delayed, {} dropped; (s, done, sent): {progress:?}",
        b.gw.db,
        created.as_secs_f64(),
        took.as_secs_f64(),
        sends as f64 / took.as_secs_f64(),
        stats.requests,
        stats.delayed,
        stats.dropped,
    );
}

// ---------------------------------------------------------------------------------------------

on_both_engines_with_db!(
    partial_then_full_refund_reach_the_payer,
    repeated_refund_number_pays_once,
    overpayment_returns_to_the_payer,
    onchain_settlement_arrives,
    fiat_settlements_are_paid_or_rejected,
    cancellations_before_signing_only,
    racing_requests_never_spend_more_than_the_limit,
    held_payouts_wait_for_release,
    refunds_complete_through_a_lossy_node,
);
