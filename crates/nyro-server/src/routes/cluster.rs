//! The cluster's routes (contract section 7): `GET /v1/cluster`, and membership changes
//! `POST /v1/cluster/members` and `DELETE /v1/cluster/members/{id}` (served by the leader; a
//! follower forwards them). A standalone server answers 404 to all three.

use axum::Json;
use axum::extract::State;

use crate::app::AppState;
use crate::cluster::ClusterHandle;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody, expect_object, parse_id};
use crate::openapi::responses::{BadRequest, NotFound, Unavailable};
use crate::wire::{ClusterAnswer, NewMember, U64};

fn cluster(state: &AppState) -> ApiResult<&ClusterHandle> {
    state.cluster.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "this server is not part of a cluster (its [cluster] node_id is 0); see docs/CLUSTER.md",
        )
    })
}

/// This node's view of the cluster: the leader, the term, commit and applied indexes, and
/// every member with its role.
#[utoipa::path(get, path = "/v1/cluster", tag = "cluster", operation_id = "cluster_status",
    responses((status = 200, body = ClusterAnswer), (status = 404, response = NotFound)))]
pub async fn status(State(state): State<AppState>) -> ApiResult<Json<ClusterAnswer>> {
    Ok(Json(cluster(&state)?.node.status().into()))
}

/// Adds a node: as a learner that catches up, then as a voter. Answers once committed.
#[utoipa::path(post, path = "/v1/cluster/members", tag = "cluster", operation_id = "add_member",
    request_body = NewMember,
    responses((status = 200, body = ClusterAnswer), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 503, response = Unavailable)))]
pub async fn add(
    State(state): State<AppState>,
    JsonBody(json): JsonBody,
) -> ApiResult<Json<ClusterAnswer>> {
    let cluster = cluster(&state)?;
    const EXPECTED: &str = "{\"id\": NODE_ID, \"addr\": \"HOST:PORT\"}";
    expect_object(&json, EXPECTED)?;
    let member: NewMember = serde_json::from_value(json)
        .map_err(|e| ApiError::bad_request(format!("expected {EXPECTED}: {e}")))?;
    if member.id == 0 {
        return Err(ApiError::bad_request("id: a node id is 1 or more"));
    }
    nyro_raft::config::check_addr(&member.addr)
        .map_err(|e| ApiError::bad_request(format!("addr: {e}")))?;
    let status = cluster.node.add_member(member.id, &member.addr).await?;
    Ok(Json(status.into()))
}

/// Removes a node (voter or learner). Answers once committed.
#[utoipa::path(delete, path = "/v1/cluster/members/{id}", tag = "cluster", operation_id = "remove_member",
    params(("id" = U64, Path, description = "the node id")),
    responses((status = 200, body = ClusterAnswer), (status = 400, response = BadRequest),
        (status = 404, response = NotFound), (status = 503, response = Unavailable)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ClusterAnswer>> {
    let cluster = cluster(&state)?;
    let id = parse_id(&id)?;
    let status = cluster.node.remove_member(id).await?;
    Ok(Json(status.into()))
}
