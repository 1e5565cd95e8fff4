// The citizen app: today's city (air quality, traffic, the nearest ER; entry points later
// issues fill), registration, login and my account (consents, export of my data, deletion).
import { del, get, hubHeaders, post } from "./api.js";
import * as auth from "./auth.js";
import * as complaints from "./complaints.js";
import { formatDateTime, formatNumber, t } from "./i18n.js";
import { TILE_KINDS, meanPm25, pm25Grade, tileDetailText, tileValueText, valueOf } from "./kpi.js";
import { labelOf, layerFeatures, linkIndex } from "./map.js";
import { startPage } from "./page.js";
import { locate as whereAmI } from "./position.js";
import * as polls from "./polls.js";
import * as proposals from "./proposals.js";

const SERVICES = ["complaints", "polls", "proposals", "er", "trip", "walking", "events"];
const PURPOSES = [{ purpose: "walking_rewards", version: "2026-1" }];
const $ = (id) => document.getElementById(id);
// Where "nearest" is measured from when the browser's position is not shared: 세종시청.
const CITY_HALL = { lon: 127.289, lat: 36.48 };
const state = { registry: null, position: null, ers: [] };

// The dashboard's layer and tile registries (GET /web/layers, /web/tiles), read once.
function registry() {
  state.registry ??= Promise.all([get("/web/layers"), get("/web/tiles")]).then(([layers, tiles]) => ({ layers, tiles }));
  return state.registry;
}

// The features of the dashboard tile of `kind`, read the way the dashboard's map reads them
// (each tagged with its layer, counters as their road link): null when there is no such tile.
async function tileFeatures(kind) {
  const { layers, tiles } = await registry();
  const tile = tiles.find((def) => def.kind === kind);
  if (!tile) return null;
  const defs = tile.layers.map((id) => layers.find((layer) => layer.id === id)).filter(Boolean);
  const needsLinks = defs.some((def) => def.extra?.draw_as === "road-link");
  const index = needsLinks ? await linkIndex().catch(() => null) : null;
  const parts = await Promise.all(
    defs.map(async (def) => (await layerFeatures(def, { index })).map((f) => ({ ...f, layer: def.id }))),
  );
  return parts.flat();
}

function setText(element, text, key = null) {
  if (key) element.dataset.i18n = key;
  else delete element.dataset.i18n;
  element.textContent = text;
}

// Views by the hash's first segment (#polls/<id> is the polls view); a feature module shows
// its own pages (show) and stops its streams and maps when left (leave).
const VIEWS = { home: null, polls, proposals, account: null };
// Feature modules that route themselves (viewFor(hash) names their section; init() once).
const FEATURES = [complaints];
let shown = null;
let started = false; // feature views are drawn once we know who is logged in

