//! The fixed dataset of the kill tests: about 3.7 MB of writes, and the checks that a
//! database holds exactly it.

use nyro_core::Database;
use serde_json::{Value as Json, json};

use super::W;
use crate::common::*;
use crate::model_support::{Model, check_documents};

/// Version `v` of document `id` of collection `c` in the fixed dataset (about 4 KB).
pub(super) fn kp_doc(c: &str, id: u64, v: u64) -> Json {
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

pub(super) fn dataset_model() -> Model {
    let mut model = Model::default();
    for op in dataset_ops() {
        match op {
            DataOp::InsertMany(c, ids, v) => {
                for id in ids {
                    model.put(c, id, kp_doc(c, id, v));
                }
            }
            DataOp::Replace(c, id, v) => model.put(c, id, kp_doc(c, id, v)),
            DataOp::Delete(c, id) => {
                assert!(model.docs.remove(&(c.to_string(), id)).is_some());
            }
            DataOp::Drop(c) => {
                model.docs.retain(|(coll, _), _| coll != c);
                model.exists.remove(c);
                model.max_id.remove(c);
            }
        }
    }
    model
}

pub(super) async fn write_dataset(db: &Database) {
    db.create_collection("k", &["x".to_string()]).await.unwrap();
    for op in dataset_ops() {
        match op {
            DataOp::InsertMany(c, ids, v) => {
                let docs = ids
                    .iter()
                    .map(|&id| doc_with_id(kp_doc(c, id, v), Some(id)))
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
pub(super) fn check_dataset(db: &Database, model: &Model, step: &str) {
    let names: Vec<String> = db.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["k", "p"], "{step}: collections");
    // `gone` was dropped: it must not come back.
    check_documents(db, model, &["gone", "k", "p"], &[97], step);
    for x in 0..6u64 {
        let want: Vec<u64> = model
            .docs
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
pub(super) async fn check_next_id_and_seq(db: &Database, last_seq: u64, step: &str) {
    let k = db.insert("k", doc(json!({"x": 9})), W).await.unwrap();
    assert_eq!(k.id, 301, "{step}: an id of a deleted document was reused");
    assert!(k.seq > last_seq, "{step}: seq {} after {last_seq}", k.seq);
    let p = db.insert("p", doc(json!({})), W).await.unwrap();
    assert_eq!(p.id, 301, "{step}: an id of a deleted document was reused");
}
