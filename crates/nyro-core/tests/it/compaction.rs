//! Compaction (issue 6): a model test with compactions and reopens among the writes,
//! compaction stopped at each of its steps (test hook) and killed with SIGKILL (child
//! process), reads while compaction runs, the change feed's history floor, the background
//! compactor, the space compaction gives back, and a power cut right after a compaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nyro_core::{
    ChangeEvent, ChangeOp, Config, Database, DbError, Document, FeedError, OpenOptions, SyncPolicy,
    WriteOptions,
};
use nyro_storage::{CompactionStep, FaultInjector, LogIo};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::common::*;

const W: WriteOptions = WriteOptions { sync: false };

/// Bytes a compaction may add per segment it rewrites (the marker frame) plus the header of
/// the new active segment when it seals one.
const MARKER_ALLOWANCE: u64 = 64;
const NEW_SEGMENT_HEADER: u64 = 32;

/// A config with 1 MB segments and no background compaction.
fn small_config(dir: &Path) -> Config {
    let mut c = config(dir);
    c.storage.segment_size_mb = 1;
    c.compaction.auto = false;
    c
}

async fn open_io(config: &Config, io: &Arc<FaultInjector>) -> Database {
    within(
        "open",
        Database::open_with(
            config,
            OpenOptions {
                io: Arc::clone(io) as Arc<dyn LogIo>,
            },
        ),
    )
    .await
    .expect("open")
}

/// What the data directory holds: segment files, their total size, and anything else
/// (besides the lock file).
fn disk_state(dir: &Path) -> (usize, u64, Vec<String>) {
    let mut segments = 0;
    let mut bytes = 0;
    let mut other = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("segment-") && name.ends_with(".log") {
            segments += 1;
            bytes += entry.metadata().unwrap().len();
        } else if name.starts_with("segment-") && name.ends_with(".hint") {
            // Written by the background maintenance; must belong to a segment on disk.
            let log = dir.join(name.replace(".hint", ".log"));
            if !log.exists() {
                other.push(name);
            }
        } else if name != nyro_storage::LOCK_FILE {
            other.push(name);
        }
    }
    (segments, bytes, other)
}

/// The directory holds exactly the segments the database reports: no temporary file, no
/// retired segment left behind.
fn check_disk(db: &Database, dir: &Path, step: &str) {
    let stats = db.stats();
    let (segments, bytes, other) = disk_state(dir);
    assert!(other.is_empty(), "{step}: stray files {other:?}");
    assert_eq!(segments, stats.segments, "{step}: segment files");
    assert_eq!(bytes, stats.disk_bytes, "{step}: bytes of segment files");
}

/// Compacts and checks what the space accounting says: dead bytes are gone, and disk bytes
/// dropped by (at least) the dead bytes, up to the markers and a new active segment.
async fn compact_and_check_space(db: &Database, dir: &Path, step: &str) {
    let before = db.stats();
    let summary = within(step, db.compact())
        .await
        .unwrap_or_else(|e| panic!("{step}: compact: {e}"));
    let after = db.stats();
    let n = summary.segments_rewritten as u64;
    if before.dead_bytes > 0 {
        assert!(n > 0, "{step}: {before:?} but nothing rewritten");
    }
    assert_eq!(after.dead_bytes, 0, "{step}: dead bytes after compaction");
    assert!(
        after.disk_bytes + before.dead_bytes
            <= before.disk_bytes + NEW_SEGMENT_HEADER + MARKER_ALLOWANCE * n,
        "{step}: disk bytes {} -> {} with {} dead, {n} segments rewritten",
        before.disk_bytes,
        after.disk_bytes,
        before.dead_bytes
    );
    assert!(
        summary.bytes_after <= summary.bytes_before + MARKER_ALLOWANCE * n,
        "{step}: {summary:?}"
    );
    assert_eq!(
        after.last_seq, before.last_seq,
        "{step}: compaction writes no seq"
    );
    check_disk(db, dir, step);
}

// ---------------------------------------------------------------------------------------
// 1. The model test.
// ---------------------------------------------------------------------------------------

/// `a` indexes x, `b` has no index, `c` does not exist until a write creates it (with no
/// index) and is sometimes dropped.
const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

fn is_indexed(collection: &str) -> bool {
    collection == "a"
}

/// A document's shape; its content is fixed when it is written (a unique tag).
#[derive(Debug, Clone)]
struct Shape {
    id: Option<u64>,
    x: Option<u8>,
    /// Bytes of padding: mostly small, sometimes a tenth of a segment or more.
    pad: usize,
}

fn shape(with_id: bool) -> impl Strategy<Value = Shape> {
    let id = if with_id {
        prop::option::weighted(0.4, 1..14u64).boxed()
    } else {
        Just(None).boxed()
    };
    let pad = prop_oneof![6 => 0..3_000usize, 1 => 100_000..300_000usize];
    (id, prop::option::weighted(0.8, 0..4u8), pad).prop_map(|(id, x, pad)| Shape { id, x, pad })
}

fn body(shape: &Shape, tag: u64) -> Json {
    let mut map = serde_json::Map::new();
    if let Some(x) = shape.x {
        map.insert("x".into(), json!(x));
    }
    map.insert("tag".into(), json!(tag));
    let fill = char::from(b'a' + (tag % 26) as u8);
    map.insert("pad".into(), json!(fill.to_string().repeat(shape.pad)));
    Json::Object(map)
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, Shape),
    InsertMany(usize, Vec<Shape>),
    Replace(usize, u64, Shape),
    Delete(usize, u64),
    DropC,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let coll = 0..COLLECTIONS.len();
    prop_oneof![
        5 => (coll.clone(), shape(true)).prop_map(|(c, d)| Op::Insert(c, d)),
        2 => (coll.clone(), prop::collection::vec(shape(true), 1..5))
            .prop_map(|(c, d)| Op::InsertMany(c, d)),
        5 => (coll.clone(), 1..16u64, shape(false)).prop_map(|(c, id, d)| Op::Replace(c, id, d)),
        4 => (coll, 1..16u64).prop_map(|(c, id)| Op::Delete(c, id)),
        1 => Just(Op::DropC),
        3 => Just(Op::Compact),
        2 => Just(Op::Reopen),
    ]
}

/// The model: documents, which collections exist, the largest id each collection ever held
/// (assigned ids never reuse one) and the last seq acknowledged (seqs only grow).
#[derive(Debug, Default)]
struct Model {
    docs: BTreeMap<(String, u64), Json>,
    exists: BTreeSet<String>,
    max_id: BTreeMap<String, u64>,
    last_seq: u64,
    tag: u64,
}

