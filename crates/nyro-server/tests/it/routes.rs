//! Every route of the contract's section 4: success status and body shape, and the route's
//! own error answers.

use serde_json::{Value, json};

use crate::common::*;

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stats_metrics_openapi() {
    let dir = DataDir::new();
    let server = start(&dir).await;

    let health = server.get("/health").await;
    assert_eq!(health.expect(200), &json!({"status": "ok"}));

    server.create("users", &["city"]).await;
    server.insert("users", json!({"city": "Paris"})).await;

    let stats = server.get("/v1/stats").await;
    let stats = stats.expect(200);
    for key in [
        "collections",
        "log",
        "last_seq",
        "batches_written",
        "records_written",
        "fsyncs",
        "in_flight_ops",
        "uptime_seconds",
        "writes_poisoned",
    ] {
        assert!(stats.get(key).is_some(), "stats lacks {key}: {stats}");
    }
    for key in ["segments", "disk_bytes", "live_bytes", "dead_bytes"] {
        assert!(stats["log"][key].is_u64(), "stats.log lacks {key}: {stats}");
    }
    assert_eq!(stats["last_seq"], 1);
    assert!(stats["log"]["segments"].as_u64() >= Some(1));
    assert!(stats["log"]["disk_bytes"].as_u64() > Some(0));
    assert!(stats["writes_poisoned"].is_null());
    assert_eq!(
        stats["collections"],
        json!([{"name": "users", "count": 1,
                "indexes": [{"field": "city", "distinct_values": 1}]}])
    );

    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let content_type = metrics.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for series in [
        "nyrodb_http_requests_total",
        "nyrodb_http_requests_in_flight",
        "nyrodb_ops_in_flight",
        "nyrodb_records{collection=\"users\"} 1",
        "nyrodb_disk_bytes",
        "nyrodb_live_bytes",
        "nyrodb_dead_bytes",
        "nyrodb_segments",
        "nyrodb_last_seq 1",
        "nyrodb_batches_total",
        "nyrodb_caller_batches_total",
        "nyrodb_records_written_total",
        "nyrodb_fsyncs_total",
        "nyrodb_writes_poisoned 0",
        "nyrodb_uptime_seconds",
        "nyrodb_batch_records_bucket",
        "nyrodb_fsync_seconds_count",
        "op=\"insert\",status=\"201\"",
        "op=\"health\",status=\"200\"",
    ] {
        assert!(
            metrics.text.contains(series),
            "/metrics lacks {series}:\n{}",
            metrics.text
        );
    }

    let openapi = server.get("/v1/openapi.json").await;
    let openapi = openapi.expect(200);
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));

    // /health and /metrics ignore query strings (probes and scrapers add their own); the
    // /v1 routes refuse parameters they do not take.
    server.get("/health?probe=1").await.expect(200);
    assert_eq!(server.get("/metrics?x=1").await.status, 200);
    server
        .get("/v1/stats?x=1")
        .await
        .expect_error(400, "bad_request");
    server
        .get("/v1/openapi.json?v=3")
        .await
        .expect_error(400, "bad_request");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_create_list_drop() {
    let dir = DataDir::new();
    let server = start(&dir).await;

    assert_eq!(
        server.get("/v1/collections").await.expect(200),
        &json!({"collections": []})
    );

    // Created, with or without a body; the same again is 200; other indexes 409.
    let created = server
        .put(
            "/v1/collections/users",
            &json!({"indexes": ["city", "age"]}),
        )
        .await;
    created.expect(201);
    server
        .put(
            "/v1/collections/users",
            &json!({"indexes": ["age", "city"]}),
        )
        .await
        .expect(200);
    let conflict = server
        .put("/v1/collections/users", &json!({"indexes": ["city"]}))
        .await;
    conflict.expect_error(409, "conflict");
    server
        .raw("PUT", "/v1/collections/plain", None)
        .await
        .expect(201);
    server
        .raw("PUT", "/v1/collections/plain", None)
        .await
        .expect(200);
    server
        .put("/v1/collections/plain", &json!({}))
        .await
        .expect(200);

    for bad in ["a.b", "sp%20ace", "caf%C3%A9", "x%00", &"x".repeat(65)] {
        let answer = server
            .raw("PUT", &format!("/v1/collections/{bad}"), None)
            .await;
        answer.expect_error(400, "invalid_name");
    }

    server
        .insert("users", json!({"city": "Oslo", "age": 3}))
        .await;
    let list = server.get("/v1/collections").await;
    assert_eq!(
        list.expect(200),
        &json!({"collections": [
            {"name": "plain", "count": 0, "indexes": []},
            {"name": "users", "count": 1, "indexes": ["age", "city"]},
        ]})
    );

    // Drop: 204, its documents gone; again 404.
    server.delete("/v1/collections/users").await.expect(204);
    assert_eq!(server.delete("/v1/collections/users").await.status, 404);
    server
        .delete("/v1/collections/users")
        .await
        .expect_error(404, "not_found");
    server
        .get("/v1/collections/users/records/1")
        .await
        .expect_error(404, "not_found");
    server
        .get("/v1/collections/users/records")
        .await
        .expect_error(404, "not_found");
    server
        .delete("/v1/collections/a.b")
        .await
        .expect_error(400, "invalid_name");
    assert_eq!(
        server.get("/v1/collections").await.expect(200),
        &json!({"collections": [{"name": "plain", "count": 0, "indexes": []}]})
    );
    // Recreated after a drop: empty, with the new indexes.
    server.create("users", &["name"]).await;
    assert!(server.all_docs("users").await.is_empty());

    // ?sync=true on creating and dropping; other parameters are refused.
    server
        .raw("PUT", "/v1/collections/synced?sync=true", None)
        .await
        .expect(201);
    server
        .delete("/v1/collections/synced?sync=true")
        .await
        .expect(204);
    server
        .raw("PUT", "/v1/collections/synced?indexes=a", None)
        .await
        .expect_error(400, "bad_request");
    server
        .delete("/v1/collections/users?force=1")
        .await
        .expect_error(400, "bad_request");
    server
        .get("/v1/collections?limit=1")
        .await
        .expect_error(400, "bad_request");
    assert_eq!(
        server.get("/v1/collections").await.expect(200)["collections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_get_replace_delete() {
    let dir = DataDir::new();
    let server = start(&dir).await;

    // Insert creates the collection; ids increase; seqs increase.
    let first = server
        .post("/v1/collections/notes/records", &json!({"text": "a"}))
        .await;
    let first = first.expect(201).clone();
    assert_eq!(keys(&first), ["_id", "seq"]);
    let (id1, seq1) = (
        first["_id"].as_u64().unwrap(),
        first["seq"].as_u64().unwrap(),
    );
    let (id2, seq2) = server.insert("notes", json!({"text": "b"})).await;
    assert!(id2 > id1 && seq2 > seq1);
    assert_eq!(
        server.get("/v1/collections").await.expect(200)["collections"][0]["name"],
        "notes"
    );

    // With a given _id; then the same _id again is a conflict.
    let (given, _) = server
        .insert("notes", json!({"_id": 1000, "text": "c"}))
        .await;
    assert_eq!(given, 1000);
    server
        .post(
            "/v1/collections/notes/records",
            &json!({"_id": 1000, "text": "again"}),
        )
        .await
        .expect_error(409, "conflict");
    let (after_given, _) = server.insert("notes", json!({})).await;
    assert!(after_given > 1000, "assigned ids pass given ones");

    // Get: the document with _id.
    let got = server
        .get(&format!("/v1/collections/notes/records/{id1}"))
        .await;
    assert_eq!(got.expect(200), &json!({"_id": id1, "text": "a"}));
    server
        .get("/v1/collections/notes/records/999")
        .await
        .expect_error(404, "not_found");
    server
        .get("/v1/collections/nope/records/1")
        .await
        .expect_error(404, "not_found");
    for bad in ["abc", "-1", "1.5", "99999999999999999999", "%20", "0x10"] {
        server
            .get(&format!("/v1/collections/notes/records/{bad}"))
            .await
            .expect_error(400, "bad_request");
    }

    // Put: created, then replaced.
    let created = server
        .put(
            "/v1/collections/notes/records/5000",
            &json!({"text": "new"}),
        )
        .await;
    let created = created.expect(200).clone();
    assert_eq!(keys(&created), ["_id", "created", "seq"]);
    assert_eq!(created["_id"], 5000);
    assert_eq!(created["created"], true);
    let replaced = server
        .put(
            "/v1/collections/notes/records/5000",
            &json!({"_id": 5000, "other": [1, 2]}),
        )
        .await;
    let replaced = replaced.expect(200).clone();
    assert_eq!(replaced["created"], false);
    assert!(replaced["seq"].as_u64() > created["seq"].as_u64());
    assert_eq!(
        server
            .get("/v1/collections/notes/records/5000")
            .await
            .expect(200),
        &json!({"_id": 5000, "other": [1, 2]})
    );
    server
        .put("/v1/collections/notes/records/5000", &json!({"_id": 5001}))
        .await
        .expect_error(400, "bad_request");
    // Put creates a missing collection too.
    server
        .put("/v1/collections/fresh/records/7", &json!({"x": 1}))
        .await
        .expect(200);
    assert_eq!(
        server.all_docs("fresh").await,
        vec![json!({"_id": 7, "x": 1})]
    );

    // Delete: 204, then 404.
    server
        .delete(&format!("/v1/collections/notes/records/{id1}"))
        .await
        .expect(204);
    server
        .delete(&format!("/v1/collections/notes/records/{id1}"))
        .await
        .expect_error(404, "not_found");
    server
        .get(&format!("/v1/collections/notes/records/{id1}"))
        .await
        .expect_error(404, "not_found");
    server
        .delete("/v1/collections/nope/records/1")
        .await
        .expect_error(404, "not_found");

    // Ids are never reused, even after deleting the highest one.
    let (top, _) = server.insert("notes", json!({})).await;
    server
        .delete(&format!("/v1/collections/notes/records/{top}"))
        .await
        .expect(204);
    let (next, _) = server.insert("notes", json!({})).await;
    assert!(next > top);

    // ?sync=true is accepted on every write; anything else for it is a 400.
    server
        .post("/v1/collections/notes/records?sync=true", &json!({"s": 1}))
        .await
        .expect(201);
    server
        .put(
            "/v1/collections/notes/records/77?sync=false",
            &json!({"s": 1}),
        )
        .await
        .expect(200);
    server
        .post(
            "/v1/collections/notes/records/_bulk?sync=true",
            &json!([{"s": 2}]),
        )
        .await
        .expect(201);
    server
        .delete("/v1/collections/notes/records/77?sync=true")
        .await
        .expect(204);
    server
        .post("/v1/collections/notes/records?sync=1", &json!({"s": 1}))
        .await
        .expect_error(400, "bad_request");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_is_all_or_nothing() {
    let dir = DataDir::new();
    let server = start(&dir).await;

    let answer = server
        .post(
            "/v1/collections/items/records/_bulk",
            &json!([{"n": 0}, {"n": 1}, {"_id": 50, "n": 2}, {"n": 3}]),
        )
        .await;
    let body = answer.expect(201).clone();
    assert_eq!(keys(&body), ["ids", "seq"]);
    let ids: Vec<u64> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[2], 50);
    assert!(ids[0] < ids[1] && ids[1] < ids[3]);
    // Each element has its own seq: the last is `seq`, and the next write follows it.
    assert_eq!(server.last_seq().await, body["seq"].as_u64().unwrap());
    assert_eq!(body["seq"], 4);
    let (_, seq) = server.insert("items", json!({})).await;
    assert_eq!(seq, 5);
    for (i, id) in ids.iter().enumerate() {
        let doc = server
            .get(&format!("/v1/collections/items/records/{id}"))
            .await;
        assert_eq!(doc.expect(200)["n"], i);
    }

    let before = server.snapshot().await;
    let seq_before = server.last_seq().await;
    // A bad element: 400 naming its index; nothing written.
    let message = server
        .post(
            "/v1/collections/items/records/_bulk",
            &json!([{"ok": 1}, {"ok": 2}, "not an object", {"ok": 3}]),
        )
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("element 2"), "{message}");
    let message = server
        .post(
            "/v1/collections/items/records/_bulk",
            &json!([{"ok": 1}, {"_id": -3}]),
        )
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("element 1"), "{message}");
    // A repeated _id, an existing one: 409; nothing written.
    server
        .post(
            "/v1/collections/items/records/_bulk",
            &json!([{"_id": 900}, {"x": 1}, {"_id": 900}]),
        )
        .await
        .expect_error(409, "conflict");
    server
        .post(
            "/v1/collections/items/records/_bulk",
            &json!([{"_id": 901}, {"_id": 50}]),
        )
        .await
        .expect_error(409, "conflict");
    // Not an array; empty.
    server
        .post("/v1/collections/items/records/_bulk", &json!({"a": 1}))
        .await
        .expect_error(400, "bad_request");
    server
        .post("/v1/collections/items/records/_bulk", &json!([]))
        .await
        .expect_error(400, "bad_request");
    // A refused bulk into a missing collection does not create it.
    server
        .post("/v1/collections/ghost/records/_bulk", &json!([{}, 5]))
        .await
        .expect_error(400, "bad_request");
    server
        .post(
            "/v1/collections/ghost/records/_bulk",
            &json!([{"_id": 1}, {"_id": 1}]),
        )
        .await
        .expect_error(409, "conflict");
    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.last_seq().await, seq_before);

    // Auto-ids skip ids given in the same request.
    let mixed = server
        .post(
            "/v1/collections/mixed/records/_bulk",
            &json!([{}, {"_id": 1}, {}]),
        )
        .await;
    let mixed = mixed.expect(201).clone();
    let mut mixed_ids: Vec<u64> = mixed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(mixed_ids[1], 1);
    mixed_ids.sort_unstable();
    mixed_ids.dedup();
    assert_eq!(mixed_ids.len(), 3);
    assert_eq!(server.all_docs("mixed").await.len(), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_by_id() {
    let dir = DataDir::new();
    let server = start(&dir).await;

    let docs: Vec<Value> = (0..105).map(|n| json!({"n": n})).collect();
    server
        .post("/v1/collections/p/records/_bulk", &Value::Array(docs))
        .await
        .expect(201);

    // Default limit 100.
    let page = server.get("/v1/collections/p/records").await;
    let page = page.expect(200).clone();
    assert_eq!(keys(&page), ["next", "records"]);
    assert_eq!(page["records"].as_array().unwrap().len(), 100);
    assert_eq!(page["next"], page["records"][99]["_id"]);

    // Pages of 10: ascending, no overlap, next null at the end.
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    let mut pages = 0;
    loop {
        let path = match after {
            Some(a) => format!("/v1/collections/p/records?limit=10&after={a}"),
            None => "/v1/collections/p/records?limit=10".to_string(),
        };
        let answer = server.get(&path).await;
        let page = answer.expect(200);
        pages += 1;
        for doc in page["records"].as_array().unwrap() {
            seen.push(doc["_id"].as_u64().unwrap());
            assert!(doc.get("n").is_some());
        }
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().copied());
                after = Some(next);
            }
            None => {
                assert!(page["next"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, 11);
    assert_eq!(seen.len(), 105);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    // A page ending exactly at the last document says null.
    let last = server.get("/v1/collections/p/records?limit=105").await;
    assert!(last.expect(200)["next"].is_null());
    let beyond = server
        .get(&format!("/v1/collections/p/records?after={}", seen[104]))
        .await;
    assert_eq!(beyond.expect(200), &json!({"records": [], "next": null}));
    server
        .get("/v1/collections/p/records?limit=10000")
        .await
        .expect(200);

    for bad in [
        "limit=10001",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=",
        "after=-1",
        "after=1.5",
        "after=x",
        "limit=1&limit=2",
        "frobnicate=1",
    ] {
        server
            .get(&format!("/v1/collections/p/records?{bad}"))
            .await
            .expect_error(400, "bad_request");
    }
    server
        .get("/v1/collections/missing/records")
        .await
        .expect_error(404, "not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_by_indexed_fields() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("people", &["city", "age"]).await;
    let docs = json!([
        {"name": "a", "city": "Oslo", "age": 30},
        {"name": "b", "city": "Rome", "age": 30},
        {"name": "c", "city": "Oslo", "age": 40},
        {"name": "d", "city": "Oslo", "age": "30"},
        {"name": "e", "city": "Oslo", "age": 30},
        {"name": "f", "age": 30},
    ]);
    server
        .post("/v1/collections/people/records/_bulk", &docs)
        .await
        .expect(201);
    let names = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };

    let oslo = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"city": "Oslo"}}),
        )
        .await;
    let oslo = oslo.expect(200).clone();
    assert_eq!(keys(&oslo), ["next", "records"]);
    assert_eq!(names(&oslo), ["a", "c", "d", "e"]);
    assert!(oslo["next"].is_null());
    assert!(oslo["records"][0]["_id"].is_u64());

    let both = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"city": "Oslo", "age": 30}}),
        )
        .await;
    assert_eq!(names(both.expect(200)), ["a", "e"]);
    // String "30" and number 30 are different values.
    let string = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"age": "30"}}),
        )
        .await;
    assert_eq!(names(string.expect(200)), ["d"]);

    // Paging with limit and after.
    let first = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"city": "Oslo"}, "limit": 2}),
        )
        .await;
    let first = first.expect(200).clone();
    assert_eq!(names(&first), ["a", "c"]);
    assert_eq!(first["next"], first["records"][1]["_id"]);
    let second = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"city": "Oslo"}, "limit": 2, "after": first["next"]}),
        )
        .await;
    let second = second.expect(200).clone();
    assert_eq!(names(&second), ["d", "e"]);
    assert!(second["next"].is_null());

    // Any path may be queried; a sort needs an index, and not_indexed names the path.
    let by_name = server
        .post(
            "/v1/collections/people/_query",
            &json!({"where": {"name": "a"}}),
        )
        .await;
    assert_eq!(names(by_name.expect(200)), ["a"]);
    let message = server
        .post(
            "/v1/collections/people/_query",
            &json!({"sort": [["name", "asc"]]}),
        )
        .await
        .expect_error(400, "not_indexed");
    assert!(message.contains("\"name\""), "{message}");
    server
        .post("/v1/collections/ghost/_query", &json!({"where": {"x": 1}}))
        .await
        .expect_error(404, "not_found");
    for bad in [
        json!({"where": {"city": "Oslo"}, "limit": 10001}),
        json!({"where": {"city": "Oslo"}, "limit": 0}),
        json!({"where": {"city": "Oslo"}, "limit": -1}),
        json!({"where": {"city": "Oslo"}, "after": "x"}),
        json!({"where": ["city"]}),
        json!({"where": {"city": "Oslo"}, "order": "desc"}),
        json!([]),
    ] {
        server
            .post("/v1/collections/people/_query", &bad)
            .await
            .expect_error(400, "bad_request");
    }
    server
        .raw("POST", "/v1/collections/people/_query", Some(b"{".to_vec()))
        .await
        .expect_error(400, "invalid_json");
    server.stop().await;
}

/// Every route in [`ROUTES`] answers its success status on a seeded server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_succeeds() {
    let dir = DataDir::new();
    let backups = DataDir::new();
    let server = start_in(dir.path(), |c| {
        c.server.backup_root = Some(backups.path().to_path_buf());
    })
    .await;
    seed(&server).await;
    check_every_route(&server).await;
    server.stop().await;
}

/// Collection `c` with document 1, and collection `gone`, as [`ROUTES`] expects.
pub async fn seed(server: &TestServer) {
    server.create("c", &[]).await;
    server.insert("c", json!({"_id": 1, "a": 0})).await;
    server.create("gone", &[]).await;
}

/// Sends every route of [`ROUTES`] with the server's token and checks its success status.
pub async fn check_every_route(server: &TestServer) {
    for &(method, _, path, body, status) in ROUTES {
        if status == 101 {
            let ws = server
                .ws(path)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            ws_close(ws).await;
            continue;
        }
        server.raw_expecting(method, path, body, status).await;
    }
}
