//! Power cuts, simulated at the level of the log's file I/O.
//!
//! A [`Recorder`] (the database's `LogIo`) passes every segment write and fdatasync through
//! to the real file and records, per segment file, how many bytes were written and how many
//! were known to be on stable storage (after a successful fdatasync, everything written to
//! that file so far). Concurrent writers run a workload (inserts, bulk inserts, replaces,
//! deletes) and record, in the same log as the I/O, each write before it is sent and each
//! acknowledgement. Snapshots of that log are taken at random moments while they write.
//!
//! A power cut at snapshot S is then simulated on a copy of the data directory: segment files
//! are append-only, so each file as it was at S is a prefix of its final bytes; the copy keeps
//! of each file its synced bytes plus a random prefix of the rest (never anything past what
//! was written at S, never a hole, never a changed byte). A newest segment whose header was
//! never synced may be missing altogether (its directory entry was not synced either). Files
//! created after S do not exist.
//!
//! The copy must open by itself and hold:
//! - under `sync = "always"`: every write acknowledged before S, with its last acknowledged
//!   content; no acknowledged delete undone; nothing that was never written;
//! - under `"interval"`: what the contract promises after a power cut, simplified to every
//!   write acknowledged before the start of the last successful fdatasync before S.
//!
//! A write issued but not acknowledged (or, under `interval`, not yet synced) may or may not
//! be there. Auto-compaction is off: it rewrites files, which this model does not describe.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nyro_core::{Config, Database, OpenOptions, SyncPolicy, WriteOptions};
use nyro_storage::{LogIo, SEGMENT_HEADER_LEN};
use serde_json::{Value as Json, json};

use crate::common::*;

/// Writers in the workload.
const TASKS: u64 = 6;
/// Writes per writer.
const OPS: u64 = 150;
/// Simulated power cuts per run.
const CUTS: usize = 50;
/// Values of the indexed field `k`.
const K_VALUES: u64 = 5;

type Key = (&'static str, u64);

#[derive(Debug, Clone, Copy, Default)]
struct Lens {
    /// Bytes written to the file (its length: segments are append-only).
    written: u64,
    /// Bytes known to be on stable storage.
    synced: u64,
}

#[derive(Debug, Clone)]
enum Event {
    /// A write about to be sent, with the state it leaves for each id it touches.
    Issue {
        changes: Vec<(Key, Option<Json>)>,
        bulk: bool,
    },
    /// The write issued as event `issue` was acknowledged.
    Ack { issue: usize },
}

#[derive(Debug, Default)]
struct Recorded {
    files: BTreeMap<PathBuf, Lens>,
    events: Vec<Event>,
    /// Events before this index were recorded before the start of a successful fdatasync:
    /// what they acknowledged is durable (segments before the active one were synced when
    /// sealed).
    durable: usize,
    syncs: u64,
}

/// The database's `LogIo`: the real file I/O, recorded.
#[derive(Debug, Default)]
struct Recorder {
    inner: Mutex<Recorded>,
}

/// The recorded log at one moment.
#[derive(Debug, Clone)]
struct Snapshot {
    files: BTreeMap<PathBuf, Lens>,
    events: usize,
    durable: usize,
}

impl Recorder {
    fn issue(&self, changes: Vec<(Key, Option<Json>)>, bulk: bool) -> usize {
        let mut rec = self.inner.lock().unwrap();
        rec.events.push(Event::Issue { changes, bulk });
        rec.events.len() - 1
    }

    fn ack(&self, issue: usize) {
        self.inner.lock().unwrap().events.push(Event::Ack { issue });
    }

    fn snapshot(&self) -> Snapshot {
        let rec = self.inner.lock().unwrap();
        Snapshot {
            files: rec.files.clone(),
            events: rec.events.len(),
            durable: rec.durable,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.inner.lock().unwrap().events.clone()
    }
}

/// Whether `path` is a segment file (`segment-NNNNNNNNNN.log`). Other files written through
/// the seam (hints, via a temporary file that is fsynced and renamed) are passed through
/// without being recorded, and their fdatasyncs make no write durable.
fn is_segment(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".log"))
}

