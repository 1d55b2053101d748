//! Appending, reading back, applying, voiding and truncating Raft entries, and what a
//! reopen (with a commit index, with a torn tail) makes of them.

use std::collections::BTreeMap;

use nyro_core::replica::EntryKind;
use nyro_core::{ChangeOp, DbError, Inserted, Replaced, WriteOptions};
use nyro_storage::RecordKind;
use serde_json::{Value as Json, json};

use super::support::*;
use crate::common::*;

fn key(c: &str, id: u64) -> (String, u64) {
    (c.to_string(), id)
}

/// Proposes the insert of `body` into `c`; the handle gives its answer.
async fn propose_insert(
    r: &mut Replica,
    c: &'static str,
    body: Json,
) -> (
    Option<nyro_core::replica::PreparedProposal>,
    tokio::task::JoinHandle<nyro_core::Result<Inserted>>,
) {
    r.propose(move |db| async move { db.insert(c, doc(body), WriteOptions::default()).await })
        .await
}

async fn insert_one(r: &mut Replica, term: u64, c: &'static str, body: Json) -> Inserted {
    r.commit(term, move |db| async move {
        db.insert(c, doc(body), WriteOptions::default()).await
    })
    .await
    .expect("insert")
}

#[tokio::test]
async fn entries_read_back_as_appended_and_become_visible_only_when_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    assert!(r.entries.is_empty());
    let mut live = r.db.subscribe(None, None).unwrap();

    let (proposal, handle) = propose_insert(&mut r, "a", json!({"x": 1})).await;
    let proposal = proposal.expect("an insert has records to propose");
    assert_eq!(proposal.after, 0, "nothing applied yet");
    let documents: Vec<(Option<RecordKind>, u64, u64)> = proposal
        .records
        .iter()
        .map(|r| (RecordKind::from_byte(r.kind), r.id, r.seq))
        .filter(|(kind, ..)| *kind != Some(RecordKind::CreateCollection))
        .collect();
    assert_eq!(documents, [(Some(RecordKind::Put), 1, 1)]);
    assert_eq!(
        proposal.records.len(),
        2,
        "the collection's creation, then the put"
    );

    // A new leader's blank entry, a membership, and the write, in one append.
    let appended = vec![
        bare_entry(1, 1, EntryKind::Blank),
        bare_entry(1, 2, EntryKind::Membership(vec![1, 2, 3])),
        writes_entry(1, 3, &proposal),
    ];
    r.append(appended.clone()).await;
    for entry in &appended {
        assert_eq!(r.read(entry.index), *entry, "entry {}", entry.index);
    }
    // Appended, not applied: nothing is visible, the write is not answered.
    assert!(r.db.collections().is_empty());
    assert!(matches!(
        r.db.get("a", 1),
        Err(DbError::CollectionNotFound { .. })
    ));
    assert_eq!(r.db.last_seq(), 0);
    assert!(!handle.is_finished());

    assert!(r.apply(1));
    assert!(r.apply(2));
    assert!(
        r.db.collections().is_empty(),
        "blank and membership carry no write"
    );
    assert!(r.apply(3));
    proposal.answer(Ok(true));
    let inserted = within("the insert", handle).await.unwrap().unwrap();
    assert_eq!(inserted, Inserted { id: 1, seq: 1 });
    assert_eq!(
        visible(&r.db),
        BTreeMap::from([(key("a", 1), json!({"x": 1}))])
    );

    // More writes, each its own entry: seqs follow, ids are the collection's.
    let replaced: Replaced = r
        .commit(1, |db| async move {
            db.replace("a", 1, doc(json!({"x": 2})), WriteOptions::default())
                .await
        })
        .await
        .unwrap();
    assert_eq!((replaced.seq, replaced.created), (2, false));
    let many = r
        .commit(1, |db| async move {
            let docs = vec![doc(json!({"y": 1})), doc(json!({"y": 2}))];
            db.insert_many("b", docs, WriteOptions::default()).await
        })
        .await
        .unwrap();
    assert_eq!((many.ids, many.seq), (vec![1, 2], 4));
    let deleted = r
        .commit(1, |db| async move {
            db.delete("a", 1, WriteOptions::default()).await
        })
        .await
        .unwrap();
    assert_eq!(deleted, 5);

    let events = vec![
        (1, ChangeOp::Insert, "a".into(), 1, Some(json!({"x": 1}))),
        (2, ChangeOp::Update, "a".into(), 1, Some(json!({"x": 2}))),
        (3, ChangeOp::Insert, "b".into(), 1, Some(json!({"y": 1}))),
        (4, ChangeOp::Insert, "b".into(), 2, Some(json!({"y": 2}))),
        (5, ChangeOp::Delete, "a".into(), 1, None),
    ];
    assert_eq!(next_events(&mut live, 5).await, events);
    assert_eq!(replayed_feed(&r.db).await, events);
    let want = BTreeMap::from([
        (key("b", 1), json!({"y": 1})),
        (key("b", 2), json!({"y": 2})),
    ]);
    assert_eq!(visible(&r.db), want);

    // Reopened with everything committed: replay applies it all, the same way.
    let last = r.next_index() - 1;
    assert_eq!(last, 6);
    let mut r = r.reopen(Some(last)).await;
    assert_eq!(r.replayed, Some(last));
    assert_eq!(
        r.entries.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(r.read(3), appended[2]);
    assert_eq!(visible(&r.db), want);
    assert_eq!(r.db.last_seq(), 5);
    assert_eq!(replayed_feed(&r.db).await, events);
    // And the next write goes on from there: seq 6, and "a" never reuses id 1.
    let inserted = insert_one(&mut r, 1, "a", json!({"x": 3})).await;
    assert_eq!(inserted, Inserted { id: 2, seq: 6 });
    r.db.close().await.unwrap();
}

