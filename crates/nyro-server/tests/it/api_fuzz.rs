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

/// JSON Schema's integers include `760.0` (a number whose value is whole), so a client
/// that follows the description may write an id or a limit that way: the server takes it
/// at its value, like `760`. A fraction, a negative or a value past u64 is still 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_numbers_written_as_floats_are_accepted() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let answer = server
        .raw_expecting(
            "POST",
            "/v1/collections/c/records",
            Some(r#"{"_id": 760.0, "a": 1}"#),
            201,
        )
        .await;
    assert_eq!(answer.json["_id"], 760);
    let answer = server
        .raw_expecting(
            "POST",
            "/v1/collections/c/records/_bulk",
            Some(r#"[{"_id": 1e3}, {}]"#),
            201,
        )
        .await;
    assert_eq!(answer.json["ids"], json!([1000, 1001]));
    let doc = server.get("/v1/collections/c/records/760").await;
    assert_eq!(doc.expect(200), &json!({"_id": 760, "a": 1}));
    let page = server
        .raw_expecting(
            "POST",
            "/v1/collections/c/_query",
            Some(r#"{"limit": 2.0, "after": 0.0}"#),
            200,
        )
        .await;
    assert_eq!(page.json["records"][0]["_id"], 760);
    assert_eq!(page.json["next"], 1000);

    let before = server.snapshot().await;
    for body in [
        r#"{"_id": 7.5}"#,
        r#"{"_id": -1.0}"#,
        r#"{"_id": 18446744073709551616.0}"#,
    ] {
        server
            .raw(
                "POST",
                "/v1/collections/c/records",
                Some(body.as_bytes().to_vec()),
            )
            .await
            .expect_error(400, "bad_request");
    }
    for body in [
        r#"{"limit": 2.5}"#,
        r#"{"after": -1.0}"#,
        r#"{"limit": 0.0}"#,
    ] {
        server
            .raw(
                "POST",
                "/v1/collections/c/_query",
                Some(body.as_bytes().to_vec()),
            )
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(server.snapshot().await, before);
    server.stop().await;
}

/// A backup directory whose name the filesystem refuses (a NUL byte, a name past 255
/// bytes) is the request's mistake: 400 `bad_request`, not 500 `internal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_name_the_filesystem_refuses_is_a_bad_request() {
    let dir = DataDir::new();
    let root = dir.path().join("backups");
    std::fs::create_dir(&root).unwrap();
    let server = start_in(&dir.path().join("data"), |c| {
        c.server.backup_root = Some(root.clone())
    })
    .await;
    for path in ["a\u{0}b", &"n".repeat(300)] {
        let message = server
            .post("/v1/_backup", &json!({ "path": path }))
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains("cannot be created"), "{message}");
    }
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    server
        .post("/v1/_backup", &json!({"path": "ok"}))
        .await
        .expect(200);
    server.stop().await;
}

/// An index list that names a field twice is refused (400, naming the field), so the
/// description says the list's items are unique: schemathesis sent a list with a repeat that
/// the description allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_index_field_is_refused_and_described_as_such() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let message = server
        .put("/v1/collections/c", &json!({"indexes": ["a", "b", "a"]}))
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("listed twice"), "{message}");
    let spec = server.get("/v1/openapi.json").await;
    let indexes =
        &spec.expect(200)["components"]["schemas"]["CreateCollection"]["properties"]["indexes"];
    assert_eq!(indexes["uniqueItems"], json!(true), "{indexes}");
    server.stop().await;
}
