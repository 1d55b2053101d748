// Browser tests of the web console: headless Debian Chromium, driven by playwright-core,
// against a real `nyrodb serve` started by scripts/console-test.sh, which passes
// NYRODB_URL and NYRODB_TOKEN. Everything the UI does is checked through the API.
// Every wait is bounded (Playwright's timeouts, and each test's own).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.NYRODB_URL;
const TOKEN = process.env.NYRODB_TOKEN;
const ARTIFACTS = process.env.CONSOLE_ARTIFACTS || path.resolve(import.meta.dirname, "../../../artifacts/console");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TEST_TIMEOUT = 45_000;
const UI_TIMEOUT = 10_000;

assert.ok(BASE, "NYRODB_URL must name the server (scripts/console-test.sh sets it)");
assert.ok(TOKEN, "NYRODB_TOKEN must be the server's auth token");
mkdirSync(ARTIFACTS, { recursive: true });

let browser;

before(async () => {
  // Playwright gives every launch a fresh, empty profile directory (--user-data-dir) of its
  // own. The other flags keep Chromium off the network, which this machine refuses anyway.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
});

/** Calls the API from node, with the token; returns { status, json }. */
async function api(method, route, body) {
  const response = await fetch(BASE + route, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/**
 * Calls the API from node with a raw text body; returns { status, text }, the answer
 * unparsed (JSON.parse would round integers beyond 2^53).
 */
async function rawApi(method, route, body) {
  const response = await fetch(BASE + route, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, text: await response.text() };
}

/** Resolves after `ms` (a bounded pause, to let a wrong late answer show if there were one). */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Delays every answer to requests matching `pattern` by `ms`, so clicks land mid-load. */
async function slowDown(page, pattern, ms) {
  await page.route(pattern, async (route) => {
    await sleep(ms);
    await route.continue();
  });
}

/** The focused element as "tag:text", for focus checks. */
async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()}:${el.textContent.trim()}` : "";
  });
}

/**
 * A fresh tab (its own sessionStorage) on `hash`, with `token` given at the prompt that the
 * first 401 opens. Uncaught page errors and CSP violations are collected and fail the test
 * in `done`.
 */
async function open(hash, token = TOKEN) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  await page.goto(`${BASE}/${hash}`);
  await enterToken(page, token);
  return {
    page,
    async done() {
      await context.close();
      assert.deepEqual(problems, [], "the page had errors");
    },
  };
}

/** Answers the token prompt that the first 401 opens. */
async function enterToken(page, token) {
  const dialog = page.getByRole("dialog", { name: "Auth token" });
  await dialog.waitFor();
  await dialog.getByLabel("Bearer token").fill(token);
  await dialog.getByRole("button", { name: "Use token" }).click();
  await dialog.waitFor({ state: "hidden" });
  // The token lives in sessionStorage only, not in the hidden form.
  assert.equal(await page.locator("#token-input").inputValue(), "");
}

/** Every visible form control has a label (a <label for>, or aria-label). */
async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, [], "controls without a label");
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

test("a wrong token shows the API's 401 message, and the right one then works", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections", "not-the-token");
  const alert = page.getByRole("alert");
  await alert.getByText("the bearer token is wrong").waitFor();
  const text = await alert.textContent();
  assert.match(text, /unauthorized \(HTTP 401\)/);
  await screenshot(page, "wrong-token");

  await page.getByRole("button", { name: "Set token" }).click();
  await enterToken(page, TOKEN);
  await page.getByRole("heading", { name: "All collections" }).waitFor();
  await page.locator("#status").getByText("Token saved").waitFor();
  // The (then empty, hidden) alert region is cleared once the token works.
  assert.equal(await page.locator("#alerts").textContent(), "");
  await done();
});

test("collections: create one with indexes through the UI", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections");
  await page.getByLabel("Name", { exact: true }).fill("people");
  await page.getByLabel("Indexed fields").fill("city, age");
  await page.getByRole("button", { name: "Create collection" }).click();
  const row = page.locator('tr[data-collection="people"]');
  await row.waitFor();
  assert.equal(await row.locator("td.indexes").textContent(), "age, city"); // the server keeps them sorted

  const { status, json } = await api("GET", "/v1/collections");
  assert.equal(status, 200);
  const people = json.collections.find((c) => c.name === "people");
  assert.ok(people, "the collection exists in the API");
  assert.deepEqual([...people.indexes].sort(), ["age", "city"]);
  assert.equal(people.count, 0);

  // A bad name shows the API's error.
  await page.getByLabel("Name", { exact: true }).evaluate((el) => el.removeAttribute("pattern"));
  await page.getByLabel("Name", { exact: true }).fill("bad name!");
  await page.getByRole("button", { name: "Create collection" }).click();
  await page.getByRole("alert").getByText("invalid_name (HTTP 400)").waitFor();
  await assertLabelled(page);
  await screenshot(page, "collections");
  await done();
});

test("documents: add, edit and delete one through the UI", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/c/people");
  await page.getByRole("heading", { name: 'Collection "people"' }).waitFor();

  await page.getByLabel(/New document/).fill('{"name": "Ada", "city": "London", "age": 36}');
  await page.getByRole("button", { name: "Insert document" }).click();
  const status = page.locator("#status");
  await status.getByText(/inserted/).waitFor();
  const id = Number((await status.textContent()).match(/Document (\d+) inserted/)[1]);
  let got = await api("GET", `/v1/collections/people/records/${id}`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.json, { _id: id, name: "Ada", city: "London", age: 36 });
  await page.locator(`tr[data-id="${id}"]`).waitFor();
  const shown = await page.getByLabel(`Document ${id} as JSON`).textContent();
  assert.deepEqual(JSON.parse(shown), got.json, "the document is shown as formatted JSON");
  await assertLabelled(page);
  await screenshot(page, "documents");

  // Edit.
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel(/its _id stays/).fill('{"name": "Ada", "city": "Paris", "age": 37}');
  await page.getByRole("button", { name: "Save document" }).click();
  await status.getByText(`Document ${id} saved.`).waitFor();
  got = await api("GET", `/v1/collections/people/records/${id}`);
  assert.deepEqual(got.json, { _id: id, name: "Ada", city: "Paris", age: 37 });
  await screenshot(page, "documents-edit");

  // Text that is not JSON is refused before any call, with a visible message.
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel(/its _id stays/).fill("{not json");
  await page.getByRole("button", { name: "Save document" }).click();
  await page.getByRole("alert").getByText(/not valid JSON/).waitFor();
  await page.getByRole("button", { name: "Cancel" }).click();

  // Delete, after the confirm dialog; cancelling it first keeps the document.
  await page.getByRole("button", { name: "Delete document" }).click();
  const confirm = page.getByRole("dialog", { name: "Please confirm" });
  await confirm.waitFor();
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await confirm.waitFor({ state: "hidden" });
  assert.equal((await api("GET", `/v1/collections/people/records/${id}`)).status, 200);
  await page.getByRole("button", { name: "Delete document" }).click();
  await confirm.getByRole("button", { name: "Delete document" }).click();
  await status.getByText(`Document ${id} deleted.`).waitFor();
  // The focused Delete button is gone: focus is on the panel's heading, not lost.
  assert.equal(await focused(page), `h2:Document ${id} deleted`);
  got = await api("GET", `/v1/collections/people/records/${id}`);
  assert.equal(got.status, 404);
  assert.equal(got.json.error.code, "not_found");
  await page.locator(`tr[data-id="${id}"]`).waitFor({ state: "detached" });
  await done();
});

test("documents: pages of 100 across 250 documents, next and previous", { timeout: TEST_TIMEOUT }, async () => {
  const docs = Array.from({ length: 250 }, (_, i) => ({ n: i, city: i % 2 ? "Rome" : "Oslo" }));
  const bulk = await api("POST", "/v1/collections/many/records/_bulk", docs);
  assert.equal(bulk.status, 201);
  const ids = bulk.json.ids;
  assert.equal(ids.length, 250);

  const { page, done } = await open("#/c/many");
  await page.getByLabel("Page size").selectOption("100");
  const rows = page.locator("tbody tr[data-id]");
  const idsShown = async () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.id)));
  const pageLabel = page.locator(".page-label");

  await pageLabel.getByText(`Page 1: _id ${ids[0]} to ${ids[99]}`).waitFor();
  assert.deepEqual(await idsShown(), ids.slice(0, 100));
  assert.equal(await page.getByRole("button", { name: "Previous page" }).isDisabled(), true);

  await page.getByRole("button", { name: "Next page" }).click();
  await pageLabel.getByText(`Page 2: _id ${ids[100]} to ${ids[199]}`).waitFor();
  assert.deepEqual(await idsShown(), ids.slice(100, 200));

  await page.getByRole("button", { name: "Next page" }).click();
  await pageLabel.getByText(`Page 3: _id ${ids[200]} to ${ids[249]}`).waitFor();
  assert.deepEqual(await idsShown(), ids.slice(200));
  assert.equal(await page.getByRole("button", { name: "Next page" }).isDisabled(), true);
  await screenshot(page, "pagination");

  await page.getByRole("button", { name: "Previous page" }).click();
  await pageLabel.getByText(`Page 2: _id ${ids[100]} to ${ids[199]}`).waitFor();
  assert.deepEqual(await idsShown(), ids.slice(100, 200));
  await done();
});

const isList = (url) => url.pathname.endsWith("/records");

test("documents pager: a double-click loads one page, a failed page keeps the old one, focus stays", { timeout: TEST_TIMEOUT }, async () => {
  const ids = (await api("GET", "/v1/collections/many/records?limit=250")).json.records.map((d) => d._id);
  assert.equal(ids.length, 250);
  const { page, done } = await open("#/c/many");
  const rows = page.locator("tbody tr[data-id]");
  const idsShown = async () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.id)));
  const pageLabel = page.locator(".page-label");
  const prev = page.getByRole("button", { name: "Previous page" });
  const next = page.getByRole("button", { name: "Next page" });
  await pageLabel.getByText(`Page 1: _id ${ids[0]} to ${ids[99]}`).waitFor();

  // Answers take 300 ms: both clicks land while the first load runs; only one page moves.
  const slow = async (route) => {
    await sleep(300);
    await route.continue();
  };
  await page.route(isList, slow);
  await next.dblclick();
  await pageLabel.getByText(`Page 2: _id ${ids[100]} to ${ids[199]}`).waitFor();
  await sleep(800); // a second load, had one started, would have landed by now
  assert.match(await pageLabel.textContent(), /^Page 2: /);
  assert.deepEqual(await idsShown(), ids.slice(100, 200));

  // Back to page 1: Previous is disabled there, and focus moved from it to Next.
  await prev.click();
  await pageLabel.getByText(`Page 1: _id ${ids[0]} to ${ids[99]}`).waitFor();
  assert.deepEqual(await idsShown(), ids.slice(0, 100));
  assert.equal(await prev.isDisabled(), true);
  assert.equal(await focused(page), "button:Next page");
  await page.unroute(isList, slow);

  // A page that fails leaves page 1 and its buttons as they were.
  await page.route(
    isList,
    (route) => route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"overloaded","message":"too busy"}}' }),
    { times: 1 },
  );
  await next.click();
  await page.getByRole("alert").getByText("overloaded (HTTP 503)").waitFor();
  assert.match(await pageLabel.textContent(), /^Page 1: /);
  assert.deepEqual(await idsShown(), ids.slice(0, 100));
  assert.equal(await next.isDisabled(), false);
  assert.equal(await prev.isDisabled(), true);
  await next.click();
  await pageLabel.getByText(`Page 2: _id ${ids[100]} to ${ids[199]}`).waitFor();
  await done();
});

test("documents: ids and integers beyond 2^53 stay exact through view, edit and paging", { timeout: TEST_TIMEOUT }, async () => {
  // 30 ids around 2^53 = 9007199254740992; 9007199254740993 (odd, not a double) holds a u64
  // max field. As doubles, ...993 would read as ...992, an id that exists too.
  const first = 9007199254740969n;
  const ids = Array.from({ length: 30 }, (_, i) => first + BigInt(i));
  const bigId = "9007199254740993";
  const big = "18446744073709551615";
  const docs = ids.map((id) =>
    String(id) === bigId ? `{"_id":${id},"name":"Ada","big":${big}}` : id === first + 1n ? `{"_id":${id},"long":"${"x".repeat(1000)}"}` : `{"_id":${id},"n":1}`,
  );
  const bulk = await rawApi("POST", "/v1/collections/bigids/records/_bulk", `[${docs.join(",")}]`);
  assert.equal(bulk.status, 201, bulk.text);
  assert.ok(bulk.text.includes(`${bigId},`), bulk.text);

  const { page, done } = await open("#/c/bigids");
  await page.getByLabel("Page size").selectOption("25");
  const pageLabel = page.locator(".page-label");
  const rows = page.locator("tbody tr[data-id]");
  const idsShown = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  const expected = ids.map(String);

  // Page 1 ends at ...993: its `next` must stay ...993, or page 2 would start at ...993 again.
  await pageLabel.getByText(`Page 1: _id ${expected[0]} to ${bigId}`).waitFor();
  assert.deepEqual(await idsShown(), expected.slice(0, 25));
  await page.getByRole("button", { name: "Next page" }).click();
  await pageLabel.getByText(`Page 2: _id ${expected[25]} to ${expected[29]}`).waitFor();
  assert.deepEqual(await idsShown(), expected.slice(25));
  await page.getByRole("button", { name: "Previous page" }).click();
  await pageLabel.getByText(`Page 1: _id ${expected[0]} to ${bigId}`).waitFor();

  // Rows show at most 300 characters of a document, once (no title attribute).
  const longCell = await page.locator(`tr[data-id="${expected[1]}"] td.doc`).textContent();
  assert.equal(longCell.length, 301);
  assert.ok(longCell.endsWith("…"));
  assert.equal(await page.locator("td.doc[title]").count(), 0);
  assert.match(await page.locator(`tr[data-id="${bigId}"] td.doc`).textContent(), new RegExp(`"_id":${bigId},.*"big":${big}`));

  // View: the exact digits.
  await page.getByRole("button", { name: `View document ${bigId}`, exact: true }).click();
  const shown = await page.getByLabel(`Document ${bigId} as JSON`).textContent();
  assert.match(shown, new RegExp(`"_id": ${bigId},`));
  assert.match(shown, new RegExp(`"big": ${big}\\b`));

  // Edit another field: the big one goes back as it was typed, and the right id is written.
  await page.getByRole("button", { name: "Edit" }).click();
  const editor = page.getByLabel(/its _id stays/);
  const text = await editor.inputValue();
  assert.match(text, new RegExp(`"big": ${big}\\b`));
  await editor.fill(text.replace('"Ada"', '"Bea"'));
  await page.getByRole("button", { name: "Save document" }).click();
  await page.locator("#status").getByText(`Document ${bigId} saved.`).waitFor();
  const after = await rawApi("GET", `/v1/collections/bigids/records/${bigId}`);
  assert.equal(after.status, 200);
  for (const part of [`"_id":${bigId},`, '"name":"Bea"', `"big":${big}}`]) assert.ok(after.text.includes(part), `${part} in ${after.text}`);
  const neighbour = await rawApi("GET", "/v1/collections/bigids/records/9007199254740992");
  assert.equal(neighbour.text, '{"_id":9007199254740992,"n":1}', "the rounded id was not touched");
  await done();
});

/** Records the body of every request to `route` (`_query` or `_explain`) the page sends. */
function recordBodies(page, route) {
  const sent = [];
  page.on("request", (request) => {
    if (request.url().endsWith(route)) sent.push({ path: new URL(request.url()).pathname, body: JSON.parse(request.postData()) });
  });
  return sent;
}

test("query: a JSON filter, a sort paged with next, fields, and a count", { timeout: TEST_TIMEOUT }, async () => {
  assert.equal((await api("PUT", "/v1/collections/qsort", { indexes: ["age"] })).status, 201);
  const docs = Array.from({ length: 9 }, (_, i) => ({ name: `p${i}`, age: 25 + (i % 4) * 5, tags: i % 2 ? ["odd"] : ["even", "db"], address: { city: i < 5 ? "Oslo" : "Rome" } }));
  assert.equal((await api("POST", "/v1/collections/qsort/records/_bulk", docs)).status, 201);
  const filter = { age: { $gte: 30 }, "address.city": "Oslo" };
  const expected = (await api("POST", "/v1/collections/qsort/_query", { where: filter, sort: [["age", "desc"]], limit: 100 })).json.records;
  assert.equal(expected.length, 3);

  const { page, done } = await open("#/query/qsort");
  const sent = recordBodies(page, "/_query");
  await page.getByLabel("Collection").selectOption("qsort");
  // The sort offers _id and the collection's indexed paths.
  const offered = await page.getByLabel("Sort by").locator("option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(offered, ["_id", "age"]);
  await page.getByLabel("Filter (JSON)").fill(JSON.stringify(filter));
  await page.getByLabel("Sort by").selectOption("age");
  await page.getByLabel("Direction").selectOption("desc");
  await page.getByLabel("Fields").fill("name, age");
  await page.getByLabel("Page size").fill("2");
  await page.getByRole("button", { name: "Run query" }).click();
  await page.getByText("Page 1: 2 document(s); more follow.").waitFor();
  const shown = async () => page.locator("ol.results > li").evaluateAll((lis) => lis.map((li) => JSON.parse(li.textContent)));
  const first = await shown();
  await page.getByRole("button", { name: "Next page" }).click();
  await page.getByText("Page 2: 1 document(s); no more.").waitFor();
  const all = first.concat(await shown());
  assert.deepEqual(all, expected.map((d) => ({ _id: d._id, name: d.name, age: d.age })));
  assert.equal(await page.getByRole("button", { name: "Next page" }).isDisabled(), true);

  // The second page was asked for with the first page's cursor, the sort and the fields.
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[0].body, { where: filter, sort: [["age", "desc"]], fields: ["name", "age"], limit: 2 });
  assert.equal(typeof sent[1].body.after, "string");
  assert.deepEqual({ ...sent[1].body, after: undefined }, { ...sent[0].body, after: undefined });
  await page.getByRole("button", { name: "Previous page" }).click();
  await page.getByText("Page 1: 2 document(s); more follow.").waitFor();
  assert.deepEqual(await shown(), first);

  // Count: the filter in the form, no sort, no page.
  await page.getByLabel("Filter (JSON)").fill('{"tags": "even"}');
  await page.getByRole("button", { name: "Count" }).click();
  await page.getByText('Count: 5 document(s) of "qsort" match the filter.').waitFor();
  assert.deepEqual(sent[sent.length - 1].body, { where: { tags: "even" }, count: true });
  await assertLabelled(page);
  await screenshot(page, "query");
  await done();
});

test("query: explain shows the plan; a bad filter is refused before sending; the server's 400 is shown", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/query/qsort");
  const sent = recordBodies(page, "/_explain");
  await page.getByLabel("Collection").selectOption("qsort");
  const filterBox = page.getByLabel("Filter (JSON)");
  const row = (label) => page.locator("section.plan tr").filter({ has: page.getByRole("rowheader", { name: label, exact: true }) }).locator("td");

  await filterBox.fill('{"age": {"$gt": 30}}');
  await page.getByRole("button", { name: "Explain" }).click();
  await page.getByRole("heading", { name: 'Plan of the query on "qsort"' }).waitFor();
  assert.match(await row("Access").textContent(), /^index: /);
  assert.match(await row("Indexes").textContent(), /^age \(30, /);
  assert.equal(await row("Scans the collection").textContent(), "no");
  const planJson = JSON.parse(await page.getByLabel("Plan as JSON").textContent());
  const viaApi = (await api("POST", "/v1/collections/qsort/_explain", { where: { age: { $gt: 30 } } })).json;
  assert.deepEqual({ ...planJson, examined: 0 }, { ...viaApi, examined: 0 });
  assert.deepEqual(sent[0].body, { where: { age: { $gt: 30 } }, limit: 100 });
  await screenshot(page, "query-explain");

  // A filter on a path nobody indexed scans.
  await filterBox.fill('{"name": "p3"}');
  await page.getByRole("button", { name: "Explain" }).click();
  await row("Scans the collection").getByText("yes").waitFor();
  assert.match(await row("Access").textContent(), /^scan: /);

  // Not JSON: refused here, nothing sent.
  const before = sent.length;
  await filterBox.fill('{"age": ');
  await page.getByRole("button", { name: "Explain" }).click();
  await page.getByRole("alert").getByText(/the filter is not valid JSON/).waitFor();
  assert.match(await page.getByRole("alert").textContent(), /invalid_json: .*\[not sent\]/);
  await filterBox.fill("[1, 2]");
  await page.getByRole("button", { name: "Run query" }).click();
  await page.getByRole("alert").getByText(/the filter must be a JSON object/).waitFor();
  await sleep(300);
  assert.equal(sent.length, before, "nothing was sent");

  // The server's 400 names the operator and the path.
  await page.getByRole("button", { name: "Dismiss" }).click();
  await filterBox.fill('{"age": {"$in": 3}}');
  await page.getByRole("button", { name: "Run query" }).click();
  const alert = page.getByRole("alert");
  await alert.getByText("bad_request (HTTP 400)").waitFor();
  assert.match(await alert.textContent(), /\$in on path "age"/);
  await page.getByText("The query failed (see the error above).").waitFor();
  await done();
});

test("query: pages use the submitted query, not the form; another collection drops the results", { timeout: TEST_TIMEOUT }, async () => {
  assert.equal((await api("PUT", "/v1/collections/qpage", { indexes: ["city"] })).status, 201);
  assert.equal((await api("PUT", "/v1/collections/qother", { indexes: ["kind"] })).status, 201);
  const docs = [1, 2, 3, 4, 5].map((n) => ({ city: "Oslo", n })).concat([{ city: "Rome", n: 6 }]);
  const ids = (await api("POST", "/v1/collections/qpage/records/_bulk", docs)).json.ids;
  const { page, done } = await open("#/query/qpage");
  const sent = [];
  page.on("request", (request) => {
    if (request.url().includes("/_query")) sent.push({ path: new URL(request.url()).pathname, body: JSON.parse(request.postData()) });
  });
  const shownIds = async () => page.locator("ol.results > li").evaluateAll((lis) => lis.map((li) => Number(li.dataset.id)));
  const next = page.getByRole("button", { name: "Next page" });
  const prev = page.getByRole("button", { name: "Previous page" });

  await page.getByLabel("Collection").selectOption("qpage");
  await page.getByLabel("Filter (JSON)").fill('{"city": "Oslo"}');
  await page.getByLabel("Page size").fill("2");
  await page.getByRole("button", { name: "Run query" }).click();
  await page.getByText("Page 1: 2 document(s); more follow.").waitFor();
  assert.deepEqual(await shownIds(), ids.slice(0, 2));

  // The form changes, but the query's pages keep to what was submitted.
  await page.getByLabel("Filter (JSON)").fill('{"city": "Rome"}');
  await page.getByLabel("Page size").fill("7");
  await next.click();
  await page.getByText("Page 2: 2 document(s); more follow.").waitFor();
  assert.deepEqual(await shownIds(), ids.slice(2, 4));
  await next.click();
  await page.getByText("Page 3: 1 document(s); no more.").waitFor();
  assert.deepEqual(await shownIds(), ids.slice(4, 5));
  assert.equal(await next.isDisabled(), true);
  // Next went disabled while focused: focus moved to Previous.
  assert.equal(await focused(page), "button:Previous page");
  await prev.click();
  await page.getByText("Page 2: 2 document(s); more follow.").waitFor();
  await prev.click();
  await page.getByText("Page 1: 2 document(s); more follow.").waitFor();
  assert.equal(await prev.isDisabled(), true);
  assert.equal(sent.length, 5);
  for (const { path, body } of sent) {
    assert.equal(path, "/v1/collections/qpage/_query");
    assert.deepEqual(body.where, { city: "Oslo" });
    assert.equal(body.limit, 2);
  }
  assert.deepEqual(sent.map((r) => r.body.after), [undefined, ids[1], ids[3], ids[1], undefined]);

  // Another collection: the old results go, and no page of the old query can be asked for.
  await page.getByLabel("Collection").selectOption("qother");
  await page.getByText("Another collection: run a query to see its documents.").waitFor();
  assert.equal(await page.locator("ol.results > li").count(), 0);
  assert.equal(await next.isDisabled(), true);
  assert.equal(await prev.isDisabled(), true);
  await sleep(300);
  assert.equal(sent.length, 5, "nothing was sent for the old query");

  // A page size over 500 is refused by the form, and capped if it gets through anyway.
  const size = page.getByLabel("Page size");
  await size.fill("9999");
  assert.equal(await size.evaluate((el) => el.validity.rangeOverflow), true);
  await size.evaluate((el) => el.removeAttribute("max"));
  await page.getByRole("button", { name: "Run query" }).click();
  await page.getByText("Page 1: 0 document(s); no more.").waitFor();
  assert.equal(sent.length, 6);
  assert.equal(sent[5].path, "/v1/collections/qother/_query");
  assert.equal(sent[5].body.limit, 500);
  assert.equal(await page.getByLabel("Page size").inputValue(), "500");
  await done();
});

test("live feed: changes arrive; reconnect and pause/resume lose nothing; the filter starts a new list", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/feed");
  const state = page.locator(".feed-state");
  await state.getByText("Connected: live changes of all collections.").waitFor();
  const item = (collection, id) => page.locator(`ol.events li[data-collection="${collection}"][data-id="${id}"]`);

  // Disconnected before any change arrived: Reconnect still gets what happened meanwhile.
  await page.getByRole("button", { name: "Disconnect" }).click();
  await state.getByText(/^Disconnected after seq \d+/).waitFor();
  const missed = await api("POST", "/v1/collections/people/records", { name: "Meanwhile" });
  assert.equal(missed.status, 201);
  await page.getByRole("button", { name: "Reconnect" }).click();
  await item("people", missed.json._id).waitFor();
  assert.equal(await item("people", missed.json._id).getAttribute("data-seq"), String(missed.json.seq));

  const inserted = await api("POST", "/v1/collections/people/records", { name: "Live", city: "Oslo" });
  assert.equal(inserted.status, 201);
  const live = item("people", inserted.json._id);
  await live.waitFor();
  assert.equal(await live.getAttribute("data-op"), "insert");
  assert.equal(await live.getAttribute("data-seq"), String(inserted.json.seq));
  assert.match(await live.textContent(), /"name":"Live"/);

  // Pause closes the feed; the three changes made meanwhile arrive on Resume, in order.
  await page.getByRole("button", { name: "Pause" }).click();
  await state.getByText(`Paused after seq ${inserted.json.seq}`).waitFor();
  const during = [];
  for (const n of [1, 2, 3]) {
    const answer = await api("POST", "/v1/collections/people/records", { name: `Paused ${n}` });
    assert.equal(answer.status, 201);
    during.push(answer.json);
  }
  await sleep(300);
  assert.equal(await page.locator("ol.events li").count(), 2, "nothing arrives while paused");
  await page.getByRole("button", { name: "Resume" }).click();
  await item("people", during[2]._id).waitFor();
  const seqs = await page.locator("ol.events li").evaluateAll((lis) => lis.map((li) => Number(li.dataset.seq)));
  // Newest first: the three, then the two from before the pause; no gap, no duplicate.
  assert.deepEqual(seqs, [during[2].seq, during[1].seq, during[0].seq, inserted.json.seq, missed.json.seq]);

  // A filter on one collection: a new list, with only its changes.
  await page.getByLabel("Collection").selectOption("people");
  await state.getByText('Connected: live changes of collection "people".').waitFor();
  assert.equal(await page.locator("ol.events li").count(), 0, "the list starts afresh");
  await api("POST", "/v1/collections/many/records", { n: -1 });
  const third = await api("DELETE", `/v1/collections/people/records/${inserted.json._id}`);
  assert.equal(third.status, 204);
  const deleted = page.locator('ol.events li[data-op="delete"]');
  await deleted.waitFor();
  assert.equal(await page.locator('ol.events li[data-collection="many"]').count(), 0);
  await assertLabelled(page);
  await screenshot(page, "feed");
  await done();
});

test("dashboard: charts fed by /metrics and /v1/stats every 2 s", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/dashboard");
  const updated = page.getByText(/Updated at .*; 1 sample/);
  await updated.waitFor();
  // It changes every 2 s: not in a live region, or a screen reader would read it each time.
  assert.equal(await updated.evaluate((el) => el.closest("[aria-live], [role=status], [role=alert]") === null), true);
  for (let i = 0; i < 20; i += 1) await api("POST", "/v1/collections/people/records", { i });
  await page.getByText(/; 3 sample/).waitFor();
  const latest = await page.locator(".latest").evaluateAll((spans) => Object.fromEntries(spans.map((s) => [s.dataset.chart, s.textContent])));
  assert.deepEqual(Object.keys(latest).sort(), ["batch", "disk", "fsync", "reads", "writes"]);
  assert.match(latest.disk, /\d+(\.\d)? (B|KiB|MiB)/);
  assert.match(latest.writes, /^\d/);
  // Every chart drew something (the axes at least) on its canvas.
  const painted = await page.locator("canvas").evaluateAll((canvases) =>
    canvases.map((c) => c.getContext("2d").getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0)),
  );
  assert.deepEqual(painted, [true, true, true, true, true]);
  const docs = await page.getByRole("row", { name: /^Documents/ }).textContent();
  assert.match(docs, /\d+/);
  await screenshot(page, "dashboard");
  await done();
});

/** A /v1/cluster answer of a three-node cluster with a learner, as node `nodeId` gives it. */
function clusterAnswer(nodeId, commit) {
  const onLeader = nodeId === 2;
  return {
    node_id: nodeId,
    leader_id: 2,
    term: 5,
    commit_index: commit,
    applied_index: commit - 1,
    members: [
      { id: 1, addr: "127.0.0.1:17071", role: "follower", match_index: onLeader ? commit - 3 : null },
      { id: 2, addr: "127.0.0.1:17072", role: "leader", match_index: onLeader ? commit + 1 : null },
      { id: 3, addr: "127.0.0.1:17073", role: "follower", match_index: onLeader ? commit + 1 : null },
      { id: 4, addr: "127.0.0.1:17074", role: "learner", match_index: onLeader ? 12 : null },
    ],
  };
}

/** The members table as [[node, address, role, match index, lag], ...]. */
async function memberTable(page) {
  return page.locator("table.members tbody tr").evaluateAll((rows) =>
    rows.map((row) => [...row.children].map((cell) => cell.textContent)),
  );
}

test("cluster: a standalone server says it is standalone and stops polling", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/dashboard");
  await page.getByRole("link", { name: "Cluster" }).click();
  await page.getByRole("heading", { name: "Cluster" }).waitFor();
  await page.getByText("This server is standalone: it is not part of a cluster.").waitFor();
  assert.equal((await api("GET", "/v1/cluster")).status, 404);
  // The 404 is the answer, not an error: no alert, no "Resume polling".
  assert.equal(await page.locator("#alerts").textContent(), "");
  assert.equal(await page.getByRole("button", { name: "Resume polling" }).isVisible(), false);
  let asked = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/v1/cluster") asked += 1;
  });
  await sleep(2500);
  assert.equal(asked, 0, "no more /v1/cluster requests once the server said it is standalone");
  await screenshot(page, "cluster-standalone");
  await done();
});

test("cluster: members, roles, leader, term, indexes and lag from /v1/cluster, refreshed", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections");
  await page.getByRole("heading", { name: "All collections" }).waitFor();
  // This server is standalone: the cluster's answers are the leader's (node 2), then a
  // follower's, as a real node gives them.
  const answers = [clusterAnswer(2, 100), clusterAnswer(2, 140), clusterAnswer(1, 150)];
  let served = 0;
  await page.route(
    (url) => url.pathname === "/v1/cluster",
    (route) => {
      const body = answers[Math.min(served, answers.length - 1)];
      served += 1;
      return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(body) });
    },
  );
  await page.getByRole("link", { name: "Cluster" }).click();
  await page.getByRole("row", { name: /^Commit index 100$/ }).waitFor();
  assert.equal(await page.getByRole("row", { name: /^Leader/ }).textContent(), "Leadernode 2 (127.0.0.1:17072), this node");
  assert.equal(await page.getByRole("row", { name: /^Term/ }).textContent(), "Term5");
  assert.equal(await page.getByRole("row", { name: /^Applied index/ }).textContent(), "Applied index99");
  assert.deepEqual(await memberTable(page), [
    ["1", "127.0.0.1:17071", "follower", "97", "4"],
    ["2 (this node)", "127.0.0.1:17072", "leader", "101", "0"],
    ["3", "127.0.0.1:17073", "follower", "101", "0"],
    ["4", "127.0.0.1:17074", "learner", "12", "89"],
  ]);
  await screenshot(page, "cluster-leader");

  // Polled every 2 s: the next answer replaces the figures.
  await page.getByRole("row", { name: /^Commit index 140$/ }).waitFor();
  assert.equal((await memberTable(page))[3][4], "129");

  // On a follower, match index and lag are unknown; the page links to the leader's console.
  await page.getByRole("row", { name: /^Commit index 150$/ }).waitFor();
  assert.deepEqual(await memberTable(page), [
    ["1 (this node)", "127.0.0.1:17071", "follower", "–", "–"],
    ["2", "127.0.0.1:17072", "leader", "–", "–"],
    ["3", "127.0.0.1:17073", "follower", "–", "–"],
    ["4", "127.0.0.1:17074", "learner", "–", "–"],
  ]);
  const link = page.getByRole("link", { name: "open the console on node 2" });
  assert.equal(await link.getAttribute("href"), "http://127.0.0.1:17072/#/cluster");
  assert.equal(await page.locator("#alerts").textContent(), "");

  // Leaving the page stops the polling.
  await page.getByRole("link", { name: "Dashboard" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  const before = served;
  await sleep(2500);
  assert.equal(served, before, "no /v1/cluster request after leaving the page");
  await done();
});

test("cluster: an error stops the polling until Resume", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections");
  await page.getByRole("heading", { name: "All collections" }).waitFor();
  let fail = true;
  await page.route(
    (url) => url.pathname === "/v1/cluster",
    (route) =>
      fail
        ? route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: { code: "unavailable", message: "the node is not ready" } }) })
        : route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(clusterAnswer(2, 60)) }),
  );
  await page.getByRole("link", { name: "Cluster" }).click();
  await page.getByRole("alert").getByText("unavailable (HTTP 503)").waitFor();
  await page.getByText("Polling stopped after an error (see above).").waitFor();
  fail = false;
  await page.getByRole("button", { name: "Resume polling" }).click();
  await page.getByRole("row", { name: /^Commit index 60$/ }).waitFor();
  await done();
});

test("collections: delete one after the confirm dialog, keyboard only", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections");
  const remove = page.getByRole("button", { name: "Delete collection many" });
  await remove.focus();
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("dialog", { name: "Please confirm" });
  await confirm.waitFor();
  // Escape cancels the native dialog; nothing is deleted.
  await page.keyboard.press("Escape");
  await confirm.waitFor({ state: "hidden" });
  assert.ok((await api("GET", "/v1/collections")).json.collections.some((c) => c.name === "many"));

  await remove.focus();
  await page.keyboard.press("Enter");
  await confirm.waitFor();
  await confirm.getByRole("button", { name: "Delete collection" }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#status").getByText('Collection "many" deleted.').waitFor();
  await page.waitForFunction(() => document.activeElement && document.activeElement.textContent === "All collections");
  const list = (await api("GET", "/v1/collections")).json.collections.map((c) => c.name);
  assert.ok(!list.includes("many"), `"many" is gone: ${list}`);
  assert.equal((await api("GET", "/v1/collections/many/records")).status, 404);
  await page.locator('tr[data-collection="many"]').waitFor({ state: "detached" });
  await done();
});

test("robustness: a 2xx that is not JSON is an error; a malformed URL escape is no crash", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/collections");
  await page.getByRole("heading", { name: "All collections" }).waitFor();
  await page.route(
    (url) => url.pathname === "/v1/collections",
    (route) => route.fulfill({ status: 200, contentType: "text/html", body: "<html>a proxy's page</html>" }),
    { times: 1 },
  );
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.getByRole("alert").getByText("invalid_answer (HTTP 200)").waitFor();
  assert.match(await page.getByRole("alert").textContent(), /not JSON: <html>a proxy's page/);

  // %E0%A4%A is no valid escape: decodeURIComponent throws URIError; the console goes to the
  // collections page instead of failing (done() fails on any page error).
  await page.evaluate(() => {
    location.hash = "#/c/%E0%A4%A";
  });
  await page.waitForFunction(() => location.hash === "#/collections");
  await page.getByRole("heading", { name: "All collections" }).waitFor();
  await done();
});
