//! A leader paused with SIGSTOP and replaced wakes up believing it still leads: a `lease`
//! read it held while paused must not answer from its stale state. The schedule the chaos
//! harness of issue 16 failed on (round "pause leader": a write acknowledged by the new
//! leader, then a `lease` read sent to the paused one answered the value from before it),
//! replayed step by step.

use reqwest::Method;
use serde_json::json;

use crate::cluster::{Cluster, Http, WAIT};

/// Times the schedule is played (the stale answer depended on which task ran first once
/// the process resumed).
const ATTEMPTS: usize = 3;
/// Lease reads held by the paused leader at each attempt.
const HELD: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_never_answers_a_lease_read_from_stale_state() {
    let mut c = Cluster::start(3).await;
    let path = "/v1/collections/l/records/1";
    for attempt in 0..ATTEMPTS {
        let old = c.wait_for_leader().await;
        let before = json!({"v": attempt * 2});
        c.put(old, path, before.clone()).await.expect(200, "put");
        // A lease read while it leads: its lease is fresh.
        let read = c.get(old, &format!("{path}?consistency=lease")).await;
        assert_eq!(read.expect(200, "lease read")["v"], before["v"]);

        c.stop(old);
        let new = c.wait_for_leader().await;
        assert_ne!(new, old, "the paused node is still the leader");
        let after = json!({"v": attempt * 2 + 1});
        c.put(new, path, after.clone())
            .await
            .expect(200, "put under the new leader");
        // Sent once the write is acknowledged; held in the paused node's socket.
        let url = format!("{}{path}?consistency=lease", c.node(old).url());
        let patient = Http::new(WAIT);
        let held: Vec<_> = (0..HELD)
            .map(|_| {
                let (patient, url) = (patient.clone(), url.clone());
                tokio::spawn(async move { patient.send(Method::GET, &url, None).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        c.cont(old);
        for read in held {
            let answer = read
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("a lease read held by the paused leader: {e}"));
            assert!(
                answer.status == 503 || answer.body["v"] == after["v"],
                "attempt {attempt}: the woken leader answered a lease read with {answer}, \
                 though {after} was acknowledged before the read was sent"
            );
        }
        c.wait_for_leader().await;
    }
}
