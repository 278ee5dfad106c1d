//! An operator changing their own password from the console: the current one must open the
//! account (wrong ones count against the sign-in limits, as at sign-in), the new one follows the
//! same rule as at creation and differs from it. Every session of the account then ends, this
//! one too: whoever holds the account signs in again with the new password. Audited.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use wcheckout_domain::error::Rejection;
use wcheckout_domain::operator::ConsoleAction;

use crate::console::{LiveSession, actor_of, password_opens};
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::{audit, check_password, hash_off_thread, replace_password};

/// The one refusal of a current password that does not open the account (or of too many
/// tries).
fn wrong_current() -> ServiceError {
    Rejection::invalid("current_password", "is not this account's password").into()
}

impl Gateway {
    /// Changes the session's operator's password from `current` to `new`; every session of the
    /// account ends. Audited as `CHANGE_PASSWORD`.
    pub async fn console_change_password(
        &self,
        session: &LiveSession,
        client: IpAddr,
        current: &SecretString,
        new: &SecretString,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let name = &session.operator.name;
        if self.login_limits.blocked(client, name, now) {
            return Err(wrong_current());
        }
        // Read again: the session's copy may predate a change made since.
        let operator = self.store.operator(name).await?;
        if !password_opens(operator.as_ref(), current).await {
            self.login_limits.record_failure(client, name, now);
            return Err(wrong_current());
        }
        let operator = operator.ok_or_else(wrong_current)?;
        check_password("new_password", new)?;
        if new.expose_secret() == current.expose_secret() {
            let rule = "must differ from the current password";
            return Err(Rejection::invalid("new_password", rule).into());
        }
        let hash = hash_off_thread(new.clone()).await?;
        replace_password(&*self.store, &operator, &hash, now).await?;
        let actor = actor_of(&operator, client);
        audit(
            &*self.store,
            &actor,
            ConsoleAction::ChangePassword,
            name,
            now,
        )
        .await
    }
}
