//! One's own account (`/admin/account`, every role): who one is, and the second factor. While
//! it is off the page offers a new secret (its `otpauth://` URI as text and as a QR code drawn
//! here, and the key for typing in) and switches it on once a first code from it is typed; while
//! it is on, a current code switches it off. And one's password, changed given the current one:
//! every session of the account ends, so the answer is the sign-in page.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use maud::{PreEscaped, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wcheckout_app::ServiceError;
use wcheckout_app::console_totp::TotpOffer;
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::operator::{ConsoleAction, Operator};

use super::html::{csrf_field, document, signed_in_header};
use super::i18n::{auth_texts, texts};
use super::{ACCOUNT, LOGIN, Visitor, failure, page, reader, see_other_to};
use crate::page::i18n::Lang;
use crate::page::qr;
use crate::state::AppState;

pub(super) async fn account(
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
    let offer = enrolment_offer(&state, operator);
    let csrf = session.csrf_token.expose_secret();
    let body = account_page(lang, operator, csrf, offer.as_ref(), Problem::None);
    page(StatusCode::OK, body)
}

/// A new secret to enrol while the second factor is off.
fn enrolment_offer(state: &AppState, operator: &Operator) -> Option<TotpOffer> {
    let off = operator.totp.is_none();
    off.then(|| state.gateway.console_totp_offer(operator))
}

/// What went wrong with the last form of the page, if anything.
#[derive(Clone, Copy)]
enum Problem<'a> {
    None,
    /// A code of the second factor's forms.
    WrongCode,
    /// The password form's, as said to the operator.
    Password(&'a str),
}

/// The QR code of `text` as inline SVG (the page loads nothing), or nothing when it cannot be
/// drawn.
fn inline_qr(text: &str) -> PreEscaped<String> {
    let svg = qr::svg_of(text).unwrap_or_default();
    let start = svg.find("<svg").unwrap_or(svg.len());
    PreEscaped(svg[start..].to_owned())
}

fn account_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    offer: Option<&TotpOffer>,
    problem: Problem<'_>,
) -> String {
    let t = texts(lang);
    let a = auth_texts(lang);
    let scope = operator.app.as_ref().map_or(t.all_apps, |app| app.as_str());
    let body = html! {
        h1 { (t.account) }
        dl {
            dt { (a.name) } dd { (operator.name) }
            dt { (t.role) } dd { (operator.role) }
            dt { (t.scope) } dd { (scope) }
            dt { (a.second_factor) }
            dd.totp-status { @if operator.totp.is_some() { (a.totp_on) } @else { (a.totp_off) } }
        }
        section.card.second-factor {
            h2 { (a.second_factor) }
            @if matches!(problem, Problem::WrongCode) {
                p.error role="alert" { (a.code_wrong) }
            }
            @if let Some(offer) = offer {
                p { (a.enrol_intro) }
                figure.qr role="img" aria-label=(a.qr_label) { (inline_qr(offer.uri.expose_secret())) }
                p { code.otpauth { (offer.uri.expose_secret()) } }
                p { (a.secret_key) ": " code.secret { (offer.secret.expose_secret()) } }
                form method="post" action={ (ACCOUNT) "/totp/enable" } {
                    (csrf_field(csrf_token))
                    input type="hidden" name="offer" value=(offer.sealed);
                    label { (a.code)
                        input name="code" inputmode="numeric" pattern="[0-9 ]*" maxlength="8"
                            autocomplete="one-time-code" required;
                    }
                    button type="submit" { (a.switch_on) }
                }
            } @else {
                p { (a.disable_intro) }
                form method="post" action={ (ACCOUNT) "/totp/disable" } {
                    (csrf_field(csrf_token))
                    label { (a.code)
                        input name="code" inputmode="numeric" pattern="[0-9 ]*" maxlength="8"
                            autocomplete="one-time-code" required;
                    }
                    button.danger type="submit" { (a.switch_off) }
                }
            }
        }
        section.card.password {
            h2 { (a.password) }
            @if let Problem::Password(said) = problem {
                p.error role="alert" { (said) }
            }
            p { (a.password_intro) }
            form method="post" action=(PASSWORD_PATH) {
                (csrf_field(csrf_token))
                label { (a.current_password)
                    input type="password" name="current_password" autocomplete="current-password" required;
                }
                label { (a.new_password)
                    input type="password" name="new_password" autocomplete="new-password"
                        minlength="12" maxlength="1024" required;
                }
                button type="submit" { (a.change_password) }
            }
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.account, header, body)
}

/// The second factor's forms; a missing field is empty.
#[derive(Deserialize)]
pub(super) struct TotpForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    offer: String,
}

fn is_wrong_code(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Rejected(r) if r.code == ErrorCode::InvalidParameter)
}

pub(super) async fn enable_totp(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<TotpForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::EnableTotp) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let enabled = state
        .gateway
        .console_enable_totp(&w.session, w.client, &form.offer, &form.code)
        .await;
    let operator = &w.session.operator;
    match enabled {
        Ok(()) => see_other_to(ACCOUNT),
        Err(error) if is_wrong_code(&error) => {
            // The same secret again, so that the app's entry still fits.
            match state
                .gateway
                .console_totp_offer_again(operator, &form.offer)
            {
                Some(offer) => {
                    let csrf = w.session.csrf_token.expose_secret();
                    let body =
                        account_page(w.lang, operator, csrf, Some(&offer), Problem::WrongCode);
                    page(StatusCode::BAD_REQUEST, body)
                }
                None => failure(w.lang, &error),
            }
        }
        Err(error) => failure(w.lang, &error),
    }
}

pub(super) async fn disable_totp(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<TotpForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::DisableTotp) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let disabled = state
        .gateway
        .console_disable_totp(&w.session, w.client, &form.code)
        .await;
    match disabled {
        Ok(()) => see_other_to(ACCOUNT),
        Err(error) if is_wrong_code(&error) => {
            let csrf = w.session.csrf_token.expose_secret();
            let operator = &w.session.operator;
            let body = account_page(w.lang, operator, csrf, None, Problem::WrongCode);
            page(StatusCode::BAD_REQUEST, body)
        }
        Err(error) => failure(w.lang, &error),
    }
}

/// Where the password form posts.
pub(super) const PASSWORD_PATH: &str = "/admin/account/password";

/// The password form; a missing field is empty.
#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// Changes one's own password; on success every session of the account has ended, so the
/// answer is the sign-in page.
pub(super) async fn change_password(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<PasswordForm>,
) -> Response {
    let w = match visitor.writer(&form.csrf_token, ConsoleAction::ChangePassword) {
        Ok(w) => w,
        Err(refused) => return refused.into_response(),
    };
    let current = SecretString::from(form.current_password);
    let new = SecretString::from(form.new_password);
    let changed = state
        .gateway
        .console_change_password(&w.session, w.client, &current, &new)
        .await;
    let error = match changed {
        Ok(()) => return see_other_to(LOGIN),
        Err(ServiceError::Rejected(rejection)) => rejection,
        Err(error) => return failure(w.lang, &error),
    };
    let said = if error.message.starts_with("current_password") {
        auth_texts(w.lang).password_wrong.to_owned()
    } else {
        error.message.clone()
    };
    let operator = &w.session.operator;
    let offer = enrolment_offer(&state, operator);
    let csrf = w.session.csrf_token.expose_secret();
    let problem = Problem::Password(&said);
    let body = account_page(w.lang, operator, csrf, offer.as_ref(), problem);
    page(StatusCode::BAD_REQUEST, body)
}
