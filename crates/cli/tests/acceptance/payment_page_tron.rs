//! The payment page of a TRON order (`TRX_USDT` on the TRON stand-in): TRON's name, the `T…`
//! address, a QR code of the bare address (nothing of EVM's `ethereum:` requests), and "Pay with
//! wallet" through TronLink when the page finds it. The browser tests drive Chromium with a fake
//! TronLink installed before the page's script runs; it records what the page asks of it and
//! sends the transfer on the stand-in's anvil chain, so the page is followed to "paid".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::browser::{self, Browser, decode_qr};
use crate::common::chain::{anvil_account, eventually, usd};
use crate::common::{ChainFixture as Fixture, Db};
use serde_json::{Value, json};
use wcheckout_domain::address::TronAddress;
use wcheckout_evm::anvil::DEV_ACCOUNTS;

const WAIT: Duration = Duration::from_secs(30);
/// The fake TronLink's account: an anvil dev account funded with test USDT by the fixture.
const WALLET: usize = 2;

fn page_url(order: &Value) -> String {
    order["paymentUrl"].as_str().unwrap().to_owned()
}

fn deposit(order: &Value) -> String {
    order["depositAddress"].as_str().unwrap().to_owned()
}

async fn get(f: &Fixture, path_or_url: &str) -> (u16, String, String) {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_owned()
    } else {
        format!("{}{path_or_url}", f.gw.base_url)
    };
    let response = f.gw.http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

