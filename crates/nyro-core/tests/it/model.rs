//! A state machine test: random sequences of writes, reads and reopens against a plain
//! in-memory model. After every step (and every reopen) the database and the model agree on
//! every document, every page of every collection, and every equality query.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use nyro_core::{Config, Database, DbError, Document, SyncPolicy, WriteOptions};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::common::*;

/// `a` indexes x and y, `b` indexes x, `c` does not exist until a write creates it (with no
/// index) and is sometimes dropped.
const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

fn indexed(collection: &str) -> &'static [&'static str] {
    match collection {
        "a" => &["x", "y"],
        "b" => &["x"],
        _ => &[],
    }
}

/// Values of x and y: strings, numbers (1 and 1.0 are one key, "1" another), booleans,
/// null, missing, and an array (never indexed).
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
        // Indexed field names also appear nested (never indexed), before or after the
        // top-level ones: only the top level counts.
        let mut map = serde_json::Map::new();
        if self.extra.is_multiple_of(3) {
            map.insert(
                "nested".into(),
                json!({"x": 1, "y": ["a", {"x": "1", "y": null}], "k": self.extra}),
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

    fn document(&self) -> Document {
        let mut d = doc(self.body());
        d.id = self.id;
        d
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
    Insert(usize, NewDoc),
    InsertMany(usize, Vec<NewDoc>),
    Replace(usize, u64, NewDoc),
    Delete(usize, u64),
    Get(usize, u64),
    DropC,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let coll = 0..COLLECTIONS.len();
    prop_oneof![
        6 => (coll.clone(), new_doc(true)).prop_map(|(c, d)| Op::Insert(c, d)),
        3 => (coll.clone(), prop::collection::vec(new_doc(true), 1..5))
            .prop_map(|(c, d)| Op::InsertMany(c, d)),
        4 => (coll.clone(), 1..16u64, new_doc(false)).prop_map(|(c, id, d)| Op::Replace(c, id, d)),
        4 => (coll.clone(), 1..16u64).prop_map(|(c, id)| Op::Delete(c, id)),
        1 => (coll, 0..16u64).prop_map(|(c, id)| Op::Get(c, id)),
        1 => Just(Op::DropC),
        1 => Just(Op::Reopen),
    ]
}

/// The model: documents by (collection, id), which collections exist, and the largest id
/// each collection ever held (ids are never reused).
#[derive(Debug, Default)]
struct Model {
    docs: BTreeMap<(String, u64), Json>,
    exists: BTreeSet<String>,
    max_id: BTreeMap<String, u64>,
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
}

/// Equality as the index sees it: numbers by value, the rest exactly; arrays and objects
/// are not indexed.
fn key_eq(stored: &Json, wanted: &Json) -> bool {
    match (stored, wanted) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Array(_) | Json::Object(_), _) => false,
        (a, b) => a == b,
    }
}

fn without_id(d: &Document) -> Json {
    let mut json = d.to_json();
    if let Json::Object(map) = &mut json {
        map.remove("_id");
    }
    json
}

