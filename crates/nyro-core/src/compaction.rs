//! Compaction, the core's part: which frames of a sealed segment are still needed, and the
//! three steps of reclaiming the rest — rewrite (blocking I/O, off the async threads), switch
//! the indexes (by the writer's leader, serialized with every write), retire the old file.
//!
//! A frame is kept when:
//! - it is a put or replace that the primary index still points at (the live version);
//! - it is a tombstone of a live collection, unless the segment is the oldest in the log
//!   (then no older segment can hold a version it hides) and a live document has a higher
//!   id (else it may be the only record of the highest id the collection has used);
//! - it is a catalog record (create or drop collection): tiny, and replay needs them;
//! - it is a Raft entry or truncate frame (a cluster's log: replay needs the headers to
//!   tell applied entries from void, truncated or pending ones).
//!
//! In a cluster node's log, a segment is rewritten only once every Raft entry in it is at
//! or below the purged index: the entries after it may still be read back whole, to be
//! sent to a follower.
//!
//! Crash safety comes from the log: the new segment is complete and fsynced before it takes
//! the old one's name, and the old file goes only after the switch; see
//! `nyro_storage::LogReader::rewrite` and docs/ARCHITECTURE.md.

use std::sync::Arc;
use std::time::Duration;

use nyro_batch::WriterHandle;
use nyro_storage::{FrameHeader, Location, RecordKind};

use crate::error::{DbError, Result};
use crate::state::State;
use crate::write::{self, CoreApplier, Relocate};

/// How often the background compaction looks for segments over `min_dead_ratio`.
pub const AUTO_INTERVAL: Duration = Duration::from_secs(10);

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactSummary {
    /// Segments rewritten.
    pub segments_rewritten: usize,
    /// Their bytes before.
    pub bytes_before: u64,
    /// The bytes of their replacements.
    pub bytes_after: u64,
}

/// Whether the frame `header` at `location` must survive compaction.
fn keep(state: &State, header: &FrameHeader, location: Location, oldest: bool) -> bool {
    let catalog = state.catalog.load();
    match header.kind {
        // Catalog records: replay needs every one (an index's records, as a collection's).
        RecordKind::CreateCollection
        | RecordKind::DropCollection
        | RecordKind::AddIndex
        | RecordKind::DropIndex => true,
        // A cluster's Raft log (nyro-raft); a standalone log never has them.
        RecordKind::RaftEntry | RecordKind::RaftTruncate => true,
        RecordKind::Put | RecordKind::Replace => catalog
            .by_id(header.collection)
            .is_some_and(|c| c.index.primary().get(header.id) == Some(location)),
        // In the oldest segment a tombstone hides nothing, but one whose id is above every
        // live id may be the only record left of the collection's highest id: replay takes
        // the next id to assign from the ids in the log, and ids are never reused.
        RecordKind::Delete => catalog.by_id(header.collection).is_some_and(|c| {
            !oldest || c.index.primary().max_id().is_none_or(|max| header.id > max)
        }),
        RecordKind::CompactionMarker => false,
    }
}

fn join_error(e: tokio::task::JoinError) -> DbError {
    DbError::Internal {
        message: format!("a compaction task failed: {e}"),
    }
}

/// What the background maintenance needs; it holds it weakly, so it never keeps a dropped
/// database (and its directory lock) alive.
pub(crate) trait CompactionTarget: Send + Sync + 'static {
    /// Runs one pass: compaction of segments past `min_dead_ratio` (if given), then hints
    /// for sealed segments that have none. Returns the compaction's summary and the number
    /// of hints written.
    fn pass(
        &self,
        runtime: &tokio::runtime::Runtime,
        min_dead_ratio: Option<f64>,
    ) -> Result<(CompactSummary, usize)>;
}

