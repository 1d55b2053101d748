//! Quorum lost (two of three nodes killed): writes (and linearizable reads) get 503
//! `unavailable` within the contract's bound (2 x election_timeout_ms plus a few seconds),
//! `local` reads still answer, a follower left alone reports no leader; once the two are
//! back, writes succeed again without anyone intervening.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::cluster::{Cluster, WAIT, wait_until};

/// "A few seconds" in the contract's bound.
const SLACK: Duration = Duration::from_secs(3);

/// Kills the two nodes other than `survivor`, then checks writes and `local` reads on it,
/// restarts them and checks that writes go through again.
async fn lose_and_regain_the_quorum(mut c: Cluster, survivor: usize) {
    let records = "/v1/collections/q/records";
    // `v` is indexed: `_query` takes indexed fields only.
    c.put(survivor, "/v1/collections/q", json!({"indexes": ["v"]}))
        .await
        .expect(201, "create q");
    c.put(survivor, &format!("{records}/1"), json!({"v": 1}))
        .await
        .expect(200, "put");
    c.assert_converged().await;
    let victims: Vec<usize> = (0..3).filter(|&i| i != survivor).collect();
    for &v in &victims {
        c.kill9(v);
    }

    // Contract section 7: a write without a quorum gets 503 within 2 x election_timeout_ms
    // (plus a few seconds), and so does any request that needs the quorum (a read at the
    // default, linearizable, level): a bound the contract gives, measured, not a speed claim.
    let bound = c.answer_bound(SLACK);
    let requests = [
        (Method::PUT, format!("{records}/2"), Some(json!({"v": 2}))),
        (
            Method::POST,
            records.to_string(),
            Some(json!({"_id": 3, "v": 3})),
        ),
        (
            Method::POST,
            format!("{records}/_bulk"),
            Some(json!([{"_id": 4}, {"_id": 5}])),
        ),
        (Method::GET, format!("{records}/1"), None),
    ];
    for (method, path, body) in &requests {
        let (answer, took) = c.timed(survivor, method.clone(), path, body.as_ref()).await;
        let reply = answer.unwrap_or_else(|e| panic!("{method} {path} without a quorum: {e}"));
        assert_eq!(
            reply.status, 503,
            "{method} {path} without a quorum: {reply}"
        );
        assert_eq!(reply.code(), Some("unavailable"), "{reply}");
        assert!(
            took <= bound,
            "{method} {path} without a quorum was answered after {took:?}; the contract's bound is {bound:?}"
        );
    }

    // Reads at `local` are answered without a quorum.
    let doc = c
        .get(survivor, &format!("{records}/1?consistency=local"))
        .await
        .expect(200, "local get without a quorum");
    assert_eq!(doc, json!({"_id": 1, "v": 1}));
    c.get(survivor, &format!("{records}?consistency=local"))
        .await
        .expect(200, "local list without a quorum");
    let query = json!({"where": {"v": 1}});
    c.request(
        survivor,
        Method::POST,
        "/v1/collections/q/_query?consistency=local",
        Some(&query),
    )
    .await
    .expect(200, "local query without a quorum");
    c.get(survivor, "/health")
        .await
        .expect(200, "health without a quorum");
    if c.status(survivor).await["leader_id"] != c.node(survivor).id() {
        // A follower left alone knows no leader once its election timeout has passed.
        let mut last = serde_json::Value::Null;
        let unknown = wait_until(WAIT, async || {
            last = c.status(survivor).await;
            last["leader_id"].is_null().then_some(())
        })
        .await;
        assert!(
            unknown.is_some(),
            "leader_id is not null without a quorum: {last}"
        );
    }

    // Quorum back: the same write (a retry, as a client would) goes through by itself.
    for &v in &victims {
        c.restart(v).await;
    }
    let mut last = String::new();
    let (method, path, body) = &requests[0];
    let written = wait_until(WAIT, async || {
        match c
            .try_request(survivor, method.clone(), path, body.as_ref())
            .await
        {
            Ok(reply) if reply.is_success() => Some(()),
            answer => {
                last = format!("{answer:?}");
                None
            }
        }
    })
    .await;
    assert!(
        written.is_some(),
        "{method} {path} did not succeed within {WAIT:?} after the quorum came back: {last}"
    );
    c.wait_for_leader().await;
    c.assert_converged().await;
    for i in 0..3 {
        let doc = c
            .get(i, &format!("{records}/2"))
            .await
            .expect(200, "the write after the quorum came back");
        assert_eq!(doc, json!({"_id": 2, "v": 2}), "node {}", c.node(i).id());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_left_alone_answers_503_then_resumes() {
    let c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    lose_and_regain_the_quorum(c, leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_left_alone_answers_503_then_resumes() {
    let c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    lose_and_regain_the_quorum(c, (leader + 1) % 3).await;
}
