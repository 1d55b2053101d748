//! A state machine test of a replica: random sequences of writes proposed and applied,
//! entries appended and left unapplied (some void, some after a blank entry in the same
//! append), entries applied later, uncommitted tails truncated, and reopens with a random
//! commit index, against a model of the log that says which entries are applied. After
//! every step the visible documents and collections are the model's; after every reopen
//! (and at the end) the change feed's replay from the log is too. Segments are sealed and
//! hinted at random points, so that opens replay some of them from their hints.

use std::collections::{BTreeMap, BTreeSet};

use nyro_core::replica::{EntryKind, PreparedProposal};
use nyro_core::{ChangeOp, Database, DbError, WriteOptions};
use nyro_storage::RecordKind;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::support::*;
use crate::common::*;
use crate::model_support::cases;

/// `a` indexes `v` (created first); `c` is created (indexing `v`) and dropped by the writes;
/// every write creates its collection if missing (without indexes).
const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Write {
    Insert(usize, Vec<u8>),
    Replace(usize, u64, u8),
    Delete(usize, u64),
    CreateC,
    DropC,
    /// Only as the first write: `a` with an index on `v`.
    CreateA,
}

fn body(v: u8) -> Json {
    json!({ "v": v })
}

impl Write {
    fn collection(&self) -> &'static str {
        match self {
            Write::Insert(c, _) | Write::Replace(c, ..) | Write::Delete(c, _) => COLLECTIONS[*c],
            Write::CreateC | Write::DropC => "c",
            Write::CreateA => "a",
        }
    }

    /// The documents it writes, in order.
    fn bodies(&self) -> Vec<Json> {
        match self {
            Write::Insert(_, vs) => vs.iter().map(|&v| body(v)).collect(),
            Write::Replace(_, _, v) => vec![body(*v)],
            _ => Vec::new(),
        }
    }

    /// Runs it on `db` (a replica: it waits for its proposal to be answered).
    async fn run(self, db: Database) -> Result<(), DbError> {
        let c = self.collection();
        let options = WriteOptions::default();
        match self {
            Write::Insert(_, vs) => {
                let docs = vs.iter().map(|&v| doc(body(v))).collect();
                db.insert_many(c, docs, options).await.map(drop)
            }
            Write::Replace(_, id, v) => db.replace(c, id, doc(body(v)), options).await.map(drop),
            Write::Delete(_, id) => db.delete(c, id, options).await.map(drop),
            Write::CreateC | Write::CreateA => {
                db.create_collection(c, &["v".to_string()]).await.map(drop)
            }
            Write::DropC => db.drop_collection(c).await,
        }
    }
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => (0..3usize, prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(c, vs)| Write::Insert(c, vs)),
        3 => (0..3usize, 1..6u64, any::<u8>()).prop_map(|(c, id, v)| Write::Replace(c, id, v)),
        2 => (0..3usize, 1..6u64).prop_map(|(c, id)| Write::Delete(c, id)),
        1 => Just(Write::CreateC),
        1 => Just(Write::DropC),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    /// Proposed, appended and applied at once (the leader's ordinary write).
    Commit(Write),
    /// Proposed and appended (after a blank entry in the same append if `blank`), not
    /// applied; `stale`: as a deposed leader's entry, prepared against another state.
    Append {
        write: Write,
        blank: bool,
        stale: bool,
    },
    /// The next unapplied entry applied (openraft learned it is committed).
    ApplyNext,
    /// The unapplied, never applied tail voided from a point in it on.
    Truncate(u8),
    /// Closed and reopened, with a commit index at a point of the log.
    Reopen(u8),
    /// The active segment sealed (a backup does it) and every sealed segment given its
    /// hint, with the catalog as applied now: later opens replay those segments from it.
    SealAndHint,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => write().prop_map(Op::Commit),
        4 => (write(), any::<bool>(), prop::bool::weighted(0.3))
            .prop_map(|(write, blank, stale)| Op::Append { write, blank, stale }),
        3 => Just(Op::ApplyNext),
        2 => any::<u8>().prop_map(Op::Truncate),
        2 => any::<u8>().prop_map(Op::Reopen),
        1 => Just(Op::SealAndHint),
    ]
}

/// What a valid entry does when applied.
#[derive(Debug, Clone)]
enum Change {
    Create(String),
    Drop(String),
    Put(String, u64, Json),
    Remove(String, u64),
}

#[derive(Debug, Clone)]
enum Kind {
    Blank,
    Writes {
        after: u64,
        changes: Vec<Change>,
        events: Vec<Event>,
    },
}

/// The log as the test wrote it, and how far it is applied.
#[derive(Debug, Default)]
struct Model {
    log: BTreeMap<u64, Kind>,
    applied: u64,
    /// The highest index ever applied: Raft never truncates at or below it.
    floor: u64,
}

