//! The crash driver, shared by the short crash test (`tests/crash/main.rs`, which runs this
//! test binary itself as the server) and `examples/crash_driver.rs` (which runs the release
//! `nyrodb serve`, for `scripts/crash-test.sh`).
//!
//! One round: start the server on the data directory (a free loopback port), verify every
//! write acknowledged so far, drive concurrent writers (single inserts, `_bulk` inserts,
//! replaces, deletes) and SIGKILL the server after a random delay while they write. The next
//! round restarts the server on the same directory and verifies again.
//!
//! What is checked after each restart, per (collection, `_id`):
//! - a write answered 2xx is *acknowledged*: the stored document must be exactly the content
//!   of the last acknowledged write (a deleted one must be absent);
//! - a write whose answer never came (the kill, or a 5xx other than `overloaded`) is
//!   *unknown*: its outcome may or may not be there. Each writer stops at its first unknown
//!   write, so an unknown write is always the last write to its ids in that round;
//! - nothing is stored that was never written, every listed document reads back the same by
//!   id, and the secondary index agrees with the documents.
//!
//! Every wait is bounded; only loopback addresses are used.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The collection of single inserts (with a secondary index on `k`).
pub const DOCS: &str = "docs";
/// The collection of `_bulk` inserts (no index).
pub const BULK: &str = "bulk";
/// Values of the indexed field `k`.
const K_VALUES: u64 = 5;
/// Longest one HTTP request may take before its outcome counts as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest a server may take to answer `/health` after being started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Most failure descriptions kept (the counts are always complete).
const MAX_FAILURES: usize = 50;

/// What a run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds (kills); the server is started `rounds + 1` times.
    pub rounds: u32,
    /// `NYRODB_BATCH_SYNC` of the server: `always` or `interval`.
    pub sync: String,
    /// Concurrent writers.
    pub writers: u64,
    /// The kill comes a random time in `kill_after.0..=kill_after.1` after the writers start.
    pub kill_after: (Duration, Duration),
    /// Seed of every random choice (kill times, operations, sizes).
    pub seed: u64,
    /// The data directory (kept across rounds).
    pub data: PathBuf,
    /// Where the servers' stderr goes, one file per start (not inside `data`).
    pub logs: PathBuf,
    /// Print one line per round.
    pub verbose: bool,
    /// Whether to call `POST /v1/_compact` during the rounds.
    pub compact: bool,
    /// Called on the data directory after each kill, before the restart: only the driver's
    /// own self-test uses it, to damage the log and see the loss reported.
    pub after_kill: Option<fn(&Path)>,
}

/// Makes the command that starts a server on (data directory, listen address, sync policy).
/// The driver sets stdin, stdout and stderr.
pub type Launch = dyn Fn(&Path, SocketAddr, &str) -> Command + Send + Sync;

/// The figures of a run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Kills survived (each followed by a restart and a verification).
    pub rounds: u32,
    /// Write requests answered 2xx.
    pub acked_requests: u64,
    /// Documents those requests wrote or deleted (a `_bulk` counts each document).
    pub acked_docs: u64,
    /// Acknowledged single inserts, `_bulk` inserts, replaces, deletes.
    pub acked_by_kind: [u64; 4],
    /// Write requests whose answer never came.
    pub unknown: u64,
    /// Of those, the ones found applied after the restart.
    pub unknown_applied: u64,
    /// Requests refused with 503 `overloaded` (nothing written; retried later).
    pub overloaded: u64,
    /// (collection, id) states checked after restarts, summed over rounds.
    pub verified: u64,
    /// Acknowledged writes not found (absent, or an older version stored).
    pub lost: u64,
    /// Acknowledged deletes whose document came back.
    pub resurrected: u64,
    /// Stored contents equal to no write (torn or foreign values), documents that were never
    /// written, by-id reads that differ from the listing, index answers that differ from the
    /// documents, and answers a correct server never gives (e.g. 409 for a new id).
    pub wrong: u64,
    /// Unknown `_bulk` inserts found partly applied after the restart (informational: the
    /// contract's all-or-nothing is about refusals; a bulk cut by a crash was never answered).
    pub partial_bulks: u64,
    /// Restarts whose log reports a dropped torn tail.
    pub torn_tails: u64,
    /// `POST /v1/_compact` calls answered during the rounds, and how many segments they
    /// rewrote.
    pub compactions: u64,
    /// Segments rewritten by those compactions.
    pub segments_compacted: u64,
    /// `POST /v1/_compact` calls cut short by the kill.
    pub compactions_killed: u64,
    /// What went wrong, first [`MAX_FAILURES`].
    pub failures: Vec<String>,
}

