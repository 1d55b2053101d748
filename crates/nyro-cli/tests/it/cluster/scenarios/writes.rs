//! Writes on any node, read on every other at the default consistency right after the
//! answer; the three consistency levels on every read route; `local` reads never show a
//! partial bulk.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Cluster, ids_of};

/// The seq of a write's answer.
fn seq_of(answer: &Value) -> u64 {
    answer["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {answer}"))
}

/// Asserts that every node but `writer` answers `GET path` (default consistency) with
/// `status` and, for 200, the body `expected`.
async fn read_everywhere_else(
    c: &Cluster,
    writer: usize,
    path: &str,
    status: u16,
    expected: &Value,
) {
    for reader in (0..c.len()).filter(|&r| r != writer) {
        let what = format!(
            "GET {path} on node {} right after the write on node {}",
            c.node(reader).id(),
            c.node(writer).id()
        );
        let body = c.get(reader, path).await.expect(status, &what);
        if status == 200 {
            assert_eq!(&body, expected, "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_any_node_are_read_on_every_other_at_the_default_consistency() {
    let c = Cluster::start(3).await;
    c.wait_for_leader().await;
    let mut last_seq = 0;
    let mut later = |seq: u64| {
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
    };
    for w in 0..3 {
        let coll = format!("/v1/collections/c{w}");
        let records = format!("{coll}/records");
        c.put(w, &coll, json!({"indexes": ["k"]}))
            .await
            .expect(201, "create a collection");
        let empty = json!({"records": [], "next": null});
        read_everywhere_else(&c, w, &records, 200, &empty).await;

        let inserted = c
            .post(w, &records, json!({"k": "a", "from": w}))
            .await
            .expect(201, "insert");
        later(seq_of(&inserted));
        let id = inserted["_id"].as_u64().unwrap();
        let doc = json!({"_id": id, "k": "a", "from": w});
        read_everywhere_else(&c, w, &format!("{records}/{id}"), 200, &doc).await;

        // A put that creates, then one that replaces.
        for (k, created) in [("b", true), ("c", false)] {
            let answer = c
                .put(w, &format!("{records}/1000"), json!({"k": k}))
                .await
                .expect(200, "put");
            assert_eq!(answer["created"], created, "{answer}");
            later(seq_of(&answer));
            let doc = json!({"_id": 1000, "k": k});
            read_everywhere_else(&c, w, &format!("{records}/1000"), 200, &doc).await;
        }

        c.delete(w, &format!("{records}/{id}"))
            .await
            .expect(204, "delete");
        read_everywhere_else(&c, w, &format!("{records}/{id}"), 404, &Value::Null).await;

        let bulk: Vec<Value> = (0..5).map(|n| json!({"k": "d", "n": n})).collect();
        let answer = c
            .post(w, &format!("{records}/_bulk"), Value::from(bulk))
            .await
            .expect(201, "bulk");
        later(seq_of(&answer));
        let bulk_ids: Vec<u64> = answer["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("no ids in {answer}"))
            .iter()
            .map(|id| id.as_u64().unwrap())
            .collect();
        assert_eq!(bulk_ids.len(), 5, "{answer}");
        let mut all = bulk_ids.clone();
        all.push(1000);
        all.sort_unstable();
        for r in (0..3).filter(|&r| r != w) {
            let page = c.get(r, &records).await.expect(200, "list");
            assert_eq!(
                ids_of(&page),
                all,
                "list on node {}: {page}",
                c.node(r).id()
            );
            let query = json!({"where": {"k": "d"}});
            let found = c
                .post(r, &format!("{coll}/_query"), query)
                .await
                .expect(200, "query");
            assert_eq!(ids_of(&found), bulk_ids, "query on node {}", c.node(r).id());
        }
    }
    c.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_takes_the_three_consistency_levels_and_refuses_another() {
    let c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    c.put(leader, "/v1/collections/t", json!({"indexes": ["k"]}))
        .await
        .expect(201, "create");
    c.put(leader, "/v1/collections/t/records/1", json!({"k": 1}))
        .await
        .expect(200, "put");
    c.assert_converged().await; // `local` reads see it everywhere from now on
    let doc = json!({"_id": 1, "k": 1});
    let query = json!({"where": {"k": 1}});
    for i in 0..3 {
        let id = c.node(i).id();
        for level in ["local", "lease", "linearizable", "eventual", "strong"] {
            let known = ["local", "lease", "linearizable"].contains(&level);
            let get = c
                .get(
                    i,
                    &format!("/v1/collections/t/records/1?consistency={level}"),
                )
                .await;
            let list = c
                .get(i, &format!("/v1/collections/t/records?consistency={level}"))
                .await;
            let found = c
                .request(
                    i,
                    Method::POST,
                    &format!("/v1/collections/t/_query?consistency={level}"),
                    Some(&query),
                )
                .await;
            for (route, reply) in [("get", &get), ("list", &list), ("_query", &found)] {
                let expected = if known { 200 } else { 400 };
                assert_eq!(
                    reply.status, expected,
                    "{route} with consistency={level} on node {id}: {reply}"
                );
                if !known {
                    assert_eq!(reply.code(), Some("bad_request"), "{route}: {reply}");
                }
            }
            if known {
                assert_eq!(get.body, doc, "consistency={level} on node {id}");
                assert_eq!(ids_of(&list.body), [1], "consistency={level} on node {id}");
                assert_eq!(ids_of(&found.body), [1], "consistency={level} on node {id}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_never_show_a_partial_bulk() {
    const BATCHES: u64 = 20;
    const SIZE: usize = 50;
    let c = Cluster::start(3).await;
    c.wait_for_leader().await;
    c.put(0, "/v1/collections/b", json!({"indexes": ["batch"]}))
        .await
        .expect(201, "create");
    // A `local` read may lag: until a node has applied the create, `b` is unknown there (a
    // 404 that is no partial bulk). Start reading once every node has it.
    c.assert_converged().await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writer = async {
        for batch in 0..BATCHES {
            let docs: Vec<Value> = (0..SIZE).map(|n| json!({"batch": batch, "n": n})).collect();
            let node = (batch % 3) as usize;
            c.post(node, "/v1/collections/b/records/_bulk", Value::from(docs))
                .await
                .expect(201, "bulk");
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    };
    let reader = async {
        let mut reads = 0u64;
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            for node in 0..3 {
                for batch in 0..BATCHES {
                    let query = json!({"where": {"batch": batch}, "limit": 1000});
                    let page = c
                        .request(
                            node,
                            Method::POST,
                            "/v1/collections/b/_query?consistency=local",
                            Some(&query),
                        )
                        .await
                        .expect(200, "local query");
                    let seen = ids_of(&page).len();
                    assert!(
                        seen == 0 || seen == SIZE,
                        "node {} showed {seen} of the {SIZE} documents of bulk {batch}",
                        c.node(node).id()
                    );
                    reads += 1;
                }
            }
        }
        reads
    };
    let ((), reads) = tokio::join!(writer, reader);
    assert!(reads > 0);
    c.assert_converged().await;
}
