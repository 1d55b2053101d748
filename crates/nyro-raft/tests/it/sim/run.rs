//! Runs one schedule: starts the cluster, plays its steps (clients' operations run
//! concurrently on their own tasks), heals every fault, waits until the nodes converge,
//! reads every key back, and checks the history.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, bail};
use nyro_core::Document;
use nyro_lincheck::{Register, RegisterOutput as O, check_keys, history_lines};
use nyro_raft::{Consistency, Node, NodeId};
use tokio::task::JoinHandle;

use super::client::{CLIENT_TIMEOUT, History, Op, value_of};
use super::cluster::{COLLECTION, SimCluster};
use super::schedule::{Request, Schedule, Step};

/// The bound of every wait for the cluster (runtime clock).
const WAIT: Duration = Duration::from_secs(60);

/// What a run did, when every check passed.
pub struct Outcome {
    /// Operations checked for linearizability.
    pub checked: usize,
    /// `local` reads checked.
    pub local: usize,
    /// Operations of unknown outcome among those checked.
    pub unknown: usize,
    /// Time the run took on the runtime's clock.
    pub simulated: Duration,
    /// Per-key searches that ran out of budget (neither proved nor refuted).
    pub undecided: usize,
    /// The history, one line per operation (for replays).
    pub history: String,
}

/// A client operation still running, and the nodes it holds.
struct Running {
    nodes: BTreeSet<NodeId>,
    task: JoinHandle<()>,
}

/// The schedule being played.
struct Play {
    cluster: SimCluster,
    history: History,
    running: Vec<Running>,
}

impl Play {
    /// The leader, as the first node up that knows of a leader up sees it.
    fn leader(&self) -> Option<&Node> {
        self.cluster
            .up()
            .find_map(|n| n.leader().and_then(|(id, _)| self.cluster.node(id)))
    }

