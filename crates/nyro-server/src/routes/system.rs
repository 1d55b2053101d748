//! Health, stats, metrics, the OpenAPI description, and the answers for unknown paths and
//! wrong methods.

use std::path::{Component, Path, PathBuf};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{JsonBody, expect_object, no_query_params};
use crate::openapi::responses::{BadRequest, Internal, Timeout, TooLarge};
use crate::wire::Health;

/// Always 200 while the process serves; never needs auth. `degraded` once damaged stored
/// data is known (reads of the damaged records fail; the rest is served).
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "ok, or degraded with the damage found", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let damage = state.db.damage();
    Json(Health {
        status: if damage.degraded() { "degraded" } else { "ok" },
        corrupt_frames: damage.degraded().then_some(damage.corrupt_frames),
        reason: damage.reason(),
    })
}

/// Counts, sizes and counters, as JSON.
#[utoipa::path(get, path = "/v1/stats", tag = "system",
    responses((status = 200, description = "collections, log segments, live and dead bytes, last seq, batches, fsyncs, uptime", body = Object),
        (status = 400, response = BadRequest)))]
pub async fn stats(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<serde_json::Value>> {
    no_query_params(query.as_deref())?;
    let s = state.db.stats();
    // The database's reason names the segment file: clients get a path-free sentence, the
    // log the reason itself.
    let poisoned = s.poisoned.as_deref().map(|reason| {
        tracing::warn!(reason, "stats: writes are refused until a restart");
        crate::error::POISONED
    });
    let mut answer = crate::wire::database_stats(&s);
    let counters = serde_json::json!({
        "batches_written": s.batches,
        "records_written": s.records_written,
        "fsyncs": s.fsyncs,
        "in_flight_ops": s.in_flight_ops,
        "uptime_seconds": s.uptime.as_secs_f64(),
        "writes_poisoned": poisoned,
    });
    if let (Some(answer), serde_json::Value::Object(counters)) = (answer.as_object_mut(), counters)
    {
        answer.extend(counters);
    }
    Ok(Json(answer))
}

/// Rewrites every segment that holds dead records, and answers once done. Reads and writes
/// go on meanwhile.
#[utoipa::path(post, path = "/v1/_compact", tag = "system",
    responses((status = 200, description = "what was rewritten", body = crate::wire::CompactAnswer),
        (status = 400, response = BadRequest), (status = 500, response = Internal)))]
pub async fn compact(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<crate::wire::CompactAnswer>, ApiError> {
    crate::extract::no_query_params(query.as_deref())?;
    let summary = state.db.compact().await?;
    Ok(Json(crate::wire::CompactAnswer {
        segments_rewritten: summary.segments_rewritten,
        bytes_before: summary.bytes_before,
        bytes_after: summary.bytes_after,
    }))
}

/// Writes a consistent backup of the database into a directory on the server's machine
/// under `server.backup_root`, and answers once it is complete. Reads and writes go on
/// meanwhile.
#[utoipa::path(post, path = "/v1/_backup", tag = "system",
    request_body = crate::wire::BackupBody,
    responses((status = 200, description = "the backup is written", body = crate::wire::BackupAnswer),
        (status = 400, description = "`bad_request`: backups over HTTP are off, or the path is not a new or empty directory under server.backup_root whose parent exists; or a body or parameter of the wrong shape (`invalid_json` if it does not parse)", body = crate::wire::ErrorBody),
        (status = 408, response = Timeout), (status = 413, response = TooLarge),
        (status = 500, response = Internal)))]
pub async fn backup(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    JsonBody(json): JsonBody,
) -> ApiResult<Json<crate::wire::BackupAnswer>> {
    no_query_params(query.as_deref())?;
    const EXPECTED: &str = "{\"path\": DIR}";
    expect_object(&json, EXPECTED)?;
    let body: crate::wire::BackupBody = serde_json::from_value(json)
        .map_err(|e| ApiError::bad_request(format!("expected {EXPECTED}: {e}")))?;
    let Some(root) = &state.backup_root else {
        return Err(ApiError::bad_request(
            "backups over HTTP are off: set server.backup_root to the directory under which \
             they may be written, or back up offline with `nyrodb backup --data DIR --out DIR`",
        ));
    };
    let target = backup_target(root, &body.path)?;
    let manifest = state.db.backup(&target).await?;
    Ok(Json(crate::wire::BackupAnswer {
        path: target.display().to_string(),
        files: manifest.files.len(),
        bytes: manifest.bytes(),
        last_seq: manifest.last_seq,
    }))
}

/// Where `requested` (absolute, or relative to `root`) lies once its parent is resolved,
/// if that is under `root`: no `..`, no symlink leading out, not a symlink itself.
fn backup_target(root: &Path, requested: &str) -> ApiResult<PathBuf> {
    let refuse = |why: &str| {
        ApiError::bad_request(format!(
            "cannot back up into {requested:?}: {why}; give a new or empty directory under \
             server.backup_root (the server's log names it)"
        ))
    };
    let root = root.canonicalize().map_err(|e| {
        tracing::warn!(backup_root = %root.display(), error = %e,
            "server.backup_root cannot be resolved; create it");
        refuse(&format!(
            "server.backup_root cannot be resolved ({}); create it",
            e.kind()
        ))
    })?;
    let requested_path = Path::new(requested);
    if requested.is_empty() {
        return Err(refuse("the path is empty"));
    }
    if requested_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::RootDir))
    {
        return Err(refuse("it may not contain `..` or `.`"));
    }
    let full = root.join(requested_path);
    let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
        return Err(refuse("it names no directory"));
    };
    let parent = parent.canonicalize().map_err(|e| {
        refuse(&format!(
            "its parent directory cannot be resolved ({})",
            e.kind()
        ))
    })?;
    if !parent.starts_with(&root) {
        return Err(refuse("it is not under server.backup_root"));
    }
    let target = parent.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refuse("it is a symbolic link")),
        Ok(meta) if !meta.is_dir() => Err(refuse("it is not a directory")),
        // Refused here, not by the backup (whose message names the directory's full path).
        Ok(_) => match std::fs::read_dir(&target).map(|mut entries| entries.next().is_none()) {
            Ok(true) => Ok(target),
            Ok(false) => Err(refuse("it is not empty")),
            Err(e) => Err(refuse(&format!("it cannot be read ({})", e.kind()))),
        },
        // Created here, so that a name the filesystem refuses (a NUL byte, too long) is the
        // request's mistake (400), not a failure of the backup (500). The error's kind
        // only: its text could name server paths.
        Err(_) => match std::fs::create_dir(&target) {
            Ok(()) => Ok(target),
            Err(e) => Err(refuse(&format!("it cannot be created ({})", e.kind()))),
        },
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(
            &state.db,
            &state.http_metrics,
            state.cluster.as_ref().map(|c| c.node.figures()).as_ref(),
        ),
    )
}

/// This API's OpenAPI 3 description, as this server answers (with the bearer security
/// requirement and 401s when it requires a token).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 JSON", body = Object),
        (status = 400, response = BadRequest)))]
pub async fn openapi(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<impl IntoResponse> {
    no_query_params(query.as_deref())?;
    Ok(Json(crate::openapi::document(state.auth_token.is_some())))
}

/// 404 for a path no route serves.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// 405 for a known path with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadRequest,
        format!("{} does not take {method}", uri.path()),
    )
}
