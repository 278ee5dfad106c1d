//! The page's HTML, rendered on the server (maud escapes every value). The page is complete
//! without its script; the script only keeps the status live and talks to a browser wallet.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Serialize;
use wcheckout_app::page::{PageState, PageStatus, PaymentPage};

use super::family::FamilyPage;
use super::i18n::{Lang, Texts, fill};

/// What the page script needs, embedded as JSON in the page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScriptData<'a> {
    lang: &'static str,
    texts: &'static Texts,
    merchant: &'a str,
    token: &'a str,
    token_contract: &'a str,
    token_decimals: u8,
    chain_id: u64,
    chain_name: &'a str,
    wallet_rpc_url: Option<&'a str>,
    deposit_address: &'a str,
    /// The browser wallet that pays (`eip1193`, `tronlink`, `wallet-standard`).
    wallet: &'static str,
    status_url: String,
    /// Where a Solana wallet's transaction is asked for.
    transaction_url: String,
    qr_url: String,
    /// The QR code's description, and what the payer must add to a scan, per family.
    qr_alt: &'static str,
    qr_note: Option<&'static str>,
    pc_callback_url: Option<&'a str>,
    app_callback_url: Option<&'a str>,
    status: &'a PageStatus,
}

/// Addresses of the page's own resources.
pub struct Urls {
    /// `/pay/TOKEN`.
    pub page: String,
    /// Stylesheet, versioned by content.
    pub css: String,
    /// Script, versioned by content.
    pub js: String,
    /// The app's logo (`/pay/TOKEN/logo`; the console's preview gives the draft's `data:` URI).
    pub logo: String,
}

/// The whole page. `nonce` admits the one inline `<style>` (the theme colour).
pub fn payment_page(page: &PaymentPage, lang: Lang, urls: &Urls, nonce: &str) -> String {
    let t = lang.texts();
    let title = fill(t.title, &[("merchant", &page.merchant_name)]);
    let status = &page.status;
    let family = FamilyPage::of(page.chain_family);
    let data = ScriptData {
        lang: lang.tag(),
        texts: t,
        merchant: &page.merchant_name,
        token: &page.token_symbol,
        token_contract: &page.token_contract,
        token_decimals: page.token_decimals,
        chain_id: page.chain_id,
        chain_name: &page.chain_name,
        wallet_rpc_url: page.wallet_rpc_url.as_deref(),
        deposit_address: &page.deposit_address,
        wallet: family.wallet.as_str(),
        status_url: format!("{}/status", urls.page),
        transaction_url: format!("{}/solana/transaction", urls.page),
        qr_url: format!("{}/qr.svg", urls.page),
        qr_alt: family.qr.alt(t),
        qr_note: family.qr.note(t),
        pc_callback_url: page.pc_callback_url.as_deref(),
        app_callback_url: page.app_callback_url.as_deref(),
        status,
    };
    let body = html! {
        main.card data-state=(state_name(status.state)) {
            (header(page, lang, &title, urls))
            (amounts(page, t, family))
            (status_section(page, t))
            (pay_section(page, t, urls, family))
            (receipt_section(page, t))
        }
    };
    document(
        lang,
        &title,
        urls,
        nonce,
        page.theme_color.as_deref(),
        &data,
        body,
    )
}

/// The answer to a token that finds no order.
pub fn not_found_page(lang: Lang, urls: &Urls) -> String {
    let t = lang.texts();
    let body = html! {
        main.card {
            h1 { (t.not_found) }
            p { (t.not_found_detail) }
        }
    };
    document_markup(lang, t.not_found, urls, None, None, body).into_string()
}

fn document(
    lang: Lang,
    title: &str,
    urls: &Urls,
    nonce: &str,
    theme: Option<&str>,
    data: &ScriptData<'_>,
    body: Markup,
) -> String {
    // `<` is escaped so that no value can close the script element early.
    let json = serde_json::to_string(data)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    let theme = theme.map(|colour| (nonce, colour));
    document_markup(lang, title, urls, theme, Some(&json), body).into_string()
}

fn document_markup(
    lang: Lang,
    title: &str,
    urls: &Urls,
    theme: Option<(&str, &str)>,
    data_json: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex";
                title { (title) }
                link rel="stylesheet" href=(urls.css);
                @if let Some((nonce, colour)) = theme {
                    style nonce=(nonce) { (PreEscaped(format!(":root{{--theme:{colour}}}"))) }
                }
                @if let Some(json) = data_json {
                    script type="application/json" id="page-data" { (PreEscaped(json)) }
                    script src=(urls.js) defer {}
                }
            }
            body { (body) }
        }
    }
}

fn header(page: &PaymentPage, lang: Lang, title: &str, urls: &Urls) -> Markup {
    let other = lang.other();
    html! {
        header.merchant {
            @if page.has_logo {
                img.logo src=(urls.logo) alt="" width="48" height="48";
            }
            h1 { (title) }
            a.lang href={ "?lang=" (other.tag()) } hreflang=(other.tag()) lang=(other.tag()) {
                (lang.texts().switch_language)
            }
        }
    }
}

