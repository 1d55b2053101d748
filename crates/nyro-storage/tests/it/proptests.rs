//! Model test: random sequences of appends (1..50 records of 0..2000 bytes), syncs, seals and
//! reopens on a log with small segments. After every step every acknowledged record reads
//! back byte-identical at its location and iteration yields exactly the model, in order; a
//! reopen finds exactly the model's frames and no torn tail.

use nyro_storage::{Log, SEGMENT_HEADER_LEN};
use proptest::prelude::*;

use crate::common::{Model, opts, owned};

const SEGMENT_SIZE: u64 = 4096;

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<usize>),
    Sync,
    Seal,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(0usize..2000, 1..50).prop_map(Op::Append),
        1 => Just(Op::Sync),
        1 => Just(Op::Seal),
        2 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_log_matches_its_model(ops in prop::collection::vec(op(), 1..16)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
        let mut model = Model::default();
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Append(sizes) => {
                    let segments = log.reader().segments();
                    let active = segments.last().unwrap();
                    let batch: Vec<_> = sizes.iter().map(|&n| { seq += 1; owned(seq, n) }).collect();
                    let locs = model.append(&mut log, &batch);
                    // A batch goes whole into one segment: the active one, or a new one if
                    // the active one was full.
                    let expected = if active.bytes >= SEGMENT_SIZE {
                        (active.id + 1, SEGMENT_HEADER_LEN as u64)
                    } else {
                        (active.id, active.bytes)
                    };
                    prop_assert_eq!((locs[0].segment, locs[0].offset), expected);
                    prop_assert!(locs.iter().all(|l| l.segment == locs[0].segment));
                }
                Op::Sync => {
                    log.sync().unwrap();
                    prop_assert_eq!(log.unsynced_bytes(), 0);
                }
                Op::Seal => {
                    let before = log.reader().segments().len();
                    log.seal().unwrap();
                    prop_assert_eq!(log.reader().segments().len(), before + 1);
                }
                Op::Reopen => {
                    let segments = log.reader().segments();
                    drop(log);
                    log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
                    let report = log.recovery();
                    prop_assert_eq!(report.frames, model.entries.len() as u64);
                    prop_assert_eq!(report.max_seq, model.max_seq());
                    prop_assert_eq!(report.segments, segments.len());
                    prop_assert_eq!(&report.torn_tail, &None);
                    prop_assert_eq!(log.reader().segments(), segments);
                }
            }
            model.check(log.reader());
        }
        drop(log);
        let log = Log::open(dir.path(), opts(SEGMENT_SIZE)).unwrap();
        prop_assert_eq!(log.recovery().frames, model.entries.len() as u64);
        model.check(log.reader());
    }
}
