//! The test applier (a small key-value store), a gate that holds the writer thread inside
//! `prepare` so tests can line requests up into one batch, and helpers to start a writer,
//! wait with bounds, and read the log back.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use nyro_batch::{
    Applier, BatchConfig, BatchWriter, RecordBuf, Reply, Unwritten, WriteError, WriterHandle,
    WriterThread,
};
use nyro_storage::{FaultInjector, Location, Log, LogOptions, LogReader, RecordKind, StorageError};
use tempfile::TempDir;

/// The collection every test record is written to.
pub const COLLECTION: u32 = 7;

/// A key the test applier panics on (a bug in the applier, as far as the writer knows).
pub const PANIC_KEY: u64 = u64::MAX;

/// How long any single wait in a test may take before the test fails.
pub const BOUND: Duration = Duration::from_secs(5);

/// A write request: one or more puts, all or nothing.
#[derive(Debug, Clone)]
pub struct Req {
    pub puts: Vec<(u64, Vec<u8>)>,
    /// Refuse the whole request if any of its keys already exists (in the state, in an
    /// earlier request of the same batch, or earlier in this request).
    pub insert_only: bool,
    /// The seq of the request's first record, assigned by `prepare`.
    seq: u64,
}

impl Req {
    pub fn put(key: u64, value: &[u8]) -> Self {
        Self::bulk(&[(key, value)], false)
    }

    pub fn insert(key: u64, value: &[u8]) -> Self {
        Self::bulk(&[(key, value)], true)
    }

    pub fn bulk(puts: &[(u64, &[u8])], insert_only: bool) -> Self {
        Self {
            puts: puts.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
            insert_only,
            seq: 0,
        }
    }
}

/// Why the applier refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// An insert-only request named a key that exists.
    Exists(u64),
}

pub type Answer = Result<u64, WriteError<Rejection>>;

/// A queued [`Req`] with the reply it is answered through (its first record's seq).
#[derive(Debug)]
pub struct Job {
    req: Req,
    reply: Reply<u64, Rejection>,
}

/// Submits a [`Req`] through a handle of the test applier.
pub trait SubmitReq {
    /// Queues `req` and awaits its answer.
    fn submit_req(&self, req: Req, sync: bool) -> impl Future<Output = Answer> + Send;
}

impl SubmitReq for WriterHandle<KvApplier> {
    fn submit_req(&self, req: Req, sync: bool) -> impl Future<Output = Answer> + Send {
        self.submit(sync, move |reply| Job { req, reply })
    }
}

/// Holds the writer thread at the start of `prepare` while closed.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    waiting: usize,
}

impl Gate {
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
    }

    pub fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.cv.notify_all();
    }

    /// Threads held at the gate right now.
    pub fn waiting(&self) -> usize {
        self.state.lock().unwrap().waiting
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.closed {
            return;
        }
        state.waiting += 1;
        // Bounded, so that a failed test never leaves the writer thread stuck for good.
        let (mut state, _) = self
            .cv
            .wait_timeout_while(state, Duration::from_secs(30), |s| s.closed)
            .unwrap();
        state.waiting -= 1;
    }
}

/// What the applier shares with the test.
#[derive(Debug, Default)]
pub struct Probe {
    /// The visible state: only committed requests.
    pub map: Mutex<BTreeMap<u64, Vec<u8>>>,
    /// Every committed record's seq, in commit order.
    pub commits: Mutex<Vec<u64>>,
    /// `end_batch(true)` calls.
    pub written_batches: AtomicU64,
    /// `end_batch(false)` calls.
    pub failed_batches: AtomicU64,
    /// The applier's seq counter as of the last commit or `end_batch` (so, as of the last
    /// answer).
    pub seq: AtomicU64,
    /// Calls of `prepare`.
    pub prepares: AtomicU64,
    /// The thread each accepted request was prepared on, with the request's first key.
    pub preparers: Mutex<Vec<(u64, Preparer)>>,
    /// Every accepted record's seq, in prepare order (a failed batch's taken back).
    pub prepared: Mutex<Vec<u64>>,
    pub gate: Gate,
}

