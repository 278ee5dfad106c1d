//! The product-wide error catalogue (`retcode` values of decisions.md) and the rejection type
//! every use case returns for a client mistake.

use std::fmt;

/// A W Checkout `retcode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `200`: success.
    Success,
    /// `00001`: a parameter is invalid; the message names the field and the rule.
    InvalidParameter,
    /// `00004`: access token missing, invalid or expired.
    InvalidAccessToken,
    /// `00005`: invalid apiKey/apiSecret.
    InvalidCredentials,
    /// `00006`: signature header missing.
    MissingSignature,
    /// `00007`: signature invalid, timestamp outside the window, or replayed.
    InvalidSignature,
    /// `00008`: invalid integrator number.
    InvalidNumber,
    /// `00009`: caller IP not allowed.
    IpNotAllowed,
    /// `00404`: object not found for this app.
    NotFound,
    /// `00409`: duplicate number with different content, or not allowed in the current status.
    Conflict,
    /// `00422`: an amount rule is broken.
    AmountRule,
    /// `00429`: rate limit exceeded.
    RateLimited,
    /// `00503`: a dependency is unavailable; retry later.
    Unavailable,
    /// `00500`: internal error.
    Internal,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::Success,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidAccessToken,
        ErrorCode::InvalidCredentials,
        ErrorCode::MissingSignature,
        ErrorCode::InvalidSignature,
        ErrorCode::InvalidNumber,
        ErrorCode::IpNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::AmountRule,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The `retcode` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Success => "200",
            ErrorCode::InvalidParameter => "00001",
            ErrorCode::InvalidAccessToken => "00004",
            ErrorCode::InvalidCredentials => "00005",
            ErrorCode::MissingSignature => "00006",
            ErrorCode::InvalidSignature => "00007",
            ErrorCode::InvalidNumber => "00008",
            ErrorCode::IpNotAllowed => "00009",
            ErrorCode::NotFound => "00404",
            ErrorCode::Conflict => "00409",
            ErrorCode::AmountRule => "00422",
            ErrorCode::RateLimited => "00429",
            ErrorCode::Unavailable => "00503",
            ErrorCode::Internal => "00500",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal with its code and a message for the integrator. The message never carries
/// internals or secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The `retcode`.
    pub code: ErrorCode,
    /// The `retmsg`.
    pub message: String,
}

impl Rejection {
    /// A rejection with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }

    /// `00001` naming a field and its rule: `invalid("orderAmount", "must be greater than 0")`.
    pub fn invalid(field: &str, rule: impl fmt::Display) -> Rejection {
        Rejection::new(ErrorCode::InvalidParameter, format!("{field}: {rule}"))
    }

    /// `00404` for an object of this app.
    pub fn not_found(what: &str, number: &str) -> Rejection {
        Rejection::new(ErrorCode::NotFound, format!("{what} '{number}' not found"))
    }
}
