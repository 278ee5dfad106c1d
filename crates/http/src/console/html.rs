//! The console's pages, rendered on the server with maud (every value escaped). They work
//! without JavaScript and fit a phone's width.

use maud::{DOCTYPE, Markup, html};
use wcheckout_app::console_history::OrderWebhook;
use wcheckout_app::console_lists::LIST_COUNT_CAP;
use wcheckout_app::console_orders::{ConsoleOrder, ConsoleOrderList};
use wcheckout_app::wire::OrderView;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::ports::{Cursor, OrderFilter};
use wcheckout_domain::time::Timestamp;

use super::filters::after_text;
use super::i18n::{ConsoleTexts, auth_texts, sign_in_refused, texts};
use super::{
    ABNORMAL, ACCOUNT, AUDIT, CSS_URL, HOME, LOGIN, LOGIN_CODE, LOGOUT, OPERATORS, ORDERS, PAYOUTS,
    REFUNDS, SESSIONS, SETTLEMENTS, WEBHOOKS,
};
use crate::page::i18n::{Lang, fill};

/// A whole page: `title`, then `body` under the console's header.
pub(super) fn document(lang: Lang, title: &str, header: Markup, body: Markup) -> String {
    let t = texts(lang);
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex";
                title { (title) " · " (t.console) }
                link rel="stylesheet" href=(CSS_URL);
            }
            body {
                header.bar {
                    (header)
                    a.lang href={ "?lang=" (other.tag()) } lang=(other.tag()) { (t.switch_language) }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The hidden field every form carries.
pub(super) fn csrf_field(csrf_token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(csrf_token); }
}

/// The sign-in form; `refused` shows the one refusal message.
pub fn login_page(lang: Lang, csrf_token: &str, username: &str, refused: bool) -> String {
    let t = texts(lang);
    let body = html! {
        form.card method="post" action=(LOGIN) {
            h1 { (t.sign_in) }
            @if refused {
                p.error role="alert" { (sign_in_refused(lang)) }
            }
            (csrf_field(csrf_token))
            label { (t.username) input name="username" value=(username) autocomplete="username" required; }
            label { (t.password) input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { (t.sign_in) }
        }
    };
    document(lang, t.sign_in, html! {}, body)
}

/// The code step of a two-step sign-in; `refused` shows the one refusal message.
pub fn code_page(lang: Lang, csrf_token: &str, refused: bool) -> String {
    let t = texts(lang);
    let a = auth_texts(lang);
    let body = html! {
        form.card method="post" action=(LOGIN_CODE) {
            h1 { (a.code_title) }
            @if refused {
                p.error role="alert" { (sign_in_refused(lang)) }
            }
            p { (a.code_intro) }
            (csrf_field(csrf_token))
            label { (a.code)
                input name="code" inputmode="numeric" pattern="[0-9 ]*" maxlength="8"
                    autocomplete="one-time-code" required autofocus;
            }
            button type="submit" { (t.sign_in) }
            p { a href=(LOGIN) { (a.start_over) } }
        }
    };
    document(lang, a.code_title, html! {}, body)
}

/// The header of a signed-in page: who, and the sign-out form.
pub(super) fn signed_in_header(t: &ConsoleTexts, operator: &Operator, csrf_token: &str) -> Markup {
    html! {
        nav {
            a href=(HOME) { (t.console) } " " a href=(ORDERS) { (t.orders) }
            " " a href=(REFUNDS) { (t.refunds) } " " a href=(ABNORMAL) { (t.abnormal_payments) }
            " " a href=(SETTLEMENTS) { (t.settlements) } " " a href=(PAYOUTS) { (t.payouts) }
            " " a href=(WEBHOOKS) { (t.webhooks) } " " a href=(AUDIT) { (t.audit_log) }
            @if may(operator.role, ConsoleAction::ManageApps) {
                " " a href=(super::apps::APPS) { (super::i18n_apps::app_texts(t.lang()).apps) }
            }
            @if may(operator.role, ConsoleAction::RevokeSession) {
                " " a href=(SESSIONS) { (t.sessions) }
            }
            @if may(operator.role, ConsoleAction::ManageOperators) {
                " " a href=(OPERATORS) { (t.operators) }
            }
            " " a href=(ACCOUNT) { (t.account) }
        }
        form.signout method="post" action=(LOGOUT) {
            span { (operator.name) " (" (operator.role) ")" }
            (csrf_field(csrf_token))
            button type="submit" { (t.sign_out) }
        }
    }
}

/// A page saying only `message` (a refusal, a missing page).
pub fn message_page(lang: Lang, message: &str) -> String {
    let body = html! { section.card { p.error role="alert" { (message) } } };
    document(lang, message, html! {}, body)
}

/// The order search form and its results.
pub fn orders_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    query: &str,
    found: &[(AppId, OrderView)],
) -> String {
    let t = texts(lang);
    let body = html! {
        h1 { (t.orders) }
        form.search method="get" action=(ORDERS) role="search" {
            input type="search" name="q" value=(query) placeholder=(t.search_hint) aria-label=(t.search_hint);
            button type="submit" { (t.search) }
        }
        @if !query.trim().is_empty() && found.is_empty() {
            p { (t.no_results) }
        }
        @if !found.is_empty() {
            (orders_table(t, found.iter().map(|(app, view)| (app.as_str(), view))))
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.orders, header, body)
}

/// A table of orders with their apps, each linking to its page.
fn orders_table<'a>(
    t: &ConsoleTexts,
    rows: impl Iterator<Item = (&'a str, &'a OrderView)>,
) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr {
                    th { (t.order_no) } th { (t.app) } th { (t.status) }
                    th { (t.amount) } th { (t.token) } th { (t.created) }
                } }
                tbody {
                    @for (app, view) in rows {
                        tr {
                            td { a href={ (ORDERS) "/" (view.sysid) } { (view.order_no) } }
                            td { (app) }
                            td { (view.order_status) }
                            td.num { (view.order_amount.as_str()) " " (view.fiat) }
                            td { (view.token) }
                            td { (view.created_time) }
                        }
                    }
                }
            }
        }
    }
}

