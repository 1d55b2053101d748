//! Fault injection against real clusters, checked for linearizability (issue 16).
//!
//! A run starts 3 or 5 `nyrodb serve` processes behind a fault-injecting proxy network
//! ([`crate::cluster::Network`]) and plays rounds. In each round six clients send a mix of
//! reads (every consistency level), puts, creates, deletes, bulks and `local` lists to
//! random nodes and record the history ([`history`]); a nemesis ([`nemesis`]) injects one
//! fault (kill -9 of the leader, of a follower or of a majority; SIGSTOP of the leader;
//! the leader isolated; a split; a one-way cut; delays; a disk whose fdatasync fails; a
//! restart while a snapshot installs) and heals it; then every node must hold the same
//! data and feed, no acknowledged write may be lost, the history must be linearizable per
//! key ([`nyro_lincheck`], porcupine's algorithm) and every request to a running node
//! answered within the contract's bound ([`checks`]). A failing round panics and keeps the
//! cluster's directory: each node's data and log and the round's history and steps.
//!
//! Short runs are tests (`cargo test -p nyro-cli --test it chaos::`): a few rounds, one
//! kind each. Long runs: `scripts/chaos.sh`, which sets
//! - `NYRODB_CHAOS_ROUNDS`: rounds per test, kinds then chosen at random;
//! - `NYRODB_CHAOS_SEED`: the seed (printed by every run; the same seed replays the same
//!   choices, though not the same timings);
//! - `NYRODB_CHAOS_KINDS`: only these kinds (comma-separated names as in [`nemesis::Kind`],
//!   e.g. `kill-leader,split`);
//! - `NYRODB_CHAOS_REPORT`: a file the figures are appended to (one JSON line per test).

mod check_tests;
mod checks;
mod history;
mod nemesis;
mod report;
mod round;
mod workload;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::cluster::{Cluster, Network, Options, Rng};
use nemesis::{KINDS, Kind};
use report::Report;

/// Client ids from here on are the final reads' (up to [`PROBER`]).
pub const FINAL_CLIENT: u64 = 1_000_000;
/// Client ids from here on are the paused-leader prober's.
pub const PROBER: u64 = 2_000_000;

/// Whether `client` is one of the final reads after the heal.
pub fn is_final_read(client: u64) -> bool {
    (FINAL_CLIENT..PROBER).contains(&client)
}
/// Rounds a cluster plays before a fresh one starts (its feeds and data stay small).
const ROUNDS_PER_CLUSTER: u64 = 10;

/// A run's settings.
#[derive(Debug)]
pub struct Run {
    pub seed: u64,
    rounds: u64,
    /// `None`: one round of each kind in `short` order.
    random: bool,
    kinds: Vec<Kind>,
}

impl Run {
    /// The settings from the environment, with `short` the kinds of a short run.
    fn from_env(short: &[Kind]) -> Self {
        let seed = std::env::var("NYRODB_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        let rounds: Option<u64> = std::env::var("NYRODB_CHAOS_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok());
        let kinds = match std::env::var("NYRODB_CHAOS_KINDS") {
            Ok(names) => names
                .split(',')
                .map(|name| {
                    KINDS
                        .into_iter()
                        .find(|kind| json!(kind) == json!(name.trim()))
                        .unwrap_or_else(|| panic!("NYRODB_CHAOS_KINDS: no kind {name:?}"))
                })
                .collect(),
            Err(_) if rounds.is_some() => KINDS.to_vec(),
            Err(_) => short.to_vec(),
        };
        Self {
            seed,
            rounds: rounds.unwrap_or(kinds.len() as u64),
            random: rounds.is_some(),
            kinds,
        }
    }
}

/// Plays `run` against clusters of `nodes` nodes; the figures.
async fn play(nodes: usize, run: Run) -> Report {
    eprintln!("chaos: {nodes} nodes, {run:?}");
    let mut rng = Rng::new(run.seed);
    let mut report = Report::default();
    let mut round = 0;
    while round < run.rounds {
        let network = Network::new(rng.next_u64());
        let options = Options {
            network: Some(network.clone()),
            cluster_keys: "snapshot_every = 100\n".to_string(),
            storage_keys: "segment_size_mb = 1\n".to_string(),
            extra_config: "[batch]\nsync = \"always\"\n".to_string(),
            fail_fsync: true,
            ..Options::default()
        };
        let mut cluster = Cluster::start_with(nodes, options).await;
        let leader = cluster.wait_for_leader().await;
        cluster
            .put(
                leader,
                &format!("/v1/collections/{}", workload::COLLECTION),
                json!({}),
            )
            .await
            .expect(201, "creating the chaos collection");
        cluster.assert_converged().await;
        let end = (round + ROUNDS_PER_CLUSTER).min(run.rounds);
        while round < end {
            let kind = if run.random {
                run.kinds[rng.index(run.kinds.len())]
            } else {
                run.kinds[round as usize % run.kinds.len()]
            };
            let started = std::time::Instant::now();
            let findings =
                round::run_round(&mut cluster, &network, &mut rng, &run, round, kind).await;
            eprintln!(
                "chaos: round {round} ({}): {} requests, {} checked, {} unknown, longest wait {} ms, \
                 {:.1} s",
                kind.name(),
                findings.requests,
                findings.checked,
                findings.unknown,
                findings.longest_wait / 1000,
                started.elapsed().as_secs_f64()
            );
            report.add(kind, &findings);
            round += 1;
        }
        let traffic = network.traffic();
        let anonymous = traffic.anonymous.load(Ordering::Relaxed);
        assert_eq!(
            anonymous, 0,
            "{anonymous} node-to-node connections did not name their sender: the network \
             could not fault them"
        );
        eprintln!(
            "chaos: the network relayed {} connections, dropped {} chunks",
            traffic.connections.load(Ordering::Relaxed),
            traffic.dropped.load(Ordering::Relaxed)
        );
    }
    let title = format!("{nodes} nodes, seed {}, {} rounds", run.seed, run.rounds);
    eprintln!("{}", report.table(&title));
    if let Ok(path) = std::env::var("NYRODB_CHAOS_REPORT") {
        report.append_to(
            &path,
            json!({"nodes": nodes, "seed": run.seed, "rounds": run.rounds}),
        );
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_keep_their_promises_under_faults() {
    let short = [
        Kind::KillLeader,
        Kind::IsolateLeader,
        Kind::PauseLeader,
        Kind::OneWay,
        Kind::DiskFailure,
    ];
    play(3, Run::from_env(&short)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_keep_their_promises_under_faults() {
    let short = [Kind::Split, Kind::KillMajority];
    play(5, Run::from_env(&short)).await;
}
