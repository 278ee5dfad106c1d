//! Operator accounts of the console: create, list, disable and enable, switch a second factor
//! on (command line) or off. Every change is written to the audit log with who asked and from
//! where.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::operator::{
    AuditEntry, ConsoleAction, Operator, OperatorEvent, OperatorStatus, Role, check_name,
};
use wcheckout_domain::ports::{Clock, Store};
use wcheckout_domain::time::Timestamp;

use crate::console::totp_context;
use crate::error::ServiceError;
use crate::secrets::{SecretBox, hash_password};
use crate::totp;

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest (hashing cost grows with it).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// How much of a username sign-in limits remember (longer names are never valid).
pub const MAX_NAME_KEY: usize = wcheckout_domain::operator::MAX_NAME_LEN + 1;

/// Who does something, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The operator's name.
    pub operator: String,
    /// The client's address.
    pub client: String,
}

impl Actor {
    /// Whoever runs an operator command on the gateway's host.
    pub fn command_line() -> Actor {
        Actor {
            operator: "cli".into(),
            client: "local".into(),
        }
    }
}

/// Appends what `actor` did to `target` to the audit log.
pub async fn audit(
    store: &dyn Store,
    actor: &Actor,
    action: ConsoleAction,
    target: &str,
    at: Timestamp,
) -> Result<(), ServiceError> {
    let entry = AuditEntry {
        operator: actor.operator.clone(),
        action,
        target: target.to_owned(),
        at,
        client: actor.client.clone(),
    };
    Ok(store.append_audit(&entry).await?)
}

/// An account as listed (no password hash).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OperatorSummary {
    /// Sign-in name.
    pub name: String,
    /// Role.
    pub role: String,
    /// The one app it sees, if bound to one.
    pub app_id: Option<String>,
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
    /// Created, UTC.
    pub created_time: String,
    /// Whether its second factor (TOTP) is on.
    pub totp: bool,
    /// Its last sign-in, UTC, when known.
    pub last_sign_in_time: Option<String>,
}

impl From<&Operator> for OperatorSummary {
    fn from(operator: &Operator) -> Self {
        OperatorSummary {
            name: operator.name.clone(),
            role: operator.role.to_string(),
            app_id: operator.app.as_ref().map(ToString::to_string),
            status: operator.status.to_string(),
            created_time: operator.created_at.to_iso_micros(),
            totp: operator.totp.is_some(),
            last_sign_in_time: operator.last_sign_in_at.map(|at| at.to_iso_micros()),
        }
    }
}

/// Administration of operator accounts.
pub struct OperatorAdmin {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl OperatorAdmin {
    /// Administration over a store.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> OperatorAdmin {
        OperatorAdmin { store, clock }
    }

    /// Creates an active account, its password stored as an Argon2id hash.
    pub async fn create(
        &self,
        actor: &Actor,
        name: &str,
        role: &str,
        app: Option<&str>,
        password: &SecretString,
    ) -> Result<OperatorSummary, ServiceError> {
        check_name(name).map_err(|rule| Rejection::invalid("name", rule))?;
        let role = Role::parse(role).ok_or_else(|| {
            Rejection::invalid("role", "must be viewer, support, finance or admin")
        })?;
        check_password("password", password)?;
        let app = match app {
            Some(id) => Some(self.existing_app(id).await?),
            None => None,
        };
        let now = self.clock.now();
        let operator = Operator {
            name: name.to_owned(),
            role,
            app,
            password_hash: hash_off_thread(password.clone()).await?,
            status: OperatorStatus::Active,
            created_at: now,
            updated_at: now,
            totp: None,
            last_sign_in_at: None,
        };
        if !self.store.insert_operator(&operator).await? {
            let taken = format!("operator '{name}' exists already");
            return Err(ServiceError::rejected(ErrorCode::Conflict, taken));
        }
        audit(
            &*self.store,
            actor,
            ConsoleAction::CreateOperator,
            name,
            now,
        )
        .await?;
        Ok(OperatorSummary::from(&operator))
    }

    async fn existing_app(&self, id: &str) -> Result<AppId, ServiceError> {
        let id = AppId::new(id);
        match self.store.app(&id).await? {
            Some(app) => Ok(app.id),
            None => Err(Rejection::not_found("app", id.as_str()).into()),
        }
    }

    /// Every account, by name.
    pub async fn list(&self) -> Result<Vec<OperatorSummary>, ServiceError> {
        let operators = self.store.operators().await?;
        Ok(operators.iter().map(OperatorSummary::from).collect())
    }

    /// An account by name, or the refusal naming it.
    pub async fn existing(&self, name: &str) -> Result<Operator, ServiceError> {
        let found = self.store.operator(name).await?;
        Ok(found.ok_or_else(|| Rejection::not_found("operator", name))?)
    }