impl Model {
    fn has(&self, c: &str, id: u64) -> bool {
        self.docs.contains_key(&(c.to_string(), id))
    }

    fn put(&mut self, c: &str, id: u64, body: Json) {
        self.exists.insert(c.to_string());
        self.docs.insert((c.to_string(), id), body);
        let max = self.max_id.entry(c.to_string()).or_default();
        *max = (*max).max(id);
    }

    fn ids(&self, c: &str) -> Vec<u64> {
        self.docs
            .keys()
            .filter(|(coll, _)| coll == c)
            .map(|(_, id)| *id)
            .collect()
    }

    fn seq(&mut self, seq: u64, what: &str) {
        assert!(
            seq > self.last_seq,
            "{what}: seq {seq} after {} (seqs must grow)",
            self.last_seq
        );
        self.last_seq = seq;
    }

    fn next_tag(&mut self) -> u64 {
        self.tag += 1;
        self.tag
    }
}

fn without_id(d: &Document) -> Json {
    let mut json = d.to_json();
    if let Json::Object(map) = &mut json {
        map.remove("_id");
    }
    json
}

/// The database and the model agree on every document, listing, count and indexed find.
fn check_model(db: &Database, model: &Model, step: &str) {
    let names: BTreeSet<String> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, model.exists, "{step}: collections");
    for c in COLLECTIONS {
        if !model.exists.contains(c) {
            assert!(
                matches!(db.get(c, 1), Err(DbError::CollectionNotFound { .. })),
                "{step}"
            );
            continue;
        }
        let ids = model.ids(c);
        let top = model.max_id.get(c).copied().unwrap_or(0) + 2;
        for id in 0..=top.max(16) {
            match (db.get(c, id), model.docs.get(&(c.to_string(), id))) {
                (Ok(d), Some(want)) => {
                    assert_eq!(d.id, Some(id), "{step}");
                    assert!(&without_id(&d) == want, "{step}: get {c}/{id} differs");
                }
                (Err(DbError::NotFound { .. }), None) => {}
                (Ok(d), None) => panic!("{step}: get {c}/{id}: {:?}, model has none", d.id),
                (Err(e), Some(_)) => panic!("{step}: get {c}/{id}: {e}, model has it"),
                (Err(e), None) => panic!("{step}: get {c}/{id}: {e}"),
            }
        }
        for limit in [2, 100] {
            let all = list_all(db, c, limit);
            let got: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
            assert_eq!(got, ids, "{step}: list {c} by {limit}");
            for d in &all {
                assert!(
                    without_id(d) == model.docs[&(c.to_string(), d.id.unwrap())],
                    "{step}: list {c}: {:?} differs",
                    d.id
                );
            }
        }
        let info = db.collections().into_iter().find(|i| i.name == c).unwrap();
        assert_eq!(info.count, ids.len() as u64, "{step}: count of {c}");
        if is_indexed(c) {
            for x in 0..5u8 {
                let want: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|&id| model.docs[&(c.to_string(), id)].get("x") == Some(&json!(x)))
                    .collect();
                let got = find_all(db, c, &cond(&[("x", json!(x))]), 3);
                assert_eq!(got, want, "{step}: find {c} x={x}");
            }
        } else {
            assert!(
                matches!(
                    db.find(c, &cond(&[("x", json!(1))]), None, 10),
                    Err(DbError::NotIndexed { .. })
                ),
                "{step}"
            );
        }
    }
}

async fn apply_model(db: &Database, model: &mut Model, op: &Op, step: &str) {
    match op {
        Op::Insert(c, s) => {
            let c = COLLECTIONS[*c];
            let body = body(s, model.next_tag());
            let mut d = doc(body.clone());
            d.id = s.id;
            let got = db.insert(c, d, W).await;
            match s.id {
                Some(id) if model.has(c, id) => {
                    assert!(matches!(got, Err(DbError::Conflict { .. })), "{got:?}");
                }
                given => {
                    let inserted = got.expect("insert");
                    let max = model.max_id.get(c).copied().unwrap_or(0);
                    match given {
                        Some(id) => assert_eq!(inserted.id, id, "{step}"),
                        None => assert_eq!(inserted.id, max + 1, "{step}: assigned id"),
                    }
                    model.seq(inserted.seq, step);
                    model.put(c, inserted.id, body);
                }
            }
        }
        Op::InsertMany(c, shapes) => {
            let c = COLLECTIONS[*c];
            let bodies: Vec<Json> = shapes.iter().map(|s| body(s, model.next_tag())).collect();
            let given: Vec<u64> = shapes.iter().filter_map(|s| s.id).collect();
            let unique: HashSet<u64> = given.iter().copied().collect();
            let conflict = unique.len() < given.len() || given.iter().any(|&id| model.has(c, id));
            let docs = shapes
                .iter()
                .zip(&bodies)
                .map(|(s, b)| {
                    let mut d = doc(b.clone());
                    d.id = s.id;
                    d
                })
                .collect();
            let got = db.insert_many(c, docs, W).await;
            if conflict {
                assert!(matches!(got, Err(DbError::Conflict { .. })), "{got:?}");
                return;
            }
            let many = got.expect("insert_many");
            let mut last_auto = model.max_id.get(c).copied().unwrap_or(0);
            for (s, &id) in shapes.iter().zip(&many.ids) {
                match s.id {
                    Some(given) => assert_eq!(id, given),
                    None => {
                        assert!(id > last_auto, "{step}: assigned ids {:?}", many.ids);
                        last_auto = id;
                    }
                }
            }
            let first_seq = many.seq + 1 - shapes.len() as u64;
            model.seq(first_seq, step);
            model.last_seq = many.seq;
            for (b, &id) in bodies.into_iter().zip(&many.ids) {
                model.put(c, id, b);
            }
        }
        Op::Replace(c, id, s) => {
            let c = COLLECTIONS[*c];
            let body = body(s, model.next_tag());
            let replaced = db
                .replace(c, *id, doc(body.clone()), W)
                .await
                .expect("replace");
            assert_eq!(replaced.created, !model.has(c, *id), "{step}");
            model.seq(replaced.seq, step);
            model.put(c, *id, body);
        }
        Op::Delete(c, id) => {
            let c = COLLECTIONS[*c];
            let got = db.delete(c, *id, W).await;
            if !model.exists.contains(c) {
                assert!(
                    matches!(got, Err(DbError::CollectionNotFound { .. })),
                    "{got:?}"
                );
            } else if model.docs.remove(&(c.to_string(), *id)).is_some() {
                model.seq(got.expect("delete"), step);
            } else {
                assert!(matches!(got, Err(DbError::NotFound { .. })), "{got:?}");
            }
        }
        Op::DropC => {
            let got = db.drop_collection("c").await;
            if model.exists.remove("c") {
                got.expect("drop");
                model.docs.retain(|(c, _), _| c != "c");
                model.max_id.remove("c");
            } else {
                assert!(
                    matches!(got, Err(DbError::CollectionNotFound { .. })),
                    "{got:?}"
                );
            }
        }
        Op::Compact | Op::Reopen => unreachable!("handled by the caller"),
    }
}

