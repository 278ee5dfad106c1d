//! The refund routes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use wcheckout_app::auth::Caller;
use wcheckout_app::wire::{
    CreateAbnormalPaymentRefundRequest, CreateRefundOrderRequest, Envelope, ListRefundsRequest,
    PageView, RefundQuery, RefundView, parse_body, parse_body_or_default,
};

use crate::orders::parse_query;
use crate::respond::{Api, ApiResult};
use crate::state::AppState;

/// CreateRefundOrder.
#[utoipa::path(
    post,
    path = "/checkout/refund/create",
    tag = "refund",
    request_body = CreateRefundOrderRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The refund, `PENDING_REFUND` (an existing one when the same refundOrderNo and content are sent again). `00422` when the amount exceeds what is refundable.", body = Envelope<RefundView>))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<RefundView> {
    let request: CreateRefundOrderRequest = parse_body(&body)?;
    Ok(Api(state
        .gateway
        .create_refund(&caller.app, request)
        .await?))
}

/// CreateAbnormalPaymentRefund.
#[utoipa::path(
    post,
    path = "/checkout/abnormal-payment/refund",
    tag = "abnormal payment",
    request_body = CreateAbnormalPaymentRefundRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The refund of the abnormal payment (by abnormalPaymentNo, or by orderNo and txHash); the whole abnormal amount unless amount is sent.", body = Envelope<RefundView>))
)]
pub async fn create_abnormal(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<RefundView> {
    let request: CreateAbnormalPaymentRefundRequest = parse_body(&body)?;
    Ok(Api(state
        .gateway
        .create_abnormal_refund(&caller.app, request)
        .await?))
}

/// CancelRefundOrder (GET with the query; POST with `{"refundOrderNo"}` also works).
#[utoipa::path(
    get,
    path = "/checkout/refund/cancel",
    tag = "refund",
    params(RefundQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The cancelled refund; `00409` once its transaction is signed.", body = Envelope<RefundView>))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<RefundView> {
    let query: RefundQuery = if query.as_deref().is_none_or(str::is_empty) && !body.is_empty() {
        parse_body(&body)?
    } else {
        parse_query(query)?
    };
    Ok(Api(state
        .gateway
        .cancel_refund(&caller.app, query.refund_order_no.as_deref())
        .await?))
}

/// GetRefundOrderInfo.
#[utoipa::path(
    get,
    path = "/checkout/refund/info",
    tag = "refund",
    params(RefundQuery),
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "The refund.", body = Envelope<RefundView>))
)]
pub async fn info(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult<RefundView> {
    let query: RefundQuery = parse_query(query)?;
    Ok(Api(state
        .gateway
        .refund_info(&caller.app, query.refund_order_no.as_deref())
        .await?))
}

/// GetRefundOrderList.
#[utoipa::path(
    post,
    path = "/checkout/refund/list",
    tag = "refund",
    request_body = ListRefundsRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "A page of refunds, newest first.", body = Envelope<PageView<RefundView>>))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<PageView<RefundView>> {
    let request: ListRefundsRequest = parse_body_or_default(&body)?;
    Ok(Api(state
        .gateway
        .list_refunds(&caller.app, request)
        .await?))
}
