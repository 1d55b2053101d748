//! Request ids: every request gets one (the client's `x-request-id` if it is acceptable, a
//! new one otherwise), echoed in the answer's `x-request-id` header and recorded in the
//! request's tracing span, so every log line of the request carries it.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The header that carries the id, both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given id kept; a longer (or otherwise unacceptable) one is replaced.
pub const MAX_LEN: usize = 128;

/// A random prefix per process (from the standard library's random hash keys), so that ids
/// of different server runs differ; a counter makes them unique within the run.
static PREFIX: LazyLock<u64> = LazyLock::new(|| {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
});
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new id: 16 hex digits of the process prefix, '-', 12 of the counter (written into
/// the header value directly: no formatting machinery and no second copy per request).
fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut id = [b'-'; 29];
    for (i, digit) in id[..16].iter_mut().enumerate() {
        *digit = HEX[((*PREFIX >> (60 - 4 * i)) & 0xf) as usize];
    }
    for (i, digit) in id[17..].iter_mut().enumerate() {
        *digit = HEX[((n >> (44 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_maybe_shared(axum::body::Bytes::copy_from_slice(&id))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A client's id is kept if it is 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 - _ . : /`
/// (nothing that could forge log lines or header syntax).
fn acceptable(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let ok = (1..=MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    ok.then_some(text)
}

/// The text of an id from [`of`] (always ASCII: generated, or a client's id checked to be).
pub fn text(id: &HeaderValue) -> &str {
    id.to_str().unwrap_or_default()
}

/// Middleware: assigns the id, runs the request in a span carrying it, and echoes it.
/// The request's id: the client's `x-request-id` if acceptable, a new one otherwise.
pub fn of(request: &Request) -> HeaderValue {
    match request.headers().get(&REQUEST_ID) {
        Some(given) if acceptable(given).is_some() => given.clone(),
        _ => generate(),
    }
}

/// The tracing span a request is served in, with its id, method and path. Only the path,
/// never the query string: on the change feeds it may carry the auth token
/// (`access_token`, see `auth`), which must not reach the logs.
pub fn span(id: &HeaderValue, request: &Request) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %text(id),
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Echoes the request's id in the answer's `x-request-id` header.
pub fn echo(response: &mut Response, id: HeaderValue) {
    response.headers_mut().insert(REQUEST_ID.clone(), id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn generated_ids_are_unique_and_acceptable() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(acceptable(&a).is_some());
        // The same text the former `format!("{:016x}-{:012x}", prefix, counter)` gave.
        let (prefix, counter) = text(&b).split_once('-').unwrap();
        assert_eq!(prefix, format!("{:016x}", *PREFIX));
        let counter = u64::from_str_radix(counter, 16).unwrap();
        assert_eq!(text(&b), format!("{:016x}-{:012x}", *PREFIX, counter));
        assert!(counter > u64::from_str_radix(text(&a).split_once('-').unwrap().1, 16).unwrap());
    }

    #[test]
    fn only_plain_client_ids_are_kept() {
        for good in ["abc", "trace-1234_5.6:7/8", &"x".repeat(MAX_LEN)] {
            assert!(
                acceptable(&HeaderValue::from_str(good).unwrap()).is_some(),
                "{good}"
            );
        }
        for bad in ["", "a b", "a\"b", "ü", &"x".repeat(MAX_LEN + 1)] {
            let Ok(value) = HeaderValue::from_str(bad) else {
                continue;
            };
            assert!(acceptable(&value).is_none(), "{bad:?}");
        }
    }
}