impl LogIo for Recorder {
    fn write_at(&self, path: &Path, file: &File, offset: u64, buf: &[u8]) -> io::Result<usize> {
        if !is_segment(path) {
            return file.write_at(buf, offset);
        }
        // Under the lock, so that a snapshot never sees bytes without the write they belong to.
        let mut rec = self.inner.lock().unwrap();
        let n = file.write_at(buf, offset)?;
        let lens = rec.files.entry(path.to_path_buf()).or_default();
        lens.written = lens.written.max(offset + n as u64);
        Ok(n)
    }

    fn sync_data(&self, path: &Path, file: &File) -> io::Result<()> {
        if !is_segment(path) {
            return file.sync_data();
        }
        // Only the writer thread writes and syncs, one at a time: nothing is written to the
        // file while it is being synced.
        let (len, events) = {
            let mut rec = self.inner.lock().unwrap();
            let len = file.metadata()?.len();
            rec.files.entry(path.to_path_buf()).or_default();
            (len, rec.events.len())
        };
        file.sync_data()?;
        let mut rec = self.inner.lock().unwrap();
        let lens = rec.files.entry(path.to_path_buf()).or_default();
        lens.synced = lens.synced.max(len);
        rec.durable = rec.durable.max(events);
        rec.syncs += 1;
        Ok(())
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    match std::env::var("NYRO_POWERCUT_SEED") {
        Ok(s) => s.parse().unwrap(),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// Write number `v`'s content (unique over the run).
fn body(v: u64) -> Json {
    json!({"v": v, "k": v % K_VALUES, "pad": "p".repeat((v % 17 * 150) as usize)})
}

fn config_for(dir: &Path, sync: SyncPolicy) -> Config {
    let mut config = config(dir);
    config.batch.sync = sync;
    config.batch.sync_interval_ms = 5;
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    config
}

/// One writer: `OPS` sequential writes to its own ids (`id % TASKS == t`), each recorded
/// before it is sent and when it is acknowledged.
async fn writer(db: Database, rec: Arc<Recorder>, t: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut next = 0u64;
    let mut new_id = || {
        next += 1;
        next * TASKS + t
    };
    // Own ids and whether they are present.
    let mut mine: BTreeMap<Key, bool> = BTreeMap::new();
    let started = Instant::now();
    for n in 0..OPS {
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
        let v = (t << 32) | n;
        let roll = rng.below(100);
        let keys: Vec<Key> = mine.keys().copied().collect();
        if keys.is_empty() || roll < 30 {
            let id = new_id();
            let json = body(v);
            let at = rec.issue(vec![(("docs", id), Some(json.clone()))], false);
            let mut d = doc(json);
            d.id = Some(id);
            let done = within("insert", db.insert("docs", d, WriteOptions::default())).await;
            assert_eq!(done.unwrap().id, id);
            rec.ack(at);
            mine.insert(("docs", id), true);
        } else if roll < 45 {
            let count = 2 + rng.below(7);
            let mut docs = Vec::new();
            let mut changes = Vec::new();
            for i in 0..count {
                let id = new_id();
                let json = body(v | (i << 24));
                let mut d = doc(json.clone());
                d.id = Some(id);
                docs.push(d);
                changes.push((("bulk", id), Some(json)));
            }
            let at = rec.issue(changes.clone(), true);
            let done = within(
                "bulk insert",
                db.insert_many("bulk", docs, WriteOptions::default()),
            )
            .await;
            assert_eq!(done.unwrap().ids.len(), count as usize);
            rec.ack(at);
            for (key, _) in changes {
                mine.insert(key, true);
            }
        } else {
            let key = keys[rng.below(keys.len() as u64) as usize];
            if mine[&key] && roll >= 80 {
                let at = rec.issue(vec![(key, None)], false);
                within("delete", db.delete(key.0, key.1, WriteOptions::default()))
                    .await
                    .unwrap();
                rec.ack(at);
                mine.insert(key, false);
            } else {
                let json = body(v);
                let at = rec.issue(vec![(key, Some(json.clone()))], false);
                within(
                    "replace",
                    db.replace(key.0, key.1, doc(json), WriteOptions::default()),
                )
                .await
                .unwrap();
                rec.ack(at);
                mine.insert(key, true);
            }
        }
    }
}

/// Runs the workload on `dir` under `sync` and returns the snapshots taken while it ran
/// (the last one after it ended), the events, and every segment file's final bytes.
async fn record_workload(
    dir: &Path,
    sync: SyncPolicy,
    rng: &mut Rng,
) -> (Vec<Snapshot>, Vec<Event>, BTreeMap<PathBuf, Vec<u8>>, u64) {
    let rec = Arc::new(Recorder::default());
    let config = config_for(dir, sync);
    let db = within(
        "open",
        Database::open_with(
            &config,
            OpenOptions {
                io: Arc::clone(&rec) as Arc<dyn LogIo>,
                ..OpenOptions::default()
            },
        ),
    )
    .await
    .unwrap();
    db.create_collection("docs", &["k".to_string()])
        .await
        .unwrap();
    db.create_collection("bulk", &[]).await.unwrap();
    within("flush", db.flush()).await.unwrap();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        tasks.push(tokio::spawn(writer(
            db.clone(),
            Arc::clone(&rec),
            t,
            rng.next(),
        )));
    }
    // Snapshots at random moments, from a thread of its own (finer than the runtime's timer).
    let stop = Arc::new(AtomicBool::new(false));
    let snapper = {
        let (rec, stop) = (Arc::clone(&rec), Arc::clone(&stop));
        let mut rng = Rng(rng.next());
        std::thread::spawn(move || {
            let mut snapshots = Vec::new();
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst)
                && started.elapsed() < Duration::from_secs(60)
                && snapshots.len() < 5_000
            {
                std::thread::sleep(Duration::from_micros(20 + rng.below(1000)));
                snapshots.push(rec.snapshot());
            }
            snapshots
        })
    };
    for task in tasks {
        within("writer", task).await.unwrap();
    }
    // Hints of the sealed segments (written through the seam, not recorded: see `cut`).
    within("write hints", db.write_hints()).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut snapshots = snapper.join().unwrap();
    snapshots.push(rec.snapshot());
    let syncs = rec.inner.lock().unwrap().syncs;
    // The bytes as they are now: every earlier state of a file is a prefix of them.
    let last = snapshots.last().unwrap().clone();
    let mut finals = BTreeMap::new();
    for (path, lens) in &last.files {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes.len() as u64, lens.written, "{}", path.display());
        finals.insert(path.clone(), bytes);
    }
    within("close", db.close()).await.unwrap();
    (snapshots, rec.events(), finals, syncs)
}

