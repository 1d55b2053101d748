//! Counters the writer keeps for `/metrics` and `/v1/stats`: plain atomics, read without
//! locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A fixed-bucket histogram (Prometheus style: each bucket counts values `<=` its bound).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// A histogram with the given ascending upper bounds (plus an implicit +Inf bucket).
    pub fn new(bounds: &'static [u64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// `(upper bound, cumulative count)` per bucket, the last bound being `None` (+Inf).
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut total = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                total += c.load(Relaxed);
                (self.bounds.get(i).copied(), total)
            })
            .collect()
    }

    /// Sum of all values recorded.
    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// What the writer has done so far.
#[derive(Debug)]
pub struct WriterMetrics {
    /// Batches written successfully.
    pub batches: AtomicU64,
    /// Records written successfully.
    pub records: AtomicU64,
    /// Batches whose write failed.
    pub failed_batches: AtomicU64,
    /// Successful fdatasyncs.
    pub fsyncs: AtomicU64,
    /// Batches (written or failed) led by a caller on its own thread, without a hand-off
    /// to the writer thread; the others were led by the writer thread.
    pub caller_batches: AtomicU64,
    /// Records per written batch.
    pub batch_records: Histogram,
    /// fdatasync latency in microseconds.
    pub fsync_micros: Histogram,
}

const BATCH_BOUNDS: &[u64] = &[
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10_000, 100_000,
];
const FSYNC_BOUNDS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            caller_batches: AtomicU64::new(0),
            batch_records: Histogram::new(BATCH_BOUNDS),
            fsync_micros: Histogram::new(FSYNC_BOUNDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let h = Histogram::new(&[1, 10]);
        for v in [0, 1, 2, 10, 11, 500] {
            h.observe(v);
        }
        assert_eq!(h.cumulative(), vec![(Some(1), 2), (Some(10), 4), (None, 6)]);
        assert_eq!(h.count(), 6);
        assert_eq!(h.sum(), 524);
    }
}
