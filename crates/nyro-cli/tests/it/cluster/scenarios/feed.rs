//! The change feed of any node gives the same events in the same order; a consumer that
//! reads from one node up to some seq and reconnects to another with `since` sees no gap
//! and no duplicate.

use serde_json::{Value, json};

use crate::cluster::{Cluster, Until};

/// Writes through node `via`: an insert, a put, a replace, a delete and a bulk of 3 in
/// collection `c{via}`; returns how many change events they make (7).
async fn changes(c: &Cluster, via: usize, round: u64) -> usize {
    let records = format!("/v1/collections/c{via}/records");
    let inserted = c
        .post(via, &records, json!({"round": round}))
        .await
        .expect(201, "insert");
    let id = 100 + round;
    c.put(via, &format!("{records}/{id}"), json!({"v": 1}))
        .await
        .expect(200, "put");
    c.put(via, &format!("{records}/{id}"), json!({"v": 2}))
        .await
        .expect(200, "replace");
    c.delete(via, &format!("{records}/{}", inserted["_id"]))
        .await
        .expect(204, "delete");
    let bulk = json!([{"b": 1}, {"b": 2}, {"b": 3}]);
    c.post(via, &format!("{records}/_bulk"), bulk)
        .await
        .expect(201, "bulk");
    7
}

/// The seqs of a run of events.
fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_agree_across_nodes_and_a_consumer_can_switch_nodes() {
    let c = Cluster::start(3).await;
    c.wait_for_leader().await;
    let mut made = 0;
    for round in 0..3 {
        for via in 0..3 {
            made += changes(&c, via, round).await;
        }
    }
    c.assert_converged().await;
    let last = c.last_seq(0).await;
    let on_a = c.feed(0, 0, last).await;
    let on_b = c.feed(1, 0, last).await;
    assert_eq!(on_a.len(), made, "{on_a:#?}");
    assert_eq!(on_a, on_b, "the feeds of nodes 1 and 2 differ");
    let all = seqs(&on_a);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(all.last(), Some(&last));
    let ops: Vec<&str> = on_a.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops[..7],
        [
            "insert", "insert", "update", "delete", "insert", "insert", "insert"
        ],
        "{on_a:#?}"
    );

    // A consumer reads node 1's feed up to the middle, then switches to node 2 with
    // `since` while more changes come in through node 3.
    let middle = all[all.len() / 2];
    let before = c.feed(0, 0, middle).await;
    assert_eq!(before, on_a[..=all.len() / 2]);
    let still_to_come = on_a.len() - before.len() + 7;
    let (after, _) = tokio::join!(
        c.feed_until(1, middle, Until::Count(still_to_come)),
        changes(&c, 2, 9)
    );
    let consumed: Vec<Value> = before.into_iter().chain(after).collect();
    c.assert_converged().await;
    let reference = c.feed(2, 0, c.last_seq(2).await).await;
    assert_eq!(
        seqs(&consumed),
        seqs(&reference),
        "the consumer that switched nodes saw a gap or a duplicate"
    );
    assert_eq!(consumed, reference);
}
