//! What the workloads are made of: the documents, the key choosers and a timed run of many
//! threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::Rng;
use rand_distr::{Distribution, Zipf};

use crate::record::Record;

/// Distinct values of the `city` field.
const CITIES: u64 = 1_000;

/// Record `id` at `version` (0 when first written): about 100 bytes encoded, three fields,
/// the same shape as the other NyroDB benchmarks use.
pub fn record(id: u64, version: u64) -> Record {
    Record {
        name: format!("user-{id:012}-abcdefghijklmnopqrstuvwxyz0123456789"),
        city: format!("city-{:04}", id % CITIES),
        score: score(id, version),
    }
}

/// The `score` of record `id` at `version`.
pub fn score(id: u64, version: u64) -> i64 {
    ((id * 7_919 + version * 104_729) % 100_000) as i64
}

/// Picks ids in `1..=n` with YCSB's scrambled zipfian distribution (constant 0.99): a few
/// ids are hot, and the hot ids are spread over the whole key space by a hash, not bunched
/// at the low ids.
pub struct ScrambledZipfian {
    n: u64,
    zipf: Zipf<f64>,
}

impl ScrambledZipfian {
    /// A chooser over `1..=n`.
    pub fn new(n: u64) -> Result<Self> {
        Ok(Self {
            n,
            zipf: Zipf::new(n as f64, 0.99)?,
        })
    }

    /// The next id.
    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        let rank = self.zipf.sample(rng) as u64;
        fnv1a(rank) % self.n + 1
    }
}

/// FNV-1a of a number's 8 bytes, as YCSB scrambles its zipfian ranks.
fn fnv1a(value: u64) -> u64 {
    value
        .to_le_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Runs `op` in a loop on each of `threads` threads for `duration`; returns the operations
/// done per second. `op` gets the thread's index and its operation count so far.
pub fn timed<F>(threads: usize, duration: Duration, op: F) -> Result<f64>
where
    F: Fn(usize, u64) -> Result<()> + Sync,
{
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (stop, op) = (&stop, &op);
                scope.spawn(move || -> Result<u64> {
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        op(thread, done)?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))?
            })
            .collect::<Result<Vec<u64>>>()
    })?;
    Ok(counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zipfian_ids_stay_in_range_and_favour_a_few() {
        let chooser = ScrambledZipfian::new(1_000).unwrap();
        let mut rng = rand::rng();
        let mut hits = vec![0u32; 1_001];
        for _ in 0..100_000 {
            let id = chooser.next(&mut rng);
            assert!((1..=1_000).contains(&id));
            hits[id as usize] += 1;
        }
        hits.sort_unstable();
        let top_ten: u32 = hits.iter().rev().take(10).sum();
        // Uniform would give the top 1% about 1% of the hits; zipfian 0.99 gives ~35%.
        assert!(top_ten > 20_000, "top ten ids got {top_ten} of 100,000");
    }

    #[test]
    fn documents_are_about_100_bytes() {
        let bytes = crate::record::document(record(123_456, 0))
            .to_stored_bytes()
            .unwrap();
        assert!((80..=120).contains(&bytes.len()), "{} bytes", bytes.len());
    }
}
