//! Indexes added and dropped online in a cluster (contract section 6: "replicated in a
//! cluster"): an add sent to a follower is forwarded, replicated, and every node builds the
//! index from its own documents; a drop likewise; both survive a node's restart.

use serde_json::{Value, json};

use super::{Cluster, WAIT, ids_of, wait_until};

/// Polls until every node's `GET /v1/collections` lists `name` with exactly the ready
/// indexes `indexes` and none being built; panics after [`WAIT`] with the last answers.
async fn wait_for_indexes(c: &Cluster, name: &str, indexes: &[&str]) {
    let mut answers = Vec::new();
    let listed = wait_until(WAIT, async || {
        answers.clear();
        let mut all = true;
        for i in 0..c.len() {
            let reply = c.get(i, "/v1/collections").await;
            let entry = reply.body["collections"]
                .as_array()
                .and_then(|list| list.iter().find(|e| e["name"] == name))
                .cloned()
                .unwrap_or(Value::Null);
            all &= reply.status == 200
                && entry["indexes"] == json!(indexes)
                && entry.get("building").is_none();
            answers.push(format!("node {}: {reply}", c.node(i).id()));
        }
        all.then_some(())
    })
    .await;
    assert!(
        listed.is_some(),
        "not every node lists {name} with the ready indexes {indexes:?} within {WAIT:?}:\n{}",
        answers.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_added_on_a_follower_is_built_on_every_node() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    let follower = (leader + 1) % 3;
    c.put(leader, "/v1/collections/u", json!({}))
        .await
        .expect(201, "create");
    let docs: Vec<Value> = (0..600)
        .map(|n| json!({"city": format!("c{}", n % 6)}))
        .collect();
    c.post(leader, "/v1/collections/u/records/_bulk", Value::from(docs))
        .await
        .expect(201, "bulk");

    let added = c
        .post(
            follower,
            "/v1/collections/u/_indexes",
            json!({"path": "city"}),
        )
        .await
        .expect(202, "add an index on a follower");
    assert_eq!(added["path"], "city", "{added}");
    wait_for_indexes(&c, "u", &["city"]).await;
    let want: Vec<u64> = (0..600u64).filter(|n| n % 6 == 2).map(|n| n + 1).collect();
    let query = json!({"where": {"city": "c2"}, "limit": 1000});
    for i in 0..3 {
        let found = c
            .post(i, "/v1/collections/u/_query", query.clone())
            .await
            .expect(200, "a query by the new index");
        assert_eq!(ids_of(&found), want, "node {}", c.node(i).id());
    }
    c.post(
        leader,
        "/v1/collections/u/_indexes",
        json!({"path": "city"}),
    )
    .await
    .expect(409, "the same index again");

    // A node restarted on its data keeps the index (its open builds it again).
    c.restart(follower).await;
    wait_for_indexes(&c, "u", &["city"]).await;

    // Dropped through another follower: gone on every node.
    let other = (leader + 2) % 3;
    c.delete(other, "/v1/collections/u/_indexes/city")
        .await
        .expect(204, "drop");
    wait_for_indexes(&c, "u", &[]).await;
    c.delete(leader, "/v1/collections/u/_indexes/city")
        .await
        .expect(404, "drop again");
    c.assert_converged().await;
}
