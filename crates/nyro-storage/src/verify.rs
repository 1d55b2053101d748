//! `verify`: walk every frame of a data directory and report every problem, changing
//! nothing.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::frame;
use crate::lock::DirLock;
use crate::mmap::Mapping;
use crate::scan::scan_from;
use crate::segment::{self, SEGMENT_HEADER_LEN};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A torn tail of the newest segment: the normal trace of a crash, cut off on open.
    TornTail,
    /// Damage that intact data follows, or damage in a sealed segment: media corruption.
    Corrupt,
}

/// One damaged place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Damaged bytes, up to the next intact frame or the end of the file.
    pub len: u64,
    /// What kind of problem it is.
    pub severity: Severity,
    /// What is wrong.
    pub detail: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Intact frames.
    pub frames: u64,
    /// Bytes in all segment files.
    pub bytes: u64,
    /// Every problem, in log order.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when nothing is corrupt (a torn tail alone is not corruption).
    pub fn is_intact(&self) -> bool {
        self.problems
            .iter()
            .all(|p| p.severity == Severity::TornTail)
    }
}

/// Checks every frame of every segment in `dir` without changing anything. Takes the
/// directory lock, so it refuses a directory that a running database holds.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let _lock = DirLock::acquire(dir)?;
    // In log order, so that "newest" is the segment open takes as the active one (a
    // compacted or repaired segment has a higher file number than the segments after it).
    let files = crate::compact::log_order(dir)?;
    let mut report = VerifyReport::default();
    for (index, (id, path, _)) in files.iter().enumerate() {
        let newest = index + 1 == files.len();
        verify_segment(*id, path, newest, &mut report)?;
    }
    Ok(report)
}

fn verify_segment(id: u32, path: &Path, newest: bool, report: &mut VerifyReport) -> Result<()> {
    let file = File::open(path).io_context("open segment", path)?;
    let len = file.metadata().io_context("stat segment", path)?.len();
    report.segments += 1;
    report.bytes += len;
    if len == 0 {
        report.problems.push(Problem {
            path: path.to_path_buf(),
            offset: 0,
            len: 0,
            severity: if newest {
                Severity::TornTail
            } else {
                Severity::Corrupt
            },
            detail: "empty segment file (no header)".into(),
        });
        return Ok(());
    }
    let map = Mapping::new(&file, len as usize).io_context("map segment", path)?;
    let bytes = map.bytes(len);
    if let Err(problem) = segment::check_header(bytes, id) {
        // As on open: a bad header of the newest segment with no intact frame after it is a
        // segment whose creation was cut short (open rewrites it), not corruption.
        let torn = newest && frame::next_intact(bytes, SEGMENT_HEADER_LEN).is_none();
        report.problems.push(Problem {
            path: path.to_path_buf(),
            offset: 0,
            len: SEGMENT_HEADER_LEN.min(bytes.len()) as u64,
            severity: if torn {
                Severity::TornTail
            } else {
                Severity::Corrupt
            },
            detail: format!("segment header: {problem:?}"),
        });
    }
    let mut start = SEGMENT_HEADER_LEN;
    while start < bytes.len() {
        let scan = scan_from(bytes, start);
        report.frames += scan.frames;
        let Some(damage) = scan.damage else {
            if newest && scan.write_end < scan.end {
                report.problems.push(Problem {
                    path: path.to_path_buf(),
                    offset: scan.write_end,
                    len: scan.end - scan.write_end,
                    severity: Severity::TornTail,
                    detail: "an incomplete write at the end (its final records are missing)".into(),
                });
            }
            break;
        };
        let stop = damage.next_intact.unwrap_or(len);
        let torn = newest && damage.next_intact.is_none();
        report.problems.push(Problem {
            path: path.to_path_buf(),
            offset: damage.offset,
            len: stop - damage.offset,
            severity: if torn {
                Severity::TornTail
            } else {
                Severity::Corrupt
            },
            detail: damage.defect.to_string(),
        });
        start = stop as usize;
    }
    Ok(())
}
