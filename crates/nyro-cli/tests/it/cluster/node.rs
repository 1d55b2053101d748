//! One node of a test cluster: its directory (config, data, log), its `nyrodb serve` process
//! and what the harness did to it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;

use rustix::process::Signal;

use crate::common::{send_signal, serve_command};

/// What the harness last did to a node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Started (and not stopped or killed since).
    Running,
    /// Paused with SIGSTOP: it holds its port and answers nothing.
    Stopped,
    /// Killed with SIGKILL (or never started).
    Dead,
}

/// A node: `nyrodb serve --config <dir>/nyrodb.toml`, data in `<dir>/data`, stdout and stderr
/// appended to `<dir>/node.log` (each start marked).
#[derive(Debug)]
pub struct Node {
    id: u64,
    port: u16,
    /// The port other nodes reach it on (a proxy's, or `port`).
    advertise: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
    pub(super) state: State,
    /// Whether the cluster counts it as a member (bootstrap voter, or added and not removed):
    /// waits for a leader and comparisons look at running members only.
    pub(super) member: bool,
    /// More arguments of `nyrodb serve` (after `--config`).
    pub(super) serve_args: Vec<std::ffi::OsString>,
}

impl Node {
    /// A node with id `id` listening on 127.0.0.1:`port`, advertised on `advertise`, in
    /// `dir` (created), whose config is `config`.
    pub(super) fn new(dir: PathBuf, id: u64, (port, advertise): (u16, u16), config: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nyrodb.toml"), config).unwrap();
        Self {
            id,
            port,
            advertise,
            dir,
            child: None,
            starts: 0,
            state: State::Dead,
            member: false,
            serve_args: Vec::new(),
        }
    }

    /// Its `[cluster] node_id` (a standalone node has one in the harness only).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its address as other nodes and the membership API name it: `127.0.0.1:<port>`, or
    /// its proxy's.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.advertise)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Its log file (every start's stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// Its process id while it has a process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the harness last did to it.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the cluster counts it as a member.
    pub fn is_member(&self) -> bool {
        self.member
    }

    /// Starts its process on its config and data directory (the same every time).
    pub(super) fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "node {} already has a process",
            self.id
        );
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        writeln!(
            log,
            "===== harness: start {} of node {} =====",
            self.starts, self.id
        )
        .unwrap();
        let config = self.dir.join("nyrodb.toml");
        let child = serve_command(&self.dir, &config)
            .args(&self.serve_args)
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.state = State::Running;
    }

    /// Whether its process has exited by itself (then it is reaped and the node is dead).
    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        self.state = State::Dead;
        Some(status)
    }

    /// SIGKILL, then reaps the process. Nothing if it has none.
    pub(super) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.state = State::Dead;
    }

    /// Sends `signal` (SIGSTOP, SIGCONT) to its process.
    pub(super) fn signal(&mut self, signal: Signal) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("node {} has no process to send {signal:?} to", self.id));
        send_signal(pid, signal);
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The file whose existence makes its syncs fail when it runs with `--fail-fsync-when`.
    pub fn fail_fsync_trigger(&self) -> PathBuf {
        self.dir.join("fail-fsync")
    }

    /// Its directory (config, data, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A stopped process dies of SIGKILL as well.
        self.kill9();
    }
}