fn run_model(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = small_config(dir.path());
        config.batch.sync = SyncPolicy::Never; // close syncs; no crash here
        let mut db = open(&config).await;
        let mut model = Model::default();
        db.create_collection("a", &["x".to_string()]).await.unwrap();
        db.create_collection("b", &[]).await.unwrap();
        model.exists.extend(["a".to_string(), "b".to_string()]);
        for (i, op) in ops.iter().enumerate() {
            let step = format!("step {i} {op:?}");
            match op {
                Op::Reopen => {
                    db = reopen(db, &config).await;
                    assert_eq!(db.stats().last_seq, model.last_seq, "{step}: last_seq");
                    check_disk(&db, dir.path(), &step);
                }
                Op::Compact => compact_and_check_space(&db, dir.path(), &step).await,
                op => within(&step, apply_model(&db, &mut model, op, &step)).await,
            }
            check_model(&db, &model, &step);
        }
        // Finally: compact everything, reopen, and it all still holds; then a write gets
        // the next seq and (assigned) id.
        compact_and_check_space(&db, dir.path(), "final compaction").await;
        check_model(&db, &model, "final compaction");
        let db = reopen(db, &config).await;
        assert_eq!(
            db.stats().last_seq,
            model.last_seq,
            "final reopen: last_seq"
        );
        check_disk(&db, dir.path(), "final reopen");
        check_model(&db, &model, "final reopen");
        for c in 0..2 {
            let op = Op::Insert(
                c,
                Shape {
                    id: None,
                    x: Some(1),
                    pad: 10,
                },
            );
            apply_model(&db, &mut model, &op, "last insert").await;
        }
        check_model(&db, &model, "last insert");
        db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        max_shrink_iters: 100,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compaction_agrees_with_a_model(ops in prop::collection::vec(op(), 1..30)) {
        run_model(ops);
    }
}

/// Cases the model test found (or that matter enough to run every time).
#[test]
fn compaction_model_regressions() {
    use Op::*;
    let s = |id, x| Shape { id, x, pad: 100 };
    // The newest document deleted, then compacted away in the oldest segment: after a
    // reopen the next assigned id and the next seq are still new ones.
    run_model(vec![
        Insert(0, s(None, Some(1))),
        Insert(0, s(None, Some(2))),
        Delete(0, 2),
        Compact,
        Reopen,
        Insert(0, s(None, Some(3))),
    ]);
    // A dropped collection's documents and a replaced one, in several segments.
    run_model(vec![
        Insert(2, s(Some(3), None)),
        Compact,
        Replace(2, 3, s(None, None)),
        Insert(0, s(None, Some(0))),
        Compact,
        DropC,
        Replace(0, 1, s(None, Some(3))),
        Compact,
        Reopen,
        Insert(2, s(None, None)),
        Compact,
        Reopen,
    ]);
}

// ---------------------------------------------------------------------------------------
// 2. Kill points: the test hook at each step, and SIGKILL of a child process.
// ---------------------------------------------------------------------------------------

/// Version `v` of document `id` of collection `c` in the fixed dataset (about 4 KB).
fn kp_doc(c: &str, id: u64, v: u64) -> Json {
    let pad = "q".repeat(4_000 + (id % 13) as usize * 37);
    json!({"c": c, "id": id, "v": v, "x": id % 5, "pad": pad})
}

