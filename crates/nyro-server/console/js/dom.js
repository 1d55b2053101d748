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

/** Pretty JSON. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
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

/** Parses a JSON object from text; throws an Error with a readable message otherwise. */
export function parseObject(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`the text is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("a document must be a JSON object, e.g. {\"name\": \"Ada\"}");
  }
  return value;
}

/**
 * Previous/next buttons over pages chained by `after` (list and query answers carry the
 * `next` to pass as `after`). Keeps a stack of the `after` values that led to each page, so
 * Previous needs no request of its own; `load` fetches the current page and then calls
 * `loaded(answer.next)`.
 */
export function pager(load) {
  let afters = [null];
  let next = null;
  const prev = h("button", { type: "button", class: "secondary", disabled: true }, "Previous page");
  const nextButton = h("button", { type: "button", class: "secondary", disabled: true }, "Next page");
  prev.addEventListener("click", () => {
    if (afters.length > 1) afters.pop();
    load();
  });
  nextButton.addEventListener("click", () => {
    if (next === null) return;
    afters.push(next);
    load();
  });
  return {
    prev,
    next: nextButton,
    /** The `after` of the current page (null: from the start). */
    get after() {
      return afters[afters.length - 1];
    },
    /** The current page's number, from 1. */
    get number() {
      return afters.length;
    },
    /** Back to the first page (the caller loads it). */
    reset() {
      afters = [null];
    },
    /** The current page arrived; `nextAfter` is its `next`. */
    loaded(nextAfter) {
      next = nextAfter;
      prev.disabled = afters.length === 1;
      nextButton.disabled = next === null;
    },
  };
}
