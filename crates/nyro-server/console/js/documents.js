// A collection's documents, a page at a time by id (GET .../records?limit=N&after=ID): the
// console never loads a whole collection, so it stays usable with millions of documents.
// Previous pages are a stack of the `after` values that led to them (dom.js `pager`). One
// document can be viewed as formatted JSON, edited (PUT), deleted after a confirm, or
// created (POST). Ids and integers beyond 2^53 stay exact (api.js `parseJson`), and an edit
// sends the text as typed, so no number is rounded on its way back.

import { api, collectionPath, showError } from "./api.js";
import { announce, compact, confirmDialog, field, h, pager, parseObject, pretty, replace } from "./dom.js";

const PAGE_SIZES = [25, 50, 100, 500];
/** How much of a document its row shows (the whole of it is one View away). */
export const PREVIEW_CHARS = 300;

/** The start of `text`, at most `max` characters (not splitting a surrogate pair), with "…" if cut. */
export function preview(text, max = PREVIEW_CHARS) {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

export function render(main, name) {
  let limit = 100;
  const info = h("p", { class: "hint" }, "");
  const sizeSelect = h("select", { name: "limit" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, String(n))));
  const pageLabel = h("span", { class: "page-label", "aria-live": "polite", tabindex: "-1" }, "");
  const pages = pager({ fetchPage, show: showPage, label: pageLabel });
  const tbody = h("tbody");
  const detail = h("section", { class: "panel", "aria-labelledby": "detail-title" }, h("h2", { id: "detail-title" }, "Document"), h("p", { class: "hint" }, "Choose a document to view it."));
  const gotoInput = h("input", { name: "goto", inputmode: "numeric", pattern: "[0-9]+", autocomplete: "off" });
  const gotoForm = h("form", { class: "row" }, field("Open document by _id", gotoInput).wrap, h("button", { type: "submit", class: "secondary" }, "Open"));
  const newText = h("textarea", { name: "new-document", spellcheck: "false" }, "{\n  \n}");
  const insertForm = h(
    "form",
    { class: "panel", "aria-labelledby": "insert-title" },
    h("h2", { id: "insert-title" }, "Insert a document"),
    field("New document (JSON object; _id optional)", newText).wrap,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Insert document")),
  );

  replace(
    main,
    h("p", {}, h("a", { href: "#/collections" }, "← Collections")),
    h("h1", {}, `Collection "${name}"`),
    info,
    h(
      "div",
      { class: "layout" },
      h(
        "section",
        { "aria-labelledby": "docs-title" },
        h("h2", { id: "docs-title" }, "Documents by _id"),
        h("div", { class: "row" }, field("Page size", sizeSelect).wrap, gotoForm),
        h("nav", { class: "pager", "aria-label": "Pages" }, pages.prev, pageLabel, pages.next),
        h(
          "table",
          { class: "docs" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "id-col" }, "_id"), h("th", { scope: "col" }, "Document"), h("th", { scope: "col", class: "actions-col" }, "Actions"))),
          tbody,
        ),
      ),
      h("div", {}, detail, insertForm),
    ),
  );

  async function loadInfo() {
    try {
      const answer = await api("GET", "/v1/collections");
      const c = answer.collections.find((x) => x.name === name);
      info.textContent = c
        ? `${c.count} document(s); indexed fields: ${c.indexes.length ? c.indexes.join(", ") : "none"}.`
        : "This collection does not exist (yet): inserting a document creates it.";
    } catch {
      info.textContent = "";
    }
  }

  function fetchPage(after) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (after !== null) params.set("after", String(after));
    return api("GET", collectionPath(name, `/records?${params}`));
  }

  function showPage(page, number) {
    pageLabel.textContent = `Page ${number}` + (page.records.length ? `: _id ${page.records[0]._id} to ${page.records[page.records.length - 1]._id}` : ": empty");
    replace(
      tbody,
      page.records.map((doc) =>
        h(
          "tr",
          { dataset: { id: String(doc._id) } },
          h("td", {}, String(doc._id)),
          h("td", { class: "doc" }, preview(compact(doc))),
          h(
            "td",
            {},
            h("button", { type: "button", class: "secondary", "aria-label": `View document ${doc._id}`, onclick: () => show(doc._id) }, "View"),
          ),
        ),
      ),
    );
  }

  async function show(id) {
    let doc;
    try {
      doc = await api("GET", collectionPath(name, `/records/${id}`));
    } catch {
      return;
    }
    const title = h("h2", { id: "detail-title", tabindex: "-1" }, `Document ${id}`);
    replace(
      detail,
      title,
      h("pre", { class: "json", "aria-label": `Document ${id} as JSON` }, pretty(doc)),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", onclick: () => edit(id, doc) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: () => remove(id) }, "Delete document"),
      ),
    );
    title.focus();
  }

  function edit(id, doc) {
    const body = { ...doc };
    delete body._id;
    const text = h("textarea", { name: "edit-document", spellcheck: "false" }, pretty(body));
    const form = h(
      "form",
      {},
      field(`Document ${id} (JSON object; its _id stays ${id})`, text).wrap,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit" }, "Save document"),
        h("button", { type: "button", class: "secondary", onclick: () => show(id) }, "Cancel"),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!(await sendDocument("PUT", collectionPath(name, `/records/${id}`), text.value))) return;
      announce(`Document ${id} saved.`);
      await pages.reload();
      await show(id);
    });
    replace(detail, h("h2", { id: "detail-title" }, `Edit document ${id}`), form);
    text.focus();
  }

  async function remove(id) {
    if (!(await confirmDialog(`Delete document ${id} of "${name}"? This cannot be undone.`, "Delete document"))) return;
    try {
      await api("DELETE", collectionPath(name, `/records/${id}`));
    } catch {
      return;
    }
    announce(`Document ${id} deleted.`);
    // The focused Delete button is gone: focus goes to the panel's heading, which says so.
    const heading = h("h2", { id: "detail-title", tabindex: "-1" }, `Document ${id} deleted`);
    replace(detail, heading, h("p", { class: "hint" }, `Document ${id} was deleted. Choose another document to view it.`));
    heading.focus();
    await Promise.all([pages.reload(), loadInfo()]);
  }

  sizeSelect.addEventListener("change", () => {
    limit = Number(sizeSelect.value);
    pages.first();
  });
  gotoForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (/^[0-9]+$/.test(gotoInput.value.trim())) show(gotoInput.value.trim());
  });
  insertForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await sendDocument("POST", collectionPath(name, "/records"), newText.value);
    if (!answer) return;
    announce(`Document ${answer._id} inserted (seq ${answer.seq}).`);
    await Promise.all([pages.reload(), loadInfo()]);
    await show(answer._id);
  });

  loadInfo();
  pages.first();
}

/**
 * Sends the document typed in `text` with `method` to `route`: the API's answer, or null
 * if it failed (shown in the alert region). Text that is not a JSON object is refused here,
 * before any call, and shown like an API error. Text that is one is sent exactly as typed,
 * not re-serialised, so integers beyond 2^53 reach the server unrounded.
 */
async function sendDocument(method, route, text) {
  try {
    parseObject(text);
  } catch (e) {
    showError({ code: "invalid_json", message: e.message }, "not sent");
    return null;
  }
  try {
    return await api(method, route, text);
  } catch {
    return null;
  }
}