/// The fixed dataset's writes.
#[derive(Debug, Clone)]
enum DataOp {
    InsertMany(&'static str, Vec<u64>, u64),
    Replace(&'static str, u64, u64),
    Delete(&'static str, u64),
    Drop(&'static str),
}

/// About 3.7 MB of writes: several sealed 1 MB segments holding replaced versions, deleted
/// documents (the highest ids among them), a re-inserted id and a dropped collection.
fn dataset_ops() -> Vec<DataOp> {
    use DataOp::*;
    let mut ops = Vec::new();
    let ids: Vec<u64> = (1..=300).collect();
    for chunk in ids.chunks(10) {
        ops.push(InsertMany("k", chunk.to_vec(), 0));
        ops.push(InsertMany("p", chunk.to_vec(), 0));
        if chunk[0] <= 50 {
            ops.push(InsertMany("gone", chunk.to_vec(), 0));
        }
    }
    for id in (3..=300).step_by(3) {
        ops.push(Replace("k", id, 1));
        ops.push(Replace("p", id, 1));
    }
    for id in (5..=300).step_by(5) {
        ops.push(Delete("k", id));
        ops.push(Delete("p", id));
    }
    // The two highest ids of `k` are gone: assigned ids must still go past them.
    ops.push(Delete("k", 299));
    ops.push(Delete("k", 298));
    for id in (7..=297).step_by(7) {
        if id % 5 != 0 {
            ops.push(Replace("k", id, 2));
        }
    }
    // A deleted id written again: tombstone and a later put of one id.
    ops.push(InsertMany("p", vec![5, 10, 15], 3));
    ops.push(Drop("gone"));
    ops
}

type DataModel = BTreeMap<(String, u64), Json>;

fn dataset_model() -> DataModel {
    let mut model = DataModel::new();
    for op in dataset_ops() {
        match op {
            DataOp::InsertMany(c, ids, v) => {
                for id in ids {
                    model.insert((c.to_string(), id), kp_doc(c, id, v));
                }
            }
            DataOp::Replace(c, id, v) => {
                model.insert((c.to_string(), id), kp_doc(c, id, v));
            }
            DataOp::Delete(c, id) => {
                assert!(model.remove(&(c.to_string(), id)).is_some());
            }
            DataOp::Drop(c) => model.retain(|(coll, _), _| coll != c),
        }
    }
    model
}

async fn write_dataset(db: &Database) {
    db.create_collection("k", &["x".to_string()]).await.unwrap();
    for op in dataset_ops() {
        match op {
            DataOp::InsertMany(c, ids, v) => {
                let docs = ids
                    .iter()
                    .map(|&id| {
                        let mut d = doc(kp_doc(c, id, v));
                        d.id = Some(id);
                        d
                    })
                    .collect();
                db.insert_many(c, docs, W).await.unwrap();
            }
            DataOp::Replace(c, id, v) => {
                db.replace(c, id, doc(kp_doc(c, id, v)), W).await.unwrap();
            }
            DataOp::Delete(c, id) => {
                db.delete(c, id, W).await.unwrap();
            }
            DataOp::Drop(c) => db.drop_collection(c).await.unwrap(),
        }
    }
    db.flush().await.unwrap();
}

/// The database holds exactly the dataset: every id (present or not), the listings, the
/// counts and the index.
fn check_dataset(db: &Database, model: &DataModel, step: &str) {
    let names: Vec<String> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["k", "p"], "{step}: collections");
    assert!(
        matches!(db.get("gone", 1), Err(DbError::CollectionNotFound { .. })),
        "{step}: a dropped collection came back"
    );
    for c in ["k", "p"] {
        for id in 0..=302u64 {
            match (db.get(c, id), model.get(&(c.to_string(), id))) {
                (Ok(d), Some(want)) => {
                    assert_eq!(d.id, Some(id), "{step}");
                    assert!(&without_id(&d) == want, "{step}: {c}/{id} differs");
                }
                (Err(DbError::NotFound { .. }), None) => {}
                (Ok(d), None) => {
                    panic!(
                        "{step}: {c}/{id} was deleted but reads as v{}",
                        d.to_json()["v"]
                    )
                }
                (got, Some(_)) => panic!("{step}: {c}/{id} lost: {got:?}"),
                (Err(e), None) => panic!("{step}: {c}/{id}: {e}"),
            }
        }
        let want: Vec<u64> = model
            .keys()
            .filter(|(coll, _)| coll == c)
            .map(|(_, id)| *id)
            .collect();
        let all = list_all(db, c, 97);
        let got: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
        assert_eq!(got, want, "{step}: list {c}");
        for d in &all {
            assert!(
                without_id(d) == model[&(c.to_string(), d.id.unwrap())],
                "{step}: list {c}: {:?} differs",
                d.id
            );
        }
        let info = db.collections().into_iter().find(|i| i.name == c).unwrap();
        assert_eq!(info.count, want.len() as u64, "{step}: count of {c}");
    }
    for x in 0..6u64 {
        let want: Vec<u64> = model
            .iter()
            .filter(|((c, _), d)| c == "k" && d["x"] == json!(x))
            .map(|((_, id), _)| *id)
            .collect();
        let got = find_all(db, "k", &cond(&[("x", json!(x))]), 40);
        assert_eq!(got, want, "{step}: find k x={x}");
    }
}

/// After everything: the next assigned ids are past the deleted highest ones, and the next
/// seq is past every one used.
async fn check_next_id_and_seq(db: &Database, last_seq: u64, step: &str) {
    let k = db.insert("k", doc(json!({"x": 9})), W).await.unwrap();
    assert_eq!(k.id, 301, "{step}: an id of a deleted document was reused");
    assert!(k.seq > last_seq, "{step}: seq {} after {last_seq}", k.seq);
    let p = db.insert("p", doc(json!({})), W).await.unwrap();
    assert_eq!(p.id, 301, "{step}: an id of a deleted document was reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_stopped_at_each_step_then_reopened_agrees_with_the_model() {
    let model = dataset_model();
    for step in [
        CompactionStep::TempWritten,
        CompactionStep::Renamed,
        CompactionStep::Retiring,
    ] {
        // Either the process "dies" right there, or it goes on (the failure was reported)
        // and compacts again before it stops.
        for goes_on in [false, true] {
            let what = format!(
                "stopped at {step:?}, then {}",
                if goes_on {
                    "compacted again"
                } else {
                    "reopened"
                }
            );
            let dir = tempfile::tempdir().unwrap();
            let mut config = small_config(dir.path());
            config.batch.sync = SyncPolicy::Never; // the dataset is flushed before the test
            let io = Arc::new(FaultInjector::new());
            let db = open_io(&config, &io).await;
            within("write the dataset", write_dataset(&db)).await;
            check_dataset(&db, &model, &what);
            let before = db.stats();
            assert!(before.segments >= 4, "{what}: {before:?}");
            assert!(before.dead_bytes > 1 << 20, "{what}: {before:?}");
            let last_seq = before.last_seq;

            io.stop_compaction_at(step);
            let stopped = within(&what, db.compact()).await;
            assert!(stopped.is_err(), "{what}: {stopped:?}");
            // The failed compaction changed nothing a reader can see.
            check_dataset(&db, &model, &format!("{what}, before the crash"));
            let db = if goes_on {
                io.clear();
                within(&what, db.compact()).await.expect("compact again");
                check_dataset(&db, &model, &format!("{what}, compacted again"));
                db
            } else {
                db
            };

            // The crash: no close.
            let guard = no_fork().await;
            drop(db);
            io.clear();
            let db = within("open", Database::open(&config))
                .await
                .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
            drop(guard);
            let step_name = format!("{what}, after the reopen");
            check_disk(&db, dir.path(), &step_name);
            check_dataset(&db, &model, &step_name);
            assert_eq!(db.stats().last_seq, last_seq, "{step_name}");

            // A compaction after the reopen succeeds and still agrees, also after a reopen.
            let step_name = format!("{what}, compacted after the reopen");
            compact_and_check_space(&db, dir.path(), &step_name).await;
            check_dataset(&db, &model, &step_name);
            let db = reopen(db, &config).await;
            let step_name = format!("{what}, compacted and reopened");
            check_disk(&db, dir.path(), &step_name);
            check_dataset(&db, &model, &step_name);
            assert_eq!(db.stats().last_seq, last_seq, "{step_name}");
            assert!(
                db.stats().disk_bytes < before.disk_bytes - before.dead_bytes / 2,
                "{step_name}: {:?}",
                db.stats()
            );
            check_next_id_and_seq(&db, last_seq, &step_name).await;
            db.close().await.unwrap();
        }
    }
}

/// Set in the child's environment: the data directory it compacts.
const CHILD_DIR: &str = "NYRO_CORE_COMPACTION_CHILD_DIR";

/// The child of [`kill_9_during_compaction_loses_nothing`]: writes the dataset (if the
/// directory has none yet), says READY, then rewrites documents with their own content
/// (which leaves the model as it is but makes dead bytes everywhere) and compacts, again
/// and again, saying COMPACTING before each compaction. Passes at once without the variable.
#[test]
fn compaction_kill_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let config = small_config(Path::new(&dir));
        let db = Database::open(&config).await.unwrap();
        let model = dataset_model();
        if db.collections().is_empty() {
            write_dataset(&db).await;
        }
        db.flush().await.unwrap();
        let say = |line: String| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        };
        say("READY".into());
        let started = Instant::now();
        let mut round = 0usize;
        // Bounded even if nobody kills us.
        while started.elapsed() < Duration::from_secs(30) {
            round += 1;
            for (i, ((c, id), body)) in model.iter().enumerate() {
                if (i + round).is_multiple_of(4) {
                    db.replace(c, *id, doc(body.clone()), W).await.unwrap();
                }
            }
            say(format!("COMPACTING {round}"));
            let summary = db.compact().await.unwrap();
            say(format!("COMPACTED {round} {}", summary.segments_rewritten));
        }
    });
}

