//! What the database knows about damaged frames found while it runs.
//!
//! Open reads every frame of a segment it replays and refuses damage there (contract section
//! 2). A sealed segment opened from its hint file is not read on open, so damage in it shows
//! up later: at the first read that meets it (`get`, `list`, `find`, a scan, the change
//! feed's replay, compaction, a backup) or when the background scrub (`crate::scrub`) reaches
//! it. Each such place is recorded here once: counted (`nyrodb_corrupt_frames_total`), logged
//! with its file and offset, and from then on the database reports itself degraded. The read
//! that met it gets [`DbError::Corrupt`], never the bad bytes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nyro_storage::{LENGTH_MISMATCH, LogReader, StorageError, parse_segment_file_name};

use crate::error::DbError;

/// Distinct damaged places remembered to count each only once; past this many, every
/// further sighting of an unremembered place counts (bounded memory over exactness).
const REMEMBERED: usize = 65_536;

/// Who found a damaged frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// A read on behalf of a caller (get, list, find, a scan, the change feed, compaction,
    /// a backup).
    Read,
    /// The background scrub of the segments opened from their hints.
    Scrub,
}

impl FoundBy {
    /// "a read" or "the scrub".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "a read",
            Self::Scrub => "the scrub",
        }
    }
}

/// One damaged frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedFrame {
    /// The segment's file number.
    pub segment: u32,
    /// Byte offset of the frame in the segment file.
    pub offset: u64,
    /// The segment file (for logs and operators; never sent to a client).
    pub path: PathBuf,
    /// What is wrong with it.
    pub defect: String,
    /// Who found it.
    pub found_by: FoundBy,
}

/// What [`crate::Database::damage`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Distinct damaged frames found since open.
    pub corrupt_frames: u64,
    /// The first one found.
    pub first: Option<DamagedFrame>,
}

impl Damage {
    /// True once any damage is known: the database serves what is intact but is degraded.
    pub fn degraded(&self) -> bool {
        self.corrupt_frames > 0
    }

    /// Why the database is degraded, in a sentence that names no file path (it may be shown
    /// to anyone who can reach `/health`); `None` while no damage is known.
    pub fn reason(&self) -> Option<String> {
        let first = self.first.as_ref()?;
        let n = self.corrupt_frames;
        Some(format!(
            "{n} damaged frame{} found in the log (the first in segment {} at offset {}, by {}); \
             reads of the records in them fail; run `nyrodb verify`, then `nyrodb repair`",
            if n == 1 { "" } else { "s" },
            first.segment,
            first.offset,
            first.found_by.as_str(),
        ))
    }
}

#[derive(Debug, Default)]
struct Known {
    places: HashSet<(u32, u64)>,
    damage: Damage,
}

/// The database-wide record of damage found since open; shared by readers, the writer
/// thread, compaction and the scrub.
#[derive(Debug, Default)]
pub(crate) struct DamageLog {
    known: Mutex<Known>,
    /// `known.damage.corrupt_frames`, readable without the lock: `/health` and `/metrics`
    /// of a healthy database take no lock.
    count: AtomicU64,
}

/// "document 7 of collection \"users\"" and the like, for [`DbError::Corrupt`]'s message.
pub(crate) fn what(collection: Option<&str>, id: Option<u64>) -> String {
    match (collection, id) {
        (Some(c), Some(id)) => format!("document {id} of collection {c:?}"),
        (Some(c), None) => format!("a record of collection {c:?}"),
        (None, Some(id)) => format!("record {id}"),
        (None, None) => "a record".to_string(),
    }
}

fn segment_of(path: &Path) -> u32 {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(parse_segment_file_name)
        .unwrap_or(0)
}

impl DamageLog {
    /// Records `frame`; returns true if it was not known yet (then it was counted and
    /// logged with its file and offset).
    pub(crate) fn record(&self, frame: DamagedFrame) -> bool {
        {
            let mut known = self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let place = (frame.segment, frame.offset);
            if known.places.contains(&place) {
                return false;
            }
            if known.places.len() < REMEMBERED {
                known.places.insert(place);
            }
            known.damage.corrupt_frames += 1;
            self.count
                .store(known.damage.corrupt_frames, Ordering::Release);
            if known.damage.first.is_none() {
                known.damage.first = Some(frame.clone());
            }
        }
        tracing::error!(path = %frame.path.display(), segment = frame.segment,
            offset = frame.offset, defect = %frame.defect, found_by = frame.found_by.as_str(),
            "damaged frame in the log: the database is degraded; run `nyrodb verify`");
        true
    }

