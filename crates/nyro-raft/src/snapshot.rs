//! Snapshots. Not built yet in this revision: the node never purges its log (openraft's
//! snapshot policy is `Never`), so no follower ever needs one; a request for one is refused
//! with an error that says so.

use nyro_core::Database;
use openraft::{ErrorSubject, Snapshot, SnapshotMeta};

use crate::error::{StoreResult, io_error};
use crate::types::{LogId, NodeId, StoredMembership, TypeConfig};

fn unsupported() -> crate::types::StorageError {
    io_error(
        ErrorSubject::Snapshot(None),
        std::io::Error::other("snapshots are not supported by this build"),
    )
}

/// The node's snapshots.
#[derive(Debug, Default)]
pub(crate) struct Snapshots;

/// Builds a snapshot of the state as of `applied`.
#[derive(Debug)]
pub struct Builder;

impl Builder {
    pub(crate) async fn build(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        Err(unsupported())
    }
}

impl Snapshots {
    pub(crate) fn builder(
        &self,
        _db: Database,
        _applied: Option<LogId>,
        _membership: StoredMembership,
    ) -> Builder {
        Builder
    }

    pub(crate) async fn begin_receiving(&self) -> StoreResult<Box<tokio::fs::File>> {
        Err(unsupported())
    }

    pub(crate) async fn install(
        &self,
        _db: &Database,
        _meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        _snapshot: Box<tokio::fs::File>,
    ) -> StoreResult<()> {
        Err(unsupported())
    }

    pub(crate) async fn current(&self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        Ok(None)
    }
}
