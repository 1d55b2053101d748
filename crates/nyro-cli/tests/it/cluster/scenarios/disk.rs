//! A disk that fails fdatasync on one node (`nyrodb serve --fail-fsync-when`): that node
//! poisons (it refuses writes, and its Raft stops on the storage error), the other two go on
//! (a new leader if it led, writes acknowledged), the poisoned node still answers every
//! request within the contract's bound, and once its disk is healed and it is restarted it
//! rejoins and converges, no acknowledged write lost.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Cluster, Options, WAIT, wait_until};

/// "A few seconds" in the contract's bound.
const SLACK: Duration = Duration::from_secs(3);
/// Writes to see acknowledged by the two healthy nodes once the third is poisoned.
const AFTER: u64 = 20;

const RECORDS: &str = "/v1/collections/d/records";

/// The acknowledged writes (id -> document) and the next id to write.
#[derive(Default)]
struct Writes {
    acked: BTreeMap<u64, Value>,
    next: u64,
}

impl Writes {
    /// One PUT of the next id through node `i`; whether it was acknowledged. An answer
    /// other than 2xx or 503 (or no answer, a node restarting its Raft) fails the test.
    async fn one(&mut self, c: &Cluster, i: usize) -> bool {
        self.next += 1;
        let id = self.next;
        let doc = json!({"n": id});
        let path = format!("{RECORDS}/{id}");
        match c.try_request(i, Method::PUT, &path, Some(&doc)).await {
            Ok(reply) if reply.is_success() => {
                self.acked.insert(id, json!({"_id": id, "n": id}));
                true
            }
            Ok(reply) => {
                assert_eq!(
                    reply.status,
                    503,
                    "PUT {path} on node {}: {reply}",
                    c.node(i).id()
                );
                false
            }
            Err(e) => panic!("PUT {path}: {e}"),
        }
    }

    /// Writes through `nodes` in turn until `count` more are acknowledged; panics after
    /// [`WAIT`].
    async fn acknowledged(&mut self, c: &Cluster, nodes: &[usize], count: u64, when: &str) {
        let goal = self.acked.len() + count as usize;
        let mut turn = 0;
        let done = wait_until(WAIT, async || {
            while self.acked.len() < goal {
                turn += 1;
                if !self.one(c, nodes[turn % nodes.len()]).await {
                    return None;
                }
            }
            Some(())
        })
        .await;
        assert!(
            done.is_some(),
            "{when}: {} of {count} writes acknowledged within {WAIT:?}",
            count as usize + self.acked.len() - goal
        );
    }
}

/// Node `i`'s `writes_poisoned` in `GET /v1/stats` (null while it takes writes).
async fn poisoned(c: &Cluster, i: usize) -> Value {
    let what = format!("GET /v1/stats on node {}", c.node(i).id());
    c.get(i, "/v1/stats").await.expect(200, &what)["writes_poisoned"].clone()
}

/// Creates collection `d` through the leader and has 5 writes acknowledged by it; the
/// leader and the writes.
async fn first_writes(c: &Cluster) -> (usize, Writes) {
    let leader = c.wait_for_leader().await;
    c.put(leader, "/v1/collections/d", json!({}))
        .await
        .expect(201, "create d");
    let mut writes = Writes::default();
    writes
        .acknowledged(c, &[leader], 5, "before the fault")
        .await;
    (leader, writes)
}

