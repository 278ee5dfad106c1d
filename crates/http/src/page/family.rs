//! What the page does differently per chain family, decided here once: what its QR code holds,
//! the token standard payers look for in a wallet or an exchange's withdrawal form, and which
//! browser wallet "Pay with wallet" talks to. The rest of the page reads these and never asks
//! which family it is on.

use wcheckout_app::page::PaymentPage;
use wcheckout_domain::address::ChainFamily;

use super::i18n::Texts;
use super::qr;

/// What the QR code holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QrContent {
    /// A transfer request with token, chain, recipient and amount (EIP-681), which wallets turn
    /// into a prefilled token transfer.
    TransferRequest,
    /// The deposit address alone. TRON has no payment request format its wallets agree on:
    /// TronLink's, Trust Wallet's and TokenPocket's send screens all take a scanned bare `T…`
    /// address, while a `tron:ADDRESS?amount=…` URI is refused by some (TronLink's reports an
    /// incorrect address). The payer types the amount, which the page shows beside the code.
    Address,
    /// A Solana Pay transfer request: `solana:OWNER?amount=…&spl-token=MINT&reference=KEY&
    /// label=…&message=…`, which Phantom, Solflare and Backpack scan into a prefilled transfer
    /// (the wallet derives the owner's associated token account for the mint itself).
    SolanaPay,
}

/// The browser wallet "Pay with wallet" pays through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wallet {
    /// An injected EIP-1193 provider (`window.ethereum`). Its button is always shown: without a
    /// wallet it explains how to pay by hand.
    Eip1193,
    /// TronLink's injected `tronLink`/`tronWeb` (also injected by wallet apps' browsers). Its
    /// button is shown only once the script finds them.
    TronLink,
    /// A Solana wallet found through the wallet standard (`wallet-standard:register-wallet`
    /// and `wallet-standard:app-ready`) that signs and sends transactions; the gateway builds
    /// the transaction. Its button is shown only once the script finds such a wallet.
    WalletStandard,
}

impl Wallet {
    /// The name the page script knows it by.
    pub const fn as_str(self) -> &'static str {
        match self {
            Wallet::Eip1193 => "eip1193",
            Wallet::TronLink => "tronlink",
            Wallet::WalletStandard => "wallet-standard",
        }
    }

    /// Whether the button is there before the script has looked for the wallet.
    pub const fn shown_before_detection(self) -> bool {
        matches!(self, Wallet::Eip1193)
    }
}

/// How one family's orders are paid on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyPage {
    /// What the QR code holds.
    pub qr: QrContent,
    /// The browser wallet that pays.
    pub wallet: Wallet,
    /// `ERC-20`, `TRC-20`, `SPL`: how wallets and exchanges name the network of a token.
    pub token_standard: &'static str,
}

impl FamilyPage {
    /// The page of `family`'s orders.
    pub const fn of(family: ChainFamily) -> FamilyPage {
        match family {
            ChainFamily::Evm => FamilyPage {
                qr: QrContent::TransferRequest,
                wallet: Wallet::Eip1193,
                token_standard: "ERC-20",
            },
            ChainFamily::Tron => FamilyPage {
                qr: QrContent::Address,
                wallet: Wallet::TronLink,
                token_standard: "TRC-20",
            },
            ChainFamily::Solana => FamilyPage {
                qr: QrContent::SolanaPay,
                wallet: Wallet::WalletStandard,
                token_standard: "SPL token",
            },
        }
    }
}

impl QrContent {
    /// The text the QR code of `page` holds while `units` base units are due.
    pub fn text(self, page: &PaymentPage, units: &str) -> String {
        match self {
            QrContent::TransferRequest => qr::eip681_transfer(
                &page.token_contract,
                page.chain_id,
                &page.deposit_address,
                units,
            ),
            QrContent::Address => page.deposit_address.clone(),
            QrContent::SolanaPay => solana_pay_url(page, units),
        }
    }

