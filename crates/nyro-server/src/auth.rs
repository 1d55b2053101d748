//! Bearer-token authentication, when a token is configured.
//!
//! - Every `/v1` route and `/metrics` need `Authorization: Bearer <token>`.
//! - `/health` and the web console's static files (`GET /` and `/console/{file}`, see
//!   [`crate::console`]) never do: they carry no data, and the browser must load the page
//!   that asks for the token before it has one.
//! - The two change-feed routes (`/v1/changes`, `/v1/collections/{c}/changes`) also take the
//!   token as the query parameter `access_token` (RFC 6750 section 2.3), because a browser
//!   cannot set headers on `new WebSocket(...)`. No other route accepts it. The header wins
//!   when both are given. Request spans record the path only, never the query string, so the
//!   token does not reach the logs.

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nyro_core::secret::constant_time_eq;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// The token of an `Authorization: Bearer <token>` value. The scheme name is
/// case-insensitive (RFC 9110 section 11.1), so `bearer <token>` is accepted too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The routes that take the token as `?access_token=` too: the change feeds, which browsers
/// open with `new WebSocket(url)` and cannot give a header.
const QUERY_TOKEN_ROUTES: [&str; 2] = ["/v1/changes", "/v1/collections/{collection}/changes"];

/// The name of the query parameter that carries the token on the change-feed routes
/// (`/v1/changes` and `/v1/collections/{collection}/changes`).
pub const ACCESS_TOKEN_PARAM: &str = "access_token";

/// The `access_token` query parameter of `request`, if its route takes one. A repeated
/// parameter gives `Some("")`, which never matches (a token is never empty).
fn query_token(request: &Request) -> Option<String> {
    let route = request.extensions().get::<MatchedPath>()?.as_str();
    if !QUERY_TOKEN_ROUTES.contains(&route) {
        return None;
    }
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri()).ok()?;
    let mut tokens = pairs
        .0
        .into_iter()
        .filter(|(key, _)| key == ACCESS_TOKEN_PARAM)
        .map(|(_, value)| value);
    let first = tokens.next()?;
    Some(if tokens.next().is_some() {
        String::new()
    } else {
        first
    })
}

/// Whether `path` is served without the token: `/health` and the console's files.
pub fn is_public(path: &str) -> bool {
    path == "/health" || crate::console::is_console_path(path)
}

/// Whether `path` is a node-to-node route of a cluster, which the cluster's shared secret
/// authenticates instead of the bearer token (`nyro_raft::internal_routes`).
pub fn is_node_to_node(path: &str) -> bool {
    path.starts_with("/internal/raft/")
}

/// The 401 answer for `request` if the server requires a token and the request lacks the
/// right one; `None` if it may go on (`/health` and the console's files always may).
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    let token = state.auth_token.as_ref()?;
    if is_public(request.uri().path()) || is_node_to_node(request.uri().path()) {
        return None;
    }
    let header_token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let from_query;
    let given = match header_token {
        Some(given) => Some(given),
        None => {
            from_query = query_token(request);
            from_query.as_deref()
        }
    };
    let message = match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => return None,
        Some(_) => "the bearer token is wrong",
        None => "this server requires `Authorization: Bearer <token>`",
    };
    Some(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message).into_response())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn takes_the_scheme_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
