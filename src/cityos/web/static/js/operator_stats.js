// The administration dashboard (#stats): KPI tiles, the H3 hot-spot map and bar charts that
// are tables (each bar is drawn beside its number, so the table is the text alternative).
import { formatNumber, lang, t } from "./i18n.js";

let hotMap = null;
let hotLayer = null;
const basemaps = {};

// Context under the complaints: Sejong's water, parks and roads (the twin bundle's GeoJSON).
export async function addBasemap(map) {
  const dark = document.documentElement.dataset.theme === "dark";
  if (!map.getPane("basemap")) map.createPane("basemap").style.zIndex = "350"; // under overlays
  const styles = {
    water: { color: dark ? "#60a5fa" : "#3b82f6", weight: 1, fillOpacity: 0.25 },
    parks: { color: dark ? "#4ade80" : "#16a34a", weight: 1, fillOpacity: 0.15 },
    roads: { color: dark ? "#94a3b8" : "#64748b", weight: 1, opacity: 0.6 },
  };
  for (const [name, style] of Object.entries(styles)) {
    try {
      basemaps[name] ??= fetch(`/web/basemap/${name}`).then((r) => (r.ok ? r.json() : null));
      const data = await basemaps[name];
      if (data) L.geoJSON(data, { style, interactive: false, pane: "basemap" }).addTo(map);
    } catch {
      // The basemap is context only: the complaints are drawn without it.
    }
  }
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function name(entry) {
  return lang() === "ko" ? entry.name_ko : entry.name_en;
}

function kpi(id, title, value, detail, grade) {
  const li = el("li", null, `kpi${grade ? ` grade-${grade}` : ""}`);
  li.dataset.kpi = id;
  li.append(el("h3", title), el("p", formatNumber(value), "kpi-value"));
  if (detail) li.append(el("p", detail, "kpi-detail"));
  return li;
}

// A bar chart as a table: label, a bar (decorative) and the count; columns = extra numbers.
export function barTable(container, { id, title, rows, columns = [], valueTitle = t("op.s.col.count") }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const heading = el("h3", title);
  heading.id = `${id}-title`;
  // A table may scroll sideways on a phone: its wrapper is then a named, focusable region.
  const wrap = el("div", null, "table-wrap");
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-labelledby", heading.id);
  const table = el("table", null, "data bars");
  table.id = id;
  table.setAttribute("aria-labelledby", heading.id);
  const head = el("tr");
  head.append(el("th", t("op.s.col.item")), el("th", valueTitle), ...columns.map((c) => el("th", c.title)));
  for (const th of head.children) th.scope = "col";
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    if (row.key) tr.dataset.key = row.key;
    if (row.className) tr.className = row.className;
    const th = el("th", row.label);
    th.scope = "row";
    const value = el("td", null, "bar-cell");
    const track = el("span", null, "bar-track");
    track.setAttribute("aria-hidden", "true");
    const bar = el("span", null, "bar");
    bar.style.width = `${(100 * row.value) / max}%`;
    track.append(bar);
    value.append(track, el("span", formatNumber(row.value), "bar-value"));
    tr.append(th, value, ...columns.map((c) => el("td", formatNumber(row[c.key] ?? 0), "num")));
    body.append(tr);
  }
  table.append(thead, body);
  wrap.append(table);
  container.replaceChildren(heading, wrap);
}

function drawHotSpots(stats) {
  const box = document.getElementById("hot-map");
  const cells = stats.hot_spots.cells;
  if (!window.L) return;
  if (!hotMap) {
    hotMap = L.map(box, { preferCanvas: true, attributionControl: false }).setView([36.52, 127.26], 11);
    addBasemap(hotMap);
  }
  if (hotLayer) hotLayer.remove();
  hotLayer = L.featureGroup();
  const max = Math.max(1, ...cells.map((c) => c.count));
  const dark = document.documentElement.dataset.theme === "dark";
  for (const c of cells) {
    const share = c.count / max;
    L.polygon(c.boundary, {
      color: dark ? "#fca5a5" : "#b91c1c",
      weight: 1,
      fillColor: dark ? "#f87171" : "#dc2626",
      fillOpacity: 0.15 + 0.65 * share,
    })
      .bindTooltip(t("op.s.hot.cell", { count: formatNumber(c.count), cell: c.cell }))
      .addTo(hotLayer);
  }
  hotLayer.addTo(hotMap);
  hotMap.invalidateSize();
  if (cells.length) hotMap.fitBounds(hotLayer.getBounds(), { maxZoom: 14, padding: [12, 12] });
  document.getElementById("hot-desc").textContent = cells.length
    ? t("op.s.hot.desc", {
        cells: formatNumber(cells.length),
        resolution: stats.hot_spots.resolution,
        top: formatNumber(cells[0].count),
      })
    : t("op.s.hot.none");
  box.dataset.cells = String(cells.length);
}

