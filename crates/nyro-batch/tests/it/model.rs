//! A model test: random submits (single and bulk, insert-only or upsert, alone or lined up
//! into one batch) with injected write failures; the visible state must always equal a
//! model that applied exactly the acknowledged requests, and so must the log after reopen.

use std::collections::BTreeMap;
use std::io;

use nyro_batch::{SyncPolicy, WriteError};
use nyro_storage::WriteFault;
use proptest::prelude::*;

use crate::common::*;

type Model = BTreeMap<u64, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    /// One request on its own.
    Submit(Req, bool),
    /// Several requests lined up into one batch, in this order.
    Batch(Vec<Req>),
    /// Writes start failing.
    Fail(WriteFault),
    /// The cause is gone.
    Clear,
}

fn req() -> impl Strategy<Value = Req> {
    let value = prop::collection::vec(any::<u8>(), 0..6);
    let puts = prop::collection::vec((0..6u64, value), 1..4);
    (puts, any::<bool>()).prop_map(|(puts, insert_only)| {
        let puts: Vec<(u64, &[u8])> = puts.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        Req::bulk(&puts, insert_only)
    })
}

fn step() -> impl Strategy<Value = Step> {
    let fault = prop_oneof![
        Just(WriteFault::Fail(io::ErrorKind::StorageFull)),
        Just(WriteFault::Fail(io::ErrorKind::Other)),
        (1..80usize).prop_map(|bytes| WriteFault::ShortThenFail {
            bytes,
            kind: io::ErrorKind::StorageFull
        }),
    ];
    prop_oneof![
        6 => (req(), any::<bool>()).prop_map(|(r, sync)| Step::Submit(r, sync)),
        3 => prop::collection::vec(req(), 2..6).prop_map(Step::Batch),
        1 => fault.prop_map(Step::Fail),
        1 => Just(Step::Clear),
    ]
}

/// What the writer must answer for `reqs` written as one batch (in order) onto `model`,
/// whose last seq is `seq`; `Err(None)` stands for a failed write. Updates `model` and
/// `seq` with what is acknowledged.
fn expect(
    model: &mut Model,
    seq: &mut u64,
    reqs: &[Req],
    failing: bool,
) -> Vec<Result<u64, Option<Rejection>>> {
    let mut tentative = model.clone();
    let mut next = *seq;
    let mut out = Vec::new();
    for req in reqs {
        let mut seen = std::collections::BTreeSet::new();
        let clash = req
            .puts
            .iter()
            .find(|(k, _)| req.insert_only && (tentative.contains_key(k) || !seen.insert(*k)));
        if let Some((k, _)) = clash {
            out.push(Err(Some(Rejection::Exists(*k))));
            continue;
        }
        out.push(if failing { Err(None) } else { Ok(next + 1) });
        next += req.puts.len() as u64;
        for (k, v) in &req.puts {
            tentative.insert(*k, v.clone());
        }
    }
    if !failing {
        *model = tentative;
        *seq = next;
    }
    out
}

fn classify(answer: Answer) -> Result<u64, Option<Rejection>> {
    match answer {
        Ok(seq) => Ok(seq),
        Err(WriteError::Rejected(r)) => Err(Some(r)),
        Err(WriteError::Failed(_)) => Err(None),
        Err(other) => panic!("unexpected answer {other}"),
    }
}

async fn run(policy: SyncPolicy, steps: Vec<Step>) {
    let h = start(config(policy));
    let mut model = Model::new();
    let mut failing = false;
    let mut last_seq = 0;
    for step in steps {
        let (reqs, answers) = match step {
            Step::Fail(fault) => {
                h.io.fail_writes(fault);
                failing = true;
                continue;
            }
            Step::Clear => {
                h.io.clear();
                failing = false;
                continue;
            }
            Step::Submit(req, sync) => {
                let answer = within("an answer", h.handle.submit_req(req.clone(), sync)).await;
                (vec![req], vec![answer])
            }
            Step::Batch(reqs) => {
                let answers = submit_one_batch(&h, reqs.clone()).await;
                (reqs, answers)
            }
        };
        let expected = expect(&mut model, &mut last_seq, &reqs, failing);
        let got: Vec<_> = answers.into_iter().map(classify).collect();
        assert_eq!(got, expected, "answers to {reqs:?}");
        assert_eq!(h.probe.map(), model, "visible state after {reqs:?}");
        assert_eq!(load(&h.probe.seq), last_seq, "seq counter after {reqs:?}");
    }
    h.io.clear();
    within("close", h.handle.close()).await.unwrap();
    drop(h.reader);
    let log = reopen(h.dir.path()).await;
    assert_eq!(log.recovery().torn_tail, None);
    let records = log_records(log.reader());
    // Failed batches left no bytes and gave their seqs back: the log holds seqs 1..=n.
    let seqs: Vec<u64> = records.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>());
    assert_eq!(replay(&records), model);
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn writer_matches_a_model(policy in any_policy(), steps in prop::collection::vec(step(), 1..30)) {
        block_on(run(policy, steps));
    }
}
