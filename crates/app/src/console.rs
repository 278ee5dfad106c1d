//! The console's sign-in and sessions. A session is a random token in the operator's cookie;
//! the database keeps only its hash, so sessions survive a restart and are shared by every
//! gateway process, and a copy of the database opens none. The session's CSRF token is derived
//! from the session token, so it is never stored either.
//!
//! An account with a second factor signs in in two steps: its password first, which gives a
//! short-lived sign-in ticket (sealed with the master key, kept in a cookie), then a TOTP code
//! with that ticket. Every refusal of either step is the same [`SIGN_IN_REFUSED`], and code
//! failures count towards the same limits as password failures.

use std::net::IpAddr;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};
use wcheckout_domain::error::ErrorCode;
use wcheckout_domain::operator::{
    ConsoleAction, ConsoleSession, Operator, OperatorStatus, check_name,
};
use wcheckout_domain::time::Timestamp;

use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::operators::{Actor, audit};
use crate::secrets::{hash_password, hash_secret, random_token, verify_password};
use crate::totp;

/// How long a session lasts after sign-in.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;

/// How long the password step of a two-step sign-in stays good for its code.
pub const SIGN_IN_TICKET_TTL_SECS: i64 = 300;

/// What the master key binds a sign-in ticket to.
const TICKET_CONTEXT: &str = "console-sign-in-ticket";

/// The one answer to every refused sign-in, whatever the reason (wrong password, unknown or
/// disabled account, too many failures), so that it tells an attacker nothing.
pub const SIGN_IN_REFUSED: &str =
    "Wrong username or password, or too many attempts. Try again later.";

/// A session just opened. `Debug` leaves the token out.
pub struct SignedIn {
    /// The session token, for the cookie (the only time it exists outside the browser).
    pub token: SecretString,
    /// Who signed in.
    pub operator: Operator,
}

/// What a right password opens: a session, or, for an account with a second factor, the step
/// asking for its code.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in.
    Done(SignedIn),
    /// The password was right; a code must follow with this ticket.
    CodeNeeded(SignInTicket),
}

/// The proof that an account's password was given, for its code step: the account's name and
/// the ticket's end, sealed with the master key. `Debug` leaves it out.
pub struct SignInTicket(pub SecretString);

impl std::fmt::Debug for SignInTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInTicket([REDACTED])")
    }
}

/// What the master key binds an account's TOTP secret to.
pub fn totp_context(name: &str) -> String {
    format!("operator-totp:{name}")
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

/// A live session and its operator. `Debug` leaves the tokens out.
pub struct LiveSession {
    /// Who it belongs to (active, as read for this request).
    pub operator: Operator,
    /// The token every form of this session carries.
    pub csrf_token: SecretString,
    token_hash: String,
}

impl std::fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl LiveSession {
    /// The session's public id (see [`session_id`]).
    pub fn id(&self) -> String {
        session_id(&self.token_hash)
    }
}

/// The id a session is shown and revoked by: 16 hex digits of a hash of its stored hash under a
/// label of its own, so that pages name sessions without showing what the database keeps.
pub fn session_id(token_hash: &str) -> String {
    let mut id = hash_secret(&format!("session-id:{token_hash}"));
    id.truncate(16);
    id
}

/// The CSRF token of a session: a hash of its token under a label of its own (not the hash
/// the database keeps), so neither the database nor a page's form gives the other away.
fn csrf_token_of(session_token: &str) -> SecretString {
    SecretString::from(hash_secret(&format!("csrf:{session_token}")))
}

/// A hash to check passwords against when the account does not exist, so that the answer
/// takes as long as for one that does.
static STAND_IN_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("stand-in for an unknown operator").unwrap_or_default());

fn refused() -> ServiceError {
    ServiceError::rejected(ErrorCode::InvalidCredentials, SIGN_IN_REFUSED)
}

/// Whether `password` opens `operator` (checked against a stand-in when there is none), off
/// the async workers: Argon2id takes tens of milliseconds of CPU on purpose.
pub(crate) async fn password_opens(operator: Option<&Operator>, password: &SecretString) -> bool {
    let active = operator.filter(|o| o.status == OperatorStatus::Active);
    let hash = operator.map_or_else(|| STAND_IN_HASH.clone(), |o| o.password_hash.clone());
    let password = password.clone();
    let verified =
        tokio::task::spawn_blocking(move || verify_password(password.expose_secret(), &hash));
    verified.await.unwrap_or(false) && active.is_some()
}

impl Gateway {
    /// Checks an operator's password from `client`: signs in, asks for the code of an account
    /// with a second factor, or refuses with [`SIGN_IN_REFUSED`].
    pub async fn console_sign_in(
        &self,
        name: &str,
        password: &SecretString,
        client: IpAddr,
    ) -> Result<SignIn, ServiceError> {
        let now = self.clock.now();
        if self.login_limits.blocked(client, name, now) {
            return Err(refused());
        }
        // A name no account can have is looked up nowhere (PostgreSQL refuses some of them).
        let operator = match check_name(name) {
            Ok(()) => self.store.operator(name).await?,
            Err(_) => None,
        };
        if !password_opens(operator.as_ref(), password).await {
            self.login_limits.record_failure(client, name, now);
            return Err(refused());
        }
        let operator = operator.ok_or_else(refused)?;
        if operator.totp.is_some() {
            let ends = now.plus_seconds(SIGN_IN_TICKET_TTL_SECS);
            let ticket = format!("{}\n{}", operator.name, ends.micros());
            let sealed = self.secrets.seal(TICKET_CONTEXT, &ticket);
            return Ok(SignIn::CodeNeeded(SignInTicket(SecretString::from(sealed))));
        }
        self.open_session(operator, client, now)
            .await
            .map(SignIn::Done)
    }

