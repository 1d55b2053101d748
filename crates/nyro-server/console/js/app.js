// The console's entry point: hash routing between the pages. Each page's render function
// fills <main> and may return a cleanup function (close a WebSocket, stop polling), called
// when the user leaves the page.

import { changeToken, clearErrors } from "./api.js";
import { announce } from "./dom.js";
import * as collections from "./collections.js";
import * as documents from "./documents.js";
import * as query from "./query.js";
import * as feed from "./feed.js";
import * as dashboard from "./dashboard.js";
import * as cluster from "./cluster.js";

/** A name from the URL's hash; a malformed escape (URIError) is no name at all. */
function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

const ROUTES = [
  { pattern: /^#\/collections$/, nav: "collections", render: (main) => collections.render(main) },
  { pattern: /^#\/c\/([^/?]+)$/, nav: "collections", name: 1, render: (main, m) => documents.render(main, decoded(m[1])) },
  { pattern: /^#\/query(?:\/([^/?]+))?$/, nav: "query", name: 1, render: (main, m) => query.render(main, m[1] ? decoded(m[1]) : "") },
  { pattern: /^#\/feed$/, nav: "feed", render: (main) => feed.render(main) },
  { pattern: /^#\/dashboard$/, nav: "dashboard", render: (main) => dashboard.render(main) },
  { pattern: /^#\/cluster$/, nav: "cluster", render: (main) => cluster.render(main) },
];

let cleanup = null;

function route(focus) {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // A page's cleanup never stops navigation.
    }
    cleanup = null;
  }
  const hash = location.hash || "#/collections";
  const match = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find((x) => x.m);
  if (!match || (match.r.name && match.m[match.r.name] && decoded(match.m[match.r.name]) === null)) {
    location.replace("#/collections");
    return;
  }
  clearErrors();
  announce("");
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === match.r.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  cleanup = match.r.render(main, match.m) || null;
  if (focus) main.focus();
}

window.addEventListener("hashchange", () => route(true));
document.getElementById("set-token").addEventListener("click", async () => {
  if (await changeToken()) {
    route(false);
    announce("Token saved for this tab.");
  }
});
route(false);
