// The entity inspector: current attributes of the selected item and, for hub entities, a
// time-series chart of a numeric attribute from the temporal API with a range picker.
import { get, hubHeaders } from "./api.js";
import { formatDateTime, formatNumber, lang, t } from "./i18n.js";
import { labelOf } from "./map.js";

const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const SKIP = new Set(["id", "type", "@context", "location"]);

function show(value) {
  if (typeof value === "number") return formatNumber(value, { maximumFractionDigits: 3 });
  if (value && typeof value === "object") {
    if (value.languageMap) return Object.values(value.languageMap).join(" / ");
    if (value["@value"]) return String(value["@value"]);
    return JSON.stringify(value);
  }
  return String(value ?? "");
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

// uPlot is loaded the first time a chart is drawn, not with the page (a faster first paint).
let uPlotLoading = null;

function loadUPlot() {
  if (globalThis.uPlot) return Promise.resolve(globalThis.uPlot);
  uPlotLoading ??= new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/static/vendor/uplot/uPlot.min.css";
    document.head.append(css);
    const script = document.createElement("script");
    script.src = "/static/vendor/uplot/uPlot.iife.min.js";
    script.onload = () => resolve(globalThis.uPlot);
    script.onerror = reject;
    document.head.append(script);
  });
  return uPlotLoading;
}

export class Inspector {
  constructor(panel, { tenant }) {
    this.panel = panel;
    this.body = panel.querySelector("#inspector-body");
    this.heading = panel.querySelector("#inspector-heading");
    this.tenant = tenant;
    this.selected = null;
    panel.querySelector("#inspector-close").addEventListener("click", () => this.clear());
  }

  clear() {
    this.selected = null;
    this.chart?.destroy();
    this.chart = null;
    this.heading.textContent = t("inspector.title");
    this.body.replaceChildren(cell("p", t("inspector.empty")));
  }

  headers() {
    return hubHeaders(this.selected?.def.query || {}, this.tenant());
  }

  async select(def, feature) {
    this.selected = { def, feature };
    this.chart?.destroy();
    this.chart = null;
    const props = feature.properties || {};
    this.heading.textContent = labelOf(props, feature.id || props.id);
    if (def.source !== "entities") {
      this.renderTable(
        Object.entries(props).filter(([k]) => !k.startsWith("name_")).map(([k, v]) => [k, show(v), ""]),
        t("inspector.basemap"),
      );
      return;
    }
    let entity;
    try {
      entity = await get(`/ngsi-ld/v1/entities/${encodeURIComponent(feature.id)}`, { headers: this.headers() });
    } catch (error) {
      this.body.replaceChildren(cell("p", error.message));
      return;
    }
    const rows = [];
    const numeric = [];
    for (const [name, attr] of Object.entries(entity)) {
      if (SKIP.has(name) || !attr || typeof attr !== "object") continue;
      const value = attr.languageMap ? attr.languageMap[lang()] ?? Object.values(attr.languageMap)[0] : attr.value ?? attr.object ?? attr;
      if (typeof attr.value === "number") numeric.push(name);
      rows.push([name, show(value), attr.observedAt ? formatDateTime(attr.observedAt) : ""]);
    }
    this.renderTable(rows, `${entity.type} · ${entity.id}`);
    if (numeric.length) this.renderHistory(entity.id, numeric);
  }

  renderTable(rows, caption) {
    const table = document.createElement("table");
    table.className = "attrs";
    table.append(cell("caption", caption));
    const head = document.createElement("tr");
    for (const key of ["inspector.attribute", "inspector.value"]) {
      const th = cell("th", t(key));
      th.scope = "col";
      head.append(th);
    }
    table.append(head);
    for (const [name, value, observed] of rows) {
      const tr = document.createElement("tr");
      const th = cell("th", name);
      th.scope = "row";
      const td = cell("td", value);
      if (observed) {
        const time = cell("small", `${t("inspector.observed")}: ${observed}`);
        time.className = "observed";
        td.append(document.createElement("br"), time);
      }
      tr.append(th, td);
      table.append(tr);
    }
    this.body.replaceChildren(table);
  }

