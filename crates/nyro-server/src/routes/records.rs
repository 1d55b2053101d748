//! Documents: insert, bulk insert, get, replace, delete, list and query.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use nyro_core::WriteOptions;

use crate::app::AppState;
use crate::cluster::read_barrier;
use crate::error::ApiResult;
use crate::extract::{ApiPath, BodyBytes, parse_id, query_params, sync_param, u64_param};
use crate::json_doc::{parse_document, parse_documents};
use crate::openapi::responses::{BadRequest, Conflict, Internal, NotFound, Timeout, TooLarge};
use crate::wire::{
    BulkAnswer, CollectionName, Consistency, DocumentBody, DocumentsBody, InsertAnswer, PageAnswer,
    PageWriter, ReplaceAnswer, StoredDocument, U64, json_response,
};

/// Default page size of list and query.
const DEFAULT_LIMIT: usize = 100;

fn write_options(query: Option<&str>) -> ApiResult<WriteOptions> {
    let params = query_params(query, &["sync"])?;
    Ok(WriteOptions {
        sync: sync_param(&params)?,
    })
}

/// Inserts one document (`_id` optional); creates the collection if missing.
#[utoipa::path(post, path = "/v1/collections/{collection}/records", tag = "records", operation_id = "insert_record",
    params(("collection" = CollectionName, Path), ("sync" = Option<bool>, Query, description = "true: answer only after the write's batch was fdatasync'ed")),
    request_body = DocumentBody,
    responses((status = 201, body = InsertAnswer), (status = 400, response = BadRequest),
        (status = 408, response = Timeout), (status = 409, response = Conflict),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub async fn insert(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
    BodyBytes(body): BodyBytes,
) -> ApiResult<(StatusCode, Json<InsertAnswer>)> {
    let options = write_options(query.as_deref())?;
    nyro_core::validate_name(&collection)?;
    let doc = parse_document(&body)?;
    let inserted = state.db.insert(&collection, doc, options).await?;
    Ok((
        StatusCode::CREATED,
        Json(InsertAnswer {
            id: inserted.id,
            seq: inserted.seq,
        }),
    ))
}

/// Inserts an array of documents, all or nothing.
#[utoipa::path(post, path = "/v1/collections/{collection}/records/_bulk", tag = "records", operation_id = "insert_records",
    params(("collection" = CollectionName, Path), ("sync" = Option<bool>, Query, description = "true: answer only after the write's batch was fdatasync'ed")),
    request_body = DocumentsBody,
    responses((status = 201, body = BulkAnswer), (status = 400, response = BadRequest),
        (status = 408, response = Timeout), (status = 409, response = Conflict),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub async fn bulk_insert(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
    BodyBytes(body): BodyBytes,
) -> ApiResult<(StatusCode, Json<BulkAnswer>)> {
    let options = write_options(query.as_deref())?;
    nyro_core::validate_name(&collection)?;
    let docs = parse_documents(&body)?;
    let inserted = state.db.insert_many(&collection, docs, options).await?;
    Ok((
        StatusCode::CREATED,
        Json(BulkAnswer {
            ids: inserted.ids,
            seq: inserted.seq,
        }),
    ))
}

/// Reads one document.
#[utoipa::path(get, path = "/v1/collections/{collection}/records/{id}", tag = "records", operation_id = "get_record",
    params(("collection" = CollectionName, Path), ("id" = U64, Path), ("consistency" = Option<Consistency>, Query, description = "linearizable (default): reflects every write acknowledged before the read began, on any node of a cluster; lease: the leader answers alone while its lease holds; local: this node's state, possibly stale, never partial (a standalone server is always all three)")),
    responses((status = 200, description = "the document, with `_id` first", body = StoredDocument),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 500, response = Internal)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let params = query_params(query.as_deref(), &["consistency"])?;
    read_barrier(&state, params.get("consistency").map(String::as_str)).await?;
    let body = state.db.get_with(&collection, id, |doc| {
        let mut body = Vec::with_capacity(2 * doc.bytes().len() + 32);
        doc.write_json(&mut body);
        body
    })?;
    Ok(json_response(body))
}

/// Replaces a document, or creates it.
#[utoipa::path(put, path = "/v1/collections/{collection}/records/{id}", tag = "records", operation_id = "replace_record",
    params(("collection" = CollectionName, Path), ("id" = U64, Path), ("sync" = Option<bool>, Query, description = "true: answer only after the write's batch was fdatasync'ed")),
    request_body(content = DocumentBody, description = "the document; `_id`, if given, must equal the path's id (else 400)"),
    responses((status = 200, body = ReplaceAnswer), (status = 400, response = BadRequest),
        (status = 408, response = Timeout), (status = 413, response = TooLarge),
        (status = 500, response = Internal)))]
pub async fn replace(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    BodyBytes(body): BodyBytes,
) -> ApiResult<Json<ReplaceAnswer>> {
    let id = parse_id(&id)?;
    let options = write_options(query.as_deref())?;
    nyro_core::validate_name(&collection)?;
    let doc = parse_document(&body)?;
    let replaced = state.db.replace(&collection, id, doc, options).await?;
    Ok(Json(ReplaceAnswer {
        id: replaced.id,
        seq: replaced.seq,
        created: replaced.created,
    }))
}

/// Deletes a document.
#[utoipa::path(delete, path = "/v1/collections/{collection}/records/{id}", tag = "records", operation_id = "delete_record",
    params(("collection" = CollectionName, Path), ("id" = U64, Path), ("sync" = Option<bool>, Query, description = "true: answer only after the write's batch was fdatasync'ed")),
    responses((status = 204, description = "deleted"), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let options = write_options(query.as_deref())?;
    state.db.delete(&collection, id, options).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists documents in ascending id order, a page at a time.
#[utoipa::path(get, path = "/v1/collections/{collection}/records", tag = "records", operation_id = "list_records",
    params(("collection" = CollectionName, Path),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 10000, description = "most documents to return (default 100)"),
        ("after" = Option<U64>, Query, description = "start after this id"), ("consistency" = Option<Consistency>, Query, description = "linearizable (default): reflects every write acknowledged before the read began, on any node of a cluster; lease: the leader answers alone while its lease holds; local: this node's state, possibly stale, never partial (a standalone server is always all three)")),
    responses((status = 200, body = PageAnswer), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = query_params(query.as_deref(), &["limit", "after", "consistency"])?;
    let limit = u64_param(&params, "limit")?.map_or(DEFAULT_LIMIT, |l| l as usize);
    let after = u64_param(&params, "after")?;
    read_barrier(&state, params.get("consistency").map(String::as_str)).await?;
    let mut page = PageWriter::new();
    let next = state
        .db
        .list_with(&collection, after, limit, |doc| page.push(doc))?;
    Ok(json_response(page.finish(next)))
}
