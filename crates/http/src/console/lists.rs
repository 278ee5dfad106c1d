//! The console's lists beside orders and settlements: refunds (`/admin/refunds`), abnormal
//! payments (`/admin/abnormal`), payouts in flight (`/admin/payouts`) and webhook deliveries
//! (`/admin/webhooks`, with a resend button per event for `support` and above). Each is read 50
//! rows at a time by keyset (`after=`, written by its "Next" link) and, with `format=csv`, as a
//! file. A wrong field is answered 400 naming it; an app the operator does not see, 404.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wcheckout_app::ServiceError;
use wcheckout_app::console::LiveSession;
use wcheckout_app::console_lists::{
    ConsoleAbnormal, ConsoleList, ConsolePayout, ConsoleRefund, Export, PayoutListFilter,
};
use wcheckout_domain::abnormal::{AbnormalKind, AbnormalStatus};
use wcheckout_domain::events::EventType;
use wcheckout_domain::operator::{ConsoleAction, may};
use wcheckout_domain::payout::PayoutKind;
use wcheckout_domain::ports::{
    AbnormalFilter, ConsoleRefundFilter, ConsoleWebhookFilter, Cursor, OutboxEntry,
};
use wcheckout_domain::refund::RefundStatus;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::webhook::DeliveryStatus;

use super::filters::{after_field, given, printable, wants_csv};
use super::html::{
    app_select, csrf_field, document, link_to, list_pages, list_summary, signed_in_header,
};
use super::i18n::{ConsoleTexts, texts};
use super::{
    ABNORMAL, CsrfForm, ORDERS, PAYOUTS, REFUNDS, Visitor, WEBHOOKS, csv, failure, message,
    not_found, page, reader, see_other_to,
};
use crate::page::i18n::Lang;
use crate::state::AppState;

/// The fields every list's query string has besides its filters.
#[derive(Deserialize, Default)]
struct Paging {
    #[serde(default)]
    app: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    format: String,
}

/// A signed-in GET of a list: language, session, its filter's fields `Q`, where the page starts
/// and whether the CSV is asked for; or the answer instead (sign-in, 400 naming the field).
struct ListVisit<Q> {
    lang: Lang,
    session: LiveSession,
    asked: Q,
    app: String,
    after: Option<Cursor>,
    csv: bool,
}

