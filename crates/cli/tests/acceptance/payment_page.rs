//! The hosted payment page in a real browser (Debian's headless Chromium over WebDriver) against
//! a real gateway and anvil: the shown amount, address and QR code (decoded from a screenshot),
//! paying with an injected wallet that forwards to anvil's unlocked accounts, live status without
//! reloads (confirming, partly paid, paid, expired) and the wallet errors a payer can meet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::browser::{self, Browser, decode_qr};
use crate::common::chain::{eventually, usd};
use crate::common::{ChainFixture as Fixture, Db};
use serde_json::{Value, json};
use wcheckout_app::admin::AppChanges;
use wcheckout_evm::anvil::DEV_ACCOUNTS;

const WAIT: Duration = Duration::from_secs(30);
/// The test wallet's account: funded with test USDT by the chain fixture.
const WALLET: usize = 2;
/// A dev account that holds no test tokens.
const EMPTY_WALLET: usize = 7;

async fn fixture(confirmations: u32) -> Option<Fixture> {
    if !browser::available() {
        return None;
    }
    let f = Fixture::start(Db::Sqlite, confirmations).await?;
    f.gw.update_app(
        &f.app.app_id,
        AppChanges {
            display_name: Some("Acme Books".into()),
            theme_color: Some("#0f766e".into()),
            ..AppChanges::default()
        },
    )
    .await;
    Some(f)
}

impl Fixture {
    /// A browser whose pages see a test wallet (`window.ethereum`) before their scripts run.
    async fn browser_with_wallet(&self, account: usize) -> Browser {
        let browser = Browser::start(1280, 900).await;
        browser
            .install_before_load(&test_wallet(&self.chain().rpc_url, DEV_ACCOUNTS[account]))
            .await;
        browser
    }
}

/// An EIP-1193 provider that forwards to anvil, whose dev accounts are unlocked. The test
/// steers it with `window.__wallet.mode`: `normal`, `reject` (the user says no) or
/// `other-chain` (a wallet on chain 1 that cannot switch).
fn test_wallet(rpc_url: &str, account: &str) -> String {
    format!(
        r#"(() => {{
  const rpc = {rpc_url:?};
  const account = {account:?};
  const state = window.__wallet = {{ mode: "normal", calls: [] }};
  async function forward(method, params) {{
    const response = await fetch(rpc, {{
      method: "POST",
      headers: {{ "content-type": "application/json" }},
      body: JSON.stringify({{ jsonrpc: "2.0", id: 1, method, params: params || [] }})
    }});
    const body = await response.json();
    if (body.error) {{
      const error = new Error(body.error.message);
      error.code = body.error.code;
      throw error;
    }}
    return body.result;
  }}
  window.ethereum = {{
    isTestWallet: true,
    async request({{ method, params }}) {{
      state.calls.push(method);
      if (state.mode === "reject" && method === "eth_requestAccounts") {{
        throw Object.assign(new Error("User rejected the request."), {{ code: 4001 }});
      }}
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
      if (method === "eth_chainId" && state.mode === "other-chain") return "0x1";
      if (method === "wallet_switchEthereumChain") {{
        if (state.mode === "other-chain") {{
          throw Object.assign(new Error("Unrecognized chain ID"), {{ code: 4902 }});
        }}
        return null;
      }}
      const result = await forward(method, params);
      if (method === "eth_sendTransaction") state.sent = result;
      return result;
    }}
  }};
}})();"#
    )
}

fn page_url(f: &Fixture, order: &Value) -> String {
    let url = order["paymentUrl"].as_str().unwrap();
    assert!(url.starts_with(&f.gw.base_url), "{url}");
    url.to_owned()
}