async fn a_tron_order_s_page_shows_tron_its_address_and_no_evm_request(db: Db) {
    let Some(f) = Fixture::start_tron(db, 1).await else {
        return;
    };
    let order = f.create("trx-page-1", "12.5", json!({})).await;
    let address = deposit(&order);
    assert!(address.starts_with('T') && address.len() == 34, "{address}");
    let url = page_url(&order);

    let (status, _, page) = get(&f, &format!("{url}?lang=en")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(
            r#"id="network">TRON (stand-in) · USDT <span class="standard">(TRC-20)</span><"#
        ),
        "{page}"
    );
    assert!(
        page.contains(&format!(">{address}<")),
        "the whole T… address"
    );
    assert!(
        page.contains("The QR code holds the address only: enter 12.5 USDT in your wallet."),
        "{page}"
    );
    assert!(page.contains(&format!("QR code of the deposit address {address}")));
    // The wallet button is TronLink's and waits for the script to find it.
    assert!(page.contains(r#"data-wallet="tronlink" hidden"#), "{page}");
    for evm in ["ethereum:", "ERC-20", "eip1193"] {
        assert!(!page.contains(evm), "the TRON page shows {evm}");
    }

    let (status, _, chinese) = get(&f, &format!("{url}?lang=zh-CN")).await;
    assert_eq!(status, 200);
    assert!(chinese.contains("二维码仅包含收款地址，请在钱包中输入金额 12.5 USDT。"));
    assert!(chinese.contains(&format!("收款地址 {address} 的二维码")));

    let token = url.rsplit('/').next().unwrap();
    let (status, content_type, svg) = get(&f, &format!("/pay/{token}/qr.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "image/svg+xml");
    assert!(svg.contains("<svg"), "{svg}");
}

on_both_engines_with_db!(a_tron_order_s_page_shows_tron_its_address_and_no_evm_request);

/// A fake TronLink for `account` (an anvil dev account, `0x…`): `window.tronLink` and
/// `window.tronWeb` with just what the page uses. Every call is recorded in
/// `window.__tronlink.calls`; `window.__tronlink.mode` steers it: `normal`, `reject` (the user
/// refuses the connection) or `locked` (TronLink answers nothing while locked). A transfer is
/// sent on anvil from the account, the `T…` addresses it is given translated by `evm_of`.
fn fake_tronlink(rpc_url: &str, account: &str, evm_of: &Value) -> String {
    let tron_account = TronAddress::from_evm(anvil_account(account)).to_string();
    format!(
        r#"(() => {{
  const rpc = {rpc_url:?};
  const account = {account:?};
  const evmOf = {evm_of};
  const state = window.__tronlink = {{ mode: "normal", calls: [] }};
  async function forward(method, params) {{
    const response = await fetch(rpc, {{
      method: "POST",
      headers: {{ "content-type": "application/json" }},
      body: JSON.stringify({{ jsonrpc: "2.0", id: 1, method, params }})
    }});
    const body = await response.json();
    if (body.error) throw new Error(body.error.message);
    return body.result;
  }}
  const word = (hex) => hex.replace(/^0x/, "").toLowerCase().padStart(64, "0");
  function evm(address) {{
    if (!evmOf[address]) throw new Error("fake TronLink: unknown address " + address);
    return evmOf[address];
  }}
  const tronWeb = {{
    defaultAddress: {{ base58: {tron_account:?} }},
    contract() {{
      return {{
        async at(token) {{
          state.calls.push(["at", token]);
          return {{
            balanceOf(owner) {{
              return {{ async call() {{
                state.calls.push(["balanceOf", owner]);
                const data = "0x70a08231" + word(evm(owner));
                return BigInt(await forward("eth_call", [{{ to: evm(token), data }}, "latest"]));
              }} }};
            }},
            transfer(to, amount) {{
              return {{ async send(options) {{
                state.calls.push(["transfer", to, amount, typeof amount, options]);
                const data = "0xa9059cbb" + word(evm(to)) + BigInt(amount).toString(16).padStart(64, "0");
                const hash = await forward("eth_sendTransaction",
                  [{{ from: account, to: evm(token), data, gas: "0x30000" }}]);
                state.sent = hash.replace(/^0x/, "");
                return state.sent;
              }} }};
            }}
          }};
        }}
      }};
    }}
  }};
  window.tronWeb = tronWeb;
  window.tronLink = {{
    ready: true,
    tronWeb,
    async request({{ method }}) {{
      state.calls.push(["request", method]);
      if (state.mode === "reject") return {{ code: 4001, message: "User rejected the request" }};
      if (state.mode === "locked") return "";
      return {{ code: 200, message: "User allowed the request." }};
    }}
  }};
}})();"#
    )
}

impl Fixture {
    /// A browser at `width` px whose pages see the fake TronLink of the wallet account, which
    /// knows the test USDT's and `order`'s deposit address's EVM forms.
    async fn browser_with_tronlink(&self, width: u32, order: &Value) -> Browser {
        let browser = Browser::start(width, 900).await;
        let token = TronAddress::from_evm(self.chain().usdt);
        let evm_of = json!({
            token.to_string(): self.chain().usdt.to_checksum(),
            deposit(order): anvil_account(&deposit(order)).to_checksum(),
            TronAddress::from_evm(anvil_account(DEV_ACCOUNTS[WALLET])).to_string():
                DEV_ACCOUNTS[WALLET],
        });
        let fake = fake_tronlink(&self.chain().rpc_url, DEV_ACCOUNTS[WALLET], &evm_of);
        browser.install_before_load(&fake).await;
        browser
    }
}

#[tokio::test]
async fn the_tron_page_shows_the_whole_address_and_a_qr_code_of_it_on_phones_and_desktops() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_tron(Db::Sqlite, 1).await else {
        return;
    };
    let order = f.create("trx-whole", "7.25", json!({})).await;
    let address = deposit(&order);
    for width in [320, 1280] {
        let browser = Browser::start(width, 900).await;
        browser.open(&page_url(&order)).await;
        assert_eq!(browser.state().await, "waiting");
        let (shown, clipped) = browser.shown_address().await;
        assert_eq!(shown, address, "{width} px");
        assert!(!clipped, "{width} px: the address {address} is cut off");
        let overflow = browser
            .eval(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                json!([]),
            )
            .await;
        assert_eq!(overflow, false, "no horizontal scrolling at {width} px");
        assert!(browser.text("network").await.starts_with("TRON"));
        // What a phone's camera reads: the bare address, which every TRON wallet takes.
        assert_eq!(decode_qr(&browser.element_png("#qr").await), address);
        assert_eq!(
            browser.text("qr-note").await,
            "The QR code holds the address only: enter 7.25 USDT in your wallet."
        );
        // No TronLink here: no button to press (the page's script ran: the countdown ticks).
        assert!(browser.visible("countdown").await);
        assert!(!browser.visible("wallet").await, "{width} px");
    }

    // An EVM wallet in the browser does not make an EVM button appear on a TRON order.
    let browser = Browser::start(1280, 900).await;
    browser
        .install_before_load(
            "window.ethereum = { request: async () => { throw new Error('EVM wallet used'); } };",
        )
        .await;
    browser.open(&page_url(&order)).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(!browser.visible("wallet").await);
}