impl Figures {
    /// No acknowledged write lost, no delete undone, nothing wrong.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.resurrected == 0 && self.wrong == 0
    }

    fn fail(&mut self, what: String) {
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(what);
        }
    }

    /// A human summary, several lines.
    pub fn summary(&self, options: &Options) -> String {
        let [ins, bulk, rep, del] = self.acked_by_kind;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "crash test: sync={} writers={} seed={}",
            options.sync, options.writers, options.seed
        );
        let _ = writeln!(s, "rounds (kill -9 + restart + verify): {}", self.rounds);
        let _ = writeln!(
            s,
            "acknowledged writes: {} requests, {} documents (inserts {ins}, bulks {bulk}, \
             replaces {rep}, deletes {del})",
            self.acked_requests, self.acked_docs
        );
        let _ = writeln!(
            s,
            "unknown (answer never came): {} ({} found applied); overloaded retries: {}",
            self.unknown, self.unknown_applied, self.overloaded
        );
        let _ = writeln!(
            s,
            "states verified: {}; torn tails dropped on restart: {}; partly applied unknown \
             bulks: {}",
            self.verified, self.torn_tails, self.partial_bulks
        );
        let _ = writeln!(
            s,
            "compactions during the rounds: {} answered ({} segments rewritten), {} cut short \
             by the kill",
            self.compactions, self.segments_compacted, self.compactions_killed
        );
        let _ = writeln!(
            s,
            "LOST: {}  RESURRECTED DELETES: {}  WRONG: {}",
            self.lost, self.resurrected, self.wrong
        );
        for f in &self.failures {
            let _ = writeln!(s, "  - {f}");
        }
        s
    }
}

/// splitmix64: small, seedable, good enough to pick operations and delays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
}

/// A seed from the clock, for runs that do not give one.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// The content of write number `v` (unique over the whole run) by writer `w`: the stored
/// document must be exactly this plus `_id`.
fn content(w: u64, v: u64) -> Value {
    json!({
        "w": w,
        "v": v,
        "k": v % K_VALUES,
        "pad": "x".repeat((v % 23 * 41) as usize),
        "tags": [v, format!("t{}", v % 7)],
        "nested": {"v": v, "even": v.is_multiple_of(2)},
    })
}

