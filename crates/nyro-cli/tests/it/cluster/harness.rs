//! [`Cluster`]: n `nyrodb serve` processes on loopback, each with its own config, data
//! directory and log in one temporary directory, and what a test does to them.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::http::{Http, REQUEST_TIMEOUT, Reply, Until, read_feed};
use super::network::{Network, Proxy};
use super::node::{Node, State};
use super::{WAIT, wait_until};
use crate::common::{free_port, healthy, nyrodb};

/// How many clusters of this test binary may run at once: `NYRODB_IT_CLUSTERS`, default 2.
/// Tests run in parallel; dozens of nodes with 500 ms election timeouts on two cores would
/// lose leaders to CPU starvation, not to anything the tests look at.
static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let slots = std::env::var("NYRODB_IT_CLUSTERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    Arc::new(Semaphore::new(slots))
});

/// How the nodes are configured.
#[derive(Clone, Debug)]
pub struct Options {
    /// Write a `[cluster]` section; without it the nodes are standalone servers (the harness
    /// checks its own pieces on those).
    pub cluster: bool,
    /// `cluster.secret` of the nodes `start` starts.
    pub secret: String,
    /// `cluster.heartbeat_ms`.
    pub heartbeat_ms: u64,
    /// `cluster.election_timeout_ms`.
    pub election_timeout_ms: u64,
    /// More keys of `[storage]` (after `path`), e.g. `"segment_size_mb = 1\n"`.
    pub storage_keys: String,
    /// More keys of `[cluster]`, e.g. `"snapshot_every = 5\n"`.
    pub cluster_keys: String,
    /// More TOML appended to every node's config: whole sections other than `[storage]`,
    /// `[server]` and `[cluster]` (e.g. `"[batch]\nsync = \"always\"\n"`).
    pub extra_config: String,
    /// Put each node behind a proxy of this network (its advertised address), so that the
    /// test can cut and delay node-to-node links; `None`: nodes reach each other directly.
    pub network: Option<Network>,
    /// Start every node with `--fail-fsync-when <its dir>/fail-fsync` (fault injection:
    /// [`Cluster::fail_fsync`] makes its disk's syncs fail).
    pub fail_fsync: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cluster: true,
            secret: "it-cluster-secret".to_string(),
            heartbeat_ms: 50,
            election_timeout_ms: 500,
            storage_keys: String::new(),
            cluster_keys: String::new(),
            extra_config: String::new(),
            network: None,
            fail_fsync: false,
        }
    }
}

/// Nodes on loopback. Node `i` (0-based, in start order) has `node_id` `i + 1`. Dropping
/// the cluster kills every process it started; if the thread is panicking it first prints
/// the tail of every node's log and keeps the directory (its path is printed). At most
/// [`SLOTS`] clusters run at once (a start waits for a slot): one cluster per test.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    /// The proxies in front of the nodes, when the options give a network.
    proxies: Vec<Proxy>,
    options: Options,
    http: Http,
    dir: Option<tempfile::TempDir>,
    /// Its place among the clusters running at once, given back when it is dropped.
    _slot: OwnedSemaphorePermit,
}

