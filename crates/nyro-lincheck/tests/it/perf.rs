//! How long a realistic history takes: printed (run with `--nocapture`), never asserted.

use std::time::{Duration, Instant};

use nyro_lincheck::{Register, Verdict, check};

use crate::sim::simulate;

#[test]
fn two_thousand_operations_by_eight_clients_on_one_key() {
    for seed in [1u64, 2, 3] {
        let history = simulate(seed, 8, 2000, 5);
        let unknown = history.iter().filter(|op| !op.returned()).count();
        let started = Instant::now();
        let verdict = check(&Register, &history, Duration::from_secs(120));
        let took = started.elapsed();
        println!(
            "seed {seed}: {} operations, {unknown} of unknown outcome, 8 clients: {verdict:?} in {took:?}",
            history.len()
        );
        assert_eq!(verdict, Ok(Verdict::Linearizable));
    }
}
