//! The checkout order routes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use wcheckout_app::auth::Caller;
use wcheckout_app::wire::{
    CancelOrderQuery, CreateCheckoutOrderRequest, Envelope, ListCheckoutOrdersRequest,
    OrderInfoQuery, OrderView, PageView, parse_body, parse_body_or_default,
};
use wcheckout_domain::error::Rejection;
use wcheckout_domain::ports::SignatureUse;

use crate::respond::{Api, ApiResult};
use crate::state::AppState;

/// Parses a raw query string; errors name the parameter.
pub fn parse_query<T: DeserializeOwned>(query: Option<String>) -> Result<T, Rejection> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| Rejection::invalid("query string", e))
}

/// CreateCheckoutOrder.
#[utoipa::path(
    post,
    path = "/checkout/order/create",
    tag = "order",
    request_body = CreateCheckoutOrderRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The order (an existing one when the same orderNo and content are sent again).", body = Envelope<OrderView>))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    Extension(signature): Extension<SignatureUse>,
    body: Bytes,
) -> ApiResult<OrderView> {
    let request: CreateCheckoutOrderRequest = parse_body(&body)?;
    Ok(Api(state
        .gateway
        .create_order(&caller.app, request, Some(&signature))
        .await?))
}

/// CancelCheckoutOrder.
#[utoipa::path(
    get,
    path = "/checkout/order/cancel",
    tag = "order",
    params(CancelOrderQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The cancelled order.", body = Envelope<OrderView>))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult<OrderView> {
    let query: CancelOrderQuery = parse_query(query)?;
    Ok(Api(state
        .gateway
        .cancel_order(&caller.app, query.order_no.as_deref())
        .await?))
}

/// GetCheckoutOrderInfo.
#[utoipa::path(
    get,
    path = "/checkout/order/info",
    tag = "order",
    params(OrderInfoQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The order.", body = Envelope<OrderView>))
)]
pub async fn info(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult<OrderView> {
    let query: OrderInfoQuery = parse_query(query)?;
    Ok(Api(state
        .gateway
        .order_info(&caller.app, query.order_no.as_deref())
        .await?))
}

/// GetCheckoutOrderList.
#[utoipa::path(
    post,
    path = "/checkout/order/list",
    tag = "order",
    request_body = ListCheckoutOrdersRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "A page of orders, newest first.", body = Envelope<PageView<OrderView>>))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<PageView<OrderView>> {
    let request: ListCheckoutOrdersRequest = parse_body_or_default(&body)?;
    Ok(Api(state.gateway.list_orders(&caller.app, request).await?))
}
