// The query page (POST .../_query, .../_explain): a JSON filter, a sort on _id or an indexed
// path, fields, a page size; results a page at a time with a stack of `after` values, like
// the documents page; Count and Explain. The query is fixed when it is run ({collection,
// filter, sort, fields, limit}): every page of it uses that, not whatever the form says by
// then; choosing another collection drops the results. The filter is checked as a JSON
// object before anything is sent, and sent as typed, so integers beyond 2^53 stay exact.

import { api, collectionPath, listCollections, showError } from "./api.js";
import { field, h, pager, parseObject, pretty, replace } from "./dom.js";

/** The largest page the query asks for (the API allows 10000; pages are rendered whole). */
export const MAX_LIMIT = 500;

/** What each access path of a plan means. */
const ACCESS = {
  index: "candidates from the indexes, the rest of the filter checked on each",
  index_order: "the sort path's index walked in order",
  scan: "every document read in _id order",
};

/** The page size typed in the form, within 1..MAX_LIMIT (100 if not a number). */
export function pageSize(text) {
  const n = Math.floor(Number(text));
  if (!Number.isFinite(n) || n < 1) return 100;
  return Math.min(n, MAX_LIMIT);
}

/**
 * Checks a filter's text: returns it trimmed if it is one JSON object, else throws an Error
 * that says what is wrong.
 */
export function checkFilter(text) {
  const trimmed = text.trim();
  parseObject(trimmed, "the filter", 'the filter must be a JSON object, e.g. {"age": {"$gt": 30}} or {} for every document');
  return trimmed;
}