    /// Disables an account: it can no longer sign in, and its sessions end.
    pub async fn disable(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<OperatorSummary, ServiceError> {
        let summary = self
            .change_status(actor, name, OperatorEvent::Disable)
            .await?;
        self.store.end_sessions_of(name).await?;
        Ok(summary)
    }

    /// Enables a disabled account again (its old sessions stay ended).
    pub async fn enable(&self, actor: &Actor, name: &str) -> Result<OperatorSummary, ServiceError> {
        self.change_status(actor, name, OperatorEvent::Enable).await
    }

    async fn change_status(
        &self,
        actor: &Actor,
        name: &str,
        event: OperatorEvent,
    ) -> Result<OperatorSummary, ServiceError> {
        let mut operator = self.existing(name).await?;
        let to = operator.status.apply(event).map_err(|_| {
            let status = operator.status.as_str().to_ascii_lowercase();
            conflict(format!("operator '{name}' is {status} already"))
        })?;
        let now = self.clock.now();
        if !(self
            .store
            .set_operator_status(name, operator.status, to, now))
        .await?
        {
            return Err(conflict(format!(
                "operator '{name}' changed meanwhile, retry"
            )));
        }
        let action = match event {
            OperatorEvent::Disable => ConsoleAction::DisableOperator,
            OperatorEvent::Enable => ConsoleAction::EnableOperator,
        };
        audit(&*self.store, actor, action, name, now).await?;
        (operator.status, operator.updated_at) = (to, now);
        Ok(OperatorSummary::from(&operator))
    }

    /// Sets an account's password without the current one (the command line's reset, for whoever
    /// runs it); every session of the account ends. Audited as `CHANGE_PASSWORD`.
    pub async fn set_password(
        &self,
        actor: &Actor,
        name: &str,
        password: &SecretString,
    ) -> Result<OperatorSummary, ServiceError> {
        check_password("password", password)?;
        let mut operator = self.existing(name).await?;
        let hash = hash_off_thread(password.clone()).await?;
        let now = self.clock.now();
        replace_password(&*self.store, &operator, &hash, now).await?;
        audit(
            &*self.store,
            actor,
            ConsoleAction::ChangePassword,
            name,
            now,
        )
        .await?;
        operator.updated_at = now;
        Ok(OperatorSummary::from(&operator))
    }

    /// Switches an account's second factor on with a new secret, without a first code (the
    /// command line's enrolment, for whoever runs it to hand on): the `otpauth://` URI, shown
    /// this once. Audited as `ENABLE_TOTP`.
    pub async fn enable_totp(
        &self,
        actor: &Actor,
        name: &str,
        secrets: &SecretBox,
    ) -> Result<(OperatorSummary, SecretString), ServiceError> {
        let mut operator = self.existing(name).await?;
        let secret = totp::new_secret();
        let sealed = secrets.seal(&totp_context(name), secret.expose_secret());
        let now = self.clock.now();
        if !(self.store.enable_operator_totp(name, &sealed, None, now)).await? {
            let on = format!("operator '{name}' has its second factor on already");
            return Err(conflict(on));
        }
        audit(&*self.store, actor, ConsoleAction::EnableTotp, name, now).await?;
        operator.totp = Some(wcheckout_domain::operator::OperatorTotp {
            sealed_secret: sealed,
            last_step: None,
        });
        Ok((
            OperatorSummary::from(&operator),
            totp::otpauth_uri(name, &secret),
        ))
    }

    /// Switches an account's second factor off without a code (an admin's reset, or the
    /// command line's `--disable`), so that it signs in with its password alone and can enrol
    /// again. Audited as `RESET_TOTP`.
    pub async fn reset_totp(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<OperatorSummary, ServiceError> {
        let mut operator = self.existing(name).await?;
        let Some(second_factor) = operator.totp.take() else {
            let off = format!("operator '{name}' has no second factor");
            return Err(conflict(off));
        };
        let now = self.clock.now();
        let expected = &second_factor.sealed_secret;
        if !(self.store.disable_operator_totp(name, expected, now)).await? {
            return Err(conflict(format!(
                "operator '{name}' changed meanwhile, retry"
            )));
        }
        audit(&*self.store, actor, ConsoleAction::ResetTotp, name, now).await?;
        Ok(OperatorSummary::from(&operator))
    }
}

/// Replaces `operator`'s password hash, as read, by `hash`, and ends every session of the
/// account (whoever held one must sign in with the new password).
pub(crate) async fn replace_password(
    store: &dyn Store,
    operator: &Operator,
    hash: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let name = &operator.name;
    let expected = &operator.password_hash;
    if !store
        .set_operator_password(name, expected, hash, now)
        .await?
    {
        return Err(conflict(format!(
            "operator '{name}' changed meanwhile, retry"
        )));
    }
    store.end_sessions_of(name).await?;
    Ok(())
}

fn conflict(message: String) -> ServiceError {
    ServiceError::rejected(ErrorCode::Conflict, message)
}

/// A password as the rule wants it (its length), or the refusal naming `field`.
pub(crate) fn check_password(field: &str, password: &SecretString) -> Result<(), ServiceError> {
    let length = password.expose_secret().chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        let rule = format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters");
        return Err(Rejection::invalid(field, rule).into());
    }
    Ok(())
}

/// Hashing takes tens of milliseconds of CPU on purpose: off the async workers.
pub(crate) async fn hash_off_thread(password: SecretString) -> Result<String, ServiceError> {
    let hashed = tokio::task::spawn_blocking(move || hash_password(password.expose_secret()));
    let hashed = hashed
        .await
        .map_err(|_| ServiceError::internal("the password hashing task failed"))?;
    hashed.map_err(|_| ServiceError::internal("hashing the password failed"))
}
