//! The in-memory model the state machine tests (`model`, `compaction::model`) and the
//! compaction dataset check a database against: the writes that keep the two in step, and
//! the check that they agree on every document, listing and count.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;

use nyro_core::{Database, DbError, Document, WriteOptions};
use proptest::prelude::*;
use serde_json::Value as Json;

use crate::common::*;

/// A write of a model test, to the collection of that index (the drop is of `c`), of
/// documents `D`.
#[derive(Debug, Clone)]
pub enum Write<D> {
    Insert(usize, D),
    InsertMany(usize, Vec<D>),
    Replace(usize, u64, D),
    ReplaceMany(usize, Vec<(u64, D)>),
    Delete(usize, u64),
    DropC,
}

/// Writes to one of `collections` collections, of documents `doc(with_id)` makes, weighted
/// by `weights`: insert, insert many, replace, replace many, delete, drop.
pub fn write<D, S>(
    collections: usize,
    doc: impl Fn(bool) -> S,
    weights: [u32; 6],
) -> impl Strategy<Value = Write<D>>
where
    D: Debug + Clone + 'static,
    S: Strategy<Value = D> + 'static,
{
    let coll = 0..collections;
    let [insert, many, replace, replace_many, delete, drop] = weights;
    prop_oneof![
        insert => (coll.clone(), doc(true)).prop_map(|(c, d)| Write::Insert(c, d)),
        many => (coll.clone(), prop::collection::vec(doc(true), 1..5))
            .prop_map(|(c, d)| Write::InsertMany(c, d)),
        replace => (coll.clone(), 1..16u64, doc(false)).prop_map(|(c, id, d)| Write::Replace(c, id, d)),
        // Ids from a small range, so that a request often names one id twice.
        replace_many => (coll.clone(), prop::collection::vec((1..16u64, doc(false)), 1..5))
            .prop_map(|(c, d)| Write::ReplaceMany(c, d)),
        delete => (coll, 1..16u64).prop_map(|(c, id)| Write::Delete(c, id)),
        drop => Just(Write::DropC),
    ]
}

/// The config of a model test: `cases` cases, and at most `max_shrink_iters` steps of
/// shrinking a failing one.
pub fn cases(cases: u32, max_shrink_iters: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters,
        ..ProptestConfig::default()
    }
}

/// The model: documents by (collection, id), which collections exist, and the largest id
/// each collection ever held (assigned ids never reuse one).
#[derive(Debug, Default)]
pub struct Model {
    pub docs: BTreeMap<(String, u64), Json>,
    pub exists: BTreeSet<String>,
    pub max_id: BTreeMap<String, u64>,
}

impl Model {
    pub fn has(&self, c: &str, id: u64) -> bool {
        self.docs.contains_key(&(c.to_string(), id))
    }

    pub fn put(&mut self, c: &str, id: u64, body: Json) {
        self.exists.insert(c.to_string());
        self.docs.insert((c.to_string(), id), body);
        let max = self.max_id.entry(c.to_string()).or_default();
        *max = (*max).max(id);
    }

    pub fn ids(&self, c: &str) -> Vec<u64> {
        self.docs
            .keys()
            .filter(|(coll, _)| coll == c)
            .map(|(_, id)| *id)
            .collect()
    }

    fn max_id(&self, c: &str) -> u64 {
        self.max_id.get(c).copied().unwrap_or(0)
    }

    /// Applies `write` to `collections`, with the ids and bodies `make` gives its documents
    /// (the id of a replacement is not used), and checks the answer. Returns the first and
    /// the last seq of a successful write.
    pub async fn apply<D>(
        &mut self,
        db: &Database,
        collections: &[&str],
        write: &Write<D>,
        mut make: impl FnMut(&D) -> (Option<u64>, Json),
        step: &str,
    ) -> Option<(u64, u64)> {
        match write {
            Write::Insert(c, d) => {
                let (id, body) = make(d);
                let seq = self.insert(db, collections[*c], id, body, step).await;
                seq.map(|seq| (seq, seq))
            }
            Write::InsertMany(c, docs) => {
                let docs: Vec<_> = docs.iter().map(make).collect();
                let n = docs.len() as u64;
                let last = self.insert_many(db, collections[*c], docs, step).await;
                last.map(|last| (last + 1 - n, last))
            }
            Write::Replace(c, id, d) => {
                let (_, body) = make(d);
                let seq = self.replace(db, collections[*c], *id, body, step).await;
                Some((seq, seq))
            }
            Write::ReplaceMany(c, docs) => {
                let docs = docs.iter().map(|(id, d)| (*id, make(d).1)).collect();
                self.replace_many(db, collections[*c], docs, step).await
            }
            Write::Delete(c, id) => {
                let seq = self.delete(db, collections[*c], *id, step).await;
                seq.map(|seq| (seq, seq))
            }
            Write::DropC => {
                self.drop_collection(db, "c", step).await;
                None
            }
        }
    }