/// Runs the child on `dir` and kills it with SIGKILL `delay` after its `nth` COMPACTING
/// line. Returns the lines it printed.
async fn run_and_kill_compacting_child(dir: &Path, nth: usize, delay: Duration) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let fork = within("the fork guard", FORK_GUARD.write()).await;
    let child = Command::new(exe)
        .args([
            "compaction::compaction_kill_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(fork);
    tokio::task::spawn_blocking(move || {
        let mut child = child;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut lines = Vec::new();
        let mut compacting = 0;
        while compacting < nth && started.elapsed() < BOUND {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if line.starts_with("COMPACTING") {
                        compacting += 1;
                    }
                    lines.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(compacting, nth, "the child never got that far: {lines:?}");
        std::thread::sleep(delay);
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(still_running, "the child stopped by itself: {status:?}");
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        lines
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn kill_9_during_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    let model = dataset_model();
    let mut mid_compaction = 0;
    let delays_ms = [0u64, 1, 2, 3, 5, 7, 10, 14, 20, 30, 0, 4];
    for (round, delay) in delays_ms.into_iter().enumerate() {
        let lines =
            run_and_kill_compacting_child(dir.path(), 1 + round % 3, Duration::from_millis(delay))
                .await;
        // (libtest prints the test's name on the same line first.)
        assert!(lines.iter().any(|l| l.ends_with("READY")), "{lines:?}");
        let last = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("COMPACT"))
            .unwrap();
        if last.starts_with("COMPACTING") {
            mid_compaction += 1;
        }
        let what = format!("round {round}: killed {delay} ms after COMPACTING, last said {last:?}");
        let db = open(&config).await;
        check_disk(&db, dir.path(), &what);
        check_dataset(&db, &model, &what);
        let guard = no_fork().await;
        db.close().await.unwrap();
        drop(guard);
    }
    eprintln!(
        "kill -9 during compaction: {mid_compaction} of {} kills came before the compaction \
         answered",
        delays_ms.len()
    );
    // Finally a compaction of whatever the kills left.
    let db = open(&config).await;
    let last_seq = db.stats().last_seq;
    compact_and_check_space(&db, dir.path(), "after the kills").await;
    check_dataset(&db, &model, "after the kills, compacted");
    let db = reopen(db, &config).await;
    check_dataset(&db, &model, "after the kills, compacted and reopened");
    check_next_id_and_seq(&db, last_seq, "after the kills").await;
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// 3. Reads while compaction runs.
// ---------------------------------------------------------------------------------------

/// Version `v` of document `id` in the concurrent test: the content names both.
fn rdoc(id: u64, v: u64) -> Json {
    json!({"id": id, "v": v, "k": id % 4, "pad": format!("{id}-{v}-").repeat(150 + (id % 7) as usize * 20)})
}

/// Documents only ever replaced (always there), and documents also deleted and written again.
const STABLE: u64 = 200;
const CHURN: u64 = 60;

/// A read document is version `v` of `id` exactly, with `low <= v <= high`.
fn check_read(d: &Document, id: u64, low: u64, high: u64, what: &str) -> u64 {
    assert_eq!(d.id, Some(id), "{what}: wrong document");
    let json = without_id(d);
    let v = json["v"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: {id} has no version"));
    assert!(
        json == rdoc(id, v),
        "{what}: {id} v{v} has the wrong content"
    );
    assert!(
        (low..=high).contains(&v),
        "{what}: {id} read as v{v}, acknowledged v{low}, newest written v{high}"
    );
    v
}

struct Versions {
    /// Per id: the newest version acknowledged (a read that starts later sees it or newer).
    acked: Vec<AtomicU64>,
    /// Per id: the newest version submitted (no read sees anything newer).
    issued: Vec<AtomicU64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_during_compaction_return_the_right_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.batch.sync = SyncPolicy::Never;
    let db = open(&config).await;
    db.create_collection("r", &["k".to_string()]).await.unwrap();
    let all_ids: Vec<u64> = (1..=STABLE + CHURN).collect();
    for chunk in all_ids.chunks(50) {
        let docs = chunk
            .iter()
            .map(|&id| {
                let mut d = doc(rdoc(id, 0));
                d.id = Some(id);
                d
            })
            .collect();
        db.insert_many("r", docs, W).await.unwrap();
    }
    let n = (STABLE + CHURN + 1) as usize;
    let versions = Arc::new(Versions {
        acked: (0..n).map(|_| AtomicU64::new(0)).collect(),
        issued: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs(4);

    // Writers: two replace the stable documents round and round; one deletes and writes
    // the churn documents again.
    let mut writers = Vec::new();
    for t in 0..2u64 {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for id in (1..=STABLE).filter(|id| id % 2 == t) {
                    let v = versions.issued[id as usize].load(Ordering::SeqCst) + 1;
                    versions.issued[id as usize].store(v, Ordering::SeqCst);
                    db.replace("r", id, doc(rdoc(id, v)), W).await.unwrap();
                    versions.acked[id as usize].store(v, Ordering::SeqCst);
                    writes += 1;
                }
            }
            writes
        }));
    }
    {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for id in STABLE + 1..=STABLE + CHURN {
                    db.delete("r", id, W).await.unwrap();
                    let v = versions.issued[id as usize].load(Ordering::SeqCst) + 1;
                    versions.issued[id as usize].store(v, Ordering::SeqCst);
                    let mut d = doc(rdoc(id, v));
                    d.id = Some(id);
                    db.insert("r", d, W).await.unwrap();
                    writes += 2;
                }
            }
            writes
        }));
    }
    // Compaction, over and over.
    let compactor = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut passes, mut rewritten) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let summary = db.compact().await.expect("compaction during reads");
                passes += 1;
                rewritten += summary.segments_rewritten as u64;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (passes, rewritten)
        })
    };
    // Readers: get, list and find, checking every document they see.
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let (db, versions, stop) = (db.clone(), Arc::clone(&versions), Arc::clone(&stop));
        readers.push(tokio::task::spawn_blocking(move || {
            let mut seen = vec![0u64; n]; // per stable id: newest version this reader saw
            let mut reads = 0u64;
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = 1 + (i * 7919) % (STABLE + CHURN);
                let low = versions.acked[id as usize].load(Ordering::SeqCst);
                let got = db.get("r", id);
                let high = versions.issued[id as usize].load(Ordering::SeqCst);
                match got {
                    Ok(d) if id <= STABLE => {
                        let v = check_read(&d, id, low.max(seen[id as usize]), high, "get");
                        seen[id as usize] = v;
                    }
                    Ok(d) => {
                        check_read(&d, id, 0, high, "get");
                    }
                    Err(DbError::NotFound { .. }) if id > STABLE => {}
                    Err(e) => panic!("get {id}: {e}"),
                }
                reads += 1;
                if i % 64 == 0 {
                    let lows: Vec<u64> = (0..n)
                        .map(|id| versions.acked[id].load(Ordering::SeqCst))
                        .collect();
                    let all = list_all(&db, "r", 75);
                    let highs: Vec<u64> = (0..n)
                        .map(|id| versions.issued[id].load(Ordering::SeqCst))
                        .collect();
                    let listed: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
                    let stable: Vec<u64> =
                        listed.iter().copied().filter(|&id| id <= STABLE).collect();
                    assert_eq!(
                        stable,
                        (1..=STABLE).collect::<Vec<_>>(),
                        "list misses documents"
                    );
                    for d in &all {
                        let id = d.id.unwrap() as usize;
                        let low = if id as u64 <= STABLE { lows[id] } else { 0 };
                        check_read(d, id as u64, low, highs[id], "list");
                    }
                    reads += all.len() as u64;
                }
                if i % 16 == 0 {
                    let k = i % 4;
                    let page = db
                        .find("r", &cond(&[("k", json!(k))]), None, 1_000)
                        .expect("find");
                    let found: Vec<u64> = page.records.iter().map(|d| d.id.unwrap()).collect();
                    let want: Vec<u64> = (1..=STABLE).filter(|id| id % 4 == k).collect();
                    let stable: Vec<u64> =
                        found.iter().copied().filter(|&id| id <= STABLE).collect();
                    assert_eq!(stable, want, "find k={k}");
                    for d in &page.records {
                        let id = d.id.unwrap();
                        assert_eq!(id % 4, k, "find k={k} returned {id}");
                        check_read(d, id, 0, u64::MAX, "find");
                    }
                    reads += page.records.len() as u64;
                }
            }
            reads
        }));
    }

    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for w in writers {
        writes += within("writer", w).await.unwrap();
    }
    let (passes, rewritten) = within("compactor", compactor).await.unwrap();
    let mut reads = 0;
    for r in readers {
        reads += within("reader", r).await.unwrap();
    }
    eprintln!(
        "reads during compaction: {reads} documents read, {writes} writes, {passes} \
         compactions rewriting {rewritten} segments in {run_for:?}"
    );
    assert!(
        rewritten >= 5,
        "compaction hardly ran: {passes} passes, {rewritten} segments"
    );
    assert!(reads >= 1_000, "{reads} reads");

    // In the end every document is its last version, also after a compaction and a reopen.
    let check_final = |db: &Database, what: &str| {
        for id in 1..=STABLE + CHURN {
            let v = versions.issued[id as usize].load(Ordering::SeqCst);
            let d = db.get("r", id).unwrap();
            check_read(&d, id, v, v, what);
        }
        assert_eq!(
            list_all(db, "r", 500).len() as u64,
            STABLE + CHURN,
            "{what}"
        );
    };
    check_final(&db, "after the run");
    compact_and_check_space(&db, dir.path(), "after the run").await;
    check_final(&db, "after the last compaction");
    let db = reopen(db, &config).await;
    check_final(&db, "after the reopen");
    check_disk(&db, dir.path(), "after the reopen");
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// 4. The change feed and compaction.
// ---------------------------------------------------------------------------------------

