// A collection's documents, a page at a time by id (GET .../records?limit=N&after=ID): the
// console never loads a whole collection, so it stays usable with millions of documents.
// Previous pages are a stack of the `after` values that led to them. One document can be
// viewed as formatted JSON, edited (PUT), deleted after a confirm, or created (POST).

import { api, collectionPath, showError } from "./api.js";
import { announce, confirmDialog, field, h, pager, parseObject, pretty, replace } from "./dom.js";

const PAGE_SIZES = [25, 50, 100, 500];

export function render(main, name) {
  let limit = 100;
  const pages = pager(() => loadPage());

  const info = h("p", { class: "hint" }, "");
  const sizeSelect = h("select", { name: "limit" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, String(n))));
  const pageLabel = h("span", { class: "page-label", "aria-live": "polite" }, "");
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
          {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "_id"), h("th", { scope: "col" }, "Document"), h("th", { scope: "col" }, "Actions"))),
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

  async function loadPage() {
    const params = new URLSearchParams({ limit: String(limit) });
    if (pages.after !== null) params.set("after", String(pages.after));
    let page;
    try {
      page = await api("GET", collectionPath(name, `/records?${params}`));
    } catch {
      replace(tbody);
      return;
    }
    pages.loaded(page.next);
    pageLabel.textContent = `Page ${pages.number}` + (page.records.length ? `: _id ${page.records[0]._id} to ${page.records[page.records.length - 1]._id}` : ": empty");
    replace(
      tbody,
      page.records.map((doc) =>
        h(
          "tr",
          { dataset: { id: String(doc._id) } },
          h("td", {}, String(doc._id)),
          h("td", { class: "doc", title: JSON.stringify(doc) }, JSON.stringify(doc)),
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
      await loadPage();
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
    replace(detail, h("h2", { id: "detail-title" }, "Document"), h("p", { class: "hint" }, `Document ${id} was deleted.`));
    await Promise.all([loadPage(), loadInfo()]);
  }

  sizeSelect.addEventListener("change", () => {
    limit = Number(sizeSelect.value);
    pages.reset();
    loadPage();
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
    await Promise.all([loadPage(), loadInfo()]);
    await show(answer._id);
  });

  loadInfo();
  loadPage();
}

/**
 * Sends the document typed in `text` with `method` to `route`: the API's answer, or null
 * if it failed (shown in the alert region). Text that is not a JSON object is refused here,
 * before any call, and shown like an API error.
 */
async function sendDocument(method, route, text) {
  let value;
  try {
    value = parseObject(text);
  } catch (e) {
    showError({ code: "invalid_json", message: e.message }, "not sent");
    return null;
  }
  try {
    return await api(method, route, value);
  } catch {
    return null;
  }
}
