//! [`Node`]: a running cluster node. It opens the database as a replica, starts openraft
//! over it, bootstraps the cluster from `bootstrap` when its data directory is empty, runs
//! the leader's proposer and the read barrier, and answers the cluster's status and
//! membership calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use nyro_core::replica::QueuedWrites;
use nyro_core::{Config, Database, OpenOptions};
use nyro_storage::RaftStateStore;
use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, ChangeMembers, Membership, ServerState};
use serde::Serialize;

use crate::convert::entry_log_id;
use crate::error::ClusterError;
use crate::log_store::{LogIndex, LogStore, Persisted, SharedIndex};
use crate::reads::{Consistency, Peers, ReadBarrier};
use crate::snapshot::Snapshots;
use crate::state_machine::StateMachine;
use crate::types::{LogId, NodeId, Raft, StoredMembership, TypeConfig};
use crate::uncovered_purge::UncoveredPurge;

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// This node's id (1 or more).
    pub id: NodeId,
    /// Where other nodes and clients reach this node.
    pub advertise: String,
    /// The initial voters (id and address), used only when the data directory is empty.
    pub bootstrap: Vec<(NodeId, String)>,
    /// The leader's heartbeat interval.
    pub heartbeat: Duration,
    /// The election timeout (randomized between this and twice this).
    pub election_timeout: Duration,
    /// A snapshot is taken after this many entries since the last one; the log up to
    /// half as many entries before it is then purged (`cluster.snapshot_every`).
    pub snapshot_every: u64,
}

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Leads the current term.
    Leader,
    /// A voter that does not lead.
    Follower,
    /// Receives the log but does not vote.
    Learner,
}

/// One member as `GET /v1/cluster` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    /// Its node id.
    pub id: NodeId,
    /// Where it is reached.
    pub addr: String,
    /// Its role.
    pub role: Role,
    /// The last log index the leader knows it holds (known on the leader only).
    pub match_index: Option<u64>,
}

/// What `GET /v1/cluster` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// This node's id.
    pub node_id: NodeId,
    /// The leader this node knows of; `None` while none is.
    pub leader_id: Option<NodeId>,
    /// This node's current term.
    pub term: u64,
    /// The highest log index known to be committed.
    pub commit_index: u64,
    /// The highest log index applied here (never above `commit_index`).
    pub applied_index: u64,
    /// Every member, voters and learners, by id.
    pub members: Vec<MemberStatus>,
}

