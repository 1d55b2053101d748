// The live change feed: a WebSocket to /v1/changes (or one collection's changes), with the
// token as `access_token` (browsers cannot send headers on a WebSocket). The list is
// bounded; while paused, arriving changes are dropped and counted (nothing is buffered).
// Close codes 4000 (lagged), 4001 (history compacted) and 1001 (shutdown) are explained,
// and Reconnect resumes without loss where the server allows it.

import { api, collectionPath, feedUrl, listCollections } from "./api.js";
import { field, h, replace } from "./dom.js";

/** Most changes kept on screen; older ones are removed. */
export const MAX_EVENTS = 500;

/** What a close code means and what Reconnect will do. */
export function explain(code, reason, lastSeq) {
  const resume = lastSeq === null ? "from now on" : `after seq ${lastSeq}, with nothing lost`;
  switch (code) {
    case 4000:
      return `The feed fell too far behind and the server closed it (code 4000: ${reason}). Reconnect resumes ${resume}.`;
    case 4001:
      return `The changes asked for were removed by compaction (code 4001: ${reason}). Reconnect watches live changes only; re-read the collection for the current state.`;
    case 1001:
      return `The server is shutting down (code 1001: ${reason || "going away"}). Reconnect once it is back; it resumes ${resume}.`;
    case 1000:
      return "The feed is closed.";
    default:
      return `The feed closed (code ${code}${reason ? `: ${reason}` : ""}). Reconnect resumes ${resume}.`;
  }
}

export function render(main) {
  let socket = null;
  let paused = false;
  let lastSeq = null;
  let received = 0;
  let dropped = 0;
  let sinceOnReconnect = null;

  const select = h("select", { name: "collection" }, h("option", { value: "" }, "All collections"));
  const connectButton = h("button", { type: "button" }, "Connect");
  const pauseButton = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Pause");
  const clearButton = h("button", { type: "button", class: "secondary" }, "Clear list");
  const state = h("p", { class: "feed-state", "aria-live": "polite" }, "Not connected.");
  const counters = h("p", { class: "hint feed-counters" }, "");
  const list = h("ol", { class: "events", "aria-label": "Changes, newest first", reversed: true });

  replace(
    main,
    h("h1", {}, "Live change feed"),
    h(
      "div",
      { class: "panel" },
      h("div", { class: "row" }, field("Collection", select).wrap, connectButton, pauseButton, clearButton),
      h("p", { class: "hint" }, `Newest first; the last ${MAX_EVENTS} changes are kept. While paused, arriving changes are dropped and counted, not buffered.`),
      state,
      counters,
    ),
    list,
  );

  function updateCounters() {
    counters.textContent = `Received ${received}; shown ${list.children.length}; dropped while paused ${dropped}` + (lastSeq === null ? "." : `; last seq ${lastSeq}.`);
  }

  function addEvent(change) {
    const doc = change.doc === null ? "" : JSON.stringify(change.doc);
    const item = h(
      "li",
      { dataset: { seq: String(change.seq), op: change.op, collection: change.collection, id: String(change._id) } },
      h("span", { class: "seq" }, `#${change.seq} `),
      h("span", { class: `op op-${change.op}` }, change.op),
      ` ${change.collection}/${change._id} `,
      h("span", { class: "doc" }, doc),
    );
    list.prepend(item);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  async function probe() {
    // The browser hides why a WebSocket upgrade failed; ask the same things over HTTP so the
    // API's error (401 with the token prompt, 404 for an unknown collection) is shown.
    const name = select.value;
    try {
      await api("GET", name ? collectionPath(name, "/records?limit=1") : "/v1/collections");
      return true;
    } catch {
      return false;
    }
  }

  function connect(since) {
    disconnect();
    const url = feedUrl(select.value, since);
    const target = select.value ? `collection "${select.value}"` : "all collections";
    state.textContent = `Connecting to the changes of ${target}…`;
    let opened = false;
    const ws = new WebSocket(url);
    socket = ws;
    connectButton.textContent = "Disconnect";
    ws.addEventListener("open", () => {
      opened = true;
      state.textContent = `Connected: live changes of ${target}.`;
    });
    ws.addEventListener("message", (event) => {
      let change;
      try {
        change = JSON.parse(event.data);
      } catch {
        return;
      }
      received += 1;
      lastSeq = change.seq;
      if (paused) dropped += 1;
      else addEvent(change);
      updateCounters();
    });
    ws.addEventListener("close", async (event) => {
      // A socket the user closed, or one replaced by a newer connection, says nothing.
      if (socket !== ws) return;
      socket = null;
      connectButton.textContent = "Reconnect";
      if (!opened) {
        state.textContent = "The feed could not be opened.";
        if (await probe()) {
          state.textContent = "The feed could not be opened; the server answers HTTP. Press Reconnect to try again.";
        }
        return;
      }
      sinceOnReconnect = event.code === 4001 ? null : lastSeq;
      state.textContent = explain(event.code, event.reason, lastSeq);
    });
  }

  function disconnect() {
    if (socket) {
      const closing = socket;
      socket = null;
      closing.close(1000, "closed by the console");
    }
  }

  connectButton.addEventListener("click", () => {
    if (socket) {
      disconnect();
      sinceOnReconnect = lastSeq;
      connectButton.textContent = "Connect";
      state.textContent = "Disconnected.";
    } else {
      connect(sinceOnReconnect);
    }
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    updateCounters();
  });
  clearButton.addEventListener("click", () => {
    replace(list);
    updateCounters();
  });
  select.addEventListener("change", () => {
    // Another collection: start afresh from live changes.
    lastSeq = null;
    sinceOnReconnect = null;
    connect(null);
  });

  (async () => {
    try {
      const collections = await listCollections();
      for (const c of collections) select.append(h("option", { value: c.name }, c.name));
    } catch {
      return;
    }
    connect(null);
  })();
  updateCounters();

  return () => disconnect();
}
