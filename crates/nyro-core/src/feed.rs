//! Change events and their stream: replay from the log, then live events, with no gap and
//! no duplicate; filtered by a live query's predicate when it has one ([`crate::live`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nyro_storage::{FrameHeader, LogIter, RecordKind};
use tokio::sync::broadcast;

use crate::catalog::CollectionDef;
use crate::damage::DamageLog;
use crate::document::{Document, decode_fields};
use crate::error::{DbError, Result};
use crate::live::{Previous, Watch};
use crate::state::LogMarks;
use crate::view::DocumentView;

/// Frames a replay reads in one go before it hands the task back to the runtime (a
/// filtered stream's walk may pass many frames without sending anything).
const REPLAY_BUDGET: usize = 4096;

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// A new document.
    Insert,
    /// A document replaced.
    Update,
    /// A document deleted.
    Delete,
}

impl ChangeOp {
    /// The contract's name: "insert", "update" or "delete".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// One change, as the feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// The write's sequence number.
    pub seq: u64,
    /// What it did.
    pub op: ChangeOp,
    /// The collection's name.
    pub collection: Arc<str>,
    /// The document's id.
    pub id: u64,
    /// The document after the change (with its id); `None` on delete.
    pub doc: Option<Document>,
    /// On a live query's stream ([`crate::Database::subscribe_matching`]): whether the
    /// document matches after this change. `None` on an unfiltered stream.
    pub matches: Option<bool>,
}

/// Why a change stream ended.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The consumer fell too far behind the writers; it can resume with `since` = the last
    /// seq it received.
    #[error(
        "the change feed consumer fell more than {capacity} events behind; resume with since={last_seq}"
    )]
    Lagged {
        /// The buffer size it overran.
        capacity: usize,
        /// The last seq delivered to it.
        last_seq: u64,
    },
    /// Compaction removed changes after the requested `since`: the replay would have gaps.
    /// Subscribe without `since` first, then re-read the data.
    #[error(
        "changes after seq {since} are no longer complete in the log (compaction kept only \
         those after seq {floor}); subscribe without since, then re-read the collection"
    )]
    HistoryCompacted {
        /// The seq asked for.
        since: u64,
        /// Changes at or before this seq may be gone.
        floor: u64,
    },
    /// Reading the log for the replay failed.
    #[error("replaying the change feed from the log failed: {0}")]
    Replay(#[source] DbError),
    /// A live query could not read the document of a change to test it (a bug: the
    /// document was checked when written).
    #[error("testing the live query's filter on the change of seq {seq} failed: {source}")]
    Filter {
        /// The change's seq.
        seq: u64,
        /// Why.
        #[source]
        source: DbError,
    },
    /// The database closed.
    #[error("the database closed")]
    Closed,
}

/// Learns the name of the collection the create-collection record `h` defines.
fn learn_name(names: &mut HashMap<u32, Arc<str>>, h: &FrameHeader, payload: &[u8]) -> Result<()> {
    let def = nyro_storage::codec::decode::<CollectionDef>(payload)?;
    names.insert(h.collection, Arc::from(def.name));
    Ok(())
}

/// What a replay's step gave.
enum Replayed {
    /// The next change after `since`.
    Event(ChangeEvent),
    /// [`REPLAY_BUDGET`] frames read without a change to send: call again.
    Pause,
    /// Every change up to `until` is replayed.
    End,
}

/// Replays the log's changes with `since < seq <= until`; for a live query, walks every
/// document record up to `until` (those at or before `since` too) into its [`Watch`].
struct Replay {
    frames: LogIter,
    /// Where a damaged frame met by the replay is recorded (`damage`), and which Raft
    /// entries of a cluster node's log are not visible.
    damage: Arc<DamageLog>,
    marks: Arc<LogMarks>,
    /// Inside a Raft entry that is not visible: its records are skipped.
    skipping: bool,
    /// Inside the installed snapshot's records: a state, not changes, but its collection
    /// definitions name the collections the changes after it refer to (and its documents
    /// are a live query's starting state).
    in_snapshot: bool,
    /// A cluster node's installed snapshot: the log before its frame is superseded and
    /// skipped, and so are its own records (a state, not changes).
    waiting_for: Option<nyro_storage::Location>,
    since: u64,
    until: u64,
    /// The one collection replayed, if not all.
    collection: Option<Arc<str>>,
    /// Live ids per collection id, to tell inserts from updates, and for a live query
    /// whether the version a change replaces is in the log; `None` when every segment is
    /// of format 2 or later, whose records say which they are, and no live query needs
    /// them (no memory per id then).
    live: Option<HashMap<u32, HashSet<u64>>>,
    names: HashMap<u32, Arc<str>>,
}

