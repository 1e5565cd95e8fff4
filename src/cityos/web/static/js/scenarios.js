// The scenario page (operators): the twin's runs, their reports and a KPI comparison of two.
import { get } from "./api.js";
import * as i18n from "./i18n.js";
import { formatDateTime, formatNumber, t } from "./i18n.js";
import { startPage } from "./page.js";

const state = { runs: [], comparison: null };
const SEOUL = { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Seoul" };

function cell(text, numeric = false) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

function number(value, digits = 0) {
  return typeof value === "number" ? formatNumber(value, { maximumFractionDigits: digits }) : "–";
}

function radio(group, run, index) {
  const td = document.createElement("td");
  const input = document.createElement("input");
  input.type = "radio";
  input.name = group;
  input.value = run.name;
  input.id = `run-${group}-${index}`;
  input.checked = (group === "a" && index === 1) || (group === "b" && index === 0);
  const label = document.createElement("label");
  label.htmlFor = input.id;
  label.className = "visually-hidden";
  label.textContent = t(`runs.pick.${group}`, { name: run.name });
  td.append(input, label);
  return td;
}

function renderRuns() {
  const body = document.getElementById("runs-body");
  const table = document.getElementById("runs-table");
  const rows = state.runs.map((run, index) => {
    const tr = document.createElement("tr");
    tr.dataset.run = run.name;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = run.name;
    const report = document.createElement("td");
    if (run.report) {
      const a = document.createElement("a");
      a.href = `/web/runs/${encodeURIComponent(run.name)}/report`;
      a.textContent = t("runs.open");
      a.setAttribute("aria-label", t("runs.open.label", { name: run.name }));
      report.append(a);
    } else {
      report.textContent = "–";
    }
    tr.append(
      radio("a", run, index),
      radio("b", run, index),
      name,
      cell(run.scenario),
      cell(formatDateTime(run.written, SEOUL)),
      cell(number(run.kpis.population), true),
      cell(number(run.kpis.private_cars), true),
      cell(number(run.kpis.mean_commute_time_min, 1), true),
      report,
    );
    return tr;
  });
  body.replaceChildren(...rows);
  table.hidden = !rows.length;
  document.getElementById("compare").hidden = rows.length < 2;
  document.getElementById("runs-status").textContent = rows.length
    ? t("runs.count", { count: formatNumber(rows.length) })
    : t("runs.none");
}

function renderComparison() {
  const c = state.comparison;
  const section = document.getElementById("comparison");
  if (!c) {
    section.hidden = true;
    return;
  }
  const ko = i18n.lang() === "ko";
  document.getElementById("compare-a").textContent = `A: ${c.a.name}`;
  document.getElementById("compare-b").textContent = `B: ${c.b.name}`;
  document.getElementById("compare-caption").textContent = t("runs.compare.caption", { a: c.a.scenario, b: c.b.scenario });
  document.getElementById("compare-note").textContent = c.same_size ? "" : t("runs.compare.size");
  const rows = c.rows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.kpi = row.kpi;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = `${ko ? row.label_ko : row.label_en}${row.unit ? ` (${row.unit})` : ""}`;
    const digits = Math.abs(row.a) < 10 ? 3 : 1;
    const sign = { signDisplay: "exceptZero", maximumFractionDigits: digits };
    tr.append(
      th,
      cell(number(row.a, digits), true),
      cell(number(row.b, digits), true),
      cell(formatNumber(row.change, sign), true),
      cell(row.change_pct === null ? "–" : `${formatNumber(row.change_pct, { signDisplay: "exceptZero", maximumFractionDigits: 1 })} %`, true),
    );
    return tr;
  });
  document.getElementById("compare-body").replaceChildren(...rows);
  section.hidden = false;
}

async function loadRuns() {
  const status = document.getElementById("runs-status");
  try {
    state.runs = await get("/web/runs");
    renderRuns();
  } catch (error) {
    status.textContent = error.status === 401 || error.status === 403 ? t("runs.staff") : error.message;
    status.classList.add("error");
  }
}

async function compare(event) {
  event.preventDefault();
  const form = document.getElementById("compare-form");
  const a = form.elements.a?.value;
  const b = form.elements.b?.value;
  if (!a || !b) return;
  try {
    state.comparison = await get(`/web/runs/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    renderComparison();
    document.getElementById("compare-heading").scrollIntoView();
    document.body.dataset.compared = `${a}|${b}`;
  } catch (error) {
    document.getElementById("runs-status").textContent = error.message;
  }
}

async function main() {
  await startPage(() => {
    renderRuns();
    renderComparison();
  });
  document.getElementById("compare-form").addEventListener("submit", compare);
  await loadRuns();
  document.body.dataset.ready = "runs";
}

main();
