//! A 3-node cluster (in-memory storage) over the HTTP transport on loopback: it elects a
//! leader, replicates client writes, and brings a far-behind node up to date with a
//! chunked snapshot, one chunk of which is damaged in flight, refused and sent again.

use std::sync::atomic::Ordering;

use nyro_core::replica::WriteRecord;
use nyro_raft::network::{APPEND_PATH, SNAPSHOT_PATH, VOTE_PATH};
use nyro_raft::{NodeId, Proposal};

use crate::support::{CHUNK, Cluster, eventually, wait_metrics};

/// A proposal whose record carries `size` bytes.
fn proposal(i: u64, size: usize) -> Proposal {
    Proposal {
        after: i.saturating_sub(1),
        records: vec![WriteRecord {
            kind: 1,
            collection: 1,
            id: i,
            seq: i,
            payload: vec![(i % 251) as u8; size],
        }],
        sync: false,
    }
}

/// Writes proposals `from..to` through `leader`; the log index of the last.
async fn write(cluster: &Cluster, leader: NodeId, from: u64, to: u64, size: usize) -> u64 {
    let mut last = 0;
    for i in from..to {
        let written = cluster
            .node(leader)
            .raft
            .client_write(proposal(i, size))
            .await
            .unwrap();
        assert!(written.data.accepted);
        last = written.log_id.index;
    }
    last
}

/// Every node has applied `index` and holds the same state.
async fn assert_converged(cluster: &Cluster, index: u64) {
    for node in &cluster.nodes {
        cluster.wait_applied(node.id, index).await;
    }
    let first = cluster.nodes[0].state_machine.state();
    for node in &cluster.nodes[1..] {
        assert_eq!(
            node.state_machine.state(),
            first,
            "node {} differs from node 1",
            node.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_leader_and_replicate_over_http() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;

    let last = write(&cluster, leader, 1, 21, 64).await;
    assert_converged(&cluster, last).await;
    let state = cluster.node(leader).state_machine.state();
    assert_eq!(state.proposals.len(), 20);
    assert_eq!(
        state.proposals.values().next_back(),
        Some(&proposal(20, 64))
    );

    // Every RPC went through the HTTP routes: votes to elect, appends to replicate.
    for node in &cluster.nodes {
        if node.id != leader {
            assert!(node.proxy.control.saw(APPEND_PATH), "node {}", node.id);
        }
    }
    assert!(cluster.nodes.iter().any(|n| n.proxy.control.saw(VOTE_PATH)));
    cluster.shutdown().await;
}

/// Cuts a follower of `leader` off (it must not start elections meanwhile); its id.
fn cut_off_a_follower(cluster: &Cluster, leader: NodeId) -> NodeId {
    let behind = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .unwrap();
    let node = cluster.node(behind);
    node.raft.runtime_config().elect(false);
    node.proxy.control.down.store(true, Ordering::SeqCst);
    behind
}

/// Reconnects a follower cut off by [`cut_off_a_follower`] and waits until it has applied
/// `last`.
async fn reconnect(cluster: &Cluster, behind: NodeId, last: u64) {
    let node = cluster.node(behind);
    node.proxy.control.down.store(false, Ordering::SeqCst);
    cluster.wait_applied(behind, last).await;
    node.raft.runtime_config().elect(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_over_the_body_limit_are_refused_and_sent_in_smaller_batches() {
    // Room for a few entries of 1000 bytes per request, not for the 40 a lagging
    // follower needs.
    let cluster = Cluster::start_with(3, 8 * 1024).await;
    let leader = cluster.leader().await;
    let behind = cut_off_a_follower(&cluster, leader);
    let last = write(&cluster, leader, 1, 41, 1000).await;
    reconnect(&cluster, behind, last).await;
    assert_converged(&cluster, last).await;
    // Refused whole, then taken in smaller batches.
    let control = &cluster.node(behind).proxy.control;
    eventually("an append is taken after one is refused with 413", || {
        let statuses = control.statuses(APPEND_PATH);
        statuses
            .iter()
            .position(|s| *s == 413)
            .is_some_and(|refused| statuses[refused..].contains(&200))
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_behind_node_catches_up_by_snapshot_and_a_damaged_chunk_is_sent_again() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let last = write(&cluster, leader, 1, 6, 64).await;
    assert_converged(&cluster, last).await;

    // Cut one follower off, and write on.
    let behind = cut_off_a_follower(&cluster, leader);
    let behind_node = cluster.node(behind);
    let last = write(&cluster, leader, 6, 206, 100).await;

    // The leader compacts its log: what the follower needs is only in the snapshot now.
    let leader_raft = &cluster.node(leader).raft;
    leader_raft.trigger().snapshot().await.unwrap();
    wait_metrics(leader_raft, "the leader builds a snapshot", |m| {
        m.snapshot.is_some_and(|s| s.index == last)
    })
    .await;
    leader_raft.trigger().purge_log(last).await.unwrap();
    wait_metrics(leader_raft, "the leader purges its log", |m| {
        m.purged.is_some_and(|p| p.index == last)
    })
    .await;

    // Reconnect it, damaging one chunk of the snapshot on the way.
    behind_node
        .proxy
        .control
        .damage_next_chunk
        .store(true, Ordering::SeqCst);
    reconnect(&cluster, behind, last).await;
    assert_converged(&cluster, last).await;
    assert_eq!(behind_node.state_machine.installed(), 1);

    // The node installs the snapshot before it answers the last chunk.
    let control = &behind_node.proxy.control;
    eventually("the proxy passes the last chunk's answer on", || {
        control.chunks().last().is_some_and(|c| c.done)
    })
    .await;
    let chunks = control.chunks();
    assert!(
        chunks.len() >= 3,
        "the snapshot came in several chunks: {chunks:?}"
    );
    assert!(chunks.iter().all(|c| c.len as u64 <= CHUNK));
    assert!(
        chunks.last().is_some_and(|c| c.done && c.status == 200),
        "{chunks:?}"
    );
    let damaged: Vec<usize> = (0..chunks.len()).filter(|i| chunks[*i].damaged).collect();
    assert_eq!(damaged.len(), 1, "{chunks:?}");
    let damaged = &chunks[damaged[0]];
    assert_eq!(
        damaged.status, 400,
        "a damaged chunk is refused: {chunks:?}"
    );
    // The same chunk was sent again and taken.
    assert!(
        chunks
            .iter()
            .any(|c| !c.damaged && c.offset == damaged.offset && c.status == 200),
        "{chunks:?}"
    );
    assert!(behind_node.proxy.control.saw(SNAPSHOT_PATH));
    cluster.shutdown().await;
}