impl Replay {
    /// Whether the document record `h` was an insert, an update or a delete, given the ids
    /// `live` so far (if tracked), and whether the version it replaces was seen. A replace
    /// says so (format 2); a put of an id seen earlier in this replay is an update too,
    /// since format 1 wrote every update as a put.
    fn op_of(
        live: &mut Option<HashMap<u32, HashSet<u64>>>,
        h: &FrameHeader,
    ) -> (ChangeOp, Previous) {
        let Some(live) = live else {
            let op = match h.kind {
                RecordKind::Delete => ChangeOp::Delete,
                RecordKind::Replace => ChangeOp::Update,
                _ => ChangeOp::Insert,
            };
            return (op, Previous::Known);
        };
        let live = live.entry(h.collection).or_default();
        let seen = |known: bool| {
            if known {
                Previous::Known
            } else {
                Previous::Unknown
            }
        };
        match h.kind {
            RecordKind::Delete => (ChangeOp::Delete, seen(live.remove(&h.id))),
            RecordKind::Replace => (ChangeOp::Update, seen(!live.insert(h.id))),
            _ if live.insert(h.id) => (ChangeOp::Insert, Previous::Known),
            _ => (ChangeOp::Update, Previous::Known),
        }
    }

    /// The name of collection `id`, if it is replayed.
    fn wanted(&self, id: u32) -> Option<Arc<str>> {
        let name = match self.names.get(&id) {
            Some(name) => Arc::clone(name),
            None => Arc::from(format!("#{id}")),
        };
        let wanted = self.collection.as_ref().is_none_or(|c| *c == name);
        wanted.then_some(name)
    }

    /// Whether the version in `payload` of document `id` matches the live query.
    fn test(watch: &Watch, id: u64, payload: &[u8]) -> Result<bool> {
        Ok(watch.matches(&DocumentView::new(id, payload)?))
    }

    /// A document record of the installed snapshot: a live query's starting state.
    fn snapshot_document(
        &mut self,
        h: &FrameHeader,
        payload: &[u8],
        watch: Option<&mut Watch>,
    ) -> Result<()> {
        if let Some(live) = &mut self.live {
            live.entry(h.collection).or_default().insert(h.id);
        }
        let Some(watch) = watch else { return Ok(()) };
        if let Some(name) = self.wanted(h.collection) {
            let matches = Self::test(watch, h.id, payload)?;
            watch.apply(&name, h.id, ChangeOp::Insert, matches, Previous::Known);
        }
        Ok(())
    }

