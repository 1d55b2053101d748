//! The types openraft is instantiated with, and what a Raft entry carries.

use serde::{Deserialize, Serialize};

/// A node's id in the cluster (`cluster.node_id`, 1 or more).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft's type parameters for NyroDB.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        // A snapshot is streamed from, and received into, a file (see `snapshot`).
        SnapshotData = tokio::fs::File,
);

/// One record of a proposed write, as the leader prepared it: its final kind, collection
/// id, document id, sequence number and payload bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedRecord {
    /// The record kind's byte (docs/FORMAT.md section 3).
    pub kind: u8,
    /// The collection id.
    pub collection: u32,
    /// The document id (0 for catalog records).
    pub id: u64,
    /// The write's sequence number.
    pub seq: u64,
    /// Another record of the same write follows.
    pub continues: bool,
    /// The payload, as stored.
    pub payload: Vec<u8>,
}

/// What a normal Raft entry carries: a batch of writes the leader prepared against the
/// state as of entry `after` (the last entry with records it had applied).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The index of the last applied entry that carried records when the batch was
    /// prepared (0: none). An entry applied on top of any other state is void on every
    /// node: its records are never made visible.
    pub after: u64,
    /// The records of the batch, in order.
    pub records: Vec<ProposedRecord>,
}

/// What applying an entry answered: whether its records were made visible.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// False when the entry was void (prepared against another state; see
    /// [`Proposal::after`]).
    pub accepted: bool,
}
