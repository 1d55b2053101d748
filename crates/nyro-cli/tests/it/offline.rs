//! Offline commands: export and import round trips, verify on healthy and corrupted
//! directories, locked directories, compact, and imports with a bad record.

use std::path::Path;

use nyro_storage::{Log, LogOptions, Severity};
use serde_json::Value;

use crate::common::{copy_data_dir, fails, nyrodb, offline, populate, segment_files, succeeds};

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn export_to_string(data: &Path, collection: Option<&str>) -> String {
    let mut cmd = offline("export", data);
    if let Some(c) = collection {
        cmd.args(["--collection", c]);
    }
    let (stdout, stderr) = succeeds(&mut cmd);
    assert!(
        stderr.is_empty(),
        "export to a pipe prints nothing else: {stderr}"
    );
    stdout
}

#[test]
fn export_of_all_collections_then_import_gives_the_same_documents() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let count = populate(&original);

    let first = dir.path().join("first.ndjson");
    let (stdout, _) = succeeds(offline("export", &original).arg("--out").arg(&first));
    assert!(
        stdout.contains(&format!("exported {count} documents")),
        "{stdout}"
    );
    let exported = std::fs::read_to_string(&first).unwrap();
    let records = lines(&exported);
    assert_eq!(records.len() as u64, count);
    for record in &records {
        let object = record.as_object().unwrap();
        assert_eq!(object.len(), 2, "{record}");
        assert!(object["collection"].is_string());
        assert!(object["doc"]["_id"].is_u64());
    }

    // Into a directory that does not exist yet, without --collection.
    let copy = dir.path().join("copy");
    let (stdout, _) = succeeds(offline("import", &copy).arg(&first));
    assert!(
        stdout.contains(&format!("imported {count} documents")),
        "{stdout}"
    );

    let second = dir.path().join("second.ndjson");
    succeeds(offline("export", &copy).arg("--out").arg(&second));
    assert_eq!(exported, std::fs::read_to_string(&second).unwrap());
    // Exporting to standard output gives the same bytes.
    assert_eq!(exported, export_to_string(&copy, None));
}

#[test]
fn export_of_one_collection_is_plain_documents_and_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    populate(&original);
    let exported = export_to_string(&original, Some("users"));
    let docs = lines(&exported);
    assert_eq!(docs.len(), 600 - 60);
    let mut previous = 0;
    for doc in &docs {
        let id = doc["_id"].as_u64().unwrap();
        assert!(id > previous, "ascending ids");
        previous = id;
        assert!(doc.get("collection").is_none());
    }

    // As a JSON array this time, through standard input, with the index.
    let array = format!("[{}]", exported.lines().collect::<Vec<_>>().join(",\n"));
    let copy = dir.path().join("copy");
    let (stdout, _) = succeeds(
        offline("import", &copy)
            .args(["--collection", "users", "--index", "city", "-"])
            .write_stdin(array),
    );
    assert!(stdout.contains("imported 540 documents"), "{stdout}");
    assert_eq!(exported, export_to_string(&copy, Some("users")));
    let (stdout, _) = succeeds(&mut offline("stats", &copy));
    assert!(stdout.contains("city ("), "{stdout}");
}

#[test]
fn stats_of_a_data_directory_are_human_readable() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let (stdout, _) = succeeds(&mut offline("stats", dir.path()));
    assert!(stdout.contains("users"), "{stdout}");
    assert!(stdout.contains("540"), "{stdout}");
    assert!(stdout.contains("orders"), "{stdout}");
    assert!(stdout.contains("KiB"), "{stdout}");
    assert!(stdout.contains("last seq"), "{stdout}");

    let (stdout, _) = succeeds(nyrodb().args(["stats", "--json", "--data"]).arg(dir.path()));
    let stats: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["collections"][1]["count"], 540);
}

#[test]
fn verify_passes_a_healthy_directory_and_names_the_damage_in_a_corrupted_copy() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = dir.path().join("healthy");
    populate(&healthy);
    let (stdout, _) = succeeds(&mut offline("verify", &healthy));
    assert!(stdout.contains("intact"), "{stdout}");

    let damaged = dir.path().join("damaged");
    copy_data_dir(&healthy, &damaged);
    let segment = segment_files(&damaged).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&segment, bytes).unwrap();

    // What the storage layer finds, which the command must report.
    let report = nyro_storage::verify(&damaged).unwrap();
    let problem = report
        .problems
        .iter()
        .find(|p| p.severity == Severity::Corrupt)
        .expect("a flipped byte with frames after it is corruption")
        .clone();

    let (stdout, stderr) = fails(&mut offline("verify", &damaged));
    let file_name = segment.file_name().unwrap().to_str().unwrap();
    assert!(stdout.contains(file_name), "{stdout}");
    assert!(
        stdout.contains(&format!("at offset {}", problem.offset)),
        "{stdout}"
    );
    assert!(stdout.contains("CORRUPT"), "{stdout}");
    assert!(stderr.contains("corrupt place"), "{stderr}");
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");

    // The other offline commands refuse it too, naming file and offset.
    let (_, stderr) = fails(&mut offline("export", &damaged));
    assert!(
        stderr.contains(&format!("offset {}", problem.offset)),
        "{stderr}"
    );
}

