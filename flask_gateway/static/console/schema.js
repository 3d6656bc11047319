// Client-side checks of a request body against the very JSON Schema the gateway validates with: read from
// /openapi.json (generated from flask_gateway/schemas.py), so the two cannot drift. Only the keywords that
// schema uses are implemented; the gateway stays the judge (its problem+json answers are shown too).

import { apiJson } from "./api.js";

let bodySchema;

/** The schema of POST /v1/requests bodies (cached for the page's life). */
export async function requestBodySchema() {
  if (!bodySchema) {
    const spec = await apiJson("/openapi.json", { key: null });
    bodySchema = spec.paths["/v1/requests"].post.requestBody.content["application/json"].schema;
  }
  return bodySchema;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** RFC 3339 full-date that exists in the calendar (jsonschema's "date" format: the pattern, then
 * Python's date.fromisoformat). */
export function isDate(text) {
  if (!DATE.test(text)) return false;
  const [y, m, d] = text.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

const show = (value) => JSON.stringify(value).replaceAll('"', "'");

function typeOk(type, value) {
  switch (type) {
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    default:
      return true;
  }
}

function check(schema, value, path, errors) {
  const at = path.join(".");
  const fail = (message) => errors.push({ path: at, field: path[0] ?? "body", message });
  if (schema.type && !typeOk(schema.type, value)) return fail(`${show(value)} is not of type '${schema.type}'`);
  if (schema.enum && !schema.enum.includes(value)) {
    return fail(`${show(value)} is not one of ${show(schema.enum)}`);
  }
  if (typeof value === "string") {
    if (schema.format === "date" && !isDate(value)) fail(`${show(value)} is not a 'date'`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) fail(`${show(value)} is too long`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      fail(`${show(value)} does not match '${schema.pattern}'`);
    }
  }
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) {
    fail(`${value} is less than the minimum of ${schema.minimum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      fail(value.length === 0 ? "[] should be non-empty" : `${show(value)} is too short`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail("the list is too long");
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) {
      fail(`${show(value)} has non-unique elements`);
    }
    if (schema.items) value.forEach((item, i) => check(schema.items, item, [...path, i], errors));
  }
  if (typeOk("object", value) && schema.type === "object") {
    for (const name of schema.required || []) {
      if (!(name in value)) errors.push({ path: name, field: name, message: `'${name}' is a required property` });
    }
    for (const [name, item] of Object.entries(value)) {
      const sub = schema.properties?.[name];
      if (sub) check(sub, item, [...path, name], errors);
      else if (schema.additionalProperties === false) fail(`Additional properties are not allowed ('${name}')`);
    }
  }
}

/** [{field, path, message}] for every violation, like the gateway's invalid_fields + detail. */
export function validate(schema, value) {
  const errors = [];
  check(schema, value, [], errors);
  return errors;
}
