// Employees: GET /v1/employees as this key's role sees it — masked email, phone and salary for a reader or
// submitter, decrypted values for a pii_reader or admin. The API says which fields it masked (`masked`);
// those cells are marked (a style and the words "masked" for screen readers), values are shown as sent.

import { apiJson } from "./api.js";
import { $, h } from "./dom.js";
import { cursorPager } from "./pager.js";

const COLUMNS = [
  ["employee_id", "Id"],
  ["name", "Name"],
  ["hire_date", "Hired"],
  ["salary_band", "Salary band"],
  ["email", "Email"],
  ["phone", "Phone"],
  ["salary", "Salary"],
];
const PAGE = 25;

function cell(row, column, masked) {
  const value = row[column];
  if (masked) {
    return h(
      "td",
      { class: "masked", dataset: { masked: "true" } },
      value === null || value === undefined ? "withheld" : String(value),
      h("span", { class: "visually-hidden" }, " (masked)"),
    );
  }
  const number = typeof value === "number";
  const text = column === "salary" && number ? value.toLocaleString("en") : (value ?? "");
  return h("td", { class: number ? "num" : null }, text);
}

export function initEmployees() {
  const view = $("#view-employees");
  return cursorPager({
    older: $("#employees-next"),
    newer: $("#employees-prev"),
    async fetchPage(cursor) {
      view.dataset.state = "loading";
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) query.set("cursor", cursor);
      return apiJson(`/v1/employees?${query}`);
    },
    render(page) {
      const masked = new Set(page.masked || []);
      $("#employees-table thead").replaceChildren(
        h(
          "tr",
          {},
          COLUMNS.map(([column, label]) =>
            h("th", { scope: "col", class: masked.has(column) ? "masked-head" : null }, label),
          ),
        ),
      );
      $("#employees-table tbody").replaceChildren(
        ...page.employees.map((row) =>
          h(
            "tr",
            { dataset: { employeeId: row.employee_id } },
            COLUMNS.map(([column]) => cell(row, column, masked.has(column))),
          ),
        ),
      );
      $("#employees-role").textContent = masked.size
        ? `Your key's role sees ${[...masked].join(", ")} masked (a pii_reader sees the values).`
        : "Your key's role sees the decrypted values: every read is audited as revealing PII.";
      view.dataset.masked = [...masked].join(",");
      view.dataset.state = "ready";
    },
  });
}
