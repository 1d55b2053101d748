//! The error body and codes: every code this server can produce without faults, unknown
//! paths (404) and wrong methods (405), all as `{"error": {"code", "message"}}`.

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_code_has_its_status_and_the_error_shape() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.server.max_body_bytes = 4096).await;
    server.create("c", &["k"]).await;
    server.insert("c", json!({"_id": 1, "k": 1})).await;

    let cases: Vec<(&str, Answer)> = vec![
        (
            "bad_request",
            server.post("/v1/collections/c/records", &json!([1])).await,
        ),
        (
            "invalid_json",
            server
                .raw(
                    "POST",
                    "/v1/collections/c/records",
                    Some(b"{\"a\":".to_vec()),
                )
                .await,
        ),
        (
            "invalid_name",
            server
                .post("/v1/collections/no%20pe/records", &json!({}))
                .await,
        ),
        ("not_found", server.get("/v1/collections/c/records/2").await),
        (
            "conflict",
            server
                .post("/v1/collections/c/records", &json!({"_id": 1}))
                .await,
        ),
        (
            "payload_too_large",
            server
                .raw("POST", "/v1/collections/c/records", Some(vec![b' '; 5000]))
                .await,
        ),
        (
            "not_indexed",
            server
                .post("/v1/collections/c/_query", &json!({"sort": [["j", "asc"]]}))
                .await,
        ),
    ];
    for (code, answer) in &cases {
        let message = answer.expect_error(status_of(code), code);
        assert!(!message.is_empty());
        let content_type = answer.headers["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    server.insert("c", json!({"_id": 1})).await;

    for path in [
        "/nope",
        "/v1",
        "/v1/",
        "/v2/collections",
        "/v1/collections/c/records/1/extra",
        "/v1/collections/c/other",
        "/health/",
    ] {
        let message = server.get(path).await.expect_error(404, "not_found");
        assert!(message.contains(path), "{path}: {message}");
    }

    for (method, path) in [
        ("POST", "/health"),
        ("DELETE", "/v1/collections"),
        ("POST", "/v1/collections/c"),
        ("GET", "/v1/collections/c"),
        ("PATCH", "/v1/collections/c/records/1"),
        ("POST", "/v1/collections/c/records/1"),
        ("DELETE", "/v1/collections/c/records"),
        ("GET", "/v1/collections/c/records/_bulk"),
        ("GET", "/v1/collections/c/_query"),
        ("POST", "/v1/changes"),
        ("PUT", "/v1/stats"),
        ("POST", "/metrics"),
        ("DELETE", "/v1/openapi.json"),
    ] {
        let answer = server.raw(method, path, Some(b"{}".to_vec())).await;
        answer.expect_error(405, "bad_request");
    }
    // None of that wrote anything.
    assert_eq!(server.all_docs("c").await, vec![json!({"_id": 1})]);
    server.stop().await;
}

/// The change-feed routes asked without a WebSocket upgrade still answer with the error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_routes_without_upgrade() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    for path in [
        "/v1/changes",
        "/v1/collections/c/changes",
        "/v1/changes?since=0",
    ] {
        let answer = server.get(path).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
        assert_error_shape(&answer.json, &answer.text);
        assert_eq!(answer.json["error"]["code"], "bad_request", "{path}");
    }
    // An unknown collection is 404 whether or not the request is an upgrade.
    server
        .get("/v1/collections/ghost/changes")
        .await
        .expect_error(404, "not_found");
    server
        .get("/v1/changes?since=x")
        .await
        .expect_error(400, "bad_request");
    server.stop().await;
}
