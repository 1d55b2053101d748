//! Callers on many tasks and plain threads at once, leading and following: every request
//! is answered exactly once, commit order is prepare order, and the log holds exactly what
//! a model of each caller's own sequence of writes says (random interleavings of writes,
//! flushes and seals under every policy and small batch sizes).

use std::collections::BTreeMap;
use std::time::Duration;

use nyro_batch::{BatchConfig, SyncPolicy, WriterHandle};
use proptest::prelude::*;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    Put { key: u64, value: u8, sync: bool },
    Flush,
    Seal,
}

/// What one caller saw: `(seq, key, value)` of each acknowledged put, and its seals.
type Seen = (Vec<(u64, u64, Vec<u8>)>, usize);

/// Runs `ops` one after another on one caller; keys are offset into its own range.
async fn caller(handle: WriterHandle<KvApplier>, id: u64, ops: Vec<Op>) -> Seen {
    let mut puts = Vec::new();
    let mut seals = 0;
    for op in ops {
        match op {
            Op::Put { key, value, sync } => {
                let key = id * 1_000 + key;
                let seq = handle.submit_req(Req::put(key, &[value]), sync).await;
                puts.push((seq.unwrap(), key, vec![value]));
            }
            Op::Flush => handle.flush().await.unwrap(),
            Op::Seal => {
                handle.seal().await.unwrap();
                seals += 1;
            }
        }
    }
    (puts, seals)
}

/// Starts `callers` (a list of op sequences) alternately as tokio tasks and as plain
/// threads driving their submits with `Handle::block_on`, and collects what each saw.
async fn run_callers(h: &Harness, callers: Vec<Vec<Op>>) -> Vec<Seen> {
    let runtime = tokio::runtime::Handle::current();
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    for (id, ops) in callers.into_iter().enumerate() {
        let run = caller(h.handle.clone(), id as u64, ops);
        if id % 2 == 0 {
            tasks.push(tokio::spawn(run));
        } else {
            let runtime = runtime.clone();
            threads.push(std::thread::spawn(move || runtime.block_on(run)));
        }
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(within("a task", task).await.unwrap());
    }
    for thread in threads {
        wait_until("a thread ends", || thread.is_finished()).await;
        seen.push(thread.join().unwrap());
    }
    seen
}

/// Checks what the callers saw against the writer's state and its log: each answered
/// once, one caller's writes in its order, seqs 1..=n, commit order = prepare order, the
/// visible state and the log both equal to the model.
fn check(h: &Harness, seen: &[Seen]) -> Vec<(u64, u64, Vec<u8>)> {
    let mut model = BTreeMap::new();
    let mut answered = Vec::new();
    for (puts, _) in seen {
        assert!(puts.windows(2).all(|w| w[0].0 < w[1].0), "{puts:?}");
        for (seq, key, value) in puts {
            model.insert(*key, value.clone());
            answered.push((*seq, *key, value.clone()));
        }
    }
    answered.sort();
    let seqs: Vec<u64> = answered.iter().map(|a| a.0).collect();
    assert_eq!(seqs, (1..=answered.len() as u64).collect::<Vec<_>>());
    let commits = h.probe.commits.lock().unwrap().clone();
    assert_eq!(commits, seqs, "commit order is seq order");
    assert_eq!(*h.probe.prepared.lock().unwrap(), commits, "prepare order");
    assert_eq!(h.probe.map(), model);
    let records = log_records(&h.reader);
    assert_eq!(
        records, answered,
        "the log holds exactly the answered writes"
    );
    let m = h.handle.metrics();
    assert_eq!(m.batch_records.sum(), answered.len() as u64);
    assert_eq!(m.batch_records.count(), load(&m.batches));
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn concurrent_callers_on_tasks_and_threads_form_batches_in_order() {
    for policy in [
        SyncPolicy::Never,
        SyncPolicy::Interval(Duration::from_millis(3)),
    ] {
        let h = start(config(policy));
        // Hold the first leader so that the others queue behind it: a batch forms for sure.
        h.probe.gate.close();
        let callers: Vec<Vec<Op>> = (0..8)
            .map(|c| {
                (0..150)
                    .map(|i| Op::Put {
                        key: i,
                        value: (i % 251) as u8,
                        sync: c == 3 && i % 50 == 0,
                    })
                    .collect()
            })
            .collect();
        let probe = std::sync::Arc::clone(&h.probe);
        let handle = h.handle.clone();
        let opener = tokio::spawn(async move {
            wait_until("a leader and its followers", || {
                probe.gate.waiting() == 1 && handle.queued() >= 3
            })
            .await;
            probe.gate.open();
        });
        let seen = run_callers(&h, callers).await;
        within("the opener", opener).await.unwrap();
        let answered = check(&h, &seen);
        assert_eq!(answered.len(), 8 * 150);
        let m = h.handle.metrics();
        let batches = load(&m.batches);
        assert!(batches < 8 * 150, "no batching: {batches} batches");
        assert!(load(&m.caller_batches) >= 1, "no caller led");
        assert!(load(&m.caller_batches) <= batches);
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..4u64, any::<u8>(), prop::bool::weighted(0.15))
            .prop_map(|(key, value, sync)| Op::Put { key, value, sync }),
        1 => Just(Op::Flush),
        1 => Just(Op::Seal),
    ]
}

async fn run_model(policy: SyncPolicy, batch_size: usize, callers: Vec<Vec<Op>>) {
    let h = start(BatchConfig {
        sync: policy,
        batch_size,
        ..BatchConfig::default()
    });
    let seen = run_callers(&h, callers).await;
    let answered = check(&h, &seen);
    let seals: usize = seen.iter().map(|s| s.1).sum();
    assert_eq!(h.reader.segments().len(), 1 + seals, "one segment per seal");
    assert_eq!(h.handle.queued(), 0);
    within("close", h.handle.close()).await.unwrap();
    assert!(h.thread.join());
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log.recovery().torn_tail, None);
    assert_eq!(log_records(log.reader()), answered);
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn interleaved_callers_match_a_model(
        policy in any_policy(),
        batch_size in 1..5usize,
        callers in prop::collection::vec(prop::collection::vec(op(), 0..20), 2..5),
    ) {
        block_on(run_model(policy, batch_size, callers));
    }
}