async fn list_visit<Q: DeserializeOwned>(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<ListVisit<Q>, Response> {
    let (lang, session) = reader(state, peer, query, headers).await?;
    let text = query.unwrap_or("");
    let bad = |problem: &str| message(lang, StatusCode::BAD_REQUEST, problem);
    let (Ok(asked), Ok(paging)) = (
        serde_urlencoded::from_str::<Q>(text),
        serde_urlencoded::from_str::<Paging>(text),
    ) else {
        return Err(bad("the query string is not valid"));
    };
    printable(&[("app", &paging.app)]).map_err(|p| bad(&p))?;
    let csv = wants_csv(&paging.format).map_err(|p| bad(&p))?;
    let after = after_field(&paging.after).map_err(|p| bad(&p))?;
    Ok(ListVisit {
        lang,
        session,
        asked,
        app: paging.app,
        after,
        csv,
    })
}

/// A field naming one of `T`'s texts, or `None` when empty; 400 text otherwise.
fn one_of<T>(field: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, String> {
    match given(text) {
        Some(text) => parse(&text)
            .map(Some)
            .ok_or_else(|| format!("{field}: not one of the values offered")),
        None => Ok(None),
    }
}

/// The CSV file of an export, named `{name}-{app}.csv` (or `{name}.csv` for a list of every
/// app): each row under `columns` as `row` writes it (given the app's id); 404 when the app is
/// not one the operator sees.
fn exported_csv<T>(
    lang: Lang,
    name: &str,
    columns: &[&str],
    exported: Result<Option<Export<T>>, ServiceError>,
    row: fn(&str, &T) -> Vec<String>,
) -> Response {
    let Export { app, rows, total } = match exported {
        Ok(Some(export)) => export,
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    };
    let app_id = app.as_ref().map(ToString::to_string).unwrap_or_default();
    let rows: Vec<Vec<String>> = rows.iter().map(|r| row(&app_id, r)).collect();
    let body = csv::table(
        columns,
        rows.iter()
            .map(|row| row.iter().map(String::as_str).collect()),
    );
    let file = match app {
        Some(app) => format!("{name}-{app}.csv"),
        None => format!("{name}.csv"),
    };
    csv::download(&file, body, total)
}

fn time(at: Timestamp) -> String {
    at.to_spaced_seconds()
}

fn optional(text: Option<&str>) -> String {
    text.unwrap_or("").to_owned()
}

/// What a list page shows besides the rows' count and its links.
struct ListParts<'a> {
    path: &'static str,
    title: &'a str,
    /// Whether the list is one app's at a time (the app is chosen in the form, first).
    by_app: bool,
    /// What the page says above its form, if anything.
    intro: Option<&'a str>,
    /// The filters as query pairs, in the form's order.
    filters: Vec<(&'static str, String)>,
    /// The form's fields for them.
    fields: Markup,
    table: Markup,
}

/// The page of a list as `parts` draws it: title, filter form, summary with the CSV link,
/// table and links; 404 when the app is not one the operator sees.
fn listed_page<Q, T>(
    visit: &ListVisit<Q>,
    listed: Result<Option<ConsoleList<T>>, ServiceError>,
    parts: impl FnOnce(&ConsoleList<T>) -> ListParts<'_>,
) -> Response {
    let lang = visit.lang;
    let list = match listed {
        Ok(Some(list)) => list,
        Ok(None) => return not_found(lang),
        Err(error) => return failure(lang, &error),
    };
    let parts = parts(&list);
    let t = texts(lang);
    let mut pairs = Vec::new();
    if parts.by_app {
        pairs.push((
            "app",
            list.app
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ));
    }
    pairs.extend(parts.filters);
    let link = |extra: (&'static str, String)| {
        let mut all = pairs.clone();
        all.push(extra);
        link_to(parts.path, &all)
    };
    let body = html! {
        h1 { (parts.title) }
        @if let Some(intro) = parts.intro { p { (intro) } }
        form.filters method="get" action=(parts.path) {
            @if parts.by_app { (app_select(t, &list.apps, list.app.as_ref())) }
            (parts.fields)
            button type="submit" { (t.filter) }
        }
        p.summary {
            (list_summary(t, list.total)) " "
            a.csv href=(link(("format", "csv".to_owned()))) { (t.download_csv) }
        }
        @if list.rows.is_empty() {
            p { (t.nothing_matches) }
        } @else {
            (parts.table)
        }
        (list_pages(t, visit.after.is_none(), list.next.as_ref(), |after| {
            link(("after", after.unwrap_or_default()))
        }))
    };
    let session = &visit.session;
    let header = signed_in_header(t, &session.operator, session.csrf_token.expose_secret());
    page(StatusCode::OK, document(lang, parts.title, header, body))
}

/// A filter's value as a query pair's (empty when not set).
fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A status-like `select`: "any" first, then every value, the chosen one selected.
fn choice<T: Copy + PartialEq + std::fmt::Display>(
    label: &str,
    name: &str,
    any: &str,
    values: &[T],
    chosen: Option<T>,
) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                option value="" { (any) }
                @for value in values {
                    option value=(value) selected[chosen == Some(*value)] { (value) }
                }
            }
        }
    }
}

// Refunds.

#[derive(Deserialize, Default)]
struct RefundsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    token: String,
}

const REFUND_COLUMNS: [&str; 13] = [
    "sysid",
    "refundOrderNo",
    "app",
    "orderSysid",
    "orderNo",
    "abnormalPaymentNo",
    "token",
    "amount",
    "address",
    "refundStatus",
    "txHash",
    "createdTime",
    "updatedTime",
];

fn refund_row(app: &str, refund: &ConsoleRefund) -> Vec<String> {
    let view = &refund.view;
    vec![
        view.sysid.clone(),
        view.refund_order_no.clone(),
        app.to_owned(),
        refund.order_sysid.clone(),
        view.order_no.clone(),
        optional(view.abnormal_payment_no.as_deref()),
        view.token.clone(),
        view.amount.clone(),
        view.address.clone(),
        view.refund_status.clone(),
        optional(view.tx_hash.as_deref()),
        view.created_time.clone(),
        view.updated_time.clone(),
    ]
}

fn refunds_table(t: &ConsoleTexts, rows: &[ConsoleRefund]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { (t.refund_no) } th { (t.order) } th { (t.status) } th { (t.amount) }
                th { (t.token) } th { (t.tx_hash) } th { (t.created) }
            } }
            tbody {
                @for refund in rows {
                    @let view = &refund.view;
                    tr {
                        td { (view.refund_order_no) }
                        td { a href={ (ORDERS) "/" (refund.order_sysid) } { (view.order_no) } }
                        td { (view.refund_status) }
                        td.num { (view.amount) }
                        td { (view.token) }
                        td { code { (view.tx_hash.as_deref().unwrap_or("-")) } }
                        td { (view.created_time) }
                    }
                }
            }
        } }
    }
}

