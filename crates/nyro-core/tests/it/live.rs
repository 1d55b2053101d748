//! Live queries: the change feed filtered by a predicate sends exactly the changes that
//! concern it (an insert or update whose new version matches, an update or delete whose
//! previous version matched), each with `matches`; a client that keeps a result set from a
//! query plus these events stays equal to re-running the query; a `since` replay gives
//! what the live stream gave.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nyro_core::query::Filter;
use nyro_core::{ChangeEvent, ChangeOp, ChangeStream, Database, DocumentView, Predicate};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::common::*;
use crate::feed::{quiet, take};
use crate::model_support::{cases, without_id};

const W: nyro_core::WriteOptions = nyro_core::WriteOptions { sync: false };

/// The watched collection, and another one.
const COLLECTIONS: [&str; 2] = ["c", "d"];

/// A change as the test sees it: seq, op, collection, id, document without `_id`, match.
type Event = (u64, &'static str, String, u64, Option<Json>, Option<bool>);

fn event(e: &ChangeEvent) -> Event {
    (
        e.seq,
        e.op.as_str(),
        e.collection.to_string(),
        e.id,
        e.doc.as_ref().map(without_id),
        e.matches,
    )
}

/// The filters of the model test, on the documents' `v` (numbers, "3", null, missing,
/// arrays) and `k` (a counter).
const FILTERS: [&str; 8] = [
    r#"{"v": {"$in": [0, 3]}}"#,
    r#"{"v": {"$gt": 2}}"#,
    r#"{"$or": [{"v": 0}, {"k": {"$lt": 5}}]}"#,
    r#"{"v": {"$exists": false}}"#,
    r#"{"$not": {"v": {"$lte": 3}}}"#,
    r#"{"v": null}"#,
    r#"{}"#,
    r#"{"v": {"$ne": 1}, "k": {"$gte": 4}}"#,
];

fn filter(index: usize) -> Filter {
    Filter::parse(&serde_json::from_str(FILTERS[index]).unwrap()).unwrap()
}

/// Whether `doc` (JSON, without `_id`) matches `filter`: the query's own evaluator, on
/// the document as stored.
fn matches(filter: &Filter, doc: &Json) -> bool {
    let bytes = doc_with_id(doc.clone(), None).to_stored_bytes().unwrap();
    filter.matches(&DocumentView::new(0, &bytes).unwrap())
}

/// `FILTERS[0]` written by hand on stored documents, as a live query's predicate.
fn predicate() -> Predicate {
    Arc::new(|doc: &DocumentView<'_>| {
        let hit = |v: nyro_core::ValueView<'_>| matches!(v.as_i64(), Some(0 | 3));
        match doc.get("v") {
            Some(nyro_core::ValueView::Array(elements)) => elements.iter().any(hit),
            Some(v) => hit(v),
            None => false,
        }
    })
}

/// Documents by (collection, id).
type Set = BTreeMap<(String, u64), Json>;

/// Re-runs the query: every document of `collections` that matches `filter`.
fn query(db: &Database, collections: &[&str], filter: &Filter) -> Set {
    let mut set = Set::new();
    for c in collections {
        for d in list_all(db, c, 7) {
            let body = without_id(&d);
            if matches(filter, &body) {
                set.insert((c.to_string(), d.id.unwrap()), body);
            }
        }
    }
    set
}

/// A client's result set after `event`.
fn keep(set: &mut Set, event: &Event) {
    let key = (event.2.clone(), event.3);
    match (event.5, &event.4) {
        (Some(true), Some(doc)) => {
            set.insert(key, doc.clone());
        }
        (Some(false), _) => {
            set.remove(&key);
        }
        other => panic!("a live query's event has a match and a document if it matches: {other:?}"),
    }
}

/// The model: documents, and the events a live query with `filter` over every
/// collection should send.
struct Model {
    filter: Filter,
    docs: Set,
    events: Vec<Event>,
}

impl Model {
    fn new(filter: Filter) -> Self {
        Self {
            filter,
            docs: Set::new(),
            events: Vec::new(),
        }
    }

