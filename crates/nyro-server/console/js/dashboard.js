// The dashboard: polls /metrics (Prometheus text) and /v1/stats every 2 s, keeps the last
// 10 minutes of samples in memory (across visits to the page, within the tab), and charts
// rates derived from counter deltas between consecutive samples.

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { h, poller, replace } from "./dom.js";
import { parsePrometheus, total } from "./metrics.js";

export const POLL_MS = 2000;
const WINDOW_SECONDS = 600;
// Two samples further apart than this (the page was left, or polling stopped) are not
// differenced: the chart shows a gap instead of an average over the absence.
const MAX_GAP_SECONDS = 10;
const READ_OPS = new Set(["get", "list", "query"]);

// Raw counter samples, oldest first: { t, writes, reads, batchRecords, batches, fsyncSeconds, fsyncs, disk }.
const samples = [];

function bytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function number(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1);
}

/** The charts: title, unit text, how to get a point from two consecutive samples, format. */
const CHARTS = [
  { key: "writes", title: "Writes per second", value: (a, b, dt) => (b.writes - a.writes) / dt, format: number },
  { key: "reads", title: "Reads per second (get, list, query)", value: (a, b, dt) => (b.reads - a.reads) / dt, format: number },
  {
    key: "batch",
    title: "Records per batch (mean)",
    value: (a, b) => (b.batches > a.batches ? (b.batchRecords - a.batchRecords) / (b.batches - a.batches) : 0),
    format: number,
  },
  {
    key: "fsync",
    title: "fsync latency, ms (mean)",
    value: (a, b) => (b.fsyncs > a.fsyncs ? ((b.fsyncSeconds - a.fsyncSeconds) / (b.fsyncs - a.fsyncs)) * 1000 : null),
    format: (v) => (v < 10 ? v.toFixed(2) : String(Math.round(v))),
  },
  { key: "disk", title: "Disk bytes (log segments)", value: (_a, b) => b.disk, format: bytes },
];

function sampleOf(metricsText, now) {
  const m = parsePrometheus(metricsText);
  return {
    t: now,
    writes: total(m, "nyrodb_records_written_total"),
    reads: total(m, "nyrodb_http_requests_total", (l) => READ_OPS.has(l.op) && l.status === "200"),
    batchRecords: total(m, "nyrodb_batch_records_sum"),
    batches: total(m, "nyrodb_batch_records_count"),
    fsyncSeconds: total(m, "nyrodb_fsync_seconds_sum"),
    fsyncs: total(m, "nyrodb_fsync_seconds_count"),
    disk: total(m, "nyrodb_disk_bytes"),
  };
}

/** Every chart's points, from consecutive samples. */
function seriesOf(chart) {
  const points = [];
  for (let i = 1; i < samples.length; i += 1) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.t - a.t;
    points.push({ t: b.t, v: dt > 0 && dt <= MAX_GAP_SECONDS ? chart.value(a, b, dt) : null });
  }
  return points;
}

export function render(main) {
  // Not a live region: "Updated at ..." changes every 2 s and would be read out each time.
  // An error stopping the polling is announced by the alert region.
  const state = h("p", { class: "hint" }, "Starting…");
  const polling = poller({ everyMs: POLL_MS, state, tick });
  const figures = CHARTS.map((chart) => {
    const latest = h("span", { class: "latest", dataset: { chart: chart.key } }, "–");
    const canvas = h("canvas", { role: "img", "aria-label": `${chart.title}: no data yet`, width: 360, height: 140 });
    const figure = h("figure", { class: "chart" }, h("figcaption", {}, h("span", {}, chart.title), latest), canvas);
    return { chart, latest, canvas, figure };
  });
  const summary = h("tbody");
  replace(
    main,
    h("h1", {}, "Dashboard"),
    h("p", { class: "hint" }, `From /metrics and /v1/stats every ${POLL_MS / 1000} s; the last ${WINDOW_SECONDS / 60} minutes are kept in this tab.`),
    h("div", { class: "row" }, state, polling.resume),
    h("div", { class: "charts" }, figures.map((f) => f.figure)),
    h("h2", {}, "Now"),
    h("table", { class: "summary" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Figure"), h("th", { scope: "col" }, "Value"))), summary),
  );

  function draw() {
    const now = performance.now() / 1000;
    for (const f of figures) {
      const points = seriesOf(f.chart);
      const { max } = drawChart(f.canvas, points, { now, windowSeconds: WINDOW_SECONDS, format: f.chart.format });
      const last = [...points].reverse().find((p) => p.v !== null && Number.isFinite(p.v));
      const text = last ? f.chart.format(last.v) : "–";
      f.latest.textContent = text;
      f.canvas.setAttribute("aria-label", `${f.chart.title}: latest ${text}; scale up to ${f.chart.format(max)} over the last ${WINDOW_SECONDS / 60} minutes`);
    }
  }

  function showStats(stats) {
    const docs = stats.collections.reduce((n, c) => n + c.count, 0);
    const rows = [
      ["Collections", String(stats.collections.length)],
      ["Documents", String(docs)],
      ["Last seq", String(stats.last_seq)],
      ["Log segments", String(stats.log.segments)],
      ["Disk bytes (live / dead)", `${bytes(stats.log.disk_bytes)} (${bytes(stats.log.live_bytes)} / ${bytes(stats.log.dead_bytes)})`],
      ["Batches written", String(stats.batches_written)],
      ["fsyncs", String(stats.fsyncs)],
      ["Uptime", `${Math.round(stats.uptime_seconds)} s`],
      ["Writes", stats.writes_poisoned ? `refused: ${stats.writes_poisoned}` : "accepted"],
    ];
    replace(summary, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))));
  }

  async function tick() {
    const [metricsText, stats] = await Promise.all([api("GET", "/metrics", undefined, { text: true }), api("GET", "/v1/stats")]);
    if (polling.stopped()) return false;
    samples.push(sampleOf(metricsText, performance.now() / 1000));
    while (samples.length > WINDOW_SECONDS / (POLL_MS / 1000) + 1) samples.shift();
    state.textContent = `Updated at ${new Date().toLocaleTimeString()}; ${samples.length} sample(s).`;
    showStats(stats);
    draw();
    return true;
  }

  polling.start();
  return polling.stop;
}
