//! The server side of openraft's RPCs: the `/internal/raft/*` routes.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use nyro_core::secret::constant_time_eq;
use openraft::Raft;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{
    APPEND_PATH, CRC_HEADER, NODE_HEADER, OCTET_STREAM, READ_INDEX_PATH, SECRET_HEADER,
    SNAPSHOT_PATH, VOTE_PATH, check_crc, crc_value,
};
use crate::TypeConfig;
use crate::stopped::{describe, failed};

/// What every internal route needs.
struct Internal {
    raft: Raft<TypeConfig>,
    secret: Vec<u8>,
    max_body_bytes: usize,
}

/// The Raft routes of this node ([`APPEND_PATH`], [`VOTE_PATH`], [`SNAPSHOT_PATH`], and
/// [`READ_INDEX_PATH`] for followers' linearizable reads, all `POST`), handing each request to `raft`. A request is refused with 401 unless its
/// [`SECRET_HEADER`] equals `secret` (compared in constant time; an empty `secret` refuses
/// every request), with 413 if its body is over `max_body_bytes` (which must hold a
/// snapshot chunk, `snapshot_max_chunk_size`, plus a few hundred bytes), and with 400 if
/// the body does not match its [`CRC_HEADER`] or does not decode (the sender's openraft
/// sends it again). Errors are the contract's JSON; a 200 carries the encoded
/// `Result<response, RaftError>` and its CRC.
///
/// The router takes any state type, so that it merges into the server's own.
pub fn internal_routes<S>(raft: Raft<TypeConfig>, secret: &str, max_body_bytes: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let internal = Arc::new(Internal {
        raft,
        secret: secret.as_bytes().to_vec(),
        max_body_bytes,
    });
    Router::new()
        .route(
            APPEND_PATH,
            rpc_route(Arc::clone(&internal), |raft, rpc| async move {
                raft.append_entries(rpc).await
            }),
        )
        .route(
            VOTE_PATH,
            rpc_route(Arc::clone(&internal), |raft, rpc| async move {
                raft.vote(rpc).await
            }),
        )
        .route(
            SNAPSHOT_PATH,
            rpc_route(Arc::clone(&internal), |raft, rpc| async move {
                raft.install_snapshot(rpc).await
            }),
        )
        .route(
            READ_INDEX_PATH,
            rpc_route(internal, |raft, (): ()| async move {
                raft.get_read_log_id()
                    .await
                    .map(|(read, _applied)| read.map_or(0, |l| l.index))
                    .map_err(|e| {
                        format!(
                            "node {} cannot serve a read index: {}",
                            raft_id(&raft),
                            describe(&e)
                        )
                    })
            }),
        )
}

/// The id of the node `raft` runs (for messages).
fn raft_id(raft: &Raft<TypeConfig>) -> crate::NodeId {
    raft.metrics().borrow().id
}

/// A `POST` route serving one RPC with `call`.
fn rpc_route<S, Req, Out, F, Fut>(internal: Arc<Internal>, call: F) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Req: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    F: Fn(Raft<TypeConfig>, Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Out> + Send + 'static,
{
    post(move |headers: HeaderMap, body: Body| {
        let internal = Arc::clone(&internal);
        let call = call.clone();
        async move { serve_rpc(&internal, &headers, body, call).await }
    })
}

/// Checks, reads and decodes one RPC, runs `call` on it, and answers its encoded result.
async fn serve_rpc<Req, Out, F, Fut>(
    internal: &Internal,
    headers: &HeaderMap,
    body: Body,
    call: F,
) -> Response
where
    Req: DeserializeOwned,
    Out: Serialize,
    F: FnOnce(Raft<TypeConfig>, Req) -> Fut,
    Fut: Future<Output = Out>,
{
    if let Some(refusal) = secret_refusal(headers, &internal.secret) {
        return refusal;
    }
    // A node whose Raft failed (a storage error) answers 503: its peers treat it as
    // unreachable and back off, instead of sending every heartbeat to a Raft that is gone.
    if failed(&internal.raft) {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "node {} stopped replicating after a storage error; it must be restarted",
                raft_id(&internal.raft)
            ),
        );
    }
    let bytes = match read_body(headers, body, internal.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    if let Err(problem) = check_crc(headers, &bytes) {
        tracing::warn!(%problem, sender = sender(headers), "a Raft RPC body was refused");
        return error_response(StatusCode::BAD_REQUEST, "bad_request", problem.to_string());
    }
    let rpc: Req = match nyro_storage::codec::decode(&bytes) {
        Ok(rpc) => rpc,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the Raft request does not decode: {e}; are both nodes the same version?"),
            );
        }
    };
    let out = call(internal.raft.clone(), rpc).await;
    match nyro_storage::codec::encode(&out) {
        Ok(encoded) => {
            let crc = crc_value(&encoded);
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM)),
                    (header::HeaderName::from_static(CRC_HEADER), crc),
                ],
                encoded,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a Raft answer");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot encode the Raft answer; the server log has the details".to_string(),
            )
        }
    }
}

/// The node a request says it comes from ([`NODE_HEADER`]), for log lines.
fn sender(headers: &HeaderMap) -> &str {
    headers
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unnamed")
}

/// The 401 for a request without the right secret.
fn secret_refusal(headers: &HeaderMap, secret: &[u8]) -> Option<Response> {
    let given = headers.get(SECRET_HEADER).map(HeaderValue::as_bytes);
    let message = match given {
        Some(given) if !secret.is_empty() && constant_time_eq(given, secret) => return None,
        Some(_) => "the cluster secret is wrong; every node needs the same cluster.secret",
        None => "node-to-node calls need the cluster secret (x-nyrodb-secret)",
    };
    tracing::warn!(
        sender = sender(headers),
        "a node-to-node call was refused: {message}"
    );
    Some(error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message.to_string(),
    ))
}

/// The body, or the 413 (over `limit`) or 400 (unreadable) refusing it.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a Raft request body may hold at most {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// An answer in the contract's error shape: `{"error": {"code", "message"}}`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}