/// The state of the model's applied entries.
#[derive(Debug, Default, PartialEq)]
struct Folded {
    docs: BTreeMap<(String, u64), Json>,
    exists: BTreeSet<String>,
    events: Vec<Event>,
    last_writes: u64,
}

impl Model {
    fn last(&self) -> u64 {
        self.log.keys().next_back().copied().unwrap_or(0)
    }

    /// Whether entry `index` is valid applied on the entries before it.
    fn fold_to(&self, upto: u64) -> (Folded, BTreeMap<u64, bool>) {
        let mut f = Folded::default();
        let mut valid = BTreeMap::new();
        for (&index, kind) in self.log.range(..=upto) {
            let Kind::Writes {
                after,
                changes,
                events,
            } = kind
            else {
                valid.insert(index, true);
                continue;
            };
            let ok = *after == f.last_writes;
            valid.insert(index, ok);
            if !ok {
                continue;
            }
            f.last_writes = index;
            f.events.extend(events.iter().cloned());
            for change in changes {
                match change {
                    Change::Create(c) => {
                        f.exists.insert(c.clone());
                    }
                    Change::Drop(c) => {
                        f.exists.remove(c);
                        f.docs.retain(|(coll, _), _| coll != c);
                    }
                    Change::Put(c, id, body) => {
                        f.docs.insert((c.clone(), *id), body.clone());
                    }
                    Change::Remove(c, id) => {
                        f.docs.remove(&(c.clone(), *id));
                    }
                }
            }
        }
        (f, valid)
    }

    fn folded(&self) -> Folded {
        self.fold_to(self.applied).0
    }
}

/// What `proposal` of `write` does, from its records (ids and seqs as prepared).
fn writes_kind(write: &Write, proposal: &PreparedProposal, after: u64) -> Kind {
    let c = write.collection().to_string();
    let mut bodies = write.bodies().into_iter();
    let mut changes = Vec::new();
    let mut events = Vec::new();
    for r in &proposal.records {
        match RecordKind::from_byte(r.kind) {
            Some(RecordKind::CreateCollection) => changes.push(Change::Create(c.clone())),
            Some(RecordKind::DropCollection) => changes.push(Change::Drop(c.clone())),
            Some(kind @ (RecordKind::Put | RecordKind::Replace)) => {
                let body = bodies.next().expect("a document for each put");
                changes.push(Change::Put(c.clone(), r.id, body.clone()));
                let op = match kind {
                    RecordKind::Put => ChangeOp::Insert,
                    _ => ChangeOp::Update,
                };
                events.push((r.seq, op, c.clone(), r.id, Some(body)));
            }
            Some(RecordKind::Delete) => {
                changes.push(Change::Remove(c.clone(), r.id));
                events.push((r.seq, ChangeOp::Delete, c.clone(), r.id, None));
            }
            other => panic!("a proposal carries a record of kind {other:?}"),
        }
    }
    assert!(bodies.next().is_none(), "every document has its record");
    Kind::Writes {
        after,
        changes,
        events,
    }
}

struct Run {
    /// The replica (taken only while it is reopened).
    r: Option<Replica>,
    model: Model,
    term: u64,
}

impl Run {
    fn replica(&self) -> &Replica {
        self.r.as_ref().expect("the replica")
    }

    fn replica_mut(&mut self) -> &mut Replica {
        self.r.as_mut().expect("the replica")
    }

