//! The abnormal payment routes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use bytes::Bytes;
use wcheckout_app::auth::Caller;
use wcheckout_app::wire::{
    AbnormalPaymentView, Envelope, ListAbnormalPaymentsRequest, PageView, parse_body_or_default,
};

use crate::respond::{Api, ApiResult};
use crate::state::AppState;

/// GetAbnormalPaymentList.
#[utoipa::path(
    post,
    path = "/checkout/abnormal-payment/list",
    tag = "abnormal payment",
    request_body = ListAbnormalPaymentsRequest,
    security(("bearer" = []), ("signature" = [])),
    responses((status = 200, description = "A page of abnormal payments, newest first.", body = Envelope<PageView<AbnormalPaymentView>>))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Arc<Caller>>,
    body: Bytes,
) -> ApiResult<PageView<AbnormalPaymentView>> {
    let request: ListAbnormalPaymentsRequest = parse_body_or_default(&body)?;
    Ok(Api(state
        .gateway
        .list_abnormal_payments(&caller.app, request)
        .await?))
}