    /// Waits for the client operations that hold node `id` (all, for `None`).
    async fn finish(&mut self, id: Option<NodeId>) -> anyhow::Result<()> {
        let (done, kept) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|r| id.is_none_or(|id| r.nodes.contains(&id)));
        self.running = kept;
        for running in done {
            running.task.await.context("a client task panicked")?;
        }
        Ok(())
    }

    /// Starts the nodes down again, once no client holds them.
    async fn restart_all(&mut self) -> anyhow::Result<()> {
        for id in self.cluster.down() {
            self.finish(Some(id)).await?;
            self.cluster.restart(id).await?;
        }
        Ok(())
    }

    /// Stops node `id` if a majority stays up.
    async fn crash(&mut self, id: NodeId) -> anyhow::Result<()> {
        let n = self.cluster.ids.len();
        let down = self.cluster.down();
        if !down.contains(&id) && down.len() < (n - 1) / 2 {
            self.cluster.stop(id).await?;
        }
        Ok(())
    }

    /// Sends client `client`'s operation to `node` (its write to the leader it knows of);
    /// nothing happens if the node is down, knows no leader or cannot reach it (the client
    /// is refused: nothing was sent).
    fn launch(&mut self, client: u64, node: NodeId, key: u64, request: Request) {
        let Some(origin) = self.cluster.node(node) else {
            return;
        };
        let target = match request {
            Request::Read(_) => Some(origin),
            _ if origin.is_leader() => Some(origin),
            _ => origin
                .leader()
                .filter(|(id, _)| self.cluster.net.connected(node, *id))
                .and_then(|(id, _)| self.cluster.node(id)),
        };
        let Some(target) = target else {
            return;
        };
        let nodes = BTreeSet::from([node, target.id()]);
        let (origin, target) = (origin.clone(), target.clone());
        let history = self.history.clone();
        let task = tokio::spawn(async move {
            history.run(client, origin, target, key, request).await;
        });
        self.running.push(Running { nodes, task });
    }

    async fn step(&mut self, client: u64, step: &Step) -> anyhow::Result<()> {
        let net = self.cluster.net.clone();
        match step {
            Step::Op { node, key, request } => self.launch(client, *node, *key, *request),
            Step::LeaderOp { key, request } => {
                if let Some(leader) = self.leader().map(Node::id) {
                    self.launch(client, leader, *key, *request);
                }
            }
            Step::Wait(d) => tokio::time::sleep(*d).await,
            Step::Partition(side) => net.partition(side, &self.cluster.ids),
            Step::IsolateLeader => {
                if let Some(leader) = self.leader() {
                    net.partition(&BTreeSet::from([leader.id()]), &self.cluster.ids);
                }
            }
            Step::Cut { from, to } => net.cut(*from, *to),
            Step::Delay(d) => net.set_delay(*d),
            Step::Loss(percent) => net.set_loss(*percent),
            Step::Heal => net.heal(),
            Step::Crash(id) => self.crash(*id).await?,
            Step::CrashLeader => {
                if let Some(id) = self.leader().map(Node::id) {
                    self.crash(id).await?;
                }
            }
            Step::Restart => self.restart_all().await?,
        }
        Ok(())
    }

    /// Waits until one leader is known to every node and every node has applied its
    /// whole log.
    async fn converge(&self) -> anyhow::Result<Node> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(leader) = self.leader().filter(|l| l.is_leader()) {
                let last = leader.raft().metrics().borrow().last_log_index;
                let agreed = self.cluster.up().all(|n| {
                    let status = n.status();
                    status.leader_id == Some(leader.id())
                        && Some(status.applied_index) == last
                        && status.commit_index == status.applied_index
                });
                if agreed {
                    return Ok(leader.clone());
                }
            }
            if tokio::time::Instant::now() > deadline {
                let statuses: Vec<_> = self.cluster.up().map(Node::status).collect();
                bail!("the nodes did not converge within {WAIT:?}: {statuses:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every document of `node`'s database, in id order.
fn documents(node: &Node) -> anyhow::Result<Vec<Document>> {
    match node.database().list(COLLECTION, None, 10_000) {
        Ok(page) => Ok(page.records),
        Err(nyro_core::DbError::CollectionNotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("listing node {}", node.id())),
    }
}

/// Attempts at each final read.
const FINAL_READ_ATTEMPTS: u32 = 20;

/// Plays `schedule` on a fresh cluster and checks what the clients saw.
pub async fn run(schedule: &Schedule) -> anyhow::Result<Outcome> {
    let cluster = SimCluster::start(schedule.nodes, schedule.snapshot_every, schedule.seed).await?;
    let mut play = Play {
        cluster,
        history: History::new(schedule.local_as_linearizable),
        running: Vec::new(),
    };
    for (client, step) in (1..).zip(&schedule.steps) {
        play.step(client, step).await?;
    }

    // Heal everything, let the operations end, and let the cluster settle.
    play.cluster.net.heal();
    play.restart_all().await?;
    play.finish(None).await?;
    let leader = play.converge().await?;

    // Read every key back through the leader: an acknowledged write lost shows as a read
    // the history cannot explain. Retried until answered (a read of unknown outcome is not
    // recorded as answered, and an earlier read would then pass for the final one).
    let mut client = u64::try_from(schedule.steps.len()).unwrap_or(u64::MAX) + 1;
    for key in 1..=schedule.keys {
        for _attempt in 0..FINAL_READ_ATTEMPTS {
            let read = Request::Read(Consistency::Linearizable);
            play.history
                .run(client, leader.clone(), leader.clone(), key, read)
                .await;
            client += 1;
            let answered = play
                .history
                .recorded()
                .checked
                .last()
                .is_some_and(|(k, op)| *k == key && op.client == client - 1 && op.returned());
            if answered {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Every node holds the same documents.
    let expected = documents(&leader)?;
    for node in play.cluster.up() {
        let held = documents(node)?;
        if held != expected {
            bail!(
                "node {} holds {held:?}, the leader (node {}) {expected:?}",
                node.id(),
                leader.id()
            );
        }
    }
    drop(leader);
    let simulated = play.history.elapsed();
    let recorded = std::mem::take(&mut *play.history.recorded());
    play.cluster.shutdown().await?;
    check(schedule, recorded, &expected, simulated)
}

/// Checks a run's history: no hang, every key's history linearizable, the final reads
/// answered and agreeing with the documents, `local` reads saw only values written.
fn check(
    schedule: &Schedule,
    recorded: super::client::Recorded,
    documents: &[Document],
    simulated: Duration,
) -> anyhow::Result<Outcome> {
    if !recorded.hung.is_empty() {
        bail!(
            "operations got no answer within {CLIENT_TIMEOUT:?}: {:#?}",
            recorded.hung
        );
    }
    let written: BTreeSet<(u64, u64)> = schedule
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Op {
                key,
                request: Request::Put(v) | Request::Create(v),
                ..
            } => Some((*key, *v)),
            _ => None,
        })
        .collect();
    for (key, seen) in &recorded.local {
        if let Some(v) = seen
            && !written.contains(&(*key, *v))
        {
            bail!("a local read of key {key} saw {v}, which was never written to it");
        }
    }
    let finals: BTreeMap<u64, Option<u64>> = documents
        .iter()
        .filter_map(|d| Some((d.id?, value_of(d))))
        .collect();
    for key in 1..=schedule.keys {
        let read_back = recorded.checked.iter().rev().find(|(k, op)| {
            *k == key && op.input == nyro_lincheck::RegisterInput::Read && op.returned()
        });
        let expected = O::Value(finals.get(&key).copied().flatten());
        match read_back {
            Some((_, op)) if op.output == expected => {}
            other => bail!(
                "key {key}: the final read answered {other:?}, the documents hold {expected:?}"
            ),
        }
    }
    let unknown = recorded
        .checked
        .iter()
        .filter(|(_, op)| !op.returned())
        .count();
    let ops: Vec<(u64, Op)> = recorded.checked;
    let history = history_text(&ops);
    let report = check_keys(&Register, ops.clone(), Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("the history is malformed: {e:?}"))?;
    if report.violations().next().is_some() {
        bail!("the history is not linearizable:\n{report}\nhistory:\n{history}");
    }
    Ok(Outcome {
        checked: ops.len(),
        local: recorded.local.len(),
        unknown,
        simulated,
        undecided: report.timeouts().count(),
        history,
    })
}

/// The history, key by key, one operation a line.
fn history_text(ops: &[(u64, Op)]) -> String {
    let mut by_key: BTreeMap<u64, Vec<Op>> = BTreeMap::new();
    for (key, op) in ops {
        by_key.entry(*key).or_default().push(op.clone());
    }
    by_key
        .iter()
        .map(|(key, ops)| format!("key {key}:\n{}", history_lines(ops)))
        .collect()
}
