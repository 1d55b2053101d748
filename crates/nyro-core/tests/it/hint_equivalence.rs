//! Reopening from hint files (of sealed segments, and of the active segment from a clean
//! close) gives exactly the state that reopening by scanning every segment gives: random
//! histories of inserts, replaces, deletes, collection drops and re-creations, compactions,
//! hint writes, clean closes and crashes (a database dropped without `close`), then the
//! same directory opened twice, once with its hints and once without any, compared on every
//! document, every index, the counters and the space accounting.

use std::path::Path;

use nyro_core::{Config, Database, WriteOptions};
use proptest::prelude::*;
use serde_json::json;

use crate::common::{cond, config, doc, doc_with_id, find_all, list_all, no_fork, open_quiet};

/// The collections and their indexes ("c" has none): top-level scalars, a top-level array
/// (`tags`) and dotted paths through an object or an array of objects (`addr.tags`).
const COLLECTIONS: [(&str, &[&str]); 3] = [
    ("a", &["city", "n", "addr.tags"]),
    ("b", &["city", "tags"]),
    ("c", &[]),
];

#[derive(Debug, Clone)]
enum Op {
    /// A replace (or create) of `id`.
    Put {
        c: usize,
        id: u64,
        city: u8,
        pad: u16,
    },
    /// An insert with an id the database assigns.
    Insert {
        c: usize,
        city: u8,
        pad: u16,
    },
    Delete {
        c: usize,
        id: u64,
    },
    /// Drops the collection and creates it again (empty, same indexes).
    Drop {
        c: usize,
    },
    Compact,
    WriteHints,
    /// A clean close (which writes the active segment's hint) and an open.
    Reopen,
    /// Dropped without `close` (no active hint), then opened.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..COLLECTIONS.len();
    prop_oneof![
        8 => (c.clone(), 1u64..40, 0u8..5, 0u16..12_000)
            .prop_map(|(c, id, city, pad)| Op::Put { c, id, city, pad }),
        6 => (c.clone(), 0u8..5, 0u16..12_000).prop_map(|(c, city, pad)| Op::Insert { c, city, pad }),
        4 => (c.clone(), 1u64..40).prop_map(|(c, id)| Op::Delete { c, id }),
        1 => c.prop_map(|c| Op::Drop { c }),
        1 => Just(Op::Compact),
        1 => Just(Op::WriteHints),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn body(city: u8, pad: u16, n: u64) -> serde_json::Value {
    // City 4 is left out: a document without the indexed field.
    let mut value = json!({"n": n % 7, "pad": "p".repeat(pad as usize)});
    if city < 4 {
        value["city"] = json!(format!("city-{city}"));
    }
    let other = json!(format!("city-{}", (u64::from(city) + n) % 4));
    match pad % 4 {
        0 => value["tags"] = json!([other, n % 3, value["city"]]),
        1 => value["addr"] = json!({"tags": [other, n % 5]}),
        2 => value["addr"] = json!([{"tags": other}, {"x": 1}, 7, {"tags": []}]),
        _ => value["tags"] = json!([]),
    }
    value
}

async fn create(db: &Database, c: usize) {
    let (name, indexes) = COLLECTIONS[c];
    let indexes: Vec<String> = indexes.iter().map(|s| s.to_string()).collect();
    db.create_collection(name, &indexes).await.unwrap();
}

fn db_config(dir: &Path) -> Config {
    let mut config = config(dir);
    config.storage.segment_size_mb = 1;
    config.compaction.auto = false;
    config
}

/// Runs `ops` on a database in `dir`; ends with a clean close or (`crash_at_end`) a drop.
async fn run(dir: &Path, ops: &[Op], crash_at_end: bool) {
    let config = db_config(dir);
    let mut db = open_quiet(&config).await;
    for c in 0..COLLECTIONS.len() {
        create(&db, c).await;
    }
    let options = WriteOptions::default;
    for (i, op) in ops.iter().enumerate() {
        let n = i as u64;
        match op {
            Op::Put { c, id, city, pad } => {
                let d = doc_with_id(body(*city, *pad, n), Some(*id));
                db.replace(COLLECTIONS[*c].0, *id, d, options())
                    .await
                    .unwrap();
            }
            Op::Insert { c, city, pad } => {
                let d = doc(body(*city, *pad, n));
                db.insert(COLLECTIONS[*c].0, d, options()).await.unwrap();
            }
            Op::Delete { c, id } => {
                // Deleting an absent id is refused and changes nothing.
                let _ = db.delete(COLLECTIONS[*c].0, *id, options()).await;
            }
            Op::Drop { c } => {
                db.drop_collection(COLLECTIONS[*c].0).await.unwrap();
                create(&db, *c).await;
            }
            Op::Compact => {
                db.compact().await.unwrap();
            }
            Op::WriteHints => {
                db.write_hints().await.unwrap();
            }
            Op::Reopen | Op::Crash => {
                let _guard = no_fork().await;
                if matches!(op, Op::Reopen) {
                    db.close().await.unwrap();
                } else {
                    drop(db);
                }
                db = open_quiet(&config).await;
            }
        }
    }
    let _guard = no_fork().await;
    if crash_at_end {
        drop(db);
    } else {
        db.close().await.unwrap();
    }
}

/// Copies the data files of `from` into `to`, hint files only if `hints`. Returns how many
/// hint files describe frames (an active segment's hint may describe none).
fn copy(from: &Path, to: &Path, hints: bool) -> usize {
    std::fs::create_dir_all(to).unwrap();
    let mut copied_hints = 0;
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let hint = name.ends_with(".hint") || name.ends_with(".active-hint");
        if name == nyro_storage::LOCK_FILE || (hint && !hints) {
            continue;
        }
        std::fs::copy(&path, to.join(&name)).unwrap();
        if hint {
            // The hint header's length of the segment it covers (docs/FORMAT.md section 6).
            let bytes = std::fs::read(&path).unwrap();
            let covered = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
            copied_hints += usize::from(covered > nyro_storage::SEGMENT_HEADER_LEN as u64);
        }
    }
    copied_hints
}

/// Everything an open rebuilds, read back; then one insert per collection, whose id and seq
/// show the counters.
async fn state(db: &Database) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for info in db.collections() {
        let name = info.name.clone();
        let docs: Vec<_> = list_all(db, &name, 7).iter().map(|d| d.to_json()).collect();
        let mut finds = Vec::new();
        for field in &info.indexes {
            let values = (0..4)
                .map(|c| json!(format!("city-{c}")))
                .chain((0..7).map(|n| json!(n)))
                .chain([json!(null)]);
            for value in values {
                finds.push(find_all(db, &name, &cond(&[(field, value)]), 5));
            }
        }
        out.insert(
            name.clone(),
            json!({"count": info.count, "indexes": info.indexes, "docs": docs,
                   "finds": format!("{finds:?}")}),
        );
    }
    let stats = db.stats();
    out.insert(
        "stats".into(),
        json!({"last_seq": stats.last_seq, "live": stats.live_bytes, "dead": stats.dead_bytes,
               "segments": stats.segments}),
    );
    let mut probes = Vec::new();
    for (name, _) in COLLECTIONS {
        let written = db.insert(name, doc(json!({"probe": true})), WriteOptions::default());
        let written = written.await.unwrap();
        probes.push((written.id, written.seq));
    }
    out.insert("probes".into(), json!(format!("{probes:?}")));
    serde_json::Value::Object(out)
}

