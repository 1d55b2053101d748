//! The shared secret: a node configured with another one never becomes a member, and a
//! node-to-node route called without it gets 401.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::cluster::{Cluster, POLL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_never_becomes_a_member() {
    let mut c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    c.put(leader, "/v1/collections/s/records/1", json!({"v": 1}))
        .await
        .expect(200, "put");
    let stranger = c.spawn_node("not-the-cluster-secret").await;
    let id = c.node(stranger).id();
    let body = json!({"id": id, "addr": c.node(stranger).addr()});
    // The add is answered (every request is), refused or not.
    let added = c
        .try_request(leader, Method::POST, "/v1/cluster/members", Some(&body))
        .await
        .unwrap_or_else(|e| panic!("POST /v1/cluster/members {body}: {e}"));

    // Watched for a while ("never" cannot be waited for): it is never a voter, never knows a
    // leader and never gets the cluster's data; if the add was refused it is not even listed.
    let window = Duration::from_millis(6 * c.options().election_timeout_ms);
    let started = Instant::now();
    while started.elapsed() < window {
        for i in c.running_members() {
            let status = c.status(i).await;
            let listed = status["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id);
            if let Some(member) = listed {
                assert!(
                    added.is_success() && member["role"] == "learner",
                    "node {id} with another secret is listed by node {} (its add answered {added}): {status}",
                    c.node(i).id()
                );
            }
        }
        let own = c.get(stranger, "/v1/cluster").await;
        assert!(
            own.status != 200 || own.body["leader_id"].is_null(),
            "node {id} with another secret knows a leader: {own}"
        );
        let data = c
            .get(stranger, "/v1/collections/s/records/1?consistency=local")
            .await;
        assert_ne!(
            data.status, 200,
            "node {id} with another secret got the data: {data}"
        );
        tokio::time::sleep(POLL).await;
    }

    // The cluster goes on without it.
    c.put(leader, "/v1/collections/s/records/2", json!({"v": 2}))
        .await
        .expect(200, "put after the attempt");
    c.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_to_node_routes_refuse_a_caller_without_the_secret() {
    let c = Cluster::start(3).await;
    let leader = c.wait_for_leader().await;
    for i in 0..3 {
        // An empty body and no secret: refused before the body is looked at.
        let reply = c
            .request(i, Method::POST, "/internal/raft/vote", None)
            .await;
        assert_eq!(reply.status, 401, "node {}: {reply}", c.node(i).id());
        assert_eq!(reply.code(), Some("unauthorized"), "{reply}");
        // A wrong secret in the header node-to-node calls carry it in (x-nyrodb-secret, the
        // transport's choice; the contract names no header): refused as well.
        let url = format!("{}/internal/raft/vote", c.node(i).url());
        let wrong = c
            .http()
            .client()
            .post(&url)
            .header("x-nyrodb-secret", "not-the-cluster-secret")
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert_eq!(wrong.status(), 401, "POST {url} with a wrong secret");
    }
    assert_eq!(c.wait_for_leader().await, leader);
}
