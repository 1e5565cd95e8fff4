// Same-origin HTTP helpers. The session lives in HttpOnly cookies set by POST /auth/login; an
// unsafe request echoes the cityos_csrf cookie in X-CSRF-Token (docs/security.md).
import { lang, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.status = status;
    this.body = body;
  }

  static describe(status, body) {
    if (body && typeof body === "object") {
      if (lang() === "ko" && body.detail_ko) return body.detail_ko;
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail) && body.detail[0]?.msg) return body.detail[0].msg;
      if (body.title) return body.title;
    }
    return t("error.generic", { status });
  }
}

function csrf() {
  const match = document.cookie.match(/(?:^|;\s*)cityos_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export async function request(method, url, { json, form, body, headers = {}, accept, retried = false } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (accept) init.headers.Accept = accept;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  } else if (body !== undefined) {
    init.body = body; // raw (an image upload); the caller sets Content-Type
  }
  if (!["GET", "HEAD"].includes(method)) {
    const token = csrf();
    if (token) init.headers["X-CSRF-Token"] = token;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, { detail: t("error.network"), detail_ko: t("error.network") });
  }
  if (response.status === 401 && url !== "/auth/refresh" && csrf() && !retried) {
    const refreshed = await fetch("/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    });
    if (refreshed.ok) return request(method, url, { json, form, body, headers, accept, retried: true });
  }
  const type = response.headers.get("content-type") || "";
  const answer = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

export const get = (url, options) => request("GET", url, options);
export const post = (url, options) => request("POST", url, options);
export const del = (url, options) => request("DELETE", url, options);
export const patch = (url, options) => request("PATCH", url, options);

// Headers of a hub read: the tenant (NGSILD-Tenant) and the layer's @context as a JSON-LD Link.
export function hubHeaders(query, tenant) {
  const headers = tenant ? { "NGSILD-Tenant": tenant } : {};
  if (query.context) {
    headers.Link = `<${query.context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;
  }
  return headers;
}