/// Checks that the database and the model agree on everything.
fn check(db: &Database, model: &Model, step: &str) {
    let names: BTreeSet<String> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, model.exists, "{step}: collections");
    for c in COLLECTIONS {
        if !model.exists.contains(c) {
            assert!(
                matches!(db.get(c, 1), Err(DbError::CollectionNotFound { .. })),
                "{step}"
            );
            assert!(
                matches!(db.list(c, None, 5), Err(DbError::CollectionNotFound { .. })),
                "{step}"
            );
            continue;
        }
        let ids = model.ids(c);
        // Every id, present or not.
        let top = model.max_id.get(c).copied().unwrap_or(0) + 2;
        for id in 0..=top.max(16) {
            match (db.get(c, id), model.docs.get(&(c.to_string(), id))) {
                (Ok(d), Some(want)) => {
                    assert_eq!(d.id, Some(id), "{step}");
                    assert_eq!(&without_id(&d), want, "{step}: {c}/{id}");
                }
                (Err(DbError::NotFound { .. }), None) => {}
                (got, want) => panic!("{step}: get {c}/{id}: {got:?}, model {want:?}"),
            }
        }
        // The whole collection, in small pages.
        for limit in [1, 3, 100] {
            let all = list_all(db, c, limit);
            let got: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
            assert_eq!(got, ids, "{step}: list {c} by {limit}");
            for d in &all {
                assert_eq!(&without_id(d), &model.docs[&(c.to_string(), d.id.unwrap())]);
            }
        }
        let info = db.collections().into_iter().find(|i| i.name == c).unwrap();
        assert_eq!(info.count, ids.len() as u64, "{step}: count of {c}");
        // Every value of the domain on every indexed field, and pairs on `a`.
        let fields = indexed(c);
        for field in fields {
            for value in query_values() {
                let want: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|&id| {
                        model.docs[&(c.to_string(), id)]
                            .get(*field)
                            .is_some_and(|v| key_eq(v, &value))
                    })
                    .collect();
                let got = find_all(db, c, &cond(&[(field, value.clone())]), 2);
                assert_eq!(got, want, "{step}: find {c} {field}={value}");
            }
        }
        if fields.len() == 2 {
            for vx in query_values() {
                for vy in query_values() {
                    let want: Vec<u64> = ids
                        .iter()
                        .copied()
                        .filter(|&id| {
                            let d = &model.docs[&(c.to_string(), id)];
                            d.get("x").is_some_and(|v| key_eq(v, &vx))
                                && d.get("y").is_some_and(|v| key_eq(v, &vy))
                        })
                        .collect();
                    let got = find_all(db, c, &cond(&[("x", vx.clone()), ("y", vy.clone())]), 3);
                    assert_eq!(got, want, "{step}: find {c} x={vx} y={vy}");
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

async fn apply(db: &Database, model: &mut Model, op: &Op) {
    let w = WriteOptions::default();
    match op {
        Op::Insert(c, d) => {
            let c = COLLECTIONS[*c];
            let got = db.insert(c, d.document(), w).await;
            match d.id {
                Some(id) if model.has(c, id) => {
                    assert!(matches!(got, Err(DbError::Conflict { .. })), "{got:?}");
                }
                given => {
                    let inserted = got.expect("insert");
                    let max = model.max_id.get(c).copied().unwrap_or(0);
                    match given {
                        Some(id) => assert_eq!(inserted.id, id),
                        None => assert_eq!(inserted.id, max + 1, "assigned id"),
                    }
                    model.put(c, inserted.id, d.body());
                }
            }
        }
        Op::InsertMany(c, docs) => {
            let c = COLLECTIONS[*c];
            let given: Vec<u64> = docs.iter().filter_map(|d| d.id).collect();
            let unique: HashSet<u64> = given.iter().copied().collect();
            let conflict = unique.len() < given.len() || given.iter().any(|&id| model.has(c, id));
            let got = db
                .insert_many(c, docs.iter().map(NewDoc::document).collect(), w)
                .await;
            if conflict {
                assert!(matches!(got, Err(DbError::Conflict { .. })), "{got:?}");
                return;
            }
            let many = got.expect("insert_many");
            assert_eq!(many.ids.len(), docs.len());
            let distinct: HashSet<u64> = many.ids.iter().copied().collect();
            assert_eq!(distinct.len(), docs.len(), "unique ids: {:?}", many.ids);
            let mut last_auto = model.max_id.get(c).copied().unwrap_or(0);
            for (d, &id) in docs.iter().zip(&many.ids) {
                match d.id {
                    Some(given) => assert_eq!(id, given),
                    None => {
                        // Assigned ids increase, past every id the collection ever held.
                        assert!(id > last_auto, "{:?}", many.ids);
                        last_auto = id;
                    }
                }
            }
            for (d, &id) in docs.iter().zip(&many.ids) {
                model.put(c, id, d.body());
            }
        }
        Op::Replace(c, id, d) => {
            let c = COLLECTIONS[*c];
            let replaced = db.replace(c, *id, d.document(), w).await.expect("replace");
            assert_eq!(replaced.id, *id);
            assert_eq!(replaced.created, !model.has(c, *id));
            model.put(c, *id, d.body());
        }
        Op::Delete(c, id) => {
            let c = COLLECTIONS[*c];
            let got = db.delete(c, *id, w).await;
            if !model.exists.contains(c) {
                assert!(
                    matches!(got, Err(DbError::CollectionNotFound { .. })),
                    "{got:?}"
                );
            } else if model.docs.remove(&(c.to_string(), *id)).is_some() {
                got.expect("delete");
            } else {
                assert!(matches!(got, Err(DbError::NotFound { .. })), "{got:?}");
            }
        }
        Op::Get(c, id) => {
            let c = COLLECTIONS[*c];
            let got = db.get(c, *id);
            match model.docs.get(&(c.to_string(), *id)) {
                Some(want) => assert_eq!(&without_id(&got.expect("get")), want),
                None => assert!(got.is_err()),
            }
        }
        Op::DropC => {
            let got = db.drop_collection("c").await;
            if model.exists.remove("c") {
                got.expect("drop");
                model.docs.retain(|(c, _), _| c != "c");
                // A re-created collection is a new one, with its own id space.
                model.max_id.remove("c");
            } else {
                assert!(
                    matches!(got, Err(DbError::CollectionNotFound { .. })),
                    "{got:?}"
                );
            }
        }
        Op::Reopen => unreachable!("handled by the caller"),
    }
}

fn run(ops: Vec<Op>, sync: SyncPolicy) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
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
                within(&step, apply(&db, &mut model, op)).await;
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
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

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
    use Op::*;
    let d = |id, x: Option<Json>, y: Option<Json>| NewDoc { id, x, y, extra: 1 };
    // An assigned id next to a given one in the same request; replace and delete moving
    // documents between keys; a dropped and re-created collection.
    run(
        vec![
            InsertMany(
                0,
                vec![
                    d(None, Some(json!(1)), None),
                    d(Some(1), Some(json!("1")), None),
                ],
            ),
            Replace(0, 2, d(None, Some(json!(1.0)), Some(json!(true)))),
            Insert(2, d(Some(5), None, None)),
            Delete(0, 1),
            DropC,
            Insert(2, d(None, None, None)),
            Reopen,
            Insert(0, d(None, Some(json!(null)), Some(json!([1])))),
        ],
        SyncPolicy::Never,
    );
}
