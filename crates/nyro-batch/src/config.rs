//! How the writer batches and syncs: [`SyncPolicy`] and [`BatchConfig`].

use std::time::Duration;

/// When an acknowledged write is on stable storage (CONTRACT.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Each batch is fdatasync'ed before any of its requests is answered. Nothing
    /// acknowledged is lost, kill -9 or power cut included.
    Always,
    /// Answered after the write; fdatasync'ed at most this long after the oldest write not
    /// yet synced was acknowledged. A process crash loses nothing (the bytes are in the
    /// kernel); a power cut loses at most the interval.
    Interval(Duration),
    /// Never fdatasync'ed except when sealing a segment, on request and at close. A power
    /// cut loses whatever the operating system had not flushed.
    Never,
}

/// How the writer batches and syncs.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Records after which a batch takes no more requests; more queued requests wait for
    /// the next batch. A request is never split, so the request that reaches the limit may
    /// take the batch past it (a single request larger than this is still written whole).
    pub batch_size: usize,
    /// When written data is fdatasync'ed.
    pub sync: SyncPolicy,
    /// Longest a request may wait for company in a batch that will be fdatasync'ed (the
    /// writer waits at most one fdatasync's duration, and never when the previous batch had
    /// a single request). Batches that are not synced never wait.
    pub batch_timeout: Duration,
    /// Most write requests queued at once; past it `submit` fails with
    /// [`WriteError::QueueFull`](crate::WriteError::QueueFull) instead of queueing without
    /// bound.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
            batch_timeout: Duration::from_millis(100),
            queue_capacity: 100_000,
        }
    }
}
