//! The cluster routes' bodies and answers (contract section 7).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::U64;

/// `POST /v1/cluster/members` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The new node's id (1 or more, unused in the cluster).
    #[schema(value_type = U64)]
    pub id: u64,
    /// Where the cluster reaches it: `HOST:PORT` (its `cluster.advertise`).
    pub addr: String,
}

/// `?consistency=` of record GET, list and `_query`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began (the default).
    Linearizable,
    /// The leader answers alone while its lease holds.
    Lease,
    /// This node's state, possibly stale, never partial.
    Local,
}

/// A member's role.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The node that leads the current term.
    Leader,
    /// A voter that does not lead.
    Follower,
    /// A member that receives the log but does not vote (a node being added).
    Learner,
}

/// One member of the cluster.
#[derive(Serialize, ToSchema)]
pub struct MemberAnswer {
    /// Its node id.
    #[schema(value_type = U64)]
    pub id: u64,
    /// Where it is reached.
    pub addr: String,
    /// Its role, as this node knows it.
    pub role: Role,
    /// The last log index the leader knows the member holds; null on a node that is not
    /// the leader (only the leader tracks it).
    #[schema(value_type = Option<U64>, required = true)]
    pub match_index: Option<u64>,
}

/// `GET /v1/cluster` (and the membership routes') answer: this node's view.
#[derive(Serialize, ToSchema)]
pub struct ClusterAnswer {
    /// This node's id.
    #[schema(value_type = U64)]
    pub node_id: u64,
    /// The leader this node knows of; null while none is known.
    #[schema(value_type = Option<U64>, required = true)]
    pub leader_id: Option<u64>,
    /// This node's current term.
    #[schema(value_type = U64)]
    pub term: u64,
    /// The highest log index known to be committed.
    #[schema(value_type = U64)]
    pub commit_index: u64,
    /// The highest log index applied on this node; never above `commit_index`.
    #[schema(value_type = U64)]
    pub applied_index: u64,
    /// Every member (voters and learners), by id.
    pub members: Vec<MemberAnswer>,
}

impl From<nyro_raft::ClusterStatus> for ClusterAnswer {
    fn from(s: nyro_raft::ClusterStatus) -> Self {
        Self {
            node_id: s.node_id,
            leader_id: s.leader_id,
            term: s.term,
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            members: s
                .members
                .into_iter()
                .map(|m| MemberAnswer {
                    id: m.id,
                    addr: m.addr,
                    role: match m.role {
                        nyro_raft::Role::Leader => Role::Leader,
                        nyro_raft::Role::Follower => Role::Follower,
                        nyro_raft::Role::Learner => Role::Learner,
                    },
                    match_index: m.match_index,
                })
                .collect(),
        }
    }
}
