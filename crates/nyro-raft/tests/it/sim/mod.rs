//! A seeded simulation of the Raft layer: 3 or 5 real `nyro_raft::Node`s (real log store,
//! state machine, snapshots, proposer and read barrier over real data directories) in one
//! process, joined by a simulated network (`net`) that drops, delays, partitions and cuts
//! one way, with nodes stopped and started again on their directory. A seed gives a
//! schedule (`schedule`) of client operations and faults; each runs on a single-threaded
//! tokio runtime of its own whose clock is paused and moved forward by a ticking task
//! ([`tick`]), so a schedule of seconds of cluster time takes a fraction of that. The
//! history is checked per key for linearizability (nyro-lincheck), and once healed every
//! node must hold the same documents and a final read of each key must agree with them.
//!
//! The schedule is a function of the seed; its run is not: the database's writer thread,
//! blocking tasks and the ticking clock race on the wall clock, and openraft draws its
//! election timeouts from an unseeded generator. A replay plays the same steps at the same
//! times of the simulated clock, on a cluster that may answer them differently.
//!
//! `NYRODB_SIM_SEEDS=N` runs seeds 1..=N (default 20); `NYRODB_SIM_SEED=S` replays one
//! seed and prints its schedule and history (with `NYRODB_SIM_SEEDS=N` too: plays it N
//! times and counts the distinct histories, which measures how reproducible a run is);
//! `NYRODB_SIM_TICK_MS` sets how far the clock moves per tick (see [`tick`]).

mod client;
mod cluster;
mod net;
mod regression;
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

/// How far the paused clock moves at each tick, by default (`NYRODB_SIM_TICK_MS`).
const TICK_MS: u64 = 5;
/// How long a tick sleeps on the wall clock (about 0.1 ms with the kernel's timer slack).
const TICK_WALL: Duration = Duration::from_micros(50);

/// Moves the paused clock by `tick` after each [`TICK_WALL`] of wall time, for ever. The
/// runtime is never idle while this task runs, so tokio never jumps the clock to the
/// next timer: a node waiting for its database's writer thread (or a blocking task) sees
/// time pass at some 50 times the wall clock's pace (5 ms a tick), not leap to its next
/// timeout. Timers fire at the first tick at or after their deadline.
async fn tick(tick: Duration) {
    loop {
        std::thread::sleep(TICK_WALL);
        tokio::time::advance(tick).await;
    }
}

/// Plays `schedule` on a runtime of its own with a paused clock.
fn play(schedule: &Schedule, tick_every: Duration) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let clock = tokio::spawn(tick(tick_every));
            let outcome = run::run(schedule).await;
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
    let count = env_u64("NYRODB_SIM_SEEDS");
    let replay = env_u64("NYRODB_SIM_SEED");
    let seeds: Vec<u64> = match replay {
        Some(seed) => vec![seed; usize::try_from(count.unwrap_or(1)).unwrap_or(1)],
        None => (1..=count.unwrap_or(DEFAULT_SEEDS)).collect(),
    };
    let tick = Duration::from_millis(env_u64("NYRODB_SIM_TICK_MS").unwrap_or(TICK_MS).max(1));
    let mut histories = std::collections::BTreeSet::new();
    let started = Instant::now();
    let (mut checked, mut unknown, mut local, mut undecided) = (0, 0, 0, 0);
    let mut simulated = Duration::ZERO;
    let mut failures = Vec::new();
    for &seed in &seeds {
        match play(&Schedule::of(seed), tick) {
            Ok(outcome) => {
                if replay.is_some() && histories.is_empty() {
                    println!("{}history:\n{}", Schedule::of(seed), outcome.history);
                }
                if replay.is_some() {
                    histories.insert(outcome.history.clone());
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
    if let Some(seed) = replay {
        println!(
            "seed {seed} played {} times: {} distinct histories",
            seeds.len(),
            histories.len()
        );
    }
    assert!(failures.is_empty(), "failed seeds: {failures:?}");
    assert!(checked > 0, "no operation was checked");
}

/// The harness's self-test: checked as if they were linearizable, `local` reads (which may
/// be stale on a follower cut off from the leader) must show a violation in some schedule.
#[test]
fn sim_finds_stale_reads_when_local_reads_are_checked_as_linearizable() {
    let tick = Duration::from_millis(TICK_MS);
    let found = (1..=60).find(|&seed| {
        let mut schedule = Schedule::of(seed);
        schedule.local_as_linearizable = true;
        match play(&schedule, tick) {
            Err(failure) if failure.contains("not linearizable") => true,
            Err(failure) => panic!("seed {seed} failed otherwise: {failure}"),
            Ok(_) => false,
        }
    });
    println!("a stale local read was found with seed {found:?}");
    assert!(
        found.is_some(),
        "no schedule of seeds 1..=60 showed a stale local read"
    );
}
