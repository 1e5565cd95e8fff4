// Civil complaints (민원) in the citizen app: file one (#complaint-new) and follow mine
// (#complaints, #complaints/<id>). It talks to Open311 GeoReport v2 (/open311/v2) and the
// citizen routes under /complaints (docs/governance/complaints.md); every text the server
// or the citizen wrote is put in the page as text (textContent), never as markup.
import { ApiError, get, post } from "./api.js";
import * as auth from "./auth.js";
import * as i18n from "./i18n.js";
import { formatDateTime, formatNumber, lang, t } from "./i18n.js";
import { PinMap } from "./complaint-map.js";
import { locate as whereAmI } from "./position.js";

// The 12 Open311 service codes (cityos.governance.catalog), in the catalogue's order.
export const CODES = ["road", "parking", "traffic", "waste", "streetlight", "park", "water",
  "environment", "construction", "animal", "safety", "other"];
// The server's photo limits (cityos.governance.media): JPEG or PNG, at most 5 MiB.
export const PHOTO_TYPES = ["image/jpeg", "image/png"];
export const MAX_PHOTO_BYTES = 5 * 1024 * 1024;
const DRAFT_KEY = "cityos.complaint.draft";
const RESUME_KEY = "cityos.complaint.resume";
const SEOUL = { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Seoul" };
const SUGGEST_AFTER_MS = 400;
// Below this confidence the suggestion is shown but not selected: the shipped classifier is
// trained on Korean, and an English text gets a low-confidence guess (often "other").
const SUGGEST_MIN_CONFIDENCE = 0.5;
const CHECK_AFTER_MS = 600;

// The home's service list links here (citizen.js reads `service`).
export const service = { key: "complaints", href: "#complaint-new" };

const $ = (id) => document.getElementById(id);
const state = {
  point: null, // {lat, lon} of the pin
  map: null,
  codeChosen: false, // the citizen picked the type: suggestions no longer change it
  suggestTimer: 0,
  suggestAbort: null,
  checkTimer: 0,
  checked: null, // the form state whose duplicates are on show
  offered: [],
  mine: new Set(),
  notifications: [],
};

// Which section of the citizen app a location hash belongs to (citizen.js's router asks).
export function viewFor(hash) {
  return hash === "#complaint-new" || hash === "#complaints" || hash.startsWith("#complaints/") ? "complaints" : null;
}

// A complaint error's text in the page's language: Open311 error lists carry
// "English / 한국어" in one description; other errors are ApiErrors already localised.
export function messageOf(error) {
  const body = error?.body;
  if (Array.isArray(body) && typeof body[0]?.description === "string") {
    const text = body[0].description;
    const at = text.indexOf(" / ");
    if (at < 0) return text;
    return lang() === "ko" ? text.slice(at + 3) : text.slice(0, at);
  }
  return error?.message || String(error);
}

const seoul = (value) => (value ? formatDateTime(value, SEOUL) : "–");
const serviceName = (code) => t(`complaints.service.${code}`);
const statusName = (status) => t(`complaints.status.${status}`);

function el(tag, { text, className, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function statusBadge(status) {
  return el("span", { text: statusName(status), className: `status status-${status}` });
}

// --- the form --------------------------------------------------------------------------

function fillCodes() {
  const select = $("complaint-code");
  const value = select.value;
  select.replaceChildren(
    el("option", { text: t("complaints.code.choose"), attrs: { value: "" } }),
    ...CODES.map((code) => el("option", { text: serviceName(code), attrs: { value: code } })),
  );
  select.value = value;
}

function saveDraft() {
  const draft = {
    text: $("complaint-text").value,
    code: $("complaint-code").value,
    codeChosen: state.codeChosen,
    address: $("complaint-address").value,
    point: state.point,
  };
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
}

function restoreDraft() {
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
  } catch {
    draft = null;
  }
  if (!draft) return;
  $("complaint-text").value = draft.text || "";
  if (CODES.includes(draft.code)) $("complaint-code").value = draft.code;
  state.codeChosen = Boolean(draft.codeChosen);
  $("complaint-address").value = draft.address || "";
  if (draft.point && Number.isFinite(draft.point.lat) && Number.isFinite(draft.point.lon)) state.point = draft.point;
}

function showWhere() {
  const where = $("complaint-where");
  where.textContent = state.point
    ? t("complaints.where.pin", {
        lat: formatNumber(state.point.lat, { minimumFractionDigits: 5, maximumFractionDigits: 5 }),
        lon: formatNumber(state.point.lon, { minimumFractionDigits: 5, maximumFractionDigits: 5 }),
      })
    : t("complaints.where.none");
}

function pinned(point) {
  state.point = point;
  $("complaint-where-error").textContent = "";
  showWhere();
  saveDraft();
  scheduleCheck();
}

async function ensureMap() {
  if (!state.map) {
    state.map = new PinMap($("complaint-map"), { onPin: pinned });
    await state.map.ready;
    if (state.point) state.map.place(state.point, { centre: true });
  }
  state.map.resize();
}

// The device's position for the pin (position.js: used at once when the citizen already
// allowed it; otherwise only asked for when they press "my location").
function locate(ask) {
  whereAmI(ask, {
    found: async (point) => {
      await ensureMap();
      state.map.place(point, { centre: true });
    },
    failed: () => {
      $("complaint-where-error").textContent = t("complaints.where.nolocation");
    },
    maximumAge: 60000,
    skip: () => Boolean(state.point),
  });
}

// The classifier's suggestion while the citizen types (POST /complaints/suggest).
function scheduleSuggest() {
  clearTimeout(state.suggestTimer);
  state.suggestTimer = setTimeout(suggestCode, SUGGEST_AFTER_MS);
}

async function suggestCode() {
  const text = $("complaint-text").value.trim();
  const out = $("complaint-suggestion");
  state.suggestAbort?.abort();
  if (text.length < 4) {
    out.textContent = "";
    return;
  }
  const abort = new AbortController();
  state.suggestAbort = abort;
  try {
    const response = await fetch("/complaints/suggest", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ description: text }),
      signal: abort.signal,
      credentials: "same-origin",
    });
    const body = await response.json();
    if (!response.ok) throw new ApiError(response.status, body);
    const percent = formatNumber(body.confidence, { style: "percent", maximumFractionDigits: 0 });
    const sure = body.confidence >= SUGGEST_MIN_CONFIDENCE;
    out.dataset.code = body.service_code;
    out.textContent = t(sure ? "complaints.suggested" : "complaints.suggested.unsure", {
      name: serviceName(body.service_code),
      confidence: percent,
    });
    if (sure && !state.codeChosen && $("complaint-code").value !== body.service_code) {
      $("complaint-code").value = body.service_code;
      saveDraft();
      scheduleCheck();
    }
  } catch (error) {
    if (error.name === "AbortError") return;
    delete out.dataset.code;
    out.textContent = t("complaints.suggest.failed", { reason: messageOf(error) });
  }
}

