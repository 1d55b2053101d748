//! The simulated network: every node's openraft RPCs and read-index calls are handed
//! directly to the target node's `Raft` (what the internal routes of `network::server` do
//! once a request is checked and decoded), through one shared fault table: links cut one
//! way or both (partitions), a share of messages dropped at random, a delay on every
//! message, and nodes that are down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nyro_raft::{NodeId, PeerCall, Peers, Raft, TypeConfig};

use super::schedule::Rng;
use openraft::BasicNode;
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

/// A node's address on the simulated network.
pub fn addr(id: NodeId) -> String {
    format!("sim-node-{id}")
}

fn id_of(addr: &str) -> Option<NodeId> {
    addr.strip_prefix("sim-node-")?.parse().ok()
}

/// What the network does to messages now.
#[derive(Default)]
struct Table {
    /// The nodes up, and their Raft.
    up: BTreeMap<NodeId, Raft>,
    /// Links (from, to) that drop every message.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// How long every message takes, one way.
    delay: Duration,
    /// The percentage of messages (requests and answers) dropped.
    loss: u64,
    /// Draws which messages are dropped.
    rng: Rng,
}

/// The network all nodes share. Cloning shares it.
#[derive(Clone)]
pub struct Net {
    table: Arc<Mutex<Table>>,
}

impl Table {
    /// Whether the next message is dropped.
    fn dropped(&mut self) -> bool {
        self.loss > 0 && self.rng.chance(self.loss)
    }
}

/// Why a message did not arrive.
#[derive(Debug, thiserror::Error)]
#[error("{what} from node {from} to node {to}: {why}")]
struct Lost {
    what: &'static str,
    from: NodeId,
    to: NodeId,
    why: &'static str,
}

impl Net {
    /// A network without faults, whose random drops are drawn from `seed`.
    pub fn new(seed: u64) -> Net {
        let table = Table {
            rng: Rng::new(seed),
            ..Table::default()
        };
        Net {
            table: Arc::new(Mutex::new(table)),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Node `id` is up, served by `raft`.
    pub fn up(&self, id: NodeId, raft: Raft) {
        self.table().up.insert(id, raft);
    }

    /// Node `id` is down: messages to it are lost.
    pub fn down(&self, id: NodeId) {
        self.table().up.remove(&id);
    }

    /// Cuts the links from `from` to `to` (one way).
    pub fn cut(&self, from: NodeId, to: NodeId) {
        self.table().cut.insert((from, to));
    }

    /// Splits the nodes into `side` and the rest: no message crosses.
    pub fn partition(&self, side: &BTreeSet<NodeId>, all: &[NodeId]) {
        let mut table = self.table();
        for a in side {
            for b in all.iter().filter(|b| !side.contains(b)) {
                table.cut.insert((*a, *b));
                table.cut.insert((*b, *a));
            }
        }
    }

    /// Every message takes `delay` each way.
    pub fn set_delay(&self, delay: Duration) {
        self.table().delay = delay;
    }

    /// Drops `percent` % of the messages.
    pub fn set_loss(&self, percent: u64) {
        self.table().loss = percent;
    }

    /// Restores every link, removes the delay and the drops (nodes down stay down).
    pub fn heal(&self) {
        let mut table = self.table();
        table.cut.clear();
        table.delay = Duration::ZERO;
        table.loss = 0;
    }

    /// Whether `from` can send to `to` now.
    pub fn connected(&self, from: NodeId, to: NodeId) -> bool {
        let table = self.table();
        table.up.contains_key(&to) && !table.cut.contains(&(from, to))
    }

    /// Carries a message from `from` to `to`: after the delay, the target's Raft if the
    /// link is open and the target up.
    async fn deliver(&self, what: &'static str, from: NodeId, to: NodeId) -> Result<Raft, Lost> {
        let delay = self.table().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut table = self.table();
        let lost = |why| Lost {
            what,
            from,
            to,
            why,
        };
        if table.cut.contains(&(from, to)) {
            return Err(lost("the link is cut"));
        }
        if table.dropped() {
            return Err(lost("the message was dropped"));
        }
        table.up.get(&to).cloned().ok_or_else(|| lost("it is down"))
    }

    /// Carries the answer back: lost if the link back was cut meanwhile (the request may
    /// have been acted on: a network error, not "unreachable").
    async fn answer(&self, what: &'static str, from: NodeId, to: NodeId) -> Result<(), Lost> {
        let delay = self.table().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut table = self.table();
        if table.cut.contains(&(to, from)) || !table.up.contains_key(&from) || table.dropped() {
            return Err(Lost {
                what,
                from: to,
                to: from,
                why: "the answer was lost",
            });
        }
        Ok(())
    }
}

/// Node `from`'s view of the network: openraft's network factory and the read barrier's
/// peers.
#[derive(Clone)]
pub struct NodeNet {
    pub net: Net,
    pub from: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NodeNet {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            net: self.net.clone(),
            from: self.from,
            to: target,
            node: node.clone(),
        }
    }
}

impl Peers for NodeNet {
    fn read_index<'a>(&'a self, addr: &'a str, timeout: Duration) -> PeerCall<'a, u64> {
        Box::pin(async move {
            let to = id_of(addr).ok_or_else(|| format!("no node at {addr}"))?;
            let call = async {
                let raft = self
                    .net
                    .deliver("read index", self.from, to)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = raft
                    .get_read_log_id()
                    .await
                    .map(|(read, _)| read.map_or(0, |l| l.index))
                    .map_err(|e| format!("node {to} cannot serve a read index: {e}"));
                self.net
                    .answer("read index", self.from, to)
                    .await
                    .map_err(|e| e.to_string())?;
                answer
            };
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| Err(format!("no read index from node {to} in time")))
        })
    }

