// The live change feed: a WebSocket to /v1/changes (or one collection's changes), with the
// token as `access_token` (browsers cannot send headers on a WebSocket). The list is
// bounded. Nothing is lost between connections: a fresh connection first reads `last_seq`
// from /v1/stats and asks for the changes after it (`since`); Pause closes the socket and
// Resume reconnects with `since` the last seq received, so the server replays what happened
// meanwhile from its log. Close codes 4000 (lagged), 4001 (history compacted) and 1001
// (shutdown) are explained, and Reconnect resumes without loss where the server allows it.

import { api, collectionPath, feedUrl, listCollections, parseJson } from "./api.js";
import { compact, field, h, replace } from "./dom.js";

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
  // The seq the next connection resumes after: the last one received, or the server's
  // last_seq when the connection started; null only if /v1/stats could not be read.
  let lastSeq = null;
  let received = 0;
  let compacted = false;
  // Bumped by every (re)connection, so an older one's late callbacks do nothing.
  let generation = 0;

  const select = h("select", { name: "collection" }, h("option", { value: "" }, "All collections"));
  const connectButton = h("button", { type: "button" }, "Connect");
  const pauseButton = h("button", { type: "button", class: "secondary", "aria-pressed": "false", disabled: true }, "Pause");
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
      h(
        "p",
        { class: "hint" },
        `Newest first; the last ${MAX_EVENTS} changes are kept. Pause closes the feed; Resume asks the server for every change since, so nothing is lost (unless compaction removed it meanwhile). Choosing another collection clears the list.`,
      ),
      state,
      counters,
    ),
    list,
  );

  function target() {
    return select.value ? `collection "${select.value}"` : "all collections";
  }

  function updateCounters() {
    counters.textContent = `Received ${received}; shown ${list.children.length}` + (lastSeq === null ? "." : `; last seq ${lastSeq}.`);
  }

  function addEvent(change) {
    const doc = change.doc === null ? "" : compact(change.doc);
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

  function setButtons(connected) {
    connectButton.textContent = connected ? "Disconnect" : "Reconnect";
    pauseButton.disabled = !connected && !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
  }

  /** A connection from now: after the server's last_seq, so a reconnect loses nothing. */
  async function connectFresh() {
    disconnect();
    const mine = ++generation;
    state.textContent = `Connecting to the changes of ${target()}…`;
    let since = null;
    try {
      since = (await api("GET", "/v1/stats", undefined, { quiet: true })).last_seq;
    } catch {
      // Without it the feed starts from now and a reconnect before a change may miss some.
    }
    if (mine !== generation) return;
    lastSeq = since;
    updateCounters();
    connect(since);
  }

  function connect(since) {
    disconnect();
    const mine = ++generation;
    const url = feedUrl(select.value, since);
    const what = target();
    state.textContent = `Connecting to the changes of ${what}…`;
    let opened = false;
    const ws = new WebSocket(url);
    socket = ws;
    setButtons(true);
    ws.addEventListener("open", () => {
      if (mine !== generation) return;
      opened = true;
      state.textContent = since === null || received === 0 ? `Connected: live changes of ${what}.` : `Connected: changes of ${what} after seq ${since}, then live ones.`;
    });
    ws.addEventListener("message", (event) => {
      if (mine !== generation) return;
      let change;
      try {
        change = parseJson(event.data);
      } catch {
        return;
      }
      received += 1;
      lastSeq = change.seq;
      addEvent(change);
      updateCounters();
    });
    ws.addEventListener("close", async (event) => {
      // A socket the user closed, or one replaced by a newer connection, says nothing.
      if (mine !== generation || socket !== ws) return;
      socket = null;
      setButtons(false);
      if (!opened) {
        state.textContent = "The feed could not be opened.";
        if ((await probe()) && mine === generation) {
          state.textContent = "The feed could not be opened; the server answers HTTP. Press Reconnect to try again.";
        }
        return;
      }
      compacted = event.code === 4001;
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

  /** Connects again after lastSeq (or from now, after a 4001 or without a seq). */
  function resume() {
    paused = false;
    if (compacted || lastSeq === null) {
      compacted = false;
      connectFresh();
    } else {
      connect(lastSeq);
    }
  }

  connectButton.addEventListener("click", () => {
    if (socket) {
      generation += 1;
      disconnect();
      setButtons(false);
      state.textContent = lastSeq === null ? "Disconnected." : `Disconnected after seq ${lastSeq}; Reconnect resumes from there.`;
    } else {
      resume();
    }
  });
  pauseButton.addEventListener("click", () => {
    if (paused) {
      resume();
      return;
    }
    generation += 1;
    disconnect();
    paused = true;
    setButtons(false);
    state.textContent = `Paused after seq ${lastSeq ?? "?"}: the feed is closed; Resume fetches every change made meanwhile, in order.`;
  });
  clearButton.addEventListener("click", () => {
    replace(list);
    updateCounters();
  });
  select.addEventListener("change", () => {
    // Another collection: a new list, from now on.
    paused = false;
    compacted = false;
    received = 0;
    replace(list);
    connectFresh();
  });

  (async () => {
    try {
      const collections = await listCollections();
      for (const c of collections) select.append(h("option", { value: c.name }, c.name));
    } catch {
      return;
    }
    connectFresh();
  })();
  updateCounters();

  return () => {
    generation += 1;
    disconnect();
  };
}
