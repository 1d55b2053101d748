//! The change feed over WebSocket: `since` replay, then live changes; a consumer that falls
//! too far behind (or stops reading) is closed with a reason and can resume with `since`.
//! With `where` (a filter's JSON), a live query: only the changes that concern the filter,
//! each with `match` (nyro-core's `live` module).

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use nyro_core::query::Filter;
use nyro_core::{ChangeStream, DbError, FeedError};
use tracing::Instrument;

use crate::app::{AppState, FeedTicket};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, query_params, u64_param};
use crate::openapi::responses::NotFound;
use crate::wire::{ChangeMessage, CollectionName, ErrorBody, U64};

/// Longest a consumer may take to accept one message before it is cut off.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// WebSocket close code for "fell behind; resume with since" (private-use range).
pub const CLOSE_LAGGED: u16 = 4000;
/// WebSocket close code for "the replay asked for changes that compaction removed: watch
/// without `since`, then re-read the collection" (private-use range).
pub const CLOSE_HISTORY_COMPACTED: u16 = 4001;
/// WebSocket close code for "the server is shutting down".
const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for an internal error.
const CLOSE_ERROR: u16 = 1011;

fn open_stream(
    state: &AppState,
    collection: Option<&str>,
    query: Option<&str>,
) -> ApiResult<ChangeStream> {
    // `access_token` was checked (or ignored, without auth) by `auth::refusal`.
    let params = query_params(query, &["since", "where", crate::auth::ACCESS_TOKEN_PARAM])?;
    let since = u64_param(&params, "since")?;
    let stream = match params.get("where") {
        None => state.db.subscribe(collection, since)?,
        Some(text) => state
            .db
            .subscribe_where(collection, since, where_param(text)?)?,
    };
    Ok(stream)
}

/// The `where` parameter: a filter's JSON (URL-encoded), as in a query's `where`.
fn where_param(text: &str) -> ApiResult<Filter> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!(
            "query parameter where is not JSON ({e}); give a filter such as \
             {{\"city\":\"Lyon\"}}, URL-encoded"
        ))
    })?;
    Filter::parse(&json).map_err(|e| ApiError::bad_request(format!("query parameter where: {e}")))
}

/// The upgrade, or the reason there is none (a plain GET, a bad handshake) as an error body.
/// Checked after the stream opened, so an unknown collection is 404 either way.
fn upgrade_or_error(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<WebSocketUpgrade> {
    upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            ErrorCode::BadRequest,
            format!(
                "this route is a WebSocket change feed; send a WebSocket upgrade request ({})",
                rejection.body_text()
            ),
        )
    })
}

/// Changes of one collection.
#[utoipa::path(get, path = "/v1/collections/{collection}/changes", tag = "changes", operation_id = "watch_collection",
    params(("collection" = CollectionName, Path), ("since" = Option<U64>, Query, description = "replay every retained change after this seq first"),
        ("where" = Option<String>, Query, description = "a live query: a filter's JSON, URL-encoded, as in a query's `where`; only the changes that concern it are sent (an insert or update whose new version matches, an update or delete whose previous version matched), each with `match`"),
        ("access_token" = Option<String>, Query, description = "the bearer token, for clients that cannot send the Authorization header (browsers)")),
    responses((status = 101, description = "WebSocket: one JSON text frame per change", body = ChangeMessage),
        (status = 400, description = "`bad_request`: not a WebSocket upgrade (a plain GET), or a bad `since`, `where` (not JSON, not a valid filter) or other parameter; `invalid_name`", body = ErrorBody),
        (status = 404, response = NotFound)))]
pub async fn one_collection(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let stream = open_stream(&state, Some(&collection), query.as_deref())?;
    let upgrade = upgrade_or_error(upgrade)?;
    let ticket = state.feeds.ticket();
    // The feed runs in the request's span (its id) after the upgrade, too.
    let span = tracing::Span::current();
    Ok(upgrade.on_upgrade(move |socket| feed(socket, stream, ticket).instrument(span)))
}