fn amounts(page: &PaymentPage, t: &Texts, family: FamilyPage) -> Markup {
    html! {
        section.amounts {
            p.due {
                span.label { (t.send_exactly) }
                strong #paying-amount { (page.paying_amount) " " (page.token_symbol) }
            }
            dl {
                div { dt { (t.order_amount) } dd #order-amount { (page.order_amount) " " (page.fiat) } }
                div { dt { (t.network) } dd #network {
                    (page.chain_name) " · " (page.token_symbol) " "
                    span.standard { "(" (family.token_standard) ")" }
                } }
                div { dt { (t.order) } dd #order-no { (page.order_no) } }
            }
        }
    }
}

fn status_section(page: &PaymentPage, t: &Texts) -> Markup {
    let status = &page.status;
    let counting = is_open(status.state) && status.expires_in > 0;
    html! {
        section #status .status role="status" aria-live="polite" {
            p #status-text { (status_text(page, t)) }
            p #progress hidden[!is_open(status.state) || status.received == "0"] {
                (t.received) " " span #received { (status.received) } " " (page.token_symbol)
                " · " (t.still_due) " " span #remaining { (status.remaining) } " " (page.token_symbol)
            }
            p #countdown hidden[!counting] {
                (t.time_left) " " time #time-left data-seconds=(status.expires_in) {
                    (clock(status.expires_in))
                }
            }
        }
    }
}

fn pay_section(page: &PaymentPage, t: &'static Texts, urls: &Urls, family: FamilyPage) -> Markup {
    let status = &page.status;
    let values = [
        ("amount", status.remaining.as_str()),
        ("token", page.token_symbol.as_str()),
        ("network", page.chain_name.as_str()),
        ("address", page.deposit_address.as_str()),
    ];
    html! {
        section #pay .pay hidden[!is_payable(status)] {
            img #qr src={ (urls.page) "/qr.svg?units=" (status.remaining_units) }
                alt=(fill(family.qr.alt(t), &values)) width="232" height="232";
            @if let Some(note) = family.qr.note(t) {
                p #qr-note .message { (fill(note, &values)) }
            }
            // The whole address, wrapped, never clipped: payers check its first and last
            // characters (address poisoning counts on a look at only part of it). Focusable,
            // and one click selects all of it.
            span #address-label .label { (t.address) }
            div.address-row {
                code #address tabindex="0" translate="no" aria-labelledby="address-label" {
                    (page.deposit_address)
                }
                button #copy type="button" { (t.copy) }
            }
            p.warning { (fill(t.only_network, &values)) }
            button #wallet .primary type="button" data-wallet=(family.wallet.as_str())
                hidden[!family.wallet.shown_before_detection()] { (t.pay_with_wallet) }
            p #wallet-message .message role="alert" {}
            p #manual .message hidden { (fill(t.no_wallet, &values)) }
        }
    }
}

fn receipt_section(page: &PaymentPage, t: &Texts) -> Markup {
    let status = &page.status;
    let shown = matches!(
        status.state,
        PageState::Paid | PageState::Refunding | PageState::Refunded
    );
    let return_url = page
        .pc_callback_url
        .as_deref()
        .or(page.app_callback_url.as_deref());
    html! {
        section #receipt .receipt hidden[!shown] {
            h2 { (t.receipt) }
            dl {
                div { dt { (t.received) } dd { span #receipt-amount { (status.paid) } " " (page.token_symbol) } }
                div {
                    dt { (t.transaction) }
                    dd #receipt-tx {
                        @match (&status.tx_hash, &status.tx_url) {
                            (Some(hash), Some(url)) => a href=(url) target="_blank" rel="noopener noreferrer" title=(t.view_on_explorer) { code { (hash) } },
                            (Some(hash), None) => code { (hash) },
                            _ => {},
                        }
                    }
                }
            }
            @if let Some(url) = return_url {
                a #return .button href=(url) { (fill(t.return_to, &[("merchant", &page.merchant_name)])) }
                p #returning .message {}
            }
        }
    }
}

/// The status sentence, the same the script writes on every update.
fn status_text(page: &PaymentPage, t: &Texts) -> String {
    let status = &page.status;
    let token = page.token_symbol.as_str();
    let required = status
        .required_confirmations
        .map(|n| n.to_string())
        .unwrap_or_default();
    let confirmations = status.confirmations.to_string();
    let values = [
        ("token", token),
        ("remaining", status.remaining.as_str()),
        ("paid", status.paid.as_str()),
        ("amount", status.refunded.as_str()),
        ("n", confirmations.as_str()),
        ("required", required.as_str()),
    ];
    let text = match status.state {
        PageState::Waiting => t.waiting,
        PageState::PartlyPaid => t.partly_paid,
        PageState::Confirming if status.required_confirmations.is_some() => t.confirming,
        PageState::Confirming => t.confirming_final,
        PageState::Paid => t.paid,
        PageState::Expired if status.paid != "0" => t.expired_partly,
        PageState::Expired => t.expired,
        PageState::Cancelled => t.cancelled,
        PageState::Refunding => t.refunding,
        PageState::Refunded => t.refunded,
    };
    fill(text, &values)
}

fn is_open(state: PageState) -> bool {
    matches!(
        state,
        PageState::Waiting | PageState::PartlyPaid | PageState::Confirming
    )
}

fn is_payable(status: &PageStatus) -> bool {
    is_open(status.state) && status.remaining_units != "0"
}

fn state_name(state: PageState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `mm:ss`, or `h:mm:ss` from an hour up.
fn clock(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_reads_as_a_clock() {
        assert_eq!(clock(1799), "29:59");
        assert_eq!(clock(3661), "1:01:01");
        assert_eq!(clock(-5), "00:00");
    }
}
