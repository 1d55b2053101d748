//! `POST /v1/collections/{c}/_indexes` and `DELETE /v1/collections/{c}/_indexes/{path}`:
//! an index added online (202, listed under `building` until ready, then in `indexes`),
//! dropped (204), their errors, and both kept across a restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// The collection `name` as `GET /v1/collections` lists it.
async fn listed(server: &TestServer, name: &str) -> Value {
    let list = server.get("/v1/collections").await;
    list.expect(200)["collections"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

/// Waits (bounded) until `name` lists no index being built; returns its entry.
async fn built(server: &TestServer, name: &str) -> Value {
    let started = Instant::now();
    loop {
        let entry = listed(server, name).await;
        if entry.get("building").is_none() {
            return entry;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never built: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn query_ids(server: &TestServer, collection: &str, filter: Value) -> Vec<u64> {
    let answer = server
        .post(
            &format!("/v1/collections/{collection}/_query"),
            &json!({"where": filter, "limit": 10000}),
        )
        .await;
    answer.expect(200)["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["_id"].as_u64().expect("an id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_is_added_built_dropped_and_kept_across_a_restart() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("users", &["age"]).await;
    let docs: Vec<Value> = (0..2000)
        .map(|n| json!({"city": format!("c{}", n % 7), "age": n % 50}))
        .collect();
    server
        .post("/v1/collections/users/records/_bulk", &json!(docs))
        .await
        .expect(201);
    // Not indexed yet: a query by it scans, and a sort by it is refused.
    let plan = server
        .post(
            "/v1/collections/users/_explain",
            &json!({"where": {"city": "c3"}}),
        )
        .await;
    assert_eq!(plan.expect(200)["access"], "scan");
    server
        .post(
            "/v1/collections/users/_query",
            &json!({"sort": [["city", "asc"]]}),
        )
        .await
        .expect_error(400, "not_indexed");

    let added = server
        .post(
            "/v1/collections/users/_indexes?sync=true",
            &json!({"path": "city"}),
        )
        .await;
    let body = added.expect(202);
    assert_eq!(body["collection"], "users");
    assert_eq!(body["path"], "city");
    assert!(
        body["state"] == "building" || body["state"] == "ready",
        "{body}"
    );
    let entry = built(&server, "users").await;
    assert_eq!(
        entry,
        json!({"name": "users", "count": 2000, "indexes": ["age", "city"]})
    );
    let plan = server
        .post(
            "/v1/collections/users/_explain",
            &json!({"where": {"city": "c3"}}),
        )
        .await;
    assert_eq!(plan.expect(200)["access"], "index");
    let c3 = query_ids(&server, "users", json!({"city": "c3"})).await;
    assert_eq!(
        c3,
        (0..2000)
            .filter(|n| n % 7 == 3)
            .map(|n| n + 1)
            .collect::<Vec<u64>>()
    );

    // Errors: an index that exists, a path that is not one, an unknown collection, a body
    // of the wrong shape.
    server
        .post("/v1/collections/users/_indexes", &json!({"path": "city"}))
        .await
        .expect_error(409, "conflict");
    for bad in ["_id", "", "a..b", "a."] {
        let message = server
            .post("/v1/collections/users/_indexes", &json!({"path": bad}))
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains("path"), "{bad}: {message}");
    }
    server
        .post("/v1/collections/nope/_indexes", &json!({"path": "x"}))
        .await
        .expect_error(404, "not_found");
    server
        .post("/v1/collections/a.b/_indexes", &json!({"path": "x"}))
        .await
        .expect_error(400, "invalid_name");
    for body in [
        json!({}),
        json!({"path": 1}),
        json!({"path": "x", "more": 1}),
        json!([]),
    ] {
        server
            .post("/v1/collections/users/_indexes", &body)
            .await
            .expect_error(400, "bad_request");
    }
    server
        .raw_expecting("POST", "/v1/collections/users/_indexes", Some("{"), 400)
        .await;

    // A dotted path is an index like any other; an empty collection's is ready at once.
    server.create("empty", &[]).await;
    let added = server
        .post(
            "/v1/collections/empty/_indexes",
            &json!({"path": "address.city"}),
        )
        .await;
    assert_eq!(
        added.expect(202),
        &json!({"collection": "empty", "path": "address.city", "state": "ready"})
    );

    // Dropped: 204, gone at once; again 404.
    server
        .delete("/v1/collections/users/_indexes/age")
        .await
        .expect(204);
    server
        .delete("/v1/collections/users/_indexes/age")
        .await
        .expect_error(404, "not_found");
    server
        .delete("/v1/collections/nope/_indexes/age")
        .await
        .expect_error(404, "not_found");
    server
        .delete("/v1/collections/empty/_indexes/address.city")
        .await
        .expect(204);
    // Dropped: a query by it scans again, and a sort by it is refused.
    let plan = server
        .post(
            "/v1/collections/users/_explain",
            &json!({"where": {"age": 3}}),
        )
        .await;
    assert_eq!(plan.expect(200)["access"], "scan");
    server
        .post(
            "/v1/collections/users/_query",
            &json!({"sort": [["age", "asc"]]}),
        )
        .await
        .expect_error(400, "not_indexed");
    // Counted by operation in /metrics.
    let metrics = server.get("/metrics").await;
    for counted in [
        "op=\"add_index\",status=\"202\"",
        "op=\"add_index\",status=\"409\"",
        "op=\"drop_index\",status=\"204\"",
        "op=\"drop_index\",status=\"404\"",
    ] {
        assert!(
            metrics.text.contains(counted),
            "{counted} in {}",
            metrics.text
        );
    }

    // Both are logged: a restart keeps them, and the index is ready on open.
    server.stop().await;
    let server = start(&dir).await;
    assert_eq!(
        listed(&server, "users").await,
        json!({"name": "users", "count": 2000, "indexes": ["city"]})
    );
    assert_eq!(query_ids(&server, "users", json!({"city": "c3"})).await, c3);
    assert_eq!(
        listed(&server, "empty").await,
        json!({"name": "empty", "count": 0, "indexes": []})
    );
    server.stop().await;
}
