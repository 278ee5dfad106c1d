//! The console's live sessions: an admin lists them and ends any one; every operator can end
//! all of its own (signing out everywhere). Both are audited.

use std::net::IpAddr;

use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::operator::{ConsoleAction, Operator, may};
use wcheckout_domain::time::Timestamp;

use crate::console::{LiveSession, actor_of, session_id};
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::audit;

/// At most this many sessions are listed.
pub const MAX_LISTED_SESSIONS: u32 = 500;

/// A live session as listed: never its token or the token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Its id ([`session_id`]).
    pub id: String,
    /// Whose.
    pub operator: String,
    /// Signed in.
    pub created_at: Timestamp,
    /// Ends.
    pub expires_at: Timestamp,
}

fn refused(operator: &Operator, what: &str) -> ServiceError {
    let message = format!("role {} may not {what}", operator.role);
    ServiceError::rejected(ErrorCode::Conflict, message)
}

impl Gateway {
    /// The sessions not expired yet, newest first (an admin's page).
    pub async fn console_sessions(
        &self,
        operator: &Operator,
    ) -> Result<Vec<SessionSummary>, ServiceError> {
        if !may(operator.role, ConsoleAction::RevokeSession) {
            return Err(refused(operator, "list sessions"));
        }
        let now = self.clock.now();
        let live = self
            .store
            .live_console_sessions(now, MAX_LISTED_SESSIONS)
            .await?;
        Ok(live
            .into_iter()
            .map(|s| SessionSummary {
                id: session_id(&s.token_hash),
                operator: s.operator,
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Ends the live session `id` for an admin, audited with the session's operator; `None`
    /// when no live session has that id.
    pub async fn console_revoke_session(
        &self,
        operator: &Operator,
        client: IpAddr,
        id: &str,
    ) -> Result<Option<String>, ServiceError> {
        if !may(operator.role, ConsoleAction::RevokeSession) {
            return Err(refused(operator, "revoke sessions"));
        }
        let now = self.clock.now();
        let live = self
            .store
            .live_console_sessions(now, MAX_LISTED_SESSIONS)
            .await?;
        let Some(found) = live.into_iter().find(|s| session_id(&s.token_hash) == id) else {
            return Ok(None);
        };
        self.store.end_console_session(&found.token_hash).await?;
        let actor = actor_of(operator, client);
        let target = format!("{} {id}", found.operator);
        audit(
            &*self.store,
            &actor,
            ConsoleAction::RevokeSession,
            &target,
            now,
        )
        .await?;
        Ok(Some(found.operator))
    }

    /// Ends every session of the session's operator, this one included; how many.
    pub async fn console_sign_out_everywhere(
        &self,
        session: &LiveSession,
        client: IpAddr,
    ) -> Result<u64, ServiceError> {
        let operator = &session.operator;
        let ended = self.store.end_sessions_of(&operator.name).await?;
        let actor = actor_of(operator, client);
        let now = self.clock.now();
        audit(
            &*self.store,
            &actor,
            ConsoleAction::SignOutEverywhere,
            "",
            now,
        )
        .await?;
        Ok(ended)
    }
}
