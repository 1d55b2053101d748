//! `POST .../_query` and `_explain` over HTTP (CONTRACT section 6): ranges, dotted and array
//! paths, sorted pages with cursors, projection, count, explain, and 400s that name the
//! operator and path.

use serde_json::{Value, json};

use crate::common::{DataDir, start};

fn ids(page: &Value) -> Vec<u64> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_over_http() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("p", &["age", "tags", "address.city"]).await;
    let docs = json!([
        {"_id": 1, "age": 36, "tags": ["db", "rust"], "address": {"city": "Lyon", "zip": "69001"}},
        {"_id": 2, "age": 29, "tags": ["go"], "address": {"city": "Oslo"}},
        {"_id": 3, "age": 41, "tags": [], "name": "x"},
        {"_id": 4, "age": 30.5, "tags": "rust"},
        {"_id": 5, "name": "y"},
    ]);
    server
        .post("/v1/collections/p/records/_bulk", &docs)
        .await
        .expect(201);
    let query = |body: Value| {
        let server = &server;
        async move { server.post("/v1/collections/p/_query", &body).await }
    };

    let page = query(json!({"where": {"age": {"$gte": 30, "$lt": 40}}})).await;
    assert_eq!(ids(page.expect(200)), [1, 4]);
    let page = query(json!({"where": {"tags": "rust", "address.city": "Lyon"}})).await;
    assert_eq!(ids(page.expect(200)), [1]);
    let page = query(json!({"where": {"$or": [{"name": "x"}, {"tags": {"$in": ["go"]}}]}})).await;
    assert_eq!(ids(page.expect(200)), [2, 3]);

    // Sorted pages: `next` is a cursor string, `after` takes it back; null on the last.
    let mut after = Value::Null;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let page = query(json!({"sort": [["age", "desc"]], "limit": 2, "after": after})).await;
        let page = page.expect(200).clone();
        seen.extend(ids(&page));
        after = page["next"].clone();
        if after.is_null() {
            break;
        }
        assert!(after.is_string(), "{page}");
    }
    assert_eq!(seen, [3, 1, 4, 2, 5]);

    // Projection and count.
    let page = query(json!({"where": {"_id": 1}, "fields": ["address.city", "tags"]})).await;
    assert_eq!(
        page.expect(200)["records"],
        json!([{"_id": 1, "tags": ["db", "rust"], "address": {"city": "Lyon"}}])
    );
    let count = query(json!({"where": {"age": {"$exists": true}}, "count": true})).await;
    assert_eq!(count.expect(200), &json!({"count": 4}));

    // Explain.
    let plan = server
        .post(
            "/v1/collections/p/_explain",
            &json!({"where": {"age": {"$gt": 35}}}),
        )
        .await;
    let plan = plan.expect(200);
    assert_eq!(plan["access"], "index");
    assert_eq!(plan["indexes"][0]["path"], "age");
    assert_eq!(plan["indexes"][0]["bounds"], json!(["(35, +inf)"]));
    assert_eq!(
        (plan["examined"].as_u64(), plan["returned"].as_u64()),
        (Some(2), Some(2))
    );
    let plan = server
        .post(
            "/v1/collections/p/_explain",
            &json!({"where": {"name": "x"}}),
        )
        .await;
    assert_eq!(plan.expect(200)["scan"], true);

    // Bad filters name the operator and the path.
    for (body, needle) in [
        (json!({"where": {"age": {"$gt": 1, "x": 2}}}), "age"),
        (json!({"where": {"age": {"$foo": 1}}}), "$foo"),
        (json!({"where": {"tags": {"$in": 3}}}), "$in"),
        (json!({"where": {"$or": []}}), "$or"),
        (json!({"where": {"a..b": 1}}), "a..b"),
        (json!({"sort": [["age", "asc"]], "after": "zz"}), "after"),
    ] {
        let message = query(body.clone()).await.expect_error(400, "bad_request");
        assert!(message.contains(needle), "{body}: {message}");
    }
    server.stop().await;
}
