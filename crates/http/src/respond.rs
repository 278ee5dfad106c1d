//! Answers in the W Checkout envelope. Business outcomes, including client mistakes, are
//! HTTP 200 with a `retcode`; only our own failures use 5xx, with bodies that reveal nothing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wcheckout_app::ServiceError;
use wcheckout_app::wire::Envelope;
use wcheckout_domain::error::{ErrorCode, Rejection};

/// The `retcode` of a response, kept as a response extension for metrics.
#[derive(Clone, Copy, Debug)]
pub struct RetCode(pub ErrorCode);

/// A successful result, answered as `{"retcode":"200","retdata":…,"retmsg":""}`.
pub struct Api<T>(pub T);

/// A failed result, answered as `{"retcode":…,"retdata":null,"retmsg":…}`.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError(error)
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError(ServiceError::Rejected(rejection))
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<Api<T>, ApiError>;

/// A JSON response with its `retcode` recorded.
pub fn json_response(status: StatusCode, code: ErrorCode, body: &impl Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "response serialization failed");
            br#"{"retcode":"00500","retdata":null,"retmsg":"internal error"}"#.to_vec()
        }
    };
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(RetCode(code));
    response
}

impl<T: Serialize> IntoResponse for Api<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, ErrorCode::Success, &Envelope::ok(self.0))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            ServiceError::Rejected(_) => StatusCode::OK,
            ServiceError::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Logged here, once, with every cause; the client learns nothing of it.
            ServiceError::Internal(internal) => {
                tracing::error!(error = %internal.chain(), "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let code = self.0.code();
        let mut response = json_response(
            status,
            code,
            &Envelope::<()>::error(code, self.0.public_message()),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// An error answer with a chosen HTTP status (unknown route, wrong method).
pub fn error_with_status(status: StatusCode, code: ErrorCode, message: String) -> Response {
    json_response(status, code, &Envelope::<()>::error(code, message))
}
