// Unit tests of the console's pure functions, in node (no browser): the Prometheus parser,
// the chart scale, query filters, bodies, plans and page sizes, row previews, and what the feed says about
// close codes, and the cluster page's rows. (Exact big integers need Chromium's JSON.parse `context.source`: they are
// tested in the browser, console.test.mjs.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePrometheus, total } from "../console/js/metrics.js";
import { niceMax } from "../console/js/chart.js";
import { MAX_LIMIT, afterValue, checkFilter, pageSize, parseFields, planRows, queryBody, queryOptions } from "../console/js/query.js";
import { PREVIEW_CHARS, preview } from "../console/js/documents.js";
import { explain } from "../console/js/feed.js";
import { memberRows, summaryRows } from "../console/js/cluster.js";

/** A /v1/cluster answer as node `nodeId` gives it (match indexes on the leader only). */
function clusterAnswer(nodeId) {
  const onLeader = nodeId === 3;
  return {
    node_id: nodeId,
    leader_id: 3,
    term: 7,
    commit_index: 1204,
    applied_index: 1203,
    members: [
      { id: 1, addr: "10.0.0.1:7070", role: "follower", match_index: onLeader ? 1204 : null },
      { id: 2, addr: "10.0.0.2:7070", role: "follower", match_index: onLeader ? 1150 : null },
      { id: 3, addr: "10.0.0.3:7070", role: "leader", match_index: onLeader ? 1210 : null },
      { id: 4, addr: "10.0.0.4:7070", role: "learner", match_index: null },
    ],
  };
}

test("parsePrometheus reads samples with and without labels, skips comments", () => {
  const text = [
    "# HELP nyrodb_http_requests_total HTTP requests by operation and status.",
    "# TYPE nyrodb_http_requests_total counter",
    'nyrodb_http_requests_total{op="get",status="200"} 7',
    'nyrodb_http_requests_total{op="list",status="200"} 3',
    'nyrodb_http_requests_total{op="get",status="404"} 2',
    'nyrodb_fsync_seconds_bucket{le="+Inf"} 4',
    "nyrodb_fsync_seconds_sum 0.0125",
    "nyrodb_disk_bytes 4096",
    "some_gauge +Inf",
    "garbage line",
  ].join("\n");
  const samples = parsePrometheus(text);
  assert.equal(samples.length, 7);
  assert.deepEqual(samples[0], { name: "nyrodb_http_requests_total", labels: { op: "get", status: "200" }, value: 7 });
  assert.deepEqual(samples[3], { name: "nyrodb_fsync_seconds_bucket", labels: { le: "+Inf" }, value: 4 });
  assert.equal(samples[6].value, Infinity);
  assert.equal(total(samples, "nyrodb_http_requests_total"), 12);
  assert.equal(total(samples, "nyrodb_http_requests_total", (l) => l.status === "200"), 10);
  assert.equal(total(samples, "nyrodb_fsync_seconds_sum"), 0.0125);
  assert.equal(total(samples, "absent"), 0);
});

test("niceMax rounds up to 1, 2 or 5 times a power of ten", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(0.3), 0.5);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(10), 10);
  assert.equal(niceMax(11), 20);
  assert.equal(niceMax(4100), 5000);
});

test("query filters must be one JSON object; the body carries the filter as typed", () => {
  assert.equal(checkFilter(' {"age": {"$gt": 30}} '), '{"age": {"$gt": 30}}');
  assert.equal(checkFilter("{}"), "{}");
  assert.throws(() => checkFilter("{not json"), /not valid JSON/);
  assert.throws(() => checkFilter("[1]"), /must be a JSON object/);
  assert.throws(() => checkFilter("null"), /must be a JSON object/);
  // 2^64 - 1 goes as typed, not through a double.
  const big = '{"n": 18446744073709551615}';
  assert.equal(queryBody(checkFilter(big), { limit: 5 }), '{"where":{"n": 18446744073709551615},"limit":5}');
  assert.equal(queryBody("{}"), '{"where":{}}');
  assert.deepEqual(JSON.parse(queryBody("{}", { count: true })), { where: {}, count: true });
});

test("query options leave out the default sort; after is an id unsorted, a cursor sorted", () => {
  assert.deepEqual(queryOptions({ sort: ["_id", "asc"], fields: [], limit: 100 }), { limit: 100 });
  assert.deepEqual(queryOptions({ sort: ["_id", "desc"], fields: ["a", "b.c"], limit: 2 }), { sort: [["_id", "desc"]], fields: ["a", "b.c"], limit: 2 });
  assert.deepEqual(queryOptions({ sort: ["age", "asc"], fields: [], limit: 7 }), { sort: [["age", "asc"]], limit: 7 });
  assert.deepEqual(parseFields(" name, address.city ,, "), ["name", "address.city"]);
  assert.deepEqual(parseFields(""), []);
  assert.equal(afterValue("AAEF", true), "AAEF");
  assert.equal(afterValue(42, false), 42);
});