    fn check(&self, step: &str) {
        let want = self.model.folded();
        assert_eq!(
            visible(&self.replica().db),
            want.docs,
            "documents after {step}"
        );
        let names: BTreeSet<String> = self
            .replica()
            .db
            .collections()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, want.exists, "collections after {step}");
        // In every collection that indexes `v` (`a`, and `c` when CreateC made it), every
        // value the model holds finds exactly its documents.
        let db = &self.replica().db;
        for info in db.collections().into_iter().filter(|i| i.indexes == ["v"]) {
            let mut by_v: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for ((c, id), body) in &want.docs {
                if *c == info.name {
                    by_v.entry(body["v"].to_string()).or_default().push(*id);
                }
            }
            for (v, ids) in by_v {
                let v: Json = serde_json::from_str(&v).unwrap();
                let found = find_all(db, &info.name, &cond(&[("v", v.clone())]), 4);
                assert_eq!(found, ids, "find {}.v = {v} after {step}", info.name);
            }
        }
        let last_seq = want.events.iter().map(|e| e.0).max().unwrap_or(0);
        assert!(
            self.replica().db.last_seq() >= last_seq,
            "last seq after {step}"
        );
    }

    async fn check_feed(&self, step: &str) {
        let want = self.model.folded();
        assert_eq!(
            replayed_feed(&self.replica().db).await,
            want.events,
            "the feed after {step}"
        );
    }

    /// Applies entry `applied + 1`, checking that it is void exactly when the model says.
    fn apply_next(&mut self) {
        let index = self.model.applied + 1;
        let (_, valid) = self.model.fold_to(index);
        assert_eq!(
            self.replica().apply(index),
            valid[&index],
            "applying entry {index}"
        );
        self.model.applied = index;
        self.model.floor = self.model.floor.max(index);
    }

    /// Applies every unapplied entry, as the leader does before it prepares a proposal.
    fn settle(&mut self) {
        while self.model.applied < self.model.last() {
            self.apply_next();
        }
    }

    async fn step(&mut self, op: Op) {
        match op {
            Op::Commit(write) => {
                self.settle();
                let after = self.model.folded().last_writes;
                let w = write.clone();
                let (proposal, answer) = self.replica_mut().propose(move |db| w.run(db)).await;
                let Some(proposal) = proposal else {
                    within("an answered write", answer).await.unwrap().ok();
                    return;
                };
                assert_eq!(proposal.after, after);
                // A write refused while prepared is answered with an entry of its own
                // (empty) and gets its refusal once that is applied.
                let refused_alone = proposal.records.is_empty();
                let index = self.model.last() + 1;
                assert_eq!(self.replica().next_index(), index);
                let entry = writes_entry(self.term, index, &proposal);
                self.replica_mut().append(vec![entry]).await;
                self.model
                    .log
                    .insert(index, writes_kind(&write, &proposal, after));
                self.apply_next();
                proposal.answer(Ok(true));
                let answered = within("the write's answer", answer).await.unwrap();
                assert!(answered.is_ok() || refused_alone, "{write:?}: {answered:?}");
            }
            Op::Append {
                write,
                blank,
                stale,
            } => {
                self.settle();
                let w = write.clone();
                let (proposal, answer) = self.replica_mut().propose(move |db| w.run(db)).await;
                let Some(proposal) = proposal else {
                    within("an answered write", answer).await.unwrap().ok();
                    return;
                };
                let mut index = self.model.last() + 1;
                let mut entries = Vec::new();
                if blank {
                    entries.push(bare_entry(self.term, index, EntryKind::Blank));
                    self.model.log.insert(index, Kind::Blank);
                    index += 1;
                }
                // Prepared against the state after `proposal.after`: a stale entry says
                // another state.
                let after = proposal.after + u64::from(stale);
                let mut entry = writes_entry(self.term, index, &proposal);
                entry.kind = EntryKind::Writes { after, sync: false };
                entries.push(entry);
                self.model
                    .log
                    .insert(index, writes_kind(&write, &proposal, after));
                self.replica_mut().append(entries).await;
                proposal.answer(Err("its fate is unknown".to_string()));
                assert!(within("the write's answer", answer).await.unwrap().is_err());
            }
            Op::ApplyNext => {
                if self.model.applied < self.model.last() {
                    self.apply_next();
                }
            }
            Op::Truncate(k) => {
                let low = self.model.floor.max(self.model.applied) + 1;
                let last = self.model.last();
                if low <= last {
                    let from = low + u64::from(k) % (last - low + 1);
                    self.replica_mut().truncate(from).await;
                    self.model.log.split_off(&from);
                    self.term += 1; // the next leader's entries
                }
            }
            Op::SealAndHint => {
                let backups = tempfile::tempdir().unwrap();
                let db = &self.replica().db;
                within("backup", db.backup(&backups.path().join("b")))
                    .await
                    .expect("a backup seals the active segment");
                within("write hints", db.write_hints())
                    .await
                    .expect("write hints");
            }
            Op::Reopen(k) => {
                let last = self.model.last();
                let committed = u64::from(k) % (last + 1);
                let r = self.r.take().expect("the replica");
                self.r = Some(r.reopen((committed > 0).then_some(committed)).await);
                self.model.applied = committed;
                let kept: Vec<u64> = self.model.log.keys().copied().collect();
                let found: Vec<u64> = self.replica().entries.keys().copied().collect();
                assert_eq!(found, kept, "the entries the survey found");
                let replayed = self.model.log.range(..=committed).next_back().map(|e| *e.0);
                assert_eq!(self.replica().replayed, replayed);
                self.check_feed(&format!("reopen at {committed}")).await;
            }
        }
    }
}

fn run_case(ops: Vec<Op>) {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut run = Run {
            r: Some(Replica::open(replica_config(dir.path()), None).await),
            model: Model::default(),
            term: 1,
        };
        // `a` indexes `v` (a write creating `a` first would create it without indexes).
        let create = Write::CreateA;
        run.step(Op::Commit(create)).await;
        run.check("the creation of a");
        for (i, op) in ops.into_iter().enumerate() {
            let step = format!("step {i}: {op:?}");
            run.step(op).await;
            run.check(&step);
        }
        run.check_feed("the last step").await;
        let r = run.r.take().expect("the replica");
        r.db.close().await.unwrap();
    });
}

proptest! {
    #![proptest_config(cases(24, 200))]

    #[test]
    fn replica_matches_its_log_model(ops in prop::collection::vec(op(), 1..30)) {
        run_case(ops);
    }
}
