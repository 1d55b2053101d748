//! NyroDB's replication: one Raft group, run by the `openraft` crate, that holds every
//! collection of a cluster of NyroDB nodes.
//!
//! The Raft log is NyroDB's own segmented log (no second copy of any write): an entry is a
//! `raft entry` frame carrying its log id (term, index), followed by the records of the
//! writes it carries. Applying a committed entry makes those records visible exactly as a
//! standalone write would. See docs/ARCHITECTURE.md ("Replication") and docs/CLUSTER.md.
//!
//! Main types: [`TypeConfig`] (openraft's type parameters), [`Proposal`] (what an entry
//! carries), [`Applied`] (what applying it answered); [`network`]: the node-to-node
//! transport ([`HttpNetworkFactory`] for openraft's RPCs, [`internal_routes`] serving them,
//! [`Forwarder`] sending a follower's writes to the leader).

pub mod network;
mod types;

pub use network::{Forwarder, HttpNetworkFactory, PeerTls, internal_routes};
pub use types::{Applied, NodeId, Proposal, ProposedRecord, TypeConfig};