/// Writes the power-cut copy of the data directory at `snap` into `to`; returns the bytes of
/// unsynced data kept and dropped, and the hint files kept.
fn cut(
    data: &Path,
    snap: &Snapshot,
    finals: &BTreeMap<PathBuf, Vec<u8>>,
    rng: &mut Rng,
    to: &Path,
) -> (u64, u64, u64) {
    std::fs::create_dir_all(to).unwrap();
    let (mut kept, mut dropped, mut hints) = (0, 0, 0);
    let newest = snap.files.keys().max().cloned();
    for (path, lens) in &snap.files {
        assert!(lens.synced <= lens.written, "{}: {lens:?}", path.display());
        let unsynced = lens.written - lens.synced;
        // Mostly anywhere in the unsynced bytes; sometimes none or all of them.
        let extra = match rng.below(8) {
            0 => 0,
            1 => unsynced,
            _ => rng.below(unsynced + 1),
        };
        kept += extra;
        dropped += unsynced - extra;
        if Some(path) == newest.as_ref()
            && lens.synced <= SEGMENT_HEADER_LEN as u64
            && rng.below(2) == 0
        {
            continue; // its creation was never made durable: the file may not exist
        }
        let keep = (lens.synced + extra) as usize;
        std::fs::write(to.join(path.file_name().unwrap()), &finals[path][..keep]).unwrap();
    }
    // Other files: a hint (`segment-N.hint`, complete and fsynced before it is renamed into
    // place, and optional: open reads the segment when there is none) describes a sealed
    // segment, whose bytes were final and synced at the cut: kept or lost at random if its
    // segment was sealed at the cut (as if the background writer had or had not got to it),
    // else left out. Temporary files and the lock are left out; anything else is copied.
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == nyro_storage::LOCK_FILE || name.ends_with(".tmp") || !path.is_file() {
            continue;
        }
        if finals.contains_key(&path) {
            continue; // a segment: done above
        }
        if let Some(stem) = name.strip_suffix(".hint") {
            let segment = data.join(format!("{stem}.log"));
            let sealed = snap.files.contains_key(&segment) && Some(&segment) != newest.as_ref();
            if !sealed || rng.below(2) == 0 {
                continue;
            }
            hints += 1;
        }
        std::fs::copy(&path, to.join(&name)).unwrap();
    }
    (kept, dropped, hints)
}

