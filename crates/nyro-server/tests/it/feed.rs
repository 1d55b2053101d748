//! The change feed over a real WebSocket: message shape, per collection and global,
//! `since` replay then live changes in seq order with no gap and no duplicate.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

use crate::common::*;

#[track_caller]
fn assert_change(change: &Value, seq: u64, op: &str, collection: &str, id: u64, doc: &Value) {
    let object = change.as_object().expect("a change is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "collection", "doc", "op", "seq"], "{change}");
    assert_eq!(change["seq"], seq, "{change}");
    assert_eq!(change["op"], op, "{change}");
    assert_eq!(change["collection"], collection, "{change}");
    assert_eq!(change["_id"], id, "{change}");
    assert_eq!(&change["doc"], doc, "{change}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_collection_replays_since_then_goes_live() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    server.create("other", &[]).await;

    // History: insert, update, an other collection's write, insert, delete.
    let (a, s1) = server.insert("c", json!({"v": 1})).await;
    let s2 = server
        .put(&format!("/v1/collections/c/records/{a}"), &json!({"v": 2}))
        .await
        .expect(200)["seq"]
        .as_u64()
        .unwrap();
    let (_, s_other) = server.insert("other", json!({"o": 1})).await;
    let (b, s3) = server.insert("c", json!({"v": "b"})).await;
    server
        .delete(&format!("/v1/collections/c/records/{a}"))
        .await
        .expect(204);
    let s4 = server.last_seq().await;
    assert!(s1 < s2 && s2 < s_other && s_other < s3 && s3 < s4);

    // since=0: every change of `c`, in order, then live ones.
    let mut ws = server
        .ws("/v1/collections/c/changes?since=0")
        .await
        .unwrap();
    assert_change(
        &next_change(&mut ws).await,
        s1,
        "insert",
        "c",
        a,
        &json!({"_id": a, "v": 1}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s2,
        "update",
        "c",
        a,
        &json!({"_id": a, "v": 2}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s3,
        "insert",
        "c",
        b,
        &json!({"_id": b, "v": "b"}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s4,
        "delete",
        "c",
        a,
        &Value::Null,
    );
    assert_quiet(&mut ws, Duration::from_millis(100)).await;
    server.insert("other", json!({"o": 2})).await;
    let (c, s5) = server.insert("c", json!({"v": "live"})).await;
    assert_change(
        &next_change(&mut ws).await,
        s5,
        "insert",
        "c",
        c,
        &json!({"_id": c, "v": "live"}),
    );
    assert_quiet(&mut ws, Duration::from_millis(100)).await;

    // since=s2: only what followed it.
    let mut later = server
        .ws(&format!("/v1/collections/c/changes?since={s2}"))
        .await
        .unwrap();
    assert_eq!(next_change(&mut later).await["seq"], s3);
    assert_eq!(next_change(&mut later).await["seq"], s4);
    assert_eq!(next_change(&mut later).await["seq"], s5);
    assert_quiet(&mut later, Duration::from_millis(100)).await;

    // No since: live changes only.
    let mut live = server.ws("/v1/collections/c/changes").await.unwrap();
    assert_quiet(&mut live, Duration::from_millis(100)).await;
    let s6 = server
        .delete(&format!("/v1/collections/c/records/{b}"))
        .await;
    s6.expect(204);
    for ws in [&mut ws, &mut later, &mut live] {
        let change = next_change(ws).await;
        assert_change(&change, s5 + 1, "delete", "c", b, &Value::Null);
    }
    // since beyond the end: nothing until something newer.
    let mut ahead = server
        .ws("/v1/collections/c/changes?since=1000")
        .await
        .unwrap();
    assert_quiet(&mut ahead, Duration::from_millis(100)).await;

    for ws in [ws, later, live, ahead] {
        ws_close(ws).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_feed_covers_every_collection() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let (x, s1) = server.insert("x", json!({"n": 1})).await;
    let (y, s2) = server.insert("y", json!({"n": 2})).await;
    let bulk = server
        .post(
            "/v1/collections/x/records/_bulk",
            &json!([{"n": 3}, {"n": 4}]),
        )
        .await;
    let bulk = bulk.expect(201).clone();
    let ids: Vec<u64> = bulk["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(bulk["seq"], s2 + 2);

    let mut ws = server.ws("/v1/changes?since=0").await.unwrap();
    assert_change(
        &next_change(&mut ws).await,
        s1,
        "insert",
        "x",
        x,
        &json!({"_id": x, "n": 1}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s2,
        "insert",
        "y",
        y,
        &json!({"_id": y, "n": 2}),
    );
    // A bulk insert: one change per element, each with its own seq.
    assert_change(
        &next_change(&mut ws).await,
        s2 + 1,
        "insert",
        "x",
        ids[0],
        &json!({"_id": ids[0], "n": 3}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s2 + 2,
        "insert",
        "x",
        ids[1],
        &json!({"_id": ids[1], "n": 4}),
    );
    let mut since_one = server.ws(&format!("/v1/changes?since={s1}")).await.unwrap();
    assert_eq!(next_change(&mut since_one).await["seq"], s2);

    let (_, s5) = server.insert("y", json!({"n": 5})).await;
    server
        .put(&format!("/v1/collections/x/records/{x}"), &json!({"n": 6}))
        .await
        .expect(200);
    assert_change(
        &next_change(&mut ws).await,
        s5,
        "insert",
        "y",
        y + 1,
        &json!({"_id": y + 1, "n": 5}),
    );
    assert_change(
        &next_change(&mut ws).await,
        s5 + 1,
        "update",
        "x",
        x,
        &json!({"_id": x, "n": 6}),
    );
    for expected in [s2 + 1, s2 + 2, s5, s5 + 1] {
        assert_eq!(next_change(&mut since_one).await["seq"], expected);
    }
    assert_quiet(&mut ws, Duration::from_millis(100)).await;
    ws_close(ws).await;
    ws_close(since_one).await;
    server.stop().await;
}

/// Subscribing with `since` while writers run: the feed is exactly seq 1, 2, 3, ... with
/// nothing missing and nothing twice, across the switch from replay to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_to_live_has_no_gap_and_no_duplicate() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("a", &[]).await;
    server.create("b", &[]).await;
    // Some history first.
    let history: Vec<Value> = (0..300).map(|n| json!({"n": n})).collect();
    server
        .post("/v1/collections/a/records/_bulk", &Value::Array(history))
        .await
        .expect(201);

    const WRITERS: usize = 4;
    const WRITES: usize = 60;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let client = server.client.clone();
            let base = server.url("");
            tokio::spawn(async move {
                for i in 0..WRITES {
                    let collection = if (w + i) % 2 == 0 { "a" } else { "b" };
                    let answer = send(
                        client
                            .post(format!("{base}/v1/collections/{collection}/records"))
                            .header("content-type", "application/json")
                            .body(json!({"w": w, "i": i}).to_string()),
                    )
                    .await;
                    assert_eq!(answer.status, 201, "{}", answer.text);
                }
            })
        })
        .collect();

    // Subscribe while they run: globally, and to `b` only.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut all = server.ws("/v1/changes?since=0").await.unwrap();
    let mut only_b = server
        .ws("/v1/collections/b/changes?since=0")
        .await
        .unwrap();
    for writer in writers {
        within("a writer", writer).await.unwrap();
    }
    let last = server.last_seq().await;
    assert_eq!(last as usize, 300 + WRITERS * WRITES);

    let mut b_seqs = Vec::new();
    for expected in 1..=last {
        let change = next_change(&mut all).await;
        assert_eq!(change["seq"], expected, "gap or duplicate: {change}");
        assert_eq!(change["op"], "insert");
        if change["collection"] == "b" {
            b_seqs.push(expected);
        }
    }
    assert_eq!(b_seqs.len(), WRITERS * WRITES / 2);
    for expected in &b_seqs {
        let change = next_change(&mut only_b).await;
        assert_eq!(change["seq"], *expected, "{change}");
        assert_eq!(change["collection"], "b");
    }
    assert_quiet(&mut all, Duration::from_millis(100)).await;
    assert_quiet(&mut only_b, Duration::from_millis(50)).await;
    ws_close(all).await;
    ws_close(only_b).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_refusals_come_before_the_upgrade() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    for (path, status, code) in [
        ("/v1/collections/ghost/changes", 404, "not_found"),
        ("/v1/collections/ghost/changes?since=0", 404, "not_found"),
        ("/v1/collections/bad.name/changes", 400, "invalid_name"),
        ("/v1/changes?since=abc", 400, "bad_request"),
        ("/v1/changes?since=-1", 400, "bad_request"),
        ("/v1/changes?since=%2B1", 400, "bad_request"),
        ("/v1/changes?since=1&since=2", 400, "bad_request"),
        ("/v1/collections/c/changes?from=1", 400, "bad_request"),
    ] {
        match ws_connect(server.addr, path, None).await {
            Ok(_) => panic!("{path}: upgraded"),
            Err(error) => match *error {
                tungstenite::Error::Http(response) => {
                    assert_eq!(response.status(), status, "{path}");
                    let body = response.body().clone().unwrap_or_default();
                    let json: Value = serde_json::from_slice(&body).expect("a JSON error body");
                    assert_error_shape(&json, &String::from_utf8_lossy(&body));
                    assert_eq!(json["error"]["code"], code, "{path}");
                }
                other => panic!("{path}: unexpected error {other}"),
            },
        }
    }
    server.stop().await;
}

/// A client may send messages (they are ignored) and close; the server keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_messages_are_ignored_and_closing_is_clean() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    let mut chatty = server.ws("/v1/changes").await.unwrap();
    ws_send_text(&mut chatty, "hello").await;
    let (id, _) = server.insert("c", json!({})).await;
    assert_eq!(next_change(&mut chatty).await["_id"], id);
    ws_close(chatty).await;
    // A dropped connection (no close frame) is fine too.
    let dropped = server.ws("/v1/changes").await.unwrap();
    drop(dropped);
    let mut after = server.ws("/v1/changes").await.unwrap();
    let (id, _) = server.insert("c", json!({})).await;
    assert_eq!(next_change(&mut after).await["_id"], id);
    ws_close(after).await;
    server.stop().await;
}

/// Stopping the server closes open feeds with 1001 (going away) and a reason that says to
/// resume with `since`; shutdown waits for that, but not for the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_feeds() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    let mut ws = server.ws("/v1/collections/c/changes").await.unwrap();
    server.stop().await;
    match next_feed(&mut ws).await {
        Feed::Closed(Some((code, reason))) => {
            assert_eq!(code, 1001);
            assert!(reason.contains("since"), "{reason}");
        }
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}
