// The collections page: every collection with its count and indexes; create one with
// indexes; delete one after a confirm.

import { api, collectionPath, listCollections } from "./api.js";
import { announce, confirmDialog, field, h, replace } from "./dom.js";

export function render(main) {
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_-]{1,64}", maxlength: 64, autocomplete: "off" });
  const indexes = h("input", { name: "indexes", autocomplete: "off", placeholder: "city, age" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Create a collection"),
    h(
      "div",
      { class: "row" },
      field("Name", name, "Letters, digits, _ and -, at most 64.").wrap,
      field("Indexed fields", indexes, "Top-level fields to index, separated by commas (optional).").wrap,
    ),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create collection")),
  );
  const tableBody = h("tbody");
  const listTitle = h("h2", { tabindex: "-1" }, "All collections");
  const summary = h("p", { class: "hint" }, "Loading…");
  replace(
    main,
    h("h1", {}, "Collections"),
    form,
    listTitle,
    summary,
    h(
      "table",
      { "aria-describedby": "collections-caption" },
      h("caption", { id: "collections-caption", class: "hint" }, "Collections, their document counts and indexed fields"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Documents"), h("th", { scope: "col" }, "Indexes"), h("th", { scope: "col" }, "Actions"))),
      tableBody,
    ),
    h("div", { class: "buttons" }, h("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh")),
  );

  async function load() {
    let list;
    try {
      list = await listCollections();
    } catch {
      summary.textContent = "Could not load the collections (see the error above).";
      return;
    }
    summary.textContent = list.length === 0 ? "No collections yet." : `${list.length} collection(s).`;
    replace(
      tableBody,
      list.map((c) =>
        h(
          "tr",
          { dataset: { collection: c.name } },
          h("th", { scope: "row" }, h("a", { href: `#/c/${encodeURIComponent(c.name)}` }, c.name)),
          h("td", { class: "count" }, String(c.count)),
          h("td", { class: "indexes" }, c.indexes.length ? c.indexes.join(", ") : "none"),
          h(
            "td",
            {},
            h("a", { href: `#/query/${encodeURIComponent(c.name)}`, "aria-label": `Query ${c.name}` }, "Query"),
            " ",
            h("button", { type: "button", class: "danger", "aria-label": `Delete collection ${c.name}`, onclick: () => drop(c) }, "Delete"),
          ),
        ),
      ),
    );
  }

  async function drop(c) {
    const ok = await confirmDialog(`Delete collection "${c.name}" and its ${c.count} document(s)? This cannot be undone.`, "Delete collection");
    if (!ok) return;
    try {
      await api("DELETE", collectionPath(c.name));
    } catch {
      return;
    }
    announce(`Collection "${c.name}" deleted.`);
    await load();
    // Its Delete button (focused) is gone with its row: focus goes to the list's heading.
    listTitle.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = indexes.value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      await api("PUT", collectionPath(name.value.trim()), { indexes: fields });
    } catch {
      return;
    }
    announce(`Collection "${name.value.trim()}" is ready.`);
    form.reset();
    await load();
  });

  load();
}
