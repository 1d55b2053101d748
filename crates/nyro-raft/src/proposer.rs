//! The leader's proposer: takes the database's queued writes in batches, prepares each
//! batch against the applied state once every entry of the leader's log is applied (so the
//! batch is prepared against exactly the state its entry will be applied to), proposes it as
//! one Raft entry and answers its writes when the entry is applied. Many concurrent writes
//! share one entry (group commit); openraft pipelines the entries to the followers.

use std::time::Duration;

use nyro_core::Database;
use nyro_core::replica::QueuedWrites;
use openraft::ServerState;

use crate::types::{Proposal, Raft};

/// Most writes in one entry.
const MOST_WRITES: usize = 10_000;

/// Payload bytes past which a proposal takes no more writes (the rest wait for the next
/// entry), besides the last write's own size.
const ENTRY_BYTES: usize = 8 << 20;

/// The largest entry the proposer makes, for writes of at most `max_body_bytes` each: what
/// a node-to-node body must be able to hold.
pub fn entry_budget(max_body_bytes: usize) -> usize {
    ENTRY_BYTES.saturating_add(max_body_bytes)
}

/// Runs until the database's queue closes. `deadline` bounds how long a write may wait for
/// a leader, for the log to be applied, and for its entry to be applied (contract: 503
/// `unavailable` within 2 x election_timeout_ms, never a hang).
pub(crate) async fn run(db: Database, raft: Raft, mut writes: QueuedWrites, deadline: Duration) {
    let mut left = None;
    loop {
        let batch = match left.take() {
            Some(batch) => batch,
            None => match writes.next(MOST_WRITES).await {
                Some(batch) => batch,
                None => return,
            },
        };
        let started = tokio::time::Instant::now();
        if let Err(cause) = ready(&raft, deadline).await {
            batch.fail(&cause);
            continue;
        }
        let mut proposal = match db.prepare_proposal(batch, ENTRY_BYTES) {
            Ok((Some(proposal), rest)) => {
                left = rest;
                proposal
            }
            Ok((None, rest)) => {
                left = rest; // everything else was answered already
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot prepare a proposal");
                continue;
            }
        };
        let entry = Proposal {
            after: proposal.after,
            records: std::mem::take(&mut proposal.records),
            sync: proposal.sync,
        };
        let left = deadline.saturating_sub(started.elapsed());
        let outcome = match tokio::time::timeout(left, raft.client_write(entry)).await {
            Ok(Ok(response)) => Ok(response.data.accepted),
            Ok(Err(e)) => Err(format!(
                "the write could not be committed ({}); it may or may not be applied: retry it \
                 with its _id or as a PUT",
                crate::stopped::describe(&e)
            )),
            Err(_) => Err(format!(
                "no quorum confirmed the write within {} ms; it may or may not be applied: \
                 retry it with its _id or as a PUT",
                deadline.as_millis()
            )),
        };
        proposal.answer(outcome);
    }
}

/// Waits until this node leads and has applied every entry of its log. Err says why not.
async fn ready(raft: &Raft, deadline: Duration) -> Result<(), String> {
    if let Some(why) = crate::stopped::stopped(raft) {
        return Err(why.to_string());
    }
    let waited = raft
        .wait(Some(deadline))
        .metrics(
            |m| {
                m.state != ServerState::Leader
                    || m.last_applied.map(|l| l.index) == m.last_log_index
            },
            "the leader's log is applied",
        )
        .await;
    let metrics = match waited {
        Ok(metrics) => metrics,
        Err(_) => {
            return Err(format!(
                "the leader could not apply its log within {} ms; retry",
                deadline.as_millis()
            ));
        }
    };
    if metrics.state != ServerState::Leader {
        return Err(match metrics.current_leader {
            Some(leader) => format!("this node is not the leader (node {leader} is); retry there"),
            None => "no leader is known (an election is under way or the quorum is lost); retry"
                .to_string(),
        });
    }
    Ok(())
}