    /// Document `c`/`id` changed at `seq` to `body` (`None`: deleted).
    fn change(&mut self, seq: u64, op: ChangeOp, c: &str, id: u64, body: Option<Json>) {
        let key = (c.to_string(), id);
        let old = self
            .docs
            .get(&key)
            .is_some_and(|d| matches(&self.filter, d));
        assert_eq!(
            self.docs.contains_key(&key),
            op != ChangeOp::Insert,
            "op of {key:?}"
        );
        let new = body.as_ref().is_some_and(|d| matches(&self.filter, d));
        match &body {
            Some(body) => self.docs.insert(key, body.clone()),
            None => self.docs.remove(&key),
        };
        if old || new {
            self.events
                .push((seq, op.as_str(), c.to_string(), id, body, Some(new)));
        }
    }

    fn matching(&self, collection: Option<&str>) -> Set {
        self.docs
            .iter()
            .filter(|((c, _), body)| {
                collection.is_none_or(|w| w == c) && matches(&self.filter, body)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn events_after(&self, since: u64, collection: Option<&str>) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.0 > since && collection.is_none_or(|c| c == e.2))
            .cloned()
            .collect()
    }
}

/// Values of `v`: matching ones (0, 3, arrays holding them) and others (numbers, the
/// string "3", null, missing, arrays without them).
fn value() -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        (0..6i64).prop_map(|v| Some(json!(v))),
        Just(Some(json!("3"))),
        Just(Some(json!(null))),
        Just(None),
        Just(Some(json!([1, 3]))),
        Just(Some(json!([1, 5]))),
    ]
}

fn body(v: &Option<Json>, k: u32) -> Json {
    match v {
        Some(v) => json!({"v": v, "k": k}),
        None => json!({"k": k}),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, Option<Json>),
    InsertMany(usize, Vec<Option<Json>>),
    /// Replace or create.
    Put(usize, u64, Option<Json>),
    PutMany(usize, Vec<(u64, Option<Json>)>),
    Delete(usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..COLLECTIONS.len();
    prop_oneof![
        2 => (c.clone(), value()).prop_map(|(c, v)| Op::Insert(c, v)),
        1 => (c.clone(), prop::collection::vec(value(), 1..4)).prop_map(|(c, v)| Op::InsertMany(c, v)),
        4 => (c.clone(), 1..10u64, value()).prop_map(|(c, id, v)| Op::Put(c, id, v)),
        1 => (c.clone(), prop::collection::vec((1..10u64, value()), 1..4))
            .prop_map(|(c, v)| Op::PutMany(c, v)),
        2 => (c, 1..10u64).prop_map(|(c, id)| Op::Delete(c, id)),
    ]
}

/// Runs `op` on the database and the model; `k` numbers the documents written.
async fn apply(db: &Database, model: &mut Model, op: &Op, k: &mut u32) {
    let mut next = |v: &Option<Json>| {
        *k += 1;
        body(v, *k)
    };
    match op {
        Op::Insert(c, v) => {
            let c = COLLECTIONS[*c];
            let body = next(v);
            let done = db.insert(c, doc(body.clone()), W).await.unwrap();
            model.change(done.seq, ChangeOp::Insert, c, done.id, Some(body));
        }
        Op::InsertMany(c, vs) => {
            let c = COLLECTIONS[*c];
            let bodies: Vec<Json> = vs.iter().map(&mut next).collect();
            let docs = bodies.iter().map(|b| doc(b.clone())).collect();
            let done = db.insert_many(c, docs, W).await.unwrap();
            let first = done.seq + 1 - bodies.len() as u64;
            for ((seq, id), body) in (first..).zip(done.ids).zip(bodies) {
                model.change(seq, ChangeOp::Insert, c, id, Some(body));
            }
        }
        Op::Put(c, id, v) => {
            let c = COLLECTIONS[*c];
            let body = next(v);
            let done = db.replace(c, *id, doc(body.clone()), W).await.unwrap();
            let op = if done.created {
                ChangeOp::Insert
            } else {
                ChangeOp::Update
            };
            model.change(done.seq, op, c, *id, Some(body));
        }
        Op::PutMany(c, docs) => {
            let c = COLLECTIONS[*c];
            let bodies: Vec<(u64, Json)> = docs.iter().map(|(id, v)| (*id, next(v))).collect();
            let request = bodies
                .iter()
                .map(|(id, b)| doc_with_id(b.clone(), Some(*id)))
                .collect();
            let done = db.replace_many(c, request, W).await.unwrap();
            for (answer, (id, body)) in done.iter().zip(bodies) {
                let op = if answer.created {
                    ChangeOp::Insert
                } else {
                    ChangeOp::Update
                };
                model.change(answer.seq, op, c, id, Some(body));
            }
        }
        Op::Delete(c, id) => {
            let c = COLLECTIONS[*c];
            let had = model.docs.contains_key(&(c.to_string(), *id));
            match db.delete(c, *id, W).await {
                Ok(seq) => model.change(seq, ChangeOp::Delete, c, *id, None),
                Err(e) => assert!(!had, "delete {c}/{id}: {e}"),
            }
        }
    }
}

/// Reads the next `want.len()` events of `stream`: they must be `want`. Each is due at
/// once (a live one was sent before its write answered; a replay reads the log), so a
/// missing one fails within a short bound, not [`BOUND`] (shrinking meets many).
async fn expect(stream: &mut ChangeStream, want: &[Event], what: &str) -> Vec<Event> {
    let mut got = Vec::with_capacity(want.len());
    while got.len() < want.len() {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(e))) => got.push(event(&e)),
            other => panic!("{what}: after {got:?}, expected {want:?}, got {other:?}"),
        }
    }
    assert_eq!(got, want, "{what}");
    got
}

