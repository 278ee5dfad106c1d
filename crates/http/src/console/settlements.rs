//! The console's settlement routes: the list of one app's settlements (also as CSV), one
//! settlement, and the `finance` operator's decisions. Approving takes two steps: a page naming
//! the amount, token and destination, whose form carries the amount shown; the POST is refused
//! if the settlement's amount is no longer that.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use wcheckout_app::console_lists::{Export, LIST_PAGE_SIZE};
use wcheckout_app::console_settlements::{
    ConsoleSettlement, ConsoleSettlementList, SettlementDecision,
};
use wcheckout_app::wire::SettlementView;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::ports::{PageRequest, SettlementFilter};
use wcheckout_domain::settlement::SettlementStatus;

use super::filters::{given, page_number, printable, wants_csv};
use super::html::{csrf_field, document, signed_in_header};
use super::i18n::{ConsoleTexts, texts};
use super::{SETTLEMENTS, Visitor, csv, failure, message, not_found, page, reader, see_other_to};
use crate::page::i18n::{Lang, fill};
use crate::state::AppState;

/// The list's query string; a missing field is empty.
#[derive(Deserialize, Default)]
struct SettlementsQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    format: String,
}

fn list_filter(query: &SettlementsQuery) -> Result<(SettlementFilter, u32), String> {
    printable(&[("app", &query.app)])?;
    let status = match given(&query.status) {
        Some(text) => {
            Some(SettlementStatus::parse(&text).ok_or("status: not a settlement status")?)
        }
        None => None,
    };
    let filter = SettlementFilter {
        status,
        ..SettlementFilter::default()
    };
    Ok((filter, page_number(&query.page)?))
}

