//! `/metrics`: Prometheus text format. HTTP counters are kept here; the database's own
//! figures come from `Database::stats` and the writer's histograms, a cluster node's Raft
//! figures from [`nyro_raft::Node::figures`] (rendered by the `raft` module).

mod raft;

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use nyro_core::Database;
use nyro_raft::RaftFigures;

/// Operations counted, in the order of their counters.
const OPS: [&str; 22] = [
    "health",
    "metrics",
    "stats",
    "openapi",
    "list_collections",
    "create_collection",
    "drop_collection",
    "add_index",
    "drop_index",
    "insert",
    "list",
    "bulk_insert",
    "get",
    "replace",
    "delete",
    "query",
    "watch",
    "compact",
    "backup",
    "console",
    "other",
    "unknown",
];
/// Statuses counted one by one; any other counts as `STATUSES.len()` ("other").
const STATUSES: [u16; 15] = [
    200, 201, 204, 400, 401, 404, 405, 408, 409, 413, 500, 501, 503, 101, 202,
];

/// Requests by operation and status (a fixed table of atomic counters: no lock on the
/// request path), and requests in flight.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Vec<AtomicU64>,
    in_flight: AtomicI64,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: (0..OPS.len() * (STATUSES.len() + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            in_flight: AtomicI64::new(0),
        }
    }
}

impl HttpMetrics {
    fn count(&self, op: usize, status: u16) {
        let status = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        self.requests[op * (STATUSES.len() + 1) + status].fetch_add(1, Ordering::Relaxed);
    }
}

/// The operation a request is (an index into `OPS`), from its method and route.
fn op_index(method: &Method, route: Option<&str>) -> usize {
    let name = op_name(method, route);
    OPS.iter()
        .position(|&op| op == name)
        .unwrap_or(OPS.len() - 1)
}

/// The operation a request is, from its method and route.
fn op_name(method: &Method, route: Option<&str>) -> &'static str {
    let Some(route) = route else { return "unknown" };
    match (method.as_str(), route) {
        ("GET", "/health") => "health",
        ("GET", "/metrics") => "metrics",
        ("GET", "/v1/stats") => "stats",
        ("GET", "/v1/openapi.json") => "openapi",
        ("POST", "/v1/_compact") => "compact",
        ("POST", "/v1/_backup") => "backup",
        ("GET", "/" | "/console/{file}") => "console",
        ("GET", "/v1/collections") => "list_collections",
        ("PUT", "/v1/collections/{collection}") => "create_collection",
        ("DELETE", "/v1/collections/{collection}") => "drop_collection",
        ("POST", "/v1/collections/{collection}/_indexes") => "add_index",
        ("DELETE", "/v1/collections/{collection}/_indexes/{path}") => "drop_index",
        ("POST", "/v1/collections/{collection}/records") => "insert",
        ("GET", "/v1/collections/{collection}/records") => "list",
        ("POST", "/v1/collections/{collection}/records/_bulk") => "bulk_insert",
        ("GET", "/v1/collections/{collection}/records/{id}") => "get",
        ("PUT", "/v1/collections/{collection}/records/{id}") => "replace",
        ("DELETE", "/v1/collections/{collection}/records/{id}") => "delete",
        ("POST", "/v1/collections/{collection}/_query") => "query",
        ("GET", "/v1/collections/{collection}/changes" | "/v1/changes") => "watch",
        _ => "other",
    }
}

/// Middleware: counts each request by operation and status.
/// Counts one request: in flight from `start` until [`RequestCount::finish`].
pub struct RequestCount<'a> {
    metrics: &'a HttpMetrics,
    op: usize,
}

impl<'a> RequestCount<'a> {
    /// Starts counting `request` (by its operation, from its method and matched route).
    pub fn start(metrics: &'a HttpMetrics, request: &Request) -> Self {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let op = op_index(request.method(), route);
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        Self { metrics, op }
    }