type Key = (&'static str, u64);

/// The outcome of an unknown write: what it would have left for this id.
#[derive(Debug, Clone)]
struct Pending {
    value: Option<Value>,
    /// The unknown `_bulk` it belongs to (its number and size), to spot partial bulks.
    bulk: Option<(u64, usize)>,
}

/// What is known about one (collection, id).
#[derive(Debug, Clone, Default)]
struct IdState {
    /// The last acknowledged state (or, after a verification, the state found).
    expected: Option<Value>,
    /// Whether that state is the result of an acknowledged delete.
    deleted: bool,
    /// An unknown write issued after it (the writer stopped there).
    pending: Option<Pending>,
    /// Every `v` ever written to this id (to tell a lost update from a foreign value).
    history: BTreeSet<u64>,
}

/// Everything the writers did in a round.
#[derive(Debug, Default)]
struct WriterReport {
    states: BTreeMap<Key, IdState>,
    acked_requests: u64,
    acked_docs: u64,
    acked_by_kind: [u64; 4],
    unknown: u64,
    overloaded: u64,
    unexpected: Vec<String>,
}

/// A running server child.
struct Running {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Running {
    /// SIGKILL, and wait until it is gone.
    fn kill(self) {
        drop(self);
    }
}

/// A server is never left running, whatever way the driver returns.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a reqwest client")
}

fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Starts a server (on a fresh free port, retried if it loses the port to someone else)
/// and waits until it answers `/health`.
async fn start(
    options: &Options,
    launch: &Launch,
    start_no: u32,
    client: &reqwest::Client,
) -> Result<Running, String> {
    let mut last_error = String::new();
    for attempt in 0..5 {
        let addr = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        let log = options
            .logs
            .join(format!("server-{start_no:03}-{attempt}.log"));
        let stderr = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut command = launch(&options.data, addr, &options.sync);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let base = format!("http://{addr}");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                // A panic's message, else the last lines.
                let shown = match lines.iter().position(|l| l.contains("panicked")) {
                    Some(at) => &lines[at..lines.len().min(at + 3)],
                    None => &lines[lines.len().saturating_sub(5)..],
                };
                last_error = format!("server exited at start ({status}): {}", shown.join(" | "));
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "server did not answer /health within {START_TIMEOUT:?}"
                ));
            }
            let health = client
                .get(format!("{base}/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if matches!(&health, Ok(r) if r.status().is_success()) {
                return Ok(Running { child, base, log });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Only a lost port is worth another try.
        if !(last_error.contains("listen") || last_error.contains("in use")) {
            return Err(last_error);
        }
    }
    Err(last_error)
}

