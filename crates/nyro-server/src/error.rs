//! The one place where errors become HTTP answers: `{"error": {"code", "message"}}` with the
//! contract's status and code. Internal details are logged, not sent: no answer names a
//! server file. An error whose text would (a failed write, writes refused after a failed
//! fdatasync, a storage error) is logged in full in the request's span, which carries its
//! request id, and the client gets what failed without the path.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nyro_core::DbError;
use nyro_storage::StorageError;

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

    /// 500 `internal`, for a failure of the server itself (never a file path).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
}

/// The message of a 500 for damaged stored data (contract section 8); the log line of the
/// request names the file and offset.
pub const DAMAGED: &str = "stored data is damaged; run nyrodb verify";

/// Why writes are refused after a failed fdatasync, as clients are told (the 503 of every
/// write and `/v1/stats`' `writes_poisoned`). The database's own reason names the segment
/// file; it goes to the server log only.
pub const POISONED: &str = "the database refuses writes until it is restarted because an \
                            fdatasync failed; reads go on; the server log has the details";

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
            DbError::CollectionNotFound { .. }
            | DbError::NotFound { .. }
            | DbError::IndexNotFound { .. } => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            DbError::Conflict { .. }
            | DbError::IdsExhausted { .. }
            | DbError::CollectionExists { .. }
            | DbError::IndexExists { .. } => (StatusCode::CONFLICT, ErrorCode::Conflict),
            DbError::NotIndexed { .. } | DbError::IndexNotReady { .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::NotIndexed)
            }
            DbError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded),
            DbError::Unavailable { .. } => {
                tracing::warn!(error = %e, "write refused");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    POISONED,
                );
            }
            DbError::WriteFailed(cause) => {
                tracing::warn!(error = %e, "write failed");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    format!(
                        "the write failed and nothing of it was kept: {}; retry once the cause \
                         is gone (the server log has the details)",
                        storage_cause(cause)
                    ),
                );
            }
            DbError::Closed | DbError::NoQuorum { .. } => {
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

/// What a storage error says without the file it names: the operating system's error for
/// I/O failures (its text names no path), a summary otherwise.
fn storage_cause(error: &StorageError) -> String {
    match error {
        StorageError::WriteFailed { source, .. } | StorageError::Io { source, .. } => {
            source.to_string()
        }
        StorageError::Poisoned { .. } => "an fdatasync failed".to_string(),
        StorageError::RecordTooLarge { .. } => error.to_string(),
        _ => "a storage error".to_string(),
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written while the test runs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Renders `error` as the server does inside a request's span; returns the client's
    /// message and the log.
    fn render(error: DbError) -> (ApiError, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let api = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "req-42");
            let _entered = span.enter();
            ApiError::from(error)
        });
        let log = captured.0.lock().map(|l| l.clone()).unwrap_or_default();
        (api, String::from_utf8_lossy(&log).into_owned())
    }

    const SECRET: &str = "/srv/secret-data/00000001.seg";

    #[test]
    fn a_failed_write_names_no_path_to_the_client_but_logs_it_with_the_request_id() {
        let error = DbError::WriteFailed(Arc::new(StorageError::WriteFailed {
            path: PathBuf::from(SECRET),
            offset: 4096,
            records: 1,
            bytes: 100,
            source: std::io::Error::from_raw_os_error(5),
        }));
        let (api, log) = render(error);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!api.message.contains("secret-data"), "{}", api.message);
        assert!(
            api.message.contains("nothing of it was kept"),
            "{}",
            api.message
        );
        assert!(
            api.message.contains("Input/output error"),
            "{}",
            api.message
        );
        assert!(log.contains(SECRET), "{log}");
        assert!(log.contains("req-42"), "{log}");
    }

    #[test]
    fn poisoned_writes_and_storage_errors_name_no_path_to_the_client() {
        let cause = format!("fdatasync of {SECRET} failed: Input/output error (os error 5)");
        let (api, log) = render(DbError::Unavailable { cause });
        assert_eq!(api.code, ErrorCode::Unavailable);
        assert!(!api.message.contains("secret-data"), "{}", api.message);
        assert!(api.message.contains("fdatasync"), "{}", api.message);
        assert!(log.contains(SECRET) && log.contains("req-42"), "{log}");

        let io = StorageError::Io {
            op: "open segment",
            path: PathBuf::from(SECRET),
            source: std::io::ErrorKind::PermissionDenied.into(),
        };
        let (api, log) = render(DbError::Storage(io));
        assert_eq!(api.code, ErrorCode::Internal);
        assert!(!api.message.contains("secret-data"), "{}", api.message);
        assert!(log.contains(SECRET) && log.contains("req-42"), "{log}");
    }
}