/// Fails the syncs of node `victim` (the leader or a follower) under writes, and checks what
/// the module doc says.
async fn fail_the_disk_of(mut c: Cluster, victim: usize) {
    let (_, mut writes) = first_writes(&c).await;
    let others: Vec<usize> = (0..3).filter(|&i| i != victim).collect();

    // The trigger appears: the victim's next sync fails; writes go on through all nodes
    // until it reports itself poisoned (a write may get 503 meanwhile).
    c.fail_fsync(victim);
    let mut turn = 0;
    let reason = wait_until(WAIT, async || {
        turn += 1;
        writes.one(&c, turn % 3).await;
        let reason = poisoned(&c, victim).await;
        (!reason.is_null()).then_some(reason)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "node {} did not poison within {WAIT:?}",
            c.node(victim).id()
        )
    });
    let text = reason.as_str().unwrap_or_default();
    assert!(
        text.contains("fdatasync failed"),
        "writes_poisoned: {reason}"
    );

    // The two others go on: a leader among them, writes acknowledged through both.
    c.set_member(victim, false);
    let new = c.wait_for_leader().await;
    assert_ne!(new, victim, "the poisoned node still leads");
    writes
        .acknowledged(&c, &others, AFTER, "with one node poisoned")
        .await;

    // The poisoned node answers everything within the contract's bound: writes and reads
    // that need the quorum get 503 saying why (and naming no file), `local` reads are
    // served, and it names no leader (its Raft stopped: its last view is stale).
    let bound = c.answer_bound(SLACK);
    let last = *writes.acked.keys().next_back().unwrap();
    let next = writes.next + 1;
    let requests = [
        (Method::GET, "/health".to_string(), None, 200),
        (Method::GET, "/v1/cluster".to_string(), None, 200),
        (Method::GET, "/v1/stats".to_string(), None, 200),
        (
            Method::GET,
            format!("{RECORDS}/1?consistency=local"),
            None,
            200,
        ),
        (Method::GET, format!("{RECORDS}/{last}"), None, 503),
        (
            Method::GET,
            format!("{RECORDS}/{last}?consistency=lease"),
            None,
            503,
        ),
        (
            Method::PUT,
            format!("{RECORDS}/{next}"),
            Some(json!({"n": next})),
            503,
        ),
        (Method::DELETE, format!("{RECORDS}/1"), None, 503),
    ];
    let data = c.node(victim).dir().display().to_string();
    for (method, path, body, status) in &requests {
        let (answer, took) = c.timed(victim, method.clone(), path, body.as_ref()).await;
        let reply = answer.unwrap_or_else(|e| panic!("{method} {path} on the poisoned node: {e}"));
        assert!(
            took <= bound,
            "{method} {path} on the poisoned node was answered after {took:?}; the contract's bound is {bound:?}"
        );
        assert_eq!(
            reply.status, *status,
            "{method} {path} on the poisoned node: {reply}"
        );
        if reply.status == 503 {
            assert_eq!(reply.code(), Some("unavailable"), "{reply}");
            let message = reply.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("restart") && !message.contains(&data),
                "{method} {path}: the 503 should say the node must be restarted, naming no file: {reply}"
            );
        }
    }
    let status = c.status(victim).await;
    assert!(
        status["leader_id"].is_null(),
        "the poisoned node names a leader: {status}"
    );

    // Healed and restarted, it rejoins and converges: no acknowledged write lost anywhere.
    c.heal_fsync(victim);
    c.restart(victim).await;
    c.set_member(victim, true);
    c.wait_for_leader().await;
    writes
        .acknowledged(&c, &[victim], 1, "after the restart")
        .await;
    c.assert_converged().await;
    for i in 0..3 {
        c.assert_holds(i, "d", &writes.acked).await;
    }
}

fn options() -> Options {
    Options {
        fail_fsync: true,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_fsync_fails_poisons_and_the_others_go_on() {
    let c = Cluster::start_with(3, options()).await;
    let leader = c.wait_for_leader().await;
    fail_the_disk_of(c, (leader + 1) % 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_fsync_fails_poisons_and_the_others_elect_a_new_one() {
    let c = Cluster::start_with(3, options()).await;
    let leader = c.wait_for_leader().await;
    fail_the_disk_of(c, leader).await;
}

/// The leader's log is poisoned by the timed fdatasync of `batch.sync = "interval"` after its
/// last write, and no write comes after: it must still stop leading (openraft only learns
/// of a storage failure from an append), so that the others elect a leader that can write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_poisoned_after_its_last_write_steps_down() {
    let mut c = Cluster::start_with(3, options()).await;
    let (leader, mut writes) = first_writes(&c).await;
    c.fail_fsync(leader);
    writes.one(&c, leader).await;
    let poisoned_within = wait_until(WAIT, async || {
        let reason = poisoned(&c, leader).await;
        (!reason.is_null()).then_some(())
    })
    .await;
    assert!(
        poisoned_within.is_some(),
        "the leader did not poison within {WAIT:?}"
    );
    c.set_member(leader, false);
    let new = c.wait_for_leader().await;
    assert_ne!(new, leader, "the poisoned node still leads");
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    writes
        .acknowledged(&c, &others, AFTER, "after the leader stepped down")
        .await;
}