impl Cluster {
    /// Starts `n` voters that bootstrap together, with the default [`Options`], and waits
    /// until each answers `/health` (not for a leader: see [`Cluster::wait_for_leader`]).
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, Options::default()).await
    }

    /// Starts `n` standalone servers (no `[cluster]`).
    pub async fn standalone(n: usize) -> Self {
        let options = Options {
            cluster: false,
            ..Options::default()
        };
        Self::start_with(n, options).await
    }

    /// Starts `n` nodes configured by `options`. A node that exits because its port was
    /// taken meanwhile makes it start over on other ports, three times at most; any other
    /// failure to start is a panic with the node's log.
    pub async fn start_with(n: usize, options: Options) -> Self {
        let mut failure = String::new();
        for _attempt in 0..3 {
            let slot = Arc::clone(&SLOTS).acquire_owned().await.unwrap();
            let mut cluster = Self {
                nodes: Vec::new(),
                proxies: Vec::new(),
                options: options.clone(),
                http: Http::new(REQUEST_TIMEOUT),
                dir: Some(tempfile::tempdir().unwrap()),
                _slot: slot,
            };
            let mut ports: Vec<u16> = Vec::new();
            while ports.len() < n {
                let port = free_port();
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            let mut advertised = Vec::new();
            for (id, &port) in (1..).zip(&ports) {
                advertised.push(cluster.advertised_port(id, port).await);
            }
            let bootstrap: Vec<String> = (1..)
                .zip(&advertised)
                .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
                .collect();
            for ((id, &port), &advertise) in (1..).zip(&ports).zip(&advertised) {
                let secret = options.secret.clone();
                cluster.push_node(id, port, advertise, &bootstrap, &secret);
            }
            for node in &mut cluster.nodes {
                node.spawn();
                node.member = true;
            }
            let mut port_taken = false;
            for i in 0..n {
                match cluster.wait_healthy(i).await {
                    Ok(()) => {}
                    Err((true, why)) => {
                        port_taken = true;
                        failure = why;
                        break;
                    }
                    Err((false, why)) => panic!("{why}"),
                }
            }
            if !port_taken {
                return cluster;
            }
        }
        panic!("could not start {n} nodes in three attempts; the last failure: {failure}");
    }

    /// The port node `id` (listening on `port`) is advertised on: a new proxy's, when the
    /// options give a network; else `port`.
    async fn advertised_port(&mut self, id: u64, port: u16) -> u16 {
        match &self.options.network {
            None => port,
            Some(network) => {
                let proxy = network.proxy(id, port).await;
                let advertised = proxy.port();
                self.proxies.push(proxy);
                advertised
            }
        }
    }

    /// Creates node `id`'s directory and config (not its process) and returns its index.
    fn push_node(
        &mut self,
        id: u64,
        port: u16,
        advertise: u16,
        bootstrap: &[String],
        secret: &str,
    ) -> usize {
        let root = self.dir.as_ref().unwrap().path();
        let dir = root.join(format!("node{id}"));
        let _ = std::fs::remove_dir_all(&dir); // an earlier attempt's
        let mut config = format!(
            "[storage]\npath = {:?}\n{}\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n",
            dir.join("data").display().to_string(),
            self.options.storage_keys
        );
        if self.options.cluster {
            config.push_str(&format!(
                "[cluster]\nnode_id = {id}\nadvertise = \"127.0.0.1:{advertise}\"\nbootstrap = {bootstrap:?}\n\
                 secret = {secret:?}\nheartbeat_ms = {}\nelection_timeout_ms = {}\n{}\n",
                self.options.heartbeat_ms, self.options.election_timeout_ms, self.options.cluster_keys
            ));
        }
        config.push_str(&self.options.extra_config);
        let mut node = Node::new(dir, id, (port, advertise), &config);
        if self.options.fail_fsync {
            let trigger = node.fail_fsync_trigger();
            node.serve_args = vec!["--fail-fsync-when".into(), trigger.into_os_string()];
        }
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Waits until node `i` answers `/health`; else why not, with its log, and whether it
    /// exited because its port was taken (then starting over on another port may help).
    async fn wait_healthy(&mut self, i: usize) -> Result<(), (bool, String)> {
        let port = self.nodes[i].port();
        let outcome = wait_until(WAIT, async || {
            if let Some(status) = self.nodes[i].exited() {
                return Some(Err(status));
            }
            let up = tokio::task::spawn_blocking(move || healthy(port))
                .await
                .unwrap();
            up.then_some(Ok(()))
        })
        .await;
        let node = &self.nodes[i];
        let log = node.log_tail(100);
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(status)) => Err((
                log.contains("Address already in use"),
                format!(
                    "node {} exited ({status}) before answering /health; its log:\n{log}",
                    node.id()
                ),
            )),
            None => Err((
                false,
                format!(
                    "node {} did not answer /health within {WAIT:?}; its log:\n{log}",
                    node.id()
                ),
            )),
        }
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// How many nodes the harness started (dead, stopped and removed ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The directory of every node's directory (kept when a test fails).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().unwrap().path()
    }

    /// The options the nodes were configured with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The index of the node whose id is `id`.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.nodes.iter().position(|node| node.id() == id)
    }

    /// The members whose process runs (not killed, not stopped), by index.
    pub fn running_members(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_member() && self.nodes[i].state() == State::Running)
            .collect()
    }

    /// Marks node `i` as a member or not (after a membership change made with the CLI).
    pub fn set_member(&mut self, i: usize, member: bool) {
        self.nodes[i].member = member;
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// `method path` on node `i`; the answer, or why there is none, naming the node.
    pub async fn try_request(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let node = &self.nodes[i];
        let url = format!("{}{path}", node.url());
        self.http
            .send(method, &url, body)
            .await
            .map_err(|e| format!("node {}: {e}", node.id()))
    }

    /// `method path` on node `i`; panics if it does not answer.
    pub async fn request(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        self.try_request(i, method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET path` on node `i`.
    pub async fn get(&self, i: usize, path: &str) -> Reply {
        self.request(i, Method::GET, path, None).await
    }

    /// `POST path` with a JSON body on node `i`.
    pub async fn post(&self, i: usize, path: &str, body: Value) -> Reply {
        self.request(i, Method::POST, path, Some(&body)).await
    }

    /// `PUT path` with a JSON body on node `i`.
    pub async fn put(&self, i: usize, path: &str, body: Value) -> Reply {
        self.request(i, Method::PUT, path, Some(&body)).await
    }

    /// `DELETE path` on node `i`.
    pub async fn delete(&self, i: usize, path: &str) -> Reply {
        self.request(i, Method::DELETE, path, None).await
    }

    /// Node `i`'s `GET /v1/cluster`, which must answer 200.
    pub async fn status(&self, i: usize) -> Value {
        let what = format!("GET /v1/cluster on node {}", self.nodes[i].id());
        self.get(i, "/v1/cluster").await.expect(200, &what)
    }

    /// Node `i`'s `last_seq` in `GET /v1/stats` (its own applied state).
    pub async fn last_seq(&self, i: usize) -> u64 {
        let what = format!("GET /v1/stats on node {}", self.nodes[i].id());
        let stats = self.get(i, "/v1/stats").await.expect(200, &what);
        stats["last_seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no last_seq in {stats}"))
    }

    /// Node `i`'s change feed (all collections) after `since`, up to the first event with a
    /// seq of `until` or more; panics if it does not get there within [`WAIT`].
    pub async fn feed(&self, i: usize, since: u64, until: u64) -> Vec<Value> {
        self.feed_until(i, since, Until::Seq(until)).await
    }

    /// Node `i`'s change feed after `since`, up to `until`; panics if it does not get there
    /// within [`WAIT`].
    pub async fn feed_until(&self, i: usize, since: u64, until: Until) -> Vec<Value> {
        read_feed(&self.nodes[i].url(), since, until, WAIT)
            .await
            .unwrap_or_else(|e| panic!("the change feed of node {}: {e}", self.nodes[i].id()))
    }

    /// Polls every running member's `GET /v1/cluster` until all give the same `leader_id`,
    /// that of a running member, and returns that member's index. Panics after [`WAIT`]
    /// with each node's last answer.
    pub async fn wait_for_leader(&self) -> usize {
        let nodes = self.running_members();
        let mut answers: Vec<String> = Vec::new();
        let leader = wait_until(WAIT, async || {
            answers.clear();
            let mut ids = Vec::new();
            for &i in &nodes {
                let answer = self.try_request(i, Method::GET, "/v1/cluster", None).await;
                let id = self.nodes[i].id();
                match answer {
                    Ok(reply) if reply.status == 200 => {
                        ids.push(reply.body["leader_id"].as_u64());
                        answers.push(format!("node {id}: {}", reply.body));
                    }
                    Ok(reply) => answers.push(format!("node {id}: {reply}")),
                    Err(e) => answers.push(e),
                }
            }
            let index = self.index_of(agreed_leader(&ids, nodes.len())?)?;
            nodes.contains(&index).then_some(index)
        })
        .await;
        leader.unwrap_or_else(|| {
            panic!(
                "the running members (nodes {:?}) did not agree on a running leader within \
                 {WAIT:?}; their last answers:\n{}",
                nodes
                    .iter()
                    .map(|&i| self.nodes[i].id())
                    .collect::<Vec<_>>(),
                answers.join("\n")
            )
        })
    }

    /// SIGKILL to node `i` (its process is reaped).
    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].kill9();
    }

    /// SIGSTOP to node `i`: it keeps its port and answers nothing until [`Cluster::cont`].
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].signal(rustix::process::Signal::STOP);
        self.nodes[i].state = State::Stopped;
    }

    /// SIGCONT to node `i`.
    pub fn cont(&mut self, i: usize) {
        self.nodes[i].signal(rustix::process::Signal::CONT);
        self.nodes[i].state = State::Running;
    }

    /// Makes every fdatasync, fsync and directory fsync of node `i` fail from now on (it
    /// must have been started with [`Options::fail_fsync`]): its trigger file is created.
    pub fn fail_fsync(&self, i: usize) {
        assert!(
            self.options.fail_fsync,
            "the nodes run without --fail-fsync-when"
        );
        std::fs::write(self.nodes[i].fail_fsync_trigger(), b"").unwrap();
    }

    /// Lets node `i`'s syncs succeed again (its trigger file is removed).
    pub fn heal_fsync(&self, i: usize) {
        std::fs::remove_file(self.nodes[i].fail_fsync_trigger()).unwrap();
    }

    /// Starts node `i` again (killed first if it still runs) on the same config and data
    /// directory, and waits until it answers `/health`.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].kill9();
        self.nodes[i].spawn();
        if let Err((_, why)) = self.wait_healthy(i).await {
            panic!("restarting: {why}");
        }
    }

    /// Starts a new node with an empty bootstrap list (it waits to be added) and `secret`,
    /// not yet a member; returns its index. Its id is one more than the highest so far.
    pub async fn spawn_node(&mut self, secret: &str) -> usize {
        let id = self.nodes.iter().map(Node::id).max().unwrap_or(0) + 1;
        let mut failure = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let advertise = self.advertised_port(id, port).await;
            let i = self.push_node(id, port, advertise, &[], secret);
            self.nodes[i].spawn();
            match self.wait_healthy(i).await {
                Ok(()) => return i,
                Err((true, why)) => failure = why, // its port was taken: another one
                Err((false, why)) => panic!("{why}"),
            }
            self.nodes.pop();
        }
        panic!("could not start node {id} in three attempts; the last failure: {failure}");
    }

    /// Starts a new node with the cluster's secret and adds it with
    /// `POST /v1/cluster/members {"id", "addr"}` on node `via`, which must answer 2xx;
    /// returns its index.
    pub async fn add_node_via(&mut self, via: usize) -> usize {
        let secret = self.options.secret.clone();
        let i = self.spawn_node(&secret).await;
        let node = &self.nodes[i];
        let body = json!({"id": node.id(), "addr": node.addr()});
        let reply = self.post(via, "/v1/cluster/members", body.clone()).await;
        assert!(
            reply.is_success(),
            "POST /v1/cluster/members {body} on node {}: {reply}",
            self.nodes[via].id()
        );
        self.nodes[i].member = true;
        i
    }

    /// [`Cluster::add_node_via`] the first running member.
    pub async fn add_node(&mut self) -> usize {
        let via = *self
            .running_members()
            .first()
            .expect("a running member to add a node through");
        self.add_node_via(via).await
    }

    /// `DELETE /v1/cluster/members/{id of i}` on node `via`, which must answer 2xx; node `i`
    /// is then no member (its process still runs).
    pub async fn remove_node_via(&mut self, i: usize, via: usize) {
        let path = format!("/v1/cluster/members/{}", self.nodes[i].id());
        let reply = self.delete(via, &path).await;
        assert!(
            reply.is_success(),
            "DELETE {path} on node {}: {reply}",
            self.nodes[via].id()
        );
        self.nodes[i].member = false;
    }

    /// The `nyrodb` binary with `args` and then `--url` aimed at node `i` (for
    /// `nyrodb cluster ...`).
    pub fn cli(&self, i: usize, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = nyrodb();
        cmd.args(args).args(["--url", &self.nodes[i].url()]);
        cmd
    }

    /// How long a request may take to be answered by a running node under the contract:
    /// 2 x election_timeout_ms plus `slack`.
    pub fn answer_bound(&self, slack: std::time::Duration) -> std::time::Duration {
        std::time::Duration::from_millis(2 * self.options.election_timeout_ms) + slack
    }

    /// Measures one request on node `i`: its answer (or why none) and how long it took.
    pub async fn timed(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Result<Reply, String>, std::time::Duration) {
        let started = Instant::now();
        let answer = self.try_request(i, method, path, body).await;
        (answer, started.elapsed())
    }
}

/// The leader all `nodes` answers name, if there are that many answers and each names it.
pub(super) fn agreed_leader(leader_ids: &[Option<u64>], nodes: usize) -> Option<u64> {
    let first = (*leader_ids.first()?)?;
    let agreed = leader_ids.len() == nodes && leader_ids.iter().all(|&id| id == Some(first));
    agreed.then_some(first)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!(
                    "----- node {} ({}, {:?}, member: {}): the end of {} -----\n{}",
                    node.id(),
                    node.url(),
                    node.state(),
                    node.is_member(),
                    node.log_path().display(),
                    node.log_tail(200)
                );
            }
        }
        for node in &mut self.nodes {
            node.kill9();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!(
                "the nodes' directories are kept in {}",
                dir.keep().display()
            );
        }
    }
}
