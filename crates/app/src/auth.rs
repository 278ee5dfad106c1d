//! Authentication as W Checkout integrators expect it: client-credential tokens with refresh,
//! Bearer on every merchant call, and HMAC-SHA512 request signatures with replay refusal.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use wcheckout_client::signature::{self, SignedParts, TIMESTAMP_WINDOW_MS};
use wcheckout_domain::app::App;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ports::{Grant, GrantKind, SignatureUse};
use wcheckout_domain::time::Timestamp;

use crate::error::OrInternal;
use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::secrets::{hash_secret, random_token};
use crate::wire::TokenRequestBody;

/// A token response.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Bearer token.
    pub access_token: String,
    /// Exchange once for a new pair.
    pub refresh_token: String,
    /// Access token lifetime, seconds.
    pub expires_in: i64,
    /// Refresh token lifetime, seconds.
    pub rt_expires_in: i64,
}

/// An authenticated app with its opened `signKey`.
pub struct Caller {
    /// The app.
    pub app: App,
    sign_key: SecretString,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("app", &self.app.id)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// The key that signs this app's requests, responses and webhooks.
    pub fn sign_key(&self) -> &[u8] {
        self.sign_key.expose_secret().as_bytes()
    }
}

/// A request as received, for signature verification.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedRequest<'a> {
    /// Method, upper case.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Raw query text after `?`.
    pub query: &'a str,
    /// Raw body.
    pub body: &'a [u8],
    /// `SIGNATURE` (or `D-Signature`) header.
    pub signature: Option<&'a str>,
    /// `TIMESTAMP` (or `D-Timestamp`) header.
    pub timestamp: Option<&'a str>,
}

/// Why a token request got no token.
#[derive(Debug, Clone)]
pub enum TokenRefusal {
    /// Refused or failed as any use case can be.
    Failed(ServiceError),
    /// Too many failed requests from the caller's address (`00429`): retry after this many
    /// seconds.
    Limited {
        /// Seconds until the address's window ends.
        retry_after_secs: u64,
    },
}

impl TokenRefusal {
    /// The seconds to wait, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            TokenRefusal::Limited { retry_after_secs } => Some(*retry_after_secs),
            TokenRefusal::Failed(_) => None,
        }
    }

    /// The answer in the envelope.
    pub fn into_error(self) -> ServiceError {
        match self {
            TokenRefusal::Failed(error) => error,
            TokenRefusal::Limited { retry_after_secs } => reject(
                ErrorCode::RateLimited,
                &format!("too many failed token requests, retry after {retry_after_secs} s"),
            ),
        }
    }
}

impl From<ServiceError> for TokenRefusal {
    fn from(error: ServiceError) -> Self {
        TokenRefusal::Failed(error)
    }
}

impl From<Rejection> for TokenRefusal {
    fn from(rejection: Rejection) -> Self {
        TokenRefusal::Failed(rejection.into())
    }
}

fn reject(code: ErrorCode, message: &str) -> ServiceError {
    ServiceError::rejected(code, message)
}

impl Gateway {
    /// The token endpoint: `client_credentials` (or the `password` shape with apiKey/apiSecret)
    /// and `refresh_token`, for a caller at `client`. Failed requests count against the
    /// caller's address (and, from strangers, against the app): see [`crate::token_limits`].
    pub async fn issue_token(
        &self,
        params: TokenRequestBody,
        client: IpAddr,
    ) -> Result<TokenPair, TokenRefusal> {
        let now = self.clock.now();
        if let Some(retry_after_secs) = self.token_limits.blocked(client, now) {
            return Err(TokenRefusal::Limited { retry_after_secs });
        }
        let grant_type = params.grant_type.as_deref().filter(|g| !g.is_empty());
        let app = match grant_type {
            Some("refresh_token") => {
                self.app_of_refresh_token(params.refresh_token, client)
                    .await?
            }
            Some("client_credentials" | "password") | None => {
                self.app_of_credentials(params.api_key, params.api_secret, client)
                    .await?
            }
            Some(_) => {
                return Err(Rejection::invalid(
                    "grant_type",
                    "must be client_credentials, password or refresh_token",
                )
                .into());
            }
        };
        self.token_limits.record_success(client, &app.id, now);
        Ok(self.new_token_pair(&app).await?)
    }

    async fn app_of_credentials(
        &self,
        api_key: Option<String>,
        api_secret: Option<String>,
        client: IpAddr,
    ) -> Result<App, ServiceError> {
        let api_key = api_key.filter(|k| !k.is_empty());
        let api_key = api_key.ok_or_else(|| Rejection::invalid("api_key", "is required"))?;
        let api_secret = api_secret.filter(|s| !s.is_empty());
        let api_secret =
            api_secret.ok_or_else(|| Rejection::invalid("api_secret", "is required"))?;
        let bad = || reject(ErrorCode::InvalidCredentials, "invalid apiKey or apiSecret");
        let Some(app) = self.store.app_by_api_key(&api_key).await? else {
            self.token_limits
                .record_failure(client, None, self.clock.now());
            return Err(bad());
        };
        let given = hash_secret(&api_secret);
        if !signature::signatures_equal(&app.api_secret_hash, &given) || !app.enabled {
            let named = (&app.id, app.ip_allow.as_slice());
            self.token_limits
                .record_failure(client, Some(named), self.clock.now());
            return Err(bad());
        }
        Ok(app)
    }

