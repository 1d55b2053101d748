//! The cluster tests of issue 15's "Must work" list, written against contract section 7.
//! Run them with `cargo test -p nyro-cli --test it cluster::scenarios`.
//!
//! Every test starts its own cluster (3 nodes, heartbeat 50 ms, election timeout 500 ms)
//! and runs on a multi-threaded runtime. Assumptions beyond the contract's text are named
//! where they are made: `addr` is `host:port` as in `bootstrap`; a refused `consistency`
//! value is `bad_request`; `nyrodb cluster` takes `--url` after its arguments.

mod bootstrap;
mod disk;
mod failover;
mod feed;
mod indexes;
mod lease;
mod membership;
mod quorum;
mod secret;
mod snapshot;
mod writes;

use serde_json::{Value, json};

use super::{Cluster, WAIT, wait_until};

/// The members a `GET /v1/cluster` answer lists, as (id, role), sorted by id.
fn members(status: &Value) -> Vec<(u64, String)> {
    let list = status["members"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /v1/cluster: no members array in {status}"));
    let mut members: Vec<(u64, String)> = list
        .iter()
        .map(|m| {
            let id = m["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("a member without an id in {status}"));
            (id, m["role"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    members.sort();
    members
}

/// Whether a `GET /v1/cluster` answer lists exactly the voters `ids`, one of them the
/// leader (the one `leader_id` names) and the others followers.
pub(super) fn lists_voters(status: &Value, ids: &[u64]) -> bool {
    let members = members(status);
    let leader = status["leader_id"].as_u64();
    leader.is_some_and(|leader| ids.contains(&leader))
        && members.iter().map(|(id, _)| *id).eq(ids.iter().copied())
        && members.iter().all(|(id, role)| {
            role == if Some(*id) == leader {
                "leader"
            } else {
                "follower"
            }
        })
}

/// Polls until every running member's `GET /v1/cluster` lists exactly the voters `ids`
/// (ids ascending) with their roles; panics after [`WAIT`] with the last answers.
async fn wait_for_voters(c: &Cluster, ids: &[u64]) {
    let mut answers = Vec::new();
    let listed = wait_until(WAIT, async || {
        answers.clear();
        let mut all = true;
        for i in c.running_members() {
            let reply = c.get(i, "/v1/cluster").await;
            all &= reply.status == 200 && lists_voters(&reply.body, ids);
            answers.push(format!("node {}: {reply}", c.node(i).id()));
        }
        all.then_some(())
    })
    .await;
    assert!(
        listed.is_some(),
        "the running members did not all list the voters {ids:?} within {WAIT:?}:\n{}",
        answers.join("\n")
    );
}

/// The `_id`s of a list or query answer's `records`, in order.
fn ids_of(page: &Value) -> Vec<u64> {
    page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records array in {page}"))
        .iter()
        .map(|r| r["_id"].as_u64().unwrap_or_else(|| panic!("no _id in {r}")))
        .collect()
}

/// Writes about 2.4 MB through node `i` (in 1 MB segments when `storage.segment_size_mb = 1`),
/// drops half of it and compacts node `i`: its oldest changes are gone from its log. Returns
/// the compaction's summary.
pub(super) async fn write_drop_and_compact(c: &Cluster, i: usize) -> Value {
    let pad = "x".repeat(1000);
    for collection in ["scratch", "keep"] {
        for chunk in 0..3 {
            let docs: Vec<Value> = (0..400)
                .map(|n| json!({"chunk": chunk, "n": n, "pad": pad}))
                .collect();
            let path = format!("/v1/collections/{collection}/records/_bulk");
            c.post(i, &path, Value::from(docs))
                .await
                .expect(201, "bulk");
        }
    }
    c.delete(i, "/v1/collections/scratch")
        .await
        .expect(204, "drop");
    c.post(i, "/v1/_compact", Value::Null)
        .await
        .expect(200, "compact")
}
