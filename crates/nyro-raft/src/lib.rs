//! NyroDB's replication: one Raft group, run by the `openraft` crate, that holds every
//! collection of a cluster of NyroDB nodes.
//!
//! The Raft log is NyroDB's own segmented log (no second copy of any write): an entry is a
//! `raft entry` frame carrying its log id (term, index), followed by the records of the
//! writes it carries. Applying a committed entry makes those records visible exactly as a
//! standalone write would. See docs/ARCHITECTURE.md ("Replication") and docs/CLUSTER.md.
//!
//! Main types: [`Node`] (a running node: start, bootstrap, status, membership, the read
//! barrier), [`LogStore`] and [`StateMachine`] (openraft's storage over the database),
//! [`TypeConfig`] (openraft's type parameters), [`Proposal`] (what an entry
//! carries), [`Applied`] (what applying it answered), [`ClusterSettings`] (`[cluster]` of
//! `nyrodb.toml`, with its key table [`config::cluster_keys`]), [`Member`] (a node's id
//! and address) and [`RaftFigures`] (a node's Raft figures, for `/metrics`); [`network`]:
//! the node-to-node transport ([`HttpNetworkFactory`] for openraft's RPCs,
//! [`internal_routes`] serving them, [`Forwarder`] sending a follower's writes to the
//! leader).
//!
//! Invariants: an entry's records become visible only when openraft applies it; the leader
//! prepares a proposal only once every entry of its log is applied (one proposal in flight),
//! so a proposal is applied on exactly the state it was prepared against, or is void on
//! every node; the vote is durable before it is answered; a node whose Raft stopped on a
//! storage error (a failed fdatasync) serves local reads only, names no leader, and tells
//! why without naming its files; compaction never drops a frame
//! of an entry after the purged index; a snapshot is a state as of one applied entry, and
//! a node starts from a purge no later than its latest snapshot (openraft's own check;
//! `uncovered_purge` repairs what a kill during a snapshot's installation leaves).

// openraft's traits return its `StorageError` (over 200 bytes) by value; the helpers that
// build one for them do too.
#![allow(clippy::result_large_err)]

pub mod config;
mod convert;
mod error;
mod figures;
mod log_store;
pub mod network;
mod node;
mod poisoned_log;
mod proposer;
mod reads;
mod snapshot;
mod state_machine;
mod stopped;
mod types;
mod uncovered_purge;

pub use config::{ClusterSettings, Member};
pub use error::ClusterError;
pub use figures::{RaftFigures, RaftState};
pub use log_store::{LogReader, LogStore};
pub use network::{Forwarder, HttpNetworkFactory, PeerTls, internal_routes};
pub use node::{ClusterStatus, MemberStatus, Node, NodeOptions, Role, parse_consistency};
pub use proposer::entry_budget;
pub use reads::{Consistency, PeerCall, Peers, ReadBarrier};
pub use state_machine::StateMachine;
pub use stopped::STOPPED;

pub use types::{
    Applied, Entry, LogId, NodeId, Proposal, Raft, StorageError, StoredMembership, TypeConfig,
};

/// Test support (not part of the API; may change at any time): a node's storage without
/// a running node, for openraft's storage test suite and crash tests of the log storage.
#[doc(hidden)]
pub mod testing {
    use crate::{ClusterError, LogStore, StateMachine};

    /// Opens the storage of the node `config` describes (its Raft state files and the
    /// database as a replica), exactly as a starting node does, and returns openraft's log
    /// storage and state machine over it, with the database. Raft is not started.
    pub async fn open_storage(
        config: &nyro_core::Config,
        open: nyro_core::OpenOptions,
    ) -> Result<(LogStore, StateMachine, nyro_core::Database), ClusterError> {
        let storage = crate::node::open_storage(config, open).await?;
        Ok((storage.log_store, storage.state_machine, storage.db))
    }
}
