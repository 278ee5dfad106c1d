//! The abnormal payment object, as GetAbnormalPaymentList returns it and `ABNORMAL_PAYMENT`
//! webhooks carry it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wcheckout_domain::events::{EventType, OutboxEvent};
use wcheckout_domain::payment::AbnormalPayment;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::Token;

use super::requests::TimeInput;
use crate::events::envelope_event;

/// An abnormal payment. Amounts are strings, as in the W Checkout webhook example.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AbnormalPaymentView {
    /// Abnormal payment id (`AP…`).
    pub abnormal_payment_no: String,
    /// The related order.
    pub order_no: String,
    /// Token received.
    #[schema(example = "ETH_USDT")]
    pub token: String,
    /// Abnormal amount received.
    #[schema(example = "818.89")]
    pub amount: String,
    /// The transfer it comes from.
    pub hash: Option<String>,
    /// Amount still unresolved (refundable).
    #[schema(example = "739.00")]
    pub pending_amount: String,
    /// `OVER_PAID`, `UNDER_PAID` or `LATE_PAYMENT`.
    #[serde(rename = "type")]
    #[schema(example = "OVER_PAID")]
    pub kind: String,
    /// `PENDING` or `HANDLED`.
    #[schema(example = "PENDING")]
    pub status: String,
    /// Created, UTC, `yyyy-MM-dd HH:mm:ss`.
    #[schema(example = "2025-12-23 12:56:47")]
    pub created_time: String,
    /// Last changed, UTC, `yyyy-MM-dd HH:mm:ss`.
    #[schema(example = "2025-12-23 12:56:47")]
    pub updated_time: String,
}

impl AbnormalPaymentView {
    /// The view of a payment of `token`.
    pub fn new(payment: &AbnormalPayment, token: &Token) -> AbnormalPaymentView {
        let amount = |a: wcheckout_domain::money::TokenAmount| {
            a.to_decimal(token.decimals)
                .with_min_scale(u32::from(token.payment_scale))
                .to_string()
        };
        AbnormalPaymentView {
            abnormal_payment_no: payment.abnormal_payment_no.clone(),
            order_no: payment.order_no.to_string(),
            token: payment.token.to_string(),
            amount: amount(payment.amount),
            hash: payment.tx_hash.clone(),
            pending_amount: amount(payment.pending_amount),
            kind: payment.kind.as_str().to_owned(),
            status: payment.status.as_str().to_owned(),
            created_time: payment.created_at.to_spaced_seconds(),
            updated_time: payment.updated_at.to_spaced_seconds(),
        }
    }
}

/// The `ABNORMAL_PAYMENT` event announcing `payment` as it is now.
pub fn abnormal_payment_event(
    view: &AbnormalPaymentView,
    payment: &AbnormalPayment,
    now: Timestamp,
) -> OutboxEvent {
    envelope_event(
        EventType::AbnormalPayment,
        &payment.app_id,
        format!("abnormal:{}", payment.abnormal_payment_no),
        view,
        now,
    )
}

/// GetAbnormalPaymentList body.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListAbnormalPaymentsRequest {
    /// Page number from 1.
    #[serde(default, alias = "page")]
    pub page_num: Option<u32>,
    /// Rows per page, 1 to 100.
    #[serde(default, alias = "size")]
    pub page_size: Option<u32>,
    /// Exact order number.
    #[serde(default)]
    pub order_no: Option<String>,
    /// `OVER_PAID`, `UNDER_PAID` or `LATE_PAYMENT`.
    #[serde(default, rename = "type", alias = "abnormalType")]
    pub kind: Option<String>,
    /// `PENDING` or `HANDLED`.
    #[serde(default, alias = "abnormalStatus")]
    pub status: Option<String>,
    /// Exact token id.
    #[serde(default)]
    pub token: Option<String>,
    /// Created at or after.
    #[serde(default)]
    pub start_time: Option<TimeInput>,
    /// Created at or before.
    #[serde(default)]
    pub end_time: Option<TimeInput>,
}
