//! Request parsing that answers every mistake with the contract's error shape: the JSON
//! body (size limit, syntax, nesting depth), record ids and query parameters.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use http_body_util::BodyExt;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body parsed as JSON (any JSON value; handlers check the shape).
pub struct JsonBody(pub serde_json::Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state.max_body_bytes).await?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "the request body is empty; send a JSON document",
            ));
        }
        parse_json(&bytes).map(Self)
    }
}

/// Reads the whole body: at most `limit` bytes (413 past it), within [`BODY_TIMEOUT`].
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
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
        return Err(too_large());
    }
    let body = http_body_util::Limited::new(req.into_body(), limit);
    let collected = tokio::time::timeout(BODY_TIMEOUT, body.collect())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BadRequest,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body failed: {e}"
        ))),
    }
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

/// Parses a record id from the path.
pub fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
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
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; this route takes {allowed:?}"
            )));
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
            v.parse::<u64>().map_err(|_| {
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
