//! kill -9 of the leader under concurrent writes: a new leader is elected, no acknowledged
//! write is lost, and the old leader, restarted, converges with the others. A leader paused
//! with SIGSTOP is replaced; once resumed it answers the write it held and converges.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Cluster, Http, WAIT, wait_until};

/// Client tasks writing at once.
const WRITERS: u64 = 6;
/// Acknowledged writes to see before the kill, and again after the new leader is known.
const ACKS: usize = 60;
/// Ids of writer `w` are `w * ID_SPACE + k + 1` for its `k`-th write.
const ID_SPACE: u64 = 1_000_000;

/// What the writers saw.
#[derive(Debug, Default)]
struct Tally {
    /// Acknowledged writes: id -> the document as stored.
    acked: BTreeMap<u64, Value>,
    /// Writes without a 2xx (refused connection, 503, timeout): applied or not.
    unknown: u64,
    /// Answers no write should get (409: applied twice; 500; 400).
    wrong: Vec<String>,
}

/// Writer `w`: one write after another, each with a given id, through a node picked at
/// random, until `stop`. Even writers PUT, odd ones POST with `_id`.
async fn writer(
    w: u64,
    http: Http,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut random = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut k = 0;
    while !stop.load(Ordering::Acquire) {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let url = &urls[(random % urls.len() as u64) as usize];
        let id = w * ID_SPACE + k + 1;
        let doc = json!({"w": w, "k": k});
        let answer = if w.is_multiple_of(2) {
            let target = format!("{url}/v1/collections/w/records/{id}");
            http.send(Method::PUT, &target, Some(&doc)).await
        } else {
            let body = json!({"_id": id, "w": w, "k": k});
            let target = format!("{url}/v1/collections/w/records");
            http.send(Method::POST, &target, Some(&body)).await
        };
        let failed = {
            let mut tally = tally.lock().unwrap();
            match answer {
                Ok(reply) if reply.is_success() => {
                    tally.acked.insert(id, json!({"_id": id, "w": w, "k": k}));
                    false
                }
                Ok(reply) if reply.status == 503 => {
                    tally.unknown += 1;
                    true
                }
                Ok(reply) => {
                    tally
                        .wrong
                        .push(format!("write of _id {id} via {url}: {reply}"));
                    true
                }
                Err(_) => {
                    tally.unknown += 1;
                    true
                }
            }
        };
        if failed {
            // Not a synchronisation: keeps a writer facing a dead node from spinning.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        k += 1;
    }
}

/// Waits until the writers have `count` acknowledged writes in all.
async fn wait_for_acks(tally: &Mutex<Tally>, count: usize, when: &str) {
    let reached = wait_until(WAIT, async || {
        (tally.lock().unwrap().acked.len() >= count).then_some(())
    })
    .await;
    let tally = tally.lock().unwrap();
    assert!(
        reached.is_some(),
        "{when}: {} acknowledged writes within {WAIT:?}, not {count} ({} unknown, wrong answers: {:?})",
        tally.acked.len(),
        tally.unknown,
        tally.wrong
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_writes_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3).await;
    let old = c.wait_for_leader().await;
    c.put(old, "/v1/collections/w", json!({}))
        .await
        .expect(201, "create");
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let urls: Vec<String> = (0..3).map(|i| c.node(i).url()).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let task = writer(
                w,
                c.http().clone(),
                urls.clone(),
                stop.clone(),
                tally.clone(),
            );
            tokio::spawn(task)
        })
        .collect();

    wait_for_acks(&tally, ACKS, "before the kill").await;
    c.kill9(old);
    let new = c.wait_for_leader().await;
    assert_ne!(new, old, "the killed node is still the leader");
    let acked = tally.lock().unwrap().acked.len();
    wait_for_acks(&tally, acked + ACKS, "under the new leader").await;
    stop.store(true, Ordering::Release);
    for task in writers {
        task.await.unwrap();
    }

    c.restart(old).await;
    c.wait_for_leader().await;
    c.assert_converged().await;
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    assert!(tally.wrong.is_empty(), "wrong answers: {:#?}", tally.wrong);
    for i in 0..3 {
        let stored = c.assert_holds(i, "w", &tally.acked).await;
        for (id, doc) in &stored {
            if !tally.acked.contains_key(id) {
                // An unacknowledged write that was applied: one a writer sent, as sent.
                let (w, k) = (id / ID_SPACE, id % ID_SPACE - 1);
                assert_eq!(
                    doc,
                    &json!({"_id": id, "w": w, "k": k}),
                    "node {}",
                    c.node(i).id()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_its_late_write_is_answered_once() {
    let mut c = Cluster::start(3).await;
    let old = c.wait_for_leader().await;
    let records = "/v1/collections/w/records";
    c.put(old, &format!("{records}/1"), json!({"v": 1}))
        .await
        .expect(200, "put");

    // SIGSTOP: the leader keeps its port but answers nothing; a write sent to it waits.
    c.stop(old);
    let url = format!("{}{records}/2", c.node(old).url());
    let patient = Http::new(WAIT);
    let late = tokio::spawn(async move {
        patient
            .send(Method::PUT, &url, Some(&json!({"v": 2})))
            .await
    });
    let new = c.wait_for_leader().await;
    assert_ne!(new, old, "the paused node is still the leader");
    c.put(new, &format!("{records}/3"), json!({"v": 3}))
        .await
        .expect(200, "put under the new leader");

    // SIGCONT: the deposed leader answers the write it held (applied, or 503), and rejoins.
    c.cont(old);
    let answer = late
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the write sent to the paused leader: {e}"));
    assert!(
        answer.is_success() || answer.status == 503,
        "the write sent to the paused leader: {answer}"
    );
    c.wait_for_leader().await;
    c.assert_converged().await;
    for i in 0..3 {
        let stored = c.records(i, "w").await;
        assert_eq!(
            stored.get(&3),
            Some(&json!({"_id": 3, "v": 3})),
            "node {}",
            c.node(i).id()
        );
        if answer.is_success() {
            let two = stored.get(&2);
            assert_eq!(
                two,
                Some(&json!({"_id": 2, "v": 2})),
                "node {}",
                c.node(i).id()
            );
        }
    }
}
