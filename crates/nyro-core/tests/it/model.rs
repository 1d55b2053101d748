//! A state machine test: random sequences of writes, reads and reopens against a plain
//! in-memory model. After every step (and every reopen) the database and the model agree on
//! every document, every page of every collection, and every equality query.

use nyro_core::{Config, Database, DbError, SyncPolicy};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::common::*;
use crate::model_support::{Model, Write, cases, check_documents, without_id, write};

/// `a` indexes x and y, `b` indexes x and the dotted path nested.y (through an object into
/// an array), `c` does not exist until a write creates it (with no index) and is sometimes
/// dropped.
const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

fn indexed(collection: &str) -> &'static [&'static str] {
    match collection {
        "a" => &["x", "y"],
        "b" => &["x", "nested.y"],
        _ => &[],
    }
}

/// Values of x and y: strings, numbers (1 and 1.0 are one key, "1" another), booleans,
/// null, missing, and arrays (indexed by their elements; `[]` matches no scalar).
fn field_value() -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        Just(None),
        Just(Some(json!(null))),
        Just(Some(json!(true))),
        Just(Some(json!(false))),
        Just(Some(json!(1))),
        Just(Some(json!(2))),
        Just(Some(json!(1.0))),
        Just(Some(json!("1"))),
        Just(Some(json!("a"))),
        Just(Some(json!([1]))),
        Just(Some(json!([2, "a", 1.0]))),
        Just(Some(json!([]))),
    ]
}

/// What `find` is asked for.
fn query_values() -> Vec<Json> {
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(1),
        json!(1.0),
        json!(2),
        json!("1"),
        json!("a"),
        json!(7),
    ]
}

#[derive(Debug, Clone)]
struct NewDoc {
    id: Option<u64>,
    x: Option<Json>,
    y: Option<Json>,
    extra: u8,
}

impl NewDoc {
    fn body(&self) -> Json {
        // Indexed field names also appear nested, before or after the top-level ones: only
        // the top level counts for x and y; `b` indexes nested.y, an array holding x.
        let mut map = serde_json::Map::new();
        if self.extra.is_multiple_of(3) {
            let x = self.x.clone().unwrap_or(json!("b"));
            map.insert(
                "nested".into(),
                json!({"x": 1, "y": ["a", x, {"x": "1", "y": null}], "k": self.extra}),
            );
        }
        if let Some(x) = &self.x {
            map.insert("x".into(), x.clone());
        }
        if let Some(y) = &self.y {
            map.insert("y".into(), y.clone());
        }
        if self.extra % 3 == 1 {
            map.insert("extra".into(), json!([{"y": true}, self.extra]));
        } else {
            map.insert("extra".into(), json!(self.extra));
        }
        Json::Object(map)
    }
}

