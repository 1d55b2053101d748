//! Storage benchmark (run by `scripts/bench-storage.sh`, release build):
//! batched append of N frames of ~100-byte payloads in batches of B, with an fdatasync per
//! batch and without; then random reads by location through the mmap on one thread.
//!
//! Usage: bench_storage DIR [FRAMES] [BATCH] [ROUNDS]. Prints one `key=value` line per figure;
//! each figure is the median of ROUNDS runs.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use nyro_storage::{Location, Log, LogOptions, Record, RecordKind};

const PAYLOAD: usize = 100;

fn arg(n: usize, default: u64) -> Result<u64, Box<dyn Error>> {
    Ok(match std::env::args().nth(n) {
        Some(v) => v.parse()?,
        None => default,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Appends `frames` records in batches of `batch`; returns (seconds, locations).
fn ingest(
    dir: &Path,
    frames: u64,
    batch: u64,
    durable: bool,
) -> Result<(f64, Vec<Location>), Box<dyn Error>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let mut log = Log::open(dir, LogOptions::default())?;
    let payloads: Vec<Vec<u8>> = (0..batch)
        .map(|i| {
            let mut p = vec![b'x'; PAYLOAD];
            p[..8].copy_from_slice(&i.to_le_bytes());
            p
        })
        .collect();
    let mut locations = Vec::with_capacity(frames as usize);
    let started = Instant::now();
    let mut id = 0u64;
    while id < frames {
        let n = batch.min(frames - id);
        let records: Vec<Record<'_>> = (0..n)
            .map(|i| Record {
                kind: RecordKind::Put,
                collection: 1,
                id: id + i,
                seq: id + i + 1,
                payload: &payloads[i as usize],
                continues: false,
            })
            .collect();
        locations.extend(log.append(&records)?);
        if durable {
            log.sync()?;
        }
        id += n;
    }
    if !durable {
        log.sync()?; // not timed as part of the batches, but leave the disk quiet
    }
    Ok((started.elapsed().as_secs_f64(), locations))
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: DIR [FRAMES] [BATCH] [ROUNDS]")?,
    );
    let frames = arg(2, 1_000_000)?;
    let batch = arg(3, 10_000)?;
    let rounds = arg(4, 3)?;
    let frame_bytes = (nyro_storage::HEADER_LEN + PAYLOAD) as f64;

    let mut durable = Vec::new();
    let mut buffered = Vec::new();
    let mut reads = Vec::new();
    let mut reads_with = Vec::new();
    for _ in 0..rounds {
        let (secs, _) = ingest(&dir, frames, batch, true)?;
        durable.push(secs);
        let (secs, locations) = ingest(&dir, frames, batch, false)?;
        buffered.push(secs);

        // Random reads: a fixed pseudo-random permutation (xorshift), payload touched.
        let log = Log::open(&dir, LogOptions::default())?;
        let reader = log.reader().clone();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let lookups = locations.len();
        let started = Instant::now();
        let mut checksum = 0u64;
        for _ in 0..lookups {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let frame = reader.read(locations[(x % lookups as u64) as usize])?;
            checksum = checksum.wrapping_add(u64::from(frame.payload()[0]));
        }
        reads.push(lookups as f64 / started.elapsed().as_secs_f64());
        std::hint::black_box(checksum);

        // The same reads through `read_with`, which borrows the map instead of taking a
        // reference count (what the database's own gets use).
        let started = Instant::now();
        let mut checksum = 0u64;
        for _ in 0..lookups {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let first = reader.read_with(locations[(x % lookups as u64) as usize], |_, p| p[0])?;
            checksum = checksum.wrapping_add(u64::from(first));
        }
        reads_with.push(lookups as f64 / started.elapsed().as_secs_f64());
        std::hint::black_box(checksum);
    }
    let durable = median(durable);
    let buffered = median(buffered);
    println!("frames={frames}");
    println!("batch={batch}");
    println!("frame_bytes={frame_bytes}");
    println!("durable_secs={durable:.3}");
    println!("durable_frames_per_sec={:.0}", frames as f64 / durable);
    println!(
        "durable_mb_per_sec={:.1}",
        frames as f64 * frame_bytes / durable / 1e6
    );
    println!("buffered_secs={buffered:.3}");
    println!("buffered_frames_per_sec={:.0}", frames as f64 / buffered);
    println!(
        "buffered_mb_per_sec={:.1}",
        frames as f64 * frame_bytes / buffered / 1e6
    );
    println!("reads_per_sec={:.0}", median(reads));
    println!("reads_with_per_sec={:.0}", median(reads_with));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