/// Runs the whole test on `options.data`: `rounds` kills, each followed by a restart and a
/// verification. `Err` only for harness problems (a server that does not start).
pub async fn run(options: &Options, launch: &Launch) -> Result<Figures, String> {
    std::fs::create_dir_all(&options.logs)
        .map_err(|e| format!("cannot create {}: {e}", options.logs.display()))?;
    let mut figures = Figures::default();
    let mut model: BTreeMap<Key, IdState> = BTreeMap::new();
    let mut rng = Rng::new(options.seed);
    let next_id = Arc::new(AtomicU64::new(1));
    let next_v = Arc::new(AtomicU64::new(1));
    let mut bulk_no = 0u64;
    for start_no in 0..=options.rounds {
        let client = client();
        let server = start(options, launch, start_no, &client).await?;
        if start_no > 0 {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            if log.contains("torn tail") {
                figures.torn_tails += 1;
            }
            let before = (figures.lost, figures.resurrected, figures.wrong);
            let checked = verify(&client, &server.base, &mut model, &mut figures).await;
            if let Err(e) = checked {
                figures.wrong += 1;
                figures.fail(format!("round {start_no}: verification failed: {e}"));
            }
            figures.rounds += 1;
            if options.verbose {
                println!(
                    "round {start_no}/{}: {} states verified, lost {}, resurrected {}, \
                     wrong {} (totals: {} acked requests, {} unknown)",
                    options.rounds,
                    model.len(),
                    figures.lost - before.0,
                    figures.resurrected - before.1,
                    figures.wrong - before.2,
                    figures.acked_requests,
                    figures.unknown
                );
            }
        } else {
            for (name, body) in [(DOCS, json!({"indexes": ["k"]})), (BULK, json!({}))] {
                let answer = client
                    .put(format!("{}/v1/collections/{name}", server.base))
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("create {name}: {e}"))?;
                if !answer.status().is_success() {
                    return Err(format!("create {name}: {}", answer.status()));
                }
            }
        }
        if start_no == options.rounds {
            server.kill();
            break;
        }

        // Hand each writer its share of the known ids (by id), for replaces and deletes.
        let mut shares: Vec<BTreeMap<Key, IdState>> =
            (0..options.writers).map(|_| BTreeMap::new()).collect();
        for (key, state) in std::mem::take(&mut model) {
            shares[(key.1 % options.writers) as usize].insert(key, state);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (w, share) in shares.into_iter().enumerate() {
            let ctx = WriterCtx {
                w: w as u64,
                base: server.base.clone(),
                client: client.clone(),
                stop: Arc::clone(&stop),
                next_id: Arc::clone(&next_id),
                next_v: Arc::clone(&next_v),
                rng: Rng::new(rng.next()),
                sync_param: options.sync != "always",
                bulk_base: bulk_no + w as u64,
            };
            tasks.push(tokio::spawn(writer(ctx, share)));
        }
        bulk_no += options.writers;
        // Compactions meanwhile (the kill may cut one short): they must change nothing.
        let compactor = tokio::spawn(compactor(
            client.clone(),
            server.base.clone(),
            Arc::clone(&stop),
            Rng::new(rng.next()),
            options.compact,
        ));
        let (lo, hi) = options.kill_after;
        let delay = rng.between(lo.as_millis() as u64, hi.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // SIGKILL while the writers are writing; only then tell them to stop.
        server.kill();
        stop.store(true, Ordering::SeqCst);
        if let Some(sabotage) = options.after_kill {
            sabotage(&options.data);
        }
        for task in tasks {
            let report = tokio::time::timeout(REQUEST_TIMEOUT * 2, task)
                .await
                .map_err(|_| "a writer did not stop".to_string())?
                .map_err(|e| format!("a writer panicked: {e}"))?;
            figures.acked_requests += report.acked_requests;
            figures.acked_docs += report.acked_docs;
            for (sum, n) in figures.acked_by_kind.iter_mut().zip(report.acked_by_kind) {
                *sum += n;
            }
            figures.unknown += report.unknown;
            figures.overloaded += report.overloaded;
            for u in report.unexpected {
                figures.wrong += 1;
                figures.fail(u);
            }
            model.extend(report.states);
        }
        let (answered, rewritten, killed, unexpected) =
            tokio::time::timeout(REQUEST_TIMEOUT * 2, compactor)
                .await
                .map_err(|_| "the compactor did not stop".to_string())?
                .map_err(|e| format!("the compactor panicked: {e}"))?;
        figures.compactions += answered;
        figures.segments_compacted += rewritten;
        figures.compactions_killed += killed;
        if let Some(u) = unexpected {
            figures.wrong += 1;
            figures.fail(u);
        }
    }
    Ok(figures)
}

/// Asks for a compaction now and then until told to stop or the server is gone. Returns
/// (answered, segments rewritten, cut short, an unexpected answer).
async fn compactor(
    client: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
    enabled: bool,
) -> (u64, u64, u64, Option<String>) {
    let (mut answered, mut rewritten) = (0, 0);
    if !enabled {
        return (0, 0, 0, None);
    }
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(rng.between(20, 200))).await;
        let sent = client.post(format!("{base}/v1/_compact")).send().await;
        let Ok(answer) = sent else {
            return (answered, rewritten, 1, None);
        };
        let status = answer.status().as_u16();
        let Ok(text) = answer.text().await else {
            return (answered, rewritten, 1, None);
        };
        match status {
            200 => {
                answered += 1;
                let summary: Value = serde_json::from_str(&text).unwrap_or_default();
                rewritten += summary["segments_rewritten"].as_u64().unwrap_or(0);
            }
            503 => {} // busy (one compaction at a time) or overloaded
            404 if text.contains("no route") => break, // a server without on-demand compaction
            s => {
                return (
                    answered,
                    rewritten,
                    0,
                    Some(format!("POST /v1/_compact: {s}: {text}")),
                );
            }
        }
    }
    (answered, rewritten, 0, None)
}

struct WriterCtx {
    w: u64,
    base: String,
    client: reqwest::Client,
    stop: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    next_v: Arc<AtomicU64>,
    rng: Rng,
    /// Whether to ask for `?sync=true` now and then (pointless under `always`).
    sync_param: bool,
    /// The number of this writer's unknown bulk, if it has one (unique over the run).
    bulk_base: u64,
}

enum Outcome {
    Acked,
    Overloaded,
    Unknown,
    Unexpected(String),
}