// Nearby open complaints of the same type and similar text (POST /complaints/duplicates):
// the same rule the POST applies, asked before filing so a +1 can be offered.
function formKey() {
  const p = state.point;
  return JSON.stringify([$("complaint-code").value, p && p.lat.toFixed(6), p && p.lon.toFixed(6), $("complaint-text").value.trim()]);
}

function scheduleCheck() {
  clearTimeout(state.checkTimer);
  state.checkTimer = setTimeout(checkDuplicates, CHECK_AFTER_MS);
}

async function checkDuplicates() {
  const code = $("complaint-code").value;
  if (!code || !state.point) {
    showDuplicates([]);
    return [];
  }
  const key = formKey();
  try {
    const found = await post("/complaints/duplicates", {
      json: {
        service_code: code,
        lat: String(state.point.lat),
        long: String(state.point.lon),
        description: $("complaint-text").value.trim(),
      },
    });
    if (key !== formKey()) return null; // the form changed meanwhile: a newer check follows
    state.checked = key;
    $("complaint-where-error").textContent = "";
    showDuplicates(found);
    return found;
  } catch (error) {
    state.checked = null;
    showDuplicates([]);
    if (error.status === 400) $("complaint-where-error").textContent = messageOf(error);
    return null;
  }
}

function showDuplicates(found) {
  state.offered = found;
  const box = $("complaint-duplicates");
  box.hidden = !found.length;
  $("complaint-duplicate-list").replaceChildren(
    ...found.map((dup) => {
      const join = el("button", { text: t("complaints.duplicates.join"), className: "primary", attrs: { type: "button" } });
      join.addEventListener("click", () => joinInstead(dup.service_request_id));
      return el(
        "li",
        { className: "duplicate", attrs: { id: `duplicate-${dup.service_request_id}` } },
        el("p", { className: "item-head" },
          el("strong", { text: t("complaints.number", { id: dup.service_request_id }) }), " ",
          statusBadge(dup.workflow_status)),
        el("p", { text: dup.description || t("complaints.nodescription"), className: "quote" }),
        el("p", {
          className: "hint",
          text: t("complaints.duplicates.detail", {
            metres: formatNumber(dup.distance_m),
            date: seoul(dup.requested_datetime),
            count: formatNumber(dup.supporters + 1),
          }),
        }),
        join,
      );
    }),
  );
}