impl Probe {
    pub fn map(&self) -> BTreeMap<u64, Vec<u8>> {
        self.map.lock().unwrap().clone()
    }

    pub fn get(&self, key: u64) -> Option<Vec<u8>> {
        self.map.lock().unwrap().get(&key).cloned()
    }

    /// The thread that prepared the (last accepted) request whose first key is `key`.
    pub fn preparer(&self, key: u64) -> Option<Preparer> {
        let preparers = self.preparers.lock().unwrap();
        preparers.iter().rev().find(|(k, _)| *k == key).map(|p| p.1)
    }
}

/// Which thread prepared a request: a caller that led, or the writer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preparer {
    WriterThread,
    Caller(std::thread::ThreadId),
}

impl Preparer {
    pub fn current() -> Self {
        let thread = std::thread::current();
        if thread.name() == Some("nyro-batch-writer") {
            Self::WriterThread
        } else {
            Self::Caller(thread.id())
        }
    }
}

/// A key-value store applier: one `Put` record per key, seqs from its own counter.
#[derive(Debug)]
pub struct KvApplier {
    probe: Arc<Probe>,
    /// Keys written by earlier requests of the current batch.
    overlay: BTreeSet<u64>,
    /// The last seq handed out.
    seq: u64,
    /// `seq` when the current batch began (what a failed batch rolls back to).
    batch_start: u64,
}

impl KvApplier {
    pub fn new(probe: Arc<Probe>) -> Self {
        Self {
            probe,
            overlay: BTreeSet::new(),
            seq: 0,
            batch_start: 0,
        }
    }
}

impl Unwritten<Rejection> for Job {
    fn fail(self, error: WriteError<Rejection>) {
        self.reply.send(Err(error));
    }
}

impl KvApplier {
    fn prepare_req(&mut self, request: &mut Req, records: &mut RecordBuf) -> Result<(), Rejection> {
        self.probe.gate.pass();
        assert!(
            request.puts.iter().all(|(k, _)| *k != PANIC_KEY),
            "the test applier panics on PANIC_KEY"
        );
        self.probe.prepares.fetch_add(1, Ordering::Relaxed);
        if request.insert_only {
            let map = self.probe.map.lock().unwrap();
            let mut seen = BTreeSet::new();
            for (key, _) in &request.puts {
                if map.contains_key(key) || self.overlay.contains(key) || !seen.insert(*key) {
                    return Err(Rejection::Exists(*key));
                }
            }
        }
        request.seq = self.seq + 1;
        let mut prepared = self.probe.prepared.lock().unwrap();
        for (key, value) in &request.puts {
            self.seq += 1;
            records.push(RecordKind::Put, COLLECTION, *key, self.seq, value);
            self.overlay.insert(*key);
            prepared.push(self.seq);
        }
        if let Some((first, _)) = request.puts.first() {
            let preparer = Preparer::current();
            self.probe
                .preparers
                .lock()
                .unwrap()
                .push((*first, preparer));
        }
        Ok(())
    }
}

impl Applier for KvApplier {
    type Request = Job;
    type Prepared = Job;
    type Rejection = Rejection;

    fn prepare(&mut self, mut job: Job, records: &mut RecordBuf) -> Result<Job, (Job, Rejection)> {
        match self.prepare_req(&mut job.req, records) {
            Ok(()) => Ok(job),
            Err(rejection) => Err((job, rejection)),
        }
    }

    fn commit(&mut self, job: Job, locations: &[Location]) {
        let Job {
            req: request,
            reply,
        } = job;
        assert_eq!(
            locations.len(),
            request.puts.len(),
            "one location per record"
        );
        let mut map = self.probe.map.lock().unwrap();
        let mut commits = self.probe.commits.lock().unwrap();
        for (i, (key, value)) in request.puts.into_iter().enumerate() {
            let seq = request.seq + i as u64;
            map.insert(key, value);
            commits.push(seq);
            // Mirror the counter here too: the answer is sent before `end_batch(true)`.
            self.probe.seq.store(seq, Ordering::Relaxed);
        }
        drop((map, commits));
        reply.send(Ok(request.seq));
    }

