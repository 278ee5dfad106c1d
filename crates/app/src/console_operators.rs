//! Operator accounts from the console (`/admin/operators`): an admin lists, creates, disables
//! and enables accounts and resets their second factor, through the command line's
//! [`OperatorAdmin`], audited with the admin's name and address. An admin bound to an app sees
//! and manages only that app's accounts, and creates only accounts bound to it: another app's
//! account is answered as if it did not exist.

use std::net::IpAddr;

use secrecy::SecretString;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::operator::{ConsoleAction, Operator, check_name, may};

use crate::console::actor_of;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::{OperatorAdmin, OperatorSummary};

/// What an admin asks to do to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorChange {
    /// Disable it (its sessions end).
    Disable,
    /// Enable it again.
    Enable,
    /// Switch its second factor off.
    ResetTotp,
}

impl OperatorChange {
    /// The action the console asks `may` about, and the audit log records.
    pub const fn action(self) -> ConsoleAction {
        match self {
            OperatorChange::Disable => ConsoleAction::DisableOperator,
            OperatorChange::Enable => ConsoleAction::EnableOperator,
            OperatorChange::ResetTotp => ConsoleAction::ResetTotp,
        }
    }
}

/// A new account's fields, as typed in the console's form. `Debug` leaves the password out.
pub struct NewOperator {
    /// Sign-in name.
    pub name: String,
    /// `viewer`, `support`, `finance` or `admin`.
    pub role: String,
    /// The app it is bound to, or empty for every app.
    pub app: String,
    /// Its first password.
    pub password: SecretString,
}

impl std::fmt::Debug for NewOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOperator")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

fn refused(operator: &Operator, action: ConsoleAction) -> ServiceError {
    let message = format!("role {} may not {action}", operator.role);
    ServiceError::rejected(ErrorCode::Conflict, message)
}

impl Gateway {
    fn operator_admin(
        &self,
        operator: &Operator,
        action: ConsoleAction,
    ) -> Result<OperatorAdmin, ServiceError> {
        if !may(operator.role, action) {
            return Err(refused(operator, action));
        }
        Ok(OperatorAdmin::new(self.store.clone(), self.clock.clone()))
    }

    /// The accounts `operator` manages, by name: every one, or its own app's.
    pub async fn console_operators(
        &self,
        operator: &Operator,
    ) -> Result<Vec<OperatorSummary>, ServiceError> {
        self.operator_admin(operator, ConsoleAction::ManageOperators)?;
        let accounts = self.store.operators().await?;
        Ok(accounts
            .iter()
            .filter(|account| visible(operator, account))
            .map(OperatorSummary::from)
            .collect())
    }

    /// Creates an account for an admin (bound to the admin's app when the admin is bound to
    /// one), audited as `CREATE_OPERATOR`.
    pub async fn console_create_operator(
        &self,
        operator: &Operator,
        client: IpAddr,
        new: &NewOperator,
    ) -> Result<OperatorSummary, ServiceError> {
        let admin = self.operator_admin(operator, ConsoleAction::CreateOperator)?;
        let app = match (&operator.app, new.app.trim()) {
            (None, "") => None,
            (None, app) => Some(app.to_owned()),
            (Some(own), "") => Some(own.to_string()),
            (Some(own), app) if app == own.as_str() => Some(app.to_owned()),
            (Some(_), app) => return Err(Rejection::not_found("app", app).into()),
        };
        let actor = actor_of(operator, client);
        let role = new.role.as_str();
        let created = admin.create(&actor, &new.name, role, app.as_deref(), &new.password);
        created.await
    }

    /// Disables, enables or resets the second factor of the account `name` for an admin; an
    /// account the admin does not manage is not found. An admin cannot disable itself.
    pub async fn console_change_operator(
        &self,
        operator: &Operator,
        client: IpAddr,
        name: &str,
        change: OperatorChange,
    ) -> Result<OperatorSummary, ServiceError> {
        let admin = self.operator_admin(operator, change.action())?;
        // A name no account can have is looked up nowhere (PostgreSQL refuses some of them).
        let account = match check_name(name) {
            Ok(()) => self.store.operator(name).await?,
            Err(_) => None,
        };
        if !account.is_some_and(|account| visible(operator, &account)) {
            return Err(Rejection::not_found("operator", name).into());
        }
        if change == OperatorChange::Disable && name == operator.name {
            let message = "an admin cannot disable its own account";
            return Err(ServiceError::rejected(ErrorCode::Conflict, message));
        }
        let actor = actor_of(operator, client);
        match change {
            OperatorChange::Disable => admin.disable(&actor, name).await,
            OperatorChange::Enable => admin.enable(&actor, name).await,
            OperatorChange::ResetTotp => admin.reset_totp(&actor, name).await,
        }
    }
}

/// Whether `admin` manages `account`: every account, or those of its own app.
fn visible(admin: &Operator, account: &Operator) -> bool {
    match &admin.app {
        None => true,
        Some(own) => account.app.as_ref() == Some(own),
    }
}
