// The operator pages: a department's complaint queue, a complaint's detail and actions (#queue),
// and the data-based administration dashboard (#stats). Operators and admins only.
import { get, post } from "./api.js";
import * as auth from "./auth.js";
import * as i18n from "./i18n.js";
import { formatDateTime, formatNumber, t } from "./i18n.js";
import { addBasemap, renderStats } from "./operator_stats.js";
import { bindLoginDialog } from "./login.js";
import { startPage } from "./page.js";

const SEOUL = { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Seoul" };
// The workflow (governance/models.py TRANSITIONS): which actions a state allows.
const NEXT = {
  received: ["assigned", "rejected"],
  assigned: ["in_progress", "assigned", "rejected"],
  in_progress: ["closed", "rejected"],
  closed: [],
  rejected: [],
};
const SOON_HOURS = 24;
const state = { queue: [], services: [], selected: null, events: [], departments: [], stats: null, map: null };

// An Open311 error list says "English / 한국어"; show the half in the page's language.
export function errorText(error) {
  const body = error?.body;
  if (Array.isArray(body) && body[0]?.description) {
    const text = body[0].description;
    const cut = text.indexOf(" / ");
    if (cut < 0) return text;
    return i18n.lang() === "ko" ? text.slice(cut + 3) : text.slice(0, cut);
  }
  return error?.message || String(error);
}

export function serviceName(code) {
  const s = state.services.find((e) => e.service_code === code);
  if (!s) return code;
  const match = s.service_name.match(/^(.*) \((.*)\)$/);
  if (!match) return s.service_name;
  return i18n.lang() === "ko" ? match[1] : match[2];
}

function slaState(entry) {
  if (entry.sla_breached) return "overdue";
  return entry.sla_hours_left <= SOON_HOURS ? "soon" : "ok";
}

function slaText(entry) {
  const hours = Math.abs(entry.sla_hours_left);
  const value = formatNumber(hours, { maximumFractionDigits: 1 });
  return entry.sla_hours_left < 0 ? t("op.sla.over", { hours: value }) : t("op.sla.left", { hours: value });
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// ---- queue ----

function filtered() {
  const form = document.getElementById("queue-filters");
  const code = form.elements.code.value;
  const status = form.elements.status.value;
  const sla = form.elements.sla.value;
  return state.queue.filter(
    (e) => (!code || e.service_code === code) && (!status || e.workflow_status === status) && (!sla || slaState(e) === sla),
  );
}

function renderQueue() {
  const rows = filtered().map((entry) => {
    const tr = document.createElement("tr");
    tr.dataset.request = entry.service_request_id;
    if (entry.sla_breached) tr.classList.add("overdue");
    const priority = document.createElement("td");
    priority.append(
      el("strong", `${t(`op.level.${entry.priority_level}`)} (${entry.priority})`, `level level-${entry.priority_level}`),
      el("span", entry.priority_explanation, "explain"),
    );
    const what = document.createElement("th");
    what.scope = "row";
    const open = el("button", `#${entry.service_request_id} ${serviceName(entry.service_code)}`, "link");
    open.type = "button";
    open.addEventListener("click", () => select(entry));
    what.append(open, el("span", formatDateTime(entry.requested_datetime, SEOUL), "explain"));
    const sla = cell(slaText(entry), `sla sla-${slaState(entry)}`);
    if (entry.sla_breached) sla.prepend(el("span", `${t("op.sla.overdue")}: `, "badge-over"));
    tr.append(
      priority,
      what,
      cell(t(`op.status.${entry.workflow_status}`)),
      sla,
      cell(entry.supporters ? t("op.supporters", { count: formatNumber(entry.supporters + 1) }) : "–", "num"),
    );
    return tr;
  });
  document.getElementById("queue-body").replaceChildren(...rows);
  document.getElementById("queue-table").hidden = !rows.length;
  const overdue = state.queue.filter((e) => e.sla_breached).length;
  document.getElementById("queue-status").textContent = rows.length
    ? t("op.queue.count", { shown: formatNumber(rows.length), total: formatNumber(state.queue.length), overdue: formatNumber(overdue) })
    : t("op.queue.none");
}

async function loadQueue() {
  const department = document.getElementById("f-department").value;
  const status = document.getElementById("queue-status");
  try {
    state.queue = await get(`/complaints/queue?department=${encodeURIComponent(department)}`);
    status.classList.remove("error");
    renderQueue();
    if (state.selected) {
      const fresh = state.queue.find((e) => e.service_request_id === state.selected.service_request_id);
      if (fresh) state.selected = fresh;
    }
  } catch (error) {
    state.queue = [];
    renderQueue();
    status.textContent = errorText(error);
    status.classList.add("error");
  }
  document.body.dataset.queue = String(state.queue.length);
}

// ---- detail ----

function fact(list, key, value) {
  list.push(el("dt", t(key)), el("dd", value));
}

function renderDetail() {
  const entry = state.selected;
  const section = document.getElementById("detail");
  if (!entry) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  section.dataset.status = entry.workflow_status;
  document.getElementById("detail-heading").textContent = t("op.detail.title", {
    id: entry.service_request_id,
    service: serviceName(entry.service_code),
  });
  const facts = [];
  fact(facts, "op.col.status", t(`op.status.${entry.workflow_status}`));
  fact(facts, "op.f.department", entry.department || entry.agency_responsible);
  fact(facts, "op.detail.requested", formatDateTime(entry.requested_datetime, SEOUL));
  fact(facts, "op.detail.due", formatDateTime(entry.expected_datetime, SEOUL));
  const open = !["closed", "rejected"].includes(entry.workflow_status);
  if (open && entry.sla_hours_left !== undefined) fact(facts, "op.col.sla", slaText(entry));
  fact(facts, "op.col.supporters", t("op.supporters", { count: formatNumber((entry.supporters || 0) + 1) }));
  if (entry.address) fact(facts, "op.detail.address", entry.address);
  if (entry.lat !== null && entry.long !== null) {
    fact(facts, "op.detail.point", `${formatNumber(entry.lat, { maximumFractionDigits: 5 })}, ${formatNumber(entry.long, { maximumFractionDigits: 5 })}`);
  }
  if (entry.assigned_to) fact(facts, "op.detail.assignee", entry.assigned_to);
  if (entry.status_notes) fact(facts, "op.detail.notes", entry.status_notes);
  document.getElementById("detail-facts").replaceChildren(...facts);
  // textContent: the citizen's words are shown as text, never parsed as HTML.
  document.getElementById("detail-description").textContent = entry.description || t("op.detail.nodescription");
  document.getElementById("detail-priority").textContent = `${t("op.col.priority")}: ${t(`op.level.${entry.priority_level}`)} (${entry.priority}) — ${entry.priority_explanation}`;
  renderPhoto(entry);
  renderDetailMap(entry);
  renderTimeline();
  const allowed = NEXT[entry.workflow_status] || [];
  for (const button of document.querySelectorAll("#action-form [data-status]")) {
    button.disabled = !allowed.includes(button.dataset.status);
  }
}

function renderPhoto(entry) {
  const figure = document.getElementById("detail-photo");
  const link = document.getElementById("detail-photo-link");
  figure.hidden = true;
  link.hidden = true;
  if (!entry.media_url) return;
  const url = new URL(entry.media_url, location.href);
  if (url.origin === location.origin) {
    const img = document.getElementById("detail-img");
    img.src = url.href;
    img.alt = t("op.detail.photo.alt", { id: entry.service_request_id });
    figure.hidden = false;
  } else if (url.protocol === "https:" || url.protocol === "http:") {
    document.getElementById("detail-photo-a").href = url.href;
    link.hidden = false;
  }
}

function renderDetailMap(entry) {
  const box = document.getElementById("detail-map");
  if (entry.lat === null || entry.long === null || !window.L) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  if (!state.map) {
    state.map = L.map(box, { preferCanvas: true, attributionControl: false, zoomControl: true });
    addBasemap(state.map);
    state.marker = L.circleMarker([entry.lat, entry.long], { radius: 9, color: "#b91c1c", weight: 3 }).addTo(state.map);
  }
  state.marker.setLatLng([entry.lat, entry.long]);
  state.map.invalidateSize();
  state.map.setView([entry.lat, entry.long], 16);
}

function renderTimeline() {
  const items = state.events.map((e) => {
    const li = el("li");
    li.append(el("strong", `${formatDateTime(e.at, SEOUL)} · ${t(`op.status.${e.to_status}`)}`));
    if (e.actor) li.append(el("span", ` (${e.actor})`, "hint"));
    if (e.note) li.append(el("p", e.note, "note"));
    return li;
  });
  document.getElementById("detail-timeline").replaceChildren(...items);
}

async function loadEvents() {
  try {
    state.events = await get(`/complaints/requests/${state.selected.service_request_id}/events`);
  } catch (error) {
    state.events = [];
    document.getElementById("action-error").textContent = errorText(error);
  }
  renderTimeline();
}

async function select(entry) {
  state.selected = entry;
  state.events = [];
  document.getElementById("action-error").textContent = "";
  document.getElementById("action-status").textContent = "";
  renderDetail();
  document.getElementById("detail-heading").focus();
  await loadEvents();
  document.body.dataset.detail = entry.service_request_id;
}

async function act(status) {
  const form = document.getElementById("action-form");
  const error = document.getElementById("action-error");
  const done = document.getElementById("action-status");
  error.textContent = "";
  done.textContent = "";
  const body = { status };
  if (form.elements.note.value.trim()) body.note = form.elements.note.value.trim();
  if (status === "assigned" && form.elements.assignee.value.trim()) body.assignee = form.elements.assignee.value.trim();
  try {
    const [entry] = await post(`/complaints/requests/${state.selected.service_request_id}/transitions`, { json: body });
    state.selected = entry;
    form.reset();
    done.textContent = t("op.action.done", { id: entry.service_request_id, status: t(`op.status.${entry.workflow_status}`) });
    renderDetail();
    await Promise.all([loadEvents(), loadQueue()]);
    document.body.dataset.acted = `${entry.service_request_id}:${entry.workflow_status}`;
  } catch (err) {
    error.textContent = errorText(err);
  }
}

// ---- page ----

function showView() {
  const staff = auth.hasRole("operator", "admin");
  const me = auth.current();
  const gate = document.getElementById("gate");
  const view = location.hash === "#stats" ? "stats" : "queue";
  gate.textContent = !me ? t("op.gate.login") : staff ? "" : t("op.gate.role");
  gate.hidden = staff;
  document.getElementById("queue-view").hidden = !staff || view !== "queue";
  document.getElementById("stats-view").hidden = !staff || view !== "stats";
  for (const name of ["queue", "stats"]) {
    const tab = document.getElementById(`tab-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (staff && view === "stats" && !state.stats) loadStats();
  document.body.dataset.view = staff ? view : "gate";
}

function fillDepartments() {
  const me = auth.current();
  const select = document.getElementById("f-department");
  const names = auth.hasRole("admin") ? state.departments : [me.department].filter(Boolean);
  select.replaceChildren(...names.map((name) => {
    const option = el("option", name);
    option.value = name;
    return option;
  }));
  select.disabled = names.length < 2;
  if (me.department && names.includes(me.department)) select.value = me.department;
}

function fillCodes() {
  for (const id of ["f-code", "s-code"]) {
    const select = document.getElementById(id);
    const keep = select.value;
    const all = el("option", t("op.f.all"));
    all.value = "";
    select.replaceChildren(all, ...state.services.map((s) => {
      const option = el("option", serviceName(s.service_code));
      option.value = s.service_code;
      return option;
    }));
    select.value = keep;
  }
}

async function loadStats() {
  const form = document.getElementById("stats-filters");
  const params = new URLSearchParams();
  for (const name of ["from", "to", "zone", "service_code", "resolution"]) {
    if (form.elements[name].value) params.set(name, form.elements[name].value);
  }
  const error = document.getElementById("stats-error");
  const status = document.getElementById("stats-status");
  error.textContent = "";
  status.textContent = t("op.s.loading");
  try {
    state.stats = await get(`/complaints/stats?${params}`);
    if (!form.elements.from.value) {
      form.elements.from.value = state.stats.window.from;
      form.elements.to.value = state.stats.window.to;
    }
    status.textContent = t("op.s.summary", {
      from: state.stats.window.from,
      to: state.stats.window.to,
      total: formatNumber(state.stats.total),
    });
    renderStats(state.stats, { serviceName });
    document.body.dataset.stats = String(state.stats.total);
  } catch (err) {
    status.textContent = "";
    error.textContent = errorText(err);
  }
}

async function start() {
  const me = auth.current();
  if (!me || !auth.hasRole("operator", "admin")) {
    showView();
    return;
  }
  if (!state.services.length) {
    state.services = await get("/open311/v2/services.json");
    fillCodes();
  }
  showView();
  if (auth.hasRole("admin") && !state.departments.length) {
    // An admin works any department: the catalogue's departments, from the stats' SLA table.
    try {
      const recent = await get("/complaints/stats");
      state.departments = recent.sla.by_department.map((d) => d.department);
    } catch (error) {
      document.getElementById("queue-status").textContent = errorText(error);
    }
  }
  fillDepartments();
  await loadQueue();
}

function loginDialog() {
  bindLoginDialog(() => {
    state.stats = null;
    state.selected = null;
    renderDetail();
    start();
  });
}

async function main() {
  await startPage(() => {
    fillCodes();
    renderQueue();
    renderDetail();
    showView();
    if (state.stats) renderStats(state.stats, { serviceName });
  });
  loginDialog();
  document.getElementById("queue-filters").addEventListener("change", (event) => {
    if (event.target.name === "department") loadQueue();
    else renderQueue();
  });
  for (const button of document.querySelectorAll("#action-form [data-status]")) {
    button.addEventListener("click", () => act(button.dataset.status));
  }
  document.getElementById("action-form").addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("stats-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadStats();
  });
  window.addEventListener("hashchange", showView);
  await auth.refreshMe();
  document.body.dataset.ready = "operator";
}

main();
