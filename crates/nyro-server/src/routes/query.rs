//! Queries (CONTRACT section 6): `POST .../_query` answers a page (or a count), `_explain`
//! the plan and what its first page cost. The query runs on a blocking thread: a scan may
//! read up to `query.max_scan` documents.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use nyro_core::query::{Next, Projection, Query};

use crate::app::AppState;
use crate::cluster::read_barrier;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody, query_params};
use crate::openapi::responses::{BadRequest, Internal, NotFound, Timeout, TooLarge};
use crate::wire::{
    CollectionName, Consistency, ExplainAnswer, PageWriter, QueryAnswer, QueryBody, json_response,
};

/// Reads the body and waits for the consistency asked for.
async fn prepare(
    state: &AppState,
    query: Option<&str>,
    json: &serde_json::Value,
) -> ApiResult<Query> {
    let params = query_params(query, &["consistency"])?;
    let parsed = Query::from_json(json)?;
    read_barrier(state, params.get("consistency").map(String::as_str)).await?;
    Ok(parsed)
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the query task failed: {e}")))?
}

/// Finds documents: filters on any path, sort, cursors, projection, count.
#[utoipa::path(post, path = "/v1/collections/{collection}/_query", tag = "records", operation_id = "query_records",
    params(("collection" = CollectionName, Path), ("consistency" = Option<Consistency>, Query, description = "linearizable (default): reflects every write acknowledged before the read began, on any node of a cluster; lease: the leader answers alone while its lease holds; local: this node's state, possibly stale, never partial (a standalone server is always all three)")),
    request_body = QueryBody,
    responses((status = 200, body = QueryAnswer),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 408, response = Timeout),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub async fn query(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(raw): RawQuery,
    JsonBody(json): JsonBody,
) -> ApiResult<Response> {
    let query = prepare(&state, raw.as_deref(), &json).await?;
    let db = state.db.clone();
    let body = blocking(move || {
        let mut page = PageWriter::new();
        let projection = query.fields.as_deref().map(Projection::new);
        let outcome = db.query_with(&collection, &query, |doc| match &projection {
            Some(projection) => page.push_projected(doc, projection),
            None => page.push(doc),
        })?;
        Ok(match outcome.count {
            Some(count) => format!("{{\"count\":{count}}}").into_bytes(),
            None => page.finish_next(outcome.next.as_ref()),
        })
    })
    .await?;
    Ok(json_response(body))
}

/// The plan of a query: the indexes used and their bounds, whether it scans, and the
/// documents its first page examined and returned.
#[utoipa::path(post, path = "/v1/collections/{collection}/_explain", tag = "records", operation_id = "explain_query",
    params(("collection" = CollectionName, Path), ("consistency" = Option<Consistency>, Query, description = "as for _query")),
    request_body = QueryBody,
    responses((status = 200, body = ExplainAnswer), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 408, response = Timeout),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub async fn explain(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(raw): RawQuery,
    JsonBody(json): JsonBody,
) -> ApiResult<Response> {
    let query = prepare(&state, raw.as_deref(), &json).await?;
    let db = state.db.clone();
    let explain = blocking(move || Ok(db.explain(&collection, &query)?)).await?;
    let body = serde_json::to_vec(&explain)
        .map_err(|e| ApiError::internal(format!("writing the plan failed: {e}")))?;
    Ok(json_response(body))
}

/// `next` as the page writes it.
pub(crate) fn next_json(next: Option<&Next>) -> String {
    match next {
        None => "null".to_owned(),
        Some(Next::Id(id)) => id.to_string(),
        Some(Next::Cursor(cursor)) => serde_json::Value::from(cursor.as_str()).to_string(),
    }
}
