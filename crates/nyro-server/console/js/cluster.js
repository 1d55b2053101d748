// The cluster page: polls GET /v1/cluster every 2 s and shows this node's view of the
// cluster (leader, term, commit and applied index) and every member with its role, match
// index and lag. Match indexes are known on the leader only, so a follower's page says where
// the leader is. A standalone server answers 404: the page says so and stops polling.

import { api, showError } from "./api.js";
import { h, poller, replace } from "./dom.js";

export const POLL_MS = 2000;

/**
 * Every member of a /v1/cluster answer as a row: { id, addr, role, self, matchIndex, lag }.
 * `lag` is the leader's match index (its last log index) minus the member's, or null when
 * either is unknown (on a follower, or for a member the leader has not heard from).
 */
export function memberRows(answer) {
  const members = Array.isArray(answer.members) ? answer.members : [];
  const leader = members.find((m) => m.role === "leader" && m.id === answer.leader_id);
  const leaderIndex = leader && Number.isInteger(leader.match_index) ? leader.match_index : null;
  return members.map((m) => {
    const matchIndex = Number.isInteger(m.match_index) ? m.match_index : null;
    return {
      id: m.id,
      addr: m.addr,
      role: m.role,
      self: m.id === answer.node_id,
      matchIndex,
      lag: leaderIndex !== null && matchIndex !== null ? Math.max(0, leaderIndex - matchIndex) : null,
    };
  });
}

/** The summary of a /v1/cluster answer: [label, value] pairs. */
export function summaryRows(answer) {
  const leader = (answer.members || []).find((m) => m.id === answer.leader_id);
  let leaderText = "none known (an election is under way, or the quorum is lost)";
  if (answer.leader_id !== null && answer.leader_id !== undefined) {
    leaderText = `node ${answer.leader_id}${leader ? ` (${leader.addr})` : ""}${answer.leader_id === answer.node_id ? ", this node" : ""}`;
  }
  return [
    ["This node", `node ${answer.node_id}`],
    ["Leader", leaderText],
    ["Term", String(answer.term)],
    ["Commit index", String(answer.commit_index)],
    ["Applied index", String(answer.applied_index)],
  ];
}

const dash = (v) => (v === null ? "–" : String(v));

export function render(main) {
  // Not a live region: "Updated at ..." changes every 2 s (as on the dashboard).
  const state = h("p", { class: "hint" }, "Starting…");
  const polling = poller({ everyMs: POLL_MS, state, tick });
  const body = h("div");
  replace(
    main,
    h("h1", {}, "Cluster"),
    h("p", { class: "hint" }, `This node's view, from /v1/cluster every ${POLL_MS / 1000} s.`),
    h("div", { class: "row" }, state, polling.resume),
    body,
  );

  function showStandalone(error) {
    state.textContent = "";
    replace(
      body,
      h("p", { class: "panel", dataset: { standalone: "" } }, "This server is standalone: it is not part of a cluster."),
      h("p", { class: "hint" }, `The server answered: ${error.message}`),
    );
  }

  function show(answer) {
    const summary = summaryRows(answer).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)));
    const rows = memberRows(answer).map((m) =>
      h(
        "tr",
        { dataset: { member: String(m.id) } },
        h("th", { scope: "row" }, `${m.id}${m.self ? " (this node)" : ""}`),
        h("td", {}, m.addr),
        h("td", { class: `role role-${m.role}` }, m.role),
        h("td", {}, dash(m.matchIndex)),
        h("td", {}, dash(m.lag)),
      ),
    );
    const leader = (answer.members || []).find((m) => m.id === answer.leader_id);
    let where = null;
    if (answer.leader_id !== answer.node_id) {
      where = leader
        ? h(
            "p",
            { class: "hint" },
            "Match index and lag are known on the leader only: ",
            h("a", { href: `${location.protocol}//${leader.addr}/#/cluster` }, `open the console on node ${leader.id}`),
            ".",
          )
        : h("p", { class: "hint" }, "Match index and lag are known on the leader only, and no leader is known.");
    }
    replace(
      body,
      h("table", { class: "summary" }, h("caption", {}, "Overview"), h("tbody", {}, summary)),
      h("h2", {}, "Members"),
      h(
        "table",
        { class: "members" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Node", "Address", "Role", "Match index", "Lag (entries)"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h("tbody", {}, rows),
      ),
      where,
    );
  }

  async function tick() {
    let answer;
    try {
      answer = await api("GET", "/v1/cluster", undefined, { quiet: true });
    } catch (error) {
      if (polling.stopped()) return false;
      if (error.status === 404) {
        showStandalone(error);
        return false;
      }
      showError(error, "GET /v1/cluster");
      throw error;
    }
    if (polling.stopped()) return false;
    state.textContent = `Updated at ${new Date().toLocaleTimeString()}.`;
    show(answer);
    return true;
  }

  polling.start();
  return polling.stop;
}
