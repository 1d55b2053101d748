//! A leader whose log was poisoned between two appends steps down.
//!
//! openraft stops a node when its log storage fails, which it only learns from an append.
//! Under `batch.sync = "interval"` the fdatasync that fails is usually the writer's timed
//! one, not an append's: the log is poisoned (every later append fails), but a leader with
//! no write to propose would go on sending heartbeats and keep the cluster from electing a
//! node that can write. This task notices the poison and proposes an empty entry, whose
//! local append fails, so openraft stops the node with that storage error (docs/CLUSTER.md,
//! "A failed fdatasync"). A follower needs no such push: its next append fails the same way.

use std::time::Duration;

use nyro_core::Database;
use openraft::ServerState;

use crate::types::{Proposal, Raft};

/// How often the log's poison is checked (one atomic load each time).
const POLL: Duration = Duration::from_millis(50);

/// Runs until the node's Raft stops (on its own or by shutdown).
pub(crate) async fn watch(db: Database, raft: Raft) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if crate::stopped::stopped(&raft).is_some() {
            return;
        }
        let leads = raft.metrics().borrow().state == ServerState::Leader;
        if leads && let Some(reason) = db.poisoned() {
            tracing::error!(%reason, "the log is poisoned: this leader stops replicating");
            // No records, applied on top of nothing: void wherever it might be applied.
            let empty = Proposal {
                after: 0,
                records: Vec::new(),
                sync: true,
            };
            if let Err(e) = raft.client_write(empty).await {
                tracing::debug!(error = %crate::stopped::describe(&e), "the empty entry failed");
            }
        }
    }
}
