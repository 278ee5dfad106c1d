//! Refund and settlement objects and requests. Amounts are strings here, as in the W Checkout
//! settlement example (`"amount": "1000.233567"`); requests accept numbers or numeric strings.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::refund::{Refund, RefundSource};
use wcheckout_domain::settlement::{Destination, Settlement};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::Token;

use super::json::JsonDecimal;
use super::requests::TimeInput;
use crate::events::envelope_event;

fn amount_text(amount: TokenAmount, token: &Token) -> String {
    amount
        .to_decimal(token.decimals)
        .with_min_scale(u32::from(token.payment_scale))
        .to_string()
}

/// A refund order.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// W Checkout's id (`RF…`).
    pub sysid: String,
    /// The integrator's refund number.
    pub refund_order_no: String,
    /// The refunded order.
    pub order_no: String,
    /// The refunded abnormal payment, if that is what it refunds.
    pub abnormal_payment_no: Option<String>,
    /// Token.
    #[schema(example = "ETH_USDT")]
    pub token: String,
    /// Amount.
    #[schema(example = "12.50")]
    pub amount: String,
    /// Destination address.
    pub address: String,
    /// `PENDING_REFUND`, `REFUNDING`, `REFUNDED`, `CANCELLED` or `FAILED`.
    #[schema(example = "PENDING_REFUND")]
    pub refund_status: String,
    /// The transaction, once signed.
    pub tx_hash: Option<String>,
    /// The integrator's note.
    pub remark: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Created, UTC.
    pub created_time: String,
    /// Last changed, UTC.
    pub updated_time: String,
}

impl RefundView {
    /// The view of a refund of `token`.
    pub fn new(refund: &Refund, token: &Token) -> RefundView {
        RefundView {
            sysid: refund.sysid.clone(),
            refund_order_no: refund.refund_order_no.to_string(),
            order_no: refund.order_no.to_string(),
            abnormal_payment_no: match &refund.source {
                RefundSource::Order => None,
                RefundSource::AbnormalPayment(no) => Some(no.clone()),
            },
            token: refund.token.to_string(),
            amount: amount_text(refund.amount, token),
            address: refund.address.to_string(),
            refund_status: refund.status.to_string(),
            tx_hash: refund.tx_hash.clone(),
            remark: refund.remark.clone(),
            failure_reason: refund.failure_reason.clone(),
            created_time: refund.created_at.to_iso_micros(),
            updated_time: refund.updated_at.to_iso_micros(),
        }
    }
}

/// The `REFUND_ORDER_CHANGED` event announcing a refund as it is now.
pub fn refund_changed_event(view: &RefundView, refund: &Refund, now: Timestamp) -> OutboxEvent {
    envelope_event(
        EventType::RefundOrderChanged,
        &refund.app_id,
        format!("refund:{}", refund.sysid),
        view,
        now,
    )
}

/// A settlement order.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SettlementView {
    /// W Checkout's id (`ST…`).
    pub sysid: String,
    /// The integrator's settlement number.
    pub settlement_order_no: String,
    /// The merchant settled.
    pub merchant_id: String,
    /// Token.
    pub token: String,
    /// Amount.
    #[schema(example = "1000.233567")]
    pub amount: String,
    /// Destination address (on-chain settlements).
    pub address: Option<String>,
    /// Fiat currency (fiat settlements).
    pub fiat: Option<String>,
    /// Orders it covers, as given.
    pub order_nos: Vec<String>,
    /// `PENDING_SETTLEMENT`, `SETTLING`, `SETTLED`, `FAILED`, `REJECTED` or `CANCELLED`.
    #[schema(example = "PENDING_SETTLEMENT")]
    pub settlement_status: String,
    /// The transaction, once signed (on chain).
    pub tx_hash: Option<String>,
    /// The bank's reference, once paid (fiat).
    pub bank_reference: Option<String>,
    /// Why it failed or was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Created, UTC.
    pub created_time: String,
    /// Last changed, UTC.
    pub updated_time: String,
}

impl SettlementView {
    /// The view of a settlement of `token`.
    pub fn new(settlement: &Settlement, token: &Token) -> SettlementView {
        let (address, fiat) = match &settlement.destination {
            Destination::OnChain(address) => (Some(address.to_string()), None),
            Destination::Bank { fiat, .. } => (None, Some(fiat.clone())),
        };
        SettlementView {
            sysid: settlement.sysid.clone(),
            settlement_order_no: settlement.settlement_order_no.to_string(),
            merchant_id: settlement.merchant_id.clone(),
            token: settlement.token.to_string(),
            amount: amount_text(settlement.amount, token),
            address,
            fiat,
            order_nos: settlement.order_nos.clone(),
            settlement_status: settlement.status.to_string(),
            tx_hash: settlement.tx_hash.clone(),
            bank_reference: settlement.bank_reference.clone(),
            failure_reason: settlement.failure_reason.clone(),
            created_time: settlement.created_at.to_iso_micros(),
            updated_time: settlement.updated_at.to_iso_micros(),
        }
    }
}

/// The `SETTLEMENT_ORDER_CHANGED` event announcing a settlement as it is now.
pub fn settlement_changed_event(
    view: &SettlementView,
    settlement: &Settlement,
    now: Timestamp,
) -> OutboxEvent {
    envelope_event(
        EventType::SettlementOrderChanged,
        &settlement.app_id,
        format!("settlement:{}", settlement.sysid),
        view,
        now,
    )
}