/// A running cluster node.
#[derive(Clone)]
pub struct Node {
    id: NodeId,
    raft: Raft,
    db: Database,
    reads: ReadBarrier,
    index: SharedIndex,
    deadline: Duration,
    peers: Arc<dyn Peers>,
    /// The proposer's task: it holds a handle on the database, and its queue never
    /// closes while one does, so [`Node::shutdown`] ends it.
    proposer: tokio::task::AbortHandle,
    /// The task that makes a leader with a poisoned log stop (`poisoned_log`); ended by
    /// [`Node::shutdown`] for the same reason.
    poison_watch: tokio::task::AbortHandle,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn decode_state(bytes: Option<Vec<u8>>) -> Result<Persisted, String> {
    match bytes {
        Some(bytes) => nyro_storage::codec::decode(&bytes).map_err(|e| e.to_string()),
        None => Ok(Persisted::default()),
    }
}

/// A node's storage, opened: the database as a replica, and openraft's log storage and
/// state machine over it (Raft not started).
pub(crate) struct Storage {
    pub(crate) db: Database,
    pub(crate) log_store: LogStore,
    pub(crate) state_machine: StateMachine,
    pub(crate) index: SharedIndex,
    /// Nothing in the data directory yet (no entry, no vote): the node may bootstrap.
    pub(crate) empty: bool,
    /// Where the database's writes wait for the leader's proposer.
    pub(crate) writes: QueuedWrites,
}

/// Opens the storage of the node `config` describes: its Raft state files, then the
/// database as a replica, replaying up to the saved commit index.
pub(crate) async fn open_storage(
    config: &Config,
    open: OpenOptions,
) -> Result<Storage, ClusterError> {
    let dir = config.storage.path.clone();
    let state_error = |source| ClusterError::State {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        state_error(nyro_storage::StorageError::Io {
            op: "create the data directory",
            path: dir.clone(),
            source: e,
        })
    })?;
    let files = Arc::new(RaftStateStore::new(dir.clone(), Arc::clone(&open.io)));
    let persisted = decode_state(files.load_state().map_err(state_error)?)
        .map_err(|e| ClusterError::Start(format!("raft-state in {}: {e}", dir.display())))?;
    let committed: Option<LogId> = files
        .load_committed()
        .and_then(|bytes| nyro_storage::codec::decode(&bytes).ok())
        .flatten();
    let snapshots = Snapshots::new(&dir);
    let latest_snapshot = snapshots
        .latest_log_id()
        .map_err(|e| ClusterError::Start(format!("the snapshots in {}: {e}", dir.display())))?;
    let mut persisted = persisted;
    // Opened with the purge the latest snapshot covers (more entries retained), then
    // purged further if the purge stands (see `UncoveredPurge`).
    let installing = latest_snapshot.is_some() || snapshots.is_receiving();
    let opened_purged = if installing {
        persisted.purged.min(latest_snapshot)
    } else {
        persisted.purged
    };
    let (db, mut opened) = Database::open_replica(
        config,
        open,
        committed.map(|l| l.index),
        opened_purged.map(|l| l.index),
    )
    .await?;
    let applied = opened.last_applied.map(entry_log_id);
    match UncoveredPurge::decide(persisted.purged, latest_snapshot, applied, installing) {
        UncoveredPurge::Covered => {}
        UncoveredPurge::DropStaleSnapshots => {
            tracing::warn!(
                purged = ?persisted.purged.map(|l| l.index),
                snapshot = ?latest_snapshot.map(|l| l.index),
                "the log was purged past the latest snapshot file, which a restart cut short; \
                 the state is past the purge: a new snapshot is built from it"
            );
            snapshots.remove_all();
            if let Some(purged) = persisted.purged {
                opened.entries = opened.entries.split_off(&(purged.index + 1));
                db.set_purged(purged.index)?;
            }
        }
        UncoveredPurge::PurgeUpTo(snapshot) => {
            tracing::warn!(
                purged = ?persisted.purged.map(|l| l.index),
                snapshot = ?snapshot.map(|l| l.index),
                "the log was purged past the latest snapshot, whose installation a restart \
                 cut short; the log after the snapshot is kept"
            );
            persisted.purged = snapshot;
        }
    }
    let purged = persisted.purged;
    let membership = match opened.membership {
        Some((id, bytes)) => {
            let membership: Membership<NodeId, BasicNode> = nyro_storage::codec::decode(&bytes)
                .map_err(|e| {
                    ClusterError::Start(format!("a membership entry does not decode: {e}"))
                })?;
            StoredMembership::new(Some(entry_log_id(id)), membership)
        }
        None => StoredMembership::default(),
    };
    let empty = opened.entries.is_empty() && persisted.vote.is_none() && applied.is_none();
    let mut log_index = LogIndex {
        entries: opened.entries,
        purged,
        committed: None,
    };
    log_index.committed = log_index.within_log(committed).max(applied);
    let index = SharedIndex::new(log_index);
    let log_store = LogStore::new(db.clone(), index.clone(), files, persisted);
    let state_machine =
        StateMachine::new(db.clone(), index.clone(), applied, membership, snapshots);
    Ok(Storage {
        db,
        log_store,
        state_machine,
        index,
        empty,
        writes: opened.writes,
    })
}

