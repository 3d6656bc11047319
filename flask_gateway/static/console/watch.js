// Watch: a request's timeline, live, by polling GET /v1/requests/<id> (with If-None-Match whenever the
// gateway sends an ETag, so an unchanged status costs a 304), and the list of the caller's requests.

import { ApiError, api, apiJson } from "./api.js";
import { $, h, showMessage, utc } from "./dom.js";
import { cursorPager } from "./pager.js";

export const STEPS = [
  ["accepted", "Accepted"],
  ["manifest_written", "Manifest written"],
  ["job_started", "Job started"],
  ["finished", "Finished"],
];
const FINAL = new Set(["succeeded", "failed"]);
const ORDER = { accepted: 0, manifest_written: 1, job_started: 2, succeeded: 3, failed: 3 };
const LABEL = { succeeded: "Succeeded", failed: "Failed" };
const PAGE = 10;

export function statusLabel(status) {
  return LABEL[status] || STEPS.find(([s]) => s === status)?.[1] || status;
}

/** Draw the timeline of `record` ({status, timeline: [{status, at}], reason?}): steps passed are done
 * (a step a final request never went through is "skipped"), the next one is current. */
export function renderTimeline(record) {
  const view = $("#view-request");
  view.dataset.status = record.status;
  const final = FINAL.has(record.status);
  const seen = new Map((record.timeline || []).map((entry) => [entry.status, entry.at]));
  const reached = ORDER[record.status] ?? 0;
  const items = STEPS.map(([step, label], index) => {
    const name = index === 3 && final ? record.status : step;
    let state = "pending";
    if (index <= reached) {
      if (index === 3) state = record.status === "failed" ? "failed" : "done";
      else state = seen.has(step) || !final ? "done" : "skipped";
    } else if (index === reached + 1) state = "current";
    const when = seen.has(name) ? utc(seen.get(name)) : { current: "waiting…", skipped: "skipped" }[state] || "";
    return h(
      "li",
      { class: `step ${state}`, dataset: { step: name }, "aria-current": state === "current" ? "step" : null },
      h("span", { class: "step-name" }, index === 3 && final ? LABEL[record.status] : label),
      h("span", { class: "step-at" }, when),
    );
  });
  $("#timeline").replaceChildren(...items);
  $("#request-status").textContent = final
    ? `${statusLabel(record.status)}.`
    : `${statusLabel(record.status)}; waiting for the next step…`;
  const reason = record.reason || "(no reason given)";
  showMessage($("#request-failure"), record.status === "failed" ? `Why it failed: ${reason}` : "");
}

/**
 * Poll until the request is final or `signal` aborts; `onChange(record)` on every new state.
 * Quick at first (a request takes seconds), then every few seconds; waits out 503/429 Retry-After.
 */
export async function follow(requestId, onChange, signal) {
  let etag = null;
  let last = "";
  let delay = 400;
  while (!signal.aborted) {
    try {
      const response = await api(`/v1/requests/${encodeURIComponent(requestId)}`, { etag });
      if (response.status !== 304) {
        etag = response.headers.get("ETag");
        const record = await response.json();
        const text = JSON.stringify(record);
        if (text !== last && !signal.aborted) {
          last = text;
          onChange(record);
        }
        if (FINAL.has(record.status)) return record;
      }
      delay = Math.min(delay * 1.25, 3000);
    } catch (error) {
      if (!(error instanceof ApiError) || !error.retryAfter) throw error;
      delay = error.retryAfter * 1000;
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, delay);
      signal.addEventListener("abort", () => clearTimeout(timer) || resolve(), { once: true });
    });
  }
  return null;
}

/** The caller's requests, a page at a time (the API's cursor paging, ``pager.js``). */
export function initRequestList() {
  return cursorPager({
    older: $("#requests-older"),
    newer: $("#requests-newer"),
    async fetchPage(cursor) {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) query.set("cursor", cursor);
      return apiJson(`/v1/requests?${query}`);
    },
    render(page, first) {
      const rows = page.requests.map((record) =>
        h(
          "tr",
          { dataset: { requestId: record.request_id, status: record.status } },
          h("td", {}, h("a", { href: `#request/${encodeURIComponent(record.request_id)}` }, record.request_id)),
          h("td", {}, h("span", { class: `badge ${record.status}` }, statusLabel(record.status))),
          h("td", {}, utc(record.timeline?.[0]?.at)),
          h("td", { class: "num" }, record.row_count ?? ""),
        ),
      );
      $("#requests-table tbody").replaceChildren(...rows);
      $("#requests-empty").hidden = rows.length > 0 || !first;
    },
  });
}
