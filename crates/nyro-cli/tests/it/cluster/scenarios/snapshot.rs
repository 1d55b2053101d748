//! A node whose needed log was compacted away catches up (by snapshot: contract section 7),
//! and so does a new node added afterwards.
//!
//! The nodes run with 1 MB segments and a snapshot every 5 entries (so the leader purges its
//! log behind them), and write about 2.4 MB (half of it dropped) while one of them is down,
//! then compact; the node that was down must have installed a snapshot (its log says so),
//! and all must hold identical data and retained feeds.

use serde_json::json;

use super::{Cluster, wait_for_voters, write_drop_and_compact};
use crate::cluster::Options;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_a_compacted_log_catches_up() {
    let options = Options {
        storage_keys: "segment_size_mb = 1\n".to_string(),
        cluster_keys: "snapshot_every = 5\n".to_string(),
        ..Options::default()
    };
    let mut c = Cluster::start_with(3, options).await;
    let leader = c.wait_for_leader().await;
    c.put(
        leader,
        "/v1/collections/keep/records/1",
        json!({"early": true}),
    )
    .await
    .expect(200, "put");
    c.assert_converged().await;

    let behind = (leader + 1) % 3;
    c.kill9(behind);
    write_drop_and_compact(&c, leader).await;
    let other = (leader + 2) % 3;
    c.post(other, "/v1/_compact", serde_json::Value::Null)
        .await
        .expect(200, "compact");
    c.restart(behind).await;
    c.wait_for_leader().await;
    c.assert_converged().await;
    let doc = c
        .get(behind, "/v1/collections/keep/records/1?consistency=local")
        .await
        .expect(200, "the early write on the node that was behind");
    assert_eq!(doc, json!({"_id": 1, "early": true}));
    let log = std::fs::read_to_string(c.node(behind).log_path()).unwrap_or_default();
    assert!(
        log.contains("snapshot installed"),
        "the node that was behind caught up without a snapshot; its log:\n{log}"
    );

    // A new, empty node catches up from what the others retained.
    c.add_node().await;
    wait_for_voters(&c, &[1, 2, 3, 4]).await;
    c.assert_converged().await;
}
