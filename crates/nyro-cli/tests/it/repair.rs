//! `nyrodb repair`, run for real: a directory with several kinds of damage at once (a bit
//! flip, a zeroed page, a truncated middle segment, a damaged hint) is repaired so that
//! `verify` is clean, the database opens, every frame outside the damaged ranges reads back
//! byte-identical, and `lost+found/REPORT.json` names exactly the ranges `verify` found; a
//! second run changes nothing. A healthy directory is left untouched. A repair that fails
//! names the file and what to do, and changes no segment.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nyro_core::{Config, Database, Document, WriteOptions};
use nyro_storage::{
    FrameHeader, LOST_FOUND_DIR, Log, LogOptions, REPORT_FILE, Severity, hint_file_name,
    segment_file_name,
};
use serde_json::{Value, json};

use crate::common::{fails, offline, populate, succeeds};

/// Five segments of about 1 MiB (four sealed, with hint files) holding 5,000 documents of
/// about 1 KiB in `users`.
fn populate_segments(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = Config::default();
        config.storage.path = dir.to_path_buf();
        config.storage.segment_size_mb = 1;
        config.compaction.auto = false;
        let db = Database::open(&config).await.unwrap();
        db.create_collection("users", &["city".to_string()])
            .await
            .unwrap();
        for batch in 0..50u64 {
            let docs: Vec<Document> = (0..100u64)
                .map(|i| {
                    let n = batch * 100 + i;
                    let city = if n.is_multiple_of(2) {
                        "London"
                    } else {
                        "Paris"
                    };
                    Document::from_json(json!({
                        "n": n,
                        "city": city,
                        "text": "x".repeat(900 + (n % 50) as usize),
                    }))
                    .unwrap()
                })
                .collect();
            db.insert_many("users", docs, WriteOptions::default())
                .await
                .unwrap();
        }
        db.write_hints().await.unwrap();
        db.close().await.unwrap();
    });
}

/// Every record frame of the log in `dir`, in log order: where it was, its header, payload.
fn frames(dir: &Path) -> Vec<(u32, u64, FrameHeader, Vec<u8>)> {
    let log = open_when_released(dir);
    let frames = log
        .reader()
        .iter()
        .map(|f| {
            let f = f.unwrap();
            let at = f.location();
            (at.segment, at.offset, *f.header(), f.payload().to_vec())
        })
        .collect();
    drop(log);
    frames
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

fn damage(path: &Path, at: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, at).unwrap();
}

