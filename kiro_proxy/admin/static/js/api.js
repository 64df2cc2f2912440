// Admin API client: session cookie is HttpOnly (sent by the browser); the CSRF token lives only in
// memory and goes in a header on every change.
let csrfToken = "";
let onUnauthorized = () => {};

export function setCsrf(token) { csrfToken = token || ""; }
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

export async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("api" + path, init);
  let data = null;
  const text = await response.text();
  if (text) { try { data = JSON.parse(text); } catch { data = { raw: text }; } }
  if (response.status === 401 && path !== "/login") { onUnauthorized(); }
  if (!response.ok) {
    const message = (data && (data.error && (data.error.message || data.error))) || (data && data.detail) || response.statusText;
    throw new ApiError(response.status, typeof message === "string" ? message : JSON.stringify(message), data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
