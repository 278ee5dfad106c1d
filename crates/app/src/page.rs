//! The hosted payment page's use case: what a payer may see of one order. Only the order's
//! unguessable page token finds it, and the view holds nothing beyond what paying needs: no
//! customer or merchant ids, no other order, no secret.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use wcheckout_domain::address::{Address, ChainFamily, SolanaAddress};
use wcheckout_domain::chain::{ChainError, PayerPayment};
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::money::{FLOAT_SIGNIFICANT_DIGITS, TokenAmount};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::token::{Chain, Token};

use crate::error::ServiceError;
use crate::gateway::{Gateway, payment_progress};
use crate::wire::PaymentProgress;

/// Where a payment stands, in the payer's terms.
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    /// Nothing received yet.
    Waiting,
    /// Some received and confirmed; more is due.
    PartlyPaid,
    /// Transfers seen, waiting for confirmations.
    Confirming,
    /// Paid in full.
    Paid,
    /// The payment window ended.
    Expired,
    /// The merchant cancelled the order.
    Cancelled,
    /// A refund is being sent.
    Refunding,
    /// Part or all of the payment was refunded.
    Refunded,
}

/// The part of the page that changes while the payer watches; the page polls it.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PageStatus {
    /// Where the payment stands.
    pub state: PageState,
    /// Confirmed amount received, in tokens.
    pub paid: String,
    /// Amount seen but not final yet, in tokens.
    pub unconfirmed: String,
    /// Everything sent so far, confirmed or not, in tokens.
    pub received: String,
    /// Amount still to send, in tokens.
    pub remaining: String,
    /// Amount still to send, in the token's base units (what a wallet transfer sends).
    pub remaining_units: String,
    /// Amount refunded, in tokens.
    pub refunded: String,
    /// Confirmations of the latest transfer.
    pub confirmations: u64,
    /// Confirmations needed, when counted in blocks.
    pub required_confirmations: Option<u32>,
    /// Seconds left to pay.
    pub expires_in: i64,
    /// The transfer that completed the payment.
    pub tx_hash: Option<String>,
    /// Its explorer page, when the chain has one configured.
    pub tx_url: Option<String>,
}

/// A logo decoded from the app's `data:` URI, served by the page itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    /// `image/png`, `image/svg+xml`, ...
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

/// Everything the payment page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentPage {
    /// The merchant's name for payers.
    pub merchant_name: String,
    /// Theme colour `#rrggbb`.
    pub theme_color: Option<String>,
    /// Whether the app has a logo (served at the page's `logo` address).
    pub has_logo: bool,
    /// The integrator's order number, the payer's reference.
    pub order_no: String,
    /// Price, at most 15 significant digits (the digits a float-computing client meant).
    pub order_amount: String,
    /// Pricing currency.
    pub fiat: String,
    /// Token amount of the order.
    pub paying_amount: String,
    /// The same in the token's base units.
    pub paying_amount_units: String,
    /// `USDT`.
    pub token_symbol: String,
    /// The token contract.
    pub token_contract: String,
    /// Decimals of the token's base unit.
    pub token_decimals: u8,
    /// `Ethereum`, `TRON`.
    pub chain_name: String,
    /// How the chain is built: what its QR code holds and which browser wallet pays on it.
    pub chain_family: ChainFamily,
    /// The id its node reports (EIP-155 on EVM chains).
    pub chain_id: u64,
    /// Public RPC endpoint to offer a wallet that lacks the chain.
    pub wallet_rpc_url: Option<String>,
    /// Where to pay.
    pub deposit_address: String,
    /// The order's Solana Pay reference key (base58), on Solana chains only: see
    /// [`solana_pay_reference`].
    pub solana_reference: Option<String>,
    /// Return address after payment, desktop.
    pub pc_callback_url: Option<String>,
    /// Return address after payment, in-app.
    pub app_callback_url: Option<String>,
    /// What changes.
    pub status: PageStatus,
}

/// What is hashed before an order's `sysid` into its Solana Pay reference key.
pub const SOLANA_REFERENCE_TAG: &[u8] = b"wcheckout/solana-pay-reference/v1\0";

/// The order's Solana Pay reference: `sha256(SOLANA_REFERENCE_TAG ‖ sysid)` read as a 32-byte
/// key, the same on every page view, QR code and wallet transaction of the order, and on every
/// gateway process (nothing is stored). Wallets add it to the transfer as a read-only account,
/// so `getSignaturesForAddress(reference)` finds the order's payments. It is a hash, not a
/// public key: nobody holds a private key for it, and none is needed (it never signs).
pub fn solana_pay_reference(sysid: &str) -> SolanaAddress {
    let digest = Sha256::new()
        .chain_update(SOLANA_REFERENCE_TAG)
        .chain_update(sysid.as_bytes())
        .finalize();
    SolanaAddress::from_bytes(digest.into())
}