#[test]
fn several_damages_at_once_are_repaired_and_reported_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate_segments(&data);
    let healthy = frames(&data);
    let segment = |id: u32| data.join(segment_file_name(id));
    assert!(segment(5).exists() && !segment(6).exists(), "five segments");
    assert!((1..5).all(|id| data.join(hint_file_name(id)).exists()));

    // A bit flip mid-log, a zeroed page, a truncated middle segment, a damaged hint.
    let flip_at = 500_000;
    let mut byte = [0u8];
    fs::File::open(segment(2))
        .unwrap()
        .read_exact_at(&mut byte, flip_at)
        .unwrap();
    damage(&segment(2), flip_at, &[byte[0] ^ 0x10]);
    damage(&segment(1), 4096 * 40, &[0; 4096]);
    let cut = fs::metadata(segment(3)).unwrap().len() - 1500;
    OpenOptions::new()
        .write(true)
        .open(segment(3))
        .unwrap()
        .set_len(cut)
        .unwrap();
    damage(&data.join(hint_file_name(4)), 100, b"garbage");

    // What verify finds is what repair must move aside.
    let (stdout, _) = fails(&mut offline("verify", &data));
    assert!(stdout.contains("CORRUPT"), "{stdout}");
    let problems = nyro_storage::verify(&data).unwrap().problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().all(|p| p.severity == Severity::Corrupt));
    // The healthy frames each range destroyed: those it overlaps, and those past the end of a
    // file that the range ends (the truncated segment's last frames).
    let spans: Vec<(u32, u64, u64)> = problems
        .iter()
        .map(|p| {
            let name = p.path.file_name().unwrap().to_str().unwrap();
            let id: u32 = name[8..18].parse().unwrap();
            let at_end = p.offset + p.len == fs::metadata(&p.path).unwrap().len();
            (
                id,
                p.offset,
                if at_end { u64::MAX } else { p.offset + p.len },
            )
        })
        .collect();
    let destroyed = |span: &(u32, u64, u64), (s, o, h, _): &(u32, u64, FrameHeader, Vec<u8>)| {
        *s == span.0 && *o < span.2 && span.1 < o + u64::from(h.frame_len)
    };

    let (stdout, stderr) = succeeds(&mut offline("repair", &data));
    // No progress bar when piped (a warning about the damaged hint may be logged).
    assert!(!stderr.contains("checking"), "{stderr}");
    assert!(stdout.contains("3 damaged ranges"), "{stdout}");
    assert!(stdout.contains("the database opens"), "{stdout}");
    assert!(stdout.contains(&hint_file_name(4)), "{stdout}");
    for p in &problems {
        let name = p.path.file_name().unwrap().to_str().unwrap();
        let line = format!("{name} at offset {} ({} bytes)", p.offset, p.len);
        assert!(stdout.contains(&line), "{line} in {stdout}");
    }

    // REPORT.json names exactly those ranges, with the records around them.
    let lost_found = data.join(LOST_FOUND_DIR);
    let report: Value =
        serde_json::from_str(&fs::read_to_string(lost_found.join(REPORT_FILE)).unwrap()).unwrap();
    let ranges = report["repairs"][0]["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), problems.len());
    for ((range, p), span) in ranges.iter().zip(&problems).zip(&spans) {
        let name = p.path.file_name().unwrap().to_str().unwrap();
        assert_eq!(range["segment_file"], name);
        assert_eq!(range["offset"], p.offset);
        assert_eq!(range["len"], p.len);
        let kept = fs::read(lost_found.join(range["file"].as_str().unwrap())).unwrap();
        assert_eq!(kept.len() as u64, p.len);
        for side in ["before", "after"] {
            assert_eq!(range[side]["collection_name"], "users", "{range}");
            assert_eq!(range[side]["kind"], "put", "{range}");
        }
        // The records around the range are the healthy log's frames around it.
        let first = healthy.iter().position(|f| destroyed(span, f)).unwrap();
        let last = healthy.iter().rposition(|f| destroyed(span, f)).unwrap();
        assert_eq!(range["before"]["id"], healthy[first - 1].2.id);
        assert_eq!(range["before"]["seq"], healthy[first - 1].2.seq);
        assert_eq!(range["after"]["id"], healthy[last + 1].2.id);
        assert_eq!(range["after"]["seq"], healthy[last + 1].2.seq);
    }

    // Every frame outside the damaged ranges reads back byte-identical, in order.
    let kept: Vec<_> = healthy
        .iter()
        .filter(|f| !spans.iter().any(|span| destroyed(span, f)))
        .map(|(_, _, h, p)| (*h, p.clone()))
        .collect();
    assert!(kept.len() < healthy.len());
    let (stdout, _) = succeeds(&mut offline("verify", &data));
    assert!(stdout.contains("intact"), "{stdout}");
    let after: Vec<_> = frames(&data)
        .into_iter()
        .map(|(_, _, h, p)| (h, p))
        .collect();
    assert_eq!(after, kept);

    // The database opens and exports every kept document; the second run changes nothing.
    succeeds(&mut offline("export", &data));
    let before = tree(&data);
    let (stdout, _) = succeeds(&mut offline("repair", &data));
    assert!(stdout.contains("is healthy"), "{stdout}");
    assert!(stdout.contains("nothing was changed"), "{stdout}");
    assert_eq!(tree(&data), before);
}

#[test]
fn a_healthy_directory_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let before = tree(dir.path());
    let (stdout, stderr) = succeeds(&mut offline("repair", dir.path()));
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("is healthy"), "{stdout}");
    assert!(stdout.contains("nothing was changed"), "{stdout}");
    assert_eq!(tree(dir.path()), before);
    assert!(!dir.path().join(LOST_FOUND_DIR).exists());
}