  renderHistory(id, numeric) {
    const section = document.createElement("section");
    section.className = "history";
    section.setAttribute("aria-labelledby", "history-heading");
    const heading = cell("h3", t("inspector.history"));
    heading.id = "history-heading";
    const controls = document.createElement("div");
    controls.className = "history-controls";
    const attrLabel = cell("label", t("inspector.attribute"));
    const attrSelect = document.createElement("select");
    attrSelect.id = "history-attr";
    attrLabel.htmlFor = "history-attr";
    for (const name of numeric) attrSelect.append(new Option(name, name));
    const rangeLabel = cell("label", t("inspector.range"));
    const rangeSelect = document.createElement("select");
    rangeSelect.id = "history-range";
    rangeLabel.htmlFor = "history-range";
    for (const key of Object.keys(RANGES)) rangeSelect.append(new Option(t(`inspector.range.${key}`), key));
    rangeSelect.value = "24h";
    controls.append(attrLabel, attrSelect, rangeLabel, rangeSelect);
    const chart = document.createElement("div");
    chart.className = "chart";
    chart.id = "history-chart";
    const status = cell("p", "");
    status.className = "history-status";
    status.setAttribute("role", "status");
    section.append(heading, controls, chart, status);
    this.body.append(section);
    const draw = () => this.drawHistory(id, attrSelect.value, rangeSelect.value, chart, status);
    attrSelect.addEventListener("change", draw);
    rangeSelect.addEventListener("change", draw);
    draw();
  }

  async drawHistory(id, attr, range, target, status) {
    const since = new Date(Date.now() - RANGES[range]).toISOString();
    const url =
      `/ngsi-ld/v1/temporal/entities/${encodeURIComponent(id)}?attrs=${encodeURIComponent(attr)}` +
      `&timerel=after&timeAt=${encodeURIComponent(since)}&options=temporalValues&lastN=1000`;
    let series;
    let uPlot;
    try {
      [series, uPlot] = await Promise.all([
        get(url, { headers: this.headers() }).then((body) => parseTemporal(body, attr)),
        loadUPlot(),
      ]);
    } catch (error) {
      status.textContent = `${t("inspector.history.unavailable")} ${error.message}`;
      return;
    }
    this.chart?.destroy();
    this.chart = null;
    target.replaceChildren();
    if (!series.length) {
      status.textContent = t("inspector.history.none");
      return;
    }
    status.textContent = "";
    const xs = series.map(([, at]) => Date.parse(at) / 1000);
    const ys = series.map(([value]) => value);
    const css = getComputedStyle(document.documentElement);
    const stroke = css.getPropertyValue("--accent").trim() || "#0369a1";
    this.chart = new uPlot(
      {
        width: Math.max(240, target.clientWidth || 300),
        height: 180,
        series: [
          { label: t("inspector.observed"), value: (u, v) => (v == null ? "–" : formatDateTime(v * 1000)) },
          { label: attr, stroke, width: 2, value: (u, v) => (v == null ? "–" : formatNumber(v)) },
        ],
        axes: [
          {
            stroke: css.getPropertyValue("--text").trim(),
            size: 52,
            values: (u, splits) =>
              splits.map(
                (v) =>
                  `${formatDateTime(v * 1000, { month: "numeric", day: "numeric" })}\n` +
                  formatDateTime(v * 1000, { hour: "2-digit", minute: "2-digit" }),
              ),
          },
          { stroke: css.getPropertyValue("--text").trim(), values: (u, splits) => splits.map((v) => formatNumber(v)) },
        ],
      },
      [xs, ys],
      target,
    );
    target.setAttribute("role", "img");
    target.setAttribute("aria-label", `${attr}: ${ys.length} · ${formatNumber(Math.min(...ys))}–${formatNumber(Math.max(...ys))}`);
  }
}

// [value, observedAt] pairs, oldest first, from a temporal entity (temporalValues or normalized).
export function parseTemporal(entity, attr) {
  const raw = entity?.[attr];
  if (!raw) return [];
  let pairs = [];
  if (raw.values) pairs = raw.values.map(([value, at]) => [value, at]);
  else {
    const instances = Array.isArray(raw) ? raw : [raw];
    pairs = instances.filter((i) => i.observedAt).map((i) => [i.value, i.observedAt]);
  }
  return pairs.filter(([value]) => typeof value === "number").sort((a, b) => Date.parse(a[1]) - Date.parse(b[1]));
}