async fn send(request: reqwest::RequestBuilder, ok: u16) -> Outcome {
    match request.send().await {
        Err(_) => Outcome::Unknown,
        Ok(answer) => {
            let status = answer.status().as_u16();
            let text = answer.text().await;
            match (status, text) {
                // The answer was cut off: the server may or may not have written it.
                (_, Err(_)) => Outcome::Unknown,
                (s, Ok(_)) if s == ok => Outcome::Acked,
                (503, Ok(body)) if body.contains("overloaded") => Outcome::Overloaded,
                (s, Ok(_)) if s >= 500 => Outcome::Unknown,
                (s, Ok(body)) => Outcome::Unexpected(format!("status {s}: {body}")),
            }
        }
    }
}

/// One writer: sequential writes to its own ids until told to stop or until its first
/// unknown outcome. Returns its ids' states and its counts.
async fn writer(mut ctx: WriterCtx, mut states: BTreeMap<Key, IdState>) -> WriterReport {
    let mut report = WriterReport::default();
    let mut keys: Vec<Key> = states.keys().copied().collect();
    let started = Instant::now();
    while !ctx.stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
        let v = ctx.next_v.fetch_add(1, Ordering::SeqCst);
        let query = if ctx.sync_param && ctx.rng.below(10) == 0 {
            "?sync=true"
        } else {
            ""
        };
        let roll = ctx.rng.below(100);
        // (kind, request, ok status, [(key, new state)])
        let (kind, request, ok, changes): (usize, _, u16, Vec<(Key, Option<Value>)>) =
            if keys.is_empty() || roll < 30 {
                let id = ctx.next_id.fetch_add(1, Ordering::SeqCst);
                let body = content(ctx.w, v);
                let mut sent = body.clone();
                sent["_id"] = json!(id);
                let url = format!("{}/v1/collections/{DOCS}/records{query}", ctx.base);
                (
                    0,
                    ctx.client.post(url).json(&sent),
                    201,
                    vec![((DOCS, id), Some(body))],
                )
            } else if roll < 45 {
                let n = ctx.rng.between(2, 12);
                let mut sent = Vec::new();
                let mut changes = Vec::new();
                for i in 0..n {
                    let id = ctx.next_id.fetch_add(1, Ordering::SeqCst);
                    let v = if i == 0 {
                        v
                    } else {
                        ctx.next_v.fetch_add(1, Ordering::SeqCst)
                    };
                    let body = content(ctx.w, v);
                    let mut one = body.clone();
                    one["_id"] = json!(id);
                    sent.push(one);
                    changes.push(((BULK, id), Some(body)));
                }
                let url = format!("{}/v1/collections/{BULK}/records/_bulk{query}", ctx.base);
                (1, ctx.client.post(url).json(&sent), 201, changes)
            } else {
                let key = keys[ctx.rng.below(keys.len() as u64) as usize];
                let present = states.get(&key).is_some_and(|s| s.expected.is_some());
                let url = format!(
                    "{}/v1/collections/{}/records/{}{query}",
                    ctx.base, key.0, key.1
                );
                if present && roll >= 80 {
                    (3, ctx.client.delete(url), 204, vec![(key, None)])
                } else {
                    // A replace (or, on a deleted id, a re-create).
                    let body = content(ctx.w, v);
                    (
                        2,
                        ctx.client.put(url).json(&body),
                        200,
                        vec![(key, Some(body))],
                    )
                }
            };
        match send(request, ok).await {
            Outcome::Acked => {
                report.acked_requests += 1;
                report.acked_docs += changes.len() as u64;
                report.acked_by_kind[kind] += 1;
                for (key, value) in changes {
                    let state = states.entry(key).or_insert_with(|| {
                        keys.push(key);
                        IdState::default()
                    });
                    if let Some(v) = value.as_ref().and_then(|b| b["v"].as_u64()) {
                        state.history.insert(v);
                    }
                    state.deleted = value.is_none();
                    state.expected = value;
                }
            }
            Outcome::Overloaded => {
                report.overloaded += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Outcome::Unknown => {
                report.unknown += 1;
                // (The writer stops here, so this is its only unknown bulk.)
                let bulk = (kind == 1).then_some((ctx.bulk_base, changes.len()));
                for (key, value) in changes {
                    let state = states.entry(key).or_insert_with(|| {
                        keys.push(key);
                        IdState::default()
                    });
                    if let Some(v) = value.as_ref().and_then(|b| b["v"].as_u64()) {
                        state.history.insert(v);
                    }
                    state.pending = Some(Pending { value, bulk });
                }
                // Its outcome is open until the restart: write nothing after it.
                break;
            }
            Outcome::Unexpected(what) => {
                report.unexpected.push(format!(
                    "writer {}: unexpected answer to a {} of {:?}: {what}",
                    ctx.w,
                    ["insert", "bulk insert", "replace", "delete"][kind],
                    changes.iter().map(|(k, _)| *k).collect::<Vec<_>>()
                ));
                break;
            }
        }
    }
    report.states = states;
    report
}

