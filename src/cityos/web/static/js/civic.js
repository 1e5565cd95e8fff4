// What the poll and proposal pages share: building DOM (text always through textContent, so
// script in citizens' text shows as text), Seoul time, and who may vote or support.
import { get } from "./api.js";
import * as auth from "./auth.js";
import { lang, locale, t } from "./i18n.js";

// An element with attributes and children; strings become text nodes, never HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// A time shown in Asia/Seoul whatever the browser's zone, marked KST.
export function seoulTime(value) {
  const text = new Intl.DateTimeFormat(locale(), {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone: "Asia/Seoul",
  }).format(new Date(value));
  return `${text} KST`;
}

// The Korean or English member of a pair (`title_ko` / `title_en`).
export function pick(item, field) {
  return item[`${field}_${lang()}`] || item[`${field}_ko`] || "";
}

let residence; // undefined: not asked yet; null: none recorded
let residenceOf = null;

// The logged-in user's home zone (GET /api/v1/residences/me), null when none or logged out.
export async function myResidence() {
  const me = auth.current();
  if (!me) return null;
  if (residenceOf === me.name && residence !== undefined) return residence;
  try {
    residence = await get("/api/v1/residences/me");
  } catch {
    residence = null;
  }
  residenceOf = me.name;
  return residence;
}

// Why the logged-in user cannot take part as a verified resident, as a message key, or null.
export async function residentProblem() {
  const me = auth.current();
  if (!me) return "civic.need.login";
  if (!me.roles.includes("resident") || !(await myResidence())) return "civic.need.resident";
  return null;
}

// A paragraph saying what stops the user, with a link to log in when that is it.
export function problemNote(key, id) {
  const note = el("p", { class: "notice", id, role: "status", text: t(key) });
  if (key === "civic.need.login") note.append(" ", el("a", { href: "#account", text: t("civic.login.link") }));
  return note;
}

let zoneNames = null;

// Sejong's zones by code (GET /api/v1/zones), fetched once.
export async function zones() {
  zoneNames ??= get("/api/v1/zones")
    .then((list) => new Map(list.map((z) => [z.code, z])))
    .catch(() => new Map());
  return zoneNames;
}

export function zoneName(map, code) {
  const zone = map.get(code);
  return zone ? pick(zone, "name") : code;
}
