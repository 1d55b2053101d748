//! Membership: a fourth node is added (learner, catch-up, voter) and serves identical data;
//! a node removed is no longer listed; over HTTP and with `nyrodb cluster add|remove|status`.

use serde_json::{Value, json};

use super::{Cluster, wait_for_voters};
use crate::common::succeeds;

/// Writes some history through node `via`: two collections, a bulk, replaces, deletes.
async fn write_history(c: &Cluster, via: usize, round: u64) {
    let docs: Vec<Value> = (0..100)
        .map(|n| {
            let city = ["Oslo", "Lima"][n % 2];
            json!({"round": round, "n": n, "city": city})
        })
        .collect();
    let answer = c
        .post(
            via,
            "/v1/collections/people/records/_bulk",
            Value::from(docs),
        )
        .await
        .expect(201, "bulk");
    let ids = answer["ids"].as_array().unwrap().clone();
    for id in ids.iter().step_by(7) {
        let path = format!("/v1/collections/people/records/{id}");
        c.put(via, &path, json!({"replaced": round}))
            .await
            .expect(200, "replace");
    }
    for id in ids.iter().skip(3).step_by(11) {
        let path = format!("/v1/collections/people/records/{id}");
        c.delete(via, &path).await.expect(204, "delete");
    }
    let path = format!("/v1/collections/orders/records/{}", 10 + round);
    c.put(via, &path, json!({"total": round}))
        .await
        .expect(200, "put");
}

/// The ids of nodes `nodes`, ascending.
fn ids(c: &Cluster, nodes: &[usize]) -> Vec<u64> {
    let mut ids: Vec<u64> = nodes.iter().map(|&i| c.node(i).id()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_catches_up_and_a_removed_one_is_no_longer_listed() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    c.put(
        leader,
        "/v1/collections/people",
        json!({"indexes": ["city"]}),
    )
    .await
    .expect(201, "create");
    write_history(&c, leader, 1).await;

    // Added through a follower (membership calls may go to any node).
    let follower = (leader + 1) % 3;
    let new = c.add_node_via(follower).await;
    wait_for_voters(&c, &[1, 2, 3, 4]).await;
    // It serves what was written before it joined, and what is written now, at once.
    write_history(&c, (leader + 2) % 3, 2).await;
    let doc = c
        .get(new, "/v1/collections/orders/records/12")
        .await
        .expect(200, "read on the new node");
    assert_eq!(doc, json!({"_id": 12, "total": 2}));
    c.assert_converged().await;

    // A voter other than the leader and the follower, removed through the new node.
    let gone = (leader + 2) % 3;
    c.remove_node_via(gone, new).await;
    let remaining: Vec<usize> = (0..4).filter(|&i| i != gone).collect();
    wait_for_voters(&c, &ids(&c, &remaining)).await;
    c.kill9(gone);
    c.wait_for_leader().await;
    for &i in &remaining {
        write_history(&c, i, 10 + i as u64).await;
    }
    c.assert_converged_on(&remaining).await;

    // One more, after the removal, through the first running member.
    let fifth = c.add_node().await;
    let mut voters = remaining.clone();
    voters.push(fifth);
    wait_for_voters(&c, &ids(&c, &voters)).await;
    write_history(&c, fifth, 20).await;
    c.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_and_removes_a_member() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    let secret = c.options().secret.clone();
    let new = c.spawn_node(&secret).await;
    let (id, addr) = (c.node(new).id().to_string(), c.node(new).addr());

    succeeds(&mut c.cli((leader + 1) % 3, &["cluster", "add", &id, &addr]));
    c.set_member(new, true);
    wait_for_voters(&c, &[1, 2, 3, 4]).await;
    let (status, _) = succeeds(&mut c.cli(new, &["cluster", "status"]));
    for i in 0..4 {
        assert!(status.contains(&c.node(i).addr()), "{status}");
    }
    assert!(status.contains("leader"), "{status}");

    c.put(leader, "/v1/collections/t/records/1", json!({"v": 1}))
        .await
        .expect(200, "put");
    let doc = c
        .get(new, "/v1/collections/t/records/1")
        .await
        .expect(200, "read on the added node");
    assert_eq!(doc, json!({"_id": 1, "v": 1}));

    succeeds(&mut c.cli(leader, &["cluster", "remove", &id]));
    c.set_member(new, false);
    wait_for_voters(&c, &[1, 2, 3]).await;
    let (status, _) = succeeds(&mut c.cli((leader + 2) % 3, &["cluster", "status"]));
    assert!(
        !status.contains(&addr),
        "the removed node is still listed: {status}"
    );
    c.kill9(new);
    c.assert_converged().await;
}
