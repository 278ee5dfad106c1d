//! The W Checkout JSON contract: request bodies, response objects, the envelope and webhook
//! bodies. Field names and shapes follow `shared/spec/wcheckout-api.md`; amounts are emitted
//! from exact decimals, never through a float.

mod json;
mod orders;
mod requests;

pub use json::{Envelope, JsonDecimal, JsonNumber, PageView, parse_body};
pub use orders::{OrderView, order_changed_event};
pub use requests::{
    CancelOrderQuery, CreateCheckoutOrderRequest, ListCheckoutOrdersRequest, OrderInfoQuery,
    TimeInput, TokenRequestBody,
};
