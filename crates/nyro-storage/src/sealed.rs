//! Opening the sealed segments of a log: each one mapped and scanned, unless a hint that can
//! be trusted describes it (then the hint is checked instead: docs/FORMAT.md section 6).
//! Segments are independent, so two threads share them (with many large hints, checking
//! them is most of the log's own open time); results come back in log order, and the
//! first damage in log order is the error reported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::error::{IoContext, Result, StorageError};
use crate::hint::Hint;
use crate::log::RecoveryReport;
use crate::mmap::Mapping;
use crate::scan::scan_from;
use crate::segment::{self, Placement, SEGMENT_HEADER_LEN, Segment};

/// One sealed segment opened: the segment, its trusted hint, what opening it found.
type Opened = (Arc<Segment>, Option<Hint>, RecoveryReport);

/// Opens every segment of `files` (file number, path, placement; in log order, none of
/// them the newest) on two threads; in log order.
pub(crate) fn open_all(files: &[(u32, PathBuf, Placement)]) -> Result<Vec<Opened>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Opened>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((id, path, placement)) = files.get(i) else {
                return;
            };
            let mut report = RecoveryReport::default();
            let opened = open_sealed(*id, *placement, path, &mut report)
                .map(|(segment, hint)| (segment, hint, report));
            *slots[i].lock() = Some(opened);
        }
    };
    std::thread::scope(|scope| {
        if files.len() > 1 {
            scope.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, (_, path, _))| {
            // Every slot was filled, unless a thread panicked (then it is a bug: say where).
            slot.into_inner().unwrap_or_else(|| {
                Err(StorageError::BadSegmentHeader {
                    path: path.clone(),
                    reason: "opening it did not finish".to_string(),
                })
            })
        })
        .collect()
}

/// Opens a sealed segment: scanned, unless a hint that can be trusted describes it (then
/// returned too).
fn open_sealed(
    id: u32,
    placement: Placement,
    path: &Path,
    report: &mut RecoveryReport,
) -> Result<(Arc<Segment>, Option<Hint>)> {
    let file = File::open(path).io_context("open segment", path)?;
    let len = file.metadata().io_context("stat segment", path)?.len();
    let map = Mapping::new(&file, len as usize).io_context("map segment", path)?;
    let bytes = map.bytes(len);
    segment::check_header(bytes, id).map_err(|problem| StorageError::BadSegmentHeader {
        path: path.to_path_buf(),
        reason: format!("{problem:?}"),
    })?;
    // A sealed segment with a trustworthy hint is not read on open: its frames were checked
    // when it was sealed and hinted, every read checks its frame again, and `verify` checks
    // them all. (A damaged or missing hint: the segment is scanned as usual.)
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    if let Some(hint) = crate::hint::trusted(dir, id, len) {
        report.hinted_segments += 1;
        report.segments += 1;
        report.bytes += len;
        let segment = Segment::new(id, placement, path.to_path_buf(), map, len);
        return Ok((Arc::new(segment), Some(hint)));
    }
    let scan = scan_from(bytes, SEGMENT_HEADER_LEN);
    if let Some(damage) = scan.damage {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            offset: damage.offset,
            defect: damage.defect,
        });
    }
    report.segments += 1;
    report.frames += scan.frames;
    report.bytes += scan.end;
    report.max_seq = report.max_seq.max(scan.max_seq);
    let segment = Segment::new(id, placement, path.to_path_buf(), map, scan.end);
    Ok((Arc::new(segment), None))
}