    /// The request was answered with `status`.
    pub fn finish(self, status: u16) {
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.metrics.count(self.op, status);
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &nyro_core::Histogram, scale: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in h.cumulative() {
        let le = bound.map_or_else(|| "+Inf".to_string(), |b| format!("{}", b as f64 * scale));
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum() as f64 * scale);
    let _ = writeln!(out, "{name}_count {}", h.count());
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Renders every series: the `nyrodb_raft_*` ones too when `raft` is given (a cluster node).
pub fn render(db: &Database, http: &HttpMetrics, raft: Option<&RaftFigures>) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP nyrodb_http_requests_total HTTP requests by operation and status.\n\
         # TYPE nyrodb_http_requests_total counter"
    );
    for (op_at, op) in OPS.iter().enumerate() {
        for status_at in 0..=STATUSES.len() {
            let count =
                http.requests[op_at * (STATUSES.len() + 1) + status_at].load(Ordering::Relaxed);
            if count > 0 {
                let status = STATUSES
                    .get(status_at)
                    .map_or_else(|| "other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "nyrodb_http_requests_total{{op=\"{op}\",status=\"{status}\"}} {count}"
                );
            }
        }
    }
    gauge(
        &mut out,
        "nyrodb_http_requests_in_flight",
        "gauge",
        "HTTP requests being served.",
        http.in_flight.load(Ordering::Relaxed),
    );
    let stats = db.stats();
    gauge(
        &mut out,
        "nyrodb_ops_in_flight",
        "gauge",
        "Database operations holding a max_concurrent_ops permit.",
        stats.in_flight_ops,
    );
    let _ = writeln!(
        out,
        "# HELP nyrodb_records Documents per collection.\n# TYPE nyrodb_records gauge"
    );
    for c in &stats.collections {
        let _ = writeln!(
            out,
            "nyrodb_records{{collection=\"{}\"}} {}",
            c.name, c.count
        );
    }
    gauge(
        &mut out,
        "nyrodb_disk_bytes",
        "gauge",
        "Bytes in log segment files.",
        stats.disk_bytes,
    );
    gauge(
        &mut out,
        "nyrodb_live_bytes",
        "gauge",
        "Bytes of frames holding live data.",
        stats.live_bytes,
    );
    gauge(
        &mut out,
        "nyrodb_dead_bytes",
        "gauge",
        "Bytes of frames no longer live.",
        stats.dead_bytes,
    );
    gauge(
        &mut out,
        "nyrodb_segments",
        "gauge",
        "Log segment files.",
        stats.segments,
    );
    gauge(
        &mut out,
        "nyrodb_last_seq",
        "gauge",
        "Highest committed sequence number.",
        stats.last_seq,
    );
    gauge(
        &mut out,
        "nyrodb_batches_total",
        "counter",
        "Batches written.",
        stats.batches,
    );
    gauge(
        &mut out,
        "nyrodb_caller_batches_total",
        "counter",
        "Batches written by the writing caller itself, with no hand-off to the writer thread.",
        stats.caller_batches,
    );
    gauge(
        &mut out,
        "nyrodb_records_written_total",
        "counter",
        "Records written.",
        stats.records_written,
    );
    gauge(
        &mut out,
        "nyrodb_fsyncs_total",
        "counter",
        "fdatasync calls.",
        stats.fsyncs,
    );
    gauge(
        &mut out,
        "nyrodb_writes_poisoned",
        "gauge",
        "1 if writes are refused until restart because an fdatasync failed.",
        u8::from(stats.poisoned.is_some()),
    );
    gauge(
        &mut out,
        "nyrodb_uptime_seconds",
        "gauge",
        "Seconds since the database opened.",
        stats.uptime.as_secs_f64(),
    );
    let damage = db.damage();
    gauge(
        &mut out,
        "nyrodb_corrupt_frames_total",
        "counter",
        "Damaged frames found in the log since start (by reads and the background scrub).",
        damage.corrupt_frames,
    );
    gauge(
        &mut out,
        "nyrodb_degraded",
        "gauge",
        "1 once damaged stored data is known (GET /health answers degraded).",
        u8::from(damage.degraded()),
    );
    gauge(
        &mut out,
        "nyrodb_scrub_pending_segments",
        "gauge",
        "Segments opened from hints that the background scrub has yet to check.",
        {
            let scrub = db.scrub_progress();
            scrub.segments.saturating_sub(scrub.checked)
        },
    );
    let writer = db.writer_metrics();
    histogram(
        &mut out,
        "nyrodb_batch_records",
        "Records per written batch.",
        &writer.batch_records,
        1.0,
    );
    histogram(
        &mut out,
        "nyrodb_fsync_seconds",
        "fdatasync latency.",
        &writer.fsync_micros,
        1e-6,
    );
    if let Some(figures) = raft {
        raft::render(&mut out, figures);
    }
    out
}
