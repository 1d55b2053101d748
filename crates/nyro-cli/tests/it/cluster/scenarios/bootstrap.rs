//! Three nodes bootstrap from one `bootstrap` list and elect one leader; every node's
//! `GET /v1/cluster` tells the same story, and its `/metrics` has `nyrodb_raft_*` series
//! (the leader's with a replication lag per follower).

use super::{Cluster, lists_voters};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_bootstrap_and_elect_one_leader() {
    let c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    let leader_id = c.node(leader).id();
    for i in 0..3 {
        c.get(i, "/health").await.expect(200, "GET /health");
        let metrics = c.get(i, "/metrics").await.expect(200, "GET /metrics");
        let text = metrics.as_str().unwrap_or_default();
        assert!(
            text.lines().any(|line| line.starts_with("nyrodb_raft_")),
            "no nyrodb_raft_* series in node {}'s /metrics:\n{text}",
            c.node(i).id()
        );
        let is_leader = format!("nyrodb_raft_is_leader {}", u8::from(i == leader));
        assert!(
            text.lines().any(|line| line == is_leader),
            "no `{is_leader}` in node {}'s /metrics:\n{text}",
            c.node(i).id()
        );
        // The leader reports a lag for each of the two others, and only the leader does.
        let lags = text
            .lines()
            .filter(|line| line.starts_with("nyrodb_raft_replication_lag{"))
            .count();
        assert_eq!(
            lags,
            if i == leader { 2 } else { 0 },
            "replication lag series in node {}'s /metrics:\n{text}",
            c.node(i).id()
        );
        let status = c.status(i).await;
        assert_eq!(status["node_id"], c.node(i).id(), "{status}");
        assert_eq!(status["leader_id"], leader_id, "{status}");
        assert!(
            status["term"].as_u64().is_some_and(|term| term >= 1),
            "{status}"
        );
        let commit = status["commit_index"].as_u64();
        let applied = status["applied_index"].as_u64();
        assert!(
            matches!((applied, commit), (Some(a), Some(c)) if a <= c),
            "applied_index <= commit_index: {status}"
        );
        assert!(lists_voters(&status, &[1, 2, 3]), "{status}");
        for member in status["members"].as_array().unwrap() {
            let index = c.index_of(member["id"].as_u64().unwrap()).unwrap();
            assert_eq!(member["addr"], c.node(index).addr(), "{status}");
            assert!(
                member.get("match_index").is_some(),
                "a member without match_index: {status}"
            );
        }
    }
}
