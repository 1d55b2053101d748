//! The model test: random writes with compactions and reopens among them, against the
//! shared model, which here also tracks the last seq (seqs only grow) and tags every
//! document's content.

use nyro_core::{Database, DbError};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::{check_disk, compact_and_check_space, unsynced_config};
use crate::common::*;
use crate::model_support::{Model, Write, cases, check_documents, write};

/// `a` indexes x and the dotted path xs.v (through an array of objects), `b` has no index, `c` does not exist until a write creates it (with no
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
        map.insert("xs".into(), json!([{"v": x}, {"w": 1}, {"v": tag % 3}]));
    }
    map.insert("tag".into(), json!(tag));
    let fill = char::from(b'a' + (tag % 26) as u8);
    map.insert("pad".into(), json!(fill.to_string().repeat(shape.pad)));
    Json::Object(map)
}

#[derive(Debug, Clone)]
enum Op {
    Write(Write<Shape>),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        17 => write(COLLECTIONS.len(), shape, [5, 2, 5, 2, 4, 1]).prop_map(Op::Write),
        3 => Just(Op::Compact),
        2 => Just(Op::Reopen),
    ]
}

/// The shared model, the last seq acknowledged (seqs only grow) and the last tag given.
#[derive(Debug, Default)]
struct SeqModel {
    base: Model,
    last_seq: u64,
    tag: u64,
}

impl SeqModel {
    fn seq(&mut self, seq: u64, what: &str) {
        assert!(
            seq > self.last_seq,
            "{what}: seq {seq} after {} (seqs must grow)",
            self.last_seq
        );
        self.last_seq = seq;
    }
}

/// The database and the model agree on every document, listing, count and indexed find.
fn check_model(db: &Database, model: &SeqModel, step: &str) {
    let model = &model.base;
    for (c, ids) in check_documents(db, model, &COLLECTIONS, &[2, 100], step) {
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
            // xs.v: an element's v equals the value; null: an element without v, or no xs.
            for v in (0..5u8).map(|v| json!(v)).chain([Json::Null]) {
                let want: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|&id| match model.docs[&(c.to_string(), id)].get("xs") {
                        Some(Json::Array(items)) => items
                            .iter()
                            .any(|item| item.get("v").unwrap_or(&Json::Null) == &v),
                        _ => v.is_null(),
                    })
                    .collect();
                let got = find_all(db, c, &cond(&[("xs.v", v.clone())]), 3);
                assert_eq!(got, want, "{step}: find {c} xs.v={v}");
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

async fn apply_model(db: &Database, model: &mut SeqModel, op: &Op, step: &str) {
    let Op::Write(write) = op else {
        unreachable!("handled by the caller")
    };
    let tag = &mut model.tag;
    let make = |s: &Shape| {
        *tag += 1;
        (s.id, body(s, *tag))
    };
    let seqs = model.base.apply(db, &COLLECTIONS, write, make, step).await;
    if let Some((first, last)) = seqs {
        model.seq(first, step);
        model.last_seq = last;
    }
}

fn run_model(ops: Vec<Op>) {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let config = unsynced_config(dir.path()); // close syncs; no crash here
        let mut db = open(&config).await;
        let mut model = SeqModel::default();
        db.create_collection("a", &["x".to_string(), "xs.v".to_string()])
            .await
            .unwrap();
        db.create_collection("b", &[]).await.unwrap();
        model.base.exists.extend(["a".to_string(), "b".to_string()]);
        for (i, op) in ops.iter().enumerate() {
            let step = format!("step {i} {op:?}");
            match op {
                Op::Reopen => {
                    db = reopen(db, &config).await;
                    assert_eq!(db.stats().last_seq, model.last_seq, "{step}: last_seq");
                    check_disk(&db, dir.path(), &step).await;
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
        check_disk(&db, dir.path(), "final reopen").await;
        check_model(&db, &model, "final reopen");
        for c in 0..2 {
            let op = Op::Write(Write::Insert(
                c,
                Shape {
                    id: None,
                    x: Some(1),
                    pad: 10,
                },
            ));
            apply_model(&db, &mut model, &op, "last insert").await;
        }
        check_model(&db, &model, "last insert");
        db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(cases(16, 100))]

    #[test]
    fn compaction_agrees_with_a_model(ops in prop::collection::vec(op(), 1..30)) {
        run_model(ops);
    }
}

/// Cases the model test found (or that matter enough to run every time).
#[test]
fn compaction_model_regressions() {
    use Write::*;
    let s = |id, x| Shape { id, x, pad: 100 };
    let w = Op::Write;
    // The newest document deleted, then compacted away in the oldest segment: after a
    // reopen the next assigned id and the next seq are still new ones.
    run_model(vec![
        w(Insert(0, s(None, Some(1)))),
        w(Insert(0, s(None, Some(2)))),
        w(Delete(0, 2)),
        Op::Compact,
        Op::Reopen,
        w(Insert(0, s(None, Some(3)))),
    ]);
    // A dropped collection's documents and a replaced one, in several segments.
    run_model(vec![
        w(Insert(2, s(Some(3), None))),
        Op::Compact,
        w(Replace(2, 3, s(None, None))),
        w(Insert(0, s(None, Some(0)))),
        Op::Compact,
        w(DropC),
        w(Replace(0, 1, s(None, Some(3)))),
        Op::Compact,
        Op::Reopen,
        w(Insert(2, s(None, None))),
        Op::Compact,
        Op::Reopen,
    ]);
}
