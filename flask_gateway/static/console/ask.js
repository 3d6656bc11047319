// Ask: the request form. Cities (names and coverage) come from /v1/cities; metrics and granularity from the
// request body's JSON Schema; checks run against that schema before sending, and the gateway's own
// problem+json answer is shown beside the fields it names.

import { ApiError, apiJson } from "./api.js";
import { $, $$, clearErrors, h, setFieldError, showMessage } from "./dom.js";
import { requestBodySchema, validate } from "./schema.js";

const FIELDS = ["city_ids", "start_date", "end_date", "metrics", "granularity"];
const METRIC_LABELS = {
  temp: "Temperature",
  wind_speed: "Wind speed",
  precipitation: "Precipitation",
  humidity: "Humidity",
  description: "Description",
};
const MAX_DEFAULT_DAYS = 31;

let loaded = false;

export function cityLabel(city) {
  return city.name ? [city.name, city.country].filter(Boolean).join(", ") : `City ${city.city_id}`;
}

function coverageText(city) {
  const share = `${Math.round((city.completeness ?? 0) * 1000) / 10} % of hours`;
  return `${city.first_date} to ${city.last_date}, ${share}`;
}

function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function renderCities(cities) {
  const list = $("#city-list");
  list.replaceChildren(
    ...cities.map((city, i) => {
      const id = `city-${city.city_id}`;
      return h(
        "div",
        { class: "choice", dataset: { search: `${cityLabel(city)} ${city.city_id}`.toLowerCase() } },
        h("input", { type: "checkbox", id, name: "city_ids", value: city.city_id, checked: i === 0 }),
        h(
          "label",
          { for: id },
          h("span", { class: "choice-name" }, `${cityLabel(city)} `, h("span", { class: "muted" }, `#${city.city_id}`)),
          h("span", { class: "choice-detail" }, coverageText(city)),
        ),
      );
    }),
  );
  if (!cities.length) list.append(h("p", {}, "No city has data yet."));
  if (cities.length) {
    const first = cities[0];
    $("#start_date").value = first.first_date;
    const end = addDays(first.first_date, MAX_DEFAULT_DAYS - 1);
    $("#end_date").value = end < first.last_date ? end : first.last_date;
  }
}

function renderChoices(container, name, values, type, labels, checked) {
  container.replaceChildren(
    ...values.map((value) => {
      const id = `${name}-${value}`;
      return h(
        "div",
        { class: "choice" },
        h("input", { type, id, name, value, checked: checked(value) }),
        h("label", { for: id }, labels[value] || value),
      );
    }),
  );
}

function filterCities(text) {
  const needle = text.trim().toLowerCase();
  for (const choice of $$("#city-list .choice")) choice.hidden = !!needle && !choice.dataset.search.includes(needle);
}

/** The body the form describes, as the API takes it. */
export function formBody(form) {
  const checked = (name) => $$(`input[name="${name}"]:checked`, form).map((i) => i.value);
  return {
    city_ids: checked("city_ids").map(Number),
    start_date: $("#start_date", form).value.trim(),
    end_date: $("#end_date", form).value.trim(),
    metrics: checked("metrics"),
    granularity: checked("granularity")[0] ?? "hourly",
  };
}

/** Show errors beside the fields they name; the rest above the button. Focus the first invalid field. */
function showErrors(form, fieldMessages, general) {
  const first = FIELDS.find((name) => fieldMessages.has(name));
  for (const [name, messages] of fieldMessages) {
    if (!setFieldError(name, messages.join("; "))) general.push(...messages);
  }
  showMessage($("#ask-error", form), general.join(" "));
  const target = first && document.getElementById(first);
  (target?.matches("fieldset") ? $("input", target) : target)?.focus();
}

/** A problem+json answer → messages by field: its invalid_fields, else the form fields its detail names.
 * The gateway's detail reads "path: message; path: message": each field gets its own part, else all. */
export function problemFields(error) {
  const named = error.invalidFields.length
    ? error.invalidFields
    : FIELDS.filter((name) => new RegExp(`\\b${name}\\b`).test(error.detail));
  const parts = error.detail.split("; ");
  const byField = new Map();
  for (const path of named) {
    const field = String(path).split(".")[0];
    const own = parts.filter((part) => part.startsWith(`${path}: `)).map((part) => part.slice(`${path}: `.length));
    const messages = byField.get(field) ?? [];
    for (const message of own.length ? own : [error.detail]) if (!messages.includes(message)) messages.push(message);
    byField.set(field, messages);
  }
  return byField;
}

export async function loadAsk() {
  if (loaded) return;
  const [schema, answer] = await Promise.all([requestBodySchema(), apiJson("/v1/cities")]);
  renderCities(answer.cities);
  renderChoices($("#metric-list"), "metrics", schema.properties.metrics.items.enum, "checkbox", METRIC_LABELS, (m) =>
    ["temp", "precipitation", "humidity", "wind_speed"].includes(m),
  );
  const granularity = schema.properties.granularity;
  renderChoices($("#granularity-list"), "granularity", granularity.enum, "radio", {}, (g) => g === granularity.default);
  loaded = true;
}

export function resetAsk() {
  loaded = false;
}

/** Wire the form; `onAccepted(answer)` gets the 202 body. */
export function initAsk(onAccepted) {
  const form = $("#ask-form");
  $("#city-filter").addEventListener("input", (event) => filterCities(event.target.value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = formBody(form);
    let errors = [];
    try {
      errors = validate(await requestBodySchema(), body);
    } catch {
      // no schema to check with (the spec could not be read): the gateway judges the body alone
    }
    if (errors.length) {
      const byField = new Map();
      for (const e of errors) byField.set(e.field, [...(byField.get(e.field) || []), e.message]);
      showErrors(form, byField, []);
      return;
    }
    const button = $("#ask-submit");
    button.disabled = true;
    try {
      onAccepted(await apiJson("/v1/requests", { method: "POST", body }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const byField = problemFields(error);
      showErrors(form, byField, byField.size ? [] : [`${error.title}: ${error.detail}`]);
    } finally {
      button.disabled = false;
    }
  });
}