    /// The code step of a two-step sign-in: `ticket` from the password step and a TOTP code.
    /// A code is accepted once; a wrong, reused or late code, a ticket that is not one or has
    /// ended, and too many failures are all refused with [`SIGN_IN_REFUSED`].
    pub async fn console_sign_in_code(
        &self,
        ticket: &str,
        code: &str,
        client: IpAddr,
    ) -> Result<SignedIn, ServiceError> {
        let now = self.clock.now();
        let Some(name) = self.ticket_holder(ticket, now) else {
            self.login_limits.record_failure(client, "", now);
            return Err(refused());
        };
        if self.login_limits.blocked(client, &name, now) {
            return Err(refused());
        }
        let operator = self
            .store
            .operator(&name)
            .await?
            .filter(|o| o.status == OperatorStatus::Active);
        let accepted = match operator.as_ref() {
            Some(operator) => self.take_totp_code(operator, code, now).await?,
            None => false,
        };
        match operator {
            Some(operator) if accepted => self.open_session(operator, client, now).await,
            _ => {
                self.login_limits.record_failure(client, &name, now);
                Err(refused())
            }
        }
    }

    /// The account a sign-in ticket was given to, if it is one of ours and has not ended.
    fn ticket_holder(&self, ticket: &str, now: Timestamp) -> Option<String> {
        let opened = self.secrets.open(TICKET_CONTEXT, ticket).ok()?;
        let (name, ends) = opened.expose_secret().split_once('\n')?;
        let ends = Timestamp::from_micros(ends.parse().ok()?);
        (now < ends).then(|| name.to_owned())
    }

    /// Whether `code` is a current code of the operator's second factor not used before; a
    /// code accepted here is used (compare-and-set on the last step used).
    pub(crate) async fn take_totp_code(
        &self,
        operator: &Operator,
        code: &str,
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        let Some(second_factor) = &operator.totp else {
            return Ok(false);
        };
        let secret = self
            .secrets
            .open(&totp_context(&operator.name), &second_factor.sealed_secret)
            .map_err(|_| ServiceError::internal("cannot open an operator's TOTP secret"))?;
        let Some(key) = totp::base32_decode(secret.expose_secret()) else {
            return Err(ServiceError::internal(
                "an operator's TOTP secret is not Base32",
            ));
        };
        let Some(step) = totp::matching_step(&key, code, totp::step_at(now)) else {
            return Ok(false);
        };
        if second_factor.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        let sealed = &second_factor.sealed_secret;
        Ok(self
            .store
            .use_totp_step(&operator.name, sealed, step)
            .await?)
    }

    /// Opens a session for an operator whose credentials were checked, audited as a sign-in.
    async fn open_session(
        &self,
        operator: Operator,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<SignedIn, ServiceError> {
        let token = random_token(32);
        let session = ConsoleSession {
            token_hash: hash_secret(&token),
            operator: operator.name.clone(),
            created_at: now,
            expires_at: now.plus_seconds(SESSION_TTL_SECS),
        };
        self.store.insert_console_session(&session).await?;
        self.store
            .record_operator_sign_in(&operator.name, now)
            .await?;
        let actor = actor_of(&operator, client);
        audit(&*self.store, &actor, ConsoleAction::SignIn, "", now).await?;
        Ok(SignedIn {
            token: SecretString::from(token),
            operator,
        })
    }

    /// The live session of a cookie's token: `None` when unknown, ended, expired, or its
    /// operator is disabled.
    pub async fn console_session(&self, token: &str) -> Result<Option<LiveSession>, ServiceError> {
        let token_hash = hash_secret(token);
        let Some((session, operator)) = self.store.console_session(&token_hash).await? else {
            return Ok(None);
        };
        let live =
            session.expires_at > self.clock.now() && operator.status == OperatorStatus::Active;
        Ok(live.then(|| LiveSession {
            operator,
            csrf_token: csrf_token_of(token),
            token_hash,
        }))
    }

    /// Ends a session (signing out).
    pub async fn console_sign_out(
        &self,
        session: &LiveSession,
        client: IpAddr,
    ) -> Result<(), ServiceError> {
        self.store.end_console_session(&session.token_hash).await?;
        let actor = actor_of(&session.operator, client);
        audit(
            &*self.store,
            &actor,
            ConsoleAction::SignOut,
            "",
            self.clock.now(),
        )
        .await
    }
}

/// The audit log's name for an operator acting from `client`.
pub fn actor_of(operator: &Operator, client: IpAddr) -> Actor {
    Actor {
        operator: operator.name.clone(),
        client: client.to_string(),
    }
}
