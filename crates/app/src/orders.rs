//! Checkout order use cases: create (idempotent on `orderNo`), cancel, info, list.

use sha2::{Digest, Sha256};
use wcheckout_domain::app::App;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::{
    DEFAULT_MERCHANT_ID, IntegratorNo, MAX_EXTERNAL_ID_LEN, SysidKind, compose_sysid,
};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{self, Order, OrderEvent, OrderStatus};
use wcheckout_domain::ports::{
    ChangeSet, OrderFilter, OrderInsert, OrderWrite, PageRequest, RateError, SignatureUse,
};
use wcheckout_domain::time::Timestamp;

use crate::auth::replayed;
use crate::error::{ChangeError, ServiceError, retry_on_conflict};
use crate::gateway::{Gateway, payment_progress};
use crate::secrets::{random_token, sysid_suffix};
use crate::wire::{
    CreateCheckoutOrderRequest, ListCheckoutOrdersRequest, OrderView, PageView, TimeInput,
    order_changed_event,
};

/// A creation request after validation.
struct OrderRequest {
    order_no: IntegratorNo,
    customer_id: String,
    merchant_id: String,
    /// `orderAmount` exactly as sent, kept and echoed.
    order_amount: Decimal,
    /// What is priced: the amount without float noise ([`crate::wire::JsonPrice::priced`]).
    priced_amount: Decimal,
    token: String,
    fiat: String,
    expired_in: i64,
    pc_callback_url: Option<String>,
    app_callback_url: Option<String>,
}

impl OrderRequest {
    fn parse(body: CreateCheckoutOrderRequest) -> Result<OrderRequest, Rejection> {
        let order_no = integrator_no("orderNo", Some(&body.order_no))?;
        let customer_id = external_id("customerId", Some(body.customer_id))?
            .ok_or_else(|| Rejection::invalid("customerId", "is required"))?;
        let merchant_id = external_id("merchantId", body.merchant_id)?
            .unwrap_or_else(|| DEFAULT_MERCHANT_ID.to_owned());
        // The limits apply to the priced amount: float noise does not push an amount over them.
        let priced_amount = body
            .order_amount
            .priced()
            .map_err(|_| Rejection::invalid("orderAmount", "must not exceed 1000000000000"))?;
        order::check_order_amount(&priced_amount)?;
        let fiat = match non_empty(body.fiat).as_deref() {
            None | Some("USD") => "USD".to_owned(),
            Some(_) => return Err(Rejection::invalid("fiat", "only USD is supported")),
        };
        let token = non_empty(Some(body.token))
            .ok_or_else(|| Rejection::invalid("token", "is required"))?;
        Ok(OrderRequest {
            order_no,
            customer_id,
            merchant_id,
            order_amount: body.order_amount.sent,
            priced_amount,
            token,
            fiat,
            expired_in: order::resolve_expired_in(body.expired_in)?,
            pc_callback_url: callback_url("pcCallbackUrl", body.pc_callback_url)?,
            app_callback_url: callback_url("appCallbackUrl", body.app_callback_url)?,
        })
    }

    /// A hash of the content that must match when the same number is sent again.
    fn fingerprint(&self) -> String {
        let parts = [
            self.customer_id.as_str(),
            self.merchant_id.as_str(),
            &self.order_amount.normalized().to_string(),
            self.token.as_str(),
            self.fiat.as_str(),
            &self.expired_in.to_string(),
            self.pc_callback_url.as_deref().unwrap_or(""),
            self.app_callback_url.as_deref().unwrap_or(""),
        ];
        content_fingerprint(&parts)
    }
}

/// A hash of a request's content, compared when the same integrator number is sent again.
pub(crate) fn content_fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// An optional string field; sent empty, it means absent.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Validates an integrator number: absent is `00001`, malformed is `00008`.
pub(crate) fn integrator_no(field: &str, value: Option<&str>) -> Result<IntegratorNo, Rejection> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Rejection::invalid(field, "is required"))?;
    IntegratorNo::parse(value).ok_or_else(|| {
        Rejection::new(
            ErrorCode::InvalidNumber,
            format!("{field}: must match ^[A-Za-z0-9_-]{{1,64}}$"),
        )
    })
}