/// Version `v` of document `id` in the feed test.
fn fdoc(id: u64, v: u64) -> Json {
    json!({"id": id, "v": v, "pad": "f".repeat(3_000)})
}

/// A change as the test recorded it: (seq, op, collection, id, document without `_id`).
type Change = (u64, ChangeOp, String, u64, Option<Json>);

fn change(event: &ChangeEvent) -> Change {
    (
        event.seq,
        event.op,
        event.collection.to_string(),
        event.id,
        event.doc.as_ref().map(without_id),
    )
}

/// The next item of `stream`, failing the test if none comes within a bound.
async fn next_item(stream: &mut nyro_core::ChangeStream) -> Result<ChangeEvent, FeedError> {
    within("the next change", stream.next())
        .await
        .expect("the feed ended")
}

/// Subscribes with `since` and reads the replay: it must be exactly `want`, then nothing more
/// until a new write.
async fn replay(db: &Database, collection: Option<&str>, since: u64, want: &[Change]) {
    let mut stream = db.subscribe(collection, Some(since)).unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        match next_item(&mut stream).await {
            Ok(event) => got.push(change(&event)),
            Err(e) => panic!("replay since {since}: {e} after {} events", got.len()),
        }
    }
    assert_eq!(got, want, "replay of {collection:?} since {since}");
    let more = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    assert!(
        more.is_err(),
        "replay since {since}: more than expected: {more:?}"
    );
}

/// The first thing a replay from `since` says is that compaction dropped history after it.
async fn refused(db: &Database, collection: Option<&str>, since: u64) -> u64 {
    let mut stream = db.subscribe(collection, Some(since)).unwrap();
    match next_item(&mut stream).await {
        Err(FeedError::HistoryCompacted { since: said, floor }) => {
            assert_eq!(said, since);
            assert!(floor > since, "floor {floor}, since {since}");
            floor
        }
        other => panic!("since {since}: expected HistoryCompacted first, got {other:?}"),
    }
}