function showLoginPrompt() {
  const anonymous = !auth.current();
  $("complaint-login").hidden = !anonymous;
  return anonymous;
}

function needLogin() {
  sessionStorage.setItem(RESUME_KEY, "1");
  saveDraft();
  $("complaint-login").hidden = false;
  $("complaint-error").textContent = t("complaints.login.needed");
  $("complaint-login-link").focus();
}

function photoProblem(file) {
  if (!PHOTO_TYPES.includes(file.type)) return t("complaints.photo.type", { type: file.type || file.name });
  if (file.size > MAX_PHOTO_BYTES) {
    return t("complaints.photo.size", { size: formatNumber(file.size / 1048576, { maximumFractionDigits: 1 }) });
  }
  if (!file.size) return t("complaints.photo.empty");
  return null;
}

function checkPhoto(input, errorBox) {
  const file = input.files?.[0];
  const problem = file ? photoProblem(file) : null;
  errorBox.textContent = problem || "";
  return problem;
}

function csrfHeader() {
  const match = document.cookie.match(/(?:^|;\s*)cityos_csrf=([^;]+)/);
  return match ? { "X-CSRF-Token": decodeURIComponent(match[1]) } : {};
}

// POST /open311/v2/media/{id}: the raw JPEG/PNG body; the server strips EXIF (GPS) from it.
async function uploadPhoto(id, file) {
  let response;
  try {
    response = await fetch(`/open311/v2/media/${encodeURIComponent(id)}`, {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "Content-Type": file.type, ...csrfHeader() },
    });
  } catch {
    throw new ApiError(0, { detail: t("error.network"), detail_ko: t("error.network") });
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function resetForm() {
  $("complaint-form").reset();
  state.codeChosen = false;
  state.point = null;
  state.checked = null;
  state.map?.clear();
  $("complaint-suggestion").textContent = "";
  showDuplicates([]);
  showWhere();
  sessionStorage.removeItem(DRAFT_KEY);
}

function done(messageKey, params, id) {
  resetForm();
  const box = $("complaint-done");
  box.replaceChildren(
    el("p", { text: t(messageKey, params) }),
    el("a", { text: t("complaints.done.open"), attrs: { href: `#complaints/${id}` } }),
  );
  box.hidden = false;
  box.focus();
}

async function joinInstead(id) {
  $("complaint-error").textContent = "";
  if (!auth.current()) {
    needLogin();
    return;
  }
  try {
    const [answer] = await post(`/open311/v2/requests/${encodeURIComponent(id)}/join.json`, { form: {} });
    done("complaints.done.joined", { id, count: formatNumber(answer.supporters + 1) }, id);
  } catch (error) {
    $("complaint-error").textContent = messageOf(error);
  }
}

async function submit(event) {
  event.preventDefault();
  const error = $("complaint-error");
  error.textContent = "";
  $("complaint-done").hidden = true;
  const text = $("complaint-text").value.trim();
  const code = $("complaint-code").value;
  if (!text) {
    error.textContent = t("complaints.error.text");
    $("complaint-text").focus();
    return;
  }
  if (!code) {
    error.textContent = t("complaints.error.code");
    $("complaint-code").focus();
    return;
  }
  if (!state.point) {
    error.textContent = t("complaints.error.where");
    $("complaint-pin-centre").focus();
    return;
  }
  const photo = $("complaint-photo").files?.[0] || null;
  if (photo && checkPhoto($("complaint-photo"), $("complaint-photo-error"))) {
    error.textContent = $("complaint-photo-error").textContent;
    $("complaint-photo").focus();
    return;
  }
  if (!(await auth.refreshMe())) {
    needLogin();
    return;
  }
  const button = $("complaint-submit");
  button.disabled = true;
  try {
    // Offer a +1 before filing: a duplicate shown once and passed over is filed anyway.
    if (state.checked !== formKey()) {
      const found = await checkDuplicates();
      if (found?.length) {
        error.textContent = t("complaints.duplicates.first");
        $("complaint-duplicates-heading").focus();
        return;
      }
    }
    const form = {
      service_code: code,
      lat: String(state.point.lat),
      long: String(state.point.lon),
      description: text,
      duplicate_action: state.offered.length ? "new" : "ask",
    };
    const address = $("complaint-address").value.trim();
    if (address) form.address_string = address;
    let answer;
    try {
      [answer] = await post("/open311/v2/requests.json", { form });
    } catch (failure) {
      if (failure.status === 409) {
        await checkDuplicates();
        error.textContent = t("complaints.duplicates.first");
      } else {
        error.textContent = messageOf(failure);
      }
      return;
    }
    const id = answer.service_request_id;
    let photoFailure = null;
    if (photo) {
      try {
        await uploadPhoto(id, photo);
      } catch (failure) {
        photoFailure = messageOf(failure);
      }
    }
    const [filed] = await get(`/open311/v2/requests/${encodeURIComponent(id)}.json`);
    const params = { id, department: filed.agency_responsible, due: seoul(filed.expected_datetime) };
    done("complaints.done.filed", params, id);
    if (photoFailure) {
      $("complaint-done").prepend(el("p", { className: "error", text: t("complaints.photo.failed", { reason: photoFailure }) }));
    }
  } catch (failure) {
    error.textContent = messageOf(failure);
  } finally {
    button.disabled = false;
  }
}

function formEvents() {
  $("complaint-text").addEventListener("input", () => {
    saveDraft();
    scheduleSuggest();
    scheduleCheck();
  });
  $("complaint-code").addEventListener("change", () => {
    state.codeChosen = Boolean($("complaint-code").value);
    saveDraft();
    scheduleCheck();
  });
  $("complaint-address").addEventListener("input", saveDraft);
  $("complaint-photo").addEventListener("change", () => checkPhoto($("complaint-photo"), $("complaint-photo-error")));
  $("complaint-locate").addEventListener("click", () => locate(true));
  $("complaint-pin-centre").addEventListener("click", async () => {
    await ensureMap();
    state.map.place(state.map.centre());
  });
  $("complaint-form").addEventListener("submit", submit);
}

// --- my complaints ---------------------------------------------------------------------

function unreadBadge() {
  const badge = $("complaints-unread");
  const count = state.notifications.filter((n) => !n.read).length;
  badge.hidden = !count;
  badge.replaceChildren(
    el("span", { text: formatNumber(count), attrs: { "aria-hidden": "true" } }),
    el("span", { text: t("complaints.unread", { count }), className: "visually-hidden" }),
  );
}

async function loadNotifications() {
  if (!auth.current()) {
    state.notifications = [];
  } else {
    try {
      state.notifications = await get("/complaints/me/notifications");
    } catch {
      state.notifications = [];
    }
  }
  unreadBadge();
  return state.notifications;
}

function notificationItems(list) {
  return list.map((note) => {
    const item = el(
      "li",
      { className: note.read ? "note" : "note unread", attrs: { id: `note-${note.id}` } },
      el("p", { text: lang() === "ko" ? note.message_ko : note.message_en }),
      el("p", { className: "hint" },
        seoul(note.at), " · ",
        el("a", { text: t("complaints.number", { id: note.service_request_id }), attrs: { href: `#complaints/${note.service_request_id}` } })),
    );
    if (!note.read) {
      const button = el("button", { text: t("complaints.notes.read"), attrs: { type: "button" } });
      button.addEventListener("click", async () => {
        try {
          await post(`/complaints/me/notifications/${note.id}/read`, { json: {} });
          note.read = true;
        } catch (error) {
          item.append(el("p", { className: "error", text: messageOf(error), attrs: { role: "alert" } }));
          return;
        }
        item.className = "note";
        button.remove();
        unreadBadge();
      });
      item.append(button);
    }
    return item;
  });
}

async function showList() {
  const list = $("complaints-list");
  const status = $("complaints-list-status");
  if (showLoginPrompt()) {
    list.replaceChildren();
    $("complaint-notes").replaceChildren();
    status.textContent = "";
    return;
  }
  let mine = [];
  try {
    [mine] = await Promise.all([get("/complaints/me/requests?joined=true"), loadNotifications()]);
  } catch (error) {
    status.textContent = messageOf(error);
    return;
  }
  state.mine = new Set(mine.filter((r) => !r.joined).map((r) => r.service_request_id));
  const notes = state.notifications.slice(0, 20);
  $("complaint-notes").replaceChildren(...notificationItems(notes));
  $("complaint-notes-empty").hidden = Boolean(notes.length);
  const joined = mine.filter((r) => r.joined).length;
  status.textContent = mine.length
    ? t("complaints.list.count", { count: formatNumber(mine.length - joined), joined: formatNumber(joined) })
    : t("complaints.list.empty");
  list.replaceChildren(
    ...mine.map((r) =>
      el(
        "li",
        { attrs: { id: `complaint-${r.service_request_id}` } },
        el("a", { attrs: { href: `#complaints/${r.service_request_id}` } },
          el("strong", { text: `${t("complaints.number", { id: r.service_request_id })} · ${serviceName(r.service_code)}` })),
        " ",
        statusBadge(r.workflow_status),
        ...(r.joined ? [" ", el("span", { text: t("complaints.joined"), className: "badge" })] : []),
        el("p", { className: "hint", text: seoul(r.requested_datetime) }),
        el("p", { className: "quote", text: r.description || t("complaints.nodescription") }),
      ),
    ),
  );
}

function row(term, value) {
  return [el("dt", { text: term }), el("dd", {}, value)];
}

async function showDetail(id) {
  const box = $("complaint-detail");
  box.removeAttribute("aria-labelledby");
  box.replaceChildren(el("p", { className: "hint", text: t("complaints.loading"), attrs: { role: "status" } }));
  let doc;
  try {
    [doc] = await get(`/open311/v2/requests/${encodeURIComponent(id)}.json`);
  } catch (error) {
    box.replaceChildren(el("p", { className: "error", text: messageOf(error), attrs: { role: "alert" } }));
    return;
  }
  let events = [];
  if (auth.current()) {
    let mine;
    [events, mine] = await Promise.all([
      get(`/complaints/requests/${encodeURIComponent(id)}/events`).catch(() => []), // a supporter may not see it
      get("/complaints/me/requests").catch(() => []),
      loadNotifications(),
    ]);
    state.mine = new Set(mine.map((r) => r.service_request_id));
  }
  const heading = el("h3", { text: `${t("complaints.number", { id: doc.service_request_id })} · ${serviceName(doc.service_code)}`, attrs: { id: "complaint-detail-heading", tabindex: "-1" } });
  const facts = el("dl", { className: "facts" },
    ...row(t("complaints.field.status"), statusBadge(doc.workflow_status)),
    ...row(t("complaints.field.filed"), seoul(doc.requested_datetime)),
    ...row(t("complaints.field.due"), seoul(doc.expected_datetime)),
    ...row(t("complaints.field.department"), doc.agency_responsible || "–"),
    ...row(t("complaints.field.supporters"), formatNumber(doc.supporters + 1)),
    ...row(t("complaints.field.where"), doc.address || (doc.lat != null ? `${doc.lat.toFixed(5)}, ${doc.long.toFixed(5)}` : "–")),
  );
  const parts = [
    heading,
    facts,
    el("h4", { text: t("complaints.field.description") }),
    el("p", { className: "quote", text: doc.description || t("complaints.nodescription"), attrs: { id: "complaint-detail-description" } }),
  ];
  if (doc.status_notes) {
    parts.push(el("h4", { text: t("complaints.field.notes") }), el("p", { text: doc.status_notes, attrs: { id: "complaint-detail-notes" } }));
  }
  if (doc.media_url) {
    parts.push(el("img", { className: "photo", attrs: { src: doc.media_url, alt: t("complaints.photo.alt", { id: doc.service_request_id }), id: "complaint-detail-photo" } }));
  }
  if (events.length) {
    parts.push(
      el("h4", { text: t("complaints.timeline") }),
      el("ol", { className: "timeline", attrs: { id: "complaint-timeline" } },
        ...events.map((e) =>
          el("li", {}, statusBadge(e.to_status), " ", el("span", { className: "hint", text: seoul(e.at) }),
            ...(e.note ? [el("p", { text: e.note })] : [])),
        )),
    );
  }
  const notes = state.notifications.filter((n) => n.service_request_id === doc.service_request_id);
  if (notes.length) {
    parts.push(el("h4", { text: t("complaints.notes") }), el("ul", { className: "items notes" }, ...notificationItems(notes)));
  }
  if (auth.current() && state.mine.has(doc.service_request_id)) parts.push(photoForm(doc.service_request_id));
  parts.push(el("p", {}, el("a", { text: t("complaints.back"), attrs: { href: "#complaints" } })));
  box.replaceChildren(...parts);
  box.setAttribute("aria-labelledby", "complaint-detail-heading");
}

// The reporter may add (or replace) the photo later, e.g. after a refused upload.
function photoForm(id) {
  const input = el("input", { attrs: { type: "file", id: "detail-photo", accept: PHOTO_TYPES.join(",") } });
  const error = el("p", { className: "error", attrs: { role: "alert", id: "detail-photo-error" } });
  const button = el("button", { text: t("complaints.photo.upload"), attrs: { type: "submit" } });
  const form = el("form", { className: "form" },
    el("label", { text: t("complaints.photo.add"), attrs: { for: "detail-photo" } }), input, error, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files?.[0];
    if (!file) {
      error.textContent = t("complaints.photo.none");
      return;
    }
    if (checkPhoto(input, error)) return;
    try {
      await uploadPhoto(id, file);
    } catch (failure) {
      error.textContent = messageOf(failure);
      return;
    }
    showDetail(id);
  });
  return form;
}

