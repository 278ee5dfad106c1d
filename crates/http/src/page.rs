//! The hosted payment page's address. Until the page itself exists, `paymentUrl` answers with
//! the order's public status as JSON. Only the unguessable page token finds an order here, and
//! only what the payer needs is shown.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wcheckout_domain::error::{ErrorCode, Rejection};

use crate::respond::ApiError;
use crate::state::AppState;

/// What a payer may see of an order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStatus {
    /// Order status.
    pub order_status: String,
    /// Token to pay with.
    pub token: String,
    /// Amount to pay.
    #[schema(value_type = f64)]
    pub paying_amount: wcheckout_app::wire::JsonNumber,
    /// Amount received in confirmed transfers.
    #[schema(value_type = f64)]
    pub paid_amount: wcheckout_app::wire::JsonNumber,
    /// Address to pay into.
    pub deposit_address: String,
    /// Token contract.
    pub coin_address: String,
    /// Seconds left.
    pub expired_in: i64,
}

/// The payment page of an order.
#[utoipa::path(get, path = "/pay/{page_token}", tag = "payment page",
    params(("page_token" = String, Path, description = "The token at the end of paymentUrl")),
    responses((status = 200, body = PaymentStatus)))]
pub async fn payment_page(
    State(state): State<AppState>,
    Path(page_token): Path<String>,
) -> Response {
    let order = match state.gateway.store.order_by_page_token(&page_token).await {
        Ok(Some(order)) => order,
        Ok(None) => {
            let rejection = Rejection::new(ErrorCode::NotFound, "payment page not found");
            return ApiError::from(rejection).into_response();
        }
        Err(error) => return ApiError(error.into()).into_response(),
    };
    match state.gateway.order_view(&order).await {
        Ok(view) => Json(PaymentStatus {
            order_status: view.order_status,
            token: view.token,
            paying_amount: view.paying_amount,
            paid_amount: view.paid_amount,
            deposit_address: view.deposit_address,
            coin_address: view.coin_address,
            expired_in: view.expired_in,
        })
        .into_response(),
        Err(error) => ApiError(error).into_response(),
    }
}