/// The changes of `history` after `since`, of one collection or all.
fn after(history: &[Change], since: u64, coll: Option<&str>) -> Vec<Change> {
    history
        .iter()
        .filter(|c| c.0 > since && coll.is_none_or(|name| c.2 == name))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_feed_replay_from_before_what_compaction_dropped_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.batch.sync = SyncPolicy::Never;
    let db = open(&config).await;
    let mut history: Vec<Change> = Vec::new();
    let insert = |id: u64, v: u64| {
        let mut d = doc(fdoc(id, v));
        d.id = Some(id);
        d
    };
    for id in 1..=20 {
        let seq = db.insert("f", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "f".into(), id, Some(fdoc(id, 0))));
    }
    for id in 1..=10 {
        let seq = db.replace("f", id, doc(fdoc(id, 1)), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Update, "f".into(), id, Some(fdoc(id, 1))));
    }
    let mut deleted_15 = 0;
    for id in 11..=15 {
        let seq = db.delete("f", id, W).await.unwrap();
        history.push((seq, ChangeOp::Delete, "f".into(), id, None));
        deleted_15 = seq;
    }
    let inserted_15 = history[14].0;
    for id in 21..=25 {
        let seq = db.insert("f", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "f".into(), id, Some(fdoc(id, 0))));
    }
    for id in 1..=3 {
        let seq = db.insert("g", insert(id, 0), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Insert, "g".into(), id, Some(fdoc(id, 0))));
    }
    let last0 = db.stats().last_seq;
    assert_eq!(last0, history.last().unwrap().0);
    // Before any compaction, every replay is complete.
    replay(&db, None, 0, &history).await;

    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");
    // The first inserts of 1..=10 and everything of 11..=15 are gone from the log.
    let floor = refused(&db, Some("f"), 0).await;
    assert!(
        (inserted_15..=deleted_15).contains(&floor),
        "floor {floor}: the insert of 15 was {inserted_15}, its delete {deleted_15}"
    );
    assert_eq!(refused(&db, None, floor - 1).await, floor);
    assert_eq!(refused(&db, Some("g"), 1).await, floor);
    // From the floor on the replay is whole: every change after it, in order, no gap.
    for since in [floor, floor + 1, last0 - 2, last0] {
        replay(&db, None, since, &after(&history, since, None)).await;
        replay(&db, Some("f"), since, &after(&history, since, Some("f"))).await;
    }
    // ... and live changes follow the replay.
    let mut stream = db.subscribe(Some("f"), Some(floor)).unwrap();
    for want in after(&history, floor, Some("f")) {
        assert_eq!(change(&next_item(&mut stream).await.unwrap()), want);
    }
    let seq = db.insert("f", insert(26, 0), W).await.unwrap().seq;
    history.push((seq, ChangeOp::Insert, "f".into(), 26, Some(fdoc(26, 0))));
    assert_eq!(seq, last0 + 1);
    assert_eq!(
        change(&next_item(&mut stream).await.unwrap()),
        history.last().unwrap().clone()
    );

    // A replace of a document whose insert compaction dropped (1), and of one whose insert
    // the next compaction drops (21): still updates in a replay, before and after a reopen.
    for (id, v) in [(1, 2), (21, 1)] {
        let seq = db.replace("f", id, doc(fdoc(id, v)), W).await.unwrap().seq;
        history.push((seq, ChangeOp::Update, "f".into(), id, Some(fdoc(id, v))));
    }
    let replaced_1 = history[history.len() - 2].0;
    db.compact().await.unwrap();
    let floor2 = refused(&db, Some("f"), floor).await;
    assert!(
        floor2 < replaced_1,
        "floor {floor2}, replace at {replaced_1}"
    );
    let tail = after(&history, floor2, Some("f"));
    assert!(
        tail.iter()
            .any(|c| c.3 == 1 && c.0 == replaced_1 && c.1 == ChangeOp::Update),
        "{tail:?}"
    );
    assert!(
        tail.iter().any(|c| c.3 == 21 && c.1 == ChangeOp::Update),
        "{tail:?}"
    );
    replay(&db, Some("f"), floor2, &tail).await;
    replay(&db, None, floor2, &after(&history, floor2, None)).await;

    // The floor outlives a reopen, and so does the rest.
    let last = db.stats().last_seq;
    let db = reopen(db, &config).await;
    assert_eq!(db.stats().last_seq, last);
    assert_eq!(refused(&db, Some("f"), floor2 - 1).await, floor2);
    assert_eq!(refused(&db, None, 0).await, floor2);
    replay(&db, Some("f"), floor2, &tail).await;
    replay(&db, None, floor2, &after(&history, floor2, None)).await;
    replay(&db, None, last, &[]).await;
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// 5. Background compaction.
// ---------------------------------------------------------------------------------------

/// Slow by nature: the background compactor looks every 10 s (`AUTO_INTERVAL`), so this
/// waits about that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_compaction_reclaims_a_mostly_dead_segment() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.compaction.auto = true;
    config.compaction.min_dead_ratio = 0.1;
    config.batch.sync = SyncPolicy::Never;
    let db = open(&config).await;
    // 300 documents of 4 KB fill the first 1 MB segment (sealed) and part of the next.
    let ids: Vec<u64> = (1..=300).collect();
    for chunk in ids.chunks(50) {
        let docs = chunk
            .iter()
            .map(|&id| {
                let mut d = doc(kp_doc("bg", id, 0));
                d.id = Some(id);
                d
            })
            .collect();
        db.insert_many("bg", docs, W).await.unwrap();
    }
    // Replacing the first 250 leaves the first segment almost all dead.
    for id in 1..=250 {
        db.replace("bg", id, doc(kp_doc("bg", id, 1)), W)
            .await
            .unwrap();
    }
    db.flush().await.unwrap();
    let before = db.stats();
    assert!(before.dead_bytes > 900_000, "{before:?}");
    assert!(before.segments >= 2, "{before:?}");

    let deadline = Instant::now() + Duration::from_secs(25);
    let after = loop {
        let stats = db.stats();
        if stats.dead_bytes == 0 {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "the background compactor did not reclaim {} dead bytes within 25 s: {stats:?}",
            before.dead_bytes
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        after.disk_bytes + before.dead_bytes <= before.disk_bytes + 4 * MARKER_ALLOWANCE,
        "{before:?} -> {after:?}"
    );
    let waited = started.elapsed();
    let check = |db: &Database, what: &str| {
        for id in 1..=300u64 {
            let v = u64::from(id <= 250);
            let d = db.get("bg", id).unwrap();
            assert!(without_id(&d) == kp_doc("bg", id, v), "{what}: {id}");
        }
        assert_eq!(list_all(db, "bg", 1_000).len(), 300, "{what}");
    };
    check(&db, "after the background compaction");
    check_disk(&db, dir.path(), "after the background compaction");
    let db = reopen(db, &config).await;
    check(&db, "after the reopen");
    check_disk(&db, dir.path(), "after the reopen");
    db.close().await.unwrap();
    eprintln!("background compaction: reclaimed after {waited:?}");
}

