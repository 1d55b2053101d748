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
    build_with(dir, &["city"]).await
}

/// As [`build`], with these secondary indexes on `people`.
async fn build_with(dir: &Path, indexes: &[&str]) -> Config {
    let mut config = config(dir);
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    let db = open_with(&config, None).await;
    let indexes: Vec<String> = indexes.iter().map(|f| f.to_string()).collect();
    db.create_collection("people", &indexes).await.unwrap();
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

/// `damage_first_segment`, and a third put frame damaged in its payload (for a write of
/// several documents). Returns the three.
fn damage_three(dir: &Path) -> (PathBuf, [PutFrame; 3]) {
    let third = put_frames(&dir.join(segment_file_name(1)))[60];
    let (path, payload, length) = damage_first_segment(dir);
    flip(&path, third.offset + 40, 0x20);
    (path, [payload, length, third])
}

fn person(id: u64, city: &str) -> nyro_core::Document {
    doc(json!({"_id": id, "city": city}))
}

/// The ids `find` answers for `city`.
fn ids_in(db: &Database, city: &str) -> Vec<u64> {
    db.find("people", &cond(&[("city", json!(city))]), None, 10_000)
        .unwrap()
        .records
        .iter()
        .map(|d| d.id.unwrap_or_default())
        .collect()
}

/// How the indexes stand after the refused writes (and after a reopen): every intact
/// document where it was, the writes that went through in place, nothing of the refused.
fn assert_indexes_exact(db: &Database, damaged: &[PutFrame], path: &Path) {
    assert_eq!(
        ids_in(db, "Rome"),
        vec![3],
        "only the write that went through"
    );
    assert_eq!(db.get("people", 3).unwrap().to_json()["city"], "Rome");
    assert!(matches!(
        db.get("people", 5),
        Err(DbError::NotFound { id: 5, .. })
    ));
    for frame in damaged {
        assert_corrupt(db.get("people", frame.id), *frame, path);
    }
    for city in ["Oslo", "Lima"] {
        let expected: Vec<u64> = (1..=2_000u64)
            .filter(|&id| city_of(id) == city && id != 3 && id != 5)
            .collect();
        assert_eq!(ids_in_ignoring_damage(db, city), expected, "{city}");
    }
}

/// The ids indexed under `city`, read from the index alone (pages stop at a damaged
/// document, so this pages past each one).
fn ids_in_ignoring_damage(db: &Database, city: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        match db.find("people", &cond(&[("city", json!(city))]), after, 1) {
            Ok(page) => match page.records.first() {
                Some(d) => {
                    let id = d.id.unwrap_or_default();
                    ids.push(id);
                    after = Some(id);
                }
                None => return ids,
            },
            Err(DbError::Corrupt { id: Some(id), .. }) => {
                ids.push(id);
                after = Some(id);
            }
            Err(e) => panic!("find {city} after {after:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_or_delete_of_a_damaged_indexed_document_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let (path, damaged) = damage_three(dir.path());
    let [payload, length, third] = damaged;
    let w = WriteOptions::default;

    let db = open_with(&config, None).await;
    assert!(!db.damage().degraded());
    // A replace needs the damaged version's index keys: refused, nothing written.
    assert_corrupt(
        db.replace("people", payload.id, person(payload.id, "Rome"), w())
            .await,
        payload,
        &path,
    );
    assert_corrupt(
        db.replace("people", length.id, person(length.id, "Rome"), w())
            .await,
        length,
        &path,
    );
    // All or nothing: the intact document before the damaged one is not written either.
    assert_corrupt(
        db.replace_many(
            "people",
            vec![person(4, "Rome"), person(third.id, "Rome")],
            w(),
        )
        .await,
        third,
        &path,
    );
    for frame in damaged {
        assert_corrupt(db.delete("people", frame.id, w()).await, frame, &path);
    }
    assert_eq!(db.damage().corrupt_frames, 3, "each place counted once");
    let seq_before = db.stats().last_seq;
    // Writes of intact documents go on, in the same batch as refused ones or not.
    let (a, b, c) = tokio::join!(
        db.replace("people", 3, person(3, "Rome"), w()),
        db.delete("people", third.id, w()),
        db.delete("people", 5, w()),
    );
    a.unwrap();
    b.unwrap_err();
    c.unwrap();
    assert_eq!(db.stats().last_seq, seq_before + 2, "two writes, no other");
    assert_indexes_exact(&db, &damaged, &path);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();

    // What was refused left nothing in the log: the reopened database is the same.
    let db = open_with(&config, None).await;
    assert_indexes_exact(&db, &damaged, &path);
    within("close", db.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_secondary_indexes_a_damaged_document_is_replaced_or_deleted_without_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = build_with(dir.path(), &[]).await;
    let (_path, [payload, length, third]) = damage_three(dir.path());
    let w = WriteOptions::default;

    let db = open_with(&config, None).await;
    let replaced = db
        .replace("people", payload.id, person(payload.id, "Rome"), w())
        .await
        .unwrap();
    assert!(!replaced.created);
    let many = db
        .replace_many(
            "people",
            vec![person(4, "Rome"), person(third.id, "Rome")],
            w(),
        )
        .await
        .unwrap();
    assert_eq!(
        many.iter().map(|r| r.created).collect::<Vec<_>>(),
        [false, false]
    );
    db.delete("people", length.id, w()).await.unwrap();
    assert!(!db.damage().degraded(), "no write read the damaged frames");
    let check = |db: &Database| {
        for id in [payload.id, 4, third.id] {
            assert_eq!(db.get("people", id).unwrap().to_json()["city"], "Rome");
        }
        assert!(matches!(
            db.get("people", length.id),
            Err(DbError::NotFound { .. })
        ));
        assert_eq!(
            db.documents("people")
                .unwrap()
                .filter(|d| d.is_err())
                .count(),
            0
        );
    };
    check(&db);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
    let db = open_with(&config, None).await;
    check(&db);
    within("close", db.close()).await.unwrap();
}

/// `scan_with` reads a chunk of documents against one load of the segment table: a
/// damaged frame in the middle of a chunk still ends the scan with `DbError::Corrupt` at
/// that document (after every document before it), counted once, and a scan resumed after
/// it goes on to the next damaged one and then to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_with_stops_at_a_damaged_frame_in_the_middle_of_a_chunk() {
    use std::ops::ControlFlow;

    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path()).await;
    let (path, payload, length) = damage_first_segment(dir.path());
    assert!(payload.id < length.id && length.id < nyro_core::DOCUMENTS_CHUNK as u64);
    let db = open_with(&config, None).await;

    let mut seen = Vec::new();
    let scan_from = |after: Option<u64>, seen: &mut Vec<u64>| {
        db.scan_with("people", after, |view| {
            assert_eq!(
                view.get("city").and_then(|c| c.as_str()),
                Some(city_of(view.id()))
            );
            seen.push(view.id());
            ControlFlow::Continue(())
        })
    };
    assert_corrupt(scan_from(None, &mut seen), payload, &path);
    assert_eq!(seen, (1..payload.id).collect::<Vec<_>>());
    assert_eq!(db.damage().corrupt_frames, 1);
    // Again: the same error, counted once.
    assert_corrupt(scan_from(None, &mut Vec::new()), payload, &path);
    assert_eq!(db.damage().corrupt_frames, 1);

    assert_corrupt(scan_from(Some(payload.id), &mut seen), length, &path);
    assert_eq!(scan_from(Some(length.id), &mut seen).unwrap(), None);
    let expected: Vec<u64> = (1..=2_000)
        .filter(|&id| id != payload.id && id != length.id)
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(db.damage().corrupt_frames, 2);
    let _guard = no_fork().await;
    within("close", db.close()).await.unwrap();
}
