// Message catalogues (static/i18n/<lang>.json), locale-aware formatting and the language switch.
// Korean is the default; the choice is kept in localStorage. Elements name their message with
// data-i18n="<key>" (text) and data-i18n-attr="<attr>:<key>;…" (attributes).
// A page may add feature catalogues (static/i18n/<bundle>.<lang>.json) by naming them in
// <meta name="i18n-bundles" content="complaints,polls">, so each feature keeps its own messages.

const LANGS = ["ko", "en"];
const STORE_KEY = "cityos.lang";
const catalogues = {};
let current = "ko";

export function lang() {
  return current;
}

export function locale() {
  return current === "ko" ? "ko-KR" : "en-GB";
}

export function t(key, params = {}) {
  const text = catalogues[current]?.[key] ?? catalogues.ko?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(locale(), options).format(value);
}

export function formatDateTime(value, options = { dateStyle: "medium", timeStyle: "short" }) {
  const date = value instanceof Date ? value : new Date(value);
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

function bundles() {
  const meta = document.querySelector('meta[name="i18n-bundles"]');
  if (!meta) return [];
  return meta.content.split(",").map((name) => name.trim()).filter(Boolean);
}

async function fetchCatalogue(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`message catalogue ${path}: HTTP ${response.status}`);
  return response.json();
}

async function load(code) {
  if (!catalogues[code]) {
    const paths = [`/static/i18n/${code}.json`, ...bundles().map((b) => `/static/i18n/${b}.${code}.json`)];
    const parts = await Promise.all(paths.map(fetchCatalogue));
    catalogues[code] = Object.assign({}, ...parts);
  }
}

export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

const listeners = [];

export function onChange(listener) {
  listeners.push(listener);
}

export async function setLang(code) {
  current = LANGS.includes(code) ? code : "ko";
  await load(current);
  localStorage.setItem(STORE_KEY, current);
  apply();
  for (const listener of listeners) listener(current);
}

export async function init() {
  const stored = localStorage.getItem(STORE_KEY);
  await load("ko");
  await setLang(stored || "ko");
  const button = document.getElementById("lang-switch");
  if (button) {
    button.addEventListener("click", () => setLang(current === "ko" ? "en" : "ko"));
  }
}
