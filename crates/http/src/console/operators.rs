//! The operator accounts (`/admin/operators`, admins only, 403 for the others): the list (name,
//! role, app, status, second factor, last sign-in), a form creating one, and per account the
//! buttons disabling or enabling it and resetting its second factor. Every change is a POST
//! through `writer` and the operator use cases, audited.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wcheckout_app::console_operators::{NewOperator, OperatorChange};
use wcheckout_app::operators::OperatorSummary;
use wcheckout_domain::operator::{ConsoleAction, Operator, Role, may};

use super::html::{csrf_field, document, signed_in_header};
use super::i18n::{auth_texts, texts};
use super::{CsrfForm, OPERATORS, Visitor, failure, message, page, reader, see_other_to};
use crate::page::i18n::Lang;
use crate::state::AppState;

pub(super) async fn operators(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (lang, session) = match reader(&state, peer, query.as_deref(), &headers).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let operator = &session.operator;
    if !may(operator.role, ConsoleAction::ManageOperators) {
        return message(lang, StatusCode::FORBIDDEN, texts(lang).forbidden);
    }
    match state.gateway.console_operators(operator).await {
        Ok(accounts) => {
            let csrf = session.csrf_token.expose_secret();
            page(
                StatusCode::OK,
                operators_page(lang, operator, csrf, &accounts),
            )
        }
        Err(error) => failure(lang, &error),
    }
}

fn operators_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    accounts: &[OperatorSummary],
) -> String {
    let t = texts(lang);
    let a = auth_texts(lang);
    let button = |name: &str, to: &str, label: &str, danger: bool| {
        html! {
            form.inline method="post" action={ (OPERATORS) "/" (name) "/" (to) } {
                (csrf_field(csrf_token))
                @if danger {
                    button.danger type="submit" { (label) }
                } @else {
                    button type="submit" { (label) }
                }
            }
        }
    };
    let body = html! {
        h1 { (t.operators) }
        div.scroll {
            table.operators {
                thead { tr {
                    th { (a.name) } th { (t.role) } th { (t.app) } th { (t.status) }
                    th { (a.totp) } th { (a.last_sign_in) } th {}
                } }
                tbody {
                    @for account in accounts {
                        tr {
                            td { (account.name) }
                            td { (account.role) }
                            td { (account.app_id.as_deref().unwrap_or(t.all_apps)) }
                            td { (account.status) }
                            td { @if account.totp { (a.totp_on) } @else { (a.totp_off) } }
                            td { (shown_time(account.last_sign_in_time.as_deref())) }
                            td.actions {
                                @if account.status == "ACTIVE" {
                                    @if account.name != operator.name {
                                        (button(&account.name, "disable", a.disable, true))
                                    }
                                } @else {
                                    (button(&account.name, "enable", a.enable, false))
                                }
                                @if account.totp {
                                    (button(&account.name, "reset-totp", a.reset_totp, true))
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (a.create_operator) }
        form.card.create-operator method="post" action=(OPERATORS) {
            (csrf_field(csrf_token))
            label { (a.name) input name="name" required maxlength="64" autocomplete="off"; }
            label { (t.role)
                select name="role" {
                    @for role in Role::ALL {
                        option value=(role) { (role) }
                    }
                }
            }
            label { (a.app_hint)
                input name="app" value=(operator.app.as_ref().map(ToString::to_string).unwrap_or_default());
            }
            label { (a.initial_password)
                input type="password" name="password" required minlength="12" autocomplete="new-password";
            }
            button type="submit" { (a.create) }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.operators, header, body)
}

/// An ISO time (`2026-12-04T22:39:23.473147`) as the console shows times, to the second and
/// UTC (`2026-12-04 22:39:23`); `-` for none.
fn shown_time(iso: Option<&str>) -> String {
    iso.map_or_else(
        || "-".to_owned(),
        |iso| iso.get(..19).unwrap_or(iso).replacen('T', " ", 1),
    )
}

/// The creation form's fields; a missing one is empty.
#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CreateForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::CreateOperator) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let new = NewOperator {
        name: form.name,
        role: form.role,
        app: form.app,
        password: SecretString::from(form.password),
    };
    let created = state
        .gateway
        .console_create_operator(&w.session.operator, w.client, &new)
        .await;
    match created {
        Ok(_) => see_other_to(OPERATORS),
        Err(error) => failure(w.lang, &error),
    }
}

async fn change(
    state: &AppState,
    visitor: Visitor,
    form: &CsrfForm,
    name: &str,
    change: OperatorChange,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, change.action()) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let changed = state
        .gateway
        .console_change_operator(&w.session.operator, w.client, name, change)
        .await;
    match changed {
        Ok(_) => see_other_to(OPERATORS),
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn disable(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let change_of = OperatorChange::Disable;
    change(&state, visitor, &form, &name, change_of).await
}

pub(super) async fn enable(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let change_of = OperatorChange::Enable;
    change(&state, visitor, &form, &name, change_of).await
}

pub(super) async fn reset_totp(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let change_of = OperatorChange::ResetTotp;
    change(&state, visitor, &form, &name, change_of).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_to_the_second() {
        let shown = shown_time(Some("2026-12-04T22:39:23.473147"));
        assert_eq!(shown, "2026-12-04 22:39:23");
        assert_eq!(shown_time(None), "-");
    }
}