fn new_doc(with_id: bool) -> impl Strategy<Value = NewDoc> {
    let id = if with_id {
        prop::option::weighted(0.5, 1..14u64).boxed()
    } else {
        Just(None).boxed()
    };
    (id, field_value(), field_value(), any::<u8>()).prop_map(|(id, x, y, extra)| NewDoc {
        id,
        x,
        y,
        extra,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Write(Write<NewDoc>),
    Get(usize, u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        18 => write(COLLECTIONS.len(), new_doc, [6, 3, 4, 2, 4, 1]).prop_map(Op::Write),
        1 => (0..COLLECTIONS.len(), 0..16u64).prop_map(|(c, id)| Op::Get(c, id)),
        1 => Just(Op::Reopen),
    ]
}

/// Equality of a stored value with a scalar: numbers by value, the rest exactly (an array
/// or object equals no scalar).
fn key_eq(stored: &Json, wanted: &Json) -> bool {
    match (stored, wanted) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// The contract's equality with a scalar on a path, written over JSON independently of the
/// database: the path's branches (through objects, and through arrays of objects before
/// its last field; a scalar on the way is missing); a branch holding an array offers each
/// element; `null` also matches a missing branch.
fn path_eq(doc: &Json, path: &str, wanted: &Json) -> bool {
    let mut branches: Vec<Option<&Json>> = vec![Some(doc)];
    for (depth, field) in path.split('.').enumerate() {
        let mut next = Vec::new();
        for branch in branches {
            match branch {
                Some(Json::Object(map)) => next.push(map.get(field)),
                Some(Json::Array(items)) if depth > 0 => next.extend(
                    items
                        .iter()
                        .map(|item| item.as_object().and_then(|map| map.get(field))),
                ),
                _ => next.push(None),
            }
        }
        branches = next;
    }
    if branches.is_empty() {
        branches.push(None);
    }
    branches.iter().any(|branch| match branch {
        None => wanted.is_null(),
        Some(Json::Array(items)) => items.iter().any(|item| key_eq(item, wanted)),
        Some(value) => key_eq(value, wanted),
    })
}

/// Checks that the database and the model agree on everything.
fn check(db: &Database, model: &Model, step: &str) {
    for (c, ids) in check_documents(db, model, &COLLECTIONS, &[1, 3, 100], step) {
        // Every value of the domain on every indexed field, and pairs on `a`.
        let fields = indexed(c);
        for field in fields {
            for value in query_values() {
                let want: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|&id| path_eq(&model.docs[&(c.to_string(), id)], field, &value))
                    .collect();
                let got = find_all(db, c, &cond(&[(field, value.clone())]), 2);
                assert_eq!(got, want, "{step}: find {c} {field}={value}");
            }
        }
        if let [x, y] = fields {
            for vx in query_values() {
                for vy in query_values() {
                    let want: Vec<u64> = ids
                        .iter()
                        .copied()
                        .filter(|&id| {
                            let d = &model.docs[&(c.to_string(), id)];
                            path_eq(d, x, &vx) && path_eq(d, y, &vy)
                        })
                        .collect();
                    let got = find_all(db, c, &cond(&[(x, vx.clone()), (y, vy.clone())]), 3);
                    assert_eq!(got, want, "{step}: find {c} {x}={vx} {y}={vy}");
                }
            }
        }
        let unindexed = if fields.is_empty() { "x" } else { "extra" };
        match db.find(c, &cond(&[(unindexed, json!(1))]), None, 10) {
            Err(DbError::NotIndexed { field, .. }) => assert_eq!(field, unindexed),
            other => panic!("{step}: expected NotIndexed, got {other:?}"),
        }
    }
}

async fn apply(db: &Database, model: &mut Model, op: &Op, step: &str) {
    match op {
        Op::Write(write) => {
            let make = |d: &NewDoc| (d.id, d.body());
            model.apply(db, &COLLECTIONS, write, make, step).await;
        }
        Op::Get(c, id) => {
            let c = COLLECTIONS[*c];
            let got = db.get(c, *id);
            match model.docs.get(&(c.to_string(), *id)) {
                Some(want) => assert_eq!(&without_id(&got.expect("get")), want, "{step}"),
                None => assert!(got.is_err(), "{step}"),
            }
        }
        Op::Reopen => unreachable!("handled by the caller"),
    }
}

fn run(ops: Vec<Op>, sync: SyncPolicy) {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config: Config = config(dir.path());
        config.batch.sync = sync;
        let mut db = open(&config).await;
        let mut model = Model::default();
        for c in ["a", "b"] {
            let fields: Vec<String> = indexed(c).iter().map(|f| (*f).to_string()).collect();
            db.create_collection(c, &fields).await.unwrap();
            model.exists.insert(c.to_string());
        }
        check(&db, &model, "start");
        for (i, op) in ops.iter().enumerate() {
            let step = format!("step {i} {op:?}");
            if let Op::Reopen = op {
                db = reopen(db, &config).await;
            } else {
                within(&step, apply(&db, &mut model, op, &step)).await;
            }
            check(&db, &model, &step);
        }
        // Finally, every bit of it survives one more reopen.
        let db = reopen(db, &config).await;
        check(&db, &model, "final reopen");
        db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(cases(24, 200))]

    #[test]
    fn database_agrees_with_a_model(
        ops in prop::collection::vec(op(), 1..40),
        sync in prop_oneof![
            Just(SyncPolicy::Always),
            Just(SyncPolicy::Interval),
            Just(SyncPolicy::Never),
        ],
    ) {
        run(ops, sync);
    }
}

#[test]
fn model_regressions() {
    use Write::*;
    let d = |id, x: Option<Json>, y: Option<Json>| NewDoc { id, x, y, extra: 1 };
    // An assigned id next to a given one in the same request; replace and delete moving
    // documents between keys; a dropped and re-created collection.
    run(
        vec![
            Op::Write(InsertMany(
                0,
                vec![
                    d(None, Some(json!(1)), None),
                    d(Some(1), Some(json!("1")), None),
                ],
            )),
            Op::Write(Replace(0, 2, d(None, Some(json!(1.0)), Some(json!(true))))),
            // One id twice in a request: created once, then replaced; the last one wins.
            Op::Write(ReplaceMany(
                1,
                vec![
                    (7, d(None, Some(json!(1)), None)),
                    (2, d(None, None, Some(json!("b")))),
                    (7, d(None, Some(json!(2)), None)),
                ],
            )),
            Op::Write(Insert(2, d(Some(5), None, None))),
            Op::Write(Delete(0, 1)),
            Op::Write(DropC),
            Op::Write(Insert(2, d(None, None, None))),
            Op::Reopen,
            Op::Write(Insert(0, d(None, Some(json!(null)), Some(json!([1]))))),
        ],
        SyncPolicy::Never,
    );
}
