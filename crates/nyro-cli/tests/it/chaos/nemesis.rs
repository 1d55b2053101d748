//! The nemesis: one fault per round, chosen at random, injected while the clients run and
//! healed before the checks. Every step is recorded on the clients' clock.

use std::time::Duration;

use serde::Serialize;

use super::history::Recorder;
use crate::cluster::{Cluster, Delay, Network, Rng};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// kill -9 of the leader, restarted at the heal.
    KillLeader,
    /// kill -9 of a follower.
    KillFollower,
    /// kill -9 of a majority (the leader among them or not).
    KillMajority,
    /// SIGSTOP of the leader for longer than an election, then SIGCONT: it wakes up
    /// believing it leads.
    PauseLeader,
    /// Every link between the leader and the others cut, both ways.
    IsolateLeader,
    /// A random minority cut from the majority, both ways (2/1 of 3, 3/2 of 5).
    Split,
    /// One direction only: the leader's links to the others (it hears them, they do not
    /// hear it), or theirs to it.
    OneWay,
    /// Every link delayed by 50-250 ms plus jitter.
    Delay,
    /// fdatasync fails on one node from now on (it poisons); at the heal it is restarted
    /// on a good disk.
    DiskFailure,
    /// A follower killed while the others write past a snapshot and purge their logs, then
    /// restarted, killed again while it installs the snapshot, and restarted.
    SnapshotRestart,
}

/// Every kind, in the order short runs take them.
pub const KINDS: [Kind; 10] = [
    Kind::KillLeader,
    Kind::IsolateLeader,
    Kind::PauseLeader,
    Kind::OneWay,
    Kind::DiskFailure,
    Kind::Split,
    Kind::KillFollower,
    Kind::KillMajority,
    Kind::Delay,
    Kind::SnapshotRestart,
];

impl Kind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::KillLeader => "kill leader",
            Kind::KillFollower => "kill follower",
            Kind::KillMajority => "kill majority",
            Kind::PauseLeader => "pause leader",
            Kind::IsolateLeader => "isolate leader",
            Kind::Split => "split",
            Kind::OneWay => "one-way cut",
            Kind::Delay => "delays",
            Kind::DiskFailure => "fdatasync fails",
            Kind::SnapshotRestart => "restart in snapshot install",
        }
    }
}

/// What a fault did, for the checks and the figures.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// When the leader was killed (µs on the round's clock), in a `KillLeader` round.
    pub leader_killed_at: Option<u64>,
    /// Nodes (ids) paused and when: requests to them are not held to the answer bound.
    pub paused: Vec<(u64, u64, u64)>,
}

/// The nemesis of one cluster: the fault now active and how to heal it.
pub struct Nemesis<'a> {
    pub cluster: &'a mut Cluster,
    pub network: &'a Network,
    pub recorder: &'a Recorder,
    pub rng: &'a mut Rng,
    killed: Vec<usize>,
    paused: Vec<(usize, u64)>,
    poisoned: Option<usize>,
    pub effects: Effects,
}

impl<'a> Nemesis<'a> {
    pub fn new(
        cluster: &'a mut Cluster,
        network: &'a Network,
        recorder: &'a Recorder,
        rng: &'a mut Rng,
    ) -> Self {
        Self {
            cluster,
            network,
            recorder,
            rng,
            killed: Vec::new(),
            paused: Vec::new(),
            poisoned: None,
            effects: Effects::default(),
        }
    }

    fn ids(&self, indexes: &[usize]) -> Vec<u64> {
        indexes.iter().map(|&i| self.cluster.node(i).id()).collect()
    }

    fn kill(&mut self, i: usize) -> u64 {
        self.cluster.kill9(i);
        self.killed.push(i);
        let id = self.cluster.node(i).id();
        self.recorder.step(format!("kill -9 node {id}"))
    }

    fn pause(&mut self, i: usize) {
        self.cluster.stop(i);
        let at = self
            .recorder
            .step(format!("SIGSTOP node {}", self.cluster.node(i).id()));
        self.paused.push((i, at));
    }

    /// The members in a random order.
    fn shuffled(&mut self) -> Vec<usize> {
        let mut nodes = self.cluster.running_members();
        for i in (1..nodes.len()).rev() {
            nodes.swap(i, self.rng.index(i + 1));
        }
        nodes
    }