    /// The image's description, with `{amount}`, `{token}` and `{address}` to fill in.
    pub const fn alt(self, t: &'static Texts) -> &'static str {
        match self {
            QrContent::TransferRequest | QrContent::SolanaPay => t.qr_alt,
            QrContent::Address => t.qr_alt_address,
        }
    }

    /// What the payer must add to what the scan fills in, with `{amount}` and `{token}`.
    pub const fn note(self, t: &'static Texts) -> Option<&'static str> {
        match self {
            QrContent::TransferRequest | QrContent::SolanaPay => None,
            QrContent::Address => Some(t.qr_address_only),
        }
    }
}

/// The Solana Pay transfer request of `page` for `units` base units: to the deposit owner, in
/// the order's mint, with the order's reference key, the merchant as label and the order number
/// as message. Falls back to the bare owner address should the page hold something that is not
/// Solana's (it never does: the configuration and the store only give Solana values here).
fn solana_pay_url(page: &PaymentPage, units: &str) -> String {
    let parse = |text: &str| wcheckout_solana::address::SolanaAddress::parse(text).ok();
    let (Some(recipient), Some(mint), Ok(units)) = (
        parse(&page.deposit_address),
        parse(&page.token_contract),
        units.parse::<u64>(),
    ) else {
        return page.deposit_address.clone();
    };
    wcheckout_solana::pay_url::TransferRequest {
        recipient,
        amount: Some((units, page.token_decimals)),
        spl_token: Some(mint),
        references: page
            .solana_reference
            .as_deref()
            .and_then(parse)
            .into_iter()
            .collect(),
        label: Some(page.merchant_name.clone()),
        message: Some(page.order_no.clone()),
        memo: None,
    }
    .to_url()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::i18n::Lang;
    use wcheckout_app::page::{PageState, PageStatus};

    fn page(family: ChainFamily, contract: &str, deposit: &str) -> PaymentPage {
        PaymentPage {
            merchant_name: "Acme".into(),
            theme_color: None,
            has_logo: false,
            order_no: "A-1".into(),
            order_amount: "12.5".into(),
            fiat: "USD".into(),
            paying_amount: "12.50".into(),
            paying_amount_units: "12500000".into(),
            token_symbol: "USDT".into(),
            token_contract: contract.into(),
            token_decimals: 6,
            chain_name: "X".into(),
            chain_family: family,
            chain_id: 728_126_428,
            wallet_rpc_url: None,
            deposit_address: deposit.into(),
            solana_reference: (family == ChainFamily::Solana)
                .then(|| "EFXzijBBeLQZn2GNnxZTndGfSmQnTLZ5oknBQuPT5UYC".into()),
            pc_callback_url: None,
            app_callback_url: None,
            status: PageStatus {
                state: PageState::Waiting,
                paid: "0".into(),
                unconfirmed: "0".into(),
                received: "0".into(),
                remaining: "12.5".into(),
                remaining_units: "12500000".into(),
                refunded: "0".into(),
                confirmations: 0,
                required_confirmations: None,
                expires_in: 60,
                tx_hash: None,
                tx_url: None,
            },
        }
    }

    #[test]
    fn an_evm_order_s_qr_code_is_an_eip681_transfer_request() {
        let family = FamilyPage::of(ChainFamily::Evm);
        let page = page(ChainFamily::Evm, "0xToken", "0xTo");
        let text = family.qr.text(&page, "1500000");
        assert_eq!(
            text,
            "ethereum:0xToken@728126428/transfer?address=0xTo&uint256=1500000"
        );
        assert_eq!(family.wallet, Wallet::Eip1193);
        assert!(family.qr.note(Lang::En.texts()).is_none());
    }

    #[test]
    fn a_tron_order_s_qr_code_is_the_bare_deposit_address() {
        let family = FamilyPage::of(ChainFamily::Tron);
        let deposit = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH";
        let page = page(
            ChainFamily::Tron,
            "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
            deposit,
        );
        for units in ["12500000", "1"] {
            let text = family.qr.text(&page, units);
            assert_eq!(text, deposit, "no URI scheme, no amount, no contract");
            assert!(!text.contains(':'));
        }
        assert_eq!(family.wallet, Wallet::TronLink);
        assert!(!family.wallet.shown_before_detection());
        assert_eq!(family.token_standard, "TRC-20");
        for lang in [Lang::En, Lang::ZhCn] {
            let note = family.qr.note(lang.texts()).unwrap();
            assert!(
                note.contains("{amount}") && note.contains("{token}"),
                "{note}"
            );
        }
    }

    #[test]
    fn a_solana_order_s_qr_code_is_a_solana_pay_transfer_request_for_what_is_due() {
        let family = FamilyPage::of(ChainFamily::Solana);
        let owner = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk";
        let mint = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB";
        let mut page = page(ChainFamily::Solana, mint, owner);
        page.merchant_name = "Acme Books & Co".into();
        page.order_no = "INV 7/1".into();
        assert_eq!(
            family.qr.text(&page, "6000000"),
            format!(
                "solana:{owner}?amount=6&spl-token={mint}\
                 &reference=EFXzijBBeLQZn2GNnxZTndGfSmQnTLZ5oknBQuPT5UYC\
                 &label=Acme%20Books%20%26%20Co&message=INV%207%2F1"
            )
        );
        assert!(
            family
                .qr
                .text(&page, "12500001")
                .contains("amount=12.500001&")
        );
        assert!(family.qr.note(Lang::En.texts()).is_none());
        assert_eq!(family.wallet, Wallet::WalletStandard);
        assert_eq!(family.wallet.as_str(), "wallet-standard");
        assert!(!family.wallet.shown_before_detection());
        assert_eq!(family.token_standard, "SPL token");
    }
}
