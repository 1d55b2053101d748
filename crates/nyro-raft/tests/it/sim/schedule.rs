//! A schedule: from a seed, the cluster's size and a sequence of steps (client operations
//! and faults). The same seed always gives the same schedule; faults that name "the
//! leader" are resolved when the step runs.

use std::collections::BTreeSet;
use std::time::Duration;

use nyro_raft::{Consistency, NodeId};

/// A small, seeded generator (splitmix64): the schedule depends on the seed only.
#[derive(Default)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// What a client asks of one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Replace or create, with value `v`.
    Put(u64),
    /// Insert with the key as `_id`, with value `v`.
    Create(u64),
    /// Delete.
    Delete,
    /// Get at a consistency level.
    Read(Consistency),
}

/// One step of a schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A client sends `request` about document `key` to node `node` (a write there is
    /// forwarded to the leader that node knows of), and does not wait for the answer.
    Op {
        node: NodeId,
        key: u64,
        request: Request,
    },
    /// A client sends `request` about document `key` to the leader (as for `IsolateLeader`).
    LeaderOp { key: u64, request: Request },
    /// Time passes.
    Wait(Duration),
    /// No message crosses between `side` and the other nodes.
    Partition(BTreeSet<NodeId>),
    /// The leader (as the first node up that knows one sees it) is cut off from all.
    IsolateLeader,
    /// Messages from `from` to `to` are lost (one way).
    Cut { from: NodeId, to: NodeId },
    /// Every message takes this long, each way.
    Delay(Duration),
    /// This percentage of messages is dropped.
    Loss(u64),
    /// Every link is restored and the delay removed.
    Heal,
    /// Node `id` stops (if fewer than half the nodes are down) and its operations end.
    Crash(NodeId),
    /// The leader stops (as for `Crash`).
    CrashLeader,
    /// Every node down starts again on its directory.
    Restart,
}

/// A schedule: the cluster and its steps.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub seed: u64,
    pub nodes: u64,
    pub snapshot_every: u64,
    pub keys: u64,
    pub steps: Vec<Step>,
    /// Check `local` reads as if they were linearizable (the harness's self-test: stale
    /// reads must then be found).
    pub local_as_linearizable: bool,
}

/// How many steps a schedule has.
const STEPS: usize = 80;

impl Schedule {
    /// The schedule of `seed`.
    pub fn of(seed: u64) -> Schedule {
        let mut rng = Rng::new(seed);
        let nodes = if rng.chance(25) { 5 } else { 3 };
        let keys = 2 + rng.below(3);
        let snapshot_every = 10 + rng.below(40);
        let mut steps = Vec::new();
        let mut value = 0;
        for _ in 0..STEPS {
            let node = 1 + rng.below(nodes);
            let step = match rng.below(100) {
                0..=64 => {
                    value += 1;
                    let request = match rng.below(10) {
                        0..=2 => Request::Put(value),
                        3 => Request::Create(value),
                        4 => Request::Delete,
                        5..=7 => Request::Read(Consistency::Linearizable),
                        8 => Request::Read(Consistency::Lease),
                        _ => Request::Read(Consistency::Local),
                    };
                    Step::Op {
                        node,
                        key: 1 + rng.below(keys),
                        request,
                    }
                }
                65..=79 => Step::Wait(rng.millis(1, 400)),
                80..=83 => {
                    let mut side = BTreeSet::new();
                    for _ in 0..=rng.below(nodes / 2) {
                        side.insert(1 + rng.below(nodes));
                    }
                    Step::Partition(side)
                }
                84..=85 => Step::IsolateLeader,
                86..=87 => Step::Cut {
                    from: node,
                    to: 1 + rng.below(nodes),
                },
                88 => Step::Delay(rng.millis(1, 150)),
                89 => Step::Loss(5 + rng.below(46)),
                90..=93 => Step::Heal,
                94 => Step::Crash(node),
                95 => Step::CrashLeader,
                _ => Step::Restart,
            };
            // Operations come a few milliseconds apart, so that some overlap.
            let gap = matches!(step, Step::Op { .. }).then(|| rng.millis(0, 20));
            steps.push(step);
            if let Some(gap) = gap.filter(|g| !g.is_zero()) {
                steps.push(Step::Wait(gap));
            }
        }
        Schedule {
            seed,
            nodes,
            snapshot_every,
            keys,
            steps,
            local_as_linearizable: false,
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {}: {} nodes, {} keys, a snapshot every {} entries",
            self.seed, self.nodes, self.keys, self.snapshot_every
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:3} {step:?}")?;
        }
        Ok(())
    }
}