/// What "Pay with wallet" sends for a Solana order: the payer's account.
#[derive(Deserialize, ToSchema, Clone, Debug)]
pub struct WalletTransactionRequest {
    /// The payer's wallet account (base58), which signs, pays the fee and owns the tokens.
    pub account: String,
}

/// The unsigned transaction a payer's wallet signs and sends to pay what is still due.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WalletTransaction {
    /// A legacy Solana transaction in base64, its one signature (the payer's) left empty:
    /// compute budget, the deposit owner's token account created if missing (rent paid by the
    /// payer), and `transferChecked` of the amount with the order's reference key.
    pub transaction: String,
    /// The cluster as the wallet standard names it (`solana:mainnet`, `solana:devnet`, …).
    pub chain: String,
    /// What it pays, in tokens.
    pub amount: String,
    /// The same in base units.
    pub amount_units: String,
    /// The order's reference key.
    pub reference: String,
}

/// Page tokens are 43 URL-safe characters (32 random bytes); anything else is not looked up at all.
fn plausible_page_token(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Gateway {
    /// The order behind a page token, or `None` for any token that is not one.
    async fn order_of_page(&self, page_token: &str) -> Result<Option<Order>, ServiceError> {
        if !plausible_page_token(page_token) {
            return Ok(None);
        }
        Ok(self.store.order_by_page_token(page_token).await?)
    }

    /// The whole page of the order behind `page_token`.
    pub async fn payment_page(
        &self,
        page_token: &str,
    ) -> Result<Option<PaymentPage>, ServiceError> {
        let Some(order) = self.order_of_page(page_token).await? else {
            return Ok(None);
        };
        let app = self.store.app(&order.app_id).await?;
        let (token, chain) = self.token_of(&order.token)?;
        let status = self.page_status_of(&order, token, chain).await?;
        let branding = app.as_ref().map(|a| a.branding.clone()).unwrap_or_default();
        let merchant_name = branding
            .display_name
            .clone()
            .or_else(|| app.map(|a| a.name))
            .unwrap_or_default();
        let paying = order.paying_amount.to_decimal(token.decimals);
        Ok(Some(PaymentPage {
            merchant_name,
            theme_color: branding.theme_color,
            has_logo: branding.logo_url.as_deref().and_then(decode_logo).is_some(),
            order_no: order.order_no.to_string(),
            // Shown to payers without float noise (`19.990000000000002` reads 19.99, what the
            // order is priced at); the API still echoes it exactly as sent.
            order_amount: order
                .order_amount
                .round_significant(FLOAT_SIGNIFICANT_DIGITS)
                .unwrap_or(order.order_amount)
                .to_string(),
            fiat: order.fiat.clone(),
            paying_amount: paying
                .with_min_scale(u32::from(token.payment_scale))
                .to_string(),
            paying_amount_units: order.paying_amount.base_units().to_string(),
            token_symbol: order.token.asset().to_owned(),
            token_contract: token.contract.to_string(),
            token_decimals: token.decimals,
            chain_name: chain.display_name.clone(),
            chain_family: chain.family,
            chain_id: chain.chain_id,
            wallet_rpc_url: chain.wallet_rpc_url.clone(),
            deposit_address: order.deposit_address.to_string(),
            solana_reference: (chain.family == ChainFamily::Solana)
                .then(|| solana_pay_reference(&order.sysid).to_string()),
            pc_callback_url: order.pc_callback_url.clone(),
            app_callback_url: order.app_callback_url.clone(),
            status,
        }))
    }

    /// The transaction that pays what is still due on the order behind `page_token` from the
    /// payer's `account`, for the payer's wallet to sign; `None` for a token that finds no order.
    /// Refused: an order whose chain builds no wallet transaction (`00404`), an account that is
    /// not a Solana address (`00001`), an order no longer payable (`00409`).
    pub async fn wallet_transaction(
        &self,
        page_token: &str,
        account: &str,
    ) -> Result<Option<WalletTransaction>, ServiceError> {
        let Some(order) = self.order_of_page(page_token).await? else {
            return Ok(None);
        };
        let (token, chain) = self.token_of(&order.token)?;
        let builder = match self.payer_transactions.get(&chain.key) {
            Some(builder) if chain.family == ChainFamily::Solana => builder,
            _ => {
                return Err(ServiceError::rejected(
                    ErrorCode::NotFound,
                    "this order's chain has no wallet transaction",
                ));
            }
        };
        let payer = Address::parse(ChainFamily::Solana, account.trim()).map_err(|e| {
            ServiceError::rejected(ErrorCode::InvalidParameter, format!("account: {e}"))
        })?;
        let status = self.page_status_of(&order, token, chain).await?;
        let open = matches!(
            status.state,
            PageState::Waiting | PageState::PartlyPaid | PageState::Confirming
        );
        let remaining = status
            .remaining_units
            .parse::<u128>()
            .map(TokenAmount::from_base_units)
            .unwrap_or(TokenAmount::ZERO);
        if !open || remaining.is_zero() {
            return Err(ServiceError::rejected(
                ErrorCode::Conflict,
                "this order can no longer be paid",
            ));
        }
        let reference = solana_pay_reference(&order.sysid);
        let payment = PayerPayment {
            payer,
            recipient: order.deposit_address,
            contract: token.contract,
            decimals: token.decimals,
            amount: remaining,
            reference: Address::Solana(reference),
        };
        let unsigned = builder
            .unsigned_payment(&payment)
            .await
            .map_err(|e| match e {
                ChainError::Unavailable(reason) => ServiceError::Unavailable(reason),
                invalid @ ChainError::Invalid(_) => ServiceError::Internal(
                    crate::error::Internal::caused_by("building a wallet transaction", invalid),
                ),
            })?;
        Ok(Some(WalletTransaction {
            transaction: unsigned.transaction,
            chain: unsigned.wallet_chain,
            amount: status.remaining,
            amount_units: status.remaining_units,
            reference: reference.to_string(),
        }))
    }

    /// The changing part of the page behind `page_token`.
    pub async fn payment_page_status(
        &self,
        page_token: &str,
    ) -> Result<Option<PageStatus>, ServiceError> {
        let Some(order) = self.order_of_page(page_token).await? else {
            return Ok(None);
        };
        let (token, chain) = self.token_of(&order.token)?;
        Ok(Some(self.page_status_of(&order, token, chain).await?))
    }

    /// The logo of the app owning the page behind `page_token`.
    pub async fn payment_page_logo(&self, page_token: &str) -> Result<Option<Logo>, ServiceError> {
        let Some(order) = self.order_of_page(page_token).await? else {
            return Ok(None);
        };
        let app = self.store.app(&order.app_id).await?;
        Ok(app
            .and_then(|a| a.branding.logo_url)
            .as_deref()
            .and_then(decode_logo))
    }

    async fn page_status_of(
        &self,
        order: &Order,
        token: &Token,
        chain: &Chain,
    ) -> Result<PageStatus, ServiceError> {
        let transfers = self
            .store
            .transfers_of_orders(std::slice::from_ref(&order.sysid))
            .await?;
        let head = self.chain_head(chain).await?;
        let progress = payment_progress(transfers.iter(), head, chain);
        Ok(page_status(
            order,
            token,
            chain,
            &progress,
            order.expired_in(self.clock.now()),
        ))
    }
}

/// The payer's view of an order's payment.
pub fn page_status(
    order: &Order,
    token: &Token,
    chain: &Chain,
    progress: &PaymentProgress,
    expires_in: i64,
) -> PageStatus {
    let received = order
        .paid_amount
        .checked_add(progress.unconfirmed)
        .unwrap_or(order.paid_amount);
    let remaining = order.paying_amount.saturating_sub(received);
    let state = page_state(
        order.status,
        order.paid_amount,
        progress.unconfirmed,
        expires_in,
    );
    let tokens = |amount: TokenAmount| amount.to_decimal(token.decimals).normalized().to_string();
    let tx_url = match (&order.tx_hash, &chain.explorer_tx_url) {
        (Some(hash), Some(template)) => Some(template.replace("{tx}", hash)),
        _ => None,
    };
    PageStatus {
        state,
        paid: tokens(order.paid_amount),
        unconfirmed: tokens(progress.unconfirmed),
        received: tokens(received),
        remaining: tokens(remaining),
        remaining_units: remaining.base_units().to_string(),
        refunded: tokens(order.refunded_amount),
        confirmations: progress.confirmations,
        required_confirmations: progress.required_confirmations,
        expires_in,
        tx_hash: order.tx_hash.clone(),
        tx_url,
    }
}

/// A transfer in flight counts before the clock: a payer who sent in time sees it confirming.
fn page_state(
    status: OrderStatus,
    paid: TokenAmount,
    unconfirmed: TokenAmount,
    expires_in: i64,
) -> PageState {
    match status {
        OrderStatus::Paying if !unconfirmed.is_zero() => PageState::Confirming,
        OrderStatus::Paying if expires_in <= 0 => PageState::Expired,
        OrderStatus::Paying if !paid.is_zero() => PageState::PartlyPaid,
        OrderStatus::Paying => PageState::Waiting,
        OrderStatus::Paid => PageState::Paid,
        OrderStatus::Timeout => PageState::Expired,
        OrderStatus::Cancelled => PageState::Cancelled,
        OrderStatus::Refunding => PageState::Refunding,
        OrderStatus::PartialRefunded | OrderStatus::Refunded => PageState::Refunded,
    }
}

/// Image types a logo may have. SVG is served with a policy that keeps its scripts inert.
const LOGO_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/svg+xml",
];

