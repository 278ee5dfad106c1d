//! What a use case returns when it does not succeed.

use std::error::Error as StdError;
use std::sync::Arc;

use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ports::{CommitError, StoreError};

/// A failed use case: the client's mistake ([`ServiceError::Rejected`]) or ours.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// A client mistake or a business refusal, with its `retcode` and message.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A dependency (database, chain node) is unavailable; the client may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted data. The detail and its causes are logged, never shown to clients.
    /// (Shown with its whole chain, so a worker's log line has every cause.)
    #[error("internal: {}", .0.chain())]
    Internal(Internal),
}

/// An internal failure: what was being done, and the error that stopped it, whose own causes
/// follow through [`std::error::Error::source`]. [`Internal::chain`] writes them all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}")]
pub struct Internal {
    context: String,
    #[source]
    cause: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Internal {
    /// A failure found by our own checks (nothing caused it but the state it found).
    pub fn new(context: impl Into<String>) -> Internal {
        Internal {
            context: context.into(),
            cause: None,
        }
    }

    /// A failure caused by `cause`.
    pub fn caused_by(
        context: impl Into<String>,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Internal {
        Internal {
            context: context.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// The context and every cause, outermost first: `context: cause: its cause`.
    pub fn chain(&self) -> String {
        let mut text = self.context.clone();
        let mut next = self
            .cause
            .as_deref()
            .map(|c| c as &(dyn StdError + 'static));
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

impl ServiceError {
    /// The `retcode` this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Rejected(r) => r.code,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The `retmsg` clients see: the rejection message, or a fixed text that reveals nothing.
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Rejected(r) => r.message.clone(),
            ServiceError::Unavailable(_) => "service temporarily unavailable, retry later".into(),
            ServiceError::Internal(_) => "internal error".into(),
        }
    }

    /// Shorthand for a rejection.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError::Rejected(Rejection::new(code, message))
    }

    /// An internal failure found by our own checks.
    pub fn internal(context: impl Into<String>) -> ServiceError {
        ServiceError::Internal(Internal::new(context))
    }
}

/// Turns any error into an internal failure with what was being done, keeping it as the cause.
pub trait OrInternal<T> {
    /// `Err(cause)` becomes [`ServiceError::Internal`] with `context`.
    fn or_internal(self, context: &str) -> Result<T, ServiceError>;
}

impl<T, E: StdError + Send + Sync + 'static> OrInternal<T> for Result<T, E> {
    fn or_internal(self, context: &str) -> Result<T, ServiceError> {
        self.map_err(|cause| ServiceError::Internal(Internal::caused_by(context, cause)))
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => ServiceError::Unavailable(detail),
            internal @ StoreError::Internal(_) => {
                ServiceError::Internal(Internal::caused_by("the store failed", internal))
            }
        }
    }
}

/// `00422` for a payout the balance cannot cover.
fn insufficient(account: &str) -> ServiceError {
    let what = if account.starts_with("abnormal:") {
        "abnormal payment funds"
    } else {
        "available balance"
    };
    ServiceError::rejected(
        wcheckout_domain::error::ErrorCode::AmountRule,
        format!("amount: exceeds the merchant's {what}"),
    )
}

/// A state change that failed: a compare-and-set conflict (worth retrying from a fresh read)
/// or a final failure.
#[derive(Debug)]
pub(crate) enum ChangeError {
    /// The object changed since it was read.
    Conflict,
    /// Anything else.
    Failed(ServiceError),
}

impl<E: Into<ServiceError>> From<E> for ChangeError {
    fn from(error: E) -> Self {
        ChangeError::Failed(error.into())
    }
}

/// The one mapping of a commit's failure: a compare-and-set conflict is worth deciding again,
/// a guarded balance that would go below zero is the client's `00422`, the rest is the store's.
fn change_error(error: CommitError) -> ChangeError {
    match error {
        CommitError::Conflict => ChangeError::Conflict,
        CommitError::Insufficient(account) => ChangeError::Failed(insufficient(&account)),
        CommitError::Store(error) => ChangeError::Failed(error.into()),
    }
}

impl ChangeError {
    /// Outside a retry loop: a conflict means the object changed meanwhile, which the caller
    /// may simply try again.
    pub(crate) fn settled(self) -> ServiceError {
        match self {
            ChangeError::Conflict => {
                ServiceError::Unavailable("the object changed meanwhile: try again".into())
            }
            ChangeError::Failed(error) => error,
        }
    }
}

/// Compare-and-set attempts before a change gives up.
const CAS_ATTEMPTS: usize = 8;

/// Runs `attempt` (read, decide, commit) again while it hits compare-and-set conflicts.
pub(crate) async fn retry_on_conflict<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ChangeError>>,
{
    for _ in 0..CAS_ATTEMPTS {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(ChangeError::Conflict) => continue,
            Err(ChangeError::Failed(error)) => return Err(error),
        }
    }
    Err(ServiceError::Unavailable(
        "too many concurrent changes to this object".into(),
    ))
}

impl crate::gateway::Gateway {
    /// Commits a change set; a compare-and-set conflict comes back as [`ChangeError::Conflict`].
    pub(crate) async fn commit(
        &self,
        changes: wcheckout_domain::ports::ChangeSet,
    ) -> Result<(), ChangeError> {
        let has_events = !changes.events.is_empty();
        self.store.commit(changes).await.map_err(change_error)?;
        if has_events {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the disk is full")]
    struct Disk;

    #[derive(Debug, thiserror::Error)]
    #[error("writing the order failed")]
    struct Write(#[source] Disk);

    #[test]
    fn an_internal_error_keeps_its_causes_and_tells_the_client_nothing() {
        let failed: Result<(), Write> = Err(Write(Disk));
        let error = failed.or_internal("creating an order").unwrap_err();
        let ServiceError::Internal(internal) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            internal.chain(),
            "creating an order: writing the order failed: the disk is full"
        );
        let cause = StdError::source(internal).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("writing the order failed"));
        assert_eq!(error.to_string(), format!("internal: {}", internal.chain()));
        assert_eq!(error.public_message(), "internal error");
        assert_eq!(error.code(), ErrorCode::Internal);
        let store = ServiceError::from(StoreError::Internal("constraint x".into()));
        assert_eq!(
            store.to_string(),
            "internal: the store failed: database error: constraint x"
        );
    }
}
