//! The Forwarder against a stub leader: method, path, query, the headers that matter and
//! the body pass through; the answer comes back unchanged; nothing is sent twice; a
//! leader that does not answer gives an error within the bound, not a hang.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use nyro_raft::network::{FORWARDED_HEADER, ForwardError, Forwarder, NODE_HEADER, PeerTls};
use serde_json::{Value, json};

use crate::support::{Serving, WAIT, serve};

/// A stub leader: `/slow` never answers in time, `/busy` answers 503 with Retry-After,
/// anything else answers 201 with what it received.
async fn stub(calls: Arc<AtomicUsize>) -> Serving {
    let router = Router::new()
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK
            }),
        )
        .fallback(any(move |request: Request| {
            let calls = Arc::clone(&calls);
            async move { echo(&calls, request).await }
        }));
    serve(router).await
}

async fn echo(calls: &AtomicUsize, request: Request) -> Response {
    calls.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    if parts.uri.path() == "/busy" {
        let body = r#"{"error":{"code":"overloaded","message":"busy"}}"#;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1"), ("content-type", "application/json")],
            body,
        )
            .into_response();
    }
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let seen = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "authorization": header("authorization"),
        "content-type": header("content-type"),
        "x-request-id": header("x-request-id"),
        "forwarded": header(FORWARDED_HEADER),
        "node": header(NODE_HEADER),
        "cookie": header("cookie"),
        "body": String::from_utf8_lossy(&body),
    });
    (
        StatusCode::CREATED,
        [("content-type", "application/json"), ("x-stub-only", "yes")],
        seen.to_string(),
    )
        .into_response()
}

fn write_request(method: Method, uri: &str, body: &'static str) -> axum::http::Request<Bytes> {
    axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer t0ken")
        .header("content-type", "application/json")
        .header("x-request-id", "req-42")
        .header("cookie", "not=passed")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap()
}

fn forwarder(timeout: Duration) -> Forwarder {
    Forwarder::new(2, &PeerTls::Plain, timeout).unwrap()
}

#[tokio::test]
async fn passes_the_request_on_and_the_answer_back_unchanged() {
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = stub(Arc::clone(&calls)).await;
    let request = write_request(
        Method::PUT,
        "/v1/collections/users/records/7?consistency=local&x=1",
        r#"{"name":"Ada"}"#,
    );
    let answer = forwarder(WAIT)
        .forward(&leader.addr.to_string(), request)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(
        answer.headers().get("content-type").unwrap(),
        "application/json"
    );
    assert!(answer.headers().get("x-stub-only").is_none());
    let seen: Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(
        seen,
        json!({
            "method": "PUT",
            "path": "/v1/collections/users/records/7",
            "query": "consistency=local&x=1",
            "authorization": "Bearer t0ken",
            "content-type": "application/json",
            "x-request-id": "req-42",
            "forwarded": "1",
            "node": "2",
            "cookie": null,
            "body": r#"{"name":"Ada"}"#,
        })
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_error_answer_comes_back_as_it_is_and_is_not_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = stub(Arc::clone(&calls)).await;
    let request = write_request(Method::POST, "/busy", "{}");
    let answer = forwarder(WAIT)
        .forward(&leader.addr.to_string(), request)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers().get("retry-after").unwrap(), "1");
    assert_eq!(
        answer.body().as_ref(),
        br#"{"error":{"code":"overloaded","message":"busy"}}"#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_leader_that_does_not_answer_gives_an_error_not_a_hang() {
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = stub(calls).await;
    let request = write_request(Method::POST, "/slow", "{}");
    let forwarded = tokio::time::timeout(
        WAIT,
        forwarder(Duration::from_millis(300)).forward(&leader.addr.to_string(), request),
    )
    .await
    .expect("the forwarder's own bound ends the wait");
    let error = forwarded.unwrap_err();
    assert!(matches!(error, ForwardError::TimedOut { .. }), "{error}");
    assert!(error.may_have_been_applied());
}

#[tokio::test]
async fn an_unreachable_leader_and_a_forwarded_request_are_refused() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let error = forwarder(WAIT)
        .forward(&addr, write_request(Method::POST, "/v1/x", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(error, ForwardError::Unreachable { .. }), "{error}");
    assert!(!error.may_have_been_applied());

    let calls = Arc::new(AtomicUsize::new(0));
    let leader = stub(Arc::clone(&calls)).await;
    let mut request = write_request(Method::POST, "/v1/x", "{}");
    request
        .headers_mut()
        .insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
    let error = forwarder(WAIT)
        .forward(&leader.addr.to_string(), request)
        .await
        .unwrap_err();
    assert!(matches!(error, ForwardError::AlreadyForwarded), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
