//! State shared by readers and the writer (its leader of the moment).

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use nyro_storage::{Location, LogReader};
use tokio::sync::broadcast;

use crate::builds::Builds;
use crate::catalog::{Catalog, Collection};
use crate::damage::DamageLog;
use crate::error::{DbError, Result};
use crate::feed::ChangeEvent;

/// What readers see. Only the writer's leader (through the applier) changes it, and only
/// after the change's bytes are in the log.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) catalog: ArcSwap<Catalog>,
    /// Highest committed (visible) sequence number.
    pub(crate) last_seq: AtomicU64,
    pub(crate) changes: broadcast::Sender<Arc<ChangeEvent>>,
    /// For reading old documents' index keys and for the change feed's replay.
    pub(crate) reader: LogReader,
    /// Damaged frames found since open (by reads and by the scrub).
    pub(crate) damage: Arc<DamageLog>,
    /// A cluster node's marks on its log (empty on a standalone database), shared with
    /// change streams without the rest of the state (a stream must not keep the database,
    /// its directory lock or its change channel alive).
    pub(crate) marks: Arc<LogMarks>,
    /// The online index builds (`crate::builds`).
    pub(crate) builds: Arc<Builds>,
}

/// What a cluster node's log holds that is not visible, shared by the state and the
/// change feed's replays.
#[derive(Debug, Default)]
pub(crate) struct LogMarks {
    /// The `raft entry` frames of the entries whose records are not visible (truncated,
    /// void, or not applied yet); the change feed's replay skips them.
    skipped_entries: RwLock<HashSet<Location>>,
    /// The installed snapshot: the `raft entry` frame its records follow, and its last
    /// seq. The log before it is superseded: the feed's replay starts there, and cannot go
    /// back before that seq.
    snapshot: RwLock<Option<(Location, u64)>>,
}

impl State {
    pub(crate) fn new(
        reader: LogReader,
        catalog: Catalog,
        last_seq: u64,
        feed_capacity: usize,
    ) -> Self {
        let (changes, _) = broadcast::channel(feed_capacity);
        Self {
            catalog: ArcSwap::from_pointee(catalog),
            last_seq: AtomicU64::new(last_seq),
            changes,
            reader,
            damage: Arc::default(),
            marks: Arc::default(),
            builds: Arc::default(),
        }
    }

    /// Starts the index builds that commits queued (once their batch or entry is over).
    pub(crate) fn start_index_builds(&self) {
        self.builds.start_queued(&self.reader, &self.damage);
    }

    /// Marks the Raft entry whose `raft entry` frame is at `header` as not visible.
    pub(crate) fn skip_entry(&self, header: Location) {
        self.marks.skip_entry(header);
    }

    /// Marks the Raft entry whose `raft entry` frame is at `header` as applied.
    pub(crate) fn unskip_entry(&self, header: Location) {
        self.marks.unskip_entry(header);
    }

    /// Replaces the set of entries that are not visible (on open).
    pub(crate) fn set_skipped_entries(&self, skipped: HashSet<Location>) {
        self.marks.set_skipped_entries(skipped);
    }

    /// Records the installed snapshot: see [`LogMarks::set_snapshot`].
    pub(crate) fn set_snapshot(&self, header: Location, last_seq: u64) {
        self.marks.set_snapshot(header, last_seq);
    }

    /// The installed snapshot, if any.
    pub(crate) fn snapshot(&self) -> Option<(Location, u64)> {
        self.marks.snapshot()
    }

    pub(crate) fn collection(&self, name: &str) -> Result<Arc<Collection>> {
        self.catalog
            .load()
            .by_name(name)
            .cloned()
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: name.to_string(),
            })
    }
}

impl LogMarks {
    /// Records the installed snapshot whose records follow the frame at `header`, with its
    /// last seq; every entry before it is superseded.
    pub(crate) fn set_snapshot(&self, header: Location, last_seq: u64) {
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((header, last_seq));
        self.set_skipped_entries(HashSet::new());
    }

    /// The installed snapshot, if any: see [`LogMarks::set_snapshot`].
    pub(crate) fn snapshot(&self) -> Option<(Location, u64)> {
        *self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the Raft entry whose `raft entry` frame is at `header` as not visible.
    pub(crate) fn skip_entry(&self, header: Location) {
        self.skipped_entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(header);
    }

    /// Marks the Raft entry whose `raft entry` frame is at `header` as applied.
    pub(crate) fn unskip_entry(&self, header: Location) {
        self.skipped_entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&header);
    }

    /// Replaces the set of entries that are not visible (on open).
    pub(crate) fn set_skipped_entries(&self, skipped: HashSet<Location>) {
        *self
            .skipped_entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = skipped;
    }

    /// Whether the Raft entry whose `raft entry` frame is at `header` is not visible.
    pub(crate) fn is_skipped_entry(&self, header: Location) -> bool {
        self.skipped_entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&header)
    }
}