fn eip681(f: &Fixture, order: &Value, units: u64) -> String {
    format!(
        "ethereum:{}@31337/transfer?address={}&uint256={units}",
        f.chain().usdt.to_checksum(),
        order["depositAddress"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_wallet_pays_the_order_and_the_page_follows_it_to_paid_without_a_reload() {
    let Some(f) = fixture(3).await else {
        return;
    };
    let order = f
        .create(
            "book-1",
            "12.5",
            json!({"pcCallbackUrl": "https://shop.example/thanks?order=book-1"}),
        )
        .await;
    let browser = f.browser_with_wallet(WALLET).await;
    browser.open(&page_url(&f, &order)).await;

    // What the payer reads.
    assert_eq!(browser.state().await, "waiting");
    assert_eq!(browser.text("paying-amount").await, "12.50 USDT");
    assert_eq!(browser.text("order-amount").await, "12.5 USD");
    assert_eq!(browser.text("order-no").await, "book-1");
    assert!(browser.text("network").await.contains("USDT"));
    assert_eq!(browser.text("address").await, order["depositAddress"]);
    assert_eq!(
        browser.text("status-text").await,
        "Waiting for your payment"
    );
    assert!(browser.visible("countdown").await);
    let title = browser.eval("return document.title;", json!([])).await;
    assert_eq!(title, "Pay Acme Books");

    // The QR code, as a phone camera would read it.
    let qr = decode_qr(&browser.element_png("#qr").await);
    assert_eq!(qr, eip681(&f, &order, 12_500_000));

    // Keyboard: every control is reachable with Tab, in reading order.
    let mut focused = Vec::new();
    for _ in 0..4 {
        focused.push(browser.tab().await);
    }
    assert_eq!(focused, ["lang", "address", "copy", "wallet"], "tab order");

    // Pay with the wallet; a marker set now proves the page is never reloaded.
    browser
        .eval("window.__sameDocument = true;", json!([]))
        .await;
    browser.click("#wallet").await;
    browser.wait_state("confirming", WAIT).await;
    let status = browser.text("status-text").await;
    assert!(status.starts_with("Payment seen, confirming ("), "{status}");
    assert!(status.ends_with(" of 3)"), "{status}");
    assert!(!browser.visible("pay").await, "nothing more to pay");

    f.chain().mine(2).await;
    browser.wait_state("paid", WAIT).await;
    assert_eq!(browser.text("status-text").await, "Paid");
    assert_eq!(
        browser
            .eval("return window.__sameDocument === true;", json!([]))
            .await,
        true,
        "the page reached paid without a reload"
    );
    let sent = browser
        .eval("return window.__wallet.sent;", json!([]))
        .await;
    assert_eq!(browser.text("receipt-tx").await, sent.as_str().unwrap());
    assert_eq!(browser.text("receipt-amount").await, "12.5");
    let return_href = browser
        .eval("return document.getElementById('return').href;", json!([]))
        .await;
    assert_eq!(return_href, "https://shop.example/thanks?order=book-1");
    assert!(browser.text("returning").await.starts_with("Returning in"));

    // The gateway agrees, and the chain holds exactly the amount due.
    let info = f.info("book-1").await;
    assert_eq!(info["orderStatus"], "PAID");
    assert_eq!(info["txHash"], sent);
    let calls = browser
        .eval("return window.__wallet.calls;", json!([]))
        .await;
    let calls = calls.as_array().unwrap();
    assert_eq!(
        calls.iter().filter(|c| *c == "eth_sendTransaction").count(),
        1
    );
}

/// A TRON address (34 characters) and a Solana one (44), beside the EVM order's 42.
const OTHER_FAMILY_ADDRESSES: [&str; 2] = [
    "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH",
    "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
];

#[tokio::test]
async fn the_whole_deposit_address_is_shown_on_phones_and_desktops() {
    let Some(f) = fixture(1).await else {
        return;
    };
    let order = f.create("whole-1", "3", json!({})).await;
    let address = order["depositAddress"].as_str().unwrap();
    for (width, height) in [(320, 700), (390, 844), (1280, 900)] {
        let browser = Browser::start(width, height).await;
        browser.open(&page_url(&f, &order)).await;
        let (shown, clipped) = browser.shown_address().await;
        assert_eq!(shown, address, "{width} px");
        assert!(!clipped, "{width} px: the address {address} is cut off");
        // The same box holding the other families' addresses (until their chains' orders
        // exist, their text is put in place by the test).
        for other in OTHER_FAMILY_ADDRESSES {
            let put = "document.getElementById('address').textContent = arguments[0];";
            browser.eval(put, json!([other])).await;
            let (shown, clipped) = browser.shown_address().await;
            assert_eq!(shown, other, "{width} px");
            assert!(!clipped, "{width} px: {other} is cut off");
        }
    }
}

#[tokio::test]
async fn a_partial_payment_shows_what_is_still_due_and_the_wallet_pays_the_rest() {
    let Some(f) = fixture(1).await else {
        return;
    };
    let order = f.create("parts", "10", json!({})).await;
    let browser = f.browser_with_wallet(WALLET).await;
    browser.open(&page_url(&f, &order)).await;
    assert_eq!(browser.state().await, "waiting");

    f.chain()
        .pay(
            1,
            f.chain().usdt,
            order["depositAddress"].as_str().unwrap(),
            usd("4"),
        )
        .await;
    browser.wait_state("partly_paid", WAIT).await;
    assert_eq!(
        browser.text("status-text").await,
        "Partly paid: 6 USDT still due"
    );
    assert_eq!(browser.text("received").await, "4");
    assert_eq!(browser.text("remaining").await, "6");
    assert!(browser.visible("pay").await);
    // The QR code now asks for the rest only.
    let qr = eventually(WAIT, "QR code of the rest", || async {
        let text = decode_qr(&browser.element_png("#qr").await);
        (text == eip681(&f, &order, 6_000_000)).then_some(text)
    })
    .await;
    assert!(qr.ends_with("uint256=6000000"));

    browser.click("#wallet").await;
    browser.wait_state("paid", WAIT).await;
    let info = f.info("parts").await;
    assert_eq!(info["orderStatus"], "PAID");
    assert_eq!(info["paidAmount"].to_string(), "10");
}

#[tokio::test]
async fn an_expired_order_says_so_and_stops_offering_payment() {
    let Some(f) = fixture(1).await else {
        return;
    };
    let order = f.create("late", "5", json!({"expiredIn": 60})).await;
    let browser = f.browser_with_wallet(WALLET).await;
    browser.open(&page_url(&f, &order)).await;
    assert_eq!(browser.state().await, "waiting");
    let left = browser.text("time-left").await;
    assert!(left.starts_with("00:") || left == "01:00", "{left}");

    f.gw.clock.advance_secs(61);
    browser.wait_state("expired", WAIT).await;
    assert_eq!(browser.text("status-text").await, "This order has expired");
    assert!(!browser.visible("pay").await);
    assert!(!browser.visible("countdown").await);
    eventually(WAIT, "order TIMEOUT", || async {
        (f.info("late").await["orderStatus"] == "TIMEOUT").then_some(())
    })
    .await;
}

#[tokio::test]
async fn wallet_problems_are_explained_in_plain_words() {
    let Some(f) = fixture(1).await else {
        return;
    };
    let order = f.create("oops", "3", json!({})).await;
    let url = page_url(&f, &order);

    // No wallet at all: the button explains how to pay by hand.
    let plain = Browser::start(1280, 900).await;
    plain.open(&url).await;
    assert!(!plain.visible("manual").await);
    plain.click("#wallet").await;
    assert!(plain.visible("manual").await);
    let manual = plain.text("manual").await;
    assert!(
        manual.starts_with("No browser wallet was found. Send exactly 3 USDT"),
        "{manual}"
    );
    drop(plain);

    let browser = f.browser_with_wallet(WALLET).await;
    browser.open(&url).await;
    assert_eq!(
        wallet_message(&browser, "reject").await,
        "You rejected the request in your wallet. Nothing was sent."
    );
    assert_eq!(
        wallet_message(&browser, "other-chain").await,
        "Your wallet does not know ETH. Add the network (chain id 31337) to your wallet and try \
         again."
    );
    drop(browser);

    let empty = f.browser_with_wallet(EMPTY_WALLET).await;
    empty.open(&url).await;
    empty.click("#wallet").await;
    let text = eventually(WAIT, "balance message", || async {
        let text = empty.text("wallet-message").await;
        text.starts_with("Your wallet holds").then_some(text)
    })
    .await;
    assert_eq!(text, "Your wallet holds 0 USDT, less than the 3 USDT due.");
    let calls = empty.eval("return window.__wallet.calls;", json!([])).await;
    assert!(
        !calls
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "eth_sendTransaction"),
        "nothing is sent when the balance is short"
    );
    assert_eq!(f.info("oops").await["orderStatus"], "PAYING");
}

/// Clicks "Pay with wallet" with the test wallet in `mode` and returns what the page says.
async fn wallet_message(browser: &Browser, mode: &str) -> String {
    let reset = "window.__wallet.mode = arguments[0]; \
                 document.getElementById('wallet-message').textContent = '';";
    browser.eval(reset, json!([mode])).await;
    browser.click("#wallet").await;
    eventually(WAIT, "a wallet message", || async {
        let text = browser.text("wallet-message").await;
        let settled = !text.is_empty() && !text.starts_with("Confirm the payment");
        settled.then_some(text)
    })
    .await
}

#[tokio::test]
async fn the_page_speaks_chinese_when_asked() {
    let Some(f) = fixture(1).await else {
        return;
    };
    let order = f.create("zh", "8", json!({})).await;
    let browser = Browser::start(360, 780).await;
    browser
        .open(&format!("{}?lang=zh-CN", page_url(&f, &order)))
        .await;
    let lang = browser
        .eval("return document.documentElement.lang;", json!([]))
        .await;
    assert_eq!(lang, "zh-CN");
    assert_eq!(browser.text("status-text").await, "等待付款");
    assert_eq!(browser.text("copy").await, "复制");
    // A 360 px wide phone: nothing is wider than the screen.
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, false, "no horizontal scrolling at 360 px");
}

/// Writes the README's screenshots when `WCHECKOUT_SCREENSHOTS` names a directory
/// (`WCHECKOUT_SCREENSHOTS=docs/images cargo test -p wcheckout --test acceptance payment_page::screenshots`).
#[tokio::test]
async fn screenshots_for_the_docs() {
    let Ok(dir) = std::env::var("WCHECKOUT_SCREENSHOTS") else {
        eprintln!("SKIPPED: set WCHECKOUT_SCREENSHOTS=DIR to write the page's screenshots");
        return;
    };
    let Some(f) = fixture(1).await else {
        return;
    };
    let logo = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 48 48'>\
        <rect width='48' height='48' rx='10' fill='#0f766e'/>\
        <text x='24' y='33' font-family='sans-serif' font-size='24' font-weight='700' \
        fill='#fff' text-anchor='middle'>A</text></svg>";
    let logo = format!(
        "data:image/svg+xml;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, logo)
    );
    f.gw.update_app(
        &f.app.app_id,
        AppChanges {
            logo_url: Some(logo),
            ..AppChanges::default()
        },
    )
    .await;
    let order = f
        .create(
            "INV-2026-0042",
            "49.90",
            json!({"pcCallbackUrl": "https://books.example/thanks"}),
        )
        .await;
    let url = page_url(&f, &order);
    let sizes = [("desktop", 1280, 900), ("phone", 360, 780)];
    let shoot = |stage: &'static str| {
        let url = url.clone();
        let dir = dir.clone();
        async move {
            for (device, width, height) in sizes {
                let browser = Browser::start(width, height).await;
                for lang in ["en", "zh-CN"] {
                    browser.open(&format!("{url}?lang={lang}")).await;
                    browser.wait_state(stage, WAIT).await;
                    let png = browser.full_page_png().await;
                    let name = format!("{dir}/payment-page-{stage}-{device}-{lang}.png");
                    std::fs::write(&name, png).unwrap();
                }
            }
        }
    };
    shoot("waiting").await;
    f.chain()
        .pay(
            1,
            f.chain().usdt,
            order["depositAddress"].as_str().unwrap(),
            usd("49.90"),
        )
        .await;
    shoot("paid").await;
}