pub(super) async fn refunds(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let visit = match list_visit::<RefundsQuery>(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let filter = match printable(&[("token", &visit.asked.token)])
        .and_then(|()| one_of("status", &visit.asked.status, RefundStatus::parse))
    {
        Ok(status) => ConsoleRefundFilter {
            status,
            token: given(&visit.asked.token),
        },
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let operator = &visit.session.operator;
    let app = Some(visit.app.as_str());
    let gateway = &state.gateway;
    if visit.csv {
        let exported = gateway.console_export_refunds(operator, app, &filter).await;
        return exported_csv(lang, "refunds", &REFUND_COLUMNS, exported, refund_row);
    }
    let listed = gateway
        .console_refunds(operator, app, &filter, visit.after.clone())
        .await;
    let t = texts(lang);
    listed_page(&visit, listed, |list| ListParts {
        path: REFUNDS,
        title: t.refunds,
        by_app: true,
        intro: None,
        filters: vec![
            ("status", shown(filter.status)),
            ("token", shown(filter.token.as_deref())),
        ],
        fields: html! {
            (choice(t.status, "status", t.any_status, &RefundStatus::ALL, filter.status))
            label { (t.token) input name="token" value=(filter.token.as_deref().unwrap_or("")); }
        },
        table: refunds_table(t, &list.rows),
    })
}

// Abnormal payments.

#[derive(Deserialize, Default)]
struct AbnormalQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
}

const ABNORMAL_COLUMNS: [&str; 12] = [
    "abnormalPaymentNo",
    "app",
    "orderSysid",
    "orderNo",
    "type",
    "token",
    "amount",
    "pendingAmount",
    "hash",
    "status",
    "createdTime",
    "updatedTime",
];

fn abnormal_row(app: &str, payment: &ConsoleAbnormal) -> Vec<String> {
    let view = &payment.view;
    vec![
        view.abnormal_payment_no.clone(),
        app.to_owned(),
        payment.order_sysid.clone(),
        view.order_no.clone(),
        view.kind.clone(),
        view.token.clone(),
        view.amount.clone(),
        view.pending_amount.clone(),
        optional(view.hash.as_deref()),
        view.status.clone(),
        view.created_time.clone(),
        view.updated_time.clone(),
    ]
}

fn abnormal_table(t: &ConsoleTexts, rows: &[ConsoleAbnormal]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { (t.abnormal_no) } th { (t.order) } th { (t.kind) } th { (t.status) }
                th { (t.amount) } th { (t.pending_amount) } th { (t.tx_hash) } th { (t.created) }
            } }
            tbody {
                @for payment in rows {
                    @let view = &payment.view;
                    tr {
                        td { (view.abnormal_payment_no) }
                        td { a href={ (ORDERS) "/" (payment.order_sysid) } { (view.order_no) } }
                        td { (view.kind) }
                        td { (view.status) }
                        td.num { (view.amount) " " (view.token) }
                        td.num { (view.pending_amount) }
                        td { code { (view.hash.as_deref().unwrap_or("-")) } }
                        td { (view.created_time) }
                    }
                }
            }
        } }
    }
}