#[test]
fn a_lost_collection_creation_comes_back_as_a_recovered_collection() {
    let dir = tempfile::tempdir().unwrap();
    let count = populate(dir.path());
    // The first frame creates `users` (collection 1); frames follow, so it is corruption.
    let segment = dir.path().join(segment_file_name(1));
    damage(&segment, 32 + 36, b"\xff");
    let (stdout, _) = succeeds(&mut offline("repair", dir.path()));
    assert!(stdout.contains("1 damaged range"), "{stdout}");
    assert!(
        stdout.contains("added      collection recovered_1"),
        "{stdout}"
    );
    assert!(stdout.contains("the database opens"), "{stdout}");
    let (stdout, _) = succeeds(&mut offline("stats", dir.path()));
    assert!(stdout.contains("recovered_1"), "{stdout}");
    let (exported, _) = succeeds(offline("export", dir.path()).args(["-c", "recovered_1"]));
    let users = exported.lines().count() as u64;
    assert_eq!(
        users,
        count - 40,
        "every user kept, only the orders are apart"
    );
}

#[test]
fn a_lost_drop_is_put_back_so_the_name_can_be_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let docs = |n: u64| -> Vec<Document> {
        (0..n)
            .map(|i| Document::from_json(json!({"i": i})).unwrap())
            .collect()
    };
    runtime.block_on(async {
        let mut config = Config::default();
        config.storage.path = dir.path().to_path_buf();
        let db = Database::open(&config).await.unwrap();
        db.create_collection("t", &[]).await.unwrap();
        db.insert_many("t", docs(10), WriteOptions::default())
            .await
            .unwrap();
        db.drop_collection("t").await.unwrap();
        db.create_collection("t", &[]).await.unwrap();
        db.insert_many("t", docs(7), WriteOptions::default())
            .await
            .unwrap();
        db.close().await.unwrap();
    });
    let drop = frames(dir.path())
        .into_iter()
        .find(|(_, _, h, _)| h.kind == nyro_storage::RecordKind::DropCollection)
        .unwrap();
    damage(
        &dir.path().join(segment_file_name(drop.0)),
        drop.1 + 20,
        b"\xee",
    );

    let (stdout, _) = succeeds(&mut offline("repair", dir.path()));
    assert!(stdout.contains("1 damaged range"), "{stdout}");
    assert!(
        stdout.contains("added      the drop of collection \"t\" (id 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the database opens: 7 documents"),
        "{stdout}"
    );
    let (exported, _) = succeeds(offline("export", dir.path()).args(["-c", "t"]));
    assert_eq!(exported.lines().count(), 7);
}

#[test]
fn a_failed_repair_names_the_file_and_what_to_do_and_changes_no_segment() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    damage(&dir.path().join(segment_file_name(1)), 32 + 36, b"\xff");
    // Something in the way of `lost+found`: repair cannot create it.
    let lost_found = dir.path().join(LOST_FOUND_DIR);
    fs::write(&lost_found, b"not a directory").unwrap();
    let before = tree(dir.path());
    let (_, stderr) = fails(&mut offline("repair", dir.path()));
    assert!(
        stderr.contains(&lost_found.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains("fix the cause and run `nyrodb repair` again"),
        "says what to do: {stderr}"
    );
    assert_eq!(tree(dir.path()), before, "nothing changed");
    // The cause gone, the same command repairs the directory.
    fs::remove_file(&lost_found).unwrap();
    let (stdout, _) = succeeds(&mut offline("repair", dir.path()));
    assert!(stdout.contains("1 damaged range"), "{stdout}");
    succeeds(&mut offline("verify", dir.path()));
}

/// Opens the log in `dir`, waiting (a bounded poll) while its lock is still held: this test
/// process spawns `nyrodb` children concurrently, and a child between its fork and its exec
/// holds a copy of every descriptor, the directory lock of a database just closed included.
fn open_when_released(dir: &Path) -> Log {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Log::open(dir, LogOptions::default()) {
            Err(nyro_storage::StorageError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}
