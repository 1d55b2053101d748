// DOM helpers. Text only ever goes in through textContent / text nodes, never innerHTML,
// so documents and server messages cannot inject markup.

/**
 * Creates an element. `attrs`: attributes, except `on*` functions (listeners), `class`,
 * and `dataset` (an object). Children: nodes, strings (as text), or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let idCounter = 0;
/** A unique element id, for label/input pairs. */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form control: returns { wrap, control }. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("f");
  const children = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    children.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return { wrap: h("div", { class: "field" }, ...children), control };
}

// A document's top-level `_id` beyond 2^53 arrives as its digits (api.js `parseJson`); it
// is written back as the number it is. Other big integers are JSON.rawJSON values already.
function exactId(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  if (typeof value._id !== "string" || !/^[0-9]+$/.test(value._id) || typeof JSON.rawJSON !== "function") return value;
  return { ...value, _id: JSON.rawJSON(value._id) };
}

/** Pretty JSON, every integer exact. */
export function pretty(value) {
  return JSON.stringify(exactId(value), null, 2);
}

/** One-line JSON, every integer exact. */
export function compact(value) {
  return JSON.stringify(exactId(value));
}

/** Shows a transient success message in the polite status region. */
export function announce(message) {
  const status = document.getElementById("status");
  status.textContent = message;
}

/** Asks the user to confirm, in the native modal dialog (focus-trapped, Escape cancels). */
export function confirmDialog(text, confirmLabel = "Delete") {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-yes").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-no").focus();
  });
}

/**
 * Parses a JSON object from text; throws an Error with a readable message otherwise: `what`
 * names the text, `notObject` says what it must be instead.
 */
export function parseObject(text, what = "the text", notObject = "a document must be a JSON object, e.g. {\"name\": \"Ada\"}") {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(notObject);
  }
  return value;
}

/**
 * Previous/next buttons over pages chained by `after` (list and query answers carry the
 * `next` to pass as `after`). Keeps a stack of the `after` values that led to each page, so
 * Previous needs no request of its own. `fetchPage(after)` resolves to an answer
 * ({records, next}) or rejects (the error is already shown); `show(answer, number)` renders
 * a page that arrived.
 *
 * One load at a time counts: while one runs both buttons are aria-disabled and ignore
 * clicks; the stack changes only once the page arrived; an answer overtaken by a newer load
 * (first, reload, clear) is dropped; a failed load leaves the previous page and state. When
 * a focused button becomes disabled, focus moves to the other one, else to `label`.
 */
export function pager({ fetchPage, show, label }) {
  let afters = [null];
  let next = null;
  let request = 0;
  let loading = false;
  const prev = h("button", { type: "button", class: "secondary", disabled: true }, "Previous page");
  const nextButton = h("button", { type: "button", class: "secondary", disabled: true }, "Next page");

  function update() {
    const focused = document.activeElement;
    for (const button of [prev, nextButton]) {
      if (loading) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
    }
    if (loading) return;
    prev.disabled = afters.length === 1;
    nextButton.disabled = next === null;
    if ((focused === prev || focused === nextButton) && focused.disabled) {
      const other = focused === prev ? nextButton : prev;
      if (!other.disabled) other.focus();
      else if (label) label.focus();
    }
  }

  async function load(stack) {
    request += 1;
    const mine = request;
    loading = true;
    update();
    let answer;
    try {
      answer = await fetchPage(stack[stack.length - 1]);
    } catch {
      if (mine === request) {
        loading = false;
        update();
      }
      return false;
    }
    if (mine !== request) return false;
    afters = stack;
    next = answer.next ?? null;
    loading = false;
    show(answer, afters.length);
    update();
    return true;
  }

  prev.addEventListener("click", () => {
    if (!loading && afters.length > 1) load(afters.slice(0, -1));
  });
  nextButton.addEventListener("click", () => {
    if (!loading && next !== null) load([...afters, next]);
  });
  return {
    prev,
    next: nextButton,
    /** Loads the first page. */
    first: () => load([null]),
    /** Loads the current page again (after a change). */
    reload: () => load(afters),
    /** No pages: drops any load under way and disables both buttons. */
    clear() {
      request += 1;
      loading = false;
      afters = [null];
      next = null;
      update();
    },
  };
}

/**
 * Polls for a page: `start()` runs `tick` now, and again `everyMs` after each run that
 * resolves true; a run that resolves false stops quietly (the page has said why). A run
 * that rejects (its error already shown) stops polling, says so in `state`, and shows the
 * `resume` button (place it in the page) that starts again. `stop()` is the page's
 * cleanup; `tick` checks `stopped()` after each await, so a late answer touches nothing.
 */
export function poller({ everyMs, state, tick }) {
  let timer = null;
  let stopped = false;
  const resume = h("button", { type: "button", class: "secondary", hidden: true }, "Resume polling");

  async function run() {
    timer = null;
    let again;
    try {
      again = await tick();
    } catch {
      if (stopped) return;
      state.textContent = "Polling stopped after an error (see above).";
      resume.hidden = false;
      return;
    }
    if (again && !stopped) timer = setTimeout(run, everyMs);
  }

  resume.addEventListener("click", () => {
    resume.hidden = true;
    state.textContent = "Polling…";
    run();
  });
  return {
    resume,
    start: run,
    stopped: () => stopped,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