// ---------------------------------------------------------------------------------------
// 6. Space.
// ---------------------------------------------------------------------------------------

fn sdoc(n: u64, v: u64) -> Json {
    json!({"n": n, "v": v, "text": format!("document number {n}, version {v}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_compaction_disk_bytes_are_within_1_3_times_live_data() {
    const N: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.batch.sync = SyncPolicy::Never;
    let db = open(&config).await;
    let ids: Vec<u64> = (1..=N).collect();
    for chunk in ids.chunks(1_000) {
        let docs = chunk.iter().map(|&n| doc(sdoc(n, 0))).collect();
        let many = db.insert_many("s", docs, W).await.unwrap();
        assert_eq!(many.ids, chunk);
    }
    // Each document replaced twice, by several writers at once (batches of many).
    for v in 1..=2u64 {
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for n in (1..=N).filter(|n| n % 8 == t) {
                    db.replace("s", n, doc(sdoc(n, v)), W).await.unwrap();
                }
            }));
        }
        for task in tasks {
            within("replace", task).await.unwrap();
        }
    }
    db.flush().await.unwrap();
    // Live data: the frames (32-byte header and stored payload) of the latest versions.
    let live: u64 = (1..=N)
        .map(|n| {
            let payload = nyro_core::fuzzing::encode_document(&doc(sdoc(n, 2)).fields).unwrap();
            (nyro_storage::HEADER_LEN + payload.len()) as u64
        })
        .sum();
    let before = db.stats();
    let summary = db.compact().await.unwrap();
    let after = db.stats();
    eprintln!(
        "space: {N} documents, live data {live} bytes; before compaction {} bytes on disk \
         ({:.2}x), after {} ({:.2}x) in {} segments; {} segments rewritten",
        before.disk_bytes,
        before.disk_bytes as f64 / live as f64,
        after.disk_bytes,
        after.disk_bytes as f64 / live as f64,
        after.segments,
        summary.segments_rewritten
    );
    assert!(before.disk_bytes as f64 > 2.5 * live as f64, "{before:?}");
    assert!(
        after.disk_bytes as f64 <= 1.3 * live as f64,
        "{} bytes on disk for {live} bytes of live data",
        after.disk_bytes
    );
    assert_eq!(after.dead_bytes, 0);
    assert!(after.live_bytes >= live, "{after:?}");
    check_disk(&db, dir.path(), "after compaction");
    for n in (1..=N).step_by(97) {
        assert!(without_id(&db.get("s", n).unwrap()) == sdoc(n, 2), "{n}");
    }
    assert_eq!(db.collections()[0].count, N);
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// 7. A power cut after a compaction, with writes that were not synced yet.
// ---------------------------------------------------------------------------------------

/// A [`LogIo`] that remembers, per file, how far it was written and how far synced.
#[derive(Debug, Default)]
struct SyncTracker {
    files: std::sync::Mutex<BTreeMap<std::path::PathBuf, (u64, u64)>>,
}

impl LogIo for SyncTracker {
    fn write_at(
        &self,
        path: &Path,
        file: &std::fs::File,
        offset: u64,
        buf: &[u8],
    ) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::write_at(file, buf, offset)?;
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(path.to_path_buf()).or_default();
        entry.0 = entry.0.max(offset + n as u64);
        Ok(n)
    }

    fn sync_data(&self, path: &Path, file: &std::fs::File) -> std::io::Result<()> {
        file.sync_data()?;
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(path.to_path_buf()).or_default();
        entry.1 = entry.0;
        Ok(())
    }
}

impl SyncTracker {
    /// Files with bytes written but not synced: (path, synced length).
    fn unsynced(&self) -> Vec<(std::path::PathBuf, u64)> {
        self.files
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, (written, synced))| written > synced && path.exists())
            .map(|(path, (_, synced))| (path.clone(), *synced))
            .collect()
    }
}

/// Under `sync = "never"` a power cut may lose the writes since the last sync, but never a
/// document's older version that was durable: compaction must not drop a version whose
/// replacement is not on stable storage yet.
#[tokio::test]
async fn a_power_cut_after_compaction_keeps_versions_whose_replacement_was_not_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.batch.sync = SyncPolicy::Never;
    let tracker = Arc::new(SyncTracker::default());
    let db = within(
        "open",
        Database::open_with(
            &config,
            OpenOptions {
                io: Arc::clone(&tracker) as Arc<dyn LogIo>,
            },
        ),
    )
    .await
    .unwrap();
    for id in 1..=10u64 {
        let mut d = doc(json!({"id": id, "v": 0}));
        d.id = Some(id);
        db.insert("d", d, W).await.unwrap();
    }
    // Fill the first segment past 1 MB: the next write seals it (fdatasync).
    for n in 0..300u64 {
        db.insert("fill", doc(kp_doc("fill", n, 0)), W)
            .await
            .unwrap();
    }
    // New versions in the new active segment, not synced (`never`); the old ones are dead.
    for id in 1..=10u64 {
        db.replace("d", id, doc(json!({"id": id, "v": 1})), W)
            .await
            .unwrap();
    }
    assert!(db.stats().segments >= 2);
    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");

    // The power cut: what was not synced is gone (the compacted segment was).
    let cut = tracker.unsynced();
    let guard = no_fork().await;
    drop(db);
    for (path, synced) in &cut {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(*synced).unwrap();
    }
    let db = open(&config).await;
    drop(guard);
    for id in 1..=10u64 {
        match db.get("d", id) {
            Ok(d) => assert_eq!(d.to_json()["id"], json!(id)),
            Err(e) => panic!(
                "document {id} is gone after a power cut ({e}); its first version was durable \
                 (unsynced bytes cut: {cut:?})"
            ),
        }
    }
    db.close().await.unwrap();
}
