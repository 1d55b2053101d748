//! Helpers: the binary as a command with a time limit, data directories filled through the
//! embedded API, and a server child process that is killed when its guard is dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nyro_core::{Config, Database, Document, WriteOptions};
use serde_json::json;

/// Longest any one command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary, with a time limit and none of the caller's NyroDB variables.
pub fn nyrodb() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("nyrodb").unwrap();
    cmd.timeout(COMMAND_TIMEOUT);
    for var in [
        "NYRODB_URL",
        "NYRODB_TOKEN",
        "NYRODB_LOG_FORMAT",
        "NYRODB_CA_CERT",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// stdout and stderr of an output, as text.
pub fn texts(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The binary running the offline `command` on the data directory `data`; more arguments
/// may follow.
pub fn offline(command: &str, data: &Path) -> assert_cmd::Command {
    let mut cmd = nyrodb();
    cmd.args([command, "--data"]).arg(data);
    cmd
}

/// Runs `cmd`, asserts that it succeeded, and returns its stdout and stderr.
pub fn succeeds(cmd: &mut assert_cmd::Command) -> (String, String) {
    texts(cmd.assert().success().get_output())
}

/// Runs `cmd`, asserts that it failed with exit code 1, and returns its stdout and stderr.
pub fn fails(cmd: &mut assert_cmd::Command) -> (String, String) {
    texts(cmd.assert().code(1).get_output())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Documents `users` and `orders` get from [`populate`]: every kind of value, replaced and
/// deleted documents, ids with gaps.
pub fn populate(dir: &Path) -> u64 {
    runtime().block_on(async {
        let mut config = Config::default();
        config.storage.path = dir.to_path_buf();
        let db = Database::open(&config).await.unwrap();
        db.create_collection("users", &["city".to_string()])
            .await
            .unwrap();
        let cities = ["London", "Paris", "Zürich", "東京"];
        let docs: Vec<Document> = (0..600u64)
            .map(|i| {
                Document::from_json(json!({
                    "name": format!("user {i} \"quoted\" \\ back"),
                    "city": cities[(i % 4) as usize],
                    "age": i as i64 - 300,
                    "score": i as f64 / 7.0,
                    "big": u64::MAX - i,
                    "active": i % 2 == 0,
                    "nothing": null,
                    "tags": ["a", i, {"deep": [[i]]}],
                    "address": {"street": "Main", "n": i},
                }))
                .unwrap()
            })
            .collect();
        db.insert_many("users", docs, WriteOptions::default())
            .await
            .unwrap();
        for id in (1..600).step_by(10) {
            db.delete("users", id, WriteOptions::default())
                .await
                .unwrap();
        }
        for id in (5..600).step_by(50) {
            let doc = Document::from_json(json!({"name": "replaced", "city": "Paris"})).unwrap();
            db.replace("users", id, doc, WriteOptions::default())
                .await
                .unwrap();
        }
        let orders: Vec<Document> = (0..40u64)
            .map(|i| Document::from_json(json!({"_id": 1000 + i * 3, "total": i})).unwrap())
            .collect();
        db.insert_many("orders", orders, WriteOptions::default())
            .await
            .unwrap();
        let count = db.collections().iter().map(|c| c.count).sum();
        db.close().await.unwrap();
        count
    })
}

/// The segment files of a data directory, sorted.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".log"))
        })
        .collect();
    files.sort();
    files
}

/// Copies the segment files of `from` into a new directory `to`.
pub fn copy_data_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in segment_files(from) {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True once `GET /health` on 127.0.0.1:`port` answers 200.
pub fn healthy(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// `nyrodb serve --config <config>` run in `dir`, with none of the caller's `NYRODB_*`
/// variables (they would override the config) and no `RUST_LOG`, stdin closed.
pub fn serve_command(dir: &Path, config: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nyrodb"));
    cmd.current_dir(dir)
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("NYRODB_") {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// `nyrodb serve` as a child process on a free loopback port; killed when dropped.
pub struct Server {
    child: Child,
    /// Its base URL.
    pub url: String,
    /// Its data directory.
    pub data: PathBuf,
    /// Holds the config, the data directory and the server's log until the end.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with this config file text and auth token (empty: no auth).
    pub fn start(config: &str, token: &str) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), config, token, false)
    }

    /// Starts a server whose config sets `server.tls_cert` and `tls_key` (files in `dir`):
    /// it is up once its log says it listens, since it answers no plain HTTP.
    pub fn start_tls(dir: tempfile::TempDir, config: &str, token: &str) -> Self {
        Self::start_in(dir, config, token, true)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start_in(dir: tempfile::TempDir, config: &str, token: &str, tls: bool) -> Self {
        let data = dir.path().join("data");
        let config_path = dir.path().join("nyrodb.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log_path = dir.path().join("server.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = serve_command(dir.path(), &config_path)
                .arg("--data")
                .arg(&data)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env("NYRODB_SERVER_AUTH_TOKEN", token)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                let up = if tls {
                    std::fs::read_to_string(&log_path)
                        .is_ok_and(|log| log.contains("nyrodb listening"))
                } else {
                    healthy(port)
                };
                if up {
                    let scheme = if tls { "https" } else { "http" };
                    return Self {
                        child,
                        url: format!("{scheme}://127.0.0.1:{port}"),
                        data,
                        _dir: dir,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // e.g. the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("nyrodb serve did not become healthy; its last log:\n{last_log}");
    }

    /// A command of the binary aimed at this server, with its token.
    pub fn command(&self, token: &str) -> assert_cmd::Command {
        let mut cmd = nyrodb();
        cmd.env("NYRODB_URL", &self.url).env("NYRODB_TOKEN", token);
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to process `pid`. Through the system call, not the `kill` binary: procps
/// (which has it on Debian) is not on every machine CI starts from.
pub fn send_signal(pid: u32, signal: rustix::process::Signal) {
    let raw = i32::try_from(pid).expect("a process id fits an i32");
    let pid = rustix::process::Pid::from_raw(raw).expect("a process id is not 0");
    rustix::process::kill_process(pid, signal)
        .unwrap_or_else(|e| panic!("sending {signal:?} to process {pid:?}: {e}"));
}

/// An axum app served on a free loopback port by a runtime of its own (a stand-in server
/// that records what a command sends); stopped when dropped.
pub struct StubServer {
    /// Its base URL.
    pub url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StubServer {
    /// Serves `app`.
    pub fn serve(app: axum::Router) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            runtime: Some(runtime),
        }
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