pub(super) async fn settlements(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let asked = serde_urlencoded::from_str::<SettlementsQuery>(query.as_deref().unwrap_or(""));
    let parsed = asked
        .map_err(|_| "the query string is not valid".to_owned())
        .and_then(|asked| {
            let csv = wants_csv(&asked.format)?;
            Ok((list_filter(&asked)?, csv, asked.app))
        });
    let ((filter, number), csv, app) = match parsed {
        Ok(parsed) => parsed,
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let operator = &session.operator;
    let app = Some(app.as_str());
    if csv {
        return export(&state, lang, operator, app, &filter).await;
    }
    let request = PageRequest {
        page: number,
        size: LIST_PAGE_SIZE,
    };
    match state
        .gateway
        .console_list_settlements(operator, app, &filter, request)
        .await
    {
        Ok(Some(list)) => {
            let csrf = session.csrf_token.expose_secret();
            let body = list_page(lang, operator, csrf, &list, &filter, number);
            page(StatusCode::OK, body)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

/// The columns of the settlements CSV.
const SETTLEMENT_COLUMNS: [&str; 13] = [
    "sysid",
    "settlementOrderNo",
    "app",
    "merchantId",
    "token",
    "amount",
    "address",
    "fiat",
    "settlementStatus",
    "txHash",
    "bankReference",
    "createdTime",
    "updatedTime",
];

fn settlement_row<'a>(app: &'a str, view: &'a SettlementView) -> Vec<&'a str> {
    let optional = |text: &'a Option<String>| text.as_deref().unwrap_or("");
    vec![
        &view.sysid,
        &view.settlement_order_no,
        app,
        &view.merchant_id,
        &view.token,
        &view.amount,
        optional(&view.address),
        optional(&view.fiat),
        &view.settlement_status,
        optional(&view.tx_hash),
        optional(&view.bank_reference),
        &view.created_time,
        &view.updated_time,
    ]
}

async fn export(
    state: &AppState,
    lang: Lang,
    operator: &Operator,
    app: Option<&str>,
    filter: &SettlementFilter,
) -> Response {
    match state
        .gateway
        .console_export_settlements(operator, app, filter)
        .await
    {
        Ok(Some(Export { app, rows, total })) => {
            let app = app.map(|a| a.to_string()).unwrap_or_default();
            let rows = rows.iter().map(|v| settlement_row(&app, v));
            let body = csv::table(&SETTLEMENT_COLUMNS, rows);
            csv::download(&format!("settlements-{app}.csv"), body, total)
        }
        Ok(None) => not_found(lang),
        Err(error) => failure(lang, &error),
    }
}

/// The list's query string for page `page` (and `format`, when given).
fn list_link(
    list: &ConsoleSettlementList,
    filter: &SettlementFilter,
    page: u32,
    csv: bool,
) -> String {
    let app = list
        .app
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let status = filter.status.map(|s| s.to_string()).unwrap_or_default();
    let mut pairs = vec![("app", app), ("status", status), ("page", page.to_string())];
    if csv {
        pairs.push(("format", "csv".to_owned()));
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("{SETTLEMENTS}?{query}")
}

fn list_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    list: &ConsoleSettlementList,
    filter: &SettlementFilter,
    page: u32,
) -> String {
    let t = texts(lang);
    let pages = u32::try_from(list.total.div_ceil(u64::from(LIST_PAGE_SIZE))).unwrap_or(u32::MAX);
    let summary = fill(
        t.settlements_page_of,
        &[
            ("page", &page.to_string()),
            ("pages", &pages.max(1).to_string()),
            ("total", &list.total.to_string()),
        ],
    );
    let body = html! {
        h1 { (t.settlements) }
        @if list.apps.is_empty() {
            p { (t.no_apps) }
        } @else {
            form.filters method="get" action=(SETTLEMENTS) {
                label { (t.app)
                    select name="app" {
                        @for app in &list.apps {
                            option value=(app) selected[list.app.as_ref() == Some(app)] { (app) }
                        }
                    }
                }
                label { (t.status)
                    select name="status" {
                        option value="" { (t.any_status) }
                        @for status in SettlementStatus::ALL {
                            option value=(status) selected[filter.status == Some(status)] { (status) }
                        }
                    }
                }
                button type="submit" { (t.filter) }
            }
            p.summary { (summary) " " a.csv href=(list_link(list, filter, 1, true)) { (t.download_csv) } }
            @if list.settlements.is_empty() {
                p { (t.no_settlements) }
            } @else {
                (settlements_table(t, &list.settlements))
            }
            nav.pages {
                @if page > 1 {
                    a rel="prev" href=(list_link(list, filter, page - 1, false)) { (t.previous) }
                }
                @if page < pages {
                    a rel="next" href=(list_link(list, filter, page + 1, false)) { (t.next) }
                }
            }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.settlements, header, body)
}

fn settlements_table(t: &ConsoleTexts, rows: &[SettlementView]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr {
                    th { (t.settlement_no) } th { (t.status) } th { (t.amount) }
                    th { (t.destination) } th { (t.created) }
                } }
                tbody {
                    @for view in rows {
                        tr {
                            td { a href={ (SETTLEMENTS) "/" (view.sysid) } { (view.settlement_order_no) } }
                            td { (view.settlement_status) }
                            td.num { (view.amount) " " (view.token) }
                            td { (view.fiat.as_deref().or(view.address.as_deref()).unwrap_or("")) }
                            td { (view.created_time) }
                        }
                    }
                }
            }
        }
    }
}

/// Where a settlement's money goes: the bank account, or the address.
fn destination(t: &ConsoleTexts, settlement: &ConsoleSettlement) -> Markup {
    let view = &settlement.view;
    html! {
        @if let Some(bank) = &settlement.bank {
            dl.destination {
                dt { (t.account_name) } dd { (bank.account_name) }
                dt { (t.account_number) } dd { code { (bank.account_number) } }
                dt { (t.bank_name) } dd { (bank.bank_name) }
                @if let Some(swift) = &bank.swift_code {
                    dt { (t.swift_code) } dd { code { (swift) } }
                }
                dt { (t.fiat) } dd { (view.fiat.as_deref().unwrap_or("")) }
            }
        } @else {
            p.destination { code { (view.address.as_deref().unwrap_or("")) } }
        }
    }
}

fn settlement_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    settlement: &ConsoleSettlement,
) -> String {
    let t = texts(lang);
    let view = &settlement.view;
    let base = format!("{SETTLEMENTS}/{}", view.sysid);
    let decides = |action| may(operator.role, action);
    let body = html! {
        h1 { (t.settlement_no) " " (view.settlement_order_no) }
        dl {
            dt { "sysid" } dd { (view.sysid) }
            dt { (t.app) } dd { (settlement.app_id) }
            dt { (t.merchant) } dd { (view.merchant_id) }
            dt { (t.status) } dd.status { (view.settlement_status) }
            dt { (t.amount) } dd { (view.amount) " " (view.token) }
            dt { (t.tx_hash) } dd { code { (view.tx_hash.as_deref().unwrap_or("-")) } }
            dt { (t.bank_reference) } dd.reference { (view.bank_reference.as_deref().unwrap_or("-")) }
            @if let Some(reason) = &view.failure_reason {
                dt { (t.reason) } dd { (reason) }
            }
            dt { (t.created) } dd { (view.created_time) }
            dt { (t.updated) } dd { (view.updated_time) }
        }
        h2 { (t.destination) }
        (destination(t, settlement))
        @if settlement.awaits_approval && decides(ConsoleAction::ApproveSettlement) {
            p.action { a.button.approve href={ (base) "/approve" } { (t.approve) } }
        }
        @if settlement.awaits_wire && decides(ConsoleAction::MarkSettlementPaid) {
            form.action.paid method="post" action={ (base) "/paid" } {
                (csrf_field(csrf_token))
                label { (t.bank_reference) input name="bank_reference" required maxlength="200"; }
                button type="submit" { (t.mark_paid) }
            }
        }
        @if settlement.rejectable && decides(ConsoleAction::RejectSettlement) {
            form.action.reject method="post" action={ (base) "/reject" } {
                (csrf_field(csrf_token))
                label { (t.reason) input name="reason" required maxlength="200"; }
                button.danger type="submit" { (t.reject) }
            }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.settlements, header, body)
}

/// The second look before approving: what goes where, and the one button that approves it.
fn approve_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    settlement: &ConsoleSettlement,
) -> String {
    let t = texts(lang);
    let view = &settlement.view;
    let base = format!("{SETTLEMENTS}/{}", view.sysid);
    let sends = fill(
        t.approve_sends,
        &[("amount", &view.amount), ("token", &view.token)],
    );
    let body = html! {
        section.card.confirm {
            h1 { (t.approve_title) }
            p.sends { (sends) }
            (destination(t, settlement))
            dl {
                dt { (t.settlement_no) } dd { (view.settlement_order_no) }
                dt { (t.app) } dd { (settlement.app_id) }
                dt { (t.merchant) } dd { (view.merchant_id) }
            }
            form.action method="post" action={ (base) "/approve" } {
                (csrf_field(csrf_token))
                input type="hidden" name="amount" value=(view.amount);
                button type="submit" { (t.approve_confirm) }
            }
            p { a href=(base) { (t.back) } }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.approve_title, header, body)
}

/// Which page of one settlement a GET shows.
#[derive(Clone, Copy)]
enum Shown {
    Details,
    ApproveConfirmation,
}

async fn show(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    sysid: &str,
    shown: Shown,
) -> Response {
    let (lang, session) = match reader(state, peer, query, headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let operator = &session.operator;
    let found = match state.gateway.console_settlement(operator, sysid).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    };
    let csrf = session.csrf_token.expose_secret();
    match shown {
        Shown::Details => page(
            StatusCode::OK,
            settlement_page(lang, operator, csrf, &found),
        ),
        Shown::ApproveConfirmation => {
            if !may(operator.role, ConsoleAction::ApproveSettlement) {
                return message(lang, StatusCode::FORBIDDEN, texts(lang).forbidden);
            }
            if !found.awaits_approval {
                let problem = format!(
                    "settlement {sysid} is {} and needs no approval",
                    found.view.settlement_status
                );
                return message(lang, StatusCode::CONFLICT, &problem);
            }
            page(StatusCode::OK, approve_page(lang, operator, csrf, &found))
        }
    }
}

pub(super) async fn settlement(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    show(
        &state,
        peer,
        query.as_deref(),
        &headers,
        &sysid,
        Shown::Details,
    )
    .await
}

pub(super) async fn approve_confirmation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(sysid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let shown = Shown::ApproveConfirmation;
    show(&state, peer, query.as_deref(), &headers, &sysid, shown).await
}

/// A decision's form; a missing field is empty.
#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    bank_reference: String,
}

async fn decide(
    state: &AppState,
    visitor: Visitor,
    sysid: &str,
    form: &DecisionForm,
    decision: SettlementDecision,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, decision.action()) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let decided = state
        .gateway
        .console_decide_settlement(&w.session.operator, w.client, sysid, &decision)
        .await;
    match decided {
        Ok(Some(after)) => see_other_to(&format!("{SETTLEMENTS}/{}", after.sysid)),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn approve(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(sysid): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let decision = SettlementDecision::Approve {
        confirmed_amount: form.amount.clone(),
    };
    decide(&state, visitor, &sysid, &form, decision).await
}

pub(super) async fn reject(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(sysid): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let decision = SettlementDecision::Reject {
        reason: form.reason.clone(),
    };
    decide(&state, visitor, &sysid, &form, decision).await
}

pub(super) async fn mark_paid(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(sysid): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let decision = SettlementDecision::MarkPaid {
        bank_reference: form.bank_reference.clone(),
    };
    decide(&state, visitor, &sysid, &form, decision).await
}
