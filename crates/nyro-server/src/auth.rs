//! Bearer-token authentication: every route but `/health` when a token is configured.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// Compares in time that depends only on the lengths, not on where the bytes differ, so
/// the token cannot be guessed byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` value. The scheme name is
/// case-insensitive (RFC 9110 section 11.1), so `bearer <token>` is accepted too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Middleware: refuses with 401 unless `Authorization: Bearer <token>` matches.
/// The 401 answer for `request` if the server requires a token and the request lacks the
/// right one (`/health` is always open); `None` if it may go on.
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    let token = state.auth_token.as_ref()?;
    if request.uri().path() == "/health" {
        return None;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let message = match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => return None,
        Some(_) => "the bearer token is wrong",
        None => "this server requires `Authorization: Bearer <token>`",
    };
    Some(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message).into_response())
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, constant_time_eq};

    #[test]
    fn takes_the_scheme_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn compares_bytes() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }
}
