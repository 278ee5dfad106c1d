//! The settlement routes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use wcheckout_app::auth::Caller;
use wcheckout_app::wire::{
    CreateFiatSettlementOrderRequest, CreateSettlementOrderRequest, Envelope,
    ListSettlementsRequest, PageView, SettlementQuery, SettlementView, parse_body,
    parse_body_or_default,
};

use crate::orders::parse_query;
use crate::respond::{Api, ApiResult};
use crate::state::AppState;

/// CreateSettlementOrder.
#[utoipa::path(
    post,
    path = "/checkout/settlement/create",
    tag = "settlement",
    request_body = CreateSettlementOrderRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The settlement, `PENDING_SETTLEMENT`; `00422` when the merchant's available balance does not cover it.", body = Envelope<SettlementView>))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<SettlementView> {
    let request: CreateSettlementOrderRequest = parse_body(&body)?;
    Ok(Api(state
        .gateway
        .create_settlement(&caller.app, request)
        .await?))
}

/// CreateFiatSettlementOrder.
#[utoipa::path(
    post,
    path = "/checkout/settlement/fiat/create",
    tag = "settlement",
    request_body = CreateFiatSettlementOrderRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The fiat settlement, `PENDING_SETTLEMENT` until an operator approves it (`SETTLING`) and marks the wire paid (`SETTLED`) or rejects it (`REJECTED`).", body = Envelope<SettlementView>))
)]
pub async fn create_fiat(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<SettlementView> {
    let request: CreateFiatSettlementOrderRequest = parse_body(&body)?;
    Ok(Api(state
        .gateway
        .create_fiat_settlement(&caller.app, request)
        .await?))
}

/// CancelSettlementOrder.
#[utoipa::path(
    get,
    path = "/checkout/settlement/cancel",
    tag = "settlement",
    params(SettlementQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The cancelled settlement; `00409` unless it is `PENDING_SETTLEMENT` with nothing signed.", body = Envelope<SettlementView>))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult<SettlementView> {
    let query: SettlementQuery = parse_query(query)?;
    Ok(Api(state
        .gateway
        .cancel_settlement(&caller.app, query.settlement_order_no.as_deref())
        .await?))
}

/// GetSettlementOrder.
#[utoipa::path(
    get,
    path = "/checkout/settlement/info",
    tag = "settlement",
    params(SettlementQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The settlement.", body = Envelope<SettlementView>))
)]
pub async fn info(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult<SettlementView> {
    let query: SettlementQuery = parse_query(query)?;
    Ok(Api(state
        .gateway
        .settlement_info(&caller.app, query.settlement_order_no.as_deref())
        .await?))
}

/// GetSettlementOrderList.
#[utoipa::path(
    post,
    path = "/checkout/settlement/list",
    tag = "settlement",
    request_body = ListSettlementsRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "A page of settlements, newest first.", body = Envelope<PageView<SettlementView>>))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<PageView<SettlementView>> {
    let request: ListSettlementsRequest = parse_body_or_default(&body)?;
    Ok(Api(state
        .gateway
        .list_settlements(&caller.app, request)
        .await?))
}
