//! Request bodies and query strings.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::json::JsonPrice;

/// CreateCheckoutOrder body.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CreateCheckoutOrderRequest {
    /// The integrator's unique order number, `^[A-Za-z0-9_-]{1,64}$`.
    #[schema(example = "1759988038609")]
    pub order_no: String,
    /// The payer's id in the integrator's system.
    #[schema(example = "6")]
    pub customer_id: String,
    /// The receiving merchant's id in the integrator's system (default `default`).
    #[serde(default)]
    #[schema(example = "1")]
    pub merchant_id: Option<String>,
    /// Price in USD: a number (or numeric string) above 0, at most 1e12, at most 18 decimals.
    /// A number with more than 15 significant digits is priced rounded to 15 (float noise).
    #[schema(value_type = f64, example = 0.5)]
    pub order_amount: JsonPrice,
    /// Payment token, `{CHAIN}_{ASSET}`.
    #[schema(example = "ETH_USDT")]
    pub token: String,
    /// Pricing currency; only `USD`.
    #[serde(default)]
    #[schema(example = "USD")]
    pub fiat: Option<String>,
    /// Payment window in seconds, 60 to 604800 (default 1800; `0` or `null` mean the default).
    #[serde(default)]
    #[schema(example = 2000)]
    pub expired_in: Option<i64>,
    /// Where the hosted page returns a desktop payer after payment.
    #[serde(default)]
    pub pc_callback_url: Option<String>,
    /// Where the hosted page returns an in-app payer after payment.
    #[serde(default)]
    pub app_callback_url: Option<String>,
}

/// A time filter: epoch milliseconds, `yyyy-MM-dd HH:mm:ss` or ISO 8601 (UTC).
#[derive(Deserialize, ToSchema, Debug, Clone)]
#[serde(untagged)]
pub enum TimeInput {
    /// Epoch milliseconds.
    Millis(i64),
    /// A formatted time.
    Text(String),
}

/// GetCheckoutOrderList body. `pageNum`/`pageSize` (aliases `page`/`size`) default to 1/10.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListCheckoutOrdersRequest {
    /// Page number from 1.
    #[serde(default, alias = "page")]
    pub page_num: Option<u32>,
    /// Rows per page, 1 to 100.
    #[serde(default, alias = "size")]
    pub page_size: Option<u32>,
    /// Exact order number.
    #[serde(default)]
    pub order_no: Option<String>,
    /// Exact merchant id.
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// Exact customer id.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Exact status (`PAYING`, `PAID`, ...).
    #[serde(default)]
    pub order_status: Option<String>,
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

/// Query of GetCheckoutOrderInfo.
#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OrderInfoQuery {
    /// The integrator's order number.
    pub order_no: Option<String>,
}

/// Query of CancelCheckoutOrder.
pub type CancelOrderQuery = OrderInfoQuery;

/// Token endpoint parameters, from the query string, a form or a JSON body. Both the
/// snake_case names of the OAuth form and the camelCase names of the JSON shape are accepted.
#[derive(Deserialize, ToSchema, IntoParams, Debug, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct TokenRequestBody {
    /// `client_credentials` or `refresh_token` (`password`, with apiKey/apiSecret, is accepted
    /// as client credentials).
    #[serde(default, alias = "grantType")]
    pub grant_type: Option<String>,
    /// The app's apiKey.
    #[serde(default, alias = "apiKey")]
    pub api_key: Option<String>,
    /// The app's apiSecret.
    #[serde(default, alias = "apiSecret")]
    pub api_secret: Option<String>,
    /// A refresh token, for `refresh_token`.
    #[serde(default, alias = "refreshToken")]
    pub refresh_token: Option<String>,
}

impl TokenRequestBody {
    /// Fields of `self`, completed by those of `other` where `self` has none.
    pub fn or(self, other: TokenRequestBody) -> TokenRequestBody {
        TokenRequestBody {
            grant_type: self.grant_type.or(other.grant_type),
            api_key: self.api_key.or(other.api_key),
            api_secret: self.api_secret.or(other.api_secret),
            refresh_token: self.refresh_token.or(other.refresh_token),
        }
    }
}
