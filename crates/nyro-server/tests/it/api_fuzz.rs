//! Regressions found by `scripts/api-fuzz.sh` (schemathesis against a real server): answers
//! the OpenAPI description did not allow, where the server was wrong.

use serde_json::json;

use crate::common::*;

/// A collection that has assigned every id (after a document with `_id` 2^64-1) refuses an
/// insert without `_id` as a conflict with its state, 409, not as a request of the wrong
/// shape (400): the same request is fine on any other collection. Nothing is written, and a
/// given `_id` still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_id_space_is_a_conflict() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let (id, _) = server.insert("c", json!({"_id": u64::MAX})).await;
    assert_eq!(id, u64::MAX);
    let before = server.snapshot().await;
    let message = server
        .post("/v1/collections/c/records", &json!({"a": 1}))
        .await
        .expect_error(409, "conflict");
    assert!(message.contains("give `_id`"), "{message}");
    server
        .post("/v1/collections/c/records/_bulk", &json!([{"_id": 5}, {}]))
        .await
        .expect_error(409, "conflict");
    assert_eq!(server.snapshot().await, before);
    server.insert("c", json!({"_id": 5})).await;
    server.stop().await;
}