/// The list's filter form, kept filled in.
fn filter_form(t: &ConsoleTexts, list: &ConsoleOrderList, filter: &OrderFilter) -> Markup {
    let time = |at: Option<Timestamp>| at.map(|at| at.to_spaced_seconds()).unwrap_or_default();
    html! {
        form.filters method="get" action=(ORDERS) {
            (app_select(t, &list.apps, list.app.as_ref()))
            label { (t.status)
                select name="status" {
                    option value="" { (t.any_status) }
                    @for status in OrderStatus::ALL {
                        option value=(status) selected[filter.status == Some(status)] { (status) }
                    }
                }
            }
            label { (t.token) input name="token" value=(filter.token.as_deref().unwrap_or("")); }
            label { (t.customer) input name="customer" value=(filter.customer_id.as_deref().unwrap_or("")); }
            label { (t.date_from) input name="from" value=(time(filter.created_from)) placeholder="2026-01-31 00:00:00"; }
            label { (t.date_to) input name="to" value=(time(filter.created_to)) placeholder="2026-01-31 23:59:59"; }
            button type="submit" { (t.filter) }
        }
    }
}

/// The list's query string with its app and filter (`extra` appended: a cursor, a format).
fn list_query(list: &ConsoleOrderList, filter: &OrderFilter, extra: &[(&str, String)]) -> String {
    let time = |at: Option<Timestamp>| at.map(|at| at.to_spaced_seconds()).unwrap_or_default();
    let mut pairs = vec![
        (
            "app",
            list.app
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        (
            "status",
            filter.status.map(|s| s.to_string()).unwrap_or_default(),
        ),
        ("token", filter.token.clone().unwrap_or_default()),
        ("customer", filter.customer_id.clone().unwrap_or_default()),
        ("from", time(filter.created_from)),
        ("to", time(filter.created_to)),
    ];
    pairs.extend(extra.iter().cloned());
    link_to(ORDERS, &pairs)
}

/// `path` with the non-empty `pairs` as its query string.
pub(super) fn link_to(path: &str, pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (*key, value.as_str()))
        .collect();
    let query = serde_urlencoded::to_string(kept).unwrap_or_default();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// How many rows match a list's filter (counted up to [`LIST_COUNT_CAP`]).
pub(super) fn list_summary(t: &ConsoleTexts, total: u64) -> String {
    let sentence = if total >= LIST_COUNT_CAP {
        t.list_matching_more
    } else {
        t.list_matching
    };
    fill(sentence, &[("total", &total.to_string())])
}

/// A keyset list's links: back to the first page (when not on it) and on to the next (when
/// there is one); `href` makes a link from the cursor (`None`: the first page).
pub(super) fn list_pages(
    t: &ConsoleTexts,
    on_first: bool,
    next: Option<&Cursor>,
    href: impl Fn(Option<String>) -> String,
) -> Markup {
    html! {
        nav.pages {
            @if !on_first {
                a rel="first" href=(href(None)) { (t.first_page) }
            }
            @if let Some(next) = next {
                a rel="next" href=(href(Some(after_text(next)))) { (t.next) }
            }
        }
    }
}

/// The app chooser of a list's filter form.
pub(super) fn app_select(t: &ConsoleTexts, apps: &[AppId], chosen: Option<&AppId>) -> Markup {
    html! {
        label { (t.app)
            select name="app" {
                @for app in apps {
                    option value=(app) selected[chosen == Some(app)] { (app) }
                }
            }
        }
    }
}

/// The search form, the list's filters, a page of one app's orders and the link to the next.
pub fn order_list_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    list: &ConsoleOrderList,
    filter: &OrderFilter,
    on_first: bool,
) -> String {
    let t = texts(lang);
    let app = list
        .app
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let csv = list_query(list, filter, &[("format", "csv".to_owned())]);
    let body = html! {
        h1 { (t.orders) }
        form.search method="get" action=(ORDERS) role="search" {
            input type="search" name="q" placeholder=(t.search_hint) aria-label=(t.search_hint);
            button type="submit" { (t.search) }
        }
        @if list.apps.is_empty() {
            p { (t.no_apps) }
        } @else {
            (filter_form(t, list, filter))
            p.summary { (list_summary(t, list.total)) " " a.csv href=(csv) { (t.download_csv) } }
            @if let (Some(app), true) = (&list.app, may(operator.role, ConsoleAction::TestWebhook)) {
                form.action.test-webhook method="post" action={ "/admin/apps/" (app) "/webhook-test" } {
                    (csrf_field(csrf_token))
                    button type="submit" { (t.test_webhook) }
                }
            }
            (orders_table(t, list.rows.iter().map(|view| (app.as_str(), view))))
            (list_pages(t, on_first, list.next.as_ref(), |after| {
                list_query(list, filter, &[("after", after.unwrap_or_default())])
            }))
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.orders, header, body)
}

/// One order: its fields and its transfers on chain.
pub fn order_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    order: &ConsoleOrder,
) -> String {
    let t = texts(lang);
    let view = &order.view;
    let body = html! {
        h1 { (t.order_no) " " (view.order_no) }
        dl {
            dt { "sysid" } dd { (view.sysid) }
            dt { (t.app) } dd { (order.app_id) }
            dt { (t.status) } dd { (view.order_status) }
            dt { (t.amount) } dd { (view.order_amount.as_str()) " " (view.fiat) }
            dt { (t.paying) } dd { (view.paying_amount.as_str()) " " (view.token) }
            dt { (t.paid) } dd { (view.paid_amount.as_str()) " " (view.token) }
            dt { (t.deposit_address) } dd { code { (view.deposit_address) } }
            dt { (t.tx_hash) } dd { code { (view.tx_hash.as_deref().unwrap_or("-")) } }
            dt { (t.customer) } dd { (view.customer_id) }
            dt { (t.created) } dd { (view.created_time) }
            dt { (t.updated) } dd { (view.updated_time) }
        }
        @if view.order_status == "PAYING" && may(operator.role, ConsoleAction::CancelOrder) {
            form.action method="post" action={ (ORDERS) "/" (view.sysid) "/cancel" } {
                (csrf_field(csrf_token))
                button.danger type="submit" { (t.cancel_order) }
            }
        }
        (super::refunds::refund_forms(lang, operator, order))
        h2 { (t.transfers) }
        @if order.transfers.is_empty() {
            p { (t.no_transfers) }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th { (t.tx_hash) } th { (t.block) } th { (t.confirmations) }
                        th { (t.from) } th { (t.state) }
                    } }
                    tbody {
                        @for shown in &order.transfers {
                            @let transfer = &shown.transfer;
                            tr {
                                td {
                                    @if let Some(url) = &shown.explorer_url {
                                        a.explorer href=(url) rel="noopener noreferrer" title=(t.view_on_explorer) { code { (transfer.tx_hash) } }
                                    } @else {
                                        code { (transfer.tx_hash) }
                                    }
                                }
                                td.num { (transfer.block_number) }
                                td.num.confirmations { @if let Some(n) = shown.confirmations { (n) } @else { "-" } }
                                td { code { (transfer.from.to_string()) } }
                                td { (transfer.state) }
                            }
                        }
                    }
                }
            }
        }
        (order_history(t, operator, csrf_token, order))
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.orders, header, body)
}