fn run(f: usize, before: Vec<Op>, during: Vec<Op>) {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.batch.sync = nyro_core::SyncPolicy::Never;
        let db = open(&config).await;
        for c in COLLECTIONS {
            db.create_collection(c, &[]).await.unwrap();
        }
        let mut model = Model::new(filter(f));
        let mut k = 0;
        for op in &before {
            apply(&db, &mut model, op, &mut k).await;
        }
        let start = db.stats().last_seq;

        // Clients: each subscribes, then runs the query once, then keeps its set with the
        // events (nothing is written in between here).
        let mut one = db.subscribe_where(Some("c"), None, filter(f)).unwrap();
        let mut all = db.subscribe_where(None, None, filter(f)).unwrap();
        let mut one_set = query(&db, &["c"], &model.filter);
        let mut all_set = query(&db, &COLLECTIONS, &model.filter);
        assert_eq!(all_set, model.matching(None));

        for (i, op) in during.iter().enumerate() {
            let seen = model.events.len();
            apply(&db, &mut model, op, &mut k).await;
            let new = &model.events[seen..];
            let want_one: Vec<Event> = new.iter().filter(|e| e.2 == "c").cloned().collect();
            for e in expect(&mut one, &want_one, &format!("step {i} {op:?}, c")).await {
                keep(&mut one_set, &e);
            }
            for e in expect(&mut all, new, &format!("step {i} {op:?}, all")).await {
                keep(&mut all_set, &e);
            }
            let rerun = query(&db, &["c"], &model.filter);
            assert_eq!(one_set, rerun, "step {i}: c's result set");
            let rerun = query(&db, &COLLECTIONS, &model.filter);
            assert_eq!(all_set, rerun, "step {i}: the result set");
        }
        quiet(&mut one).await;
        quiet(&mut all).await;

        // A replay gives what the live streams gave, and from 0 the whole history.
        let last = db.stats().last_seq;
        for since in [0, start, (start + last) / 2, last] {
            for collection in [Some("c"), None] {
                let mut replay = db
                    .subscribe_where(collection, Some(since), filter(f))
                    .unwrap();
                let want = model.events_after(since, collection);
                expect(&mut replay, &want, &format!("{collection:?} since {since}")).await;
                quiet(&mut replay).await;
            }
        }
        let db = reopen(db, &config).await;
        let mut replay = db.subscribe_where(None, Some(0), filter(f)).unwrap();
        expect(&mut replay, &model.events, "since 0 after a reopen").await;
        db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(cases(24, 64))]

    #[test]
    fn a_live_result_set_stays_equal_to_the_query(
        f in 0..FILTERS.len(),
        before in prop::collection::vec(op(), 0..20),
        during in prop::collection::vec(op(), 1..30),
    ) {
        run(f, before, during);
    }
}

