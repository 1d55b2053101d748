// The only way the console talks to the server: the public /v1 API, with the bearer token
// kept in this tab's sessionStorage. Every failed call is shown in the alert region with the
// API's error code and message.

import { h } from "./dom.js";

const TOKEN_KEY = "nyrodb.token";
const MAX_ALERTS = 3;

/** An error answer of the API (or a network failure, with status 0). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// One token prompt at a time, shared by every call that got a 401 meanwhile.
let pendingPrompt = null;
// Set when the user cancels the prompt: no more prompts until they press "Set token".
let promptSuppressed = false;

/**
 * Asks for the token in the labelled modal dialog. Resolves true if one was entered
 * (and stored), false if the user cancelled.
 */
export function askToken(why) {
  if (pendingPrompt) return pendingPrompt;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  const form = document.getElementById("token-form");
  const cancel = document.getElementById("token-cancel");
  document.getElementById("token-why").textContent =
    `${why} The token is kept in this tab only (sessionStorage).`;
  input.value = "";
  pendingPrompt = new Promise((resolve) => {
    const finish = (ok) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      pendingPrompt = null;
      promptSuppressed = !ok;
      resolve(ok);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      setToken(value);
      // The token is kept in sessionStorage only, not left in the (hidden) form.
      input.value = "";
      finish(true);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

/** "Set token" in the header: always asks, even after a cancel. */
export async function changeToken() {
  promptSuppressed = false;
  return askToken("Enter the server's auth token (leave the server's setting unchanged).");
}

/** Shows an error in the alert region (role="alert"): code, status and message. */
export function showError(error, context) {
  const alerts = document.getElementById("alerts");
  const code = error.code || "error";
  const status = error.status ? ` (HTTP ${error.status})` : "";
  const line = h(
    "p",
    { class: "error" },
    h("strong", {}, `${code}${status}: `),
    error.message || String(error),
    context ? h("span", { class: "context" }, ` [${context}]`) : null,
  );
  const old = [...alerts.querySelectorAll("p.error")];
  for (const p of old.slice(0, Math.max(0, old.length - MAX_ALERTS + 1))) p.remove();
  let dismiss = alerts.querySelector("button.dismiss");
  if (dismiss) dismiss.before(line);
  else {
    dismiss = h("button", { type: "button", class: "dismiss secondary", onclick: clearErrors }, "Dismiss");
    alerts.append(line, dismiss);
  }
}

export function clearErrors() {
  document.getElementById("alerts").replaceChildren();
}

async function send(method, path, body) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  try {
    return await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "network", `the server did not answer: ${e.message}`);
  }
}

async function errorOf(response) {
  const text = await response.text();
  try {
    const json = JSON.parse(text);
    if (json && json.error && typeof json.error.message === "string") {
      return new ApiError(response.status, json.error.code, json.error.message);
    }
  } catch {
    // Not the API's error body (e.g. a proxy's page): show the status and text below.
  }
  return new ApiError(response.status, "http_error", text.slice(0, 300) || response.statusText);
}

/**
 * Calls the API. On a 401, asks for the token once and retries. Resolves to the parsed JSON
 * (null for 204, text when `text` is set); rejects with an ApiError that has already been
 * shown in the alert region (unless `quiet`).
 */
export async function api(method, path, body, { text = false, quiet = false } = {}) {
  let response;
  try {
    response = await send(method, path, body);
    if (response.status === 401 && !promptSuppressed) {
      const first = await errorOf(response);
      if (await askToken(`The server answered: ${first.message}.`)) {
        response = await send(method, path, body);
      } else {
        throw first;
      }
    }
    if (!response.ok) throw await errorOf(response);
  } catch (error) {
    if (!quiet) showError(error, `${method} ${path}`);
    throw error;
  }
  if (response.status === 204) return null;
  const answer = await response.text();
  if (text) return answer;
  try {
    return parseJson(answer);
  } catch {
    // A 2xx that is not JSON (e.g. a proxy's page) is an error, not an empty result.
    const error = new ApiError(response.status, "invalid_answer", `the server's answer is not JSON: ${answer.slice(0, 200)}`);
    if (!quiet) showError(error, `${method} ${path}`);
    throw error;
  }
}

/** The source of an integer (no fraction, no exponent). */
const INTEGER = /^-?[0-9]+$/;

function reviveExact(_key, value, context) {
  if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
  const source = context && context.source;
  if (typeof source !== "string" || !INTEGER.test(source) || typeof JSON.rawJSON !== "function") return value;
  return JSON.rawJSON(source);
}

/** An id as the API sent it: a number when exact, else (beyond 2^53) its digits. */
function idText(value) {
  return typeof JSON.isRawJSON === "function" && JSON.isRawJSON(value) ? value.rawJSON : value;
}

/**
 * JSON.parse that keeps integers beyond 2^53 exact (ids are u64, and documents may hold any
 * integer). With the reviver's `context.source` (Chromium 114+), an unsafe integer becomes a
 * JSON.rawJSON value, which JSON.stringify writes back digit for digit; the ids the console
 * puts in URLs and text (a document's top-level `_id`, a page's `next`, a change's `_id`)
 * become their digits as a string. Elsewhere (node 20) this is plain JSON.parse.
 */
export function parseJson(text) {
  const value = JSON.parse(text, reviveExact);
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const docs = [value];
  if (Array.isArray(value.records)) {
    value.next = idText(value.next);
    docs.push(...value.records);
  }
  if (value.doc && typeof value.doc === "object") docs.push(value.doc);
  for (const doc of docs) {
    if (doc && typeof doc === "object" && "_id" in doc) doc._id = idText(doc._id);
  }
  return value;
}

/** The path of a collection's route, with its name escaped. */
export function collectionPath(name, rest = "") {
  return `/v1/collections/${encodeURIComponent(name)}${rest}`;
}

/** Every collection: [{name, count, indexes}]. */
export async function listCollections() {
  const answer = await api("GET", "/v1/collections");
  return answer.collections;
}

/**
 * The WebSocket URL of the change feed (of one collection, or of all with `collection`
 * empty). Browsers cannot set headers on a WebSocket, so the token goes as `access_token`,
 * which the server accepts on these two routes only.
 */
export function feedUrl(collection, since) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = collection ? collectionPath(collection, "/changes") : "/v1/changes";
  const params = new URLSearchParams();
  if (since !== null && since !== undefined) params.set("since", String(since));
  const token = getToken();
  if (token) params.set("access_token", token);
  const query = params.toString();
  return `${scheme}//${location.host}${path}${query ? `?${query}` : ""}`;
}
