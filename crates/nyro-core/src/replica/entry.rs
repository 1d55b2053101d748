//! What a Raft entry is in NyroDB's log: a `raft entry` frame (kind 7: `id` = term, `seq` =
//! log index, payload = the leader's node id and the [`EntryKind`]) followed by the records
//! of the writes it carries (docs/FORMAT.md).

use nyro_storage::{Location, RecordKind};
use serde::{Deserialize, Serialize};

use crate::error::{DbError, Result};

/// What an entry is, as its `raft entry` frame's payload says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A new leader's first entry; carries nothing.
    Blank,
    /// A batch of writes the leader prepared against the state as of entry `after` (the
    /// last applied entry that carried writes; 0: none). Applied on any other state, the
    /// entry is void on every node.
    Writes {
        /// See above.
        after: u64,
        /// A write of the batch asked to be fdatasync'ed (`?sync=true`): every node
        /// fdatasyncs the entry before acknowledging it, whatever its `batch.sync`.
        sync: bool,
    },
    /// A membership change; the bytes are the replication layer's (opaque here).
    Membership(Vec<u8>),
    /// An installed snapshot: the state as of entry `index` of this frame, whose records
    /// (every collection and every live document) follow. Everything before this frame in
    /// the log is superseded: replay and the change feed start here. Never an entry of the
    /// Raft log itself (openraft purges up to it).
    Snapshot(SnapshotState),
}

/// What a snapshot carries besides its records: the counters, and the membership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// The index of the last applied entry that carried writes.
    pub last_writes: u64,
    /// The last seq assigned.
    pub last_seq: u64,
    /// The next collection id.
    pub next_collection: u32,
    /// The next document id per collection (ids are never reused, even of deleted ones).
    pub next_ids: Vec<(u32, u128)>,
    /// The replication layer's membership as of the snapshot (opaque here).
    pub membership: Vec<u8>,
    /// The log id (term, leader, index) of the entry that membership comes from.
    pub membership_id: Option<(u64, u64, u64)>,
}

/// One record of a replicated write, in its final form: what the leader prepared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// The record kind's byte (docs/FORMAT.md section 3): put, replace, delete, create or
    /// drop collection, add or drop index.
    pub kind: u8,
    /// The collection id.
    pub collection: u32,
    /// The document id (0 for catalog records).
    pub id: u64,
    /// The sequence number.
    pub seq: u64,
    /// The payload, as stored.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

impl WriteRecord {
    /// The record's kind; only the kinds of a write are accepted.
    pub(crate) fn kind(&self) -> Result<RecordKind> {
        match RecordKind::from_byte(self.kind) {
            Some(
                kind @ (RecordKind::Put
                | RecordKind::Replace
                | RecordKind::Delete
                | RecordKind::CreateCollection
                | RecordKind::DropCollection
                | RecordKind::AddIndex
                | RecordKind::DropIndex),
            ) => Ok(kind),
            _ => Err(DbError::invalid(format!(
                "a replicated entry carries a record of kind {}, which is not a write",
                self.kind
            ))),
        }
    }
}

/// A Raft log id: the term and node id of the leader that created the entry, and its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryId {
    /// The leader's term.
    pub term: u64,
    /// The leader's node id.
    pub leader: u64,
    /// The index in the Raft log.
    pub index: u64,
}

/// What the `raft entry` frame's payload holds.
pub(crate) type HeaderPayload = (u64, EntryKind);

/// A whole entry: its log id, its kind and its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The term of the leader that created it.
    pub term: u64,
    /// The node id of the leader that created it.
    pub leader: u64,
    /// Its index in the Raft log (the bootstrap membership is entry 0, of term 0).
    pub index: u64,
    /// What it is.
    pub kind: EntryKind,
    /// The records of its writes (empty unless `kind` is [`EntryKind::Writes`]).
    pub records: Vec<WriteRecord>,
}

/// Where an entry lies in the log: its `raft entry` frame and each of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The entry's term and leader (kept to answer log-id questions without a read).
    pub term: u64,
    /// See `term`.
    pub leader: u64,
    /// The `raft entry` frame.
    pub header: Location,
    /// Its records, in order.
    pub records: Vec<Location>,
}

impl SnapshotState {
    /// Raises `counters` and `last_seq` to at least the snapshot's (a replay after it may
    /// not see the highest ids and seqs: deleted documents are not in it).
    pub(crate) fn raise(&self, counters: &mut crate::write::Counters, last_seq: &mut u64) {
        *last_seq = (*last_seq).max(self.last_seq);
        counters.next_seq = counters.next_seq.max(self.last_seq + 1);
        counters.next_collection = counters.next_collection.max(self.next_collection);
        for &(collection, next) in &self.next_ids {
            let current = counters.next_ids.entry(collection).or_insert(1);
            *current = (*current).max(next);
        }
    }
}
