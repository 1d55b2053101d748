//! The one middleware every request goes through: its id and log span, request counting,
//! and authentication, in that order (so that 401s are counted and carry an id too).
//!
//! One layer rather than three: each `axum::middleware::from_fn` layer costs a boxed future
//! and a service clone per request, and three of them cost about 15% of the throughput of
//! gets by id (measured A/B with wrk, see docs/BENCHMARKS.md).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::app::AppState;
use crate::metrics::RequestCount;
use crate::{auth, request_id};

/// Serves `request` with its id, span, count and authentication.
pub async fn per_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id::of(&request);
    let span = request_id::span(&id, &request);
    async move {
        let count = RequestCount::start(&state.http_metrics, &request);
        let mut response = match auth::refusal(&state, &request) {
            Some(refusal) => refusal,
            None => next.run(request).await,
        };
        count.finish(response.status().as_u16());
        // One line per request at debug level, in the request's span (id, method and path;
        // never the query string, which may carry `access_token`).
        tracing::debug!(status = response.status().as_u16(), "request served");
        request_id::echo(&mut response, id);
        response
    }
    .instrument(span)
    .await
}
