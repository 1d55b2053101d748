// The query page: equality on a collection's indexed fields (POST .../_query), results a
// page at a time with a stack of `after` values, like the documents page. The query is
// fixed when it is submitted ({collection, where, limit}): every page of it uses that, not
// whatever the form says by then; choosing another collection drops the results.

import { api, collectionPath, listCollections, parseJson } from "./api.js";
import { field, h, pager, pretty, replace, uid } from "./dom.js";

/** The largest page the query asks for (the API allows 10000; pages are rendered whole). */
export const MAX_LIMIT = 500;

/**
 * A value as typed: JSON when it parses (42, true, "42"; integers beyond 2^53 kept exact
 * where the browser can), else the text itself.
 */
export function parseValue(text) {
  try {
    return parseJson(text);
  } catch {
    return text;
  }
}

/** The `after` of a query body: an id beyond 2^53 (kept as its digits) goes as a number. */
function afterValue(after) {
  return typeof after === "string" && typeof JSON.rawJSON === "function" ? JSON.rawJSON(after) : after;
}

/** The page size typed in the form, within 1..MAX_LIMIT (100 if not a number). */
export function pageSize(text) {
  const n = Math.floor(Number(text));
  if (!Number.isFinite(n) || n < 1) return 100;
  return Math.min(n, MAX_LIMIT);
}

export function render(main, initial) {
  let collections = [];
  // The submitted query, used for every page of it; null before one is run.
  let query = null;

  const select = h("select", { name: "collection" });
  const conditions = h("div", { class: "conditions" });
  const addButton = h("button", { type: "button", class: "secondary" }, "Add condition");
  const limitInput = h("input", { name: "limit", type: "number", min: 1, max: MAX_LIMIT, value: 100 });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "query-title" },
    h("h2", { id: "query-title" }, "Find documents"),
    h("div", { class: "row" }, field("Collection", select).wrap, field("Page size", limitInput).wrap),
    h("fieldset", {}, h("legend", {}, "Conditions (all must hold)"), conditions, addButton),
    h("p", { class: "hint" }, "Values are read as JSON when they parse (42, true, \"42\"), else as text."),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Run query")),
  );
  const resultInfo = h("p", { class: "hint", "aria-live": "polite", tabindex: "-1" }, "");
  const results = h("ol", { class: "results" });
  const pages = pager({ fetchPage, show: showPage, label: resultInfo });

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

  // A failed page leaves the page shown before (the error is in the alert region).
  function fetchPage(after) {
    const { collection, where, limit } = query;
    const body = { where, limit };
    if (after !== null) body.after = afterValue(after);
    return api("POST", collectionPath(collection, "/_query"), body);
  }

  function showPage(page, number) {
    resultInfo.textContent = `Page ${number}: ${page.records.length} document(s)` + (page.next === null ? "; no more." : "; more follow.");
    replace(results, page.records.map((doc) => h("li", { dataset: { id: String(doc._id) } }, h("pre", { class: "json" }, pretty(doc)))));
  }

  function clearResults(text) {
    query = null;
    pages.clear();
    replace(results);
    resultInfo.textContent = text;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const where = {};
    for (const row of conditions.querySelectorAll(".condition")) {
      const name = row.querySelector("select").value;
      if (name) where[name] = parseValue(row.querySelector("input").value);
    }
    const limit = pageSize(limitInput.value);
    limitInput.value = String(limit);
    const submitted = { collection: select.value, where, limit };
    query = submitted;
    pages.first().then((ok) => {
      // A first page that failed leaves no results of an older query behind.
      if (!ok && query === submitted) clearResults("The query failed (see the error above).");
    });
  });
  addButton.addEventListener("click", addCondition);
  select.addEventListener("change", () => {
    resetConditions();
    clearResults("Another collection: run a query to see its documents.");
  });

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