    fn probe<'a>(&'a self, addr: &'a str, _timeout: Duration) -> PeerCall<'a, ()> {
        Box::pin(async move {
            match id_of(addr) {
                Some(to) if self.net.connected(self.from, to) => Ok(()),
                _ => Err(format!("node at {addr} does not answer")),
            }
        })
    }
}

/// openraft's connection from one node to another.
pub struct Connection {
    net: Net,
    from: NodeId,
    to: NodeId,
    node: BasicNode,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Connection {
    /// Sends one RPC, served on the target by `serve`, within openraft's hard time limit.
    async fn call<Resp, E, Fut>(
        &self,
        what: &'static str,
        option: &RPCOption,
        serve: impl FnOnce(Raft) -> Fut,
    ) -> RpcResult<Resp, E>
    where
        Fut: Future<Output = Result<Resp, RaftError<NodeId, E>>>,
        E: std::error::Error,
    {
        let exchange = async {
            let raft = self
                .net
                .deliver(what, self.from, self.to)
                .await
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
            let out = serve(raft).await;
            self.net
                .answer(what, self.from, self.to)
                .await
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
            match out {
                Ok(resp) => Ok(resp),
                // A node whose Raft stopped answers 503 over HTTP: unreachable.
                Err(RaftError::Fatal(fatal)) => Err(RPCError::Unreachable(Unreachable::new(
                    &stopped(what, self.from, self.to, &fatal),
                ))),
                Err(remote) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                    self.to,
                    self.node.clone(),
                    remote,
                ))),
            }
        };
        match tokio::time::timeout(option.hard_ttl(), exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(RPCError::Network(NetworkError::new(&Lost {
                what,
                from: self.from,
                to: self.to,
                why: "no answer in time",
            }))),
        }
    }
}

/// The error a stopped target's Raft answered, as a lost message.
fn stopped(what: &'static str, from: NodeId, to: NodeId, fatal: &Fatal<NodeId>) -> Lost {
    tracing::debug!(node = to, %fatal, "the target's Raft stopped");
    Lost {
        what,
        from,
        to,
        why: "its Raft stopped",
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call("AppendEntries", &option, |raft| async move {
            raft.append_entries(rpc).await
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call("InstallSnapshot", &option, |raft| async move {
            raft.install_snapshot(rpc).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call("Vote", &option, |raft| async move { raft.vote(rpc).await })
            .await
    }
}
