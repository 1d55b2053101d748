//! A seeded simulation of the Raft layer: 3 or 5 real `nyro_raft::Node`s (real log store,
//! state machine, snapshots, proposer and read barrier over real data directories) in one
//! process, joined by a simulated network (`net`) that drops, delays, partitions and cuts
//! one way, with nodes stopped and started again on their directory. A seed gives a
//! schedule (`schedule`) of client operations and faults; each runs on a tokio runtime of
//! its own whose clock is paused (it jumps to the next timer whenever every task waits),
//! so a schedule of seconds of cluster time takes a fraction of that. The history is
//! checked per key for linearizability (nyro-lincheck), and once healed every node must
//! hold the same documents and a final read of each key must agree with them.
//!
//! `NYRODB_SIM_SEEDS=N` runs seeds 1..=N (default 20); `NYRODB_SIM_SEED=S` replays one
//! seed and prints its schedule and history.

mod client;
mod cluster;
mod net;
mod run;
mod schedule;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use self::run::Outcome;
use self::schedule::Schedule;

/// Schedules run by default (the normal test run).
const DEFAULT_SEEDS: u64 = 20;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

/// How far the paused clock moves at each tick.
const TICK: Duration = Duration::from_millis(1);
/// How long a tick takes on the wall clock.
const TICK_WALL: Duration = Duration::from_micros(50);

/// Moves the paused clock by [`TICK`] every [`TICK_WALL`] of wall time, for ever. The
/// runtime is never idle while this task runs, so tokio never jumps the clock to the
/// next timer: a node waiting for its database's writer thread (or a blocking task) sees
/// time pass at 20 times the wall clock's pace, not leap to its next timeout.
async fn tick() {
    loop {
        std::thread::sleep(TICK_WALL);
        tokio::time::advance(TICK).await;
    }
}

/// Plays the schedule of `seed` on a runtime of its own with a paused clock.
fn play(seed: u64) -> Result<Outcome, String> {
    let schedule = Schedule::of(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let clock = tokio::spawn(tick());
            let outcome = run::run(&schedule).await;
            clock.abort();
            outcome
        })
    }));
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(format!("{e:#}\n{schedule}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {message}\n{schedule}"))
        }
    }
}

#[test]
fn sim_seeded_schedules_are_linearizable_and_converge() {
    let seeds: Vec<u64> = match env_u64("NYRODB_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (1..=env_u64("NYRODB_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    };
    let replay = seeds.len() == 1;
    let started = Instant::now();
    let (mut checked, mut unknown, mut local, mut undecided) = (0, 0, 0, 0);
    let mut simulated = Duration::ZERO;
    let mut failures = Vec::new();
    for &seed in &seeds {
        match play(seed) {
            Ok(outcome) => {
                if replay {
                    println!("{}history:\n{}", Schedule::of(seed), outcome.history);
                }
                checked += outcome.checked;
                unknown += outcome.unknown;
                local += outcome.local;
                undecided += outcome.undecided;
                simulated += outcome.simulated;
            }
            Err(failure) => {
                eprintln!("seed {seed} FAILED (replay: NYRODB_SIM_SEED={seed}): {failure}");
                failures.push(seed);
            }
        }
    }
    let wall = started.elapsed();
    let per_minute = seeds.len() as f64 * 60.0 / wall.as_secs_f64().max(1e-3);
    println!(
        "simulation: {} schedules in {:.1} s ({per_minute:.0} per minute), {:.0} s of cluster \
         time; {checked} operations checked ({unknown} of unknown outcome), {local} local \
         reads, {undecided} keys undecided; failed seeds: {failures:?}",
        seeds.len(),
        wall.as_secs_f64(),
        simulated.as_secs_f64(),
    );
    assert!(failures.is_empty(), "failed seeds: {failures:?}");
    assert!(checked > 0, "no operation was checked");
}