/** The paths of the Fields input: comma-separated, blanks dropped. */
export function parseFields(text) {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A query body as text: the filter exactly as typed (checked by `checkFilter`) under
 * "where", then the other keys. `after` may be a JSON.rawJSON id.
 */
export function queryBody(filterText, options = {}) {
  const rest = JSON.stringify(options).slice(1, -1);
  return `{"where":${filterText}${rest ? `,${rest}` : ""}}`;
}

/** The body keys of a query's sort, fields and page size; the default sort (_id ascending) is left out. */
export function queryOptions({ sort, fields, limit }) {
  const options = {};
  if (sort && !(sort[0] === "_id" && sort[1] === "asc")) options.sort = [sort];
  if (fields && fields.length) options.fields = fields;
  if (limit) options.limit = limit;
  return options;
}

/** The `after` of a query body: an unsorted page's id beyond 2^53 (kept as its digits) goes as a number; a cursor as the string it is. */
export function afterValue(after, sorted) {
  if (sorted) return after;
  return typeof after === "string" && typeof JSON.rawJSON === "function" ? JSON.rawJSON(after) : after;
}

/** An `_explain` answer as [label, text] rows. */
export function planRows(plan) {
  const indexes = (plan.indexes || []).map(
    (i) => `${i.path} ${(i.bounds || []).join(" ∪ ")} (${i.entries} entries, ${i.combine})`,
  );
  return [
    ["Access", `${plan.access}: ${ACCESS[plan.access] || "?"}`],
    ["Indexes", indexes.length ? indexes.join("; ") : "none"],
    ["Scans the collection", plan.scan ? "yes" : "no"],
    ["Sort", Array.isArray(plan.sort) ? plan.sort.join(" ") : String(plan.sort)],
    ["Estimated", String(plan.estimated)],
    ["Examined", String(plan.examined)],
    ["Returned", String(plan.returned)],
  ];
}

export function render(main, initial) {
  let collections = [];
  // The query that was run, used for every page of it; null before one is.
  let query = null;

  const select = h("select", { name: "collection" });
  const filterText = h("textarea", { name: "filter", spellcheck: "false", rows: 6 }, "{}");
  const sortPath = h("select", { name: "sort" });
  const sortDirection = h("select", { name: "direction" }, h("option", { value: "asc" }, "Ascending"), h("option", { value: "desc" }, "Descending"));
  const fieldsInput = h("input", { name: "fields", autocomplete: "off", placeholder: "name, address.city" });
  const limitInput = h("input", { name: "limit", type: "number", min: 1, max: MAX_LIMIT, value: 100 });
  const countButton = h("button", { type: "button", class: "secondary" }, "Count");
  const explainButton = h("button", { type: "button", class: "secondary" }, "Explain");
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "query-title" },
    h("h2", { id: "query-title" }, "Find documents"),
    h("div", { class: "row" }, field("Collection", select).wrap, field("Page size", limitInput).wrap),
    field(
      "Filter (JSON)",
      filterText,
      'A JSON object: {"age": {"$gte": 18}}, {"tags": "rust"}, {"address.city": "Oslo"}, {"$or": [{…}, {…}]}; {} for every document. Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not.',
    ).wrap,
    h(
      "div",
      { class: "row" },
      field("Sort by", sortPath).wrap,
      field("Direction", sortDirection).wrap,
      field("Fields", fieldsInput, "Only these paths (and _id), comma-separated; empty: whole documents.").wrap,
    ),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Run query"), countButton, explainButton),
  );
  const countInfo = h("p", { class: "count", "aria-live": "polite" }, "");
  const resultInfo = h("p", { class: "hint", "aria-live": "polite", tabindex: "-1" }, "");
  const results = h("ol", { class: "results" });
  const pages = pager({ fetchPage, show: showPage, label: resultInfo });
  const plan = h("section", { class: "panel plan", "aria-labelledby": "plan-title", hidden: true });

  replace(
    main,
    h("h1", {}, "Query"),
    form,
    countInfo,
    plan,
    h("section", { "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Results"), resultInfo, h("nav", { class: "pager", "aria-label": "Result pages" }, pages.prev, pages.next), results),
  );

  function indexesOf(name) {
    const c = collections.find((x) => x.name === name);
    return c ? c.indexes : [];
  }

  function resetSort() {
    replace(sortPath, ["_id", ...indexesOf(select.value)].map((path) => h("option", { value: path }, path)));
    sortDirection.value = "asc";
  }

  /** The form as a query, or null (and the reason shown) if the filter is not a JSON object. */
  function readForm() {
    let filter;
    try {
      filter = checkFilter(filterText.value);
    } catch (e) {
      showError({ code: "invalid_json", message: e.message }, "not sent");
      filterText.focus();
      return null;
    }
    const limit = pageSize(limitInput.value);
    limitInput.value = String(limit);
    return { collection: select.value, filter, sort: [sortPath.value || "_id", sortDirection.value], fields: parseFields(fieldsInput.value), limit };
  }

  // A failed page leaves the page shown before (the error is in the alert region).
  function fetchPage(after) {
    const options = queryOptions(query);
    if (after !== null) options.after = afterValue(after, "sort" in options);
    return api("POST", collectionPath(query.collection, "/_query"), queryBody(query.filter, options));
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
    const submitted = readForm();
    if (!submitted) return;
    query = submitted;
    pages.first().then((ok) => {
      // A first page that failed leaves no results of an older query behind.
      if (!ok && query === submitted) clearResults("The query failed (see the error above).");
    });
  });

  countButton.addEventListener("click", async () => {
    const q = readForm();
    if (!q) return;
    countInfo.textContent = "Counting…";
    try {
      const answer = await api("POST", collectionPath(q.collection, "/_query"), queryBody(q.filter, { count: true }));
      countInfo.textContent = `Count: ${answer.count} document(s) of "${q.collection}" match the filter.`;
    } catch {
      countInfo.textContent = "The count failed (see the error above).";
    }
  });

  explainButton.addEventListener("click", async () => {
    const q = readForm();
    if (!q) return;
    let answer;
    try {
      answer = await api("POST", collectionPath(q.collection, "/_explain"), queryBody(q.filter, queryOptions(q)));
    } catch {
      return;
    }
    const title = h("h2", { id: "plan-title", tabindex: "-1" }, `Plan of the query on "${q.collection}"`);
    replace(
      plan,
      title,
      h("table", { class: "plan-rows" }, h("tbody", {}, planRows(answer).map(([label, text]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, text))))),
      h("pre", { class: "json", "aria-label": "Plan as JSON" }, pretty(answer)),
    );
    plan.hidden = false;
    title.focus();
  });

  select.addEventListener("change", () => {
    resetSort();
    countInfo.textContent = "";
    plan.hidden = true;
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
    resetSort();
  })();
}
