// The operations dashboard: map, layer toggles, KPI tiles, inspector, live updates.
import * as auth from "./auth.js";
import * as i18n from "./i18n.js";
import { formatNumber, t } from "./i18n.js";
import { Inspector } from "./inspector.js";
import { CLASSES, TILE_KINDS, tileDetailText, tileValueText } from "./kpi.js";
import { CityMap, classColor, labelOf } from "./map.js";
import { get } from "./api.js";
import * as theme from "./theme.js";
import { connectLive } from "./live.js";
import { bindLoginDialog } from "./login.js";
import { startPage } from "./page.js";

const state = { tenant: "", tiles: [] };
let live = null;

function layerList(map) {
  const list = document.getElementById("layer-list");
  list.replaceChildren();
  for (const group of ["base", "live"]) {
    const entries = [...map.layers.values()].sort((a, b) => a.def.order - b.def.order).filter(
      (e) => e.def.group === group && (e.def.source === "basemap" || e.items.size > 0),
    );
    if (!entries.length) continue;
    const fieldset = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = t(`dash.layers.${group}`);
    fieldset.append(legend);
    for (const entry of entries) {
      const id = `layer-${entry.def.id}`;
      const row = document.createElement("div");
      row.className = "layer";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = id;
      box.checked = entry.visible;
      box.dataset.layer = entry.def.id;
      box.addEventListener("change", () => map.setVisible(entry.def.id, box.checked));
      const swatch = document.createElement("span");
      swatch.className = `swatch swatch-${entry.def.id}`;
      swatch.setAttribute("aria-hidden", "true");
      swatch.style.background = theme.theme() === "dark" ? entry.def.style.color_dark : entry.def.style.color_light;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = `${i18n.lang() === "ko" ? entry.def.name_ko : entry.def.name_en} (${t("dash.layers.count", { count: formatNumber(entry.items.size) })})`;
      row.append(box, swatch, label);
      fieldset.append(row);
      const classes = CLASSES[entry.def.extra?.color_by];
      if (classes) fieldset.append(legend_(entry.def.extra.color_by, classes));
    }
    list.append(fieldset);
  }
}

// The colour key of a layer coloured by class (PM2.5 grade, traffic speed, free spaces).
function legend_(kind, classes) {
  const list = document.createElement("ul");
  list.className = "legend";
  list.setAttribute("aria-label", t(`legend.${kind}`));
  for (const key of classes) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.setAttribute("aria-hidden", "true");
    swatch.style.background = classColor(key);
    item.append(swatch, document.createTextNode(t(`class.${key}`)));
    list.append(item);
  }
  return list;
}

// A keyboard path to every hub entity on the map (the canvas itself is not focusable per
// feature): the entity layers' features by name, up to PICKER_MAX per layer.
const PICKER_MAX = 300;

function picker(map, inspector) {
  const select = document.getElementById("feature-picker");
  const chosen = select.value;
  const options = [new Option(t("dash.picker.none"), "")];
  for (const entry of [...map.layers.values()].sort((a, b) => a.def.order - b.def.order)) {
    if (entry.def.source !== "entities" || !entry.visible || !entry.items.size) continue;
    const group = document.createElement("optgroup");
    group.label = i18n.lang() === "ko" ? entry.def.name_ko : entry.def.name_en;
    const items = [...entry.items.entries()].slice(0, PICKER_MAX);
    const named = items.map(([id, item]) => [labelOf(item.feature.properties, id), id]);
    named.sort((a, b) => a[0].localeCompare(b[0], i18n.locale()));
    for (const [name, id] of named) group.append(new Option(name, `${entry.def.id}|${id}`));
    options.push(group);
  }
  select.replaceChildren(...options);
  select.value = chosen;
  select.onchange = () => {
    if (!select.value) return;
    const [layerId, id] = [select.value.slice(0, select.value.indexOf("|")), select.value.slice(select.value.indexOf("|") + 1)];
    const entry = map.layers.get(layerId);
    const item = entry?.items.get(id);
    if (!item) return;
    const bounds = item.getBounds ? item.getBounds() : null;
    if (bounds?.isValid()) map.map.fitBounds(bounds, { maxZoom: 14 });
    else if (item.getLatLng) map.map.setView(item.getLatLng(), Math.max(map.map.getZoom(), 13));
    inspector.select(entry.def, item.feature);
  };
}

