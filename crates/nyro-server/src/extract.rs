//! Request parsing that answers every mistake with the contract's error shape: the JSON
//! body (size limit, syntax, nesting depth), record ids and query parameters.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body parsed as JSON (any JSON value; handlers check the shape).
pub struct JsonBody(pub serde_json::Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let BodyBytes(bytes) = BodyBytes::from_request(req, state).await?;
        parse_json(&bytes).map(Self)
    }
}

/// A request body that must not be empty, not parsed yet (handlers parse it straight into
/// documents, see `json_doc`).
pub struct BodyBytes(pub Bytes);

impl FromRequest<AppState> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state.max_body_bytes, state.body_timeout).await?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "the request body is empty; send a JSON document",
            ));
        }
        Ok(Self(bytes))
    }
}

/// After a body was refused as too large, how long the rest of it is still read and thrown
/// away, and how much of it at most. A client is usually still sending when the 413 is
/// ready; closing the connection under it would make it see a reset instead of the answer.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// See [`LINGER_TIME`].
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Reads and discards what is left of a refused body, within [`LINGER_TIME`] and
/// [`LINGER_BYTES`], so that the client gets to read the answer.
fn linger(mut body: Body) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + LINGER_TIME;
        let mut drained = 0usize;
        while drained <= LINGER_BYTES {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    drained += frame.data_ref().map_or(0, |data| data.len());
                }
                _ => break,
            }
        }
    });
}

/// Reads the whole body: at most `limit` bytes (413 past it), within `timeout` (408 past
/// it; [`BODY_TIMEOUT`] by default).
pub async fn read_body(req: Request, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than max_body_bytes ({limit} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        // A client that sent `Expect: 100-continue` waits for the go-ahead before sending the
        // body, and reads the 413 instead; reading its body would send that go-ahead.
        let expects_continue = req
            .headers()
            .get(axum::http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue {
            linger(req.into_body());
        }
        return Err(too_large());
    }
    let mut body = req.into_body();
    let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(limit).min(limit));
    let mut bytes = Vec::with_capacity(capacity);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!(
                    "reading the request body failed: {e}"
                )));
            }
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::BadRequest,
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs_f64()
                    ),
                ));
            }
        };
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                linger(body);
                return Err(too_large());
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// Parses JSON, telling nesting too deep (bad_request) from syntax errors (invalid_json).
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            ApiError::bad_request(format!(
                "the document nests deeper than {} levels",
                nyro_core::MAX_DEPTH
            ))
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            )
        }
    })
}

/// Path parameters, like axum's `Path`, but a rejection (such as a percent-encoded segment
/// that is not UTF-8) is answered with the error body.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status.is_server_error() {
                    ErrorCode::Internal
                } else {
                    ErrorCode::BadRequest
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// A JSON body that must be an object (serde would take an array for a struct, too).
pub fn expect_object(json: &serde_json::Value, expected: &str) -> Result<(), ApiError> {
    if json.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the body must be a JSON object: {expected}"
        )))
    }
}

/// Refuses any query parameter, on routes that take none.
pub fn no_query_params(raw: Option<&str>) -> Result<(), ApiError> {
    query_params(raw, &[]).map(drop)
}

/// A u64 written in decimal digits only (`str::parse` also takes a leading `+`).
fn parse_u64(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// Parses a record id from the path.
pub fn parse_id(raw: &str) -> Result<u64, ApiError> {
    parse_u64(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "record id {raw:?} is not a whole number from 0 to {}",
            u64::MAX
        ))
    })
}

/// Query parameters, refusing any not in `allowed` (a misspelt one is a mistake, not
/// something to ignore).
pub fn query_params(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    let Some(raw) = raw else { return Ok(params) };
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(raw)?;
    for (key, value) in pairs {
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::bad_request(if allowed.is_empty() {
                format!("unknown query parameter {key:?}; this route takes none")
            } else {
                format!("unknown query parameter {key:?}; this route takes {allowed:?}")
            }));
        }
        if params.insert(key.clone(), value).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {key:?} is given twice"
            )));
        }
    }
    Ok(params)
}

fn serde_urlencoded_pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}")
            .parse()
            .map_err(|_| ApiError::bad_request("the query string is not valid"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::bad_request(format!("the query string is not valid: {e}")))
}

/// An optional u64 parameter.
pub fn u64_param(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            parse_u64(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter {name}={v:?} is not a whole number from 0 to {}",
                    u64::MAX
                ))
            })
        })
        .transpose()
}

/// The `sync` parameter: `true`, `false`, or absent.
pub fn sync_param(params: &HashMap<String, String>) -> Result<bool, ApiError> {
    match params.get("sync").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "query parameter sync={other:?} must be true or false"
        ))),
    }
}