    /// Injects a fault of `kind`; `leader` is the leader's index. The fault lasts until
    /// [`Nemesis::heal`], except `SnapshotRestart`, which runs its whole course here
    /// (taking about `hold`).
    pub async fn inject(&mut self, kind: Kind, leader: usize, hold: Duration) {
        let n = self.cluster.running_members().len();
        let all = self.ids(&self.cluster.running_members());
        let leader_id = self.cluster.node(leader).id();
        let others: Vec<u64> = all.iter().copied().filter(|&id| id != leader_id).collect();
        match kind {
            Kind::KillLeader => {
                let at = self.kill(leader);
                self.effects.leader_killed_at = Some(at);
            }
            Kind::KillFollower => {
                let follower = *self.shuffled().iter().find(|&&i| i != leader).unwrap();
                self.kill(follower);
            }
            Kind::KillMajority => {
                for i in self.shuffled().into_iter().take(n / 2 + 1) {
                    self.kill(i);
                }
            }
            Kind::PauseLeader => self.pause(leader),
            Kind::IsolateLeader => {
                self.network.partition(&[leader_id], &others);
                self.recorder.step(format!("isolate node {leader_id}"));
            }
            Kind::Split => {
                let order = self.shuffled();
                let (minority, majority) = order.split_at(n / 2);
                let (minority, majority) = (self.ids(minority), self.ids(majority));
                self.network.partition(&minority, &majority);
                self.recorder
                    .step(format!("split {minority:?} | {majority:?}"));
            }
            Kind::OneWay => {
                let outbound = self.rng.percent(50);
                for &other in &others {
                    if outbound {
                        self.network.cut(leader_id, other);
                    } else {
                        self.network.cut(other, leader_id);
                    }
                }
                let way = if outbound { "from" } else { "to" };
                self.recorder
                    .step(format!("cut every link {way} leader {leader_id}"));
            }
            Kind::Delay => {
                let delay = Delay {
                    base: self.rng.millis(50, 250),
                    jitter: self.rng.millis(0, 200),
                };
                self.network.delay_all(&all, delay);
                self.recorder.step(format!("delay every link {delay:?}"));
            }
            Kind::DiskFailure => {
                let i = self.shuffled()[0];
                self.cluster.fail_fsync(i);
                self.poisoned = Some(i);
                let id = self.cluster.node(i).id();
                self.recorder.step(format!("fdatasync fails on node {id}"));
            }
            Kind::SnapshotRestart => self.snapshot_restart(leader, hold).await,
        }
    }

    /// Kills a follower, lets the others write past a snapshot for `hold`, restarts it,
    /// and kills it again after 20-400 ms (while it catches up, by snapshot if its log was
    /// purged), then restarts it once more.
    async fn snapshot_restart(&mut self, leader: usize, hold: Duration) {
        let follower = *self.shuffled().iter().find(|&&i| i != leader).unwrap();
        let id = self.cluster.node(follower).id();
        self.cluster.kill9(follower);
        self.recorder.step(format!("kill -9 node {id}"));
        tokio::time::sleep(hold).await;
        self.cluster.restart(follower).await;
        self.recorder.step(format!("restart node {id}"));
        tokio::time::sleep(self.rng.millis(20, 400)).await;
        self.cluster.kill9(follower);
        self.recorder
            .step(format!("kill -9 node {id} while it catches up"));
        self.cluster.restart(follower).await;
        self.recorder.step(format!("restart node {id}"));
    }

    /// Undoes the fault: heals the network, resumes paused nodes, restarts killed ones and
    /// the poisoned one (on a disk that works again).
    pub async fn heal(&mut self) {
        if !self.network.faults().is_healthy() {
            self.network.heal();
            self.recorder.step("heal the network");
        }
        for (i, since) in std::mem::take(&mut self.paused) {
            self.cluster.cont(i);
            let id = self.cluster.node(i).id();
            let at = self.recorder.step(format!("SIGCONT node {id}"));
            self.effects.paused.push((id, since, at));
        }
        if let Some(i) = self.poisoned.take() {
            self.cluster.heal_fsync(i);
            self.killed.push(i);
        }
        for i in std::mem::take(&mut self.killed) {
            self.cluster.restart(i).await;
            let id = self.cluster.node(i).id();
            self.recorder.step(format!("restart node {id}"));
        }
    }
}
