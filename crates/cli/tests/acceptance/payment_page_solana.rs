//! The payment page of a Solana order (`SOL_USDT` on Surfnet): Solana's name and "SPL token",
//! the whole deposit owner address, a QR code of the Solana Pay transfer request for what is
//! still due (with the order's reference key), and "Pay with wallet" through the wallet
//! standard. The browser tests drive Chromium with a fake wallet-standard wallet installed
//! before the page's script runs: it records what the page asks of it and hands the
//! transaction it is asked to sign back to the test, which signs it with the wallet's key and
//! sends it to Surfnet, so the page is followed to "paid".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use wcheckout_app::page::solana_pay_reference;
use wcheckout_http::page::qr::svg_of;
use wcheckout_solana::address::SolanaAddress;

use crate::common::browser::{self, Browser, decode_qr};
use crate::common::chain::{eventually, usd};
use crate::common::receiver::{Delivery, Receiver, Reply, always};
use crate::common::solana::wallet;
use crate::common::{ChainFixture as Fixture, Db, usdt_order};

const WAIT: Duration = Duration::from_secs(40);

fn page_url(order: &Value) -> String {
    order["paymentUrl"].as_str().unwrap().to_owned()
}

fn page_token(order: &Value) -> String {
    page_url(order).rsplit('/').next().unwrap().to_owned()
}

fn deposit(order: &Value) -> String {
    order["depositAddress"].as_str().unwrap().to_owned()
}

impl Fixture {
    fn sol(&self) -> &crate::common::solana::SolanaChain {
        self.solana.as_ref().unwrap()
    }

