//! [`RaftFigures`]: a node's Raft figures for monitoring (`/metrics`), read from openraft's
//! metrics and the node's status in one call, as plain values.

use std::collections::BTreeMap;

use openraft::ServerState;

use crate::node::Node;
use crate::types::NodeId;

/// The Raft state a node is in (openraft's `ServerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaftState {
    /// Leads the current term.
    Leader,
    /// Asks for votes.
    Candidate,
    /// A voter that follows a leader (or waits for one).
    Follower,
    /// Receives the log, does not vote.
    Learner,
    /// Stopped.
    Shutdown,
}

impl RaftState {
    /// Every state, in a fixed order.
    pub const ALL: [RaftState; 5] = [
        RaftState::Leader,
        RaftState::Candidate,
        RaftState::Follower,
        RaftState::Learner,
        RaftState::Shutdown,
    ];

    /// Its name, in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            RaftState::Leader => "leader",
            RaftState::Candidate => "candidate",
            RaftState::Follower => "follower",
            RaftState::Learner => "learner",
            RaftState::Shutdown => "shutdown",
        }
    }
}

impl From<ServerState> for RaftState {
    fn from(state: ServerState) -> Self {
        match state {
            ServerState::Leader => RaftState::Leader,
            ServerState::Candidate => RaftState::Candidate,
            ServerState::Follower => RaftState::Follower,
            ServerState::Learner => RaftState::Learner,
            ServerState::Shutdown => RaftState::Shutdown,
        }
    }
}

/// A node's Raft figures at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftFigures {
    /// This node's current term.
    pub term: u64,
    /// The state this node is in.
    pub state: RaftState,
    /// The leader this node knows of; `None` while none is.
    pub leader_id: Option<NodeId>,
    /// The highest log index known to be committed.
    pub commit_index: u64,
    /// The highest log index applied here.
    pub applied_index: u64,
    /// The index of the last entry in this node's log (0 when it is empty).
    pub last_log_index: u64,
    /// Members, voters and learners.
    pub members: usize,
    /// Voters among them.
    pub voters: usize,
    /// On the leader, milliseconds since a quorum last acknowledged it (`None` elsewhere,
    /// and before the first acknowledgement).
    pub millis_since_quorum_ack: Option<u64>,
    /// On the leader, every other member it replicates to (followers and learners), with
    /// the last log index it knows that member holds (0 while it knows none); empty
    /// elsewhere.
    pub matched: BTreeMap<NodeId, u64>,
}

impl Node {
    /// This node's Raft figures now.
    pub fn figures(&self) -> RaftFigures {
        let status = self.status();
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let matched = match (&metrics.state, &metrics.replication) {
            (ServerState::Leader, Some(replication)) => replication
                .iter()
                .filter(|(id, _)| **id != self.id())
                .map(|(&id, log)| (id, log.map_or(0, |l| l.index)))
                .collect(),
            _ => BTreeMap::new(),
        };
        RaftFigures {
            term: status.term,
            state: metrics.state.into(),
            leader_id: status.leader_id,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            members: membership.nodes().count(),
            voters: membership.voter_ids().count(),
            millis_since_quorum_ack: match metrics.state {
                ServerState::Leader => metrics.millis_since_quorum_ack,
                _ => None,
            },
            matched,
        }
    }
}
