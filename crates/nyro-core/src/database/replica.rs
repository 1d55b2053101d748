//! A cluster node's database, as the replication layer (`nyro-raft`) drives it: append
//! Raft entries, read them back, apply committed ones, prepare the leader's proposals.

use nyro_batch::RecordBuf;
use nyro_storage::RecordKind;

use super::Database;
use crate::error::{DbError, Result};
use crate::replica::{
    self, EntryId, EntryKind, LogEntry, Placed, PreparedProposal, ReplicaState, SnapshotFile,
    SnapshotState, SnapshotView, WriteRecord,
};
use crate::write::{self, AppendEntries, Batch, TruncateEntries};

impl Database {
    fn replica(&self) -> Result<&ReplicaState> {
        self.inner
            .replica
            .as_ref()
            .ok_or_else(|| DbError::Internal {
                message: "this database is not a cluster node's".to_string(),
            })
    }

    /// Appends `entries` through the writer (with the other appends queued meanwhile: one
    /// write, one fdatasync under the sync policy, or always if `sync`). Returns where each
    /// entry lies. Nothing becomes visible.
    pub async fn append_entries(&self, entries: Vec<LogEntry>, sync: bool) -> Result<Vec<Placed>> {
        let shape: Vec<(u64, u64, usize)> = entries
            .iter()
            .map(|e| (e.term, e.leader, e.records.len()))
            .collect();
        let locations =
            write::submit(&self.inner.writer, AppendEntries::new(entries), sync).await?;
        let mut locations = locations.into_iter();
        let mut placed = Vec::with_capacity(shape.len());
        for (term, leader, records) in shape {
            let header = locations.next().ok_or_else(|| DbError::Internal {
                message: "the log placed fewer records than a Raft append wrote".to_string(),
            })?;
            placed.push(Placed {
                term,
                leader,
                header,
                records: locations.by_ref().take(records).collect(),
            });
        }
        Ok(placed)
    }

    /// Appends a `raft truncate` frame voiding the entries from index `from` on, and
    /// forgets them: their records were never visible.
    pub async fn truncate_entries(&self, from: u64, voided: &[Placed]) -> Result<()> {
        write::submit(&self.inner.writer, TruncateEntries::new(from), true).await?;
        for placed in voided {
            self.inner.state.skip_entry(placed.header);
        }
        Ok(())
    }

    /// Reads entry `index` back from the log, where `placed` says it lies.
    pub fn read_entry(&self, index: u64, placed: &Placed) -> Result<LogEntry> {
        let reader = &self.inner.reader;
        let header = reader.read(placed.header)?;
        let h = header.header();
        if h.kind != RecordKind::RaftEntry || h.seq != index {
            return Err(DbError::Internal {
                message: format!(
                    "the frame at segment {} offset {} is not Raft entry {index}",
                    placed.header.segment, placed.header.offset
                ),
            });
        }
        let (leader, kind): crate::replica::HeaderPayload =
            nyro_storage::codec::decode(header.payload())?;
        let mut records = Vec::with_capacity(placed.records.len());
        for &location in &placed.records {
            let frame = reader.read(location)?;
            let h = frame.header();
            records.push(WriteRecord {
                kind: h.kind as u8,
                collection: h.collection,
                id: h.id,
                seq: h.seq,
                payload: frame.payload().to_vec(),
            });
        }
        Ok(LogEntry {
            term: h.id,
            leader,
            index,
            kind,
            records,
        })
    }

    /// Applies committed entry `index` (in index order, once), of kind `kind` with
    /// `records`, lying at `placed`: its records become visible, with their change events.
    /// False when the entry is void (see [`EntryKind::Writes`]).
    pub fn apply_entry(
        &self,
        index: u64,
        kind: &EntryKind,
        records: &[WriteRecord],
        placed: &Placed,
    ) -> Result<bool> {
        replica::apply_entry(
            &self.inner.state,
            self.replica()?,
            index,
            kind,
            records,
            placed,
        )
    }

