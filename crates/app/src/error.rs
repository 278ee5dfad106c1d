//! What a use case returns when it does not succeed.

use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::ports::{CommitError, StoreError};

/// A failed use case: the client's mistake ([`ServiceError::Rejected`]) or ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// A client mistake or a business refusal, with its `retcode` and message.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A dependency (database, chain node) is unavailable; the client may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted data. The detail is logged, never shown to clients.
    #[error("internal: {0}")]
    Internal(String),
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
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => ServiceError::Unavailable(detail),
            StoreError::Internal(detail) => ServiceError::Internal(detail),
        }
    }
}

impl From<CommitError> for ServiceError {
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Conflict => {
                ServiceError::Internal("change conflicted on every retry".into())
            }
            CommitError::Insufficient(account) => insufficient(&account),
            CommitError::Store(store) => store.into(),
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
        match self.store.commit(changes).await {
            Ok(()) => {
                if has_events {
                    self.outbox_signal.notify_one();
                }
                Ok(())
            }
            Err(CommitError::Conflict) => Err(ChangeError::Conflict),
            Err(CommitError::Insufficient(account)) => {
                Err(ChangeError::Failed(insufficient(&account)))
            }
            Err(CommitError::Store(error)) => Err(error.into()),
        }
    }
}
