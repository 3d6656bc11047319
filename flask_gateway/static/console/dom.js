// Small DOM helpers. Text always goes in as text (textContent), never as HTML: nothing from the API can
// become markup.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** h("a", {href: "#x", class: "c"}, "text", child) → element; attributes with false/null are left out. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

/** Show `message` beside field `name` (its `<name>-error` element), marking the control invalid. */
export function setFieldError(name, message) {
  const slot = document.getElementById(`${name}-error`);
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  document.getElementById(name)?.setAttribute("aria-invalid", "true");
  return true;
}

export function clearErrors(form) {
  for (const slot of $$(".field-error, .form-error", form)) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const control of $$("[aria-invalid]", form)) control.removeAttribute("aria-invalid");
}

export function showMessage(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

/** "2026-12-07T01:51:12.650Z" → "2026-12-07 01:51:12" (UTC, as the API keeps it). */
export function utc(at) {
  return at ? at.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "";
}