    /// Prepares a batch of queued writes against the applied state, exactly as the writer
    /// prepares a standalone batch (conflicts refuse a write and answer it at once; ids and
    /// seqs are assigned). Call only when every entry of the leader's log is applied.
    /// Once the prepared records reach `budget` payload bytes, the writes left are handed
    /// back, unprepared, for the next proposal. The proposal is `None` when no write of the
    /// batch has records to propose and none was refused (creations of existing
    /// collections, answered at once); refused writes are answered with the proposal's
    /// entry (see [`PreparedProposal`]), even an entry without records.
    pub fn prepare_proposal(
        &self,
        writes: replica::Batch,
        budget: usize,
    ) -> Result<(Option<PreparedProposal>, Option<replica::Batch>)> {
        let replica = self.replica()?;
        let (counters, after) = {
            let progress = replica.lock();
            (progress.counters.clone(), progress.last_writes)
        };
        let mut batch = Batch::new(std::sync::Arc::clone(&self.inner.state), counters);
        let mut records = RecordBuf::new();
        let mut prepared = Vec::new();
        // Refusals wait for the entry: one may rest on an earlier write of this batch (a
        // create refused for an id this batch inserts), which is no fact until applied.
        let mut refused = Vec::new();
        let mut sync = false;
        let mut bytes = 0;
        let mut writes = writes.0.into_iter();
        for (queued, wants_sync) in writes.by_ref() {
            let mark = records.mark();
            match queued.prepare(&mut batch, &mut records) {
                Ok(p) => {
                    sync |= wants_sync;
                    prepared.push(p);
                }
                Err(refusal) => refused.push(refusal),
            }
            bytes += records.payload_bytes_since(mark);
            if bytes >= budget {
                break;
            }
        }
        let left: Vec<_> = writes.collect();
        let left = (!left.is_empty()).then_some(replica::Batch(left));
        // Nothing to write and nothing refused (creations of existing collections): answered
        // at once. Refusals alone still go through an (empty) entry: they were judged
        // against this node's applied state, which is current only if it still leads.
        if records.is_empty() && refused.is_empty() {
            for p in prepared {
                p.answer();
            }
            return Ok((None, left));
        }
        let records = records
            .records()
            .into_iter()
            .map(|r| WriteRecord {
                kind: r.kind as u8,
                collection: r.collection,
                id: r.id,
                seq: r.seq,
                payload: r.payload.to_vec(),
            })
            .collect();
        let proposal = PreparedProposal {
            after,
            records,
            sync,
            prepared,
            refused,
        };
        Ok((Some(proposal), left))
    }

    /// The state to snapshot as of the last applied entry. Call while no entry is applied
    /// (openraft asks for the snapshot builder on the state machine's task); cheap: it copies
    /// where each document lies, not the documents.
    pub fn snapshot_view(&self) -> Result<SnapshotView> {
        let replica = self.replica()?;
        let state = {
            let progress = replica.lock();
            SnapshotState {
                last_writes: progress.last_writes,
                last_seq: self.last_seq(),
                next_collection: progress.counters.next_collection,
                next_ids: progress
                    .counters
                    .next_ids
                    .iter()
                    .map(|(&c, &n)| (c, n))
                    .collect(),
                membership: Vec::new(),
                membership_id: None,
            }
        };
        Ok(SnapshotView::take(&self.inner.state, state))
    }

    /// Writes the snapshot `view` of entry `id` (with the replication layer's `membership`
    /// and the id of the entry it comes from) to `path`, fdatasync'ed. Blocking: run it off
    /// the async workers. Returns its size.
    pub fn write_snapshot(
        &self,
        view: SnapshotView,
        id: EntryId,
        membership: (Vec<u8>, Option<EntryId>),
        path: &std::path::Path,
    ) -> Result<u64> {
        // Compaction would move the documents the view points at.
        let _no_compaction = self.inner.compaction.blocking_lock();
        view.write(&self.inner.state, id, membership, path)
    }

    /// Installs the snapshot `file` (read and checked whole): appends its records to the
    /// log as one `Snapshot` entry (fdatasync'ed), then makes it the state: the catalog and
    /// indexes are rebuilt from it, the counters set, and everything before it in the log is
    /// superseded (the change feed cannot replay from before its last seq).
    pub async fn install_snapshot(&self, file: SnapshotFile) -> Result<()> {
        let replica = self.replica()?;
        let SnapshotFile { id, state, records } = file;
        let entry = LogEntry {
            term: id.term,
            leader: id.leader,
            index: id.index,
            kind: EntryKind::Snapshot(state.clone()),
            records,
        };
        let placed = self.append_entries(vec![entry], true).await?;
        let placed = placed.into_iter().next().ok_or_else(|| DbError::Internal {
            message: "installing a snapshot placed nothing".to_string(),
        })?;
        let mut progress = replica.lock();
        replica::reset_state(&self.inner.state, &placed.records)?;
        let mut last_seq = 0;
        let mut counters = crate::write::Counters {
            next_seq: 1,
            next_collection: 1,
            next_ids: Default::default(),
        };
        state.raise(&mut counters, &mut last_seq);
        progress.counters = counters;
        progress.last_writes = state.last_writes;
        self.inner
            .state
            .last_seq
            .store(last_seq, std::sync::atomic::Ordering::Release);
        self.inner.state.set_snapshot(placed.header, last_seq);
        Ok(())
    }

    /// Records that the Raft log up to `index` is purged: compaction may now rewrite the
    /// segments whose entries are all at or below it.
    pub fn set_purged(&self, index: u64) -> Result<()> {
        self.replica()?.set_purged(index);
        Ok(())
    }

    /// The last seq made visible (the change feed's last event).
    pub fn last_seq(&self) -> u64 {
        self.inner
            .state
            .last_seq
            .load(std::sync::atomic::Ordering::Acquire)
    }
}