#[tokio::test]
async fn a_void_entry_is_not_applied_live_or_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    insert_one(&mut r, 1, "a", json!({"n": 1})).await;
    let mut live = r.db.subscribe(None, None).unwrap();

    // Two proposals prepared against the same state (entry 1): the first as a deposed
    // leader's entry prepared against another state (its `after` does not match), the
    // second as the entry that is applied. Both in one append.
    let (void, void_answer) = propose_insert(&mut r, "a", json!({"n": "void"})).await;
    let void = void.unwrap();
    let (kept, kept_answer) = propose_insert(&mut r, "a", json!({"n": "kept"})).await;
    let kept = kept.unwrap();
    assert_eq!((void.after, kept.after), (1, 1));
    let mut void_entry = writes_entry(1, 2, &void);
    void_entry.kind = EntryKind::Writes {
        after: 0,
        sync: false,
    };
    r.append(vec![void_entry.clone(), writes_entry(2, 3, &kept)])
        .await;
    assert_eq!(r.read(2), void_entry);

    assert!(
        !r.apply(2),
        "an entry prepared against another state is void"
    );
    void.answer(Ok(false));
    let refused = within("the void write", void_answer).await.unwrap();
    assert!(
        matches!(refused, Err(DbError::NoQuorum { .. })),
        "{refused:?}"
    );
    assert_eq!(r.db.last_seq(), 1, "nothing of the void entry is visible");
    assert!(r.apply(3));
    kept.answer(Ok(true));
    let inserted = within("the kept write", kept_answer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inserted, Inserted { id: 2, seq: 2 });

    let want = BTreeMap::from([
        (key("a", 1), json!({"n": 1})),
        (key("a", 2), json!({"n": "kept"})),
    ]);
    let events = vec![
        (1, ChangeOp::Insert, "a".into(), 1, Some(json!({"n": 1}))),
        (
            2,
            ChangeOp::Insert,
            "a".into(),
            2,
            Some(json!({"n": "kept"})),
        ),
    ];
    assert_eq!(visible(&r.db), want);
    assert_eq!(next_events(&mut live, 1).await, events[1..]);
    assert_eq!(replayed_feed(&r.db).await, events);

    // Replay with everything committed skips the void entry.
    let r = r.reopen(Some(3)).await;
    assert_eq!(visible(&r.db), want);
    assert_eq!(r.db.last_seq(), 2);
    assert_eq!(replayed_feed(&r.db).await, events);

    // Replay up to entry 1, then entries 2 and 3 applied again: the same outcome.
    let r = r.reopen(Some(1)).await;
    assert_eq!(r.replayed, Some(1));
    assert_eq!(visible(&r.db).len(), 1);
    assert!(!r.apply(2));
    assert!(r.apply(3));
    assert_eq!(visible(&r.db), want);
    assert_eq!(replayed_feed(&r.db).await, events);

    // Nothing known to be committed: nothing visible until applied.
    let r = r.reopen(None).await;
    assert_eq!(r.replayed, None);
    assert!(r.db.collections().is_empty());
    assert_eq!(r.db.last_seq(), 0);
    assert_eq!([r.apply(1), r.apply(2), r.apply(3)], [true, false, true]);
    assert_eq!(visible(&r.db), want);
    assert_eq!(replayed_feed(&r.db).await, events);
    r.db.close().await.unwrap();
}