/// What a cut must hold, per id.
#[derive(Debug, Default)]
struct Allowed {
    /// The state required (the last write acknowledged and durable), with its event index;
    /// `None`: nothing required, the id was never durably written.
    required: Option<(usize, Option<Json>)>,
    /// Every write issued to the id before the cut, in order: (event index, state left).
    issued: Vec<(usize, Option<Json>)>,
}

#[derive(Debug, Default)]
struct Tally {
    cuts: usize,
    required_writes: u64,
    checked_ids: u64,
    lost: u64,
    resurrected: u64,
    wrong: u64,
    partial_bulks: u64,
    torn_tails: u64,
    missing_newest: u64,
    hints_kept: u64,
    kept_bytes: u64,
    dropped_bytes: u64,
    failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        if self.failures.len() < 30 {
            self.failures.push(what);
        }
    }
}

/// Opens the copy and checks it against the events before `snap`, `required_upto` being
/// the index before which acknowledgements count.
async fn check_cut(
    copy: &Path,
    events: &[Event],
    snap: &Snapshot,
    required_upto: usize,
    tally: &mut Tally,
    label: &str,
) {
    let config = config_for(copy, SyncPolicy::Always);
    let db = match within("open the cut copy", Database::open(&config)).await {
        Ok(db) => db,
        Err(e) => {
            tally.wrong += 1;
            tally.fail(format!("{label}: the copy does not open: {e}"));
            return;
        }
    };
    if db.recovery().torn_tail.is_some() {
        tally.torn_tails += 1;
    }
    let mut allowed: BTreeMap<Key, Allowed> = BTreeMap::new();
    for (i, event) in events[..snap.events].iter().enumerate() {
        match event {
            Event::Issue { changes, .. } => {
                for (key, state) in changes {
                    allowed
                        .entry(*key)
                        .or_default()
                        .issued
                        .push((i, state.clone()));
                }
            }
            Event::Ack { issue } if i < required_upto => {
                tally.required_writes += 1;
                let Event::Issue { changes, .. } = &events[*issue] else {
                    unreachable!()
                };
                for (key, state) in changes {
                    allowed.get_mut(key).unwrap().required = Some((*issue, state.clone()));
                }
            }
            Event::Ack { .. } => {}
        }
    }
    // What the copy holds.
    let mut stored: BTreeMap<Key, Json> = BTreeMap::new();
    for collection in ["docs", "bulk"] {
        let documents = match db.list(collection, None, 1) {
            Ok(_) => list_all(&db, collection, 10_000),
            // Collections were created and synced before any snapshot.
            Err(e) => {
                tally.wrong += 1;
                tally.fail(format!("{label}: collection {collection}: {e}"));
                Vec::new()
            }
        };
        for d in documents {
            let id = d.id.unwrap();
            let mut json = d.to_json();
            json.as_object_mut().unwrap().remove("_id");
            stored.insert((collection, id), json);
            // By id too.
            let by_id = db.get(collection, id).unwrap().to_json();
            assert_eq!(by_id["_id"], json!(id));
        }
    }
    for key in stored.keys() {
        if !allowed.contains_key(key) {
            tally.wrong += 1;
            tally.fail(format!("{label}: {key:?} is stored but was never written"));
        }
    }
    for (key, a) in &allowed {
        tally.checked_ids += 1;
        let found = stored.get(key).cloned();
        let from = a.required.as_ref().map_or(0, |(i, _)| *i);
        let base = a.required.as_ref().and_then(|(_, s)| s.clone());
        let ok = found == base
            || a.issued
                .iter()
                .any(|(i, s)| *i > from && *s == found && a.required.is_some())
            || (a.required.is_none() && a.issued.iter().any(|(_, s)| *s == found));
        if ok {
            continue;
        }
        let older = a
            .issued
            .iter()
            .any(|(i, s)| *i < from && s.is_some() && *s == found);
        let v = |s: &Option<Json>| {
            s.as_ref()
                .map_or("absent".to_string(), |j| format!("v{}", j["v"]))
        };
        match (&base, &found) {
            (Some(_), None) => {
                tally.lost += 1;
                tally.fail(format!(
                    "{label}: {key:?}: acknowledged {} lost (absent)",
                    v(&base)
                ));
            }
            (Some(_), Some(_)) if older => {
                tally.lost += 1;
                tally.fail(format!(
                    "{label}: {key:?}: acknowledged {} lost, older {} stored",
                    v(&base),
                    v(&found)
                ));
            }
            (None, Some(_)) if older => {
                tally.resurrected += 1;
                tally.fail(format!(
                    "{label}: {key:?}: acknowledged delete undone, {} is back",
                    v(&found)
                ));
            }
            _ => {
                tally.wrong += 1;
                tally.fail(format!(
                    "{label}: {key:?}: stored {}, required {}",
                    v(&found),
                    v(&base)
                ));
            }
        }
    }
    // Unacknowledged bulks that are the last write to all their ids: all or nothing.
    for (i, event) in events[..snap.events].iter().enumerate() {
        let Event::Issue {
            changes,
            bulk: true,
        } = event
        else {
            continue;
        };
        let last = changes
            .iter()
            .all(|(key, _)| allowed[key].issued.last().map(|(j, _)| *j) == Some(i));
        if last {
            let present = changes
                .iter()
                .filter(|(key, _)| stored.contains_key(key))
                .count();
            if present > 0 && present < changes.len() {
                tally.partial_bulks += 1;
            }
        }
    }
    // The index agrees with the documents.
    for k in 0..K_VALUES {
        let found: BTreeSet<u64> = find_all(&db, "docs", &cond(&[("k", json!(k))]), 10_000)
            .into_iter()
            .collect();
        let want: BTreeSet<u64> = stored
            .iter()
            .filter(|((c, _), d)| *c == "docs" && d["k"] == json!(k))
            .map(|((_, id), _)| *id)
            .collect();
        if found != want {
            tally.wrong += 1;
            tally.fail(format!("{label}: index k={k} disagrees with the documents"));
        }
    }
    // It takes writes again.
    let id = insert(&db, "docs", json!({"after": "the cut", "k": 0})).await;
    assert_eq!(
        db.get("docs", id).unwrap().to_json()["after"],
        json!("the cut")
    );
    within("close", db.close()).await.unwrap();
}

