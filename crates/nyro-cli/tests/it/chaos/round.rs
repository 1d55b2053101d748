//! One round: clients run against the cluster, the nemesis injects a fault and heals it,
//! the clients stop, a final `linearizable` read of every key joins the history, the nodes
//! must converge (data and change feeds), and the history is checked. The history and the
//! nemesis's steps are written to the cluster's directory first, which a failing round
//! keeps (with every node's data and log) for replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::checks::{Findings, check};
use super::history::{Call, Consistency, Outcome, Recorder};
use super::nemesis::{Kind, Nemesis};
use super::workload::{Keys, Target, client, perform};
use super::{FINAL_CLIENT, PROBER, Run};
use crate::cluster::{Cluster, Http, Network, REQUEST_TIMEOUT, Rng};

/// Client tasks per round.
const CLIENTS: u64 = 6;
/// Register keys per round.
const REGISTERS: u64 = 12;
/// Attempts at each final read.
const FINAL_ATTEMPTS: u32 = 50;
/// Final reads in flight at once.
const FINAL_READERS: usize = 16;

/// Runs round `round` of `run` with a fault of `kind`; what its checks found, or a panic
/// naming what failed and where the evidence is kept.
pub async fn run_round(
    c: &mut Cluster,
    network: &Network,
    rng: &mut Rng,
    run: &Run,
    round: u64,
    kind: Kind,
) -> Findings {
    let http = Http::new(REQUEST_TIMEOUT);
    let recorder = Recorder::new();
    let keys = Arc::new(Keys::for_round(round, REGISTERS));
    let leader = c.wait_for_leader().await;
    let targets = running_targets(c);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let task = client(
                id,
                rng.fork(),
                http.clone(),
                targets.clone(),
                Arc::clone(&keys),
                recorder.clone(),
                Arc::clone(&stop),
            );
            tokio::spawn(task)
        })
        .collect();

    tokio::time::sleep(rng.millis(300, 800)).await;
    let hold = rng.millis(1500, 3500);
    let prober = (kind == Kind::PauseLeader).then(|| {
        let paused = targets
            .iter()
            .find(|t| t.id == c.node(leader).id())
            .cloned();
        let others = targets
            .iter()
            .filter(|t| t.id != c.node(leader).id())
            .cloned()
            .collect();
        let key = keys.registers[rng.index(keys.registers.len())];
        probe_paused_leader(
            http.clone(),
            paused.unwrap(),
            others,
            key,
            recorder.clone(),
            keys.value(),
        )
    });
    let effects = {
        let mut nemesis = Nemesis::new(c, network, &recorder, rng);
        nemesis.inject(kind, leader, hold).await;
        let prober = prober.map(tokio::spawn);
        if kind != Kind::SnapshotRestart {
            tokio::time::sleep(hold).await;
        }
        nemesis.heal().await;
        if let Some(prober) = prober {
            prober.await.unwrap();
        }
        nemesis.effects
    };
    tokio::time::sleep(rng.millis(1000, 1500)).await;
    stop.store(true, Ordering::Release);
    for task in clients {
        task.await.unwrap();
    }

    c.wait_for_leader().await;
    final_reads(c, &http, &keys, &recorder, rng).await;
    let events = recorder.events();
    let saved = c.dir().join(format!("round-{round}.json"));
    let record = json!({
        "seed": run.seed, "round": round, "kind": kind, "nodes": c.running_members().len(),
        "steps": recorder.steps(), "events": events,
    });
    std::fs::write(&saved, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    c.assert_converged().await;
    let bound = c.answer_bound(Duration::from_secs(3));
    match check(&events, &keys, &effects, bound) {
        Ok(findings) => {
            let _ = std::fs::remove_file(&saved);
            findings
        }
        Err(why) => panic!(
            "round {round} ({}, seed {}) failed its checks: {why}\nits history and nemesis \
             steps: {} (kept with every node's data and log)",
            kind.name(),
            run.seed,
            saved.display()
        ),
    }
}

/// The running members, as the clients reach them.
fn running_targets(c: &Cluster) -> Vec<Target> {
    c.running_members()
        .into_iter()
        .map(|i| Target {
            id: c.node(i).id(),
            url: c.node(i).url(),
        })
        .collect()
}

/// A `linearizable` read of every key the round wrote, on a random running member each,
/// retried until answered, [`FINAL_READERS`] at a time; recorded as clients of their own.
async fn final_reads(c: &Cluster, http: &Http, keys: &Keys, recorder: &Recorder, rng: &mut Rng) {
    let events = recorder.events();
    let mut written: Vec<u64> = keys.registers.clone();
    for event in &events {
        if let Call::Bulk { keys: ids, .. } = &event.call {
            written.extend(ids);
        }
    }
    let members = running_targets(c);
    let readers = Arc::new(tokio::sync::Semaphore::new(FINAL_READERS));
    let mut reads = tokio::task::JoinSet::new();
    for (n, key) in written.into_iter().enumerate() {
        let (http, recorder, readers) = (http.clone(), recorder.clone(), Arc::clone(&readers));
        let (members, mut rng) = (members.clone(), rng.fork());
        reads.spawn(async move {
            let _turn = readers.acquire().await.unwrap();
            let call = Call::Read {
                key,
                consistency: Consistency::Linearizable,
            };
            for _attempt in 0..FINAL_ATTEMPTS {
                let target = &members[rng.index(members.len())];
                let client = FINAL_CLIENT + n as u64;
                let event = perform(&http, client, target, call.clone(), &recorder).await;
                if matches!(event.outcome, Outcome::Value(_) | Outcome::Wrong(_)) {
                    recorder.push(event);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no node answered a linearizable read of key {key} after the heal");
        });
    }
    while let Some(read) = reads.join_next().await {
        read.unwrap();
    }
}

/// While the leader (`paused`, index) is stopped: waits until another member names a new
/// leader, writes a fresh value to a register key through it and, once that write is
/// acknowledged, sends a `lease` and a `linearizable` read of the key to the paused node.
/// Those reads wait in its socket until it wakes up believing it still leads; answering
/// either with the value from before the write is a stale read the checker reports.
pub async fn probe_paused_leader(
    http: Http,
    paused: Target,
    others: Vec<Target>,
    key: u64,
    recorder: Recorder,
    value: u64,
) {
    let mut new_leader = None;
    for _poll in 0..100 {
        for other in &others {
            let url = format!("{}/v1/cluster", other.url);
            if let Ok(reply) = http.send(reqwest::Method::GET, &url, None).await
                && let Some(id) = reply.body["leader_id"].as_u64()
                && id != paused.id
            {
                new_leader = others.iter().find(|t| t.id == id).cloned();
            }
        }
        if new_leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(leader) = new_leader else {
        recorder.step("prober: no new leader while the old one was paused");
        return;
    };
    let write = perform(&http, PROBER, &leader, Call::Put { key, value }, &recorder).await;
    let acknowledged = write.outcome == Outcome::Ok;
    recorder.push(write);
    if !acknowledged {
        return;
    }
    let reads = [Consistency::Lease, Consistency::Linearizable].map(|consistency| {
        let (http, paused, recorder) = (http.clone(), paused.clone(), recorder.clone());
        let call = Call::Read { key, consistency };
        tokio::spawn(async move {
            let client = PROBER + 1 + consistency as u64;
            let event = perform(&http, client, &paused, call, &recorder).await;
            recorder.push(event);
        })
    });
    for read in reads {
        let _ = read.await;
    }
}