#[tokio::test]
async fn truncated_entries_never_become_visible() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    insert_one(&mut r, 1, "a", json!({"n": 1})).await;

    // Leader 1 appends two entries that never commit, in one append.
    let (lost, lost_answer) = propose_insert(&mut r, "a", json!({"n": "truncated"})).await;
    let lost = lost.unwrap();
    r.append(vec![
        writes_entry(1, 2, &lost),
        bare_entry(1, 3, EntryKind::Blank),
    ])
    .await;
    r.truncate(2).await;
    lost.answer(Err("truncated".to_string()));
    assert!(
        within("the lost write", lost_answer)
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(r.db.last_seq(), 1);
    assert_eq!(visible(&r.db).len(), 1);

    // The next leader (term 2): its blank entry, then a write and a membership change in
    // one append, at the indexes the truncated entries had.
    r.append(vec![bare_entry(2, 2, EntryKind::Blank)]).await;
    assert!(r.apply(2));
    let (new, new_answer) = propose_insert(&mut r, "a", json!({"n": "new"})).await;
    let new = new.unwrap();
    assert_eq!(new.after, 1);
    r.append(vec![
        writes_entry(2, 3, &new),
        bare_entry(2, 4, EntryKind::Membership(vec![7])),
    ])
    .await;
    assert!(r.apply(3));
    assert!(r.apply(4));
    new.answer(Ok(true));
    let inserted = within("the new write", new_answer).await.unwrap().unwrap();
    assert_eq!(
        inserted,
        Inserted { id: 2, seq: 2 },
        "the truncated write's seq"
    );

    let want = BTreeMap::from([
        (key("a", 1), json!({"n": 1})),
        (key("a", 2), json!({"n": "new"})),
    ]);
    let events = vec![
        (1, ChangeOp::Insert, "a".into(), 1, Some(json!({"n": 1}))),
        (
            2,
            ChangeOp::Insert,
            "a".into(),
            2,
            Some(json!({"n": "new"})),
        ),
    ];
    assert_eq!(visible(&r.db), want);
    assert_eq!(replayed_feed(&r.db).await, events);
    let survivors: Vec<_> = (1..=4).map(|i| r.read(i)).collect();

    // The survey drops the truncated entries: only the later ones at those indexes.
    let r = r.reopen(Some(4)).await;
    assert_eq!(r.entries.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
    for (i, survivor) in (1..=4).zip(&survivors) {
        assert_eq!(r.read(i), *survivor, "entry {i}");
    }
    assert_eq!(r.read(2).term, 2);
    assert_eq!(visible(&r.db), want);
    assert_eq!(replayed_feed(&r.db).await, events);

    let r = r.reopen(Some(1)).await;
    assert_eq!(r.entries.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(visible(&r.db).len(), 1);
    assert_eq!([r.apply(2), r.apply(3), r.apply(4)], [true; 3]);
    assert_eq!(visible(&r.db), want);
    assert_eq!(replayed_feed(&r.db).await, events);

    // A truncation of part of one append keeps the rest of it.
    let mut r = r;
    let (p, answer) = propose_insert(&mut r, "a", json!({"n": "kept"})).await;
    let p = p.unwrap();
    r.append(vec![
        writes_entry(2, 5, &p),
        bare_entry(2, 6, EntryKind::Blank),
    ])
    .await;
    r.truncate(6).await;
    assert!(r.apply(5));
    p.answer(Ok(true));
    within("the kept write", answer).await.unwrap().unwrap();
    let r = r.reopen(Some(5)).await;
    assert_eq!(
        r.entries.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(visible(&r.db).len(), 3);
    assert_eq!(replayed_feed(&r.db).await.len(), 3);
    r.db.close().await.unwrap();
}

#[tokio::test]
async fn reopen_replays_up_to_the_commit_index_and_keeps_the_rest_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    insert_one(&mut r, 1, "a", json!({"n": 1})).await;
    insert_one(&mut r, 1, "a", json!({"n": 2})).await;
    r.commit(1, |db| async move {
        db.replace("a", 1, doc(json!({"n": 10})), WriteOptions::default())
            .await
    })
    .await
    .unwrap();
    let at_3 = visible(&r.db);
    // A new leader's blank entry and its first write, in one append.
    let (p, answer) = r
        .propose(|db| async move { db.delete("a", 2, WriteOptions::default()).await })
        .await;
    let p = p.unwrap();
    r.append(vec![
        bare_entry(2, 4, EntryKind::Blank),
        writes_entry(2, 5, &p),
    ])
    .await;
    assert!(r.apply(4));
    assert!(r.apply(5));
    p.answer(Ok(true));
    assert_eq!(within("the delete", answer).await.unwrap().unwrap(), 4);
    let at_5 = visible(&r.db);
    let feed_at_5 = replayed_feed(&r.db).await;
    assert_eq!(feed_at_5.len(), 4);

    // Known committed up to 3: entries 4 and 5 come back pending, and apply afterwards.
    let r = r.reopen(Some(3)).await;
    assert_eq!(r.replayed, Some(3));
    assert_eq!(
        r.entries.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(visible(&r.db), at_3);
    assert_eq!(r.db.last_seq(), 3);
    assert_eq!(replayed_feed(&r.db).await, feed_at_5[..3]);
    let mut live = r.db.subscribe(None, None).unwrap();
    assert!(r.apply(4));
    assert!(r.apply(5));
    assert_eq!(next_events(&mut live, 1).await, feed_at_5[3..]);
    assert_eq!(visible(&r.db), at_5);
    assert_eq!(r.db.last_seq(), 4);
    assert_eq!(replayed_feed(&r.db).await, feed_at_5);

    let r = r.reopen(Some(5)).await;
    assert_eq!(visible(&r.db), at_5);
    assert_eq!(replayed_feed(&r.db).await, feed_at_5);
    r.db.close().await.unwrap();
}

/// Cuts the segment holding `at` at `at.offset + into` bytes, as a crash mid-write does.
fn cut(dir: &std::path::Path, at: nyro_storage::Location, into: u64) {
    let path = dir.join(nyro_storage::segment_file_name(at.segment));
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    assert!(at.offset + into < len, "the cut is inside the file");
    file.set_len(at.offset + into).unwrap();
}

#[tokio::test]
async fn a_torn_tail_takes_whole_entries_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    insert_one(&mut r, 1, "a", json!({"n": 1})).await;
    r.commit(1, |db| async move {
        let docs = (0..3).map(|i| doc(json!({"n": i}))).collect();
        db.insert_many("b", docs, WriteOptions::default()).await
    })
    .await
    .unwrap();
    let at_2 = visible(&r.db);
    let feed_at_2 = replayed_feed(&r.db).await;

    // A blank entry and a write of three documents in one append, then a crash in the
    // middle of the write's records.
    let (p, answer) = r
        .propose(|db| async move {
            let docs = (0..3)
                .map(|i| doc(json!({"text": "x".repeat(300), "i": i})))
                .collect();
            db.insert_many("c", docs, WriteOptions::default()).await
        })
        .await;
    let p = p.unwrap();
    let placed = r
        .append(vec![
            bare_entry(2, 3, EntryKind::Blank),
            writes_entry(2, 4, &p),
        ])
        .await;
    p.answer(Err("the node stops".to_string()));
    assert!(within("the write", answer).await.unwrap().is_err());
    let middle = placed[1].records[2];
    let mut r = {
        let _guard = no_fork().await;
        r.db.close().await.unwrap();
        cut(dir.path(), middle, u64::from(middle.len) / 2);
        // Even told that entry 4 is committed, the reopened log has neither entry, and
        // nothing of them is visible.
        Replica::open(replica_config(dir.path()), Some(4)).await
    };
    assert!(r.db.recovery().torn_tail.is_some(), "{:?}", r.db.recovery());
    assert_eq!(r.entries.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(r.replayed, Some(2));
    assert_eq!(visible(&r.db), at_2);
    assert_eq!(r.db.last_seq(), 4);
    assert_eq!(replayed_feed(&r.db).await, feed_at_2);

    // The leader sends them again: they append and apply at the same indexes.
    let (p, answer) = propose_insert(&mut r, "c", json!({"again": true})).await;
    let p = p.unwrap();
    r.append(vec![
        bare_entry(2, 3, EntryKind::Blank),
        writes_entry(2, 4, &p),
    ])
    .await;
    assert!(r.apply(3));
    assert!(r.apply(4));
    p.answer(Ok(true));
    let inserted = within("the write", answer).await.unwrap().unwrap();
    assert_eq!(inserted, Inserted { id: 1, seq: 5 });
    let r = r.reopen(Some(4)).await;
    assert_eq!(visible(&r.db).len(), at_2.len() + 1);
    assert_eq!(replayed_feed(&r.db).await.len(), feed_at_2.len() + 1);
    r.db.close().await.unwrap();
}

#[tokio::test]
async fn hints_written_before_entries_are_applied_still_index_them_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(dir.path());
    config.storage.segment_size_mb = 1; // several sealed segments, which get hints
    let mut r = Replica::open(config, None).await;
    r.commit(1, |db| async move {
        db.create_collection("x", &["f".to_string()]).await
    })
    .await
    .unwrap();
    for batch in 0..8u64 {
        r.commit(1, move |db| async move {
            let docs = (0..100)
                .map(|i| doc(json!({"f": batch * 100 + i, "pad": "p".repeat(2000)})))
                .collect();
            db.insert_many("x", docs, WriteOptions::default()).await
        })
        .await
        .unwrap();
    }
    let last = r.next_index() - 1;
    let wanted = |db: &nyro_core::Database| {
        [0, 250, 599].map(|f| find_all(db, "x", &cond(&[("f", json!(f))]), 10).len())
    };
    assert_eq!(wanted(&r.db), [1, 1, 1]);

    // The commit index was not saved: on open nothing is applied, and the hints of the
    // sealed segments are written before openraft applies the entries again.
    let r = r.reopen(None).await;
    assert!(r.db.collections().is_empty());
    assert!(within("write hints", r.db.write_hints()).await.unwrap() > 0);
    for index in 1..=last {
        assert!(r.apply(index));
    }
    assert_eq!(wanted(&r.db), [1, 1, 1], "applied from the log");

    // Replayed from those hints, every document is found by its indexed field again.
    let r = r.reopen(Some(last)).await;
    assert_eq!(visible(&r.db).len(), 800);
    assert_eq!(wanted(&r.db), [1, 1, 1], "replayed from the hints");
    r.db.close().await.unwrap();
}

/// Found by this test, not fixed here: compaction on a cluster node rewrites the sealed
/// segments under new ids and drops dead records, while the Raft log's index (`Placed`)
/// still points at the old frames: `read_entry` then fails ("no such segment"), which
/// openraft takes as a fatal storage error when it reads the entry for a follower. Making
/// compaction Raft-aware (keep what the log still needs, re-place relocated entries) is
/// part of the snapshot work, which the `snapshot` cluster scenario (`POST /v1/_compact`
/// on cluster nodes) waits for.
#[tokio::test]
async fn compaction_keeps_every_entry_readable_as_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(dir.path());
    config.storage.segment_size_mb = 1;
    let mut r = Replica::open(config, None).await;
    // Documents written and then replaced and deleted: dead records in sealed segments,
    // which the entries that carried them still need (a follower behind reads them).
    for round in 0..3u64 {
        r.commit(1, move |db| async move {
            let docs = (1..=300)
                .map(|id| doc(json!({"_id": id, "round": round, "pad": "p".repeat(2000)})))
                .collect();
            db.replace_many("x", docs, WriteOptions::default()).await
        })
        .await
        .unwrap();
    }
    r.commit(1, |db| async move {
        db.delete("x", 1, WriteOptions::default()).await
    })
    .await
    .unwrap();
    let last = r.next_index() - 1;
    let before: Vec<_> = (1..=last).map(|i| r.read(i)).collect();
    let docs = visible(&r.db);
    // Whatever compaction does on a cluster node, every retained entry still reads back
    // as appended, and the documents are the same.
    let compacted = within("compact", r.db.compact()).await;
    let after: Vec<_> = (1..=last).map(|i| r.read(i)).collect();
    assert_eq!(after, before, "entries after compaction ({compacted:?})");
    assert_eq!(visible(&r.db), docs);
    let r = r.reopen(Some(last)).await;
    let after: Vec<_> = (1..=last).map(|i| r.read(i)).collect();
    assert_eq!(after, before, "entries after compaction and a reopen");
    assert_eq!(visible(&r.db), docs);
    r.db.close().await.unwrap();
}

#[tokio::test]
async fn a_proposal_takes_writes_up_to_its_budget_and_answers_refused_ones_with_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    insert_one(&mut r, 1, "a", json!({"_id": 1})).await;

    // Four writes queued together: the second conflicts with the applied state.
    let pad = "p".repeat(1000);
    let mut answers = Vec::new();
    for id in [2, 1, 3, 4] {
        let db = r.db.clone();
        let body = json!({"_id": id, "pad": pad});
        answers.push(tokio::spawn(async move {
            db.insert("a", doc(body), WriteOptions::default()).await
        }));
    }
    tokio::task::yield_now().await; // every write is queued
    let batch = within("the queued writes", r.writes.next(16))
        .await
        .unwrap();
    assert_eq!(format!("{batch:?}"), "Batch(4 writes)");
    // A budget the first write stays under and the third reaches: the fourth is left.
    let (first, left) = r.db.prepare_proposal(batch, 1500).unwrap();
    let first = first.expect("writes to propose");
    let left = left.expect("a write left for the next proposal");
    let ids: Vec<(u64, u64)> = first.records.iter().map(|r| (r.id, r.seq)).collect();
    assert_eq!(ids, [(2, 2), (3, 3)]);
    let refused = answers.remove(1);
    assert_eq!(
        r.db.last_seq(),
        1,
        "nothing is visible before it is applied"
    );
    // The refusal waits for the entry (it could rest on a write of the same batch).
    tokio::task::yield_now().await;
    assert!(
        !refused.is_finished(),
        "the refused write was answered before its batch's entry was applied"
    );

    let index = r.next_index();
    r.append(vec![writes_entry(1, index, &first)]).await;
    assert!(r.apply(index));
    first.answer(Ok(true));
    let refused = within("the refused write", refused).await.unwrap();
    assert!(
        matches!(refused, Err(DbError::Conflict { id: 1, .. })),
        "{refused:?}"
    );
    // The write left over is prepared against the state the first entry made.
    let (second, rest) = r.db.prepare_proposal(left, 1500).unwrap();
    assert!(rest.is_none());
    let second = second.unwrap();
    assert_eq!(second.after, index);
    let ids: Vec<(u64, u64)> = second.records.iter().map(|r| (r.id, r.seq)).collect();
    assert_eq!(ids, [(4, 4)]);
    r.append(vec![writes_entry(1, index + 1, &second)]).await;
    assert!(r.apply(index + 1));
    second.answer(Ok(true));
    let mut inserted = Vec::new();
    for answer in answers {
        inserted.push(within("a write", answer).await.unwrap().unwrap());
    }
    assert_eq!(
        inserted,
        [
            Inserted { id: 2, seq: 2 },
            Inserted { id: 3, seq: 3 },
            Inserted { id: 4, seq: 4 }
        ]
    );
    assert_eq!(visible(&r.db).len(), 4);
    r.db.close().await.unwrap();
}