/// The order's timeline, refunds, abnormal payments and webhooks (with a resend button for
/// those who may).
fn order_history(
    t: &ConsoleTexts,
    operator: &Operator,
    csrf_token: &str,
    order: &ConsoleOrder,
) -> Markup {
    let history = &order.history;
    let resend = may(operator.role, ConsoleAction::ResendWebhook);
    html! {
        h2 { (t.timeline) }
        div.scroll {
            table.timeline {
                thead { tr { th { (t.at) } th { (t.event) } th { (t.state) } } }
                tbody {
                    @for entry in &history.timeline {
                        tr {
                            td { (entry.at.to_spaced_seconds()) }
                            td { (entry.what) }
                            td { code { (entry.detail) } }
                        }
                    }
                }
            }
        }
        h2 #refunds { (t.refunds) }
        @if history.refunds.is_empty() {
            p { (t.none) }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "refundOrderNo" } th { (t.amount) } th { (t.status) } th { (t.tx_hash) } th { (t.created) } } }
                    tbody {
                        @for refund in &history.refunds {
                            tr {
                                td { (refund.refund_order_no) }
                                td.num { (refund.amount) " " (refund.token) }
                                td { (refund.refund_status) }
                                td { code { (refund.tx_hash.as_deref().unwrap_or("-")) } }
                                td { (refund.created_time) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t.abnormal_payments) }
        @if history.abnormal.is_empty() {
            p { (t.none) }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "abnormalPaymentNo" } th { (t.event) } th { (t.amount) } th { (t.status) } th { (t.tx_hash) } } }
                    tbody {
                        @for payment in &history.abnormal {
                            tr {
                                td { (payment.abnormal_payment_no) }
                                td { (payment.kind) }
                                td.num { (payment.amount) " " (payment.token) }
                                td { (payment.status) }
                                td { code { (payment.hash.as_deref().unwrap_or("-")) } }
                            }
                        }
                    }
                }
            }
        }
        h2 id="webhooks" { (t.webhooks) }
        @if history.webhooks.is_empty() {
            p { (t.none) }
        }
        @for hook in &history.webhooks {
            @let resend_to = resend.then(|| format!("{ORDERS}/{}/webhooks/{}/resend", order.view.sysid, hook.entry.event.event_id));
            (webhook_card(t, csrf_token, hook, resend_to.as_deref()))
        }
    }
}

