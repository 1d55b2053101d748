//! Live queries over a real WebSocket: `?where=<filter JSON>` sends only the changes that
//! concern the filter, each with `match`; a bad `where` is refused with 400 before the
//! upgrade, naming the problem.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// `text` percent-encoded for a query string (everything but letters and digits).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn where_param(filter: &Value) -> String {
    format!("where={}", encode(&filter.to_string()))
}

/// A live query's change: the feed's fields plus `match`.
#[track_caller]
fn assert_live(change: &Value, seq: u64, op: &str, id: u64, doc: &Value, matches: bool) {
    let object = change.as_object().expect("a change is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["_id", "collection", "doc", "match", "op", "seq"],
        "{change}"
    );
    assert_eq!(
        (
            &change["seq"],
            &change["op"],
            &change["_id"],
            &change["doc"]
        ),
        (&json!(seq), &json!(op), &json!(id), doc),
        "{change}"
    );
    assert_eq!(change["match"], matches, "{change}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_query_sends_the_changes_that_concern_its_filter() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    let filter = where_param(&json!({"age": {"$gte": 30}, "tags": "db"}));
    let mut live = server
        .ws(&format!("/v1/collections/c/changes?{filter}"))
        .await
        .unwrap();
    let mut all = server.ws("/v1/changes").await.unwrap();

    let (young, _) = server.insert("c", json!({"age": 20, "tags": ["db"]})).await;
    let (old, s_old) = server
        .insert("c", json!({"age": 40, "tags": ["db", "x"]}))
        .await;
    let s_grown = server
        .put(
            &format!("/v1/collections/c/records/{young}"),
            &json!({"age": 31, "tags": "db"}),
        )
        .await
        .expect(200)["seq"]
        .as_u64()
        .unwrap();
    let created = server
        .put(
            "/v1/collections/c/records/77",
            &json!({"age": 50, "tags": ["db"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(created["created"], true);
    let s_created = created["seq"].as_u64().unwrap();
    server
        .delete(&format!("/v1/collections/c/records/{old}"))
        .await
        .expect(204);
    let s_deleted = server.last_seq().await;
    server
        .insert("other", json!({"age": 99, "tags": "db"}))
        .await;

    assert_live(
        &next_change(&mut live).await,
        s_old,
        "insert",
        old,
        &json!({"_id": old, "age": 40, "tags": ["db", "x"]}),
        true,
    );
    assert_live(
        &next_change(&mut live).await,
        s_grown,
        "update",
        young,
        &json!({"_id": young, "age": 31, "tags": "db"}),
        true,
    );
    // A PUT that creates is an insert.
    assert_live(
        &next_change(&mut live).await,
        s_created,
        "insert",
        77,
        &json!({"_id": 77, "age": 50, "tags": ["db"]}),
        true,
    );
    // A delete of a matching document: match false.
    assert_live(
        &next_change(&mut live).await,
        s_deleted,
        "delete",
        old,
        &Value::Null,
        false,
    );
    assert_quiet(&mut live, Duration::from_millis(100)).await;
    // The unfiltered feed has every change, without `match`.
    for _ in 0..6 {
        let change = next_change(&mut all).await;
        assert!(change.get("match").is_none(), "{change}");
    }

    // The same from the log with since, on the global route too; then live.
    let mut replay = server
        .ws(&format!("/v1/changes?since={s_grown}&{filter}"))
        .await
        .unwrap();
    assert_eq!(next_change(&mut replay).await["seq"], s_created);
    assert_eq!(next_change(&mut replay).await["seq"], s_deleted);
    let other = next_change(&mut replay).await;
    assert_eq!(
        (&other["collection"], &other["match"]),
        (&json!("other"), &json!(true))
    );
    let s_out = server
        .put(
            &format!("/v1/collections/c/records/{young}"),
            &json!({"age": 31, "tags": []}),
        )
        .await
        .expect(200)["seq"]
        .as_u64()
        .unwrap();
    for ws in [&mut replay, &mut live] {
        assert_live(
            &next_change(ws).await,
            s_out,
            "update",
            young,
            &json!({"_id": young, "age": 31, "tags": []}),
            false,
        );
    }
    for ws in [live, all, replay] {
        ws_close(ws).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_where_is_refused_before_the_upgrade_naming_the_problem() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    for (query, says) in [
        ("where=%7Bage".to_string(), "not JSON"),
        ("where=".to_string(), "not JSON"),
        (where_param(&json!(5)), "JSON object"),
        (where_param(&json!({"age": {"$around": 3}})), "$around"),
        (where_param(&json!({"age": {"$in": 3}})), "$in"),
        (where_param(&json!({"$or": []})), "$or"),
        (where_param(&json!({"a..b": 1})), "a..b"),
        (format!("{}&where=%7B%7D", where_param(&json!({}))), "twice"),
    ] {
        for route in ["/v1/collections/c/changes", "/v1/changes"] {
            let path = format!("{route}?since=0&{query}");
            let error = ws_connect(server.addr, &path, None)
                .await
                .expect_err("a bad where is refused");
            let (status, message) = refusal(&error, "bad_request");
            assert_eq!(status, 400, "{path}");
            assert!(message.contains(says), "{path}: {message}");
            if says != "twice" {
                assert!(message.contains("where"), "{path}: {message}");
            }
        }
    }
    // The plain GET of a good one is refused as not being an upgrade, as without where.
    let filter = where_param(&json!({"age": 1}));
    server
        .get(&format!("/v1/collections/c/changes?{filter}"))
        .await
        .expect_error(400, "bad_request");
    // An unknown collection is still 404.
    let unknown = ws_connect(
        server.addr,
        &format!("/v1/collections/nope/changes?{filter}"),
        None,
    )
    .await
    .expect_err("no such collection");
    assert_eq!(refused_status(&unknown, "not_found"), 404);
    server.stop().await;
}
