//! A minimal in-memory log and state machine for openraft, for these tests only (the real
//! ones are NyroDB's log). The state machine keeps every applied proposal by log index; a
//! snapshot is that map, with the applied log id and membership, encoded into a file.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::SeekFrom;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use nyro_raft::{Applied, NodeId, Proposal, TypeConfig};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

type StorageResult<T> = Result<T, StorageError<NodeId>>;

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn snapshot_error(verb: ErrorVerb, error: std::io::Error) -> StorageError<NodeId> {
    StorageError::from_io_error(ErrorSubject::Snapshot(None), verb, error)
}

#[derive(Default)]
struct LogInner {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
}

/// The Raft log, in memory; clones share it.
#[derive(Clone, Default)]
pub struct MemLog {
    inner: Arc<Mutex<LogInner>>,
}

impl RaftLogReader<TypeConfig> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let inner = locked(&self.inner);
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for MemLog {
    type LogReader = MemLog;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = locked(&self.inner);
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> MemLog {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        locked(&self.inner).vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(locked(&self.inner).vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        locked(&self.inner).committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(locked(&self.inner).committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        {
            let mut inner = locked(&self.inner);
            for entry in entries {
                inner.entries.insert(entry.log_id.index, entry);
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        locked(&self.inner).entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = locked(&self.inner);
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner.last_purged = Some(log_id);
        Ok(())
    }
}

/// What a snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SmState {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, BasicNode>,
    /// Every applied proposal, by log index.
    pub proposals: BTreeMap<u64, Proposal>,
}

#[derive(Default)]
struct SmInner {
    state: SmState,
    current: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
    built: u64,
    installed: u64,
}

/// The state machine, in memory; clones share it.
#[derive(Clone, Default)]
pub struct MemStateMachine {
    inner: Arc<Mutex<SmInner>>,
}

impl MemStateMachine {
    /// The applied state.
    pub fn state(&self) -> SmState {
        locked(&self.inner).state.clone()
    }

    /// How many snapshots this node installed from a leader.
    pub fn installed(&self) -> u64 {
        locked(&self.inner).installed
    }
}

/// `bytes` in a new anonymous file, positioned at its start.
async fn file_with(bytes: &[u8]) -> StorageResult<File> {
    let std_file = tempfile::tempfile().map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
    let mut file = File::from_std(std_file);
    file.write_all(bytes)
        .await
        .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
    file.seek(SeekFrom::Start(0))
        .await
        .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
    Ok(file)
}

impl RaftSnapshotBuilder<TypeConfig> for MemStateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let (meta, bytes) = {
            let mut inner = locked(&self.inner);
            inner.built += 1;
            let bytes = nyro_storage::codec::encode(&inner.state)
                .map_err(|e| snapshot_error(ErrorVerb::Write, std::io::Error::other(e)))?;
            let meta = SnapshotMeta {
                last_log_id: inner.state.last_applied,
                last_membership: inner.state.membership.clone(),
                snapshot_id: format!(
                    "{}-{}",
                    inner.state.last_applied.map_or(0, |l| l.index),
                    inner.built
                ),
            };
            inner.current = Some((meta.clone(), bytes.clone()));
            (meta, bytes)
        };
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file_with(&bytes).await?),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MemStateMachine {
    type SnapshotBuilder = MemStateMachine;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = locked(&self.inner);
        Ok((inner.state.last_applied, inner.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = locked(&self.inner);
        let mut answers = Vec::new();
        for entry in entries {
            inner.state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(proposal) => {
                    inner.state.proposals.insert(entry.log_id.index, proposal);
                }
                EntryPayload::Membership(membership) => {
                    inner.state.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            answers.push(Applied { accepted: true });
        }
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> MemStateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<File>> {
        Ok(Box::new(file_with(&[]).await?))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        mut snapshot: Box<File>,
    ) -> StorageResult<()> {
        let mut bytes = Vec::new();
        snapshot
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        snapshot
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        let state: SmState = nyro_storage::codec::decode(&bytes)
            .map_err(|e| snapshot_error(ErrorVerb::Read, std::io::Error::other(e)))?;
        let mut inner = locked(&self.inner);
        inner.state = state;
        inner.current = Some((meta.clone(), bytes));
        inner.installed += 1;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let current = locked(&self.inner).current.clone();
        match current {
            Some((meta, bytes)) => Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(file_with(&bytes).await?),
            })),
            None => Ok(None),
        }
    }
}
