//! Refunds from the order page (`finance` and above): a paid order's, or an abnormal payment's.
//! The order page's form (a GET, carrying a refund number drawn once for it) opens a
//! confirmation page naming the amount, token and destination; its form carries them, and its
//! POST refunds exactly that through the integrator's use case, then returns to the order.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use wcheckout_app::console_orders::ConsoleOrder;
use wcheckout_app::console_refunds::{RefundConfirmation, RefundForm, RefundOf, offers_refund};
use wcheckout_app::secrets::random_hex;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};

use super::html::{csrf_field, document, signed_in_header};
use super::i18n::texts;
use super::i18n_apps::{AppTexts, app_texts};
use super::{ORDERS, Visitor, failure, message, not_found, page, reader, see_other_to};
use crate::page::i18n::{Lang, fill};
use crate::state::AppState;

/// A refund number for one showing of a form: sending it twice refunds once.
fn new_refund_no() -> String {
    format!("console-{}", random_hex(16))
}

/// Where a refund of `of` on the order `sysid` is confirmed and posted.
fn refund_path(sysid: &str, of: RefundOf<'_>) -> String {
    match of {
        RefundOf::Order => format!("{ORDERS}/{sysid}/refund"),
        RefundOf::Abnormal(no) => format!("{ORDERS}/{sysid}/abnormal/{no}/refund"),
    }
}

/// The order page's refund forms, for those who may: the order's, when it is paid, and each
/// abnormal payment's with something left to refund.
pub(super) fn refund_forms(lang: Lang, operator: &Operator, order: &ConsoleOrder) -> Markup {
    let t = texts(lang);
    let a = app_texts(lang);
    let view = &order.view;
    let order_refund =
        offers_refund(&view.order_status) && may(operator.role, ConsoleAction::CreateRefund);
    let abnormal_refund = may(operator.role, ConsoleAction::RefundAbnormalPayment);
    let open = |pending: &str| Decimal::parse(pending).is_ok_and(|d| !d.is_zero());
    html! {
        @if order_refund {
            form.refund.refund-order method="get" action=(refund_path(&view.sysid, RefundOf::Order)) {
                h2 { (a.refund_order) }
                input type="hidden" name="refund_no" value=(new_refund_no());
                label { (t.amount) " (" (view.token) ")" input name="amount" required inputmode="decimal"; }
                label { (a.refund_address) input name="address" autocomplete="off"; }
                button type="submit" { (a.continue_) }
            }
        }
        @if abnormal_refund {
            @for payment in order.history.abnormal.iter().filter(|p| p.status == "PENDING" && open(&p.pending_amount)) {
                form.refund.refund-abnormal method="get"
                    action=(refund_path(&view.sysid, RefundOf::Abnormal(&payment.abnormal_payment_no))) {
                    h2 { (fill(a.refund_abnormal, &[("no", &payment.abnormal_payment_no)])) }
                    input type="hidden" name="refund_no" value=(new_refund_no());
                    label {
                        (fill(a.refund_amount_left, &[("amount", &payment.pending_amount), ("token", &payment.token)]))
                        input name="amount" inputmode="decimal";
                    }
                    label { (a.refund_address) input name="address" autocomplete="off"; }
                    button type="submit" { (a.continue_) }
                }
            }
        }
    }
}

/// A refund form's fields; a missing one is empty.
#[derive(Deserialize, Default)]
pub(super) struct RefundFields {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    refund_no: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    token: String,
}

impl RefundFields {
    fn form(&self) -> RefundForm {
        RefundForm {
            refund_no: self.refund_no.clone(),
            amount: self.amount.clone(),
            address: self.address.clone(),
            token: self.token.clone(),
        }
    }
}

fn confirmation_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    of: RefundOf<'_>,
    confirmation: &RefundConfirmation,
) -> String {
    let t = texts(lang);
    let a: &AppTexts = app_texts(lang);
    let values = [
        ("amount", confirmation.amount.as_str()),
        ("token", confirmation.token.as_str()),
    ];
    let order_page = format!("{ORDERS}/{}", confirmation.order_sysid);
    let body = html! {
        section.card.confirm {
            h1 { (a.refund_title) }
            p.sends { (fill(a.refund_sends, &values)) }
            p.destination { code #refund-address { (confirmation.address) } }
            dl {
                dt { (a.order) } dd { (confirmation.order_no) }
                @if let Some(no) = &confirmation.abnormal_payment_no {
                    dt { (a.abnormal_payment) } dd { (no) }
                }
                dt { (t.app) } dd { (confirmation.app_id) }
                dt { (a.refund_no) } dd { code { (confirmation.refund_no) } }
            }
            form.action method="post" action=(refund_path(&confirmation.order_sysid, of)) {
                (csrf_field(csrf_token))
                input type="hidden" name="refund_no" value=(confirmation.refund_no);
                input type="hidden" name="amount" value=(confirmation.amount);
                input type="hidden" name="token" value=(confirmation.token);
                input type="hidden" name="address" value=(confirmation.address);
                button type="submit" { (fill(a.refund_confirm, &values)) }
            }
            p { a href=(order_page) { (t.back) } }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, a.refund_title, header, body)
}

async fn confirm(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    sysid: &str,
    of: RefundOf<'_>,
) -> Response {
    let (lang, session) = match reader(state, peer, query, headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let operator = &session.operator;
    if !may(operator.role, of.action()) {
        return message(lang, StatusCode::FORBIDDEN, texts(lang).forbidden);
    }
    let Ok(fields) = serde_urlencoded::from_str::<RefundFields>(query.unwrap_or("")) else {
        let problem = "the query string is not valid";
        return message(lang, StatusCode::BAD_REQUEST, problem);
    };
    let checked = state
        .gateway
        .console_refund_confirmation(operator, sysid, of, &fields.form())
        .await;
    match checked {
        Ok(Some(confirmation)) => {
            let csrf = session.csrf_token.expose_secret();
            let body = confirmation_page(lang, operator, csrf, of, &confirmation);
            page(StatusCode::OK, body)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

async fn refund(
    state: &AppState,
    visitor: Visitor,
    sysid: &str,
    of: RefundOf<'_>,
    fields: &RefundFields,
) -> Response {
    let w = match visitor.writer(&fields.csrf_token, of.action()) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let done = state
        .gateway
        .console_refund(&w.session.operator, w.client, sysid, of, &fields.form())
        .await;
    match done {
        Ok(Some(_)) => see_other_to(&format!("{ORDERS}/{sysid}#refunds")),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn order_refund_confirmation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let of = RefundOf::Order;
    confirm(&state, peer, query.as_deref(), &headers, &sysid, of).await
}

pub(super) async fn order_refund(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(sysid): Path<String>,
    Form(fields): Form<RefundFields>,
) -> Response {
    refund(&state, visitor, &sysid, RefundOf::Order, &fields).await
}

pub(super) async fn abnormal_refund_confirmation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((sysid, no)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let of = RefundOf::Abnormal(&no);
    confirm(&state, peer, query.as_deref(), &headers, &sysid, of).await
}

pub(super) async fn abnormal_refund(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((sysid, no)): Path<(String, String)>,
    Form(fields): Form<RefundFields>,
) -> Response {
    refund(&state, visitor, &sysid, RefundOf::Abnormal(&no), &fields).await
}
