//! The one place where errors become HTTP answers: `{"error": {"code", "message"}}` with the
//! contract's status and code. Internal details are logged, not sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nyro_core::DbError;

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400 (and 405, 408): a request of the wrong shape.
    BadRequest,
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: a collection name breaks the naming rule.
    InvalidName,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 413.
    PayloadTooLarge,
    /// 401.
    Unauthorized,
    /// 503 with Retry-After: the semaphore is exhausted.
    Overloaded,
    /// 503: writes refused (poisoned) or the database is closing.
    Unavailable,
    /// 400: a query on a field that is not indexed.
    NotIndexed,
    /// 500.
    Internal,
}

impl ErrorCode {
    /// Every code, in the contract's order (the OpenAPI description lists them).
    pub const ALL: [Self; 11] = [
        Self::BadRequest,
        Self::InvalidJson,
        Self::InvalidName,
        Self::NotFound,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::Unauthorized,
        Self::Overloaded,
        Self::Unavailable,
        Self::NotIndexed,
        Self::Internal,
    ];

    /// The code as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::InvalidName => "invalid_name",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unauthorized => "unauthorized",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
            Self::NotIndexed => "not_indexed",
            Self::Internal => "internal",
        }
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The contract's code.
    pub code: ErrorCode,
    /// The human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
}

/// The message of a 500 for damaged stored data (contract section 8); the log line of the
/// request names the file and offset.
pub const DAMAGED: &str = "stored data is damaged; run nyrodb verify";

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let (status, code) = match &e {
            // Damage a read met: 500 without the file path; this request's log line has it.
            DbError::Corrupt { path, offset, .. } => {
                tracing::error!(error = %e, path = %path.display(), offset = *offset,
                    "a read met damaged stored data");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    DAMAGED,
                );
            }
            DbError::InvalidName { .. } => (StatusCode::BAD_REQUEST, ErrorCode::InvalidName),
            DbError::Invalid { .. } => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            DbError::CollectionNotFound { .. } | DbError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            DbError::Conflict { .. } => (StatusCode::CONFLICT, ErrorCode::Conflict),
            DbError::NotIndexed { .. } => (StatusCode::BAD_REQUEST, ErrorCode::NotIndexed),
            DbError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded),
            DbError::Unavailable { .. } | DbError::WriteFailed(_) | DbError::Closed => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            DbError::Storage(_)
            | DbError::Internal { .. }
            | DbError::Config(_)
            | DbError::DamagedBackup { .. } => {
                tracing::error!(error = %e, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error reading the database; the server log has the details",
                );
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code.as_str(), "message": self.message }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.code == ErrorCode::Overloaded {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
