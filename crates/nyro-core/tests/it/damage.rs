//! Damage that open does not see: a sealed segment opened from its hint file is not read on
//! open, so a frame damaged in it after a clean close is found later. Every read that meets
//! it fails with `DbError::Corrupt` (never the bad bytes), the damage is counted once and the
//! database is degraded, everything else reads as before, and the background scrub finds it
//! without any read.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nyro_core::{
    Config, Database, DbError, FeedError, FoundBy, OpenOptions, ScrubProgress, ScrubRate,
    WriteOptions,
};
use nyro_storage::{FrameCheck, RecordKind, SEGMENT_HEADER_LEN, check_frame, segment_file_name};
use serde_json::json;

use crate::common::{BOUND, cond, config, doc, no_fork, within};

/// A put frame in a segment file.
#[derive(Debug, Clone, Copy)]
struct PutFrame {
    offset: u64,
    id: u64,
}

/// The city of document `id`.
fn city_of(id: u64) -> &'static str {
    ["Oslo", "Lima"][(id % 2) as usize]
}

/// A database with sealed (1 MB) segments, all hinted, closed cleanly. Documents have ids
/// 1..=2000 and a `city` index.
async fn build(dir: &Path) -> Config {
    let mut config = config(dir);
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    let db = open_with(&config, None).await;
    db.create_collection("people", &["city".to_string()])
        .await
        .unwrap();
    let pad = "p".repeat(2_000);
    let docs: Vec<_> = (1..=2_000u64)
        .map(|i| doc(json!({"_id": i, "city": city_of(i), "pad": pad})))
        .collect();
    for chunk in docs.chunks(100) {
        db.insert_many("people", chunk.to_vec(), WriteOptions::default())
            .await
            .unwrap();
    }
    // Every sealed segment gets its hint (the background maintenance may have written some).
    db.write_hints().await.unwrap();
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    config
}

/// Opens with the scrub at `scrub_rate` (`None`: off).
async fn open_with(config: &Config, scrub_rate: Option<u64>) -> Database {
    let options = OpenOptions {
        scrub_rate: scrub_rate.map_or(ScrubRate::Off, ScrubRate::BytesPerSec),
        ..OpenOptions::default()
    };
    within("open", Database::open_with(config, options))
        .await
        .unwrap()
}

/// The put frames of a segment file, in order.
fn put_frames(path: &Path) -> Vec<PutFrame> {
    let bytes = std::fs::read(path).unwrap();
    let mut frames = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < bytes.len() {
        let FrameCheck::Complete(header) = check_frame(&bytes[pos..]) else {
            panic!(
                "{} is damaged at {pos} before the test damaged it",
                path.display()
            );
        };
        if header.kind == RecordKind::Put {
            frames.push(PutFrame {
                offset: pos as u64,
                id: header.id,
            });
        }
        pos += header.frame_len as usize;
    }
    frames
}

/// XORs the byte at `offset` of `path` with `mask`, in place.
fn flip(path: &Path, offset: u64, mask: u8) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= mask;
    file.write_all_at(&byte, offset).unwrap();
    file.sync_all().unwrap();
}

/// The first segment (sealed, hinted) with two of its put frames damaged after the close:
/// one in its payload (a checksum mismatch), one in its length field. Returns them.
fn damage_first_segment(dir: &Path) -> (PathBuf, PutFrame, PutFrame) {
    let path = dir.join(segment_file_name(1));
    let frames = put_frames(&path);
    assert!(frames.len() > 100, "{} put frames", frames.len());
    let (payload, length) = (frames[50], frames[80]);
    flip(&path, payload.offset + 40, 0x20);
    flip(&path, length.offset + 1, 0x01);
    (path, payload, length)
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, DbError>, at: PutFrame, path: &Path) {
    let e = match result {
        Err(e @ DbError::Corrupt { .. }) => e,
        other => panic!("a read of the damaged frame at {at:?} gave {other:?}"),
    };
    if let DbError::Corrupt {
        segment,
        offset,
        path: named,
        ..
    } = &e
    {
        assert_eq!((*segment, *offset), (1, at.offset), "{e}");
        assert_eq!(named, path);
    }
    let message = e.to_string();
    assert!(message.contains("nyrodb verify"), "{message}");
    assert!(
        message.contains(&format!("offset {}", at.offset)),
        "{message}"
    );
}