/// Starts the background maintenance: every `interval` it rewrites the sealed
/// segments whose dead bytes exceed `min_dead_ratio` (when `compaction.auto` gives one) and
/// writes hint files for sealed segments that have none. It stops when `stop` is dropped
/// (the database is dropped) or the database is closed. A thread with its own small runtime,
/// so it needs nothing from the embedding program's runtime (which may have no timer).
pub(crate) fn spawn_background<T: CompactionTarget>(
    target: std::sync::Weak<T>,
    min_dead_ratio: Option<f64>,
    interval: Duration,
) -> std::io::Result<Background> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("nyro-maintenance".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(interval)
            {
                let Some(target) = target.upgrade() else {
                    return;
                };
                match target.pass(&runtime, min_dead_ratio) {
                    Ok((summary, hints)) => {
                        if summary.segments_rewritten > 0 {
                            tracing::info!(
                                segments = summary.segments_rewritten,
                                bytes_before = summary.bytes_before,
                                bytes_after = summary.bytes_after,
                                "background compaction"
                            );
                        }
                        if hints > 0 {
                            tracing::debug!(hints, "hint files written");
                        }
                    }
                    Err(DbError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "background compaction failed; will retry")
                    }
                }
            }
        })?;
    Ok(Background {
        stop,
        thread: Some(thread),
    })
}

/// The running background maintenance: dropping `stop` ends it at its next wake-up.
pub(crate) struct Background {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Stops the thread and waits until it has ended, and with it any pass it was running:
    /// afterwards it holds nothing of the database (the directory lock included).
    pub(crate) fn stop_and_join(mut self) {
        drop(self.stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether segment `id` holds a Raft entry whose index is above `purged` (`None`: nothing
/// purged, so any entry is).
fn holds_retained_entries(state: &State, id: u32, purged: Option<u64>) -> Result<bool> {
    for frame in state.reader.iter_segment(id) {
        let frame = frame?;
        let h = frame.header();
        if h.kind == RecordKind::RaftEntry && purged.is_none_or(|p| h.seq > p) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Rewrites every sealed segment whose dead bytes exceed `min_dead_ratio` of its size
/// (any dead byte at all when the ratio is 0). `raft_purged`: a cluster node's log, where
/// only segments whose Raft entries are all at or below the purged index (the inner
/// option) are rewritten.
pub(crate) async fn run(
    state: &Arc<State>,
    writer: &WriterHandle<CoreApplier>,
    min_dead_ratio: f64,
    raft_purged: Option<Option<u64>>,
) -> Result<CompactSummary> {
    let reader = state.reader.clone();
    let segments = reader.segments();
    let oldest = segments.iter().map(|s| s.position).min();
    let mut summary = CompactSummary::default();
    for segment in segments {
        let worth_it = !segment.active
            && segment.dead_bytes > 0
            && segment.dead_bytes as f64 >= min_dead_ratio * segment.bytes as f64;
        if !worth_it {
            continue;
        }
        if let Some(purged) = raft_purged {
            let (state, id) = (Arc::clone(state), segment.id);
            let retained =
                tokio::task::spawn_blocking(move || holds_retained_entries(&state, id, purged))
                    .await
                    .map_err(join_error)??;
            if retained {
                continue;
            }
        }
        let is_oldest = Some(segment.position) == oldest;
        let (state_for_keep, log) = (Arc::clone(state), reader.clone());
        let rewritten = tokio::task::spawn_blocking(move || {
            log.rewrite(segment.id, |header, location| {
                keep(&state_for_keep, header, location, is_oldest)
            })
        })
        .await
        .map_err(join_error)?
        .map_err(|e| state.damage.frame_error(e, None, None))?;
        let (old, before, after) = (rewritten.old, rewritten.bytes_before, rewritten.bytes_after);
        let switch = Relocate {
            moved: rewritten.moved,
        };
        write::submit(writer, switch, false).await?;
        let log = reader.clone();
        tokio::task::spawn_blocking(move || log.retire(old))
            .await
            .map_err(join_error)??;
        summary.segments_rewritten += 1;
        summary.bytes_before += before;
        summary.bytes_after += after;
    }
    Ok(summary)
}