    /// What is known so far.
    pub(crate) fn snapshot(&self) -> Damage {
        if self.count.load(Ordering::Acquire) == 0 {
            return Damage::default();
        }
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .damage
            .clone()
    }

    /// The error for a failed read of a location taken from the index, of document `id` of
    /// `collection`: as [`DamageLog::frame_error`], and a location whose bytes do not start
    /// with its length is a damaged length field too (the index got it from this log or
    /// from a trusted hint).
    pub(crate) fn read_error(
        &self,
        reader: &LogReader,
        error: StorageError,
        collection: &str,
        id: u64,
    ) -> DbError {
        if let StorageError::BadLocation {
            segment,
            offset,
            len,
            reason: LENGTH_MISMATCH,
        } = error
            && let Some(info) = reader.segments().into_iter().find(|s| s.id == segment)
        {
            let defect = format!("its length field does not hold {len}, its known length");
            return self.corrupt(
                segment,
                offset,
                info.path,
                defect,
                Some(collection),
                Some(id),
            );
        }
        self.frame_error(error, Some(collection), Some(id))
    }

    /// The error for a failed read of a frame (of document `id` of `collection`, when
    /// known): a damaged frame becomes [`DbError::Corrupt`] and is recorded; anything else
    /// stays a storage error.
    pub(crate) fn frame_error(
        &self,
        error: StorageError,
        collection: Option<&str>,
        id: Option<u64>,
    ) -> DbError {
        match error {
            StorageError::Corrupt {
                path,
                offset,
                defect,
            } => self.corrupt(
                segment_of(&path),
                offset,
                path,
                defect.to_string(),
                collection,
                id,
            ),
            other => DbError::Storage(other),
        }
    }

    /// Records the damaged frame at `offset` of `segment` (file `path`) and returns the
    /// error for the read that met it.
    pub(crate) fn corrupt(
        &self,
        segment: u32,
        offset: u64,
        path: PathBuf,
        defect: String,
        collection: Option<&str>,
        id: Option<u64>,
    ) -> DbError {
        self.record(DamagedFrame {
            segment,
            offset,
            path: path.clone(),
            defect: defect.clone(),
            found_by: FoundBy::Read,
        });
        DbError::Corrupt {
            collection: collection.map(str::to_string),
            id,
            segment,
            offset,
            path,
            defect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segment: u32, offset: u64, found_by: FoundBy) -> DamagedFrame {
        DamagedFrame {
            segment,
            offset,
            path: PathBuf::from(format!(
                "/data/{}",
                nyro_storage::segment_file_name(segment)
            )),
            defect: "checksum mismatch".into(),
            found_by,
        }
    }

    #[test]
    fn each_place_counts_once_and_the_first_is_kept() {
        let log = DamageLog::default();
        assert!(!log.snapshot().degraded());
        assert_eq!(log.snapshot().reason(), None);
        assert!(log.record(frame(3, 4096, FoundBy::Read)));
        assert!(!log.record(frame(3, 4096, FoundBy::Scrub)));
        assert!(log.record(frame(4, 32, FoundBy::Scrub)));
        let damage = log.snapshot();
        assert_eq!(damage.corrupt_frames, 2);
        assert_eq!(damage.first, Some(frame(3, 4096, FoundBy::Read)));
        let reason = damage.reason().unwrap_or_default();
        assert!(reason.starts_with("2 damaged frames"), "{reason}");
        assert!(
            reason.contains("segment 3 at offset 4096, by a read"),
            "{reason}"
        );
        assert!(!reason.contains("/data"), "no path in {reason}");
    }

    #[test]
    fn segment_ids_come_from_file_names() {
        assert_eq!(segment_of(Path::new("/x/segment-0000000012.log")), 12);
        assert_eq!(segment_of(Path::new("/x/other")), 0);
    }
}
