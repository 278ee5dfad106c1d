//! An operator's own second factor, from the console: enrolling (a new secret shown once as an
//! `otpauth://` URI, switched on only by a first code from it) and switching it off (with a
//! current code). Both are audited. The secret is kept sealed with the master key, bound to the
//! account's name; it is never logged, and never shown again after enrolment.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::operator::{ConsoleAction, Operator};

use crate::console::{LiveSession, actor_of, totp_context};
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;
use crate::totp;

/// What the enrolment page shows: a new secret, and the same sealed for the form that confirms
/// it (so that nothing is stored before a first code). `Debug` leaves everything out.
pub struct TotpOffer {
    /// The secret in Base32, for typing into an app.
    pub secret: SecretString,
    /// The `otpauth://` URI, as text and as a QR code.
    pub uri: SecretString,
    /// The secret sealed for this account's enrolment form (hidden field `offer`).
    pub sealed: String,
}

impl std::fmt::Debug for TotpOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpOffer([REDACTED])")
    }
}

/// What the master key binds an enrolment offer to (not the account's stored secret's context,
/// so neither can stand for the other).
fn offer_context(name: &str) -> String {
    format!("operator-totp-offer:{name}")
}

/// The one refusal of a wrong code at enrolment or switching off.
fn wrong_code() -> ServiceError {
    Rejection::invalid("code", "is not a current code of the authenticator app").into()
}

impl Gateway {
    /// A new secret for `operator` to enrol.
    pub fn console_totp_offer(&self, operator: &Operator) -> TotpOffer {
        self.offer_of(operator, totp::new_secret())
    }

    /// The offer of a sealed enrolment form again (after a wrong code), if it is this account's.
    pub fn console_totp_offer_again(&self, operator: &Operator, sealed: &str) -> Option<TotpOffer> {
        let secret = self.secrets.open(&offer_context(&operator.name), sealed);
        secret.ok().map(|secret| self.offer_of(operator, secret))
    }

    fn offer_of(&self, operator: &Operator, secret: SecretString) -> TotpOffer {
        TotpOffer {
            uri: totp::otpauth_uri(&operator.name, &secret),
            sealed: self
                .secrets
                .seal(&offer_context(&operator.name), secret.expose_secret()),
            secret,
        }
    }

    /// Switches the session's operator's second factor on with the offered secret, once `code`
    /// shows the app has it (that code is used: it cannot sign in). Audited as `ENABLE_TOTP`.
    pub async fn console_enable_totp(
        &self,
        session: &LiveSession,
        client: IpAddr,
        sealed_offer: &str,
        code: &str,
    ) -> Result<(), ServiceError> {
        let operator = &session.operator;
        let name = &operator.name;
        let secret = self
            .secrets
            .open(&offer_context(name), sealed_offer)
            .map_err(|_| Rejection::invalid("offer", "is not this account's enrolment form"))?;
        let key = totp::base32_decode(secret.expose_secret())
            .ok_or_else(|| Rejection::invalid("offer", "is not this account's enrolment form"))?;
        let now = self.clock.now();
        let step = totp::matching_step(&key, code, totp::step_at(now)).ok_or_else(wrong_code)?;
        let sealed = self
            .secrets
            .seal(&totp_context(name), secret.expose_secret());
        let enabled = self
            .store
            .enable_operator_totp(name, &sealed, Some(step), now);
        if !enabled.await? {
            let message = "the second factor is on already";
            return Err(ServiceError::rejected(ErrorCode::Conflict, message));
        }
        let actor = actor_of(operator, client);
        audit(&*self.store, &actor, ConsoleAction::EnableTotp, name, now).await
    }

    /// Switches the session's operator's second factor off, given a current code of it (used
    /// up). Audited as `DISABLE_TOTP`.
    pub async fn console_disable_totp(
        &self,
        session: &LiveSession,
        client: IpAddr,
        code: &str,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        // Read again: the session's copy may predate a code used since.
        let name = &session.operator.name;
        let operator = self.store.operator(name).await?;
        let Some((operator, second_factor)) = operator.and_then(|o| o.totp.clone().map(|t| (o, t)))
        else {
            let message = "the second factor is off already";
            return Err(ServiceError::rejected(ErrorCode::Conflict, message));
        };
        if !self.take_totp_code(&operator, code, now).await? {
            return Err(wrong_code());
        }
        let expected = &second_factor.sealed_secret;
        if !self
            .store
            .disable_operator_totp(name, expected, now)
            .await?
        {
            let message = "the second factor changed meanwhile, reload the page";
            return Err(ServiceError::rejected(ErrorCode::Conflict, message));
        }
        let actor = actor_of(&operator, client);
        audit(&*self.store, &actor, ConsoleAction::DisableTotp, name, now).await
    }
}
