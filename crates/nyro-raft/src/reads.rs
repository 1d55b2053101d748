//! Read consistency (`?consistency=`): `local` reads this node's applied state; `linearizable`
//! first learns a read index (the leader's commit index, confirmed by a heartbeat round to a
//! quorum: openraft's `get_read_log_id`) and waits until this node has applied it; `lease`
//! lets the leader answer alone within the lease after its last confirmed round.
//!
//! Confirmations are batched: a read joins the next round that starts after it arrived
//! (never one already under way, which could miss a write acknowledged before the read
//! began), so any number of concurrent reads share one round.
//!
//! The lease is measured from when the last round this node confirmed as leader *started*
//! (the quorum's answers came later), on this process's monotonic clock (tokio's, the one
//! openraft's election timers run on: the same as std's unless a test pauses it), and a lease read
//! waits until that round's read index is applied: a process paused after its last round
//! wakes up with its lease expired. (It once came from openraft's metrics,
//! `millis_since_quorum_ack`, which is as old as the metrics' last report: a leader paused
//! with SIGSTOP woke up and answered a `lease` read from its stale state before its Raft
//! task ran again. The chaos harness of issue 16 caught the stale read.)

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::ServerState;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::stopped::{describe, stopped};
use crate::types::Raft;

/// How a read wants its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began, on any node.
    #[default]
    Linearizable,
    /// The leader answers alone while its lease holds; otherwise as `Linearizable`.
    Lease,
    /// This node's applied state, possibly stale, never partial.
    Local,
}

impl std::str::FromStr for Consistency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "linearizable" => Ok(Self::Linearizable),
            "lease" => Ok(Self::Lease),
            "local" => Ok(Self::Local),
            other => Err(format!(
                "consistency must be linearizable, lease or local, not {other:?}"
            )),
        }
    }
}

/// A call to a peer: its answer, or why none came.
pub type PeerCall<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What a node asks of its peers besides openraft's RPCs (`network::HttpNetworkFactory`
/// implements it).
pub trait Peers: Send + Sync + 'static {
    /// The read index (its confirmed commit index) of the leader at `addr`, for a
    /// follower's linearizable read.
    fn read_index<'a>(&'a self, addr: &'a str, timeout: Duration) -> PeerCall<'a, u64>;

    /// Whether the node at `addr` answers node-to-node calls made with this cluster's
    /// secret (before it is added as a member).
    fn probe<'a>(&'a self, addr: &'a str, timeout: Duration) -> PeerCall<'a, ()>;
}

/// Waiting reads, answered together by one confirmation round.
#[derive(Default)]
struct Waiting {
    reads: Mutex<Vec<oneshot::Sender<Result<u64, String>>>>,
    wake: Notify,
    /// When the last round this node confirmed as the leader started, and its read index.
    confirmed: Mutex<Option<(Instant, u64)>>,
}

impl Waiting {
    fn confirmed(&self) -> std::sync::MutexGuard<'_, Option<(Instant, u64)>> {
        self.confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The node's read barrier.
#[derive(Clone)]
pub struct ReadBarrier {
    raft: Raft,
    waiting: Arc<Waiting>,
    deadline: Duration,
    lease: Duration,
}

impl std::fmt::Debug for ReadBarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBarrier").finish_non_exhaustive()
    }
}

impl ReadBarrier {
    /// A barrier over `raft`, whose confirmation rounds run on a task of their own.
    /// `deadline` bounds a read's wait; `lease` is how long after a quorum's last answer
    /// the leader may answer a `lease` read alone.
    pub fn spawn(raft: Raft, peers: Arc<dyn Peers>, deadline: Duration, lease: Duration) -> Self {
        let waiting = Arc::new(Waiting::default());
        tokio::spawn(rounds(raft.clone(), Arc::clone(&waiting), peers, deadline));
        Self {
            raft,
            waiting,
            deadline,
            lease,
        }
    }

