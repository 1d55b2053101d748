//! The background scrub: after open, it reads every frame of the sealed segments that open
//! took from their hint files (and so never read), so that damage in them is found without
//! waiting for a read to meet it. A segment open replayed frame by frame was fully checked
//! then, and needs no scrub.
//!
//! It runs on a thread of its own (nothing of the embedding program's runtime), reads at
//! most `storage.scrub_mb_per_sec` MiB per second ([`DEFAULT_SCRUB_RATE`] by default, or
//! the rate of [`crate::OpenOptions::scrub_rate`]) so that the foreground keeps the disk, and stops at
//! once when the database closes or is dropped. What it finds goes to the database's
//! `DamageLog` (counted, logged with file and offset, the database degraded); nothing is
//! changed on disk. It runs once per open: segments written afterwards were written by this
//! process, and segments compaction rewrites are read whole by the rewrite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nyro_storage::LogReader;

use crate::damage::{DamageLog, DamagedFrame, FoundBy};

/// Bytes per second the scrub reads by default (`storage.scrub_mb_per_sec = 64`, unless
/// [`crate::OpenOptions::scrub_rate`] says otherwise): 64 MiB/s, a small share of a disk,
/// so a 256 MiB segment takes about 4 s.
pub const DEFAULT_SCRUB_RATE: u64 = 64 << 20;

/// How far the scrub has come, from [`crate::Database::scrub_progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrubProgress {
    /// Segments to scrub: those open took from their hints.
    pub segments: usize,
    /// Segments checked so far (one compacted away before its turn counts as checked: the
    /// rewrite read every frame of it).
    pub checked: usize,
    /// Bytes read so far.
    pub bytes: u64,
    /// True once every segment to scrub was checked (at once when there is none).
    pub finished: bool,
    /// True when there are segments to scrub but the scrub is off
    /// (`storage.scrub_mb_per_sec = 0` or [`crate::ScrubRate::Off`]): they are checked only
    /// when read, or by `nyrodb verify`.
    pub off: bool,
}

#[derive(Debug, Default)]
struct Progress {
    segments: AtomicUsize,
    checked: AtomicUsize,
    bytes: AtomicU64,
    finished: AtomicBool,
    off: AtomicBool,
}

/// The running scrub. Dropping it (or [`Scrub::stop`]) stops the thread and waits for it,
/// so that it no longer holds the log (and with it the directory lock).
#[derive(Debug)]
pub(crate) struct Scrub {
    /// Dropped to stop the thread: it wakes from its pause at once.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<Progress>,
}

/// Keeps the scrub at `rate` bytes per second by pausing between chunks; a pause ends early
/// (and the scrub stops) when the database closes.
struct Pacer<'a> {
    rate: u64,
    started: Instant,
    bytes: u64,
    stopped: &'a Receiver<()>,
}

impl Pacer<'_> {
    /// Counts `bytes` more read; false if the scrub must stop.
    fn pace(&mut self, bytes: u64) -> bool {
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate.max(1) as f64);
        match due.checked_sub(self.started.elapsed()) {
            Some(ahead) if !ahead.is_zero() => {
                matches!(
                    self.stopped.recv_timeout(ahead),
                    Err(RecvTimeoutError::Timeout)
                )
            }
            _ => matches!(self.stopped.try_recv(), Err(TryRecvError::Empty)),
        }
    }
}