impl Node {
    /// Opens the database `config` describes as a cluster node and starts Raft on it.
    pub async fn start<N>(
        config: &Config,
        open: OpenOptions,
        options: NodeOptions,
        network: N,
        peers: Arc<dyn Peers>,
    ) -> Result<Self, ClusterError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        let Storage {
            db,
            log_store,
            state_machine,
            index,
            empty,
            writes,
        } = open_storage(config, open).await?;
        let raft_config = openraft::Config {
            cluster_name: "nyrodb".to_string(),
            heartbeat_interval: millis(options.heartbeat),
            election_timeout_min: millis(options.election_timeout),
            election_timeout_max: millis(options.election_timeout) * 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(options.snapshot_every),
            // The last chunk's RPC answers once the follower has checked the whole snapshot,
            // appended it and rebuilt its indexes: seconds for a large one, not 200 ms.
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            max_in_snapshot_log_to_keep: options.snapshot_every / 2,
            ..Default::default()
        };
        let raft_config = Arc::new(
            raft_config
                .validate()
                .map_err(|e| ClusterError::Start(e.to_string()))?,
        );
        let raft = Raft::new(options.id, raft_config, network, log_store, state_machine)
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        if empty && options.bootstrap.iter().any(|(id, _)| *id == options.id) {
            let members: BTreeMap<NodeId, BasicNode> = options
                .bootstrap
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            // Every bootstrap member initializes with the same membership; the ones that
            // learn of it from another first are told they are initialized already.
            if let Err(e) = raft.initialize(members).await {
                tracing::info!(error = %e, "not bootstrapping: the cluster exists already");
            }
        }
        let deadline = options.election_timeout * 2;
        let proposer = tokio::spawn(crate::proposer::run(
            db.clone(),
            raft.clone(),
            writes,
            deadline,
        ))
        .abort_handle();
        let poison_watch =
            tokio::spawn(crate::poisoned_log::watch(db.clone(), raft.clone())).abort_handle();
        tokio::spawn(create_configured(db.clone(), raft.clone(), config.clone()));
        let lease = options.election_timeout.mul_f64(0.8);
        let reads = ReadBarrier::spawn(raft.clone(), Arc::clone(&peers), deadline, lease);
        tracing::info!(node = options.id, advertise = %options.advertise, "cluster node started");
        Ok(Self {
            id: options.id,
            raft,
            db,
            reads,
            index,
            deadline,
            peers,
            proposer,
            poison_watch,
        })
    }

    /// The database (reads; writes are proposed through it).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// openraft's handle (for the node-to-node routes).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How long a request may wait for the cluster before it gets 503 `unavailable`.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Why this node serves local reads only: `Some` once its Raft stopped (on a storage
    /// error such as a failed fdatasync: it must be restarted), a message for clients.
    pub fn stopped(&self) -> Option<&'static str> {
        crate::stopped::stopped(&self.raft)
    }

    /// The leader, if one is known: its id and address. `None` while an election runs, and
    /// once this node's Raft stopped (its last metrics may name itself).
    pub fn leader(&self) -> Option<(NodeId, String)> {
        if self.stopped().is_some() {
            return None;
        }
        let leader = self.raft.metrics().borrow().current_leader?;
        Some((leader, self.member_addr(leader)?))
    }

    /// The membership as this node knows it now.
    fn membership(&self) -> Membership<NodeId, BasicNode> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone()
    }

    /// The address of member `id`, if it is one.
    pub fn member_addr(&self, id: NodeId) -> Option<String> {
        self.membership().get_node(&id).map(|n| n.addr.clone())
    }

    /// Whether this node is the leader now (never once its Raft stopped).
    pub fn is_leader(&self) -> bool {
        self.stopped().is_none() && self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Returns once a read at `consistency` may be answered from this node.
    pub async fn read_barrier(&self, consistency: Consistency) -> Result<(), ClusterError> {
        self.reads
            .wait(consistency)
            .await
            .map_err(ClusterError::Unavailable)
    }

    /// The leader's read index for a follower's linearizable read (called on the leader).
    pub async fn read_index(&self) -> Result<u64, ClusterError> {
        match tokio::time::timeout(self.deadline, self.raft.get_read_log_id()).await {
            Ok(Ok((read, _))) => Ok(read.map_or(0, |l| l.index)),
            Ok(Err(e)) => Err(ClusterError::Unavailable(format!(
                "this node cannot serve a read index: {}",
                crate::stopped::describe(&e)
            ))),
            Err(_) => Err(ClusterError::Unavailable(
                "no quorum confirmed the read index in time".to_string(),
            )),
        }
    }

    /// What `GET /v1/cluster` answers. A node whose Raft stopped names no leader (its last
    /// metrics are frozen).
    pub fn status(&self) -> ClusterStatus {
        let mut metrics = self.raft.metrics().borrow().clone();
        if self.stopped().is_some() {
            metrics.current_leader = None;
            metrics.state = ServerState::Shutdown;
        }
        let applied_index = metrics.last_applied.map_or(0, |l| l.index);
        let committed = self.index.lock().committed.map_or(0, |l| l.index);
        let matched = metrics.replication.clone().unwrap_or_default();
        let membership = metrics.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(&id, node)| MemberStatus {
                id,
                addr: node.addr.clone(),
                role: if Some(id) == metrics.current_leader && voters.contains(&id) {
                    Role::Leader
                } else if voters.contains(&id) {
                    Role::Follower
                } else {
                    Role::Learner
                },
                match_index: match metrics.state {
                    ServerState::Leader if id == self.id => metrics.last_log_index,
                    ServerState::Leader => matched.get(&id).copied().flatten().map(|l| l.index),
                    _ => None,
                },
            })
            .collect();
        ClusterStatus {
            node_id: self.id,
            leader_id: metrics.current_leader,
            term: metrics.current_term,
            commit_index: committed.max(applied_index),
            applied_index,
            members,
        }
    }

    /// Adds node `id` at `addr`: as a learner, then, once it has caught up with the log, as
    /// a voter; returns once that change is committed. A node that does not answer
    /// node-to-node calls made with this cluster's secret (not running, unreachable,
    /// another secret) is not added (contract: a node with the wrong secret never becomes a
    /// member). One that answers but has not caught up within the request's time (far
    /// behind, a large snapshot to receive) stays a learner, still catching up, and the
    /// call answers `Unavailable`: a retry makes it a voter once it has. Call on the leader.
    pub async fn add_member(&self, id: NodeId, addr: &str) -> Result<ClusterStatus, ClusterError> {
        let unavailable = |e: String| ClusterError::Unavailable(e);
        let membership = self.membership();
        match membership.get_node(&id) {
            Some(node) if node.addr != addr => {
                return Err(ClusterError::BadRequest(format!(
                    "node {id} is a member already, at {}; remove it first to move it",
                    node.addr
                )));
            }
            Some(_) if membership.voter_ids().any(|v| v == id) => return Ok(self.status()),
            Some(_) => {}
            None => {
                self.peers
                    .probe(addr, self.deadline)
                    .await
                    .map_err(|reason| {
                        unavailable(format!(
                            "node {id} at {addr} does not answer node-to-node calls made with this \
                         cluster's secret ({reason}); it was not added: start it with the \
                         cluster's secret (cluster.secret) and an empty bootstrap list, then retry"
                        ))
                    })?;
                self.raft
                    .add_learner(id, BasicNode::new(addr), false)
                    .await
                    .map_err(|e| {
                        unavailable(format!("adding node {id} as a learner failed: {e}"))
                    })?;
            }
        }
        let target = self.raft.metrics().borrow().last_log_index;
        let matched = |m: &openraft::RaftMetrics<NodeId, BasicNode>| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten())
                .map(|l| l.index)
        };
        let caught_up = self
            .raft
            .wait(Some(self.deadline + CATCH_UP_GRACE))
            .metrics(|m| matched(m) >= target, "the learner caught up")
            .await;
        if caught_up.is_err() {
            let now = matched(&self.raft.metrics().borrow());
            return Err(unavailable(format!(
                "node {id} at {addr} is a learner still catching up (it holds the log up to \
                 {}, the leader's goes to {}); retry the add to make it a voter once it has",
                now.map_or("nothing".to_string(), |i| i.to_string()),
                target.map_or("nothing".to_string(), |i| i.to_string()),
            )));
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(|e| unavailable(format!("making node {id} a voter failed: {e}")))?;
        Ok(self.status())
    }

    /// Removes node `id` (voter or learner). Returns once the change is committed. Call on
    /// the leader; removing the leader itself commits the change, after which it steps down.
    pub async fn remove_member(&self, id: NodeId) -> Result<ClusterStatus, ClusterError> {
        let membership = self.membership();
        if membership.get_node(&id).is_none() {
            return Err(ClusterError::NotFound(format!("node {id} is not a member")));
        }
        let ids = BTreeSet::from([id]);
        // A voter goes with its node entry in one change (`retain` false); a learner is
        // only a node entry.
        let change = if membership.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(|e| ClusterError::Unavailable(format!("removing node {id} failed: {e}")))?;
        Ok(self.status())
    }

    /// Stops Raft and the proposer (its queued writes fail) and closes the database. The
    /// data directory is unlocked once the last clone of this node is dropped.
    pub async fn shutdown(self) -> Result<(), ClusterError> {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft did not stop cleanly");
        }
        self.proposer.abort();
        self.poison_watch.abort();
        self.db.close().await?;
        Ok(())
    }
}

/// How long one snapshot chunk may take to be sent and, for the last, installed.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 60_000;

/// How much longer than a request's deadline an add waits for the new node to catch up
/// (contract: any request is answered within 2 x election_timeout_ms plus a few seconds).
const CATCH_UP_GRACE: Duration = Duration::from_secs(3);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Creates the configured collections that are missing, each time this node becomes the
/// leader (a cluster's catalog changes only through the log).
async fn create_configured(db: Database, raft: Raft, config: Config) {
    if config.collections.is_empty() {
        return;
    }
    let mut metrics = raft.metrics();
    let mut led_in_term = None;
    loop {
        let (state, term) = {
            let m = metrics.borrow_and_update();
            (m.state, m.current_term)
        };
        if state == ServerState::Leader && led_in_term != Some(term) {
            led_in_term = Some(term);
            for c in &config.collections {
                if let Err(e) = db.create_collection(&c.name, &c.indexes).await {
                    tracing::warn!(collection = %c.name, error = %e,
                        "cannot create a configured collection");
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Parses `?consistency=` (absent: linearizable).
pub fn parse_consistency(value: Option<&str>) -> Result<Consistency, String> {
    value.map_or(Ok(Consistency::default()), str::parse)
}