/// CreateRefundOrder body: exactly one of `orderNo` / `abnormalPaymentNo` (or both when the
/// abnormal payment is that order's).
#[derive(Deserialize, ToSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateRefundOrderRequest {
    /// The integrator's unique refund number.
    pub refund_order_no: String,
    /// The paid order to refund.
    #[serde(default)]
    pub order_no: Option<String>,
    /// The abnormal payment to refund.
    #[serde(default)]
    pub abnormal_payment_no: Option<String>,
    /// Amount in whole tokens, at most the token's decimals (default for an abnormal payment:
    /// what is left of it).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "12.5")]
    pub amount: Option<JsonDecimal>,
    /// Destination (default: the address that paid).
    #[serde(default)]
    pub address: Option<String>,
    /// A note.
    #[serde(default)]
    pub remark: Option<String>,
}

/// CreateAbnormalPaymentRefund body: the abnormal payment by `abnormalPaymentNo`, or by the
/// `txHash` of its transfer (with `orderNo`).
#[derive(Deserialize, ToSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateAbnormalPaymentRefundRequest {
    /// The integrator's unique refund number.
    pub refund_order_no: String,
    /// The order the abnormal payment is attached to.
    #[serde(default)]
    pub order_no: Option<String>,
    /// The transfer that made the abnormal payment.
    #[serde(default)]
    pub tx_hash: Option<String>,
    /// The abnormal payment.
    #[serde(default)]
    pub abnormal_payment_no: Option<String>,
    /// The token (checked when given).
    #[serde(default)]
    pub token: Option<String>,
    /// Amount (default: what is left of the abnormal payment).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<JsonDecimal>,
    /// Destination (default: the sender of the abnormal payment).
    #[serde(default)]
    pub address: Option<String>,
    /// A note.
    #[serde(default)]
    pub remark: Option<String>,
}

/// GetRefundOrderList body.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListRefundsRequest {
    /// Page number from 1.
    #[serde(default, alias = "page")]
    pub page_num: Option<u32>,
    /// Rows per page, 1 to 100.
    #[serde(default, alias = "size")]
    pub page_size: Option<u32>,
    /// Exact order number.
    #[serde(default)]
    pub order_no: Option<String>,
    /// Exact status.
    #[serde(default)]
    pub refund_status: Option<String>,
    /// Created at or after.
    #[serde(default)]
    pub start_time: Option<TimeInput>,
    /// Created at or before.
    #[serde(default)]
    pub end_time: Option<TimeInput>,
}

/// CreateSettlementOrder body.
#[derive(Deserialize, ToSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateSettlementOrderRequest {
    /// The integrator's unique settlement number.
    pub settlement_order_no: String,
    /// The merchant whose balance is settled (default `default`).
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// Token.
    pub token: String,
    /// Destination address.
    pub address: String,
    /// Amount in whole tokens (number or string), at most the token's decimals.
    #[schema(value_type = String, example = "1000.233567")]
    pub amount: JsonDecimal,
    /// Orders covered (informational).
    #[serde(default)]
    pub order_nos: Option<Vec<String>>,
}

/// A bank account for a fiat settlement.
#[derive(Deserialize, Serialize, ToSchema, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BankAccount {
    /// Account holder.
    pub account_name: String,
    /// Account number or IBAN.
    pub account_number: String,
    /// Bank name.
    pub bank_name: String,
    /// SWIFT/BIC.
    #[serde(default)]
    pub swift_code: Option<String>,
    /// Routing number (US).
    #[serde(default)]
    pub routing_number: Option<String>,
    /// Bank country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<String>,
}

/// CreateFiatSettlementOrder body: the bank details, or the id of an account the operator
/// registered for the app.
#[derive(Deserialize, ToSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateFiatSettlementOrderRequest {
    /// The integrator's unique settlement number.
    pub settlement_order_no: String,
    /// The merchant (default `default`).
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// The stablecoin sold.
    pub token: String,
    /// Amount in whole tokens.
    #[schema(value_type = String)]
    pub amount: JsonDecimal,
    /// Fiat currency; only `USD`.
    #[serde(default)]
    pub fiat: Option<String>,
    /// Bank details.
    #[serde(default)]
    pub bank_account: Option<BankAccount>,
    /// Or a registered account's id.
    #[serde(default)]
    pub bank_account_id: Option<String>,
    /// Orders covered (informational).
    #[serde(default)]
    pub order_nos: Option<Vec<String>>,
}

/// GetSettlementOrderList body.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListSettlementsRequest {
    /// Page number from 1.
    #[serde(default, alias = "page")]
    pub page_num: Option<u32>,
    /// Rows per page, 1 to 100.
    #[serde(default, alias = "size")]
    pub page_size: Option<u32>,
    /// Exact merchant.
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// Exact token.
    #[serde(default)]
    pub token: Option<String>,
    /// Exact status.
    #[serde(default)]
    pub settlement_status: Option<String>,
    /// Created at or after.
    #[serde(default)]
    pub start_time: Option<TimeInput>,
    /// Created at or before.
    #[serde(default)]
    pub end_time: Option<TimeInput>,
}

/// Query of GetRefundOrderInfo and CancelRefundOrder.
#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RefundQuery {
    /// The integrator's refund number.
    pub refund_order_no: Option<String>,
}

/// Query of GetSettlementOrder and CancelSettlementOrder.
#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SettlementQuery {
    /// The integrator's settlement number.
    pub settlement_order_no: Option<String>,
}