    fn end_batch(&mut self, written: bool) {
        self.overlay.clear();
        if written {
            self.probe.written_batches.fetch_add(1, Ordering::Relaxed);
        } else {
            self.seq = self.batch_start;
            let batch_start = self.batch_start;
            self.probe
                .prepared
                .lock()
                .unwrap()
                .retain(|s| *s <= batch_start);
            self.probe.failed_batches.fetch_add(1, Ordering::Relaxed);
        }
        self.batch_start = self.seq;
        self.probe.seq.store(self.seq, Ordering::Relaxed);
    }
}

/// A running writer over a fresh directory, with a fault injector in its I/O path.
pub struct Harness {
    pub dir: TempDir,
    pub handle: WriterHandle<KvApplier>,
    /// The writer thread, to join once closed.
    pub thread: WriterThread,
    /// A read handle taken before the log moved into the writer. It shares the directory
    /// lock with the writer: the directory cannot be reopened while it lives.
    pub reader: LogReader,
    pub probe: Arc<Probe>,
    pub io: Arc<FaultInjector>,
}

pub fn start(config: BatchConfig) -> Harness {
    start_with_segments(config, LogOptions::default().segment_size)
}

/// [`start`] with segments of `segment_size` bytes.
pub fn start_with_segments(config: BatchConfig, segment_size: u64) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultInjector::new());
    let options = LogOptions {
        segment_size,
        ..options(&io)
    };
    let log = Log::open(dir.path(), options).unwrap();
    let reader = log.reader().clone();
    let probe = Arc::new(Probe::default());
    let (handle, thread) =
        BatchWriter::spawn(log, KvApplier::new(Arc::clone(&probe)), config).unwrap();
    Harness {
        dir,
        handle,
        thread,
        reader,
        probe,
        io,
    }
}

impl Harness {
    /// Submits `req` (fdatasync'ed first if `sync`) and awaits its answer, failing the test
    /// if that takes longer than [`BOUND`].
    pub async fn write(&self, req: Req, sync: bool) -> Answer {
        within("a write", self.handle.submit_req(req, sync)).await
    }
}

pub fn options(io: &Arc<FaultInjector>) -> LogOptions {
    LogOptions {
        io: Arc::clone(io) as Arc<dyn nyro_storage::LogIo>,
        ..LogOptions::default()
    }
}

pub fn config(sync: nyro_batch::SyncPolicy) -> BatchConfig {
    BatchConfig {
        sync,
        ..BatchConfig::default()
    }
}

/// Awaits `f`, failing the test if it takes longer than [`BOUND`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {BOUND:?} waiting for {what}"),
    }
}

/// Polls `cond` every millisecond until it holds, failing the test after [`BOUND`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < BOUND, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Submits `req` from a spawned task (with its own handle clone).
pub fn spawn_submit(
    handle: &WriterHandle<KvApplier>,
    req: Req,
    sync: bool,
) -> tokio::task::JoinHandle<Answer> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.submit_req(req, sync).await })
}

/// [`spawn_submit`], but returns only once the request is in the queue: the submit future
/// is polled once by hand first (`submit` queues its message synchronously on that poll),
/// then spawned. (`queued()` counts a request a moment before its message is sent, so
/// waiting for the count does not order it before a later message such as close.)
pub fn submit_queued(
    handle: &WriterHandle<KvApplier>,
    req: Req,
    sync: bool,
) -> tokio::task::JoinHandle<Answer> {
    let handle = handle.clone();
    let mut future = Box::pin(async move { handle.submit_req(req, sync).await });
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        future.as_mut().poll(&mut cx).is_pending(),
        "answered before the writer saw it"
    );
    tokio::spawn(future)
}

