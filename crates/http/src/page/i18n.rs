//! The page's languages: English and Simplified Chinese, chosen by `?lang=` first, then by
//! `Accept-Language`. `{name}` placeholders are filled in by the server and by the page script
//! alike, so both render the same sentences.

use serde::Serialize;

/// A language of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// The `lang` attribute and `?lang=` value.
    pub const fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The other language, offered as a switch.
    pub const fn other(self) -> Lang {
        match self {
            Lang::En => Lang::ZhCn,
            Lang::ZhCn => Lang::En,
        }
    }

    /// The sentences in this language.
    pub const fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::ZhCn => &ZH_CN,
        }
    }

    /// `?lang=` when it names a language, else the best `Accept-Language` match, else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = query.and_then(Lang::parse) {
            return lang;
        }
        let mut best: Option<(Lang, u16)> = None;
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, parse_quality);
            if quality > 0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((lang, quality));
            }
        }
        best.map_or(Lang::En, |(lang, _)| lang)
    }

    fn parse(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Lang::En),
            // Traditional-script Chinese readers get Simplified rather than English.
            "zh" => Some(Lang::ZhCn),
            _ => None,
        }
    }
}

/// `q=0.8` as thousandths.
fn parse_quality(text: &str) -> u16 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = if whole == "1" { 1000 } else { 0 };
    let digits = fraction.bytes().take(3).filter(u8::is_ascii_digit);
    let fraction = digits
        .zip([100u16, 10, 1])
        .map(|(d, weight)| u16::from(d - b'0') * weight)
        .sum::<u16>();
    (whole + fraction).min(1000)
}

/// Every sentence of the page.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Texts {
    pub title: &'static str,
    pub switch_language: &'static str,
    pub order: &'static str,
    pub order_amount: &'static str,
    pub send_exactly: &'static str,
    pub network: &'static str,
    pub address: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub copy_failed: &'static str,
    pub qr_alt: &'static str,
    pub qr_alt_address: &'static str,
    pub qr_address_only: &'static str,
    pub time_left: &'static str,
    pub only_network: &'static str,
    pub pay_with_wallet: &'static str,
    pub no_wallet: &'static str,
    pub received: &'static str,
    pub still_due: &'static str,
    pub waiting: &'static str,
    pub partly_paid: &'static str,
    pub confirming: &'static str,
    pub confirming_final: &'static str,
    pub paid: &'static str,
    pub expired: &'static str,
    pub expired_partly: &'static str,
    pub cancelled: &'static str,
    pub refunding: &'static str,
    pub refunded: &'static str,
    pub receipt: &'static str,
    pub transaction: &'static str,
    pub view_on_explorer: &'static str,
    pub return_to: &'static str,
    pub returning_in: &'static str,
    pub wallet_confirm: &'static str,
    pub wallet_sent: &'static str,
    pub wallet_rejected: &'static str,
    pub wallet_locked: &'static str,
    pub wallet_wrong_chain: &'static str,
    pub wallet_add_chain: &'static str,
    pub wallet_no_token: &'static str,
    pub wallet_no_gas: &'static str,
    pub wallet_error: &'static str,
    pub wallet_not_payable: &'static str,
    pub wallet_bad_account: &'static str,
    pub wallet_unavailable: &'static str,
    pub not_found: &'static str,
    pub not_found_detail: &'static str,
}

const EN: Texts = Texts {
    title: "Pay {merchant}",
    switch_language: "中文",
    order: "Order",
    order_amount: "Order amount",
    send_exactly: "Send exactly",
    network: "Network",
    address: "Deposit address",
    copy: "Copy",
    copied: "Copied",
    copy_failed: "Select the address and copy it by hand",
    qr_alt: "QR code to pay {amount} {token} to {address} with a wallet app",
    qr_alt_address: "QR code of the deposit address {address}",
    qr_address_only: "The QR code holds the address only: enter {amount} {token} in your wallet.",
    time_left: "Time left",
    only_network: "Send only {token} on {network}. Other tokens or networks cannot be credited.",
    pay_with_wallet: "Pay with wallet",
    no_wallet: "No browser wallet was found. Send exactly {amount} {token} on {network} to the \
                address above from any wallet, or scan the QR code with a wallet app.",
    received: "Received",
    still_due: "Still due",
    waiting: "Waiting for your payment",
    partly_paid: "Partly paid: {remaining} {token} still due",
    confirming: "Payment seen, confirming ({n} of {required})",
    confirming_final: "Payment seen, waiting for the network to finalise it",
    paid: "Paid",
    expired: "This order has expired",
    expired_partly: "This order expired after {paid} {token} was received. Contact the merchant \
                     about a refund.",
    cancelled: "This order was cancelled",
    refunding: "A refund is on its way",
    refunded: "Refunded {amount} {token}",
    receipt: "Receipt",
    transaction: "Transaction",
    view_on_explorer: "View on explorer",
    return_to: "Return to {merchant}",
    returning_in: "Returning in {seconds} s",
    wallet_confirm: "Confirm the payment in your wallet…",
    wallet_sent: "Transaction sent. Waiting for the network…",
    wallet_rejected: "You rejected the request in your wallet. Nothing was sent.",
    wallet_locked: "Unlock your wallet, let it connect to this page and try again.",
    wallet_wrong_chain: "Your wallet is on another network. Switch it to {network} and try again.",
    wallet_add_chain: "Your wallet does not know {network}. Add the network (chain id {chainId}) \
                       to your wallet and try again.",
    wallet_no_token: "Your wallet holds {balance} {token}, less than the {amount} {token} due.",
    wallet_no_gas: "Your wallet does not have enough funds for the network fee.",
    wallet_error: "The wallet reported an error: {message}",
    wallet_not_payable: "This order can no longer be paid. Nothing was sent.",
    wallet_bad_account: "Your wallet offered an account this page cannot pay from. Nothing was \
                         sent.",
    wallet_unavailable: "The payment could not be prepared just now. Nothing was sent; try again \
                         in a moment.",
    not_found: "Payment page not found",
    not_found_detail: "Check the link you were given, or ask the merchant for a new one.",
};