function trending(stats) {
  const box = document.getElementById("trending");
  const heading = el("h3", t("op.s.trending"));
  const parts = [heading, el("p", t("op.s.trending.hint"), "hint")];
  for (const week of [...stats.trending.weeks].reverse()) {
    const section = el("section", null, "week");
    section.dataset.week = week.week_start;
    section.append(el("h4", t("op.s.week", { start: week.week_start })));
    if (!week.keywords.length) {
      section.append(el("p", t("op.s.trending.none"), "hint"));
    } else {
      const list = el("ol", null, "keywords");
      for (const k of week.keywords) {
        const li = el("li", `${k.keyword} · ${formatNumber(k.count)}`);
        li.dataset.keyword = k.keyword;
        if (k.rising) {
          li.classList.add("rising");
          li.append(" ", el("strong", t("op.s.rising", { previous: formatNumber(k.previous) }), "badge rising-badge"));
        }
        list.append(li);
      }
      section.append(list);
    }
    parts.push(section);
  }
  box.replaceChildren(...parts);
}

export function renderStats(stats, { serviceName }) {
  document.getElementById("stats-body").hidden = false;
  const sla = stats.sla;
  document.getElementById("stats-kpis").replaceChildren(
    kpi("total", t("op.s.kpi.total"), stats.total),
    kpi("open", t("op.s.kpi.open"), sla.open),
    kpi("open_overdue", t("op.s.kpi.overdue"), sla.open_overdue, t("op.s.kpi.overdue.detail"), sla.open_overdue ? "verybad" : "moderate"),
    kpi("answered_late", t("op.s.kpi.late"), sla.answered_late, t("op.s.kpi.late.detail", { answered: formatNumber(sla.answered) }), sla.answered_late ? "bad" : "moderate"),
  );
  const zoneSelect = document.getElementById("s-zone");
  if (zoneSelect.options.length <= 1 || zoneSelect.dataset.lang !== lang()) {
    const keep = zoneSelect.value;
    const all = el("option", t("op.f.all"));
    all.value = "";
    const zones = [...stats.by_zone.zones].sort((a, b) => a.code.localeCompare(b.code));
    zoneSelect.replaceChildren(all, ...zones.map((z) => {
      const option = el("option", name(z));
      option.value = z.code;
      return option;
    }));
    zoneSelect.value = keep;
    zoneSelect.dataset.lang = lang();
  }
  drawHotSpots(stats);
  barTable(document.getElementById("chart-day"), {
    id: "by-day",
    title: t("op.s.by_day"),
    rows: stats.by_day.map((d) => ({ key: d.date, label: d.date, value: d.count })),
  });
  barTable(document.getElementById("chart-week"), {
    id: "by-week",
    title: t("op.s.by_week"),
    rows: stats.by_week.map((w) => ({ key: w.week_start, label: t("op.s.week", { start: w.week_start }), value: w.count })),
  });
  barTable(document.getElementById("chart-code"), {
    id: "by-code",
    title: t("op.s.by_code"),
    rows: stats.by_service_code.map((c) => ({ key: c.service_code, label: serviceName(c.service_code), value: c.count, open: c.open, closed: c.closed, rejected: c.rejected })),
    columns: [
      { key: "open", title: t("op.s.col.open") },
      { key: "closed", title: t("op.status.closed") },
      { key: "rejected", title: t("op.status.rejected") },
    ],
  });
  barTable(document.getElementById("chart-zone"), {
    id: "by-zone",
    title: t("op.s.by_zone", { unlocated: formatNumber(stats.by_zone.unlocated) }),
    rows: stats.by_zone.zones.map((z) => ({ key: z.code, label: name(z), value: z.count })),
  });
  barTable(document.getElementById("chart-hot"), {
    id: "hot-cells",
    title: t("op.s.hot.table"),
    rows: stats.hot_spots.cells.slice(0, 10).map((c) => ({ key: c.cell, label: c.cell, value: c.count })),
  });
  const slaColumns = [
    { key: "open", title: t("op.s.col.open") },
    { key: "answered", title: t("op.s.col.answered") },
    { key: "answered_late", title: t("op.s.col.late") },
  ];
  const slaRow = (key, label, e) => ({
    key,
    label,
    value: e.open_overdue,
    open: e.open,
    answered: e.answered,
    answered_late: e.answered_late,
    className: e.open_overdue || e.answered_late ? "breach" : "",
  });
  barTable(document.getElementById("chart-sla-dept"), {
    id: "sla-dept",
    title: t("op.s.sla.dept"),
    rows: sla.by_department.map((e) => slaRow(e.department, e.department, e)),
    columns: slaColumns,
    valueTitle: t("op.s.col.overdue"),
  });
  barTable(document.getElementById("chart-sla-code"), {
    id: "sla-code",
    title: t("op.s.sla.code"),
    rows: sla.by_service_code.map((e) => slaRow(e.service_code, serviceName(e.service_code), e)),
    columns: slaColumns,
    valueTitle: t("op.s.col.overdue"),
  });
  trending(stats);
}