/// Submits `req` from a plain thread (a blocking-pool thread driving the submit with
/// `Handle::block_on`, as the embedded API's benchmark does). Where the writer is idle and
/// the request needs no fdatasync, that thread leads: it can be held at the gate inside
/// `prepare` without holding up the test's task (a caller that leads writes during the
/// first poll of its submit future, so a future polled by hand would block the test).
pub fn submit_on_thread(
    handle: &WriterHandle<KvApplier>,
    req: Req,
    sync: bool,
) -> tokio::task::JoinHandle<Answer> {
    let handle = handle.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(handle.submit_req(req, sync)))
}

/// Submits `reqs` so that they all land in one batch, in this order: the gate holds the
/// leader (the first request's caller, or the writer thread under `Always`) inside the
/// first request's `prepare` while the others are queued behind it one by one; then it
/// opens. Requires an otherwise idle writer with a large enough `batch_size` and queue.
///
/// Each later submit future is polled once by hand before the next is made: `submit`
/// queues its message synchronously on that first poll, so the queue order is the order of
/// `reqs` (spawned tasks would race each other to the queue).
pub async fn submit_one_batch(h: &Harness, reqs: Vec<Req>) -> Vec<Answer> {
    assert_eq!(h.handle.queued(), 0, "the writer must be idle");
    h.probe.gate.close();
    let mut reqs = reqs.into_iter();
    let first = submit_on_thread(&h.handle, reqs.next().expect("a request"), false);
    wait_until("the leader holds the first request", || {
        h.probe.gate.waiting() == 1
    })
    .await;
    let mut futures = Vec::new();
    for (i, req) in reqs.enumerate() {
        let mut future = Box::pin(h.handle.submit_req(req, false));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            future.as_mut().poll(&mut cx).is_pending(),
            "answered before the writer saw it"
        );
        futures.push(future);
        assert_eq!(h.handle.queued(), i + 1);
    }
    h.probe.gate.open();
    let mut answers = vec![within("the first answer", first).await.unwrap()];
    for future in futures {
        answers.push(within("an answer", future).await);
    }
    answers
}

/// `(seq, key, payload)` of every frame in the log, in log order.
pub fn log_records(reader: &LogReader) -> Vec<(u64, u64, Vec<u8>)> {
    reader
        .iter()
        .map(|frame| {
            let frame = frame.unwrap();
            let header = frame.header();
            assert_eq!(header.kind, RecordKind::Put);
            assert_eq!(header.collection, COLLECTION);
            (header.seq, header.id, frame.payload().to_vec())
        })
        .collect()
}

/// Replays `(seq, key, payload)` records into the state they describe.
pub fn replay(records: &[(u64, u64, Vec<u8>)]) -> BTreeMap<u64, Vec<u8>> {
    records
        .iter()
        .map(|(_, key, value)| (*key, value.clone()))
        .collect()
}

/// Opens the directory again once the writer (and every reader) has let go of it, polling
/// while it is still locked; fails the test after [`BOUND`].
pub async fn reopen(dir: &Path) -> Log {
    let started = Instant::now();
    loop {
        match Log::open(dir, LogOptions::default()) {
            Ok(log) => return log,
            Err(StorageError::Locked { .. }) if started.elapsed() < BOUND => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => panic!("reopening {} failed: {e}", dir.display()),
        }
    }
}

/// Segment bytes of the (single) segment and the length of its file on disk.
pub fn segment_size(reader: &LogReader) -> (u64, u64) {
    let segments = reader.segments();
    assert_eq!(segments.len(), 1);
    let on_disk = std::fs::metadata(&segments[0].path).unwrap().len();
    (segments[0].bytes, on_disk)
}

/// Each sync policy, for property tests (a short interval, so that background fdatasyncs
/// happen during a case).
pub fn any_policy() -> impl proptest::strategy::Strategy<Value = nyro_batch::SyncPolicy> {
    use nyro_batch::SyncPolicy;
    use proptest::prelude::Just;
    proptest::prop_oneof![
        Just(SyncPolicy::Always),
        Just(SyncPolicy::Never),
        Just(SyncPolicy::Interval(Duration::from_millis(2))),
    ]
}

/// A property test's settings: `cases` cases, failures not persisted.
pub fn cases(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// Runs `future` to completion on a fresh two-worker runtime (one per property test case).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Reads a metric counter.
pub fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
