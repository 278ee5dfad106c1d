//! An async W Checkout API client: token management, request signing, response verification.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Mutex;

use crate::routes;
use crate::signature::{self, SignedParts};

/// An app's three credentials.
#[derive(Clone)]
pub struct Credentials {
    /// Public key for the token endpoint.
    pub api_key: String,
    /// Secret for the token endpoint.
    pub api_secret: String,
    /// HMAC key for request, response and webhook signatures.
    pub sign_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// Why a call failed before a W Checkout envelope came back.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The token endpoint refused the credentials.
    #[error("token endpoint answered {retcode}: {retmsg}")]
    Token {
        /// `retcode`.
        retcode: String,
        /// `retmsg`.
        retmsg: String,
    },
    /// The response was not JSON.
    #[error("response is not JSON: {0}")]
    NotJson(String),
}

/// A response with its envelope and signature check.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Raw body.
    pub body: String,
    /// Parsed body (`Value::Null` when not JSON).
    pub json: Value,
    /// `Some(true)` when `SIGNATURE` verified, `Some(false)` when it did not, `None` when absent.
    pub signature_valid: Option<bool>,
}

impl ApiResponse {
    /// `retcode` as a string.
    pub fn retcode(&self) -> &str {
        self.json
            .get("retcode")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `retdata`.
    pub fn retdata(&self) -> &Value {
        self.json.get("retdata").unwrap_or(&Value::Null)
    }

    /// `retmsg`.
    pub fn retmsg(&self) -> &str {
        self.json
            .get("retmsg")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

struct CachedToken {
    access_token: String,
    refresh_token: String,
    expires_at: Instant,
}

/// A client for one app.
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    token: Mutex<Option<CachedToken>>,
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl Client {
    /// A client for `base_url` (`http://127.0.0.1:8080`).
    pub fn new(base_url: &str, credentials: Credentials) -> Client {
        Client {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            credentials,
            token: Mutex::new(None),
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A valid access token, fetched or refreshed when it has less than 5 minutes left.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let mut cached = self.token.lock().await;
        let margin = Duration::from_secs(300);
        if let Some(token) = cached
            .as_ref()
            .filter(|t| t.expires_at > Instant::now() + margin)
        {
            return Ok(token.access_token.clone());
        }
        let refresh = cached.as_ref().map(|t| t.refresh_token.clone());
        let fresh = match refresh {
            Some(refresh_token) => match self.refresh(&refresh_token).await {
                Ok(token) => token,
                Err(_) => self.client_credentials().await?,
            },
            None => self.client_credentials().await?,
        };
        let access = fresh.access_token.clone();
        *cached = Some(fresh);
        Ok(access)
    }

    async fn client_credentials(&self) -> Result<CachedToken, ClientError> {
        let query = [
            ("grant_type", "client_credentials"),
            ("api_key", self.credentials.api_key.as_str()),
            ("api_secret", self.credentials.api_secret.as_str()),
        ];
        self.token_request(&query).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<CachedToken, ClientError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, query: &[(&str, &str)]) -> Result<CachedToken, ClientError> {
        let url = format!("{}{}", self.base_url, routes::TOKEN);
        let response = self.http.post(url).query(query).send().await?;
        let json: Value = response.json().await?;
        let field = |name: &str| {
            json.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        if field("retcode") != "200" {
            return Err(ClientError::Token {
                retcode: field("retcode"),
                retmsg: field("retmsg"),
            });
        }
        let data = &json["retdata"];
        let text = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let expires_in = data.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
        Ok(CachedToken {
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            expires_at: Instant::now() + Duration::from_secs(expires_in),
        })
    }

    /// CreateCheckoutOrder.
    pub async fn create_order(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::CREATE_ORDER, &body.to_string()).await
    }

    /// QueryCheckoutOrder.
    pub async fn order_info(&self, order_no: &str) -> Result<ApiResponse, ClientError> {
        self.get(&routes::with_query(routes::ORDER_INFO, "orderNo", order_no))
            .await
    }

    /// CancelCheckoutOrder.
    pub async fn cancel_order(&self, order_no: &str) -> Result<ApiResponse, ClientError> {
        self.get(&routes::with_query(
            routes::CANCEL_ORDER,
            "orderNo",
            order_no,
        ))
        .await
    }

    /// ListCheckoutOrders.
    pub async fn list_orders(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::LIST_ORDERS, &body.to_string()).await
    }

    /// ListAbnormalPayments.
    pub async fn list_abnormal_payments(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::LIST_ABNORMAL_PAYMENTS, &body.to_string())
            .await
    }

    /// RefundAbnormalPayment.
    pub async fn refund_abnormal_payment(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::REFUND_ABNORMAL_PAYMENT, &body.to_string())
            .await
    }

    /// CreateRefundOrder.
    pub async fn create_refund(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::CREATE_REFUND, &body.to_string()).await
    }