/// One history, spelled out: what is sent, with what `match`, and what is not.
#[tokio::test]
async fn exactly_the_changes_that_concern_the_filter_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    db.create_collection("c", &[]).await.unwrap();
    let mut live = db.subscribe_where(Some("c"), None, filter(0)).unwrap();
    let mut everything = db.subscribe(Some("c"), None).unwrap();

    let no = db.insert("c", doc(json!({"v": 1})), W).await.unwrap(); // not sent
    let yes = db.insert("c", doc(json!({"v": 3})), W).await.unwrap();
    let into = db
        .replace("c", no.id, doc(json!({"v": 0})), W)
        .await
        .unwrap();
    let out = db
        .replace("c", yes.id, doc(json!({"v": 5})), W)
        .await
        .unwrap();
    db.replace("c", yes.id, doc(json!({"v": 6})), W)
        .await
        .unwrap(); // not sent
    let created = db.replace("c", 7, doc(json!({"v": [3]})), W).await.unwrap();
    assert!(created.created);
    let gone = db.delete("c", 7, W).await.unwrap();
    db.delete("c", yes.id, W).await.unwrap(); // not sent: it did not match
    let other = db.insert("d", doc(json!({"v": 3})), W).await.unwrap(); // another collection
    let want = vec![
        (
            yes.seq,
            "insert",
            "c".into(),
            yes.id,
            Some(json!({"v": 3})),
            Some(true),
        ),
        (
            into.seq,
            "update",
            "c".into(),
            no.id,
            Some(json!({"v": 0})),
            Some(true),
        ),
        (
            out.seq,
            "update",
            "c".into(),
            yes.id,
            Some(json!({"v": 5})),
            Some(false),
        ),
        // A PUT that creates is an insert.
        (
            created.seq,
            "insert",
            "c".into(),
            7,
            Some(json!({"v": [3]})),
            Some(true),
        ),
        // A delete of a matching document, with match false.
        (gone, "delete", "c".into(), 7, None, Some(false)),
    ];
    expect(&mut live, &want, "live").await;
    quiet(&mut live).await;
    // The unfiltered stream is as it always was: every change, no match.
    let every = take(&mut everything, 8).await;
    assert!(every.iter().all(|e| e.matches.is_none()), "{every:?}");
    assert_eq!(every[5].op, ChangeOp::Insert, "a PUT that creates");

    // The same from the log, and from the middle (the previous versions are known).
    let mut replay = db
        .subscribe_matching(Some("c"), Some(0), predicate())
        .unwrap();
    expect(&mut replay, &want, "since 0").await;
    quiet(&mut replay).await;
    let mut replay = db
        .subscribe_matching(Some("c"), Some(into.seq), predicate())
        .unwrap();
    expect(&mut replay, &want[2..], "since the update into the set").await;
    let mut all = db
        .subscribe_matching(None, Some(gone), predicate())
        .unwrap();
    let d = (
        other.seq,
        "insert",
        "d".into(),
        other.id,
        Some(json!({"v": 3})),
        Some(true),
    );
    expect(&mut all, &[d], "every collection").await;
    // ... then live: a document that matches was there before the stream began.
    db.delete("c", no.id, W).await.unwrap();
    let e = event(&crate::feed::next(&mut all).await);
    assert_eq!((e.1, e.3, e.5), ("delete", no.id, Some(false)));
    db.close().await.unwrap();
}

/// A collection dropped and created again: its documents are gone, so a new one with an
/// old id that does not match is not sent (an insert has no previous version).
#[tokio::test]
async fn a_dropped_collection_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(dir.path())).await;
    let first = db.insert("c", doc(json!({"v": 0})), W).await.unwrap();
    let mut live = db.subscribe_matching(None, None, predicate()).unwrap();
    db.drop_collection("c").await.unwrap();
    let again = db.insert("c", doc(json!({"v": 1})), W).await.unwrap();
    assert_eq!(again.id, first.id);
    let later = db.insert("c", doc(json!({"v": 3})), W).await.unwrap();
    let e = event(&crate::feed::next(&mut live).await);
    assert_eq!((e.0, e.5), (later.seq, Some(true)));
    let mut replay = db.subscribe_matching(None, Some(0), predicate()).unwrap();
    let events: Vec<_> = take(&mut replay, 2).await.iter().map(event).collect();
    assert_eq!(
        events.iter().map(|e| (e.0, e.5)).collect::<Vec<_>>(),
        [(first.seq, Some(true)), (later.seq, Some(true))]
    );
    quiet(&mut replay).await;
    db.close().await.unwrap();
}

