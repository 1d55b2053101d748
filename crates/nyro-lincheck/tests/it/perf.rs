//! How long realistic histories take: printed (run with `--nocapture`), never asserted.

use std::time::{Duration, Instant};

use nyro_lincheck::{Register, RegisterInput as I, RegisterOutput as O, Verdict, check};

use crate::sim::{RegisterOp, simulate};

fn timed(label: &str, history: &[RegisterOp]) -> Verdict {
    let unknown = history.iter().filter(|op| !op.returned()).count();
    let started = Instant::now();
    let verdict = match check(&Register, history, Duration::from_secs(120)) {
        Ok(verdict) => verdict,
        Err(e) => panic!("{label}: {e}"),
    };
    let shown = match &verdict {
        Verdict::Violation(v) => format!("violation after {} placed", v.prefix.len()),
        other => format!("{other:?}"),
    };
    println!(
        "{label}: {} operations, {unknown} of unknown outcome: {shown} in {:?}",
        history.len(),
        started.elapsed()
    );
    verdict
}

#[test]
fn two_thousand_operations_by_eight_clients_on_one_key() {
    for (percent, label) in [(5, "5% of writes unknown"), (100, "every write unknown")] {
        for seed in [1u64, 2, 3] {
            let history = simulate(seed, 8, 2000, percent);
            let verdict = timed(&format!("8 clients, {label}, seed {seed}"), &history);
            assert_eq!(verdict, Verdict::Linearizable);
        }
    }
}

#[test]
fn proving_a_violation_in_the_middle_of_a_history() {
    for seed in [1u64, 2, 3] {
        let mut history = simulate(seed, 8, 300, 5);
        let n = history.len();
        let Some(read) = (n / 2..n).find(|&i| history[i].input == I::Read && history[i].returned())
        else {
            continue;
        };
        history[read].output = O::Value(Some(u64::MAX));
        let verdict = timed(
            &format!("a read of a value never written, seed {seed}"),
            &history,
        );
        assert!(verdict.violation().is_some(), "{verdict:?}");
    }
}
