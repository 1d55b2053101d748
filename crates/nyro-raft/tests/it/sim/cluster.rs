//! The simulated cluster: real `nyro_raft::Node`s over real data directories, joined by
//! the simulated network; nodes stop and start again on their directory with the same id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nyro_core::{Config, OpenOptions, ScrubRate, SyncPolicy};
use nyro_raft::{Node, NodeId, NodeOptions};
use tempfile::TempDir;

use super::net::{Net, NodeNet, addr};

/// The collection every operation writes to.
pub const COLLECTION: &str = "sim";

/// The leader's heartbeat interval (on the runtime's clock).
pub const HEARTBEAT: Duration = Duration::from_millis(50);
/// The election timeout (randomized by openraft between this and twice this).
pub const ELECTION: Duration = Duration::from_millis(300);

/// N nodes, each up (a running `Node`) or down (only its directory).
pub struct SimCluster {
    pub net: Net,
    pub ids: Vec<NodeId>,
    nodes: BTreeMap<NodeId, Node>,
    dirs: BTreeMap<NodeId, TempDir>,
    snapshot_every: u64,
}

fn config(dir: &TempDir) -> Config {
    let mut config = Config::default();
    config.storage.path = dir.path().to_path_buf();
    config.batch.sync = SyncPolicy::Always;
    config
}

fn open_options() -> OpenOptions {
    OpenOptions {
        maintenance_interval: Duration::from_secs(24 * 3600),
        scrub_rate: ScrubRate::Off,
        ..OpenOptions::default()
    }
}

impl SimCluster {
    /// Starts `n` nodes (ids 1..=n), every one bootstrapping the same membership. A
    /// snapshot is taken every `snapshot_every` entries; the network's drops are drawn
    /// from `seed`.
    pub async fn start(n: u64, snapshot_every: u64, seed: u64) -> anyhow::Result<SimCluster> {
        let mut cluster = SimCluster {
            net: Net::new(seed),
            ids: (1..=n).collect(),
            nodes: BTreeMap::new(),
            dirs: BTreeMap::new(),
            snapshot_every,
        };
        for id in 1..=n {
            cluster.dirs.insert(id, tempfile::tempdir()?);
            cluster.restart(id).await?;
        }
        Ok(cluster)
    }

    /// Starts node `id` on its directory (it must be down).
    pub async fn restart(&mut self, id: NodeId) -> anyhow::Result<()> {
        let dir = self
            .dirs
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no node {id}"))?;
        let options = NodeOptions {
            id,
            advertise: addr(id),
            bootstrap: self.ids.iter().map(|&i| (i, addr(i))).collect(),
            heartbeat: HEARTBEAT,
            election_timeout: ELECTION,
            snapshot_every: self.snapshot_every,
        };
        let network = NodeNet {
            net: self.net.clone(),
            from: id,
        };
        // The tasks of the stopped node let go of its directory soon after it stopped.
        let mut tries = 0;
        let node = loop {
            let peers = Arc::new(network.clone());
            let started = Node::start(
                &config(dir),
                open_options(),
                options.clone(),
                network.clone(),
                peers,
            )
            .await;
            match started {
                Err(e) if tries < 100 && e.to_string().contains("is locked") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                started => break started?,
            }
        };
        self.net.up(id, node.raft().clone());
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Stops node `id` (cut off first, then its Raft stopped and its database closed).
    pub async fn stop(&mut self, id: NodeId) -> anyhow::Result<()> {
        self.net.down(id);
        if let Some(node) = self.nodes.remove(&id) {
            node.shutdown().await?;
        }
        Ok(())
    }

    /// Node `id`, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// The nodes up.
    pub fn up(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The ids of the nodes down.
    pub fn down(&self) -> Vec<NodeId> {
        self.ids
            .iter()
            .copied()
            .filter(|id| !self.nodes.contains_key(id))
            .collect()
    }

    /// Stops every node.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        for id in self.ids.clone() {
            self.stop(id).await?;
        }
        Ok(())
    }
}