    async fn app_of_refresh_token(
        &self,
        token: Option<String>,
        client: IpAddr,
    ) -> Result<App, ServiceError> {
        let token = token.filter(|t| !t.is_empty());
        let token = token.ok_or_else(|| Rejection::invalid("refresh_token", "is required"))?;
        let bad = || {
            self.token_limits
                .record_failure(client, None, self.clock.now());
            reject(
                ErrorCode::InvalidAccessToken,
                "refresh token invalid or expired",
            )
        };
        // Only a refresh grant is taken: an access token sent here is refused and keeps working.
        let grant = self
            .store
            .take_grant(&hash_secret(&token), GrantKind::Refresh)
            .await?
            .ok_or_else(bad)?;
        let live = grant.expires_at > self.clock.now();
        let app = self.store.app(&grant.app_id).await?.ok_or_else(bad)?;
        if !live || !app.enabled || app.secrets_version != grant.secrets_version {
            return Err(bad());
        }
        Ok(app)
    }

    async fn new_token_pair(&self, app: &App) -> Result<TokenPair, ServiceError> {
        let now = self.clock.now();
        let (access_ttl, refresh_ttl) = (
            self.settings.access_token_ttl_secs,
            self.settings.refresh_token_ttl_secs,
        );
        let access_token = random_token(32);
        let refresh_token = random_token(32);
        for (token, kind, ttl) in [
            (&access_token, GrantKind::Access, access_ttl),
            (&refresh_token, GrantKind::Refresh, refresh_ttl),
        ] {
            let grant = Grant {
                token_hash: hash_secret(token),
                app_id: app.id.clone(),
                kind,
                secrets_version: app.secrets_version,
                expires_at: now.plus_seconds(ttl),
            };
            self.store.insert_grant(&grant).await?;
        }
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: access_ttl,
            rt_expires_in: refresh_ttl,
        })
    }

    /// Resolves `Authorization: Bearer <token>` to its app.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ServiceError> {
        let missing = || reject(ErrorCode::InvalidAccessToken, "access token missing");
        let header = authorization.ok_or_else(missing)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or_else(missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(missing());
        }
        let bad = || {
            reject(
                ErrorCode::InvalidAccessToken,
                "access token invalid or expired",
            )
        };
        let (grant, app) = self
            .store
            .grant_with_app(&hash_secret(token.trim()))
            .await?
            .ok_or_else(bad)?;
        if grant.kind != GrantKind::Access || grant.expires_at <= self.clock.now() {
            return Err(bad());
        }
        if !app.enabled || app.secrets_version != grant.secrets_version {
            return Err(bad());
        }
        let sign_key = self
            .secrets
            .open(app.id.as_str(), &app.sign_key_sealed)
            .or_internal(&format!("opening the signKey of app {}", app.id))?;
        Ok(Caller { app, sign_key })
    }

    /// Checks a request's signature and timestamp. The signature's use that comes back must be
    /// recorded before the request changes anything: by [`Gateway::refuse_replay`], or in the
    /// request's own write (order creation).
    #[must_use = "an unrecorded signature can be replayed"]
    pub fn verify_request(
        &self,
        caller: &Caller,
        request: &ReceivedRequest<'_>,
    ) -> Result<SignatureUse, ServiceError> {
        let missing = |name: &str| {
            reject(
                ErrorCode::MissingSignature,
                &format!("Access denied: Missing header [{name}]"),
            )
        };
        let given = request
            .signature
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("SIGNATURE"))?;
        let timestamp = request
            .timestamp
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing("TIMESTAMP"))?;
        let Ok(millis) = timestamp.parse::<i64>() else {
            return Err(reject(
                ErrorCode::InvalidSignature,
                "TIMESTAMP must be epoch milliseconds",
            ));
        };
        let now = self.clock.now();
        if !signature::timestamp_fresh(timestamp, now.millis()) {
            return Err(reject(
                ErrorCode::InvalidSignature,
                "TIMESTAMP is outside the allowed window of 2 minutes",
            ));
        }
        let parts = SignedParts {
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body,
        };
        if !signature::verify_request(caller.sign_key(), &parts, timestamp, given) {
            return Err(reject(ErrorCode::InvalidSignature, "signature invalid"));
        }
        Ok(SignatureUse {
            app: caller.app.id.clone(),
            signature_hash: hash_secret(given),
            expires_at: Timestamp::from_millis(millis.saturating_add(TIMESTAMP_WINDOW_MS)),
        })
    }

    /// Records a verified signature's use; refuses a signature seen before.
    pub async fn refuse_replay(&self, signature: &SignatureUse) -> Result<(), ServiceError> {
        let first = self
            .store
            .first_use_of_signature(
                &signature.app,
                &signature.signature_hash,
                signature.expires_at,
            )
            .await?;
        if first { Ok(()) } else { Err(replayed()) }
    }
}

/// The answer to a request whose signature was used before.
pub(crate) fn replayed() -> ServiceError {
    reject(
        ErrorCode::InvalidSignature,
        "request replayed: this signature was already used",
    )
}
