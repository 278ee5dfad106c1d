//! The console's order routes: search and list (also as CSV), the order page with its history,
//! cancelling an order and resending one of its webhooks.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use wcheckout_app::console_lists::Export;
use wcheckout_app::wire::OrderView;
use wcheckout_domain::operator::{ConsoleAction, Operator};
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::ports::{Cursor, OrderFilter};

use super::filters::{after_field, given, printable, time_field, wants_csv};
use super::{
    CsrfForm, ORDERS, Visitor, csv, failure, html, message, not_found, page, reader, see_other_to,
};
use crate::page::i18n::Lang;
use crate::state::AppState;

/// The orders page's query string: a search (`q`), or a list's app, filters and page, or its
/// CSV export (`format=csv`). A missing field is empty.
#[derive(Deserialize, Default)]
struct OrdersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    format: String,
}

/// The list's filter and where its page starts, or which field is wrong and why.
fn list_filter(query: &OrdersQuery) -> Result<(OrderFilter, Option<Cursor>), String> {
    printable(&[
        ("app", &query.app),
        ("token", &query.token),
        ("customer", &query.customer),
    ])?;
    let status = match given(&query.status) {
        Some(text) => Some(OrderStatus::parse(&text).ok_or("status: not an order status")?),
        None => None,
    };
    let filter = OrderFilter {
        status,
        token: given(&query.token),
        customer_id: given(&query.customer),
        created_from: time_field("from", &query.from, "00:00:00")?,
        created_to: time_field("to", &query.to, "23:59:59")?,
        ..OrderFilter::default()
    };
    Ok((filter, after_field(&query.after)?))
}

pub(super) async fn orders(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let Ok(asked) = serde_urlencoded::from_str::<OrdersQuery>(query.as_deref().unwrap_or(""))
    else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            "the query string is not valid",
        );
    };
    let operator = &session.operator;
    let csrf = session.csrf_token.expose_secret();
    let csv = match wants_csv(&asked.format) {
        Ok(csv) => csv,
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    if !asked.q.trim().is_empty() {
        if csv {
            let problem = "format: csv exports the list, not a search";
            return message(lang, StatusCode::BAD_REQUEST, problem);
        }
        return match state
            .gateway
            .console_search_orders(operator, &asked.q)
            .await
        {
            Ok(found) => page(
                StatusCode::OK,
                html::orders_page(lang, operator, csrf, &asked.q, &found),
            ),
            Err(error) => failure(lang, &error),
        };
    }
    let (filter, after) = match list_filter(&asked) {
        Ok(parsed) => parsed,
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let app = Some(asked.app.as_str());
    if csv {
        return export(&state, lang, operator, app, &filter).await;
    }
    match state
        .gateway
        .console_list_orders(operator, app, &filter, after.clone())
        .await
    {
        Ok(Some(list)) => {
            let on_first = after.is_none();
            let body = html::order_list_page(lang, operator, csrf, &list, &filter, on_first);
            page(StatusCode::OK, body)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

/// The columns of the orders CSV.
const ORDER_COLUMNS: [&str; 13] = [
    "sysid",
    "orderNo",
    "app",
    "merchantId",
    "customerId",
    "orderStatus",
    "orderAmount",
    "fiat",
    "token",
    "paidAmount",
    "txHash",
    "createdTime",
    "updatedTime",
];

fn order_row<'a>(app: &'a str, view: &'a OrderView) -> Vec<&'a str> {
    vec![
        &view.sysid,
        &view.order_no,
        app,
        &view.merchant_id,
        &view.customer_id,
        &view.order_status,
        view.order_amount.as_str(),
        &view.fiat,
        &view.token,
        view.paid_amount.as_str(),
        view.tx_hash.as_deref().unwrap_or(""),
        &view.created_time,
        &view.updated_time,
    ]
}

async fn export(
    state: &AppState,
    lang: Lang,
    operator: &Operator,
    app: Option<&str>,
    filter: &OrderFilter,
) -> Response {
    match state
        .gateway
        .console_export_orders(operator, app, filter)
        .await
    {
        Ok(Some(Export { app, rows, total })) => {
            let app = app.map(|a| a.to_string()).unwrap_or_default();
            let body = csv::table(&ORDER_COLUMNS, rows.iter().map(|v| order_row(&app, v)));
            csv::download(&format!("orders-{app}.csv"), body, total)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

pub(super) async fn order(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    match state.gateway.console_order(&session.operator, &sysid).await {
        Ok(Some(order)) => {
            let csrf = session.csrf_token.expose_secret();
            page(
                StatusCode::OK,
                html::order_page(lang, &session.operator, csrf, &order),
            )
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

pub(super) async fn cancel_order(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(sysid): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::CancelOrder) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let cancelled = state
        .gateway
        .console_cancel_order(&w.session.operator, w.client, &sysid)
        .await;
    match cancelled {
        Ok(Some(view)) => see_other_to(&format!("{ORDERS}/{}", view.sysid)),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn resend_webhook(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((sysid, event_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::ResendWebhook) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let resent = state
        .gateway
        .console_resend_webhook(&w.session.operator, w.client, &sysid, &event_id)
        .await;
    match resent {
        Ok(Some(_)) => see_other_to(&format!("{ORDERS}/{sysid}#webhooks")),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}
