//! A cluster of real `nyrodb serve` processes on loopback, and the replication tests that run
//! against it (contract section 7, issue 15's "Must work" list).
//!
//! - [`Cluster`] starts `n` nodes (one config, data directory and log file each, free ports,
//!   `[cluster]` with a shared secret and short timers), waits for them, and kills, stops,
//!   restarts, adds and removes nodes; dropping it kills every process it started, and a
//!   failing test prints each node's log and keeps its directory.
//! - `Reply` and the cluster's `get`/`post`/`put`/`delete` speak the user API to one node;
//!   `feed` reads a node's change feed.
//! - `assert_converged` compares nodes: collections, every record (read with
//!   `consistency=local`) and the change feed, record by record, with a diff on failure.
//! - `scenarios`: the cluster tests (`cargo test -p nyro-cli --test it cluster::scenarios`);
//!   `selftest`: the harness's own pieces against standalone servers.
//!
//! Every wait is a poll with a deadline ([`wait_until`]); nothing sleeps to synchronise.

mod cli;
mod compare;
mod harness;
mod http;
mod network;
mod node;
mod random;
mod scenarios;
mod selftest;

use std::time::{Duration, Instant};

pub use harness::{Cluster, Options};
pub use http::{Http, REQUEST_TIMEOUT, Until};
pub use network::{Delay, Network};
pub use random::Rng;

/// How long a cluster may take to do anything the tests wait for (start, elect, converge).
pub const WAIT: Duration = Duration::from_secs(30);
/// Time between two polls.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` until it gives `Some` or `timeout` passes; `None` then.
pub async fn wait_until<T>(
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