    fn next(&mut self, mut watch: Option<&mut Watch>) -> Result<Replayed> {
        for _ in 0..REPLAY_BUDGET {
            let Some(frame) = self.frames.next() else {
                return Ok(Replayed::End);
            };
            let frame = frame.map_err(|e| self.damage.frame_error(e, None, None))?;
            let h = *frame.header();
            if let Some(start) = self.waiting_for {
                // Before an installed snapshot everything is superseded; its own records
                // are a state, not changes.
                if frame.location() == start {
                    self.waiting_for = None;
                    self.in_snapshot = h.continues;
                }
                continue;
            }
            if self.in_snapshot {
                self.in_snapshot = h.continues;
                match h.kind {
                    RecordKind::CreateCollection => {
                        learn_name(&mut self.names, &h, frame.payload())?;
                    }
                    RecordKind::Put | RecordKind::Replace => {
                        self.snapshot_document(&h, frame.payload(), watch.as_deref_mut())?;
                    }
                    _ => {}
                }
                continue;
            }
            // A cluster node's log (a standalone log has none): the records of an entry that
            // is not visible (truncated, void, not applied yet) are skipped. Each entry's own
            // frame decides for its records: entries appended together are one write, so the
            // last record of one says another frame follows, and that frame is the next entry.
            if h.kind == RecordKind::RaftEntry {
                self.skipping = h.continues && self.marks.is_skipped_entry(frame.location());
                continue;
            }
            if self.skipping {
                self.skipping = h.continues;
                continue;
            }
            match h.kind {
                RecordKind::CreateCollection => learn_name(&mut self.names, &h, frame.payload())?,
                RecordKind::DropCollection => {
                    if let Some(live) = &mut self.live {
                        live.remove(&h.collection);
                    }
                    if let (Some(watch), Some(name)) =
                        (watch.as_deref_mut(), self.names.get(&h.collection))
                    {
                        watch.forget(name);
                    }
                }
                RecordKind::CompactionMarker
                | RecordKind::RaftEntry
                | RecordKind::RaftTruncate
                | RecordKind::AddIndex
                | RecordKind::DropIndex => {}
                RecordKind::Put | RecordKind::Replace | RecordKind::Delete => {
                    if h.seq > self.until {
                        return Ok(Replayed::End);
                    }
                    let (op, previous) = Self::op_of(&mut self.live, &h);
                    let after = h.seq > self.since;
                    if !after && watch.is_none() {
                        continue;
                    }
                    let Some(collection) = self.wanted(h.collection) else {
                        continue;
                    };
                    let matches = match watch.as_deref_mut() {
                        None => None,
                        Some(watch) => {
                            let new_match = match op {
                                ChangeOp::Delete => false,
                                _ => Self::test(watch, h.id, frame.payload())?,
                            };
                            let concerns = watch.apply(&collection, h.id, op, new_match, previous);
                            match concerns {
                                Some(matches) if after => Some(matches),
                                _ => continue,
                            }
                        }
                    };
                    let doc = match op {
                        ChangeOp::Delete => None,
                        _ => Some(Document {
                            id: Some(h.id),
                            fields: decode_fields(frame.payload())?,
                        }),
                    };
                    return Ok(Replayed::Event(ChangeEvent {
                        seq: h.seq,
                        op,
                        collection,
                        id: h.id,
                        doc,
                        matches,
                    }));
                }
            }
        }
        Ok(Replayed::Pause)
    }
}

/// A stream of changes: first the log's retained changes after `since`, then live ones,
/// in seq order, with no gap and no duplicate. Bounded memory: a consumer that falls more
/// than the broadcast buffer behind gets [`FeedError::Lagged`] and should resume.
pub struct ChangeStream {
    /// Said before anything else: the replay cannot be complete.
    refusal: Option<FeedError>,
    replay: Option<Replay>,
    live: broadcast::Receiver<Arc<ChangeEvent>>,
    /// Highest seq delivered (or skipped as covered by the replay).
    last_seq: u64,
    collection: Option<Arc<str>>,
    capacity: usize,
    /// A cluster node's log marks, and the snapshot it had installed when the stream
    /// began: a snapshot installed since skips changes the live stream never saw. (Not the
    /// database's state: a stream must not keep the database, its directory lock or its
    /// change channel alive.)
    marks: Arc<LogMarks>,
    snapshot: Option<(nyro_storage::Location, u64)>,
    /// A live query's predicate and matching ids; `None` on an unfiltered stream.
    watch: Option<Watch>,
}

impl std::fmt::Debug for ChangeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream")
            .field("last_seq", &self.last_seq)
            .field("collection", &self.collection)
            .field("watch", &self.watch)
            .finish()
    }
}

