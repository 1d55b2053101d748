//! `/v1/collections`, `/v1/collections/{collection}` and its indexes
//! (`/v1/collections/{collection}/_indexes`).

use axum::Json;
use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{
    ApiPath, expect_object, no_query_params, parse_json, query_params, read_body, sync_param,
};
use crate::openapi::responses::{BadRequest, Conflict, Internal, NotFound, Timeout, TooLarge};
use crate::wire::{
    CollectionAnswer, CollectionEntry, CollectionList, CollectionName, CreateCollection,
    IndexAnswer, NewIndex,
};

/// Lists every collection with its document count and indexes.
#[utoipa::path(get, path = "/v1/collections", tag = "collections", operation_id = "list_collections",
    responses((status = 200, body = CollectionList), (status = 400, response = BadRequest)))]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<CollectionList>> {
    no_query_params(query.as_deref())?;
    let collections = state
        .db
        .collections()
        .into_iter()
        .map(|c| CollectionEntry {
            name: c.name,
            count: c.count,
            indexes: c.indexes,
            building: c.building,
        })
        .collect();
    Ok(Json(CollectionList { collections }))
}

/// Creates a collection with the given indexes (201), or confirms one that exists with the
/// same indexes (200).
#[utoipa::path(put, path = "/v1/collections/{collection}", tag = "collections", operation_id = "create_collection",
    params(("collection" = CollectionName, Path),
        ("sync" = Option<bool>, Query, description = "answer only after fdatasync")),
    request_body(content = CreateCollection, description = "optional: an empty body means no indexes"),
    responses((status = 201, description = "created", body = CollectionAnswer),
        (status = 200, description = "it exists with the same indexes", body = CollectionAnswer),
        (status = 400, response = BadRequest), (status = 408, response = Timeout),
        (status = 409, response = Conflict), (status = 413, response = TooLarge),
        (status = 500, response = Internal)))]
pub async fn create(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> ApiResult<impl IntoResponse> {
    let sync = sync_param(&query_params(query.as_deref(), &["sync"])?)?;
    nyro_core::validate_name(&collection)?;
    let body = read_body(request, state.max_body_bytes, state.body_timeout).await?;
    let spec = if body.is_empty() {
        CreateCollection::default()
    } else {
        const EXPECTED: &str = "{\"indexes\": [field, ...]}";
        let json = parse_json(&body)?;
        expect_object(&json, EXPECTED)?;
        serde_json::from_value::<CreateCollection>(json)
            .map_err(|e| ApiError::bad_request(format!("expected {EXPECTED}: {e}")))?
    };
    let status = match state
        .db
        .create_collection(&collection, &spec.indexes)
        .await?
    {
        nyro_core::Created::Created => StatusCode::CREATED,
        nyro_core::Created::Existed => StatusCode::OK,
    };
    if sync {
        state.db.flush().await?;
    }
    let indexes = state
        .db
        .collections()
        .into_iter()
        .find(|c| c.name == collection)
        .map(|c| c.indexes)
        .unwrap_or_default();
    Ok((
        status,
        Json(CollectionAnswer {
            name: collection,
            indexes,
        }),
    ))
}

/// Drops a collection and all its documents.
#[utoipa::path(delete, path = "/v1/collections/{collection}", tag = "collections", operation_id = "drop_collection",
    params(("collection" = CollectionName, Path),
        ("sync" = Option<bool>, Query, description = "answer only after fdatasync")),
    responses((status = 204, description = "dropped"), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub async fn drop(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let sync = sync_param(&query_params(query.as_deref(), &["sync"])?)?;
    state.db.drop_collection(&collection).await?;
    if sync {
        state.db.flush().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Adds an index on a path of a collection: logged at once, then built from the documents
/// already stored while reads and writes go on (202); `GET /v1/collections` lists it under
/// `building` until queries can use it.
#[utoipa::path(post, path = "/v1/collections/{collection}/_indexes", tag = "collections", operation_id = "add_index",
    params(("collection" = CollectionName, Path),
        ("sync" = Option<bool>, Query, description = "answer only after fdatasync")),
    request_body = NewIndex,
    responses((status = 202, description = "added: being built from the stored documents (or ready at once in an empty collection)", body = IndexAnswer),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 408, response = Timeout), (status = 409, response = Conflict),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub async fn add_index(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> ApiResult<(StatusCode, Json<IndexAnswer>)> {
    let sync = sync_param(&query_params(query.as_deref(), &["sync"])?)?;
    nyro_core::validate_name(&collection)?;
    let body = read_body(request, state.max_body_bytes, state.body_timeout).await?;
    const EXPECTED: &str = "{\"path\": \"a.dotted.path\"}";
    let json = parse_json(&body)?;
    expect_object(&json, EXPECTED)?;
    let spec = serde_json::from_value::<NewIndex>(json)
        .map_err(|e| ApiError::bad_request(format!("expected {EXPECTED}: {e}")))?;
    state.db.add_index(&collection, &spec.path).await?;
    if sync {
        state.db.flush().await?;
    }
    let building = state
        .db
        .collections()
        .into_iter()
        .find(|c| c.name == collection)
        .is_some_and(|c| c.building.contains(&spec.path));
    Ok((
        StatusCode::ACCEPTED,
        Json(IndexAnswer {
            collection,
            path: spec.path,
            state: if building { "building" } else { "ready" },
        }),
    ))
}

/// Drops the index on a path of a collection (ready or being built), at once.
#[utoipa::path(delete, path = "/v1/collections/{collection}/_indexes/{path}", tag = "collections", operation_id = "drop_index",
    params(("collection" = CollectionName, Path),
        ("path" = String, Path, description = "the indexed path, as it was added"),
        ("sync" = Option<bool>, Query, description = "answer only after fdatasync")),
    responses((status = 204, description = "dropped"), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub async fn drop_index(
    State(state): State<AppState>,
    ApiPath((collection, path)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let sync = sync_param(&query_params(query.as_deref(), &["sync"])?)?;
    state.db.drop_index(&collection, &path).await?;
    if sync {
        state.db.flush().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