/// Compaction dropped the versions some changes replace: a replay after its floor still
/// sends those changes (the previous version may have matched), so the client's set stays
/// exact; a live stream's starting set needs only the latest versions.
#[tokio::test]
async fn after_compaction_a_replay_sends_changes_whose_previous_version_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_quiet(&crate::compaction::unsynced_config(dir.path())).await;
    let pad = "p".repeat(3_000);
    for id in 1..=10 {
        let d = doc_with_id(json!({"v": 3, "pad": pad}), Some(id));
        db.insert("c", d, W).await.unwrap();
    }
    let mut updates = Vec::new();
    for id in 1..=10 {
        let done = db.replace("c", id, doc(json!({"v": 1})), W).await.unwrap();
        updates.push((
            done.seq,
            "update",
            "c".to_string(),
            id,
            Some(json!({"v": 1})),
            Some(false),
        ));
    }
    // Fill the segment so that it is sealed, then compact it.
    for _ in 0..8 {
        let docs = (0..50).map(|_| doc(json!({"pad": pad}))).collect();
        db.insert_many("g", docs, W).await.unwrap();
    }
    let summary = db.compact().await.unwrap();
    assert!(summary.segments_rewritten >= 1, "{summary:?}");
    // The first versions are gone: history up to the last of them (seq 10).
    let mut refused = db
        .subscribe_matching(Some("c"), Some(9), predicate())
        .unwrap();
    assert!(matches!(
        within("refusal", refused.next()).await,
        Some(Err(nyro_core::FeedError::HistoryCompacted {
            floor: 10,
            ..
        }))
    ));
    let mut replay = db
        .subscribe_matching(Some("c"), Some(10), predicate())
        .unwrap();
    expect(&mut replay, &updates, "since the floor").await;
    quiet(&mut replay).await;
    // Live: nothing matches any more, so a delete is not sent; a matching insert is.
    let mut live = db.subscribe_matching(Some("c"), None, predicate()).unwrap();
    db.delete("c", 1, W).await.unwrap();
    let new = db.insert("c", doc(json!({"v": 0})), W).await.unwrap();
    let e = event(&crate::feed::next(&mut live).await);
    assert_eq!((e.0, e.5), (new.seq, Some(true)));
    db.close().await.unwrap();
}

/// Live queries started while writes go on: each begins at the seq it reports, with the
/// documents that match there, so its events are exactly those the model gives after that
/// seq (none missed, none that does not concern the filter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_query_started_during_writes_begins_exactly_where_it_says() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.sync = nyro_core::SyncPolicy::Never;
    let db = Arc::new(open(&config).await);
    for c in COLLECTIONS {
        db.create_collection(c, &[]).await.unwrap();
    }
    let mut runner = TestRunner::deterministic();
    let ops: Vec<Op> = (0..400)
        .map(|_| op().new_tree(&mut runner).unwrap().current())
        .collect();
    let (progress, mut done) = tokio::sync::watch::channel(0usize);
    let writer = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            let mut model = Model::new(filter(0));
            let mut k = 0;
            for (i, op) in ops.iter().enumerate() {
                apply(&db, &mut model, op, &mut k).await;
                progress.send_replace(i + 1);
            }
            model
        })
    };
    let mut streams = Vec::new();
    for at in [1, 50, 120, 250, 380] {
        within("the writer's progress", done.wait_for(|&n| n >= at))
            .await
            .unwrap();
        let collection = if at % 2 == 0 { None } else { Some("c") };
        let stream = db
            .subscribe_matching(collection, None, predicate())
            .unwrap();
        streams.push((collection, stream.last_seq(), stream));
    }
    let model = within("the writer", writer).await.unwrap();
    for (collection, start, mut stream) in streams {
        let want = model.events_after(start, collection);
        expect(&mut stream, &want, &format!("{collection:?} from {start}")).await;
        quiet(&mut stream).await;
    }
    Arc::into_inner(db).unwrap().close().await.unwrap();
}