impl ChangeStream {
    /// `live` must be subscribed *before* `until` (the last committed seq) is read, so that
    /// every change after `until` reaches it. `frames` is the log to replay, with whether it
    /// holds format-1 segments (then the replay tracks ids to tell updates from inserts);
    /// `damage` is where a damaged frame the replay meets is recorded, `marks` which Raft
    /// entries it skips and which snapshot is installed. A live query's `watch` needs
    /// `frames` (from the log's start) even without `since`: its matching ids are those of
    /// `until`, where its live events begin ([`crate::live`]).
    #[allow(clippy::too_many_arguments)] // each is one fact about the stream to start
    pub(crate) fn new(
        live: broadcast::Receiver<Arc<ChangeEvent>>,
        frames: Option<(LogIter, bool)>,
        damage: Arc<DamageLog>,
        marks: Arc<LogMarks>,
        since: u64,
        until: u64,
        collection: Option<Arc<str>>,
        compacted_floor: Option<u64>,
        watch: Option<Watch>,
    ) -> Self {
        let snapshot = marks.snapshot();
        let replay = frames.map(|(frames, track_ids)| Replay {
            frames,
            waiting_for: snapshot.map(|(header, _)| header),
            damage,
            marks: Arc::clone(&marks),
            skipping: false,
            in_snapshot: false,
            since,
            until,
            collection: collection.clone(),
            live: track_ids.then(HashMap::new),
            names: HashMap::new(),
        });
        Self {
            refusal: compacted_floor.map(|floor| FeedError::HistoryCompacted { since, floor }),
            replay,
            live,
            last_seq: until.max(since),
            collection,
            capacity: crate::types::FEED_CAPACITY,
            marks,
            snapshot,
            watch,
        }
    }

    /// Where the stream stands: at first the later of `since` and the last seq committed
    /// when it began (its replay delivers the changes up to there; its live changes
    /// begin after it), then the seq of each live change it delivered or passed over (of
    /// another collection, or not concerning its live query). A live query's events apply
    /// to the matching documents as of the seq it started at.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The next change, `None` when the database closed cleanly.
    pub async fn next(&mut self) -> Option<Result<ChangeEvent, FeedError>> {
        if let Some(refusal) = self.refusal.take() {
            self.replay = None;
            return Some(Err(refusal));
        }
        while let Some(replay) = &mut self.replay {
            match replay.next(self.watch.as_mut()) {
                Ok(Replayed::Event(event)) => return Some(Ok(event)),
                Ok(Replayed::Pause) => tokio::task::yield_now().await,
                Ok(Replayed::End) => self.replay = None,
                Err(e) => {
                    self.replay = None;
                    return Some(Err(FeedError::Replay(e)));
                }
            }
        }
        loop {
            match self.live.recv().await {
                Ok(event) => {
                    let installed = self.marks.snapshot();
                    if installed != self.snapshot {
                        // A snapshot replaced this node's state: the changes it covers never
                        // came through here.
                        self.snapshot = installed;
                        let floor = installed.map_or(0, |(_, seq)| seq);
                        if floor > self.last_seq {
                            return Some(Err(FeedError::HistoryCompacted {
                                since: self.last_seq,
                                floor,
                            }));
                        }
                    }
                    if event.seq <= self.last_seq {
                        continue; // already covered by the replay
                    }
                    self.last_seq = event.seq;
                    if !self.wanted(&event) {
                        continue;
                    }
                    let Some(watch) = &mut self.watch else {
                        return Some(Ok(ChangeEvent::clone(&event)));
                    };
                    match concerns(watch, &event) {
                        Ok(Some(matches)) => {
                            let mut event = ChangeEvent::clone(&event);
                            event.matches = Some(matches);
                            return Some(Ok(event));
                        }
                        Ok(None) => {}
                        Err(source) => {
                            return Some(Err(FeedError::Filter {
                                seq: event.seq,
                                source,
                            }));
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Err(FeedError::Lagged {
                        capacity: self.capacity,
                        last_seq: self.last_seq,
                    }));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    fn wanted(&self, event: &ChangeEvent) -> bool {
        self.collection
            .as_ref()
            .is_none_or(|name| **name == *event.collection)
    }
}

/// Takes a live change into a live query's `watch`: `Some(matches)` if it concerns the
/// filter. The event holds the owned document; the filter reads views of stored bytes, so
/// the document is encoded once here.
fn concerns(watch: &mut Watch, event: &ChangeEvent) -> Result<Option<bool>> {
    let new_match = match &event.doc {
        None => false,
        Some(doc) => {
            let bytes = doc.to_stored_bytes()?;
            watch.matches(&DocumentView::new(event.id, &bytes)?)
        }
    };
    Ok(watch.apply(
        &event.collection,
        event.id,
        event.op,
        new_match,
        Previous::Known,
    ))
}
