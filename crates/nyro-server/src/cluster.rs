//! A cluster node's server side: starting the node, forwarding a follower's writes to the
//! leader, and the read barrier of `?consistency=`. A standalone server has none of it
//! (`AppState::cluster` is `None`) and accepts `?consistency=` only to check its value.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nyro_core::OpenOptions;
use nyro_raft::network::was_forwarded;
use nyro_raft::{
    ClusterError, Consistency, Forwarder, HttpNetworkFactory, Node, NodeOptions, PeerTls,
};

use crate::app::AppState;
use crate::config::ServerConfig;
use crate::error::{ApiError, ErrorCode};
use crate::extract::read_body;

/// A cluster node, as the server uses it. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ClusterHandle {
    /// The node.
    pub node: Node,
    forwarder: Forwarder,
    /// `cluster.secret`, for the node-to-node routes.
    secret: String,
}

/// The TLS peers use: HTTPS trusting the certificates of `server.tls_cert` (every node's
/// certificate is signed by the CA that file ends with, or is that same certificate) when
/// TLS is on; plain HTTP otherwise.
fn peer_tls(config: &ServerConfig) -> std::io::Result<PeerTls> {
    match &config.server.tls_cert {
        Some(path) => Ok(PeerTls::https(std::fs::read(path)?)),
        None => Ok(PeerTls::Plain),
    }
}

/// Why a cluster node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The peers' TLS or HTTP client could not be set up.
    #[error("cluster transport: {0}")]
    Transport(String),
    /// The node failed to start.
    #[error(transparent)]
    Node(#[from] ClusterError),
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl ClusterHandle {
    /// The cluster's shared secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Opens the database as a cluster node and starts Raft on it.
    pub async fn start(config: &ServerConfig, open: OpenOptions) -> Result<Self, StartError> {
        let settings = &config.cluster;
        let tls = peer_tls(config).map_err(|e| {
            StartError::Transport(format!("cannot read server.tls_cert for the peers: {e}"))
        })?;
        let network = HttpNetworkFactory::new(settings.node_id, &settings.secret, &tls)
            .map_err(|e| StartError::Transport(e.to_string()))?;
        let deadline = settings.election_timeout() * 2;
        let forwarder = Forwarder::new(settings.node_id, &tls, deadline + Duration::from_secs(2))
            .map_err(|e| StartError::Transport(e.to_string()))?;
        let options = NodeOptions {
            id: settings.node_id,
            advertise: config.advertise(),
            bootstrap: settings
                .bootstrap
                .iter()
                .map(|m| (m.id, m.addr.clone()))
                .collect(),
            heartbeat: settings.heartbeat(),
            election_timeout: settings.election_timeout(),
            snapshot_every: settings.snapshot_every,
        };
        let peers = Arc::new(network.clone());
        let node = Node::start(&config.db, open, options, network, peers).await?;
        Ok(Self {
            node,
            forwarder,
            secret: settings.secret.clone(),
        })
    }
}

/// The body limit of the node-to-node routes: one AppendEntries must hold at least one
/// whole entry, which the proposer keeps under [`nyro_raft::entry_budget`] (a batch of
/// writes of at most `max_body_bytes` each), and a snapshot chunk.
pub fn internal_body_limit(max_body_bytes: usize) -> usize {
    nyro_raft::entry_budget(max_body_bytes)
        .saturating_mul(2)
        .saturating_add(4 << 20)
}

/// The write routes that only the leader serves (matched path and method): a follower
/// forwards them. Reads, `_query`, and per-node operations (`_compact`, `_backup`,
/// `/v1/stats`, `/metrics`) are served where they arrive.
fn leader_only(method: &Method, path: &str) -> bool {
    match path {
        "/v1/collections/{collection}" | "/v1/collections/{collection}/records/{id}" => {
            method == Method::PUT || method == Method::DELETE
        }
        "/v1/collections/{collection}/records"
        | "/v1/collections/{collection}/records/_bulk"
        | "/v1/collections/{collection}/_indexes"
        | "/v1/cluster/members" => method == Method::POST,
        "/v1/cluster/members/{id}" | "/v1/collections/{collection}/_indexes/{path}" => {
            method == Method::DELETE
        }
        _ => false,
    }
}

fn unavailable(message: impl Into<String>) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        message,
    )
    .into_response()
}

/// Middleware: on a follower, sends a leader-only write to the leader and returns its
/// answer unchanged; a write forwarded once already, one with no leader known, or any
/// leader-only write on a node whose Raft stopped, gets 503 `unavailable` (never a second
/// hop, never a retry).
pub async fn forward_to_leader(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = &state.cluster else {
        return next.run(request).await;
    };
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    if !path.is_some_and(|p| leader_only(request.method(), &p)) {
        return next.run(request).await;
    }
    // A node whose Raft stopped (a failed fdatasync) takes no write, and forwards none:
    // the leader it last knew may be gone, or be itself.
    if let Some(why) = cluster.node.stopped() {
        return unavailable(why);
    }
    if cluster.node.is_leader() {
        return next.run(request).await;
    }
    if was_forwarded(request.headers()) {
        return unavailable(
            "this node is not the leader any more (leadership changed while the write was \
             forwarded); retry",
        );
    }
    let Some((leader, addr)) = cluster.node.leader() else {
        return unavailable(
            "no leader is known (an election is under way or the quorum is lost); retry",
        );
    };
    // The body is read as every handler reads it (the size limit and the body timeout),
    // then sent on with the request's method, path and headers.
    let (parts, body) = request.into_parts();
    let head = Request::from_parts(parts.clone(), body);
    let bytes = match read_body(head, state.max_body_bytes, state.body_timeout).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let outgoing = Request::from_parts(parts, bytes);
    match cluster.forwarder.forward(&addr, outgoing).await {
        Ok(answer) => answer.map(Body::from),
        Err(e) => {
            tracing::warn!(leader, %addr, error = %e, "forwarding a write to the leader failed");
            let applied = if e.may_have_been_applied() {
                "it may or may not have been applied: retry it with its _id or as a PUT"
            } else {
                "it was not applied: retry"
            };
            unavailable(format!(
                "the leader (node {leader}) did not answer the forwarded write; {applied}"
            ))
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Db(e) => e.into(),
            ClusterError::Unavailable(message) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                message,
            ),
            ClusterError::NotFound(message) => ApiError::not_found(message),
            ClusterError::BadRequest(message) => ApiError::bad_request(message),
            other => {
                tracing::error!(error = %other, "cluster error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the cluster node is not ready; retry",
                )
            }
        }
    }
}

/// Waits until a read at `consistency` (the `consistency` query parameter, checked) may be
/// answered here; at once on a standalone server.
pub async fn read_barrier(state: &AppState, consistency: Option<&str>) -> Result<(), ApiError> {
    let consistency: Consistency =
        nyro_raft::parse_consistency(consistency).map_err(ApiError::bad_request)?;
    match &state.cluster {
        Some(cluster) => Ok(cluster.node.read_barrier(consistency).await?),
        None => Ok(()),
    }
}
