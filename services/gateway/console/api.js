// The console's access to the public API: the operator's token and GET requests with it.

const TOKEN_KEY = "xinfang.console.token";

/** A refused or failed request; `status` is the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail);
    this.status = status;
    this.path = path;
  }
}

/** A token handed over in the URL fragment (/console#token=...) moves to sessionStorage and
 *  leaves the address bar; the fragment is never sent to the server. */
export function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", window.location.pathname + window.location.search);
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim().replace(/^Bearer\s+/i, ""));
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims, for display and defaults only (the services verify it). */
export function claims() {
  const part = (token() || "").split(".")[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

async function problem(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

/**
 * GET `path` with `params` and the operator's token. JSON by default, text for `csv`.
 * `accept` lists statuses besides 2xx whose body is still the answer (503 of /status).
 */
export async function get(path, params = {}, { csv = false, auth = true, accept = [] } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: csv ? "text/csv" : "application/json" };
  if (auth && token()) headers.Authorization = `Bearer ${token()}`;
  let response;
  try {
    response = await fetch(url, { headers, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, `the gateway did not answer (${error.message})`, path);
  }
  if (!response.ok && !accept.includes(response.status)) {
    throw new ApiError(response.status, await problem(response), path);
  }
  return csv ? response.text() : response.json();
}

/** Rows of a CSV answer of the analytics API (plain values: codes, dates and counts). */
export function parseCsv(text) {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((line) => line);
  const header = (lines.shift() || "").split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? ""]));
  });
}