/// One webhook: its event, delivery and attempts, and a resend button posting to `resend_to`.
pub(super) fn webhook_card(
    t: &ConsoleTexts,
    csrf_token: &str,
    hook: &OrderWebhook,
    resend_to: Option<&str>,
) -> Markup {
    html! {
        section.webhook {
            h3 { code { (hook.entry.event.event_id) } " " (hook.entry.event.event_type) }
            dl {
                dt { (t.created) } dd { (hook.entry.event.created_at.to_spaced_seconds()) }
                dt { (t.delivery) } dd.delivery { (hook.entry.status) }
                dt { (t.attempts) } dd.attempt-count { (hook.entry.attempts) }
            }
            @if !hook.attempts.is_empty() {
                div.scroll {
                    table.attempts {
                        thead { tr { th { "#" } th { (t.at) } th { (t.http_status) } th { (t.error) } } }
                        tbody {
                            @for attempt in &hook.attempts {
                                tr {
                                    td.num { (attempt.attempt) }
                                    td { (attempt.started_at.to_spaced_seconds()) }
                                    td { (attempt.http_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into())) }
                                    td { (attempt.error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(action) = resend_to {
                form.action method="post" action=(action) {
                    (csrf_field(csrf_token))
                    button type="submit" { (t.resend) }
                }
            }
        }
    }
}