#[tokio::test]
async fn tronlink_pays_what_is_still_due_in_base_units_and_the_page_follows_it_to_paid() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_tron(Db::Sqlite, 1).await else {
        return;
    };
    let order = f.create("trx-wallet", "10", json!({})).await;
    let address = deposit(&order);
    let browser = f.browser_with_tronlink(1280, &order).await;
    browser.open(&page_url(&order)).await;
    assert_eq!(browser.state().await, "waiting");
    assert!(
        browser.visible("wallet").await,
        "TronLink found: the button shows"
    );
    assert_eq!(browser.text("wallet").await, "Pay with wallet");

    // 4 USDT arrive from elsewhere first: the wallet then pays the other 6, and the note beside
    // the QR code says so.
    f.chain().pay(1, f.chain().usdt, &address, usd("4")).await;
    browser.wait_state("partly_paid", WAIT).await;
    eventually(WAIT, "the note asks for the rest", || async {
        let note = browser.text("qr-note").await;
        (note == "The QR code holds the address only: enter 6 USDT in your wallet.").then_some(())
    })
    .await;

    browser.click("#wallet").await;
    browser.wait_state("paid", WAIT).await;
    let calls = browser
        .eval("return window.__tronlink.calls;", json!([]))
        .await;
    let token = TronAddress::from_evm(f.chain().usdt).to_string();
    let wallet = TronAddress::from_evm(anvil_account(DEV_ACCOUNTS[WALLET])).to_string();
    assert_eq!(
        calls,
        json!([
            ["request", "tron_requestAccounts"],
            ["at", token],
            ["balanceOf", wallet],
            ["transfer", address, "6000000", "string", {"feeLimit": 100_000_000}]
        ]),
        "connect, then one transfer of the token to the deposit address, in base units"
    );
    let sent = browser
        .eval("return window.__tronlink.sent;", json!([]))
        .await;
    let info = f.info("trx-wallet").await;
    assert_eq!(info["orderStatus"], "PAID");
    assert_eq!(info["paidAmount"].to_string(), "10");
    assert_eq!(
        browser.text("receipt-tx").await,
        info["txHash"].as_str().unwrap()
    );
    assert_eq!(
        info["txHash"], sent,
        "the wallet's transfer completed the order"
    );
}

#[tokio::test]
async fn tronlink_refusals_are_explained_and_send_nothing() {
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_tron(Db::Sqlite, 1).await else {
        return;
    };
    let order = f.create("trx-refused", "3", json!({})).await;
    let browser = f.browser_with_tronlink(390, &order).await;
    browser
        .open(&format!("{}?lang=zh-CN", page_url(&order)))
        .await;
    assert_eq!(browser.text("wallet").await, "使用钱包支付");
    for (mode, said) in [
        ("reject", "您在钱包中拒绝了请求，未发送任何款项。"),
        ("locked", "请解锁钱包并允许其连接本页面，然后重试。"),
    ] {
        let reset = "window.__tronlink.mode = arguments[0]; \
                     document.getElementById('wallet-message').textContent = '';";
        browser.eval(reset, json!([mode])).await;
        browser.click("#wallet").await;
        let text = eventually(WAIT, "a wallet message", || async {
            let text = browser.text("wallet-message").await;
            (!text.is_empty() && !text.starts_with("请在钱包中确认")).then_some(text)
        })
        .await;
        assert_eq!(text, said, "{mode}");
    }
    let calls = browser
        .eval("return window.__tronlink.calls;", json!([]))
        .await;
    assert!(
        calls.as_array().unwrap().iter().all(|c| c[0] == "request"),
        "nothing but connection requests: {calls}"
    );
    assert_eq!(f.info("trx-refused").await["orderStatus"], "PAYING");
}

/// Writes the TRON page's screenshots for the docs when `WCHECKOUT_SCREENSHOTS` names a directory
/// (`WCHECKOUT_SCREENSHOTS=$PWD/docs/images cargo test -p wcheckout --test acceptance payment_page_tron::screenshots`):
/// waiting, on a phone and a desktop, in English and Chinese, as a payer with TronLink sees it.
#[tokio::test]
async fn screenshots_for_the_docs() {
    let Ok(dir) = std::env::var("WCHECKOUT_SCREENSHOTS") else {
        eprintln!("SKIPPED: set WCHECKOUT_SCREENSHOTS=DIR to write the TRON page's screenshots");
        return;
    };
    if !browser::available() {
        return;
    }
    let Some(f) = Fixture::start_tron(Db::Sqlite, 1).await else {
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
    let order = f.create("INV-2026-0043", "49.90", json!({})).await;
    for (device, width) in [("desktop", 1280), ("phone", 360)] {
        let browser = f.browser_with_tronlink(width, &order).await;
        for lang in ["en", "zh-CN"] {
            browser
                .open(&format!("{}?lang={lang}", page_url(&order)))
                .await;
            browser.wait_state("waiting", WAIT).await;
            let png = browser.full_page_png().await;
            let name = format!("{dir}/payment-page-tron-waiting-{device}-{lang}.png");
            std::fs::write(&name, png).unwrap();
        }
    }
}