    /// Returns once a read at `consistency` may be answered from this node's state.
    pub async fn wait(&self, consistency: Consistency) -> Result<(), String> {
        if consistency == Consistency::Local {
            return Ok(());
        }
        // A stopped node's last metrics name a leader it no longer hears from.
        if let Some(why) = stopped(&self.raft) {
            return Err(why.to_string());
        }
        if consistency == Consistency::Lease
            && let Some(read_index) = self.lease_read_index()
        {
            return self.applied(read_index).await;
        }
        let (tx, rx) = oneshot::channel();
        self.waiting
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tx);
        self.waiting.wake.notify_one();
        let read_index = match tokio::time::timeout(self.deadline, rx).await {
            Ok(Ok(answer)) => answer?,
            Ok(Err(_)) => return Err("the node is shutting down".to_string()),
            Err(_) => return Err(self.timed_out()),
        };
        self.applied(read_index).await
    }

    /// Returns once this node has applied `read_index`.
    async fn applied(&self, read_index: u64) -> Result<(), String> {
        self.raft
            .wait(Some(self.deadline))
            .applied_index_at_least(Some(read_index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|_| self.timed_out())
    }

    fn timed_out(&self) -> String {
        format!(
            "no quorum confirmed the read within {} ms (an election is under way or the \
             quorum is lost); retry, or read with consistency=local",
            self.deadline.as_millis()
        )
    }

    /// The read index of this node's last confirmed round as leader, if it still leads
    /// and that round started within the lease.
    fn lease_read_index(&self) -> Option<u64> {
        if self.raft.metrics().borrow().state != ServerState::Leader {
            return None;
        }
        let (started, read_index) = (*self.waiting.confirmed())?;
        (started.elapsed() < self.lease).then_some(read_index)
    }
}

/// Runs confirmation rounds while reads wait: each round answers the reads that arrived
/// before it started.
async fn rounds(raft: Raft, waiting: Arc<Waiting>, peers: Arc<dyn Peers>, deadline: Duration) {
    loop {
        waiting.wake.notified().await;
        let reads = std::mem::take(
            &mut *waiting
                .reads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if reads.is_empty() {
            continue;
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(deadline, read_index(&raft, &*peers, deadline))
            .await
            .unwrap_or_else(|_| Err("no quorum confirmed the read in time; retry".to_string()));
        // Rounds run one after another: this one is the latest.
        if let Ok(Confirmed::AsLeader(index)) = answer {
            *waiting.confirmed() = Some((started, index));
        }
        let answer = answer.map(Confirmed::index);
        for read in reads {
            let _ = read.send(answer.clone());
        }
    }
}

/// A read index, and who confirmed it.
#[derive(Clone, Copy)]
enum Confirmed {
    /// This node, as the leader, with a quorum.
    AsLeader(u64),
    /// The leader, asked by this node.
    ByLeader(u64),
}

impl Confirmed {
    fn index(self) -> u64 {
        match self {
            Confirmed::AsLeader(index) | Confirmed::ByLeader(index) => index,
        }
    }
}

/// One confirmation round: this node's read index if it leads, else the leader's.
async fn read_index(
    raft: &Raft,
    peers: &dyn Peers,
    timeout: Duration,
) -> Result<Confirmed, String> {
    let metrics = raft.metrics().borrow().clone();
    if metrics.state == ServerState::Leader {
        return match raft.get_read_log_id().await {
            Ok((read, _applied)) => Ok(Confirmed::AsLeader(read.map_or(0, |l| l.index))),
            Err(e) => Err(format!(
                "this node could not confirm it leads: {}; retry",
                describe(&e)
            )),
        };
    }
    let leader = metrics.current_leader.map(|id| {
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone());
        (id, addr)
    });
    match leader {
        Some((_, Some(addr))) => peers
            .read_index(&addr, timeout)
            .await
            .map(Confirmed::ByLeader),
        Some((id, None)) => Err(format!(
            "the leader (node {id}) has no known address; retry"
        )),
        None => Err(
            "no leader is known (an election is under way or the quorum is lost); retry, or \
             read with consistency=local"
                .to_string(),
        ),
    }
}