function route() {
  const name = location.hash.slice(1).split("/")[0];
  const feature = FEATURES.map((f) => f.viewFor(location.hash)).find(Boolean);
  const view = feature || (name in VIEWS ? name : "home");
  for (const section of document.querySelectorAll("main > section[id^='view-']")) {
    const key = section.id.slice("view-".length);
    section.hidden = key !== view;
    const tab = $(`tab-${key}`);
    if (!tab) continue;
    if (key === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (!started) return null;
  if (shown && shown !== view) VIEWS[shown]?.leave();
  shown = view;
  return VIEWS[view]?.show(location.hash);
}

function services() {
  const list = $("services");
  list.replaceChildren(
    ...SERVICES.map((key) => {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      // A service with a page of its own links to it; the others are still to come.
      const feature = FEATURES.find((f) => f.service?.key === key);
      if (feature || $(`tab-${key}`)) {
        const link = document.createElement("a");
        link.href = feature ? feature.service.href : `#${key}`;
        link.textContent = t(`service.${key}`);
        name.append(link);
        li.append(name);
        return li;
      }
      name.textContent = t(`service.${key}`);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("citizen.coming");
      li.append(name, badge);
      return li;
    }),
  );
}

async function airQuality() {
  let entities = [];
  try {
    const layers = await get("/web/layers");
    const query = layers.find((layer) => layer.id === "air-quality").query;
    entities = await get(`/ngsi-ld/v1/entities?type=${query.type}&options=keyValues&limit=1000`, {
      headers: hubHeaders(query, ""),
    });
  } catch {
    entities = [];
  }
  const aq = meanPm25(entities);
  const grade = aq ? pm25Grade(aq.mean) : null;
  const card = $("aq-card");
  card.className = `card${grade ? ` grade-${grade}` : ""}`;
  $("aq-grade").textContent = grade ? t(`grade.${grade}`) : "–";
  const detail = $("aq-detail");
  if (aq) {
    delete detail.dataset.i18n;
    detail.textContent = t("kpi.aq.detail", { count: formatNumber(aq.count), value: formatNumber(aq.mean, { maximumFractionDigits: 1 }) });
  } else {
    detail.dataset.i18n = "citizen.aq.none";
    detail.textContent = t("citizen.aq.none");
  }
}

// Traffic: the dashboard's congestion tile (kpi.js TILE_KINDS.congestion) for the whole city.
async function traffic() {
  let result = null;
  try {
    const features = await tileFeatures("congestion");
    result = features ? TILE_KINDS.congestion(features) : null;
  } catch {
    result = null;
  }
  $("traffic-card").className = `card${result?.grade ? ` grade-${result.grade}` : ""}`;
  if (result) {
    setText($("traffic-value"), t("citizen.traffic.value", { value: tileValueText(result.value) }));
    setText($("traffic-detail"), tileDetailText(result.detail));
  } else {
    setText($("traffic-value"), "–");
    setText($("traffic-detail"), t("citizen.traffic.none"), "citizen.traffic.none");
  }
}

// Great-circle distance [m] between two WGS84 points (haversine, mean Earth radius).
function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}

// A representative point of a feature: a Point itself, else the mean of its outer vertices.
function pointOf(geometry) {
  if (geometry?.type === "Point") return { lon: geometry.coordinates[0], lat: geometry.coordinates[1] };
  const flat = [];
  const walk = (c) => (typeof c[0] === "number" ? flat.push(c) : c.forEach(walk));
  if (geometry?.coordinates) walk(geometry.coordinates);
  if (!flat.length) return null;
  return { lon: flat.reduce((s, c) => s + c[0], 0) / flat.length, lat: flat.reduce((s, c) => s + c[1], 0) / flat.length };
}

// The nearest ER: the entities of the dashboard's ER-load tile layers; the card is absent
// while the hub has none.
async function emergency() {
  try {
    state.ers = (await tileFeatures("er-load")) || [];
  } catch {
    state.ers = [];
  }
  showEmergency();
}

function showEmergency() {
  const card = $("er-card");
  const from = state.position || CITY_HALL;
  const ranked = state.ers
    .map((feature) => ({ feature, point: pointOf(feature.geometry) }))
    .filter((e) => e.point)
    .map((e) => ({ ...e, metres: distance(from, e.point) }))
    .sort((a, b) => a.metres - b.metres);
  card.hidden = !ranked.length;
  if (!ranked.length) return;
  const { feature, metres } = ranked[0];
  const props = feature.properties || {};
  $("er-name").textContent = labelOf(props, feature.id);
  const parts = [
    t(state.position ? "citizen.er.distance.me" : "citizen.er.distance.hall", {
      km: formatNumber(metres / 1000, { maximumFractionDigits: 1 }),
    }),
  ];
  const occupancy = valueOf(props, "occupancy");
  if (typeof occupancy === "number") {
    parts.push(t("citizen.er.load", { value: formatNumber(occupancy, { style: "percent", maximumFractionDigits: 0 }) }));
  }
  const beds = valueOf(props, "hvec");
  if (typeof beds === "number") parts.push(t("kpi.er.beds", { value: formatNumber(beds) }));
  $("er-detail").textContent = parts.join(" · ");
  $("er-locate").hidden = Boolean(state.position) || !("geolocation" in navigator);
  $("er-status").textContent = "";
}

// The browser's position for the nearest ER (position.js: asked for only on "use my location"
// unless permission was already granted).
function locate(ask) {
  whereAmI(ask, {
    found: (point) => {
      state.position = { lon: point.lon, lat: point.lat };
      showEmergency();
    },
    failed: () => {
      $("er-status").textContent = t("citizen.er.nolocation");
    },
    maximumAge: 300000,
  });
}

async function consents() {
  const box = $("consents");
  let held = [];
  try {
    held = await get("/auth/me/consents");
  } catch (error) {
    box.textContent = error.message;
    return;
  }
  box.replaceChildren(
    ...PURPOSES.map(({ purpose, version }) => {
      const open = held.find((c) => c.purpose === purpose && !c.withdrawn_at);
      const row = document.createElement("div");
      row.className = "consent";
      row.id = `consent-${purpose}`;
      const text = document.createElement("span");
      text.textContent = `${t(`account.consent.${purpose}`)} — ${
        open ? t("account.consent.granted", { date: formatDateTime(open.granted_at) }) : t("account.consent.none")
      }`;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t(open ? "account.consent.withdraw" : "account.consent.grant");
      button.addEventListener("click", async () => {
        try {
          if (open) await del(`/auth/me/consents/${purpose}`);
          else await post("/auth/me/consents", { json: { purpose, version } });
        } catch (error) {
          $("account-status").textContent = error.message;
        }
        consents();
      });
      row.append(text, button);
      return row;
    }),
  );
}

function showAccount(me) {
  $("login-form").hidden = Boolean(me);
  $("register-form").hidden = true;
  $("account-panel").hidden = !me;
  if (!me) return;
  $("me-username").textContent = me.name;
  $("me-name").textContent = me.display_name || "";
  $("me-roles").textContent = me.roles.map((r) => t(`role.${r}`)).join(", ");
  consents();
}

function forms() {
  $("to-register").addEventListener("click", () => {
    $("login-form").hidden = true;
    $("register-form").hidden = false;
    $("register-username").focus();
  });
  $("to-login").addEventListener("click", () => {
    $("register-form").hidden = true;
    $("login-form").hidden = false;
    $("login-username").focus();
  });
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    try {
      await auth.login(form.username.value, form.password.value);
      form.reset();
      $("account-status").textContent = "";
    } catch (error) {
      $("login-error").textContent = `${t("auth.failed")} ${error.message}`;
    }
  });
  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("register-error").textContent = "";
    const body = { username: form.username.value, password: form.password.value };
    if (form.display_name.value.trim()) body.display_name = form.display_name.value.trim();
    try {
      await post("/auth/register", { json: body });
      $("login-username").value = body.username;
      form.reset();
      $("register-form").hidden = true;
      $("login-form").hidden = false;
      $("account-status").textContent = t("register.done");
      $("login-password").focus();
    } catch (error) {
      $("register-error").textContent = error.message;
    }
  });
  $("logout").addEventListener("click", () => auth.logout());
  $("export").addEventListener("click", async () => {
    try {
      const data = await get("/auth/me/data");
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `cityos-my-data-${new Date().toISOString().slice(0, 10)}.json`;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(link.href);
    } catch (error) {
      $("account-status").textContent = error.message;
    }
  });
  $("delete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("delete-error").textContent = "";
    const me = auth.current();
    if (!me || $("delete-confirm").value.trim() !== me.name) {
      $("delete-error").textContent = t("account.delete.mismatch");
      return;
    }
    try {
      await del("/auth/me");
      event.target.reset();
      await auth.refreshMe();
      $("account-status").textContent = t("account.deleted");
    } catch (error) {
      $("delete-error").textContent = error.message;
    }
  });
}

async function main() {
  await startPage(() => {
    services();
    airQuality();
    traffic();
    showEmergency();
    showAccount(auth.current());
    polls.pulse();
    route();
  });
  services();
  forms();
  auth.onChange(showAccount);
  window.addEventListener("hashchange", route);
  route();
  for (const feature of FEATURES) feature.init();
  $("er-locate").addEventListener("click", () => locate(true));
  locate(false);
  await Promise.all([auth.refreshMe(), airQuality(), traffic(), emergency()]);
  // Who is logged in decides what the civic pages offer: they are drawn once that is known.
  auth.onChange(() => {
    polls.pulse();
    route();
  });
  started = true;
  await Promise.all([polls.pulse(), route()]);
  document.body.dataset.ready = "yes";
}

main();