const ZH_CN: Texts = Texts {
    title: "向 {merchant} 付款",
    switch_language: "English",
    order: "订单号",
    order_amount: "订单金额",
    send_exactly: "请准确转账",
    network: "网络",
    address: "收款地址",
    copy: "复制",
    copied: "已复制",
    copy_failed: "请手动选择并复制地址",
    qr_alt: "使用钱包扫码向 {address} 支付 {amount} {token} 的二维码",
    qr_alt_address: "收款地址 {address} 的二维码",
    qr_address_only: "二维码仅包含收款地址，请在钱包中输入金额 {amount} {token}。",
    time_left: "剩余时间",
    only_network: "仅支持 {network} 网络的 {token}，转入其他币种或网络将无法到账。",
    pay_with_wallet: "使用钱包支付",
    no_wallet: "未检测到浏览器钱包。请使用任意钱包在 {network} 网络向上方地址准确转账 {amount} \
                {token}，或用钱包 App 扫描二维码。",
    received: "已收到",
    still_due: "待支付",
    waiting: "等待付款",
    partly_paid: "已部分付款，还需支付 {remaining} {token}",
    confirming: "已收到付款，确认中（{n}/{required}）",
    confirming_final: "已收到付款，等待网络最终确认",
    paid: "支付成功",
    expired: "订单已过期",
    expired_partly: "订单已过期，已收到 {paid} {token}。请联系商户办理退款。",
    cancelled: "订单已取消",
    refunding: "退款处理中",
    refunded: "已退款 {amount} {token}",
    receipt: "付款凭证",
    transaction: "交易哈希",
    view_on_explorer: "在区块浏览器中查看",
    return_to: "返回 {merchant}",
    returning_in: "{seconds} 秒后返回",
    wallet_confirm: "请在钱包中确认付款…",
    wallet_sent: "交易已发送，等待网络确认…",
    wallet_rejected: "您在钱包中拒绝了请求，未发送任何款项。",
    wallet_locked: "请解锁钱包并允许其连接本页面，然后重试。",
    wallet_wrong_chain: "钱包当前不在 {network} 网络，请切换后重试。",
    wallet_add_chain: "钱包中没有 {network} 网络，请添加该网络（链 ID {chainId}）后重试。",
    wallet_no_token: "钱包余额 {balance} {token}，不足应付的 {amount} {token}。",
    wallet_no_gas: "钱包余额不足以支付网络手续费。",
    wallet_error: "钱包返回错误：{message}",
    wallet_not_payable: "该订单已无法支付，未发送任何款项。",
    wallet_bad_account: "钱包提供的账户无法用于本次付款，未发送任何款项。",
    wallet_unavailable: "暂时无法生成付款交易，未发送任何款项，请稍后重试。",
    not_found: "未找到支付页面",
    not_found_detail: "请检查链接是否正确，或向商户索取新的付款链接。",
};

/// `text` with each `{name}` replaced by its value.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_then_the_best_accepted_language() {
        assert_eq!(Lang::negotiate(Some("zh-CN"), Some("en")), Lang::ZhCn);
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("zh-CN,zh;q=0.9")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::negotiate(None, Some("fr-FR,en;q=0.5,zh;q=0.8")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::negotiate(None, Some("zh;q=0.2,en-GB;q=0.9")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("zh-TW")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(None, Some("zh;q=0,de")), Lang::En);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(Lang::negotiate(None, Some(";;,q=,")), Lang::En);
    }

    #[test]
    fn placeholders_are_filled() {
        let text = fill(EN.partly_paid, &[("remaining", "1.5"), ("token", "USDT")]);
        assert_eq!(text, "Partly paid: 1.5 USDT still due");
    }
}
