//! The application state and the router, built by one plain function.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::{get, post, put};
use nyro_core::{Config, Database};

use crate::{auth, metrics, routes};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// The bearer token every route but `/health` requires, if any.
    pub auth_token: Option<Arc<str>>,
    /// Request counters for `/metrics`.
    pub http_metrics: Arc<metrics::HttpMetrics>,
    /// When the server started.
    pub started: Instant,
}

impl AppState {
    /// The state for serving `db` as `config` says.
    pub fn new(db: Database, config: &Config) -> Self {
        Self {
            db,
            max_body_bytes: config.server.max_body_bytes,
            auth_token: config
                .auth_required()
                .then(|| Arc::from(config.server.auth_token.as_str())),
            http_metrics: Arc::default(),
            started: Instant::now(),
        }
    }
}

/// Every route of the contract (CONTRACT.md section 4), with auth, metrics and the error
/// shape for unknown paths and wrong methods.
pub fn build_router(state: AppState) -> Router {
    use routes::{changes, collections, records, system};
    Router::new()
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/v1/stats", get(system::stats))
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
            get(records::get).put(records::replace).delete(records::delete),
        )
        .route("/v1/collections/{collection}/_query", post(records::query))
        .route("/v1/collections/{collection}/changes", get(changes::one_collection))
        .route("/v1/changes", get(changes::all_collections))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}