pub(super) async fn abnormal(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let visit = match list_visit::<AbnormalQuery>(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let parsed = one_of("kind", &visit.asked.kind, AbnormalKind::parse).and_then(|kind| {
        Ok((
            kind,
            one_of("status", &visit.asked.status, AbnormalStatus::parse)?,
        ))
    });
    let filter = match parsed {
        Ok((kind, status)) => AbnormalFilter {
            kind,
            status,
            ..AbnormalFilter::default()
        },
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let operator = &visit.session.operator;
    let app = Some(visit.app.as_str());
    let gateway = &state.gateway;
    if visit.csv {
        let exported = gateway
            .console_export_abnormal_payments(operator, app, &filter)
            .await;
        let columns = &ABNORMAL_COLUMNS;
        return exported_csv(lang, "abnormal-payments", columns, exported, abnormal_row);
    }
    let listed = gateway
        .console_abnormal_payments(operator, app, &filter, visit.after.clone())
        .await;
    let t = texts(lang);
    listed_page(&visit, listed, |list| ListParts {
        path: ABNORMAL,
        title: t.abnormal_payments,
        by_app: true,
        intro: None,
        filters: vec![
            ("kind", shown(filter.kind)),
            ("status", shown(filter.status)),
        ],
        fields: html! {
            (choice(t.kind, "kind", t.any_kind, &AbnormalKind::ALL, filter.kind))
            (choice(t.status, "status", t.any_status, &AbnormalStatus::ALL, filter.status))
        },
        table: abnormal_table(t, &list.rows),
    })
}

// Payouts in flight.

#[derive(Deserialize, Default)]
struct PayoutsQuery {
    #[serde(default)]
    kind: String,
}

const PAYOUT_COLUMNS: [&str; 15] = [
    "id",
    "chain",
    "kind",
    "reference",
    "from",
    "to",
    "asset",
    "amount",
    "status",
    "nonce",
    "txHash",
    "note",
    "createdTime",
    "updatedTime",
    "signedTransactions",
];

fn payout_row(shown: &ConsolePayout) -> Vec<String> {
    let payout = &shown.payout;
    let txs = shown
        .txs
        .iter()
        .map(|tx| format!("{} {}", tx.tx_hash, time(tx.signed_at)))
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        payout.id.clone(),
        payout.chain.to_string(),
        payout.kind.to_string(),
        payout.reference.clone(),
        payout.from.to_string(),
        payout.to.to_string(),
        payout.asset.to_string(),
        shown.amount.clone(),
        payout.status.to_string(),
        payout.nonce.map(|n| n.to_string()).unwrap_or_default(),
        optional(payout.tx_hash.as_deref()),
        optional(payout.note.as_deref()),
        time(payout.created_at),
        time(payout.updated_at),
        txs,
    ]
}

fn payouts_table(t: &ConsoleTexts, rows: &[ConsolePayout]) -> Markup {
    html! {
        @for shown in rows {
            @let payout = &shown.payout;
            section.card.payout {
                h2 { code { (payout.id) } " · " (payout.kind) " · " (payout.status) }
                dl {
                    dt { (t.reference) } dd { (payout.reference) }
                    dt { (t.chain) } dd { (payout.chain) }
                    dt { (t.amount) } dd { (shown.amount) " " (payout.asset) }
                    dt { (t.from) } dd { code { (payout.from.to_string()) } }
                    dt { (t.to) } dd { code { (payout.to.to_string()) } }
                    dt { (t.nonce) } dd { (payout.nonce.map(|n| n.to_string()).unwrap_or_else(|| "-".into())) }
                    @if let Some(fee) = &shown.fee {
                        dt { (t.fee) } dd { (fee) }
                    }
                    @if let Some(note) = &payout.note {
                        dt { (t.note) } dd { (note) }
                    }
                    dt { (t.created) } dd { (time(payout.created_at)) }
                    dt { (t.updated) } dd { (time(payout.updated_at)) }
                }
                @if shown.txs.is_empty() {
                    p { (t.no_signed_tx) }
                } @else {
                    div.scroll { table {
                        thead { tr {
                            th { (t.tx_hash) } th { (t.nonce) " / " (t.expires) }
                            th { (t.max_fee) } th { (t.signed_at) }
                        } }
                        tbody {
                            @for tx in &shown.txs {
                                tr {
                                    td { code { (tx.tx_hash) } }
                                    td {
                                        @match (tx.nonce, tx.expires_at) {
                                            (Some(nonce), _) => (nonce),
                                            (None, Some(expires)) => (time(expires)),
                                            (None, None) => "-",
                                        }
                                    }
                                    td.num { (tx.max_fee_per_gas) " (" (tx.max_priority_fee_per_gas) ")" }
                                    td { (time(tx.signed_at)) }
                                }
                            }
                        }
                    } }
                }
            }
        }
    }
}

pub(super) async fn payouts(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let visit = match list_visit::<PayoutsQuery>(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let filter = match one_of("kind", &visit.asked.kind, PayoutKind::parse) {
        Ok(kind) => PayoutListFilter { kind },
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let operator = &visit.session.operator;
    let gateway = &state.gateway;
    if visit.csv {
        // Payouts are the gateway's, not an app's: every operator's list holds them all.
        let exported = gateway.console_export_payouts(operator, &filter).await;
        let row = |_: &str, shown: &ConsolePayout| payout_row(shown);
        return exported_csv(lang, "payouts", &PAYOUT_COLUMNS, exported.map(Some), row);
    }
    let listed = gateway
        .console_payouts(operator, &filter, visit.after.clone())
        .await;
    let t = texts(lang);
    listed_page(&visit, listed.map(Some), |list| ListParts {
        path: PAYOUTS,
        title: t.payouts,
        by_app: false,
        intro: Some(t.payouts_note),
        filters: vec![("kind", shown(filter.kind))],
        fields: html! {
            (choice(t.kind, "kind", t.any_kind, &PayoutKind::ALL, filter.kind))
        },
        table: payouts_table(t, &list.rows),
    })
}

// Webhook deliveries.

#[derive(Deserialize, Default)]
struct WebhooksQuery {
    #[serde(default)]
    status: String,
    #[serde(default, rename = "type")]
    event_type: String,
}

const WEBHOOK_COLUMNS: [&str; 10] = [
    "eventId",
    "app",
    "eventType",
    "objectKey",
    "status",
    "attempts",
    "nextAttemptTime",
    "lastError",
    "deliveredTime",
    "createdTime",
];

fn webhook_row(entry: &OutboxEntry) -> Vec<String> {
    let event = &entry.event;
    vec![
        event.event_id.clone(),
        event.app_id.to_string(),
        event.event_type.to_string(),
        event.object_key.clone(),
        entry.status.to_string(),
        entry.attempts.to_string(),
        time(entry.next_attempt_at),
        optional(entry.last_error.as_deref()),
        entry.delivered_at.map(time).unwrap_or_default(),
        time(event.created_at),
    ]
}

fn webhooks_table(t: &ConsoleTexts, session: &LiveSession, rows: &[OutboxEntry]) -> Markup {
    let resend = may(session.operator.role, ConsoleAction::ResendWebhook);
    let csrf = session.csrf_token.expose_secret();
    html! {
        div.scroll { table {
            thead { tr {
                th { (t.webhook) } th { (t.event_type) } th { (t.target) } th { (t.delivery) }
                th { (t.attempts) } th { (t.error) } th { (t.created) }
                @if resend { th {} }
            } }
            tbody {
                @for entry in rows {
                    @let event = &entry.event;
                    tr {
                        td { a href={ (WEBHOOKS) "/" (event.event_id) } { code { (event.event_id) } } }
                        td { (event.event_type) }
                        td { (event.object_key) }
                        td { (entry.status) }
                        td.num { (entry.attempts) }
                        td { (entry.last_error.as_deref().unwrap_or("")) }
                        td { (time(event.created_at)) }
                        @if resend {
                            td {
                                form.action method="post" action={ (WEBHOOKS) "/" (event.event_id) "/resend" } {
                                    (csrf_field(csrf))
                                    button type="submit" { (t.resend) }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }
}

pub(super) async fn webhooks(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let visit = match list_visit::<WebhooksQuery>(&state, peer, query.as_deref(), &headers).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let parsed = one_of("status", &visit.asked.status, DeliveryStatus::parse).and_then(|status| {
        Ok((
            status,
            one_of("type", &visit.asked.event_type, EventType::parse)?,
        ))
    });
    let filter = match parsed {
        Ok((status, event_type)) => ConsoleWebhookFilter {
            status,
            event_type: event_type.map(|t| t.to_string()),
        },
        Err(problem) => return message(lang, StatusCode::BAD_REQUEST, &problem),
    };
    let operator = &visit.session.operator;
    let app = Some(visit.app.as_str());
    let gateway = &state.gateway;
    if visit.csv {
        let exported = gateway
            .console_export_webhooks(operator, app, &filter)
            .await;
        let row = |_: &str, entry: &OutboxEntry| webhook_row(entry);
        return exported_csv(lang, "webhooks", &WEBHOOK_COLUMNS, exported, row);
    }
    let listed = gateway
        .console_webhooks(operator, app, &filter, visit.after.clone())
        .await;
    let t = texts(lang);
    let chosen_type = filter.event_type.as_deref().and_then(EventType::parse);
    listed_page(&visit, listed, |list| ListParts {
        path: WEBHOOKS,
        title: t.webhooks,
        by_app: true,
        intro: None,
        filters: vec![
            ("status", shown(filter.status)),
            ("type", shown(filter.event_type.as_deref())),
        ],
        fields: html! {
            (choice(t.delivery, "status", t.any_state, &DeliveryStatus::ALL, filter.status))
            (choice(t.event_type, "type", t.any_event_type, &EventType::ALL, chosen_type))
        },
        table: webhooks_table(t, &visit.session, &list.rows),
    })
}

/// Resends one event from the deliveries list (`support` and above), back to the list.
pub(super) async fn resend(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(event_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::ResendWebhook) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let resent = state
        .gateway
        .console_resend_event(&w.session.operator, w.client, &event_id)
        .await;
    match resent {
        Ok(Some(_)) => see_other_to(&format!("{WEBHOOKS}/{event_id}")),
        Ok(None) => not_found(w.lang),
        Err(error) => failure(w.lang, &error),
    }
}