    /// Inserts `body` (with `id` if given) and checks the answer: a conflict if the model
    /// holds that id, else the given id or one past every id `c` ever held. Returns the seq
    /// of a successful insert.
    async fn insert(
        &mut self,
        db: &Database,
        c: &str,
        id: Option<u64>,
        body: Json,
        step: &str,
    ) -> Option<u64> {
        let got = db
            .insert(c, doc_with_id(body.clone(), id), WriteOptions::default())
            .await;
        match id {
            Some(id) if self.has(c, id) => {
                assert!(
                    matches!(got, Err(DbError::Conflict { .. })),
                    "{step}: {got:?}"
                );
                None
            }
            given => {
                let inserted = got.unwrap_or_else(|e| panic!("{step}: insert: {e}"));
                match given {
                    Some(id) => assert_eq!(inserted.id, id, "{step}"),
                    None => assert_eq!(inserted.id, self.max_id(c) + 1, "{step}: assigned id"),
                }
                self.put(c, inserted.id, body);
                Some(inserted.seq)
            }
        }
    }

    /// Inserts `docs` (bodies with their ids, if given) in one request and checks the
    /// answer: a conflict if an id repeats or the model holds one, else the given ids and
    /// increasing assigned ones past every id `c` ever held. Returns the last seq of a
    /// successful request.
    async fn insert_many(
        &mut self,
        db: &Database,
        c: &str,
        docs: Vec<(Option<u64>, Json)>,
        step: &str,
    ) -> Option<u64> {
        let given: Vec<u64> = docs.iter().filter_map(|(id, _)| *id).collect();
        let unique: HashSet<u64> = given.iter().copied().collect();
        let conflict = unique.len() < given.len() || given.iter().any(|&id| self.has(c, id));
        let request = docs
            .iter()
            .map(|(id, body)| doc_with_id(body.clone(), *id))
            .collect();
        let got = db.insert_many(c, request, WriteOptions::default()).await;
        if conflict {
            assert!(
                matches!(got, Err(DbError::Conflict { .. })),
                "{step}: {got:?}"
            );
            return None;
        }
        let many = got.unwrap_or_else(|e| panic!("{step}: insert_many: {e}"));
        assert_eq!(many.ids.len(), docs.len(), "{step}");
        let distinct: HashSet<u64> = many.ids.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            docs.len(),
            "{step}: unique ids: {:?}",
            many.ids
        );
        let mut last_auto = self.max_id(c);
        for ((given, _), &id) in docs.iter().zip(&many.ids) {
            match given {
                Some(given) => assert_eq!(id, *given, "{step}"),
                None => {
                    assert!(id > last_auto, "{step}: assigned ids {:?}", many.ids);
                    last_auto = id;
                }
            }
        }
        for ((_, body), &id) in docs.into_iter().zip(&many.ids) {
            self.put(c, id, body);
        }
        Some(many.seq)
    }

    /// Replaces (or creates) `c`/`id` with `body`. Returns the seq.
    async fn replace(&mut self, db: &Database, c: &str, id: u64, body: Json, step: &str) -> u64 {
        let replaced = db
            .replace(c, id, doc(body.clone()), WriteOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{step}: replace: {e}"));
        assert_eq!(replaced.id, id, "{step}");
        assert_eq!(replaced.created, !self.has(c, id), "{step}");
        self.put(c, id, body);
        replaced.seq
    }

    /// Replaces (or creates) each `(id, body)` in order, in one request: each answer says
    /// created exactly when neither the model nor an earlier element held the id. Returns
    /// the first and the last seq.
    async fn replace_many(
        &mut self,
        db: &Database,
        c: &str,
        docs: Vec<(u64, Json)>,
        step: &str,
    ) -> Option<(u64, u64)> {
        let request = docs
            .iter()
            .map(|(id, body)| doc_with_id(body.clone(), Some(*id)))
            .collect();
        let replaced = db
            .replace_many(c, request, WriteOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{step}: replace_many: {e}"));
        assert_eq!(replaced.len(), docs.len(), "{step}");
        for (answer, (id, body)) in replaced.iter().zip(docs) {
            assert_eq!(answer.id, id, "{step}");
            assert_eq!(answer.created, !self.has(c, id), "{step}: created, id {id}");
            self.put(c, id, body);
        }
        let seqs: Vec<u64> = replaced.iter().map(|r| r.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "{step}: seqs {seqs:?}"
        );
        Some((seqs[0], seqs[seqs.len() - 1]))
    }

    /// Deletes `c`/`id`: not found unless the model holds it. Returns the seq of a delete.
    async fn delete(&mut self, db: &Database, c: &str, id: u64, step: &str) -> Option<u64> {
        let got = db.delete(c, id, WriteOptions::default()).await;
        if !self.exists.contains(c) {
            assert!(
                matches!(got, Err(DbError::CollectionNotFound { .. })),
                "{step}: {got:?}"
            );
            None
        } else if self.docs.remove(&(c.to_string(), id)).is_some() {
            Some(got.unwrap_or_else(|e| panic!("{step}: delete: {e}")))
        } else {
            assert!(
                matches!(got, Err(DbError::NotFound { .. })),
                "{step}: {got:?}"
            );
            None
        }
    }

    /// Drops `c` if it exists.
    async fn drop_collection(&mut self, db: &Database, c: &str, step: &str) {
        let got = db.drop_collection(c).await;
        if self.exists.remove(c) {
            got.unwrap_or_else(|e| panic!("{step}: drop: {e}"));
            self.docs.retain(|(coll, _), _| coll != c);
            // A re-created collection is a new one, with its own id space.
            self.max_id.remove(c);
        } else {
            assert!(
                matches!(got, Err(DbError::CollectionNotFound { .. })),
                "{step}: {got:?}"
            );
        }
    }
}

/// A stored document's JSON without its `_id`.
pub fn without_id(d: &Document) -> Json {
    let mut json = d.to_json();
    if let Json::Object(map) = &mut json {
        map.remove("_id");
    }
    json
}

/// Fails unless `got` is `want`, showing both only when they are small.
fn assert_same(got: &Json, want: &Json, what: impl FnOnce() -> String) {
    if got != want {
        let (got, want) = (got.to_string(), want.to_string());
        if got.len() + want.len() < 2_000 {
            panic!("{}: {got} differs from the model's {want}", what());
        }
        panic!("{}: differs from the model", what());
    }
}

/// Checks that the database and the model agree on which collections exist and, of each of
/// `collections` that does, on every id (present or not, up to past the largest it ever
/// held), every page of a listing by each of `limits`, and the count. Returns the existing
/// ones with their ids, for the caller's checks of the indexes.
pub fn check_documents<'a>(
    db: &Database,
    model: &Model,
    collections: &[&'a str],
    limits: &[usize],
    step: &str,
) -> Vec<(&'a str, Vec<u64>)> {
    let names: BTreeSet<String> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, model.exists, "{step}: collections");
    let mut existing = Vec::new();
    for &c in collections {
        if !model.exists.contains(c) {
            assert!(
                matches!(db.get(c, 1), Err(DbError::CollectionNotFound { .. })),
                "{step}: {c} exists"
            );
            assert!(
                matches!(db.list(c, None, 5), Err(DbError::CollectionNotFound { .. })),
                "{step}: {c} lists"
            );
            continue;
        }
        let ids = model.ids(c);
        let top = model.max_id(c) + 2;
        for id in 0..=top.max(16) {
            match (db.get(c, id), model.docs.get(&(c.to_string(), id))) {
                (Ok(d), Some(want)) => {
                    assert_eq!(d.id, Some(id), "{step}");
                    assert_same(&without_id(&d), want, || format!("{step}: get {c}/{id}"));
                }
                (Err(DbError::NotFound { .. }), None) => {}
                (Ok(d), None) => panic!("{step}: get {c}/{id}: {:?}, model has none", d.id),
                (Err(e), Some(_)) => panic!("{step}: get {c}/{id}: {e}, model has it"),
                (Err(e), None) => panic!("{step}: get {c}/{id}: {e}"),
            }
        }
        for &limit in limits {
            let all = list_all(db, c, limit);
            let got: Vec<u64> = all.iter().map(|d| d.id.unwrap()).collect();
            assert_eq!(got, ids, "{step}: list {c} by {limit}");
            for d in &all {
                let want = &model.docs[&(c.to_string(), d.id.unwrap())];
                assert_same(&without_id(d), want, || {
                    format!("{step}: list {c}: {:?}", d.id)
                });
            }
        }
        let info = db.collections().into_iter().find(|i| i.name == c).unwrap();
        assert_eq!(info.count, ids.len() as u64, "{step}: count of {c}");
        existing.push((c, ids));
    }
    existing
}
