//! A write refused while its batch is prepared is answered with the batch's entry, not
//! before: a refusal may rest on an earlier write of the same batch, which is a fact only
//! once the entry is applied. The chaos harness of issue 16 found the leader answering a
//! create 409 for an id a put of the same batch was writing, while a linearizable read
//! still found nothing.

use std::time::Duration;

use nyro_core::{DbError, WriteOptions};
use serde_json::json;

use super::support::*;
use crate::common::*;

/// Queues a put of id 5 and then a create of id 5 in one batch; returns the proposal and
/// the create's answer to come.
async fn put_then_create(
    r: &mut Replica,
) -> (
    nyro_core::replica::PreparedProposal,
    tokio::task::JoinHandle<nyro_core::Result<nyro_core::Inserted>>,
) {
    let db = r.db.clone();
    let put = tokio::spawn(async move {
        db.replace("c", 5, doc(json!({"v": 1})), WriteOptions::default())
            .await
    });
    let db = r.db.clone();
    let create = tokio::spawn(async move {
        db.insert("c", doc(json!({"_id": 5, "v": 2})), WriteOptions::default())
            .await
    });
    // The test's runtime has one thread and runs spawned tasks in order: the put queues
    // first, then the create, while this task waits.
    tokio::task::yield_now().await;
    let batch = within("the queued writes", r.writes.next(16))
        .await
        .expect("the queue is open");
    let (proposal, left) = r.db.prepare_proposal(batch, usize::MAX).unwrap();
    assert!(left.is_none());
    drop(put);
    (proposal.expect("the put has records"), create)
}

#[tokio::test]
async fn a_create_refused_for_an_id_its_batch_writes_waits_for_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    let (proposal, mut create) = put_then_create(&mut r).await;
    // Not answered while the entry is not applied.
    let early = tokio::time::timeout(Duration::from_millis(200), &mut create).await;
    assert!(
        early.is_err(),
        "the refusal was answered before the entry: {early:?}"
    );
    let index = r.next_index();
    r.append(vec![writes_entry(1, index, &proposal)]).await;
    assert!(r.apply(index));
    proposal.answer(Ok(true));
    let answer = within("the create's answer", create).await.unwrap();
    assert!(
        matches!(answer, Err(DbError::Conflict { .. })),
        "once applied, the create is refused for the id the put wrote: {answer:?}"
    );
}

#[tokio::test]
async fn a_refusal_whose_entry_is_void_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    let (proposal, create) = put_then_create(&mut r).await;
    proposal.answer(Ok(false));
    let answer = within("the create's answer", create).await.unwrap();
    assert!(
        matches!(answer, Err(DbError::NoQuorum { .. })),
        "the put it conflicted with never happened: {answer:?}"
    );
}
