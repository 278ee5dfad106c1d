//! The checkout order object, as GetCheckoutOrderInfo returns it and webhooks carry it.

use serde::Serialize;
use utoipa::ToSchema;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::order::Order;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::Token;

use super::json::JsonNumber;
use crate::events::envelope_event;

/// A checkout order. CreateCheckoutOrder, CancelCheckoutOrder, GetCheckoutOrderInfo, the
/// order list and `CHECKOUT_ORDER_CHANGED` webhooks all carry this same object.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// W Checkout's id.
    #[schema(example = "OR1971467057612247041")]
    pub sysid: String,
    /// The integrator's number.
    pub order_no: String,
    /// Price in `fiat`, exactly as sent.
    #[schema(value_type = f64, example = 123.45)]
    pub order_amount: JsonNumber,
    /// Pricing currency.
    #[schema(example = "USD")]
    pub fiat: String,
    /// Token amount to pay, rounded up to the token's payment scale.
    #[schema(value_type = f64, example = 124.68)]
    pub paying_amount: JsonNumber,
    /// Token amount received in confirmed transfers.
    #[schema(value_type = f64, example = 0)]
    pub paid_amount: JsonNumber,
    /// Token amount seen in transfers still waiting for confirmations.
    #[schema(value_type = f64, example = 0)]
    pub unconfirmed_amount: JsonNumber,
    /// Confirmations of the latest transfer to the deposit address (0 before any).
    pub confirmations: u64,
    /// Confirmations a transfer needs (`null` when the chain's safe/finalized tag decides).
    pub required_confirmations: Option<u32>,
    /// Token amount refunded so far.
    #[schema(value_type = f64, example = 0)]
    pub refunded_amount: JsonNumber,
    /// Payment token.
    #[schema(example = "ETH_USDT")]
    pub token: String,
    /// The token's contract address.
    pub coin_address: String,
    /// Token units per unit of `fiat`.
    #[schema(value_type = f64, example = 1.01)]
    pub exchange_rate: JsonNumber,
    /// Address to pay into.
    pub deposit_address: String,
    /// Hosted payment page.
    pub payment_url: String,
    /// Seconds left to pay (0 once the order is no longer `PAYING`).
    pub expired_in: i64,
    /// The integrator's customer.
    pub customer_id: String,
    /// The integrator's merchant.
    pub merchant_id: String,
    /// The transfer that completed the payment.
    pub tx_hash: Option<String>,
    /// `PAYING`, `PAID`, `CANCELLED`, `REFUNDING`, `PARTIAL_REFUNDED`, `REFUNDED` or `TIMEOUT`.
    #[schema(example = "PAYING")]
    pub order_status: String,
    /// Created, UTC.
    #[schema(example = "2025-09-26T14:49:09.294114")]
    pub created_time: String,
    /// Last changed, UTC.
    #[schema(example = "2025-09-26T14:49:09.294114")]
    pub updated_time: String,
    /// An operator alert (a credited transfer undone by a chain reorganisation); absent normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// How far the payment of an order has come on chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaymentProgress {
    /// Sum of transfers not final yet.
    pub unconfirmed: TokenAmount,
    /// Confirmations of the latest transfer.
    pub confirmations: u64,
    /// Confirmations required, when counted in blocks.
    pub required_confirmations: Option<u32>,
}

impl OrderView {
    /// The view of `order` at `now`; `token` is its token's configuration.
    pub fn new(
        order: &Order,
        token: &Token,
        progress: &PaymentProgress,
        public_url: &str,
        now: Timestamp,
    ) -> OrderView {
        let amount = |a: TokenAmount| JsonNumber::new(&a.to_decimal(token.decimals).normalized());
        let paying = order.paying_amount.to_decimal(token.decimals);
        let paying = paying.with_min_scale(u32::from(token.payment_scale));
        OrderView {
            sysid: order.sysid.clone(),
            order_no: order.order_no.to_string(),
            order_amount: JsonNumber::new(&order.order_amount),
            fiat: order.fiat.clone(),
            paying_amount: JsonNumber::new(&paying),
            paid_amount: amount(order.paid_amount),
            unconfirmed_amount: amount(progress.unconfirmed),
            confirmations: progress.confirmations,
            required_confirmations: progress.required_confirmations,
            refunded_amount: amount(order.refunded_amount),
            token: order.token.to_string(),
            coin_address: token.contract.to_string(),
            exchange_rate: JsonNumber::new(&order.exchange_rate.normalized()),
            deposit_address: order.deposit_address.to_string(),
            payment_url: format!("{public_url}/pay/{}", order.page_token),
            expired_in: order.expired_in(now),
            customer_id: order.customer_id.clone(),
            merchant_id: order.merchant_id.clone(),
            tx_hash: order.tx_hash.clone(),
            order_status: order.status.to_string(),
            created_time: order.created_at.to_iso_micros(),
            updated_time: order.updated_at.to_iso_micros(),
            alert: order.alert.clone(),
        }
    }
}

/// The `CHECKOUT_ORDER_CHANGED` event announcing `order` as it is now.
pub fn order_changed_event(view: &OrderView, order: &Order, now: Timestamp) -> OutboxEvent {
    envelope_event(
        EventType::CheckoutOrderChanged,
        &order.app_id,
        format!("order:{}", order.sysid),
        view,
        now,
    )
}
