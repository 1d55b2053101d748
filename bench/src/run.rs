//! One store's run: every workload in turn, in one process, with the results as JSON.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::record::Mode;
use crate::store::{self, Store};
use crate::workload::{ScrambledZipfian, record, score, timed};

/// Documents per durable batch, for ingest and for the overwrite.
pub const BATCH: u64 = 10_000;
/// Threads reading by id at random.
pub const GET_THREADS: usize = 2;
/// Concurrent writers of single documents.
pub const WRITERS: usize = 32;
/// Client threads of the YCSB mixes.
pub const YCSB_THREADS: usize = 16;
/// The length of every record's `city` (`city-0042`), which every read checks.
const CITY_LEN: usize = 9;

/// What one run of one store measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// The store's name (see [`store::STORES`]).
    pub store: String,
    /// How the records were kept and read.
    pub mode: Mode,
    /// Documents loaded.
    pub docs: u64,
    /// Durable ingest in batches of [`BATCH`], documents per second.
    pub ingest_docs_per_sec: f64,
    /// Disk bytes allocated after the ingest, the store closed.
    pub disk_after_ingest: u64,
    /// Seconds from open to the first document read, after the ingest.
    pub reopen_secs: f64,
    /// Random gets by id (uniform), the read included, per second on [`GET_THREADS`] threads.
    pub gets_per_sec: f64,
    /// Records read per second by a full scan in id order.
    pub scan_docs_per_sec: f64,
    /// Disk bytes after every second document was overwritten once, the store closed.
    pub disk_after_overwrite: u64,
    /// Disk bytes after the store's own compaction, if it has one.
    pub disk_after_compaction: Option<u64>,
    /// YCSB A (50% reads, 50% updates, durable as [`Mode::durable_updates`] says), zipfian,
    /// operations per second.
    pub ycsb_a_ops_per_sec: f64,
    /// YCSB B (95% reads, 5% updates).
    pub ycsb_b_ops_per_sec: f64,
    /// YCSB C (reads only).
    pub ycsb_c_ops_per_sec: f64,
    /// Single-document durable writes per second from [`WRITERS`] concurrent writers.
    pub concurrent_writes_per_sec: f64,
    /// The process's peak resident memory, in bytes.
    pub peak_rss_bytes: u64,
}

/// The workloads after the ingest, by the names `--only` takes.
pub const WORKLOADS: [&str; 7] = [
    "gets",
    "scan",
    "overwrite",
    "ycsb-c",
    "ycsb-b",
    "ycsb-a",
    "writers",
];