/// Opens the log in `dir` to hold its lock. Retries for a while: another test thread of
/// this process may be starting a `nyrodb` child, and between its fork and its exec the
/// child shares the lock file of a database that `populate` has just closed (a `flock` is
/// released when the last copy of the descriptor closes).
fn hold_the_lock(dir: &Path) -> Log {
    let started = std::time::Instant::now();
    loop {
        match Log::open(dir, LogOptions::default()) {
            Ok(log) => return log,
            Err(nyro_storage::StorageError::Locked { .. })
                if started.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open the log to hold its lock: {e}"),
        }
    }
}

#[test]
fn a_locked_directory_is_refused_by_every_offline_command() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let file = dir.path().join("docs.ndjson");
    std::fs::write(&file, "{\"a\":1}\n").unwrap();
    let _held = hold_the_lock(dir.path());
    let shown = dir.path().display().to_string();
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["verify".into(), "--data".into(), dir.path().into()],
        vec!["stats".into(), "--data".into(), dir.path().into()],
        vec!["export".into(), "--data".into(), dir.path().into()],
        vec![
            "import".into(),
            "--data".into(),
            dir.path().into(),
            "-c".into(),
            "t".into(),
            file.clone().into(),
        ],
        vec!["compact".into(), "--data".into(), dir.path().into()],
        vec!["repair".into(), "--data".into(), dir.path().into()],
    ];
    for args in commands {
        let (stdout, stderr) = fails(nyrodb().args(&args));
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains("is locked"), "{args:?}: {stderr}");
        assert!(stderr.contains(&shown), "{args:?}: {stderr}");
    }
}

#[test]
fn compact_reclaims_dead_records_and_keeps_every_document() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let before = export_to_string(dir.path(), None);
    let size = |dir: &Path| -> u64 {
        segment_files(dir)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    };
    let bytes_before = size(dir.path());
    let (stdout, _) = succeeds(&mut offline("compact", dir.path()));
    assert!(stdout.contains("compacted 1 segment(s)"), "{stdout}");
    assert!(
        size(dir.path()) < bytes_before,
        "the replaced and deleted documents are gone"
    );
    assert_eq!(export_to_string(dir.path(), None), before, "same documents");
    // A second run finds nothing to do.
    let (stdout, _) = succeeds(&mut offline("compact", dir.path()));
    assert!(stdout.contains("nothing to compact"), "{stdout}");
}

#[test]
fn a_missing_or_foreign_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    for command in ["verify", "stats", "export", "compact", "repair"] {
        let (_, stderr) = fails(&mut offline(command, &missing));
        assert!(stderr.contains("does not exist"), "{stderr}");
        let (_, stderr) = fails(&mut offline(command, dir.path()));
        assert!(stderr.contains("no NyroDB segment files"), "{stderr}");
    }
    assert!(!missing.exists(), "nothing creates it");
}

/// `nyrodb import --data <data> -c t <file>`: `file` into the collection `t`.
fn import_into_t(data: &Path, file: &Path) -> assert_cmd::Command {
    let mut cmd = offline("import", data);
    cmd.args(["-c", "t"]).arg(file);
    cmd
}

#[test]
fn an_import_with_a_bad_line_names_it_and_writes_nothing_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.ndjson");
    std::fs::write(
        &file,
        "{\"n\":1}\n\n{\"n\":2}\n{\"n\": oops}\n{\"n\":4}\n{\"n\":5}\n",
    )
    .unwrap();

    // One batch: nothing at all is written.
    let data = dir.path().join("one-batch");
    let (_, stderr) = fails(&mut import_into_t(&data, &file));
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(export_to_string(&data, None), "");

    // Batches of two: lines 1 and 3 are written, the batch with line 4 is not.
    let data = dir.path().join("two-batches");
    let (_, stderr) = fails(
        nyrodb()
            .args(["import", "--batch-size", "2", "--data"])
            .arg(&data)
            .args(["-c", "t"])
            .arg(&file),
    );
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(
        stderr.contains("2 documents of earlier batches (up to line 3)"),
        "{stderr}"
    );
    let docs = lines(&export_to_string(&data, Some("t")));
    let ns: Vec<i64> = docs.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2]);

    // A JSON array names the element; an _id that exists is caught before writing.
    let array = dir.path().join("docs.json");
    std::fs::write(&array, "[{\"_id\": 7}, {\"n\": 1}, 5]").unwrap();
    let (_, stderr) = fails(&mut import_into_t(&data, &array));
    assert!(stderr.contains("array element 2"), "{stderr}");
    assert!(stderr.contains("must be a JSON object"), "{stderr}");
    std::fs::write(&array, "[{\"_id\": 1, \"n\": 9}]").unwrap();
    let (_, stderr) = fails(&mut import_into_t(&data, &array));
    assert!(stderr.contains("_id 1 already exists"), "{stderr}");
    assert!(stderr.contains("array element 0"), "{stderr}");
    assert_eq!(lines(&export_to_string(&data, Some("t"))).len(), 2);
    // An _id repeated within a batch: the database refuses the batch, and the error's
    // element names the input line of the second occurrence and of the first.
    let repeated = dir.path().join("repeated.ndjson");
    std::fs::write(&repeated, "{\"_id\": 50}\n{\"n\": 1}\n\n{\"_id\": 50}\n").unwrap();
    let (_, stderr) = fails(&mut import_into_t(&data, &repeated));
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(
        stderr.contains("appears twice in the batch (first at line 1)"),
        "{stderr}"
    );
    assert_eq!(lines(&export_to_string(&data, Some("t"))).len(), 2);

    // Plain documents without --collection are refused with the way out.
    let (_, stderr) = fails(offline("import", &data).arg(&file));
    assert!(stderr.contains("pass --collection"), "{stderr}");
}