// --- routing -----------------------------------------------------------------------------

function mode() {
  const hash = location.hash;
  if (hash === "#complaint-new") return "new";
  if (hash === "#complaints") return "list";
  return hash.startsWith("#complaints/") ? "detail" : null;
}

async function show() {
  const current = mode();
  if (!current) return;
  $("complaint-new-panel").hidden = current !== "new";
  $("complaints-list-panel").hidden = current !== "list";
  $("complaint-detail").hidden = current !== "detail";
  for (const [id, name] of [["complaints-to-new", "new"], ["complaints-to-list", "list"]]) {
    if (name === current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  showLoginPrompt();
  if (current === "new") {
    await ensureMap();
    if (!state.point) locate(false);
  } else if (current === "list") {
    await showList();
  } else {
    await showDetail(decodeURIComponent(location.hash.slice("#complaints/".length)));
  }
}

function authChanged(me) {
  showLoginPrompt();
  if (me && sessionStorage.getItem(RESUME_KEY)) {
    // Back to the complaint the citizen was writing when asked to log in.
    sessionStorage.removeItem(RESUME_KEY);
    $("complaint-error").textContent = "";
    location.hash = "#complaint-new";
  }
  loadNotifications();
  if (mode() && mode() !== "new") show();
}

export function init() {
  fillCodes();
  restoreDraft();
  showWhere();
  formEvents();
  auth.onChange(authChanged);
  i18n.onChange(() => {
    fillCodes();
    showWhere();
    unreadBadge();
    if (mode() && mode() !== "new") show();
  });
  window.addEventListener("hashchange", show);
  show();
}
