// The query page: equality on a collection's indexed fields (POST .../_query), results a
// page at a time with a stack of `after` values, like the documents page.

import { api, collectionPath, listCollections } from "./api.js";
import { field, h, pager, pretty, replace, uid } from "./dom.js";

/** A value as typed: JSON when it parses (42, true, "42"), else the text itself. */
export function parseValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function render(main, initial) {
  let collections = [];
  let where = {};
  const pages = pager(() => runPage());

  const select = h("select", { name: "collection" });
  const conditions = h("div", { class: "conditions" });
  const addButton = h("button", { type: "button", class: "secondary" }, "Add condition");
  const limitInput = h("input", { name: "limit", type: "number", min: 1, max: 10000, value: 100 });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "query-title" },
    h("h2", { id: "query-title" }, "Find documents"),
    h("div", { class: "row" }, field("Collection", select).wrap, field("Page size", limitInput).wrap),
    h("fieldset", {}, h("legend", {}, "Conditions (all must hold)"), conditions, addButton),
    h("p", { class: "hint" }, "Values are read as JSON when they parse (42, true, \"42\"), else as text."),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Run query")),
  );
  const resultInfo = h("p", { class: "hint", "aria-live": "polite" }, "");
  const results = h("ol", { class: "results" });

  replace(
    main,
    h("h1", {}, "Query"),
    form,
    h("section", { "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Results"), resultInfo, h("nav", { class: "pager", "aria-label": "Result pages" }, pages.prev, pages.next), results),
  );

  function indexesOf(name) {
    const c = collections.find((x) => x.name === name);
    return c ? c.indexes : [];
  }

  function addCondition() {
    const indexes = indexesOf(select.value);
    const fieldSelect = h("select", { name: "field" }, indexes.map((f) => h("option", { value: f }, f)));
    const value = h("input", { name: "value", autocomplete: "off" });
    const fieldId = uid("cond");
    fieldSelect.id = fieldId;
    const row = h("div", { class: "row condition" });
    replace(
      row,
      field("Field", fieldSelect).wrap,
      field("equals", value).wrap,
      h("button", { type: "button", class: "secondary", "aria-label": "Remove this condition", onclick: () => row.remove() }, "Remove"),
    );
    conditions.append(row);
  }

  function resetConditions() {
    replace(conditions);
    const indexes = indexesOf(select.value);
    addButton.disabled = indexes.length === 0;
    if (indexes.length) addCondition();
    else conditions.append(h("p", { class: "hint" }, "This collection indexes no field: the query lists every document."));
  }

  async function runPage() {
    const body = { where, limit: Number(limitInput.value) || 100 };
    if (pages.after !== null) body.after = pages.after;
    let page;
    try {
      page = await api("POST", collectionPath(select.value, "/_query"), body);
    } catch {
      resultInfo.textContent = "The query failed (see the error above).";
      replace(results);
      return;
    }
    pages.loaded(page.next);
    resultInfo.textContent = `Page ${pages.number}: ${page.records.length} document(s)` + (page.next === null ? "; no more." : "; more follow.");
    replace(results, page.records.map((doc) => h("li", { dataset: { id: String(doc._id) } }, h("pre", { class: "json" }, pretty(doc)))));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    where = {};
    for (const row of conditions.querySelectorAll(".condition")) {
      const name = row.querySelector("select").value;
      if (name) where[name] = parseValue(row.querySelector("input").value);
    }
    pages.reset();
    runPage();
  });
  addButton.addEventListener("click", addCondition);
  select.addEventListener("change", resetConditions);

  (async () => {
    try {
      collections = await listCollections();
    } catch {
      return;
    }
    replace(select, collections.map((c) => h("option", { value: c.name, selected: c.name === initial }, c.name)));
    if (!collections.length) resultInfo.textContent = "No collections yet: create one first.";
    resetConditions();
  })();
}
