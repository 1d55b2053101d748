//! openraft's log storage over the database's own log: an entry is appended as a `raft
//! entry` frame and its records, through the group-commit writer (many entries, one write,
//! one fdatasync under `batch.sync`); a conflicting uncommitted tail is voided by a `raft
//! truncate` frame; a purge only forgets where purged entries lie. The vote and the purged
//! log id are in `raft-state` (durable before `save_vote` returns), the commit index in
//! `raft-committed` (a hint: replay applies up to it on open).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use nyro_core::Database;
use nyro_core::replica::Placed;
use nyro_storage::RaftStateStore;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, RaftLogReader, Vote};
use serde::{Deserialize, Serialize};

use crate::convert::{from_log_entry, log_id, to_log_entry};
use crate::error::{StoreResult, io_error};
use crate::types::{Entry, LogId, NodeId, TypeConfig};

/// What `raft-state` holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Persisted {
    pub(crate) vote: Option<Vote<NodeId>>,
    pub(crate) purged: Option<LogId>,
}

/// Where the retained entries lie, shared by the log storage, its readers and the state
/// machine.
#[derive(Debug, Default)]
pub(crate) struct LogIndex {
    /// Entries after the purged prefix, by index.
    pub(crate) entries: BTreeMap<u64, Placed>,
    pub(crate) purged: Option<LogId>,
    /// The last commit index openraft told us of.
    pub(crate) committed: Option<LogId>,
}

impl LogIndex {
    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .iter()
            .next_back()
            .map(|(&index, placed)| log_id(placed.term, placed.leader, index))
            .or(self.purged)
    }

    /// `committed` (from the commit-index hint) as far as the log goes. The hint is written
    /// without fdatasync and can outlive an unsynced tail of the log (a power cut under
    /// `batch.sync = "interval"`); openraft re-applies the committed entries on start and
    /// fails on missing ones.
    pub(crate) fn within_log(&self, committed: Option<LogId>) -> Option<LogId> {
        match (committed, self.last_log_id()) {
            (Some(c), Some(last)) if c.index > last.index => Some(last),
            (Some(_), None) => None,
            (c, _) => c,
        }
    }
}

/// The shared index, locked.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedIndex(Arc<Mutex<LogIndex>>);

impl SharedIndex {
    pub(crate) fn new(index: LogIndex) -> Self {
        Self(Arc::new(Mutex::new(index)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LogIndex> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Encodes `value` for `raft-state` / `raft-committed`.
fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    nyro_storage::codec::encode(value).map_err(|e| io_error(ErrorSubject::Store, e))
}

/// Reads the entries `range` of the log.
#[derive(Clone, Debug)]
pub struct LogReader {
    db: Database,
    index: SharedIndex,
}

impl LogReader {
    fn read<RB: RangeBounds<u64>>(&self, range: RB) -> StoreResult<Vec<Entry>> {
        let wanted: Vec<(u64, Placed)> = {
            let index = self.index.lock();
            index
                .entries
                .range(range)
                .map(|(&i, placed)| (i, placed.clone()))
                .collect()
        };
        let mut entries = Vec::with_capacity(wanted.len());
        for (i, placed) in wanted {
            let entry = self
                .db
                .read_entry(i, &placed)
                .map_err(|e| io_error(ErrorSubject::LogIndex(i), e))?;
            entries.push(from_log_entry(entry)?);
        }
        Ok(entries)
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        self.read(range)
    }
}

/// openraft's log storage for one node.
#[derive(Debug)]
pub struct LogStore {
    reader: LogReader,
    files: Arc<RaftStateStore>,
    persisted: Persisted,
}

impl LogStore {
    pub(crate) fn new(
        db: Database,
        index: SharedIndex,
        files: Arc<RaftStateStore>,
        persisted: Persisted,
    ) -> Self {
        Self {
            reader: LogReader { db, index },
            files,
            persisted,
        }
    }

    fn db(&self) -> &Database {
        &self.reader.db
    }

    fn index(&self) -> MutexGuard<'_, LogIndex> {
        self.reader.index.lock()
    }

    /// Writes `raft-state` durably (temp file, fdatasync, rename, directory fsync).
    async fn persist(&self) -> StoreResult<()> {
        let bytes = encode(&self.persisted)?;
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || files.store_state(&bytes))
            .await
            .map_err(|e| io_error(ErrorSubject::Store, e))?
            .map_err(|e| io_error(ErrorSubject::Store, e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        self.reader.read(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let index = self.index();
        Ok(LogState {
            last_purged_log_id: index.purged,
            last_log_id: index.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        self.reader.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        self.persisted.vote = Some(*vote);
        self.persist().await
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        Ok(self.persisted.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> StoreResult<()> {
        self.index().committed = committed;
        let bytes = encode(&committed)?;
        // A hint written in place without fdatasync: losing it only means re-learning the
        // commit index from the leader.
        if let Err(e) = self.files.store_committed(&bytes) {
            tracing::warn!(error = %e, "cannot save the commit index (a hint; going on)");
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId>> {
        Ok(self.index().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut converted = Vec::new();
        let mut sync = false;
        for entry in entries {
            let (entry, wants_sync) = to_log_entry(entry)?;
            sync |= wants_sync;
            converted.push(entry);
        }
        let indexes: Vec<u64> = converted.iter().map(|e| e.index).collect();
        let Some(&first) = indexes.first() else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        // Answered once the entries are written (and fdatasync'ed if the policy or `sync`
        // says so): then they are readable, and persisted as far as `batch.sync` promises.
        match self.db().append_entries(converted, sync).await {
            Ok(placed) => {
                let mut index = self.index();
                for (i, placed) in indexes.into_iter().zip(placed) {
                    index.entries.insert(i, placed);
                }
                drop(index);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                callback.log_io_completed(Err(std::io::Error::other(message)));
                Err(io_error(ErrorSubject::LogIndex(first), e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> StoreResult<()> {
        let voided: Vec<Placed> = {
            let mut index = self.index();
            index
                .entries
                .split_off(&log_id.index)
                .into_values()
                .collect()
        };
        if voided.is_empty() {
            return Ok(());
        }
        self.db()
            .truncate_entries(log_id.index, &voided)
            .await
            .map_err(|e| io_error(ErrorSubject::Log(log_id), e))
    }

    async fn purge(&mut self, log_id: LogId) -> StoreResult<()> {
        {
            let mut index = self.index();
            index.entries = index.entries.split_off(&(log_id.index + 1));
            index.purged = Some(log_id);
        }
        self.persisted.purged = Some(log_id);
        self.persist().await?;
        self.db()
            .set_purged(log_id.index)
            .map_err(|e| io_error(ErrorSubject::Log(log_id), e))
    }
}
