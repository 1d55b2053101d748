//! The types openraft is instantiated with, and what a Raft entry carries.

use nyro_core::replica::WriteRecord;
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

/// openraft's types, instantiated for NyroDB.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log id (term and index).
pub type LogId = openraft::LogId<NodeId>;
/// A Raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A storage error, as openraft wants it.
pub type StorageError = openraft::StorageError<NodeId>;
/// A membership as stored in the log.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;

/// What a normal Raft entry carries: a batch of writes the leader prepared against the
/// state as of entry `after` (the last applied entry that carried writes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The index of the last applied entry that carried writes when the batch was
    /// prepared (0: none). An entry applied on top of any other state is void on every
    /// node: its records are never made visible.
    pub after: u64,
    /// The records of the batch, in order, in their final form.
    pub records: Vec<WriteRecord>,
    /// A write of the batch asked to be fdatasync'ed (`?sync=true`): every node
    /// fdatasyncs the entry before acknowledging it, whatever its `batch.sync`.
    pub sync: bool,
}

/// What applying an entry answered: whether its records were made visible.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// False when the entry was void (prepared against another state; see
    /// [`Proposal::after`]).
    pub accepted: bool,
}
