// The console's only way to data: the gateway's JSON API, called with the key the user signed in with.
// The key lives in this tab's sessionStorage (never localStorage, never a cookie) and goes out as
// `Authorization: Bearer`; a 401 from any call signs the tab out.

const KEY = "climatelake.key";
// The gateway's root, relative to this page (/console/ → /), so a gateway behind a path prefix works too.
const ROOT = new URL("..", document.baseURI);

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

/** An application/problem+json answer (RFC 9457), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.invalidFields = Array.isArray(problem.invalid_fields) ? problem.invalid_fields : [];
  }
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), ROOT);
}

/**
 * Call the API. `body` (an object) is sent as JSON; `etag` is sent as If-None-Match, and a 304 is
 * returned as is. Errors throw ApiError; a 401 also dispatches `climatelake:unauthorized`.
 */
export async function api(path, { method = "GET", body, key = session.key, etag, accept } = {}) {
  const headers = new Headers();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  if (body !== undefined) headers.set("Content-Type", "application/json");
  if (etag) headers.set("If-None-Match", etag);
  if (accept) headers.set("Accept", accept);
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    });
  } catch (error) {
    throw new ApiError(0, { title: "Network error", detail: `The gateway could not be reached (${error}).` });
  }
  if (response.ok || response.status === 304) return response;
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = { title: response.statusText };
  }
  const error = new ApiError(response.status, problem);
  if (response.status === 401 && key === session.key) {
    document.dispatchEvent(new CustomEvent("climatelake:unauthorized", { detail: error }));
  }
  if (response.status === 503 || response.status === 429) {
    error.retryAfter = Number(response.headers.get("Retry-After")) || 5;
  }
  throw error;
}

export async function apiJson(path, options) {
  return (await api(path, options)).json();
}
