//! The product-wide error catalogue (the `retcode` values docs/api.md lists) and the rejection
//! type every use case returns for a client mistake.

use std::fmt;

use crate::text_enum::text_enum;

text_enum! {
    /// A W Checkout `retcode`.
    pub enum ErrorCode {
        /// `200`: success.
        Success => "200",
        /// `00001`: a parameter is invalid; the message names the field and the rule.
        InvalidParameter => "00001",
        /// `00004`: access token missing, invalid or expired.
        InvalidAccessToken => "00004",
        /// `00005`: invalid apiKey/apiSecret.
        InvalidCredentials => "00005",
        /// `00006`: signature header missing.
        MissingSignature => "00006",
        /// `00007`: signature invalid, timestamp outside the window, or replayed.
        InvalidSignature => "00007",
        /// `00008`: invalid integrator number.
        InvalidNumber => "00008",
        /// `00009`: caller IP not allowed.
        IpNotAllowed => "00009",
        /// `00404`: object not found for this app.
        NotFound => "00404",
        /// `00409`: duplicate number with different content, or not allowed in the current status.
        Conflict => "00409",
        /// `00422`: an amount rule is broken.
        AmountRule => "00422",
        /// `00429`: rate limit exceeded.
        RateLimited => "00429",
        /// `00503`: a dependency is unavailable; retry later.
        Unavailable => "00503",
        /// `00500`: internal error.
        Internal => "00500",
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