/// Every document of `collection`, by `_id`, by paging through the listing.
async fn list_all(
    client: &reqwest::Client,
    base: &str,
    collection: &str,
) -> Result<BTreeMap<u64, Value>, String> {
    let mut all = BTreeMap::new();
    let mut after: Option<u64> = None;
    for _ in 0..100_000 {
        let mut url = format!("{base}/v1/collections/{collection}/records?limit=10000");
        if let Some(a) = after {
            let _ = write!(url, "&after={a}");
        }
        let page: Value = get_json(client, &url).await?;
        for doc in page["records"].as_array().ok_or("no records array")? {
            let id = doc["_id"].as_u64().ok_or("a record without _id")?;
            all.insert(id, doc.clone());
        }
        match page["next"].as_u64() {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
    Err("listing did not end".into())
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let answer = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// A short description of a state, for failure messages.
fn describe(state: Option<&Value>) -> String {
    match state {
        None => "absent".into(),
        Some(doc) => match doc["v"].as_u64() {
            Some(v) if *doc == content(doc["w"].as_u64().unwrap_or(0), v) => format!("v{v}"),
            _ => {
                let text = doc.to_string();
                let cut: String = text.chars().take(120).collect();
                if cut.len() < text.len() {
                    format!("{cut}...")
                } else {
                    cut
                }
            }
        },
    }
}

/// The stored document without `_id`, checking that `_id` is `id`.
fn body_of(stored: &Value, id: u64) -> Option<Value> {
    let mut body = stored.clone();
    let object = body.as_object_mut()?;
    if object.remove("_id") != Some(json!(id)) {
        return None;
    }
    Some(body)
}

/// Checks everything the server holds against `model` and then makes what it found the
/// new known state (nothing is pending any more).
async fn verify(
    client: &reqwest::Client,
    base: &str,
    model: &mut BTreeMap<Key, IdState>,
    figures: &mut Figures,
) -> Result<(), String> {
    let mut stored: BTreeMap<Key, Value> = BTreeMap::new();
    for collection in [DOCS, BULK] {
        for (id, doc) in list_all(client, base, collection).await? {
            stored.insert((collection, id), doc);
        }
    }
    // Nothing stored that was never written.
    for key in stored.keys() {
        if !model.contains_key(key) {
            figures.wrong += 1;
            figures.fail(format!("{key:?} is stored but was never written"));
        }
    }
    // Reads by id agree with the listing: every id touched in the last round, and a
    // sample of the rest.
    let mut to_get: Vec<Key> = model
        .iter()
        .filter(|(_, s)| s.pending.is_some())
        .map(|(k, _)| *k)
        .collect();
    to_get.extend(model.keys().rev().take(500));
    for key in to_get {
        let url = format!("{base}/v1/collections/{}/records/{}", key.0, key.1);
        let answer = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = answer.status().as_u16();
        let text = answer.text().await.map_err(|e| format!("GET {url}: {e}"))?;
        let by_id = match status {
            200 => Some(serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())?),
            404 => None,
            s => return Err(format!("GET {url}: {s}: {text}")),
        };
        if by_id.as_ref() != stored.get(&key) {
            figures.wrong += 1;
            figures.fail(format!(
                "{key:?}: by id {}, listed {}",
                describe(by_id.as_ref()),
                describe(stored.get(&key))
            ));
        }
    }
    // The index on `k` agrees with the documents.
    for k in 0..K_VALUES {
        let mut found = BTreeSet::new();
        let mut after: Option<u64> = None;
        for _ in 0..100_000 {
            let answer = client
                .post(format!("{base}/v1/collections/{DOCS}/_query"))
                .json(&json!({"where": {"k": k}, "limit": 10000, "after": after}))
                .send()
                .await
                .map_err(|e| format!("query: {e}"))?;
            let page: Value = answer.json().await.map_err(|e| format!("query: {e}"))?;
            for doc in page["records"].as_array().ok_or("query: no records")? {
                found.insert(doc["_id"].as_u64().ok_or("query: no _id")?);
            }
            match page["next"].as_u64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let want: BTreeSet<u64> = stored
            .iter()
            .filter(|((c, _), d)| *c == DOCS && d["k"] == json!(k))
            .map(|((_, id), _)| *id)
            .collect();
        if found != want {
            figures.wrong += 1;
            figures.fail(format!(
                "query k={k}: index has {} ids, documents {} (only in index: {:?}, only in \
                 documents: {:?})",
                found.len(),
                want.len(),
                found.difference(&want).take(5).collect::<Vec<_>>(),
                want.difference(&found).take(5).collect::<Vec<_>>()
            ));
        }
    }
    // Every known state.
    let mut bulks: BTreeMap<u64, (usize, usize)> = BTreeMap::new(); // no -> (size, applied)
    for (key, state) in model.iter_mut() {
        figures.verified += 1;
        let found = match stored.get(key) {
            None => None,
            Some(doc) => match body_of(doc, key.1) {
                Some(body) => Some(body),
                None => {
                    figures.wrong += 1;
                    figures.fail(format!(
                        "{key:?}: stored with a wrong _id: {}",
                        describe(Some(doc))
                    ));
                    continue;
                }
            },
        };
        let pending_hit = state
            .pending
            .as_ref()
            .is_some_and(|p| p.value == found && found != state.expected);
        if let Some(Pending {
            bulk: Some((no, size)),
            ..
        }) = &state.pending
        {
            let entry = bulks.entry(*no).or_insert((*size, 0));
            if pending_hit {
                entry.1 += 1;
            }
        }
        let single_hit = pending_hit && state.pending.as_ref().is_some_and(|p| p.bulk.is_none());
        if single_hit {
            figures.unknown_applied += 1;
        }
        if found != state.expected && !pending_hit {
            let older = found
                .as_ref()
                .and_then(|b| b["v"].as_u64())
                .is_some_and(|v| state.history.contains(&v));
            match (&state.expected, &found) {
                (Some(_), None) => {
                    figures.lost += 1;
                    figures.fail(format!("{key:?}: acknowledged write lost (absent)"));
                }
                (None, Some(_)) if state.deleted && older => {
                    figures.resurrected += 1;
                    figures.fail(format!(
                        "{key:?}: acknowledged delete undone: {} is back",
                        describe(found.as_ref())
                    ));
                }
                (Some(want), Some(_)) if older => {
                    figures.lost += 1;
                    figures.fail(format!(
                        "{key:?}: acknowledged v{} lost, older {} stored",
                        want["v"],
                        describe(found.as_ref())
                    ));
                }
                _ => {
                    figures.wrong += 1;
                    figures.fail(format!(
                        "{key:?}: stored {}, expected {}{}",
                        describe(found.as_ref()),
                        describe(state.expected.as_ref()),
                        match &state.pending {
                            Some(p) =>
                                format!(" or (unknown write) {}", describe(p.value.as_ref())),
                            None => String::new(),
                        }
                    ));
                }
            }
        }
        // From now on the state found is the known one (recovery made it durable); an
        // absent id must stay absent (whatever was written to it before).
        state.deleted = found.is_none();
        state.expected = found;
        state.pending = None;
    }
    figures.unknown_applied += bulks.values().filter(|(_, applied)| *applied > 0).count() as u64;
    figures.partial_bulks += bulks
        .values()
        .filter(|(size, applied)| *applied > 0 && applied < size)
        .count() as u64;
    Ok(())
}
