// Lineage: a request's chain (GET /v1/requests/<id>/lineage: manifest → job run → result table → event) and a
// table's upstream and downstream tables with its column lineage (GET /v1/tables/<name>/lineage, from Unity
// Catalog's lineage API). Only what the API returns is drawn; a table links to its own lineage view.

import { apiJson } from "./api.js";
import { $, h, showMessage } from "./dom.js";
import { drawGraph } from "./graph.js";

export const tableHref = (name) => `#table/${encodeURIComponent(name)}`;

function shortName(full) {
  const [catalog, ...rest] = full.split(".");
  return { title: rest.join(".") || full, catalog };
}

function tableNode(entry, current = false) {
  const { title, catalog } = shortName(entry.table);
  const runs = (entry.jobs || []).map((job) => job.job_run_id).filter((id) => id !== undefined);
  const how = runs.length ? `job run ${runs.join(", ")}` : entry.queries?.length ? "SQL" : "";
  return {
    id: `table:${entry.table}`,
    kind: "table",
    title,
    detail: [how, (entry.table_type || "").toLowerCase(), catalog].filter(Boolean).join(" · "),
    href: current ? null : tableHref(entry.table),
    current,
  };
}

/** The request's lineage as nodes, in order: only the parts the API answered with. */
export function requestNodes(lineage) {
  const nodes = [];
  if (lineage.manifest?.blob) {
    nodes.push({ id: "manifest", kind: "manifest", title: "Manifest", detail: lineage.manifest.blob });
  }
  if (lineage.job_run) {
    const run = lineage.job_run;
    const state = (run.result_state || run.life_cycle_state || "").toLowerCase();
    nodes.push({
      id: "job_run",
      kind: "job",
      title: `Job run ${run.run_id}`,
      detail: [`job ${run.job_id}`, state].filter(Boolean).join(" · "),
    });
  }
  if (lineage.result) {
    const result = lineage.result;
    const rows = result.row_count === undefined ? "" : `${Number(result.row_count).toLocaleString("en")} rows`;
    nodes.push({
      ...tableNode({ table: result.table }),
      id: "result",
      detail: [`Delta version ${result.delta_version}`, rows].filter(Boolean).join(" · "),
    });
  }
  if (lineage.event) {
    const type = (lineage.event.type || "").replace(/^Climatelake\.Request\./, "");
    nodes.push({ id: "event", kind: "event", title: `Event: ${type || "sent"}`, detail: lineage.event.id });
  }
  return nodes;
}

/** Below a finished request: its lineage chain and a link to the result table's lineage. */
export async function showRequestLineage(requestId) {
  const section = $("#lineage");
  const lineage = await apiJson(`/v1/requests/${encodeURIComponent(requestId)}/lineage`);
  const nodes = requestNodes(lineage);
  section.hidden = false;
  drawGraph(
    $("#request-graph"),
    nodes.map((node) => [node]),
    nodes.slice(1).map((node, i) => [nodes[i].id, node.id]),
    `Lineage of request ${requestId}: ${nodes.map((n) => n.title).join(", then ")}`,
  );
  const link = $("#request-lineage-table");
  if (lineage.result) {
    link.replaceChildren(
      h("a", { href: tableHref(lineage.result.table) }, `Tables upstream and downstream of ${lineage.result.table}`),
    );
  } else link.replaceChildren();
  section.dataset.state = "ready";
}

export function hideRequestLineage() {
  const section = $("#lineage");
  section.hidden = true;
  delete section.dataset.state;
  $("#request-graph").replaceChildren();
  $("#request-lineage-table").replaceChildren();
}

function columnRefs(refs) {
  if (!refs.length) return h("span", { class: "muted" }, "—");
  return h(
    "ul",
    { class: "refs" },
    refs.map((ref) => h("li", {}, h("a", { href: tableHref(ref.table) }, ref.table), `.${ref.column}`)),
  );
}

/** The #table/<name> view: the table between its upstream and downstream tables, then its columns. */
export async function showTableLineage(name) {
  const view = $("#view-table");
  view.dataset.state = "loading";
  $("#table-name").textContent = name;
  $("#table-graph").replaceChildren();
  $("#columns-table tbody").replaceChildren();
  const lineage = await apiJson(`/v1/tables/${encodeURIComponent(name)}/lineage`);
  const middle = tableNode({ table: lineage.table, table_type: lineage.table_type }, true);
  const up = lineage.upstreams.map((entry) => tableNode(entry));
  const down = lineage.downstreams.map((entry) => tableNode(entry));
  drawGraph(
    $("#table-graph"),
    [up, [middle], down],
    [...up.map((node) => [node.id, middle.id]), ...down.map((node) => [middle.id, node.id])],
    `${lineage.table}: ${up.length} upstream and ${down.length} downstream tables`,
  );
  showMessage(
    $("#table-summary"),
    `${up.length} upstream ${up.length === 1 ? "table" : "tables"}, ${down.length} downstream.`,
  );
  $("#columns-table tbody").replaceChildren(
    ...lineage.columns.map((column) =>
      h(
        "tr",
        { dataset: { column: column.name } },
        h("th", { scope: "row" }, column.name),
        h("td", {}, column.type || ""),
        h("td", {}, columnRefs(column.upstream)),
        h("td", {}, columnRefs(column.downstream)),
      ),
    ),
  );
  $("#columns-empty").hidden = lineage.columns.some((c) => c.upstream.length || c.downstream.length);
  view.dataset.state = "ready";
}
