//! A list taken while a replica applies entries shows each write whole or not at all
//! (the chaos harness of issue 16 found a `local` list on a cluster node showing one
//! document of a bulk of three).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nyro_core::WriteOptions;
use serde_json::json;

use super::support::*;
use crate::common::*;

const GROUP: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_never_shows_part_of_an_applied_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Replica::open(replica_config(dir.path()), None).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, done) = (r.db.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut pages = 0;
            while !done.load(Ordering::Acquire) {
                if let Ok(page) = db.list("bulks", None, 10_000) {
                    assert_eq!(
                        page.records.len() % GROUP,
                        0,
                        "a list shows part of a bulk: {} documents",
                        page.records.len()
                    );
                    pages += 1;
                }
            }
            pages
        })
    };
    for g in 0..100 {
        r.commit(1, move |db| async move {
            let docs = (0..GROUP).map(|n| doc(json!({"g": g, "n": n}))).collect();
            db.insert_many("bulks", docs, WriteOptions::default()).await
        })
        .await
        .expect("bulk");
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0, "the reader never listed");
}