/// Changes of every collection.
#[utoipa::path(get, path = "/v1/changes", tag = "changes", operation_id = "watch_all",
    params(("since" = Option<U64>, Query, description = "replay every retained change after this seq first"),
        ("where" = Option<String>, Query, description = "a live query: a filter's JSON, URL-encoded, as in a query's `where`; only the changes that concern it are sent (an insert or update whose new version matches, an update or delete whose previous version matched), each with `match`"),
        ("access_token" = Option<String>, Query, description = "the bearer token, for clients that cannot send the Authorization header (browsers)")),
    responses((status = 101, description = "WebSocket: one JSON text frame per change", body = ChangeMessage),
        (status = 400, description = "`bad_request`: not a WebSocket upgrade (a plain GET), or a bad `since`, `where` (not JSON, not a valid filter) or other parameter", body = ErrorBody)))]
pub async fn all_collections(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let stream = open_stream(&state, None, query.as_deref())?;
    let upgrade = upgrade_or_error(upgrade)?;
    let ticket = state.feeds.ticket();
    // The feed runs in the request's span (its id) after the upgrade, too.
    let span = tracing::Span::current();
    Ok(upgrade.on_upgrade(move |socket| feed(socket, stream, ticket).instrument(span)))
}

async fn close(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: String,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn feed(socket: WebSocket, mut stream: ChangeStream, mut ticket: FeedTicket) {
    let (mut sink, mut incoming) = socket.split();
    loop {
        tokio::select! {
            _ = ticket.stop.changed() => {
                close(&mut sink, CLOSE_GOING_AWAY, "the server is shutting down; resume with since".into()).await;
                return;
            }
            event = stream.next() => match event {
                Some(Ok(event)) => {
                    let message = ChangeMessage {
                        seq: event.seq,
                        op: event.op.as_str(),
                        collection: &event.collection,
                        id: event.id,
                        doc: event.doc.as_ref(),
                        matches: event.matches,
                    };
                    let text = match serde_json::to_string(&message) {
                        Ok(text) => text,
                        Err(e) => {
                            close(&mut sink, CLOSE_ERROR, format!("cannot encode change: {e}")).await;
                            return;
                        }
                    };
                    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return, // the client went away
                        Err(_) => {
                            close(&mut sink, CLOSE_LAGGED, format!(
                                "lagged: the consumer did not read for {} s; resume with since={}",
                                SEND_TIMEOUT.as_secs(), event.seq.saturating_sub(1))).await;
                            return;
                        }
                    }
                }
                Some(Err(FeedError::Lagged { last_seq, .. })) => {
                    // Close reasons are limited to 123 bytes.
                    close(&mut sink, CLOSE_LAGGED, format!("lagged: fell too far behind; resume with since={last_seq}")).await;
                    return;
                }
                Some(Err(FeedError::HistoryCompacted { floor, .. })) => {
                    close(&mut sink, CLOSE_HISTORY_COMPACTED, format!(
                        "history compacted: changes up to seq {floor} may be gone; watch without since, then re-read")).await;
                    return;
                }
                Some(Err(FeedError::Replay(e))) => {
                    // The error names the segment file: the log gets it (in the request's
                    // span, with its id), the client does not.
                    tracing::error!(error = %e, "the change feed's replay failed");
                    let reason = match e {
                        DbError::Corrupt { .. } => crate::error::DAMAGED,
                        _ => "replaying the change feed from the log failed; the server log has the details",
                    };
                    close(&mut sink, CLOSE_ERROR, reason.into()).await;
                    return;
                }
                Some(Err(e)) => {
                    close(&mut sink, CLOSE_ERROR, truncate(e.to_string())).await;
                    return;
                }
                None => {
                    close(&mut sink, CLOSE_GOING_AWAY, "the server is shutting down".into()).await;
                    return;
                }
            },
            message = incoming.next() => match message {
                // The client closed, or the connection dropped.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pings are answered by the library; other client messages are ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}

fn truncate(mut reason: String) -> String {
    if reason.len() > 120 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}