async fn wait_for_scrub(db: &Database) -> ScrubProgress {
    let started = std::time::Instant::now();
    loop {
        let progress = db.scrub_progress();
        if progress.finished {
            return progress;
        }
        assert!(
            started.elapsed() < BOUND,
            "the scrub did not finish: {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_of_a_damaged_hinted_frame_fails_and_the_rest_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let (path, payload, length) = damage_first_segment(dir.path());

    let db = open_with(&config, None).await;
    assert!(db.recovery().hinted_segments >= 2, "{:?}", db.recovery());
    assert!(
        !db.damage().degraded(),
        "open saw nothing: the segment came from its hint"
    );

    // get: the damaged records fail, each time, and are counted once.
    assert_corrupt(db.get("people", payload.id), payload, &path);
    assert_corrupt(db.get("people", payload.id), payload, &path);
    match db.get("people", payload.id) {
        Err(DbError::Corrupt { collection, id, .. }) => {
            assert_eq!(
                (collection.as_deref(), id),
                (Some("people"), Some(payload.id))
            );
        }
        other => panic!("{other:?}"),
    }
    let damage = db.damage();
    assert_eq!(damage.corrupt_frames, 1);
    assert!(damage.degraded());
    let first = damage.first.clone().unwrap();
    assert_eq!(
        (first.segment, first.offset, first.found_by),
        (1, payload.offset, FoundBy::Read)
    );
    assert_corrupt(db.get("people", length.id), length, &path);
    assert_eq!(db.damage().corrupt_frames, 2);
    assert_eq!(db.damage().first, Some(first), "the first stays the first");

    // Every other record reads as it was written.
    for id in (1..=2_000u64).filter(|&id| id != payload.id && id != length.id) {
        let d = db.get("people", id).unwrap();
        assert_eq!(d.to_json()["city"], city_of(id), "{id}");
    }

    // list, find and the documents scan meet it too.
    assert_corrupt(db.list("people", Some(payload.id - 1), 10), payload, &path);
    assert_eq!(
        db.list("people", Some(payload.id), 10)
            .unwrap()
            .records
            .len(),
        10
    );
    let city = city_of(payload.id);
    assert_corrupt(
        db.find(
            "people",
            &cond(&[("city", json!(city))]),
            Some(payload.id - 2),
            5,
        ),
        payload,
        &path,
    );
    let scanned: Vec<_> = db.documents("people").unwrap().collect();
    assert_eq!(scanned.len(), 2_000);
    let failed: Vec<_> = scanned.iter().filter(|d| d.is_err()).collect();
    assert_eq!(
        failed.len(),
        2,
        "the scan fails the two damaged records and goes on"
    );

    // The change feed's replay stops at the damage with the same error.
    let mut feed = db.subscribe(Some("people"), Some(0)).unwrap();
    let mut replayed = 0;
    loop {
        match within("feed", feed.next()).await {
            Some(Ok(_)) => replayed += 1,
            Some(Err(FeedError::Replay(DbError::Corrupt { offset, .. }))) => {
                assert_eq!(offset, payload.offset);
                break;
            }
            other => panic!("after {replayed} events: {other:?}"),
        }
    }
    assert_eq!(replayed, 50, "every change before the damaged frame");

    // A backup refuses rather than copy the damage.
    let backup = dir.path().join("backup");
    match within("backup", db.backup(&backup)).await {
        Err(DbError::Corrupt { offset, .. }) => assert_eq!(offset, payload.offset),
        other => panic!("a backup over damage gave {other:?}"),
    }
    assert_eq!(db.damage().corrupt_frames, 2, "each place counts once");
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();

    // Offline verify reads every frame, hints or not.
    let report = nyro_storage::verify(dir.path()).unwrap();
    let places: Vec<_> = report.problems.iter().map(|p| p.offset).collect();
    assert_eq!(places, vec![payload.offset, length.offset]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_finds_damage_in_hinted_segments_without_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let (path, payload, length) = damage_first_segment(dir.path());

    let db = open_with(&config, Some(64 << 20)).await;
    let hinted = db.recovery().hinted_segments;
    let progress = wait_for_scrub(&db).await;
    assert_eq!((progress.segments, progress.checked), (hinted, hinted));
    assert!(progress.bytes > (hinted as u64) << 20, "{progress:?}");
    let damage = db.damage();
    assert_eq!(damage.corrupt_frames, 2, "{damage:?}");
    let first = damage.first.clone().unwrap();
    assert_eq!(
        (first.segment, first.offset, first.found_by),
        (1, payload.offset, FoundBy::Scrub)
    );
    assert_eq!(first.path, path);
    let reason = damage.reason().unwrap();
    assert!(
        reason.contains(&format!("segment 1 at offset {}", payload.offset)),
        "{reason}"
    );

    // A read after the scrub fails the same way and counts nothing new.
    assert_corrupt(db.get("people", length.id), length, &path);
    assert_eq!(db.damage().corrupt_frames, 2);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_scrub_finds_nothing_and_a_slow_one_stops_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;

    let db = open_with(&config, Some(1 << 30)).await;
    let progress = wait_for_scrub(&db).await;
    assert!(progress.segments >= 2 && progress.checked == progress.segments);
    assert!(!db.damage().degraded());
    let guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    drop(guard);

    // One byte per second: the scrub pauses after its first chunk for ever, unless close
    // stops it. Close returns and the directory opens again at once.
    let _guard = no_fork().await;
    let db = open_with(&config, Some(1)).await;
    assert!(!db.scrub_progress().finished);
    within("close", db.close()).await.unwrap();
    let db = open_with(&config, None).await;
    assert!(!db.scrub_progress().finished, "the scrub is off");
    assert!(db.get("people", 7).is_ok());
    drop(db);
    // Dropping (not closing) stops a running scrub too.
    let db = open_with(&config, Some(1)).await;
    drop(db);
    let db = open_with(&config, None).await;
    within("close", db.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_no_hinted_segment_has_nothing_to_scrub() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(&config(dir.path()), Some(64 << 20)).await;
    let progress = db.scrub_progress();
    assert_eq!((progress.segments, progress.finished), (0, true));
    within("close", db.close()).await.unwrap();
}