/// Runs the workloads against `name` in the empty directory `dir`, records kept as `mode`
/// says: `docs` documents, `seconds` per timed workload. The ingest and the reopen always run; of the others, only
/// those named in `only` when it is not empty (for profiling; the others' figures stay 0).
pub fn run(
    name: &str,
    mode: Mode,
    dir: &Path,
    docs: u64,
    seconds: f64,
    only: &[String],
) -> Result<RunResult> {
    ensure!(docs >= 2 * BATCH, "use at least {} documents", 2 * BATCH);
    for workload in only {
        ensure!(
            WORKLOADS.contains(&workload.as_str()),
            "unknown workload {workload:?}: choose from {}",
            WORKLOADS.join(", ")
        );
    }
    let wanted = |workload: &str| only.is_empty() || only.iter().any(|w| w == workload);
    let timed_for = Duration::from_secs_f64(seconds);
    let phase = |what: &str| eprintln!("[{name}] {what}");
    let mut result = RunResult::empty(name, mode, docs);

    phase("ingest");
    let db = store::open(name, dir, mode)?;
    let started = Instant::now();
    write_in_batches(db.as_ref(), (1..=docs).map(|id| (id, 0)))?;
    result.ingest_docs_per_sec = docs as f64 / started.elapsed().as_secs_f64();
    db.close()?;
    result.disk_after_ingest = disk_bytes(dir)?;

    phase("reopen");
    let started = Instant::now();
    let mut db = store::open(name, dir, mode)?;
    ensure!(db.get(1)?.is_some(), "record 1 is missing after reopen");
    result.reopen_secs = started.elapsed().as_secs_f64();

    if wanted("gets") {
        phase("gets");
        result.gets_per_sec = timed(GET_THREADS, timed_for, |_, _| {
            let id = rand::rng().random_range(1..=docs);
            read(db.as_ref(), id)
        })?;
    }

    if wanted("scan") {
        phase("scan");
        let started = Instant::now();
        let (mut city_bytes, mut scores) = (0, 0);
        let scanned = db.scan(&mut |seen| {
            city_bytes += seen.city_len;
            scores += seen.score;
        })?;
        result.scan_docs_per_sec = scanned as f64 / started.elapsed().as_secs_f64();
        ensure!(
            scanned == docs,
            "the scan found {scanned} records of {docs}"
        );
        ensure!(
            city_bytes == CITY_LEN * docs as usize,
            "the scan read {city_bytes} bytes of cities"
        );
        let expected: i64 = (1..=docs).map(|id| score(id, 0)).sum();
        ensure!(
            scores == expected,
            "the scan's scores add up to {scores}, not {expected}"
        );
    }

    if wanted("overwrite") {
        phase("overwrite half");
        write_in_batches(db.as_ref(), (2..=docs).step_by(2).map(|id| (id, 1)))?;
        db.close()?;
        result.disk_after_overwrite = disk_bytes(dir)?;

        phase("compaction");
        let mut reopened = store::open(name, dir, mode)?;
        let compacted = reopened.compact()?;
        reopened.close()?;
        if compacted {
            result.disk_after_compaction = Some(disk_bytes(dir)?);
        }
        db = store::open(name, dir, mode)?;
    }

    db.set_sync(mode.durable_updates())?;
    let chooser = ScrambledZipfian::new(docs)?;
    let ycsb = |label: &str, read_percent: u32| {
        if !wanted(label) {
            return Ok(0.0);
        }
        phase(label);
        timed(YCSB_THREADS, timed_for, |_, done| {
            let mut rng = rand::rng();
            let id = chooser.next(&mut rng);
            if rng.random_range(0..100) < read_percent {
                read(db.as_ref(), id)
            } else {
                db.put(id, record(id, 2 + done))
            }
        })
    };
    result.ycsb_c_ops_per_sec = ycsb("ycsb-c", 100)?;
    result.ycsb_b_ops_per_sec = ycsb("ycsb-b", 95)?;
    result.ycsb_a_ops_per_sec = ycsb("ycsb-a", 50)?;

    db.set_sync(true)?;

    if wanted("writers") {
        phase("concurrent writers");
        // Each writer creates documents of its own id range, above the loaded ones.
        result.concurrent_writes_per_sec = timed(WRITERS, timed_for, |writer, done| {
            let id = docs + 1 + (writer as u64) * (1 << 32) + done;
            db.put(id, record(id, 0))
        })?;
    }
    db.close()?;
    result.peak_rss_bytes = peak_rss_bytes();
    Ok(result)
}

impl RunResult {
    /// A result of `docs` documents for `store` with every figure 0, to fill in.
    fn empty(store: &str, mode: Mode, docs: u64) -> Self {
        Self {
            store: store.to_string(),
            mode,
            docs,
            ingest_docs_per_sec: 0.0,
            disk_after_ingest: 0,
            reopen_secs: 0.0,
            gets_per_sec: 0.0,
            scan_docs_per_sec: 0.0,
            disk_after_overwrite: 0,
            disk_after_compaction: None,
            ycsb_a_ops_per_sec: 0.0,
            ycsb_b_ops_per_sec: 0.0,
            ycsb_c_ops_per_sec: 0.0,
            concurrent_writes_per_sec: 0.0,
            peak_rss_bytes: 0,
        }
    }
}

/// Reads record `id`, which must exist, and looks at what it holds.
fn read(db: &dyn Store, id: u64) -> Result<()> {
    let seen = db
        .get(id)?
        .with_context(|| format!("record {id} is missing"))?;
    ensure!(
        seen.city_len == CITY_LEN,
        "record {id} has a city of {} bytes",
        seen.city_len
    );
    std::hint::black_box(seen.score);
    Ok(())
}

/// Writes `(id, version)` records in durable batches of [`BATCH`]. The records are built
/// inside the timed region for every store alike; each store encodes them its own way.
fn write_in_batches(db: &dyn Store, items: impl Iterator<Item = (u64, u64)>) -> Result<()> {
    let mut batch = Vec::with_capacity(BATCH as usize);
    for (id, version) in items {
        batch.push((id, record(id, version)));
        if batch.len() == BATCH as usize {
            db.write_batch(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        db.write_batch(batch)?;
    }
    Ok(())
}

/// Bytes allocated on disk for every file under `dir` (sparse files count what they use).
pub fn disk_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// `VmHWM` of this process.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}
