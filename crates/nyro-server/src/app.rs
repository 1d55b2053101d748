//! The application state and the router, built by one plain function.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::{delete, get, post, put};
use nyro_core::Database;

use crate::config::ServerConfig;

use crate::{metrics, routes};

/// What every handler can reach: the fields ([`StateFields`]) behind one `Arc`, so that the
/// clones axum makes of the state for each request (the middleware's, each `State`
/// extractor's) cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<StateFields>);

impl std::ops::Deref for AppState {
    type Target = StateFields;

    fn deref(&self) -> &StateFields {
        &self.0
    }
}

/// The fields of an [`AppState`].
#[derive(Clone)]
pub struct StateFields {
    /// The database.
    pub db: Database,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest time a request body may take to arrive (then 408); `extract::BODY_TIMEOUT`
    /// unless the server's `ConnectionLimits` say otherwise.
    pub body_timeout: std::time::Duration,
    /// The bearer token every route but `/health` and the console's files requires, if any
    /// (see `auth`).
    pub auth_token: Option<Arc<str>>,
    /// Request counters for `/metrics`.
    pub http_metrics: Arc<metrics::HttpMetrics>,
    /// When the server started.
    pub started: Instant,
    /// Tells change-feed connections (which graceful shutdown does not wait for: they are
    /// upgraded) to close with 1001, and counts them so shutdown can wait until they have.
    pub feeds: Arc<FeedShutdown>,
    /// `server.backup_root`: where `POST /v1/_backup` may write; `None` turns it off.
    pub backup_root: Option<std::path::PathBuf>,
    /// The cluster node this server runs (`[cluster]` with a node id); `None` standalone.
    pub cluster: Option<Arc<crate::cluster::ClusterHandle>>,
}

/// Shutdown signal and live-connection count for change feeds.
#[derive(Debug)]
pub struct FeedShutdown {
    signal: tokio::sync::watch::Sender<bool>,
    open: std::sync::atomic::AtomicUsize,
}

impl Default for FeedShutdown {
    fn default() -> Self {
        Self {
            signal: tokio::sync::watch::Sender::new(false),
            open: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

/// Held by a live feed connection; counts it as open until dropped.
pub struct FeedTicket {
    feeds: Arc<FeedShutdown>,
    /// Becomes true when the server shuts down.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Drop for FeedTicket {
    fn drop(&mut self) {
        self.feeds
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl FeedShutdown {
    /// Registers a feed connection.
    pub fn ticket(self: &Arc<Self>) -> FeedTicket {
        self.open.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        FeedTicket {
            feeds: Arc::clone(self),
            stop: self.signal.subscribe(),
        }
    }

    /// Tells every feed to close, then waits (at most `limit`) until they have.
    pub async fn close_all(&self, limit: std::time::Duration) {
        self.signal.send_replace(true);
        let deadline = tokio::time::Instant::now() + limit;
        while self.open.load(std::sync::atomic::Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl AppState {
    /// The state for serving `db` as `config` says.
    pub fn new(db: Database, config: &ServerConfig) -> Self {
        Self(Arc::new(StateFields {
            db,
            max_body_bytes: config.server.max_body_bytes,
            body_timeout: crate::extract::BODY_TIMEOUT,
            auth_token: config
                .auth_required()
                .then(|| Arc::from(config.server.auth_token.as_str())),
            http_metrics: Arc::default(),
            feeds: Arc::default(),
            backup_root: config.server.backup_root.clone(),
            started: Instant::now(),
            cluster: None,
        }))
    }

    /// The state for serving the cluster node `cluster` (its database) as `config` says.
    pub fn for_cluster(cluster: crate::cluster::ClusterHandle, config: &ServerConfig) -> Self {
        let mut state = Self::new(cluster.node.database().clone(), config);
        state.fields_mut().cluster = Some(Arc::new(cluster));
        state
    }

    /// The fields, to change before serving (copied if the state was cloned already).
    pub fn fields_mut(&mut self) -> &mut StateFields {
        Arc::make_mut(&mut self.0)
    }
}

/// Every route of the contract (CONTRACT.md section 4), with auth, metrics and the error
/// shape for unknown paths and wrong methods.
pub fn build_router(state: AppState) -> Router {
    use routes::{changes, cluster, collections, query, records, system};
    let router = Router::new()
        .route("/", get(crate::console::index))
        .route("/console/{file}", get(crate::console::asset_file))
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/v1/stats", get(system::stats))
        .route("/v1/_compact", post(system::compact))
        .route("/v1/_backup", post(system::backup))
        .route("/v1/openapi.json", get(system::openapi))
        .route("/v1/collections", get(collections::list))
        .route(
            "/v1/collections/{collection}",
            put(collections::create).delete(collections::drop),
        )
        .route(
            "/v1/collections/{collection}/records",
            post(records::insert).get(records::list),
        )
        .route(
            "/v1/collections/{collection}/records/_bulk",
            post(records::bulk_insert),
        )
        .route(
            "/v1/collections/{collection}/records/{id}",
            get(records::get)
                .put(records::replace)
                .delete(records::delete),
        )
        .route("/v1/collections/{collection}/_query", post(query::query))
        .route(
            "/v1/collections/{collection}/_explain",
            post(query::explain),
        )
        .route(
            "/v1/collections/{collection}/_indexes",
            post(collections::add_index),
        )
        .route(
            "/v1/collections/{collection}/_indexes/{path}",
            delete(collections::drop_index),
        )
        .route(
            "/v1/collections/{collection}/changes",
            get(changes::one_collection),
        )
        .route("/v1/changes", get(changes::all_collections))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/cluster/members", post(cluster::add))
        .route("/v1/cluster/members/{id}", delete(cluster::remove));
    let router = match &state.cluster {
        // The node-to-node routes: authenticated by the cluster's secret, not the token.
        Some(handle) => router.merge(nyro_raft::internal_routes(
            handle.node.raft().clone(),
            handle.secret(),
            crate::cluster::internal_body_limit(state.max_body_bytes),
        )),
        None => router,
    };
    let router = router
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed);
    // The forwarding of a follower's writes: a layer only on a cluster node (each layer
    // costs every request a boxed future; a standalone server pays nothing for it).
    let router = match &state.cluster {
        Some(_) => router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cluster::forward_to_leader,
        )),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::context::per_request,
        ))
        .with_state(state)
}
