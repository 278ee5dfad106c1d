//! The W Checkout JSON contract: request bodies, response objects, the envelope and webhook
//! bodies. Field names and shapes are W Checkout's, as docs/api.md states them; amounts are
//! emitted from exact decimals, never through a float.

mod abnormal;
mod json;
mod money;
mod orders;
mod requests;

pub use abnormal::{AbnormalPaymentView, ListAbnormalPaymentsRequest, abnormal_payment_event};
pub use json::{
    Envelope, JsonDecimal, JsonNumber, JsonPrice, PageView, parse_body, parse_body_or_default,
};
pub use money::{
    BankAccount, CreateAbnormalPaymentRefundRequest, CreateFiatSettlementOrderRequest,
    CreateRefundOrderRequest, CreateSettlementOrderRequest, ListRefundsRequest,
    ListSettlementsRequest, RefundQuery, RefundView, SettlementQuery, SettlementView,
    refund_changed_event, settlement_changed_event,
};
pub use orders::{OrderView, PaymentProgress, order_changed_event};
pub use requests::{
    CancelOrderQuery, CreateCheckoutOrderRequest, ListCheckoutOrdersRequest, OrderInfoQuery,
    TimeInput, TokenRequestBody,
};