test("a plan reads as rows", () => {
  const rows = planRows({
    access: "index",
    indexes: [
      { path: "age", bounds: ["(30, +inf)"], entries: 12, combine: "and" },
      { path: "tags", bounds: ['["a", "a"]', '["b", "b"]'], entries: 3, combine: "and" },
    ],
    scan: false,
    sort: ["_id", "asc"],
    estimated: 3,
    examined: 2,
    returned: 1,
  });
  assert.deepEqual(rows, [
    ["Access", "index: candidates from the indexes, the rest of the filter checked on each"],
    ["Indexes", 'age (30, +inf) (12 entries, and); tags ["a", "a"] ∪ ["b", "b"] (3 entries, and)'],
    ["Scans the collection", "no"],
    ["Sort", "_id asc"],
    ["Estimated", "3"],
    ["Examined", "2"],
    ["Returned", "1"],
  ]);
  const scan = planRows({ access: "scan", indexes: [], scan: true, sort: ["_id", "desc"], estimated: 9, examined: 9, returned: 0 });
  assert.equal(scan[1][1], "none");
  assert.equal(scan[2][1], "yes");
});

test("the feed explains close codes 4000, 4001 and 1001", () => {
  assert.match(explain(4000, "lagged: fell too far behind; resume with since=9", 9), /fell too far behind.*4000.*after seq 9, with nothing lost/);
  assert.match(explain(4001, "history compacted", 9), /compaction.*4001.*live changes only; re-read/);
  assert.match(explain(1001, "the server is shutting down", 12), /shutting down.*1001.*after seq 12/);
  assert.match(explain(1006, "", null), /code 1006.*from now on/);
});

test("query page sizes are capped at 500; junk means 100", () => {
  assert.equal(MAX_LIMIT, 500);
  assert.equal(pageSize("2"), 2);
  assert.equal(pageSize("500"), 500);
  assert.equal(pageSize("9999"), 500);
  assert.equal(pageSize("0"), 100);
  assert.equal(pageSize(""), 100);
  assert.equal(pageSize("abc"), 100);
  assert.equal(pageSize("7.9"), 7);
});

test("row previews are cut at 300 characters, never inside a surrogate pair", () => {
  assert.equal(PREVIEW_CHARS, 300);
  assert.equal(preview("short"), "short");
  const exact = "x".repeat(300);
  assert.equal(preview(exact), exact);
  const cut = preview("y".repeat(1000));
  assert.equal(cut, `${"y".repeat(300)}…`);
  // An emoji (two UTF-16 units) straddling the cut is dropped whole.
  const straddle = preview(`${"z".repeat(299)}😀tail`);
  assert.equal(straddle, `${"z".repeat(299)}…`);
});

test("cluster rows: the leader's view gives each member's match index and lag", () => {
  assert.deepEqual(memberRows(clusterAnswer(3)), [
    { id: 1, addr: "10.0.0.1:7070", role: "follower", self: false, matchIndex: 1204, lag: 6 },
    { id: 2, addr: "10.0.0.2:7070", role: "follower", self: false, matchIndex: 1150, lag: 60 },
    { id: 3, addr: "10.0.0.3:7070", role: "leader", self: true, matchIndex: 1210, lag: 0 },
    // A learner the leader has not heard from yet: no match index, no lag.
    { id: 4, addr: "10.0.0.4:7070", role: "learner", self: false, matchIndex: null, lag: null },
  ]);
  assert.deepEqual(summaryRows(clusterAnswer(3)), [
    ["This node", "node 3"],
    ["Leader", "node 3 (10.0.0.3:7070), this node"],
    ["Term", "7"],
    ["Commit index", "1204"],
    ["Applied index", "1203"],
  ]);
});

test("cluster rows: a follower knows no match index; no leader is said so", () => {
  const rows = memberRows(clusterAnswer(1));
  assert.deepEqual(rows.map((r) => [r.id, r.role, r.self, r.matchIndex, r.lag]), [
    [1, "follower", true, null, null],
    [2, "follower", false, null, null],
    [3, "leader", false, null, null],
    [4, "learner", false, null, null],
  ]);
  assert.equal(summaryRows(clusterAnswer(1))[1][1], "node 3 (10.0.0.3:7070)");
  const electing = { ...clusterAnswer(1), leader_id: null, members: clusterAnswer(1).members.map((m) => ({ ...m, role: m.role === "leader" ? "follower" : m.role })) };
  assert.match(summaryRows(electing)[1][1], /^none known/);
  assert.ok(memberRows(electing).every((r) => r.lag === null));
});
