//! openraft's state machine: the database itself. Applying a committed entry makes its
//! records visible (indexes, catalog, change feed) on every node alike
//! (`Database::apply_entry`); the records are already in the log, where the log storage
//! put them.

use nyro_core::Database;
use nyro_core::replica::EntryKind;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, RaftSnapshotBuilder, Snapshot, SnapshotMeta};

use crate::error::{StoreResult, io_error};
use crate::log_store::SharedIndex;
use crate::snapshot::Snapshots;
use crate::types::{Applied, Entry, LogId, NodeId, StoredMembership, TypeConfig};

/// The database as openraft's state machine.
#[derive(Debug)]
pub struct StateMachine {
    db: Database,
    index: SharedIndex,
    applied: Option<LogId>,
    membership: StoredMembership,
    snapshots: Snapshots,
}

impl StateMachine {
    pub(crate) fn new(
        db: Database,
        index: SharedIndex,
        applied: Option<LogId>,
        membership: StoredMembership,
        snapshots: Snapshots,
    ) -> Self {
        Self {
            db,
            index,
            applied,
            membership,
            snapshots,
        }
    }

    fn apply_one(&mut self, entry: Entry) -> StoreResult<Applied> {
        let log_id = entry.log_id;
        let accepted = match entry.payload {
            EntryPayload::Blank => true,
            EntryPayload::Membership(membership) => {
                self.membership = StoredMembership::new(Some(log_id), membership);
                true
            }
            EntryPayload::Normal(proposal) => {
                let placed = self
                    .index
                    .lock()
                    .entries
                    .get(&log_id.index)
                    .cloned()
                    .ok_or_else(|| {
                        io_error(
                            ErrorSubject::Log(log_id),
                            std::io::Error::other("a committed entry is not in the log index"),
                        )
                    })?;
                let kind = EntryKind::Writes {
                    after: proposal.after,
                    sync: proposal.sync,
                };
                self.db
                    .apply_entry(log_id.index, &kind, &proposal.records, &placed)
                    .map_err(|e| io_error(ErrorSubject::Apply(log_id), e))?
            }
        };
        self.applied = Some(log_id);
        Ok(Applied { accepted })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = crate::snapshot::Builder;

    async fn applied_state(&mut self) -> StoreResult<(Option<LogId>, StoredMembership)> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        entries.into_iter().map(|e| self.apply_one(e)).collect()
    }

    async fn get_snapshot_builder(&mut self) -> crate::snapshot::Builder {
        self.snapshots
            .builder(self.db.clone(), self.applied, self.membership.clone())
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<tokio::fs::File>> {
        self.snapshots.begin_receiving().await
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> StoreResult<()> {
        self.snapshots.install(&self.db, meta, snapshot).await?;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        self.snapshots.current().await
    }
}

impl RaftSnapshotBuilder<TypeConfig> for crate::snapshot::Builder {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        self.build().await
    }
}