impl Scrub {
    /// Starts scrubbing `segments` (ids, in log order) at `rate` bytes per second; with
    /// `rate` `None` (scrub off) or nothing to scrub, no thread is started.
    pub(crate) fn spawn(
        reader: LogReader,
        damage: Arc<DamageLog>,
        segments: Vec<u32>,
        rate: Option<u64>,
    ) -> Self {
        let progress = Arc::new(Progress::default());
        progress.segments.store(segments.len(), Ordering::Relaxed);
        let idle = Self {
            stop: None,
            thread: None,
            progress: Arc::clone(&progress),
        };
        if segments.is_empty() {
            progress.finished.store(true, Ordering::Release);
            return idle;
        }
        let Some(rate) = rate else {
            progress.off.store(true, Ordering::Release);
            tracing::info!(
                segments = segments.len(),
                "the background scrub is off: segments opened from hints are checked only \
                 when read (or by `nyrodb verify`)"
            );
            return idle;
        };
        let (stop, stopped) = std::sync::mpsc::channel();
        let shared = Arc::clone(&progress);
        let thread = std::thread::Builder::new()
            .name("nyro-scrub".into())
            .spawn(move || run(&reader, &damage, &segments, rate, &stopped, &shared));
        match thread {
            Ok(thread) => Self {
                stop: Some(stop),
                thread: Some(thread),
                progress,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the background scrub");
                idle
            }
        }
    }

    /// How far it has come.
    pub(crate) fn progress(&self) -> ScrubProgress {
        let p = &self.progress;
        // `finished` first: its Acquire makes every count the thread made before setting it
        // visible, so a finished scrub never reports fewer segments checked than it has.
        let finished = p.finished.load(Ordering::Acquire);
        let off = p.off.load(Ordering::Acquire);
        ScrubProgress {
            segments: p.segments.load(Ordering::Relaxed),
            checked: p.checked.load(Ordering::Relaxed),
            bytes: p.bytes.load(Ordering::Relaxed),
            finished,
            off,
        }
    }

    /// Stops the thread and waits until it has ended (it stops within one chunk of
    /// `nyro_storage::CHECK_CHUNK` bytes).
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the background scrub panicked");
        }
    }
}

impl Drop for Scrub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The scrub thread's work.
fn run(
    reader: &LogReader,
    damage: &DamageLog,
    segments: &[u32],
    rate: u64,
    stopped: &Receiver<()>,
    progress: &Progress,
) {
    let started = Instant::now();
    let mut pacer = Pacer {
        rate,
        started,
        bytes: 0,
        stopped,
    };
    let mut found = 0;
    for &id in segments {
        if let Some(check) = reader.check_segment(id, &mut |bytes| pacer.pace(bytes)) {
            for problem in check.problems {
                let frame = DamagedFrame {
                    segment: id,
                    offset: problem.offset,
                    path: problem.path,
                    defect: problem.detail,
                    found_by: FoundBy::Scrub,
                };
                found += usize::from(damage.record(frame));
            }
            progress.bytes.fetch_add(check.bytes, Ordering::Relaxed);
            if !check.finished {
                tracing::debug!("background scrub stopped: the database is closing");
                return;
            }
        }
        progress.checked.fetch_add(1, Ordering::Relaxed);
    }
    progress.finished.store(true, Ordering::Release);
    tracing::info!(
        segments = segments.len(),
        bytes = progress.bytes.load(Ordering::Relaxed),
        damaged_frames = found,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "background scrub of the segments opened from hints finished"
    );
}

/// Checks every frame of `segments` now, at full speed, for a caller that must not go on
/// over damage (a backup, which would copy it). Every damaged frame found is recorded; the
/// first is returned as [`crate::DbError::Corrupt`].
pub(crate) fn check_now(
    reader: &LogReader,
    damage: &DamageLog,
    segments: &[u32],
) -> crate::Result<()> {
    let mut first = None;
    for &id in segments {
        let Some(check) = reader.check_segment(id, &mut |_| true) else {
            continue;
        };
        for problem in check.problems {
            let error =
                damage.corrupt(id, problem.offset, problem.path, problem.detail, None, None);
            first.get_or_insert(error);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_pauses_until_its_rate_allows_and_stops_when_told() {
        let (stop, stopped) = std::sync::mpsc::channel();
        let mut pacer = Pacer {
            rate: 1 << 30,
            started: Instant::now(),
            bytes: 0,
            stopped: &stopped,
        };
        assert!(pacer.pace(1 << 20), "a fast rate keeps going");
        drop(stop);
        assert!(!pacer.pace(1 << 20), "a closed database stops it");
        assert_eq!(pacer.bytes, 2 << 20);
    }
}
