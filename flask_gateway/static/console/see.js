// See: a finished request's result. Rows come from GET /v1/requests/<id>/results (JSON pages, all of them up
// to MAX_ROWS, so the chart and the table show the same rows); downloads ask the same endpoint for
// format=csv / format=parquet and save exactly what the API sent.

import { api, apiJson } from "./api.js";
import { $, $$, h, showMessage } from "./dom.js";
import { FAMILIES, chartData, drawChart } from "./chart.js";

const MAX_ROWS = 500_000;
const FETCH_LIMIT = 50_000; // the API's largest page
const TABLE_ROWS = 50;

let plots = [];

function clear() {
  for (const plot of plots) plot.destroy();
  plots = [];
  $("#charts").replaceChildren();
  $("#rows-table thead").replaceChildren();
  $("#rows-table tbody").replaceChildren();
  $("#result-coverage").replaceChildren();
  showMessage($("#download-status"), "");
}

export function hideResult() {
  clear();
  $("#result").hidden = true;
}

async function allRows(requestId, signal) {
  const rows = [];
  let head = null;
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: String(FETCH_LIMIT) });
    if (cursor) query.set("cursor", cursor);
    const page = await apiJson(`/v1/requests/${encodeURIComponent(requestId)}/results?${query}`);
    head ??= page;
    for (const row of page.rows) rows.push(row);
    cursor = page.next_cursor;
  } while (cursor && rows.length < MAX_ROWS && !signal.aborted);
  return { head, rows, complete: !cursor };
}

function renderTable(rows) {
  const columns = rows.length ? Object.keys(rows[0]) : [];
  $("#rows-table thead").replaceChildren(h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c))));
  let start = 0;
  const prev = $("#rows-prev");
  const next = $("#rows-next");
  const show = () => {
    const page = rows.slice(start, start + TABLE_ROWS);
    $("#rows-table tbody").replaceChildren(
      ...page.map((row) =>
        h(
          "tr",
          {},
          columns.map((c) => h("td", { class: typeof row[c] === "number" ? "num" : null }, row[c] ?? "")),
        ),
      ),
    );
    const last = Math.min(start + TABLE_ROWS, rows.length);
    $("#rows-caption").textContent = rows.length
      ? `Rows ${start + 1}–${last} of ${rows.length}`
      : "No rows";
    prev.disabled = start === 0;
    next.disabled = last >= rows.length;
  };
  prev.onclick = () => {
    start = Math.max(0, start - TABLE_ROWS);
    show();
  };
  next.onclick = () => {
    start += TABLE_ROWS;
    show();
  };
  show();
}

async function download(requestId, format) {
  const status = $("#download-status");
  showMessage(status, `Preparing ${format.toUpperCase()}…`);
  const response = await api(`/v1/requests/${encodeURIComponent(requestId)}/results?format=${format}`);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || `${requestId}.${format}`;
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  showMessage(status, `Saved ${name} (${blob.size.toLocaleString("en")} bytes).`);
}

export function initSee(currentRequest) {
  for (const button of $$("#result .downloads button")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await download(currentRequest(), button.dataset.format);
      } catch (error) {
        showMessage($("#download-status"), `Download failed: ${error.message}`);
      } finally {
        button.disabled = false;
      }
    });
  }
}

/** Load and show the result of a succeeded request; `cityName(id)` labels cities. */
export async function showResult(requestId, cityName, signal) {
  clear();
  const section = $("#result");
  section.hidden = false;
  section.dataset.state = "loading";
  $("#result-summary").textContent = "Loading the rows…";
  const { head, rows, complete } = await allRows(requestId, signal);
  if (signal.aborted) return;
  const shown = complete ? "" : ` (the first ${rows.length.toLocaleString("en")} are shown; downloads hold all)`;
  $("#result-summary").textContent =
    `${head.row_count.toLocaleString("en")} rows${shown} from ${head.table}, Delta version ${head.delta_version}.` +
    (head.notice ? ` ${head.notice}` : "");
  $("#result-coverage").replaceChildren(
    ...(head.coverage || []).map((c) =>
      h(
        "li",
        {},
        `${cityName(c.city_id)}: ${c.hours_present} of ${c.hours_expected} hours (${Math.round(c.completeness * 1000) / 10} %)`,
      ),
    ),
  );
  for (const family of FAMILIES) {
    const data = chartData(rows, family);
    if (data) plots.push(drawChart($("#charts"), family, data, cityName));
  }
  renderTable(rows);
  section.dataset.state = "ready";
  section.dataset.rows = String(rows.length);
}
