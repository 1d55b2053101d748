//! What the tests share: an in-memory storage for openraft, nodes serving the internal
//! routes on loopback, a proxy between nodes, and bounded waits.

pub mod mem_store;
pub mod proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use nyro_raft::network::{HttpNetworkFactory, PeerTls, internal_routes};
use nyro_raft::{NodeId, TypeConfig};
use openraft::{BasicNode, Raft, RaftMetrics, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::mem_store::{MemLog, MemStateMachine};
use self::proxy::Proxy;

/// The bound of every wait.
pub const WAIT: Duration = Duration::from_secs(30);
/// The cluster's shared secret.
pub const SECRET: &str = "a shared secret";
/// The internal routes' body limit.
pub const MAX_BODY: usize = 1 << 20;
/// The snapshot chunk size: small, so a snapshot takes several chunks.
pub const CHUNK: u64 = 2048;

/// openraft's settings for the tests: fast elections, small snapshot chunks, snapshots and
/// purges only when a test asks.
pub fn raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        cluster_name: "nyro-raft-tests".to_string(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        install_snapshot_timeout: 5000,
        snapshot_max_chunk_size: CHUNK,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Default::default()
    };
    Arc::new(config.validate().unwrap())
}

/// A server on a free loopback port, stopped when dropped.
pub struct Serving {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on a free loopback port.
pub async fn serve(router: Router) -> Serving {
    serve_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), router)
}

/// Serves `router` on `listener`.
pub fn serve_on<L>(listener: L, router: Router) -> Serving
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Serving { addr, task }
}

/// One node: its Raft, its state machine, its internal routes, and the proxy in front of
/// them whose address the other nodes use.
pub struct TestNode {
    pub id: NodeId,
    pub raft: Raft<TypeConfig>,
    pub state_machine: MemStateMachine,
    pub proxy: Proxy,
    /// The node's own server (the internal routes), without the proxy.
    pub server: Serving,
}

impl TestNode {
    pub async fn start(id: NodeId) -> TestNode {
        TestNode::start_with(id, MAX_BODY).await
    }

    /// A node whose internal routes take bodies of at most `max_body` bytes.
    pub async fn start_with(id: NodeId, max_body: usize) -> TestNode {
        let state_machine = MemStateMachine::default();
        let network = HttpNetworkFactory::new(id, SECRET, &PeerTls::Plain).unwrap();
        let raft = Raft::new(
            id,
            raft_config(),
            network,
            MemLog::default(),
            state_machine.clone(),
        )
        .await
        .unwrap();
        let server = serve(internal_routes(raft.clone(), SECRET, max_body)).await;
        let proxy = Proxy::start(server.addr).await;
        TestNode {
            id,
            raft,
            state_machine,
            proxy,
            server,
        }
    }

    pub fn node(&self) -> BasicNode {
        BasicNode {
            addr: self.proxy.addr.to_string(),
        }
    }
}

/// Waits (at most [`WAIT`]) until `raft`'s metrics satisfy `condition`.
pub async fn wait_metrics(
    raft: &Raft<TypeConfig>,
    what: &str,
    condition: impl Fn(&RaftMetrics<NodeId, BasicNode>) -> bool + Send,
) {
    raft.wait(Some(WAIT))
        .metrics(condition, what)
        .await
        .unwrap();
}

/// Waits (at most [`WAIT`]) until `condition` holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not so after {WAIT:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nodes 1..=n, initialized as one group of voters.
pub struct Cluster {
    pub nodes: Vec<TestNode>,
}

impl Cluster {
    pub async fn start(n: u64) -> Cluster {
        Cluster::start_with(n, MAX_BODY).await
    }

    /// Nodes whose internal routes take bodies of at most `max_body` bytes.
    pub async fn start_with(n: u64, max_body: usize) -> Cluster {
        let mut nodes = Vec::new();
        for id in 1..=n {
            nodes.push(TestNode::start_with(id, max_body).await);
        }
        let members: BTreeMap<NodeId, BasicNode> = nodes.iter().map(|n| (n.id, n.node())).collect();
        nodes[0].raft.initialize(members).await.unwrap();
        Cluster { nodes }
    }

    pub fn node(&self, id: NodeId) -> &TestNode {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// The leader every node agrees on, waiting for one.
    pub async fn leader(&self) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let leaders: Vec<Option<NodeId>> = self
                .nodes
                .iter()
                .map(|n| n.raft.metrics().borrow().current_leader)
                .collect();
            if let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*leader))
                && self.node(*leader).raft.metrics().borrow().state.is_leader()
            {
                return *leader;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader agreed on: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `id` has applied the entry at `index`.
    pub async fn wait_applied(&self, id: NodeId, index: u64) {
        let raft = &self.node(id).raft;
        wait_metrics(raft, &format!("node {id} applies {index}"), |m| {
            m.last_applied.is_some_and(|l| l.index >= index)
        })
        .await;
    }

    pub async fn shutdown(self) {
        for node in &self.nodes {
            node.raft.shutdown().await.unwrap();
        }
    }
}