/// The state of `dir` opened with its hints and without; also whether hints were used.
async fn both_ways(dir: &Path) -> (serde_json::Value, serde_json::Value, bool) {
    let scratch = tempfile::tempdir().unwrap();
    let (with, without) = (scratch.path().join("with"), scratch.path().join("without"));
    let hints = copy(dir, &with, true);
    copy(dir, &without, false);
    let db = open_quiet(&db_config(&with)).await;
    let used = db.recovery().hinted_segments > 0 || db.recovery().hinted_active_bytes > 0;
    assert!(used || hints == 0, "{hints} hint files, none used");
    let from_hints = state(&db).await;
    let _guard = no_fork().await;
    db.close().await.unwrap();
    drop(_guard);
    let db = open_quiet(&db_config(&without)).await;
    assert_eq!(db.recovery().hinted_segments, 0);
    assert_eq!(db.recovery().hinted_active_bytes, 0);
    let scanned = state(&db).await;
    let _guard = no_fork().await;
    db.close().await.unwrap();
    (from_hints, scanned, used)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn reopening_from_hints_equals_reopening_by_scanning(
        ops in prop::collection::vec(op(), 1..90),
        crash_at_end in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (from_hints, scanned, _) = runtime.block_on(async {
            run(dir.path(), &ops, crash_at_end).await;
            both_ways(dir.path()).await
        });
        prop_assert_eq!(from_hints, scanned);
    }
}

/// The property above with a history that certainly uses both kinds of hints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_and_active_hints_are_used_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut ops = Vec::new();
    for i in 0..300u64 {
        let c = (i % 3) as usize;
        ops.push(Op::Put {
            c,
            id: i % 37 + 1,
            city: (i % 5) as u8,
            pad: 9_000,
        });
        if i % 50 == 0 {
            ops.push(Op::Delete { c, id: i % 11 + 1 });
        }
        if i == 120 {
            ops.push(Op::Drop { c: 1 });
            ops.push(Op::WriteHints);
            ops.push(Op::Reopen);
        }
    }
    ops.push(Op::WriteHints);
    run(dir.path(), &ops, false).await;
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".active-hint")),
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.ends_with(".hint")).count() >= 2,
        "{names:?}"
    );
    let (from_hints, scanned, used) = both_ways(dir.path()).await;
    assert!(used);
    assert_eq!(from_hints, scanned);
}
