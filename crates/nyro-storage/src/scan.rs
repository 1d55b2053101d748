//! Scanning a segment's frames: shared by recovery (which stops at the first damage),
//! `verify` (which reports it and resumes at the next intact frame) and `repair` (which walks
//! every intact frame and every damaged place with [`walk`]).

use crate::frame::{self, FrameCheck, FrameDefect, FrameHeader};

/// A place where the frames stop being intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Offset of the first bad byte (start of the bad frame).
    pub(crate) offset: u64,
    /// What is wrong there.
    pub(crate) defect: FrameDefect,
    /// The next offset where an intact frame starts, if any. `None` means everything from
    /// `offset` to the end is unreadable: in the newest segment, a torn tail.
    pub(crate) next_intact: Option<u64>,
}

/// What a scan found between its start and the first damage (or the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Intact frames found.
    pub(crate) frames: u64,
    /// End of the last intact frame (the scan's start if there was none).
    pub(crate) end: u64,
    /// End of the last intact frame that ends a write (its `continues` flag clear): frames
    /// after it, up to `end`, are the beginning of a write whose end is missing.
    pub(crate) write_end: u64,
    /// Highest sequence number among the intact frames.
    pub(crate) max_seq: Option<u64>,
    /// The damage that stopped the scan, if any.
    pub(crate) damage: Option<Damage>,
}

/// Scans the frames of `bytes` from `start` until the end or the first damage.
pub(crate) fn scan_from(bytes: &[u8], start: usize) -> Scan {
    let mut scan = Scan {
        frames: 0,
        end: start as u64,
        write_end: start as u64,
        max_seq: None,
        damage: None,
    };
    let mut pos = start;
    while pos < bytes.len() {
        match frame::check(&bytes[pos..]) {
            FrameCheck::Complete(header) => {
                scan.frames += 1;
                scan.max_seq = scan.max_seq.max(Some(header.seq));
                pos += header.frame_len as usize;
                scan.end = pos as u64;
                if !header.continues {
                    scan.write_end = scan.end;
                }
            }
            FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                scan.damage = Some(Damage {
                    offset: pos as u64,
                    defect,
                    next_intact: frame::next_intact(bytes, pos + 1).map(|at| at as u64),
                });
                break;
            }
        }
    }
    scan
}

/// One step of a [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// An intact frame starts at `offset`.
    Frame {
        /// Where it starts.
        offset: u64,
        /// Its checked header.
        header: FrameHeader,
    },
    /// Damage; the walk goes on at its `next_intact` (if any).
    Damage(Damage),
}

/// Every intact frame and every damaged place of `bytes` from `start` to the end, in order:
/// after damage the walk resumes at the next offset where an intact frame starts (as
/// `verify` does), and ends with the damage if none does.
pub(crate) fn walk(bytes: &[u8], start: usize) -> impl Iterator<Item = Piece> + '_ {
    let mut pos = Some(start);
    std::iter::from_fn(move || {
        let at = pos.filter(|&at| at < bytes.len())?;
        match frame::check(&bytes[at..]) {
            FrameCheck::Complete(header) => {
                pos = Some(at + header.frame_len as usize);
                Some(Piece::Frame {
                    offset: at as u64,
                    header,
                })
            }
            FrameCheck::Incomplete(defect) | FrameCheck::Invalid(defect) => {
                let next = frame::next_intact(bytes, at + 1);
                pos = next;
                Some(Piece::Damage(Damage {
                    offset: at as u64,
                    defect,
                    next_intact: next.map(|n| n as u64),
                }))
            }
        }
    })
}