    /// CancelRefundOrder.
    pub async fn cancel_refund(&self, refund_order_no: &str) -> Result<ApiResponse, ClientError> {
        let path = routes::with_query(routes::CANCEL_REFUND, "refundOrderNo", refund_order_no);
        self.get(&path).await
    }

    /// QueryRefundOrder.
    pub async fn refund_info(&self, refund_order_no: &str) -> Result<ApiResponse, ClientError> {
        let path = routes::with_query(routes::REFUND_INFO, "refundOrderNo", refund_order_no);
        self.get(&path).await
    }

    /// ListRefundOrders.
    pub async fn list_refunds(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::LIST_REFUNDS, &body.to_string()).await
    }

    /// CreateSettlementOrder (on chain).
    pub async fn create_settlement(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::CREATE_SETTLEMENT, &body.to_string())
            .await
    }

    /// CreateFiatSettlementOrder.
    pub async fn create_fiat_settlement(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::CREATE_FIAT_SETTLEMENT, &body.to_string())
            .await
    }

    /// CancelSettlementOrder.
    pub async fn cancel_settlement(&self, settlement_no: &str) -> Result<ApiResponse, ClientError> {
        let path = routes::with_query(
            routes::CANCEL_SETTLEMENT,
            "settlementOrderNo",
            settlement_no,
        );
        self.get(&path).await
    }

    /// QuerySettlementOrder.
    pub async fn settlement_info(&self, settlement_no: &str) -> Result<ApiResponse, ClientError> {
        let path = routes::with_query(routes::SETTLEMENT_INFO, "settlementOrderNo", settlement_no);
        self.get(&path).await
    }

    /// ListSettlementOrders.
    pub async fn list_settlements(&self, body: &Value) -> Result<ApiResponse, ClientError> {
        self.post(routes::LIST_SETTLEMENTS, &body.to_string()).await
    }

    /// POSTs a JSON body (sent as the exact bytes signed).
    pub async fn post(&self, path: &str, body: &str) -> Result<ApiResponse, ClientError> {
        self.call("POST", path, body).await
    }

    /// GETs `path`, which may carry a query string.
    pub async fn get(&self, path_and_query: &str) -> Result<ApiResponse, ClientError> {
        self.call("GET", path_and_query, "").await
    }

    /// Sends a signed, authenticated request and checks the response signature.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> Result<ApiResponse, ClientError> {
        let token = self.access_token().await?;
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let timestamp = now_ms().to_string();
        let parts = SignedParts {
            method,
            path,
            query,
            body: body.as_bytes(),
        };
        let sign_key = self.credentials.sign_key.as_bytes();
        let signature = signature::sign_request(sign_key, &parts, &timestamp);
        let method_value =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self
            .http
            .request(method_value, format!("{}{}", self.base_url, path_and_query))
            .bearer_auth(token)
            .header("SIGNATURE", signature)
            .header("TIMESTAMP", &timestamp);
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (resp_sig, resp_ts) = (header("SIGNATURE"), header("TIMESTAMP"));
        let body = response.text().await?;
        let signature_valid = resp_sig.zip(resp_ts).map(|(sig, ts)| {
            let parts = SignedParts {
                method,
                path,
                query,
                body: body.as_bytes(),
            };
            signature::verify_request(sign_key, &parts, &ts, &sig)
        });
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(ApiResponse {
            status,
            body,
            json,
            signature_valid,
        })
    }
}