    /// The Solana Pay request `order`'s QR code holds while `amount` is due: the merchant
    /// ("Test shop") as label, the order number as message.
    fn pay_request(&self, order: &Value, amount: &str) -> String {
        let reference = solana_pay_reference(order["sysid"].as_str().unwrap());
        format!(
            "solana:{}?amount={amount}&spl-token={}&reference={reference}&label=Test%20shop\
             &message={}",
            deposit(order),
            self.sol().usdt(),
            order["orderNo"].as_str().unwrap()
        )
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .gw
            .http
            .get(format!("{}{path}", self.gw.base_url))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// POSTs `body` to the order's wallet transaction route: HTTP status and JSON answer.
    async fn wallet_transaction(&self, token: &str, body: &str) -> (u16, Value) {
        let response = self
            .gw
            .http
            .post(format!(
                "{}/pay/{token}/solana/transaction",
                self.gw.base_url
            ))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn page_state(&self, token: &str) -> String {
        let (_, body) = self.get(&format!("/pay/{token}/status")).await;
        let status: Value = serde_json::from_str(&body).unwrap();
        status["retdata"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Sends `transaction` (the unsigned bytes the page had the wallet sign) signed with the
    /// wallet's key to Surfnet; its signature.
    async fn sign_and_send(&self, unsigned: &[u8]) -> String {
        assert_eq!(unsigned[0], 1, "one signature, the payer's");
        assert!(
            unsigned[1..65].iter().all(|b| *b == 0),
            "handed over unsigned"
        );
        let message = &unsigned[65..];
        let signature = wallet().sign(message);
        let mut signed = vec![1];
        signed.extend_from_slice(&signature);
        signed.extend_from_slice(message);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
            "params": [base64::engine::general_purpose::STANDARD.encode(&signed),
                       {"encoding": "base64"}]});
        let answer: Value = self
            .gw
            .http
            .post(&self.sol().node.rpc_url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sent = answer["result"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(sent, bs58::encode(signature).into_string());
        sent.to_owned()
    }
}

/// Whether `needle` occurs in `bytes`.
fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// `TransferChecked`'s data: instruction 12, the amount (u64 little-endian), the decimals.
fn transfer_data(units: u64) -> Vec<u8> {
    let mut data = vec![12];
    data.extend_from_slice(&units.to_le_bytes());
    data.push(6);
    data
}

/// The account keys of an unsigned one-signer legacy transaction.
fn account_keys(unsigned: &[u8]) -> Vec<SolanaAddress> {
    let message = &unsigned[65..];
    let count = usize::from(message[3]);
    assert!(count < 0x80, "one-byte compact count");
    (0..count)
        .map(|i| {
            let key: [u8; 32] = message[4 + 32 * i..4 + 32 * (i + 1)].try_into().unwrap();
            SolanaAddress::from_bytes(key)
        })
        .collect()
}

async fn a_solana_order_s_page_asks_for_what_is_due_through_solana_pay(db: Db) {
    let Some(f) = Fixture::start_solana(db, None).await else {
        return;
    };
    let order = f.create("sol-page-1", "12.5", json!({})).await;
    let (owner, token) = (deposit(&order), page_token(&order));
    let url = page_url(&order);

    let (status, page) = f.get(&format!("/pay/{token}?lang=en")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(
            r#"id="network">Solana (Surfnet) · USDT <span class="standard">(SPL token)</span><"#
        ),
        "{page}"
    );
    assert!(
        page.contains(&format!(">{owner}<")),
        "the whole owner address"
    );
    assert!(page.contains(&format!(
        "QR code to pay 12.5 USDT to {owner} with a wallet app"
    )));
    assert!(
        page.contains(r#"data-wallet="wallet-standard" hidden"#),
        "the button waits for a wallet: {page}"
    );
    assert!(page.contains(&format!(
        r#""transactionUrl":"/pay/{token}/solana/transaction""#
    )));
    for other in ["ethereum:", "ERC-20", "TRC-20", "qr-note", "eip1193"] {
        assert!(!page.contains(other), "the Solana page shows {other}");
    }
    let (_, chinese) = f.get(&format!("/pay/{token}?lang=zh-CN")).await;
    assert!(chinese.contains(&format!("使用钱包扫码向 {owner} 支付 12.5 USDT 的二维码")));
    assert!(url.ends_with(&token));

    // The QR code is exactly the Solana Pay request (the same SVG the page draws from it).
    let request = f.pay_request(&order, "12.5");
    let (status, svg) = f.get(&format!("/pay/{token}/qr.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(
        svg,
        svg_of(&request).unwrap(),
        "the QR code holds {request}"
    );

    // The wallet transaction: refusals first, nothing recorded by any of them.
    let payer = wallet().address().to_string();
    for (body, status, code) in [
        (
            json!({"account": "0x52908400098527886E0F7030069857D2E4169EE7"}).to_string(),
            400,
            "00001",
        ),
        (
            json!({"account": "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"}).to_string(),
            400,
            "00001",
        ),
        (json!({"account": ""}).to_string(), 400, "00001"),
        ("not json".to_owned(), 400, "00001"),
        (json!({"wallet": payer}).to_string(), 400, "00001"),
    ] {
        let (got, answer) = f.wallet_transaction(&token, &body).await;
        assert_eq!(
            (got, answer["retcode"].as_str().unwrap()),
            (status, code),
            "{body}: {answer}"
        );
        assert!(answer["retdata"].is_null());
    }
    let unknown = "A".repeat(43);
    let (got, answer) = f
        .wallet_transaction(&unknown, &json!({"account": payer}).to_string())
        .await;
    assert_eq!((got, answer["retcode"].as_str().unwrap()), (404, "00404"));
    assert_eq!(answer["retmsg"], "payment page not found");

    let reference = solana_pay_reference(order["sysid"].as_str().unwrap());
    let (got, answer) = f
        .wallet_transaction(&token, &json!({"account": payer}).to_string())
        .await;
    assert_eq!(got, 200, "{answer}");
    let built = &answer["retdata"];
    assert_eq!(built["chain"], "solana:localnet");
    assert_eq!(built["amount"], "12.5");
    assert_eq!(built["amountUnits"], "12500000");
    assert_eq!(built["reference"], reference.to_string());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(built["transaction"].as_str().unwrap())
        .unwrap();
    assert!(bytes[1..65].iter().all(|b| *b == 0), "unsigned");
    let keys = account_keys(&bytes);
    assert_eq!(
        keys[0],
        wallet().address(),
        "the payer pays the fee and signs"
    );
    for key in [
        reference,
        f.sol().usdt(),
        SolanaAddress::parse(&owner).unwrap(),
    ] {
        assert!(keys.contains(&key), "{key} in the transaction");
    }
    assert!(contains(&bytes, &transfer_data(12_500_000)));
    assert_eq!(f.info("sol-page-1").await["orderStatus"], "PAYING");

    // 4 USDT arrive: the QR code and the wallet transaction ask for the other 8.5.
    f.pay_usdt(1, &owner, usd("4")).await;
    eventually(WAIT, "partly paid", || async {
        (f.page_state(&token).await == "partly_paid").then_some(())
    })
    .await;
    let (_, svg) = f.get(&format!("/pay/{token}/qr.svg")).await;
    assert_eq!(svg, svg_of(&f.pay_request(&order, "8.5")).unwrap());
    let (_, page) = f.get(&format!("/pay/{token}?lang=en")).await;
    assert!(page.contains(&format!("QR code to pay 8.5 USDT to {owner}")));
    let (got, answer) = f
        .wallet_transaction(&token, &json!({"account": payer}).to_string())
        .await;
    assert_eq!(got, 200);
    assert_eq!(answer["retdata"]["amountUnits"], "8500000");
    assert_eq!(
        answer["retdata"]["reference"],
        reference.to_string(),
        "same order, same key"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["retdata"]["transaction"].as_str().unwrap())
        .unwrap();
    assert!(contains(&bytes, &transfer_data(8_500_000)));

    // Paid in full: no longer payable.
    f.pay_usdt(1, &owner, usd("8.5")).await;
    eventually(WAIT, "paid", || async {
        (f.info("sol-page-1").await["orderStatus"] == "PAID").then_some(())
    })
    .await;
    let (got, answer) = f
        .wallet_transaction(&token, &json!({"account": payer}).to_string())
        .await;
    assert_eq!(
        (got, answer["retcode"].as_str().unwrap()),
        (409, "00409"),
        "{answer}"
    );
}

on_both_engines_with_db!(a_solana_order_s_page_asks_for_what_is_due_through_solana_pay);

/// A fake wallet-standard wallet holding `account` (base58) on every Solana cluster. It
/// registers itself both ways the standard allows (answering `wallet-standard:app-ready`, and
/// dispatching `wallet-standard:register-wallet` once the page has loaded). Every call is
/// recorded in `window.__wallet.calls`; `window.__wallet.mode` steers it: `normal`, `reject`
/// (the user refuses to connect), `refuse` (the user refuses to sign) or `bad-account` (it
/// offers an account that is not a Solana address). The transaction it is asked to sign is
/// left in `window.__wallet.asked` (base64) until the test calls `window.__wallet.answer()`.
fn fake_wallet(account: &str) -> String {
    format!(
        r#"(() => {{
  const chains = ["solana:mainnet", "solana:devnet", "solana:testnet", "solana:localnet"];
  const state = window.__wallet = {{ mode: "normal", calls: [], asked: null, registered: 0 }};
  let pending = null;
  state.answer = () => {{ pending(); return true; }};
  const refusal = () => Object.assign(new Error("User rejected the request."), {{ code: 4001 }});
  const accountOf = (address) => ({{ address, publicKey: new Uint8Array(32), chains,
    features: ["solana:signAndSendTransaction"] }});
  const wallet = {{
    version: "1.0.0",
    name: "Fake Wallet",
    icon: "data:image/svg+xml;base64,PHN2Zy8+",
    chains,
    accounts: [],
    features: {{
      "standard:connect": {{ version: "1.0.0", async connect() {{
        state.calls.push(["connect"]);
        if (state.mode === "reject") throw refusal();
        const account = accountOf(state.mode === "bad-account" ? "0xnot-solana" : {account:?});
        wallet.accounts = [account];
        return {{ accounts: [account] }};
      }} }},
      "standard:events": {{ version: "1.0.0", on() {{ return () => {{}}; }} }},
      "solana:signAndSendTransaction": {{ version: "1.0.0",
        supportedTransactionVersions: ["legacy", 0],
        signAndSendTransaction(...inputs) {{
          const input = inputs[0];
          state.calls.push(["signAndSendTransaction", input.account.address, input.chain,
            input.transaction instanceof Uint8Array]);
          if (state.mode === "refuse") return Promise.reject(refusal());
          let binary = "";
          input.transaction.forEach((b) => {{ binary += String.fromCharCode(b); }});
          state.asked = btoa(binary);
          return new Promise((resolve) => {{
            pending = () => resolve([{{ signature: new Uint8Array(64) }}]);
          }});
        }} }}
    }}
  }};
  const register = (api) => {{ state.registered += 1; api.register(wallet); }};
  window.addEventListener("wallet-standard:app-ready", (event) => register(event.detail));
  window.addEventListener("DOMContentLoaded", () => {{
    window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", {{ detail: register }}));
  }});
}})();"#
    )
}

async fn browser_with_wallet(width: u32) -> Browser {
    let browser = Browser::start(width, 900).await;
    browser
        .install_before_load(&fake_wallet(&wallet().address().to_string()))
        .await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_solana_page_shows_the_owner_and_a_solana_pay_qr_code_on_phones_and_desktops() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_solana(Db::Sqlite, None).await else {
        return;
    };
    let order = f.create("sol-whole", "7.25", json!({})).await;
    let owner = deposit(&order);
    let request = f.pay_request(&order, "7.25");
    for width in [320, 1280] {
        let browser = Browser::start(width, 900).await;
        browser.open(&page_url(&order)).await;
        assert_eq!(browser.state().await, "waiting");
        let (shown, clipped) = browser.shown_address().await;
        assert_eq!(shown, owner, "{width} px");
        assert!(!clipped, "{width} px: the address {owner} is cut off");
        let overflow = browser
            .eval(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                json!([]),
            )
            .await;
        assert_eq!(overflow, false, "no horizontal scrolling at {width} px");
        assert_eq!(
            browser.text("network").await,
            "Solana (Surfnet) · USDT (SPL token)"
        );
        // What a phone's camera reads: the whole transfer request.
        assert_eq!(
            decode_qr(&browser.element_png("#qr").await),
            request,
            "{width} px"
        );
        // No wallet here: no button (the page's script ran: the countdown ticks).
        assert!(browser.visible("countdown").await);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!browser.visible("wallet").await, "{width} px");

        // A wallet-standard wallet makes the button appear.
        let browser = browser_with_wallet(width).await;
        browser.open(&page_url(&order)).await;
        eventually(WAIT, "the wallet button", || async {
            browser.visible("wallet").await.then_some(())
        })
        .await;
        assert_eq!(browser.text("wallet").await, "Pay with wallet");
        let registered = browser
            .eval("return window.__wallet.registered;", json!([]))
            .await;
        assert_eq!(
            registered, 2,
            "registered on app-ready and by its own event"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wallet_pays_what_is_still_due_and_the_page_follows_it_to_paid() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_solana(Db::Sqlite, None).await else {
        return;
    };
    let hooks = Receiver::start(always(Reply::ok())).await;
    let app =
        f.gw.admin
            .create("Test shop", Some(&hooks.url("/hooks")), &[])
            .await
            .unwrap();
    let mut body = usdt_order("sol-wallet", "10", json!({}));
    body["token"] = json!("SOL_USDT");
    let order = f.gw.created_order(&app, body).await;
    let owner = deposit(&order);
    let reference = solana_pay_reference(order["sysid"].as_str().unwrap());
    let browser = browser_with_wallet(1280).await;
    browser.open(&page_url(&order)).await;
    assert_eq!(browser.state().await, "waiting");

    // 4 USDT arrive from elsewhere first: the wallet then pays the other 6.
    f.pay_usdt(1, &owner, usd("4")).await;
    browser.wait_state("partly_paid", WAIT).await;
    eventually(WAIT, "the wallet button", || async {
        browser.visible("wallet").await.then_some(())
    })
    .await;
    browser.click("#wallet").await;
    let asked = eventually(WAIT, "a transaction to sign", || async {
        let asked = browser
            .eval("return window.__wallet.asked;", json!([]))
            .await;
        asked.as_str().map(str::to_owned)
    })
    .await;
    let unsigned = base64::engine::general_purpose::STANDARD
        .decode(&asked)
        .unwrap();
    let keys = account_keys(&unsigned);
    assert_eq!(keys[0], wallet().address());
    assert!(keys.contains(&reference), "the order's reference key");
    assert!(
        contains(&unsigned, &transfer_data(6_000_000)),
        "transferChecked of exactly the 6 USDT still due"
    );
    let signature = f.sign_and_send(&unsigned).await;
    browser
        .eval("return window.__wallet.answer();", json!([]))
        .await;
    eventually(WAIT, "the page says it was sent", || async {
        let said = browser.text("wallet-message").await;
        (said == "Transaction sent. Waiting for the network…").then_some(())
    })
    .await;

    browser.wait_state("paid", WAIT).await;
    let calls = browser
        .eval("return window.__wallet.calls;", json!([]))
        .await;
    assert_eq!(
        calls,
        json!([
            ["connect"],
            [
                "signAndSendTransaction",
                wallet().address().to_string(),
                "solana:localnet",
                true
            ]
        ]),
        "connect, then one transaction to sign and send, as bytes"
    );
    let info = f.gw.order(&app, "sol-wallet").await;
    assert_eq!(info["orderStatus"], "PAID");
    assert_eq!(info["paidAmount"].to_string(), "10");
    assert_eq!(
        info["txHash"],
        signature.as_str(),
        "the wallet's transfer completed it"
    );
    assert_eq!(browser.text("receipt-tx").await, signature);
    let paid = hooks
        .wait_for(WAIT, "the PAID webhook", |log: &[Delivery]| {
            log.iter()
                .map(Delivery::json)
                .find(|body| body["data"]["orderStatus"] == "PAID")
        })
        .await;
    assert_eq!(paid["data"]["orderNo"], "sol-wallet");
    assert_eq!(paid["data"]["txHash"], signature.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wallet_refusals_are_explained_and_send_nothing() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_solana(Db::Sqlite, None).await else {
        return;
    };
    let order = f.create("sol-refused", "3", json!({})).await;
    let browser = browser_with_wallet(390).await;
    browser
        .open(&format!("{}?lang=zh-CN", page_url(&order)))
        .await;
    eventually(WAIT, "the wallet button", || async {
        browser.visible("wallet").await.then_some(())
    })
    .await;
    assert_eq!(browser.text("wallet").await, "使用钱包支付");
    let press = |mode: &'static str| {
        let browser = &browser;
        async move {
            let reset = "window.__wallet.mode = arguments[0]; \
                         document.getElementById('wallet-message').textContent = ''; \
                         document.getElementById('wallet').click();";
            browser.eval(reset, json!([mode])).await;
            eventually(WAIT, "a wallet message", || async {
                let text = browser.text("wallet-message").await;
                (!text.is_empty() && !text.starts_with("请在钱包中确认")).then_some(text)
            })
            .await
        }
    };
    assert_eq!(
        press("reject").await,
        "您在钱包中拒绝了请求，未发送任何款项。"
    );
    assert_eq!(
        press("refuse").await,
        "您在钱包中拒绝了请求，未发送任何款项。"
    );
    assert_eq!(
        press("bad-account").await,
        "钱包提供的账户无法用于本次付款，未发送任何款项。"
    );
    // The order is cancelled while the page is open: the gateway refuses to build a payment.
    let cancelled = f.gw.cancel_order(&f.app, "sol-refused").await;
    assert_eq!(cancelled["retcode"], "200", "{cancelled}");
    assert_eq!(press("normal").await, "该订单已无法支付，未发送任何款项。");
    let calls = browser
        .eval("return window.__wallet.calls;", json!([]))
        .await;
    let names: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "connect",
            "connect",
            "signAndSendTransaction",
            "connect",
            "connect"
        ],
        "only the refused signature was ever asked for"
    );
    let asked = browser
        .eval("return window.__wallet.asked;", json!([]))
        .await;
    assert!(asked.is_null(), "nothing left to sign: {asked}");
    assert_eq!(f.info("sol-refused").await["orderStatus"], "CANCELLED");
}

/// Writes the Solana page's screenshots for the docs when `WCHECKOUT_SCREENSHOTS` names a
/// directory (`WCHECKOUT_SCREENSHOTS=$PWD/docs/images cargo test -p wcheckout --test acceptance
/// payment_page_solana::screenshots`): waiting, on a phone and a desktop, in English and
/// Chinese, as a payer with a Solana wallet sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn screenshots_for_the_docs() {
    let Ok(dir) = std::env::var("WCHECKOUT_SCREENSHOTS") else {
        eprintln!("SKIPPED: set WCHECKOUT_SCREENSHOTS=DIR to write the Solana page's screenshots");
        return;
    };
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_solana(Db::Sqlite, None).await else {
        return;
    };
    f.gw.update_app(
        &f.app.app_id,
        wcheckout_app::admin::AppChanges {
            display_name: Some("Acme Books".into()),
            theme_color: Some("#0f766e".into()),
            ..wcheckout_app::admin::AppChanges::default()
        },
    )
    .await;
    let order = f.create("INV-2026-0044", "49.90", json!({})).await;
    for (device, width) in [("desktop", 1280), ("phone", 360)] {
        let browser = browser_with_wallet(width).await;
        for lang in ["en", "zh-CN"] {
            browser
                .open(&format!("{}?lang={lang}", page_url(&order)))
                .await;
            browser.wait_state("waiting", WAIT).await;
            eventually(WAIT, "the wallet button", || async {
                browser.visible("wallet").await.then_some(())
            })
            .await;
            let png = browser.full_page_png().await;
            let name = format!("{dir}/payment-page-solana-waiting-{device}-{lang}.png");
            std::fs::write(&name, png).unwrap();
        }
    }
}