function tile(id, title, value, detail, grade) {
  const li = document.createElement("li");
  li.className = `kpi${grade ? ` grade-${grade}` : ""}`;
  li.id = `kpi-${id}`;
  const h = document.createElement("h3");
  h.textContent = title;
  const v = document.createElement("p");
  v.className = "kpi-value";
  v.textContent = value;
  const d = document.createElement("p");
  d.className = "kpi-detail";
  d.textContent = detail;
  li.append(h, v, d);
  return li;
}

// The tile registry (GET /web/tiles): a tile whose layers have nothing to summarise is absent.
function kpis(map) {
  const list = document.getElementById("kpis");
  const shown = [];
  for (const def of state.tiles) {
    const compute = TILE_KINDS[def.kind];
    if (!compute) continue;
    const features = def.layers.flatMap((id) => map.features(id).map((f) => ({ ...f, layer: id })));
    const result = compute(features);
    if (!result) continue;
    const title = i18n.lang() === "ko" ? def.name_ko : def.name_en;
    shown.push(tile(def.id, title, tileValueText(result.value), tileDetailText(result.detail), result.grade));
  }
  list.replaceChildren(...shown);
}

function loginDialog() {
  bindLoginDialog(() => {
    document.getElementById("tenant-section").hidden = !auth.hasRole("operator", "admin");
  });
}

async function main() {
  // The theme, the language and the theme switch's label (page.js); the map loads meanwhile.
  const language = startPage(() => {
    map.setAttribution(t("map.attribution"));
    if (!inspector.selected) inspector.clear(); // its empty-state text, in the new language
    refresh();
  });
  // Live updates call this often (once per frame at most): the lists are rebuilt only when
  // a layer, a count, the language or the theme changed, and keyboard focus is kept.
  let signature = "";
  const refresh = () => {
    kpis(map);
    const now = [i18n.lang(), theme.theme(), ...[...map.layers.values()].map((e) => `${e.def.id}:${e.items.size}:${e.visible}`)].join("|");
    if (now === signature) return;
    signature = now;
    const focused = document.activeElement?.id;
    layerList(map);
    picker(map, inspector);
    if (focused && document.activeElement?.id !== focused) document.getElementById(focused)?.focus();
  };
  const inspector = new Inspector(document.getElementById("inspector"), { tenant: () => state.tenant });
  const map = new CityMap(document.getElementById("map"), {
    onSelect: (def, feature) => inspector.select(def, feature),
    onLayersChanged: () => {
      cancelAnimationFrame(refresh.frame);
      refresh.frame = requestAnimationFrame(refresh);
    },
  });
  window.cityos = { map, inspector };
  // The layers load while the message catalogue does; nothing waits for who is logged in.
  const loading = map.load();
  const tiles = get("/web/tiles").then((defs) => {
    state.tiles = defs;
  });
  await language;
  map.setAttribution(t("map.attribution"));
  loginDialog();
  theme.onChange(() => {
    map.restyle();
    refresh();
  });
  document.getElementById("tenant-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.tenant = document.getElementById("tenant-input").value.trim();
    map.tenant = state.tenant;
    await map.load();
    live?.reconnect(state.tenant);
  });
  inspector.clear();
  auth.refreshMe();
  await loading;
  await tiles;
  refresh();
  // The meaningful paint: the frame after every layer is drawn (benchmarks/web_bench.py).
  requestAnimationFrame(() => performance.mark("cityos:map-drawn"));
  document.body.dataset.ready = "map";
  live = connectLive(map, document.getElementById("live-state"));
}

main();
