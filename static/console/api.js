// Calls to the JSON API: the login session in sessionStorage, the bearer token on every call, one refresh
// (POST /refresh) when a token has expired, and every error turned into an ApiError with the API's message.

const KEY = "courier.session";
export const base = document.body.dataset.base || "";

export class ApiError extends Error {
  constructor(status, body, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || null;
    this.retryAfter = retryAfter;
  }
}

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY));
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

let sessionEnded = () => {};

/** Call `handler(message)` when the session stops working (revoked, expired refresh token, deleted account). */
export function onSessionEnded(handler) {
  sessionEnded = handler;
}

async function send(path, { method = "GET", body, headers = {}, token = null, signal } = {}) {
  const all = { Accept: "application/json", ...headers };
  if (token) all.Authorization = `Bearer ${token}`;
  // FormData (file uploads) goes as multipart, with the boundary the browser sets; anything else as JSON.
  const form = typeof FormData !== "undefined" && body instanceof FormData;
  if (body !== undefined && !form) all["Content-Type"] = "application/json";
  try {
    return await fetch(base + path, {
      method,
      headers: all,
      body: body === undefined || form ? body : JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, null, "Cannot reach the server. Check your connection and try again.");
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message =
    body && typeof body.error === "string" && body.error
      ? body.error
      : `The server answered ${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, body, message, response.headers.get("Retry-After"));
}

let refreshing = null;

/** Exchange the refresh token for a new access token (one request at a time); true when it worked. */
function refreshToken() {
  const current = session.get();
  if (!current || !current.refresh_token) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = send("/refresh", { method: "POST", token: current.refresh_token })
      .then(async (response) => {
        if (!response.ok) return false;
        const body = await response.json();
        session.set({ ...session.get(), token: body.token });
        return true;
      })
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/**
 * One API call; resolves to the fetch Response when it succeeded, throws an ApiError otherwise.
 * options: method, body (sent as JSON, or a FormData as multipart), headers, signal, auth (false: send no token).
 */
export async function request(path, options = {}) {
  const useToken = options.auth !== false && session.get();
  let response = await send(path, { ...options, token: useToken ? session.get().token : null });
  if (response.status === 401 && useToken) {
    const problem = await response.clone().json().catch(() => ({}));
    if (problem && problem.code === "token_expired" && (await refreshToken())) {
      response = await send(path, { ...options, token: session.get().token });
    }
    if (response.status === 401) {
      const err = await errorFrom(response);
      sessionEnded(`Your session has ended (${err.message}). Please log in again.`);
      throw err;
    }
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** An API call answering JSON: resolves to the parsed body. */
export async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

/** A path with its query string; empty and null values are left out. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && String(value).trim() !== "") query.set(name, String(value).trim());
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

const LABELS = { delivery_person_id: "courier", assigned_to: "courier", weight_kg: "weight (kg)" };

function label(field) {
  return LABELS[field] || field.replace(/_/g, " ");
}

/** An error in plain words: the API's message, then what is wrong with each field, and what to do next. */
export function describe(err) {
  if (!(err instanceof ApiError)) return (err && err.message) || String(err);
  const parts = [err.message.replace(/\.?$/, ".")];
  const fields = err.body.fields;
  if (fields && typeof fields === "object") {
    for (const [field, problem] of Object.entries(fields)) {
      if (err.message.startsWith(`${field} `)) continue; // the message already names this field
      const name = label(field);
      parts.push(`${name.charAt(0).toUpperCase()}${name.slice(1)}: ${problem}.`);
    }
  }
  if (typeof err.body.attempts_left === "number" && !err.body.locked) {
    const n = err.body.attempts_left;
    parts.push(`${n} ${n === 1 ? "attempt" : "attempts"} left before the order is locked.`);
  }
  if (Array.isArray(err.body.allowed)) {
    parts.push(err.body.allowed.length ? `Allowed next: ${err.body.allowed.join(", ")}.` : "No further change is allowed.");
  }
  if (err.status === 429 && err.retryAfter) parts.push(`Try again in ${err.retryAfter} seconds.`);
  if (err.status === 503) parts.push("Please try again in a moment.");
  return parts.join(" ");
}

/** A random key for the Idempotency-Key header (crypto.randomUUID needs a secure context). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
