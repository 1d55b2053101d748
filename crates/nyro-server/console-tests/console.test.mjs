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

test("query: equality on an indexed field, values read as JSON or text", { timeout: TEST_TIMEOUT }, async () => {
  for (const doc of [
    { name: "Bo", city: "London", age: 30 },
    { name: "Cy", city: "London", age: 41 },
    { name: "Di", city: "Rome", age: 30 },
  ]) {
    assert.equal((await api("POST", "/v1/collections/people/records", doc)).status, 201);
  }
  const { page, done } = await open("#/query/people");
  await page.getByLabel("Collection").selectOption("people");
  await page.getByLabel("Field").selectOption("city");
  await page.getByLabel("equals").fill("London"); // not JSON: read as the text London
  await page.getByRole("button", { name: "Run query" }).click();
  const results = page.locator("ol.results > li");
  await page.getByText("Page 1: 2 document(s); no more.").waitFor();
  const names = await results.evaluateAll((lis) => lis.map((li) => JSON.parse(li.textContent).name));
  assert.deepEqual(names, ["Bo", "Cy"]);

  // 30 parses as JSON: the number 30.
  await page.getByLabel("Field").selectOption("age");
  await page.getByLabel("equals").fill("30");
  await page.getByRole("button", { name: "Run query" }).click();
  await page.locator("ol.results").getByText('"Di"').waitFor();
  await page.getByText("Page 1: 2 document(s); no more.").waitFor();
  const found = await results.evaluateAll((lis) => lis.map((li) => JSON.parse(li.textContent).name));
  assert.deepEqual(found, ["Bo", "Di"]);
  const viaApi = await api("POST", "/v1/collections/people/_query", { where: { age: 30 } });
  assert.deepEqual(viaApi.json.records.map((d) => d.name), found);
  await assertLabelled(page);
  await screenshot(page, "query");
  await done();
});

test("live feed: a change made through the API arrives; pause drops and counts", { timeout: TEST_TIMEOUT }, async () => {
  const { page, done } = await open("#/feed");
  await page.getByText("Connected: live changes of all collections.").waitFor();

  const inserted = await api("POST", "/v1/collections/people/records", { name: "Live", city: "Oslo" });
  assert.equal(inserted.status, 201);
  const item = page.locator(`ol.events li[data-collection="people"][data-id="${inserted.json._id}"]`);
  await item.waitFor();
  assert.equal(await item.getAttribute("data-op"), "insert");
  assert.equal(await item.getAttribute("data-seq"), String(inserted.json.seq));
  assert.match(await item.textContent(), /"name":"Live"/);

  await page.getByRole("button", { name: "Pause" }).click();
  const second = await api("PUT", `/v1/collections/people/records/${inserted.json._id}`, { name: "Live", city: "Bergen" });
  assert.equal(second.status, 200);
  await page.getByText(/dropped while paused 1; last seq/).waitFor();
  assert.equal(await page.locator("ol.events li").count(), 1, "nothing is shown while paused");
  await page.getByRole("button", { name: "Resume" }).click();

  // A filter on one collection: only its changes arrive.
  await page.getByLabel("Collection").selectOption("people");
  await page.getByText('Connected: live changes of collection "people".').waitFor();
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
  await page.getByText(/Updated at .*; 1 sample/).waitFor();
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
  const list = (await api("GET", "/v1/collections")).json.collections.map((c) => c.name);
  assert.ok(!list.includes("many"), `"many" is gone: ${list}`);
  assert.equal((await api("GET", "/v1/collections/many/records")).status, 404);
  await page.locator('tr[data-collection="many"]').waitFor({ state: "detached" });
  await done();
});