async fn power_cuts(sync: SyncPolicy) {
    let seed = seed();
    let mut rng = Rng(seed);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (snapshots, events, finals, syncs) = record_workload(&data, sync, &mut rng).await;
    let acked = events
        .iter()
        .filter(|e| matches!(e, Event::Ack { .. }))
        .count();
    assert!(
        finals.len() >= 2,
        "the workload should fill more than one segment"
    );
    // The cuts: the last snapshot (after everything), the rest at random moments.
    let mut picks = vec![snapshots.len() - 1];
    while picks.len() < CUTS {
        picks.push(rng.below(snapshots.len() as u64) as usize);
    }
    let mut tally = Tally::default();
    let started = Instant::now();
    for (n, &pick) in picks.iter().enumerate() {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let snap = &snapshots[pick];
        let copy = work.path().join(format!("cut-{n}"));
        let newest = snap.files.keys().max().unwrap().file_name().unwrap();
        let (kept, dropped, hints) = cut(&data, snap, &finals, &mut rng, &copy);
        tally.hints_kept += hints;
        tally.kept_bytes += kept;
        tally.dropped_bytes += dropped;
        if !copy.join(newest).exists() {
            tally.missing_newest += 1;
        }
        let required_upto = match sync {
            SyncPolicy::Always => snap.events,
            _ => snap.durable,
        };
        let label = format!("seed {seed}, cut {n} (snapshot {pick}/{})", snapshots.len());
        // (No child may be spawned while a database is between open and close here.)
        let guard = no_fork().await;
        check_cut(&copy, &events, snap, required_upto, &mut tally, &label).await;
        drop(guard);
        tally.cuts += 1;
        std::fs::remove_dir_all(&copy).unwrap();
    }
    let summary = format!(
        "power cuts ({sync}, seed {seed}): {} cuts of {} snapshots; workload {acked} acknowledged \
         writes, {syncs} fdatasyncs, {} segments; acknowledged writes required {} times, ids \
         checked {}; unsynced bytes kept {} / dropped {}; torn tails cut {}; newest segment \
         missing {}; hint files kept {}; partly kept unacknowledged bulks {}; LOST {} RESURRECTED {} WRONG {}",
        tally.cuts,
        snapshots.len(),
        finals.len(),
        tally.required_writes,
        tally.checked_ids,
        tally.kept_bytes,
        tally.dropped_bytes,
        tally.torn_tails,
        tally.missing_newest,
        tally.hints_kept,
        tally.partial_bulks,
        tally.lost,
        tally.resurrected,
        tally.wrong,
    );
    println!("{summary}");
    assert!(
        tally.lost == 0 && tally.resurrected == 0 && tally.wrong == 0,
        "{summary}\n{}",
        tally.failures.join("\n")
    );
    // A bulk insert is one write: a power cut keeps it whole or drops it whole (its records
    // are marked as one write in the log, and recovery drops a write cut short).
    assert_eq!(tally.partial_bulks, 0, "{summary}");
    assert!(tally.cuts >= CUTS / 2, "{summary}");
    assert!(tally.required_writes > 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_power_cut_under_always_loses_no_acknowledged_write() {
    power_cuts(SyncPolicy::Always).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_power_cut_under_interval_loses_nothing_synced_before_it() {
    power_cuts(SyncPolicy::Interval).await;
}

/// The check is not vacuous: a cut that also drops synced bytes is reported as a loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_into_synced_bytes_is_reported_as_a_loss() {
    let mut rng = Rng(seed());
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (snapshots, events, finals, _) = record_workload(&data, SyncPolicy::Always, &mut rng).await;
    let mut snap = snapshots.last().unwrap().clone();
    // Pretend the newest segment was synced only up to its middle.
    let newest = snap.files.keys().max().unwrap().clone();
    let lens = snap.files.get_mut(&newest).unwrap();
    lens.synced = (lens.synced / 2).max(SEGMENT_HEADER_LEN as u64 + 1);
    lens.written = lens.synced;
    let copy = work.path().join("cut");
    cut(&data, &snap, &finals, &mut rng, &copy);
    let mut tally = Tally::default();
    let guard = no_fork().await;
    check_cut(&copy, &events, &snap, snap.events, &mut tally, "sabotaged").await;
    drop(guard);
    assert!(tally.lost + tally.resurrected > 0, "{tally:?}");
}