/// Decodes `data:image/TYPE;base64,...` of an accepted type.
pub fn decode_logo(uri: &str) -> Option<Logo> {
    let (header, data) = uri.strip_prefix("data:")?.split_once(',')?;
    let content_type = header.strip_suffix(";base64")?;
    if !LOGO_TYPES.contains(&content_type) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    Some(Logo {
        content_type: content_type.to_owned(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_of_another_shape_are_not_looked_up() {
        assert!(plausible_page_token("AbCdEfGhIjKlMnOpQrStUvWxYz012345"));
        assert!(!plausible_page_token("OR1971467"));
        assert!(!plausible_page_token("../../etc/passwd........"));
        assert!(!plausible_page_token("' or 1=1 --aaaaaaaaaaaaaa"));
        assert!(!plausible_page_token(&"a".repeat(65)));
    }

    #[test]
    fn states_read_as_the_payer_understands_them() {
        let (none, some) = (TokenAmount::ZERO, TokenAmount::from_base_units(4));
        let state = |status, paid, unconfirmed, left| page_state(status, paid, unconfirmed, left);
        assert_eq!(
            state(OrderStatus::Paying, none, none, 60),
            PageState::Waiting
        );
        assert_eq!(
            state(OrderStatus::Paying, some, none, 60),
            PageState::PartlyPaid
        );
        assert_eq!(
            state(OrderStatus::Paying, some, some, 60),
            PageState::Confirming
        );
        assert_eq!(
            state(OrderStatus::Paying, none, some, 0),
            PageState::Confirming
        );
        assert_eq!(
            state(OrderStatus::Paying, some, none, 0),
            PageState::Expired
        );
        assert_eq!(
            state(OrderStatus::Timeout, some, none, 0),
            PageState::Expired
        );
        assert_eq!(state(OrderStatus::Paid, some, none, 0), PageState::Paid);
        assert_eq!(
            state(OrderStatus::Cancelled, none, none, 0),
            PageState::Cancelled
        );
        assert_eq!(
            state(OrderStatus::Refunding, some, none, 0),
            PageState::Refunding
        );
        assert_eq!(
            state(OrderStatus::PartialRefunded, some, none, 0),
            PageState::Refunded
        );
        assert_eq!(
            state(OrderStatus::Refunded, some, none, 0),
            PageState::Refunded
        );
    }

    #[test]
    fn an_order_s_solana_reference_is_a_tagged_hash_of_its_sysid() {
        let reference = solana_pay_reference("OR1971467");
        assert_eq!(
            reference,
            solana_pay_reference("OR1971467"),
            "same order, same key"
        );
        assert_ne!(reference, solana_pay_reference("OR1971468"));
        let mut tagged = SOLANA_REFERENCE_TAG.to_vec();
        tagged.extend_from_slice(b"OR1971467");
        let digest: [u8; 32] = Sha256::digest(&tagged).into();
        assert_eq!(reference.as_bytes(), &digest);
        // Known answer (Python's hashlib and a base58 encoder): changing the tag or the hash
        // would change every open order's reference.
        assert_eq!(
            reference.to_string(),
            "EFXzijBBeLQZn2GNnxZTndGfSmQnTLZ5oknBQuPT5UYC"
        );
    }

    #[test]
    fn logos_decode_only_from_image_data_uris() {
        let logo = decode_logo("data:image/png;base64,iVBORw0K").unwrap();
        assert_eq!(logo.content_type, "image/png");
        assert_eq!(&logo.bytes[..4], b"\x89PNG");
        assert!(decode_logo("data:text/html;base64,PGI+").is_none());
        assert!(decode_logo("https://cdn.example/logo.png").is_none());
        assert!(decode_logo("data:image/png,rawtext").is_none());
        assert!(decode_logo("data:image/png;base64,@@@").is_none());
    }
}