pub(crate) fn external_id(field: &str, value: Option<String>) -> Result<Option<String>, Rejection> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_EXTERNAL_ID_LEN {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {MAX_EXTERNAL_ID_LEN} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Rejection::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value))
}

fn callback_url(field: &str, value: Option<String>) -> Result<Option<String>, Rejection> {
    let Some(url) = non_empty(value) else {
        return Ok(None);
    };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Rejection::invalid(
            field,
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(Some(url))
}

impl Gateway {
    /// CreateCheckoutOrder. Sending the same `orderNo` again with the same content returns the
    /// existing order; with different content it is refused with `00409`. The request's
    /// signature, when it came signed, is recorded in the order's own transaction (one durable
    /// commit per order); a replayed signature creates nothing.
    pub async fn create_order(
        &self,
        app: &App,
        body: CreateCheckoutOrderRequest,
        signature: Option<&SignatureUse>,
    ) -> Result<OrderView, ServiceError> {
        let request = OrderRequest::parse(body)?;
        let (token, chain) = self.tokens.payable(&request.token)?;
        let fingerprint = request.fingerprint();
        // No lookup of the number first: the insert finds an existing order itself, and a
        // retry costs at most an unused deposit address index.
        let rate =
            self.rates
                .rate(&token.id, &request.fiat)
                .await
                .map_err(|error| match error {
                    RateError::FiatNotOffered(fiat) => ServiceError::from(Rejection::invalid(
                        "fiat",
                        format!("{fiat} is not offered (only USD is supported)"),
                    )),
                    RateError::NoRate(_) | RateError::Unavailable(_) => {
                        ServiceError::Unavailable(error.to_string())
                    }
                })?;
        let scale = u32::from(token.payment_scale);
        let paying = request
            .priced_amount
            .mul_round_up(&rate, scale)
            .ok()
            .and_then(|amount| {
                TokenAmount::from_decimal(&amount, token.decimals).filter(|a| !a.is_zero())
            });
        let paying = paying.ok_or_else(|| {
            Rejection::new(
                ErrorCode::AmountRule,
                "orderAmount: too large to pay in this token",
            )
        })?;
        let (address_index, deposit_address) = self.addresses.next(chain.family).await?;
        let now = self.clock.now();
        let order = Order {
            sysid: compose_sysid(SysidKind::Order, now, sysid_suffix()),
            app_id: app.id.clone(),
            order_no: request.order_no,
            merchant_id: request.merchant_id,
            customer_id: request.customer_id,
            token: token.id.clone(),
            fiat: request.fiat,
            order_amount: request.order_amount,
            exchange_rate: rate,
            paying_amount: paying,
            min_accepted_amount: app.tolerance.min_accepted(paying, token.decimals),
            paid_amount: TokenAmount::ZERO,
            refunded_amount: TokenAmount::ZERO,
            deposit_address,
            address_index,
            status: OrderStatus::Paying,
            tx_hash: None,
            expires_at: now.plus_seconds(request.expired_in),
            pc_callback_url: request.pc_callback_url,
            app_callback_url: request.app_callback_url,
            page_token: random_token(32),
            request_fingerprint: fingerprint.clone(),
            alert: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self.store.insert_order(&order, signature).await? {
            OrderInsert::New(order) => {
                metrics::counter!("wcheckout_orders_created_total").increment(1);
                // A new order has no transfers yet: no need to look them up.
                let progress = payment_progress(std::iter::empty(), None, chain);
                self.order_view_with(&order, &progress)
            }
            OrderInsert::Existing(existing) => self.same_order(existing, &fingerprint).await,
            OrderInsert::Replayed => Err(replayed()),
        }
    }

    async fn same_order(
        &self,
        existing: Order,
        fingerprint: &str,
    ) -> Result<OrderView, ServiceError> {
        if existing.request_fingerprint != fingerprint {
            return Err(ServiceError::rejected(
                ErrorCode::Conflict,
                format!(
                    "orderNo '{}' already exists with different content",
                    existing.order_no
                ),
            ));
        }
        self.order_view(&existing).await
    }

    async fn app_order(&self, app: &App, order_no: Option<&str>) -> Result<Order, ServiceError> {
        let no = integrator_no("orderNo", order_no)?;
        let order = self.store.order_by_no(&app.id, &no).await?;
        order.ok_or_else(|| Rejection::not_found("order", no.as_str()).into())
    }

    /// GetCheckoutOrderInfo.
    pub async fn order_info(
        &self,
        app: &App,
        order_no: Option<&str>,
    ) -> Result<OrderView, ServiceError> {
        let order = self.app_order(app, order_no).await?;
        self.order_view(&order).await
    }

    /// CancelCheckoutOrder: only a `PAYING` order can be cancelled; cancelling a cancelled
    /// order again answers with it unchanged, so a retried call is harmless.
    pub async fn cancel_order(
        &self,
        app: &App,
        order_no: Option<&str>,
    ) -> Result<OrderView, ServiceError> {
        let order = retry_on_conflict(|| async {
            let order = self.app_order(app, order_no).await?;
            if order.status == OrderStatus::Cancelled {
                return Ok(order);
            }
            self.apply_order_event(&order, OrderEvent::Cancel).await
        })
        .await?;
        self.order_view(&order).await
    }

    /// Moves an order by one event and records `CHECKOUT_ORDER_CHANGED`, atomically.
    pub(crate) async fn apply_order_event(
        &self,
        order: &Order,
        event: OrderEvent,
    ) -> Result<Order, ChangeError> {
        let now = self.clock.now();
        let changed = order.transition(event, now)?;
        let view = self.order_view(&changed).await?;
        let changes = ChangeSet {
            orders: vec![OrderWrite {
                expected_version: order.version,
                order: changed.clone(),
            }],
            events: vec![order_changed_event(&view, &changed, now)],
            ..ChangeSet::default()
        };
        self.commit(changes).await?;
        metrics::counter!("wcheckout_order_transitions_total", "to" => changed.status.as_str())
            .increment(1);
        Ok(changed)
    }

    /// GetCheckoutOrderList.
    pub async fn list_orders(
        &self,
        app: &App,
        request: ListCheckoutOrdersRequest,
    ) -> Result<PageView<OrderView>, ServiceError> {
        let page = page_request(request.page_num, request.page_size)?;
        let status = match non_empty(request.order_status) {
            Some(text) => Some(OrderStatus::parse(&text).ok_or_else(|| {
                Rejection::invalid("orderStatus", format!("'{text}' is not an order status"))
            })?),
            None => None,
        };
        let filter = OrderFilter {
            order_no: non_empty(request.order_no),
            merchant_id: non_empty(request.merchant_id),
            customer_id: non_empty(request.customer_id),
            status,
            token: non_empty(request.token),
            created_from: time_filter("startTime", request.start_time)?,
            created_to: time_filter("endTime", request.end_time)?,
        };
        let found = self.store.list_orders(&app.id, &filter, page).await?;
        let records = self.order_views(&found.records).await?;
        Ok(PageView {
            records,
            total: found.total,
            page_no: page.page,
            page_size: page.size,
        })
    }
}

/// `pageNum`/`pageSize` with defaults 1/10 and a maximum page size of 100.
pub(crate) fn page_request(page: Option<u32>, size: Option<u32>) -> Result<PageRequest, Rejection> {
    let page = page.unwrap_or(1);
    let size = size.unwrap_or(10);
    if page == 0 {
        return Err(Rejection::invalid("pageNum", "must be at least 1"));
    }
    if !(1..=100).contains(&size) {
        return Err(Rejection::invalid("pageSize", "must be between 1 and 100"));
    }
    Ok(PageRequest { page, size })
}

/// A time filter field.
pub(crate) fn time_filter(
    field: &str,
    value: Option<TimeInput>,
) -> Result<Option<Timestamp>, Rejection> {
    match value {
        None => Ok(None),
        Some(TimeInput::Millis(ms)) => Ok(Some(Timestamp::from_millis(ms))),
        Some(TimeInput::Text(text)) if text.is_empty() => Ok(None),
        Some(TimeInput::Text(text)) => {
            Timestamp::parse_flexible(&text).map(Some).ok_or_else(|| {
                Rejection::invalid(
                    field,
                    "must be epoch milliseconds, 'yyyy-MM-dd HH:mm:ss' or ISO 8601",
                )
            })
        }
    }
}
