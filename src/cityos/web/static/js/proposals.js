// Citizen proposals (#proposals, #proposals/<id>, #proposals/new): lists by status and a map,
// a proposal's page (images, place, supports against the threshold, official responses,
// comments with reporting) and the form for a new one (map pin, images checked before upload).
import { del, get, patch, post } from "./api.js";
import * as auth from "./auth.js";
import { formatNumber, lang, t } from "./i18n.js";
import { el, problemNote, residentProblem, seoulTime } from "./civic.js";
import { entityFeatures } from "./map.js";

const L = globalThis.L;
const $ = (id) => document.getElementById(id);
const SEJONG = [
  [36.42, 127.13],
  [36.74, 127.41],
];
// The server's image limits (cityos/governance/proposals/images.py and service.py), checked
// here first so a wrong file is refused before it is sent; the server checks again.
export const IMAGE_TYPES = ["image/jpeg", "image/png"];
export const IMAGE_MAX_BYTES = 5242880;
export const IMAGE_MAX_COUNT = 5;
const FILTERS = {
  open: ["published"],
  review: ["under_review"],
  answered: ["accepted", "rejected", "implemented"],
};
const state = { filter: "open", maps: [], draft: null };

// ---- the map ----

let districtFeatures = null;

// Sejong's eup/myeon/dong outlines from the hub (the dashboard's `districts` layer), once.
function districts() {
  districtFeatures ??= get("/web/layers")
    .then((defs) => entityFeatures(defs.find((d) => d.id === "districts").query, ""))
    .catch(() => []);
  return districtFeatures;
}

function dropMaps() {
  for (const map of state.maps) map.remove();
  state.maps = [];
}

// A Leaflet map of Sejong (canvas, no tiles) with the district outlines.
function cityMap(node) {
  const map = L.map(node, { preferCanvas: true, zoomSnap: 0.25, minZoom: 9, maxZoom: 18 });
  map.fitBounds(SEJONG);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(t("proposals.map.attribution"));
  districts().then((features) => {
    if (!map.getContainer().isConnected) return;
    L.geoJSON(features, { interactive: false, style: { color: "#6b7280", weight: 1, fillOpacity: 0.04 } }).addTo(map);
  });
  state.maps.push(map);
  return map;
}

function pin(map, lat, lon, color = "#c2410c") {
  return L.circleMarker([lat, lon], { radius: 9, color, weight: 3, fillColor: color, fillOpacity: 0.6 }).addTo(map);
}

// ---- lists ----

function statusText(status) {
  return t(`proposals.status.${status}`);
}

function supportLine(p) {
  return t("proposals.supports", { count: formatNumber(p.supports), threshold: formatNumber(p.threshold) });
}

function proposalItem(p) {
  return el(
    "li",
    { class: "card proposal-item", "data-proposal": p.id },
    el("h3", {}, el("a", { href: `#proposals/${p.id}`, text: p.title })),
    el("p", { class: "hint", text: `${statusText(p.status)} · ${lang() === "ko" ? p.zone.name_ko : p.zone.name_en} · ${seoulTime(p.created_at)}` }),
    el("progress", { max: p.threshold, value: Math.min(p.supports, p.threshold), "aria-label": supportLine(p) }),
    el("p", { class: "hint", text: supportLine(p) }),
  );
}

async function list(body) {
  const filters = el(
    "div",
    { class: "row filters", role: "group", "aria-label": t("proposals.filter") },
    Object.keys(FILTERS).map((key) =>
      el("button", {
        type: "button",
        id: `proposals-filter-${key}`,
        "aria-pressed": String(key === state.filter),
        text: t(`proposals.filter.${key}`),
        on: {
          click: () => {
            state.filter = key;
            show("#proposals");
          },
        },
      }),
    ),
  );
  const items = el("div", { id: "proposals-list", "aria-live": "polite" }, el("p", { class: "hint", text: t("civic.loading") }));
  const mapNode = el("div", { class: "civic-map", id: "proposals-map", role: "region", "aria-label": t("proposals.map") });
  body.replaceChildren(
    el("p", { class: "row" }, el("a", { class: "button primary", href: "#proposals/new", id: "proposals-new", text: t("proposals.new") })),
    filters,
    items,
    el("h3", { text: t("proposals.map") }),
    el("p", { class: "hint", text: t("proposals.map.hint") }),
    mapNode,
  );
  const map = cityMap(mapNode);
  const statuses = FILTERS[state.filter];
  try {
    const pages = await Promise.all(statuses.map((s) => get(`/api/v1/proposals?status=${s}`)));
    const found = pages.flatMap((page) => page.items).sort((a, b) => b.created_at.localeCompare(a.created_at));
    items.replaceChildren(
      found.length ? el("ul", { class: "plain" }, found.map(proposalItem)) : el("p", { class: "hint", text: t("proposals.none") }),
    );
    const geo = await Promise.all(statuses.map((s) => get(`/api/v1/proposals/map?status=${s}`)));
    for (const feature of geo.flatMap((g) => g.features)) {
      const [lon, lat] = feature.geometry.coordinates;
      const marker = pin(map, lat, lon);
      const link = el("a", { href: `#proposals/${feature.id}`, text: feature.properties.title });
      marker.bindPopup(link);
    }
  } catch (error) {
    items.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
  }
}

// ---- one proposal ----

function supportSection(p, refresh) {
  const error = el("p", { class: "error", role: "alert", id: "support-error" });
  const section = el(
    "section",
    { class: "card", "aria-labelledby": "support-heading" },
    el("h4", { id: "support-heading", text: t("proposals.support") }),
    el("progress", { id: "support-progress", max: p.threshold, value: Math.min(p.supports, p.threshold), "aria-labelledby": "support-count" }),
    el("p", { id: "support-count", text: supportLine(p) }),
    el("p", { class: "hint", text: t("proposals.threshold.hint", { threshold: formatNumber(p.threshold) }) }),
  );
  const open = ["published", "under_review"].includes(p.status);
  if (!open) {
    section.append(el("p", { class: "hint", id: "support-closed", text: t("proposals.support.closed") }));
    return section;
  }
  residentProblem().then((problem) => {
    if (problem) {
      section.append(problemNote(problem === "civic.need.resident" ? "proposals.need.resident" : problem, "support-problem"));
      return;
    }
    const mine = Boolean(p.supported_by_me);
    section.append(
      el("button", {
        type: "button",
        id: "support",
        class: mine ? "" : "primary",
        "aria-pressed": String(mine),
        text: t(mine ? "proposals.support.withdraw" : "proposals.support.add"),
        on: {
          click: async (event) => {
            event.target.disabled = true;
            error.textContent = "";
            try {
              const url = `/api/v1/proposals/${p.id}/supports`;
              refresh(await (mine ? del(url) : post(url)), t(mine ? "proposals.support.withdrawn" : "proposals.support.done"));
            } catch (failure) {
              error.textContent = failure.message;
              event.target.disabled = false;
            }
          },
        },
      }),
      error,
    );
  });
  return section;
}

function responsesSection(p) {
  const official = p.responses;
  return el(
    "section",
    { class: "card", "aria-labelledby": "responses-heading" },
    el("h4", { id: "responses-heading", text: t("proposals.responses") }),
    official.length
      ? el(
          "ol",
          { class: "plain", id: "responses" },
          official.map((r) =>
            el(
              "li",
              { class: "response" },
              el("p", { class: "hint", text: `${statusText(r.status_from)} → ${statusText(r.status_to)} · ${r.department || t("proposals.response.system")} · ${seoulTime(r.created_at)}` }),
              el("p", { class: "prose", text: lang() === "ko" ? r.message_ko : r.message_en }),
            ),
          ),
        )
      : el("p", { class: "hint", id: "responses", text: t("proposals.responses.none") }),
  );
}

function reportForm(comment, done) {
  const error = el("p", { class: "error", role: "alert" });
  const id = `report-${comment.id}`;
  const form = el(
    "form",
    { class: "form report-form", novalidate: true },
    el("label", { for: id, text: t("proposals.report.reason") }),
    el("input", { id, name: "reason", maxlength: "500", required: true }),
    error,
    el("button", { type: "submit", text: t("proposals.report.send") }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.reason.value.trim();
    if (reason.length < 3) {
      error.textContent = t("proposals.report.short");
      return;
    }
    try {
      const answer = await post(`/api/v1/proposals/comments/${comment.id}/reports`, { json: { reason } });
      done(lang() === "ko" ? answer.message_ko : answer.message);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return form;
}

function commentItem(comment) {
  const item = el("li", { class: "comment", "data-comment": comment.id });
  const meta = [seoulTime(comment.created_at)];
  if (comment.by_proposer) meta.unshift(t("proposals.comment.proposer"));
  if (comment.by_me) meta.unshift(t("proposals.comment.mine"));
  if (comment.hidden) {
    item.classList.add("hidden-comment");
    item.append(el("p", { class: "hint", text: t("proposals.comment.hidden", { reason: comment.hidden_reason || "" }) }));
  } else {
    item.append(el("p", { class: "prose comment-body", text: comment.body }));
  }
  item.append(el("p", { class: "hint", text: meta.join(" · ") }));
  if (auth.current() && !comment.by_me && !comment.hidden) {
    const status = el("p", { class: "hint", role: "status" });
    const button = el("button", { type: "button", class: "report", text: t("proposals.report") });
    button.addEventListener("click", () => {
      button.hidden = true;
      const form = reportForm(comment, (message) => {
        form.remove();
        status.textContent = message;
      });
      item.insertBefore(form, status);
      form.reason.focus();
    });
    item.append(button, status);
  }
  return item;
}

async function commentsSection(p) {
  const section = el("section", { class: "card", "aria-labelledby": "comments-heading" });
  let found = [];
  try {
    found = await get(`/api/v1/proposals/${p.id}/comments`);
  } catch (error) {
    section.append(el("p", { class: "error", role: "alert", text: error.message }));
  }
  const listEl = el("ol", { class: "plain", id: "comments" }, found.map(commentItem));
  section.prepend(el("h4", { id: "comments-heading", text: t("proposals.comments", { count: formatNumber(found.length) }) }));
  section.append(found.length ? listEl : el("p", { class: "hint", id: "comments-none", text: t("proposals.comments.none") }));
  if (!auth.current()) {
    section.append(problemNote("civic.need.login", "comment-problem"));
    return section;
  }
  if (p.status === "draft") return section;
  const error = el("p", { class: "error", role: "alert", id: "comment-error" });
  const form = el(
    "form",
    { class: "form", id: "comment-form", novalidate: true },
    el("label", { for: "comment-body", text: t("proposals.comment.label") }),
    el("textarea", { id: "comment-body", name: "body", rows: "3", maxlength: "2000", required: true }),
    error,
    el("button", { type: "submit", class: "primary", text: t("proposals.comment.send") }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const text = form.body.value.trim();
    if (!text) {
      error.textContent = t("proposals.comment.empty");
      return;
    }
    try {
      await post(`/api/v1/proposals/${p.id}/comments`, { json: { body: text } });
      show(`#proposals/${p.id}`, { focus: "comments-heading" });
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  section.append(form);
  return section;
}

async function detail(body, id, { notice = null, focus = null } = {}) {
  let p;
  try {
    p = await get(`/api/v1/proposals/${encodeURIComponent(id)}`);
  } catch (error) {
    body.replaceChildren(el("p", {}, el("a", { href: "#proposals", text: t("proposals.back") })), el("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  const [lon, lat] = p.location.coordinates;
  const mapNode = el("div", { class: "civic-map small", id: "proposal-map", role: "region", "aria-label": t("proposals.place", { zone: lang() === "ko" ? p.zone.name_ko : p.zone.name_en, lat: lat.toFixed(5), lon: lon.toFixed(5) }) });
  const refresh = (updated, message) => detail(body, updated.id, { notice: message, focus: "support-heading" });
  const article = el(
    "article",
    { class: "proposal", id: "proposal", "data-proposal": p.id, "aria-labelledby": "proposal-title" },
    el("h3", { id: "proposal-title", text: p.title }),
    el("p", { class: "row" }, el("span", { class: `badge status-${p.status}`, id: "proposal-status", text: statusText(p.status) }), el("span", { class: "hint", text: `${lang() === "ko" ? p.zone.name_ko : p.zone.name_en} · ${seoulTime(p.created_at)}` })),
    notice ? el("p", { class: "notice ok", role: "status", id: "proposal-notice", text: notice }) : null,
    el("p", { class: "prose", id: "proposal-description", text: p.description }),
    p.images.length
      ? el("div", { class: "gallery", id: "proposal-images" }, p.images.map((src, i) => el("img", { src, alt: t("proposals.image.alt", { n: i + 1, title: p.title }), loading: "lazy" })))
      : null,
    el("h4", { text: t("proposals.place.heading") }),
    mapNode,
    el("p", { class: "hint", text: t("proposals.place", { zone: lang() === "ko" ? p.zone.name_ko : p.zone.name_en, lat: lat.toFixed(5), lon: lon.toFixed(5) }) }),
    supportSection(p, refresh),
    responsesSection(p),
  );
  dropMaps();
  body.replaceChildren(el("p", {}, el("a", { href: "#proposals", text: t("proposals.back") })), article);
  const map = cityMap(mapNode);
  map.setView([lat, lon], 14);
  pin(map, lat, lon);
  article.append(await commentsSection(p));
  if (focus) {
    const target = $(focus);
    target?.setAttribute("tabindex", "-1");
    target?.focus();
  }
}

// ---- a new proposal ----

// Why a chosen file cannot be sent (a message), or null: the server's type and size limits.
export function imageProblem(file) {
  if (!IMAGE_TYPES.includes(file.type)) return t("proposals.image.type", { name: file.name });
  if (file.size > IMAGE_MAX_BYTES) {
    return t("proposals.image.size", { name: file.name, size: formatNumber(file.size), max: formatNumber(IMAGE_MAX_BYTES) });
  }
  return null;
}

function imagesProblems(files) {
  const problems = files.map(imageProblem).filter(Boolean);
  if (files.length > IMAGE_MAX_COUNT) problems.push(t("proposals.image.count", { max: IMAGE_MAX_COUNT }));
  return problems;
}

function field(id, key, input, hint) {
  const hintId = hint ? `${id}-hint` : null;
  input.id = id;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return [el("label", { for: id, text: t(key) }), input, hint ? el("p", { class: "hint", id: hintId, text: hint }) : null];
}

function newForm(body) {
  if (!auth.current()) {
    body.replaceChildren(el("p", {}, el("a", { href: "#proposals", text: t("proposals.back") })), problemNote("civic.need.login", "proposal-problem"));
    return;
  }
  state.draft = null; // a fresh form makes a fresh draft
  const error = el("div", { class: "error", role: "alert", id: "proposal-error" });
  const imageList = el("ul", { class: "plain", id: "proposal-image-list" });
  const mapNode = el("div", { class: "civic-map", id: "new-proposal-map", role: "region", "aria-label": t("proposals.form.map") });
  const form = el(
    "form",
    { class: "card form", id: "proposal-form", novalidate: true },
    ...field("proposal-title-input", "proposals.form.title", el("input", { name: "title", maxlength: "200", required: true }), t("proposals.form.title.hint")),
    ...field("proposal-description-input", "proposals.form.description", el("textarea", { name: "description", rows: "6", maxlength: "10000", required: true }), t("proposals.form.description.hint")),
    el(
      "fieldset",
      { class: "place" },
      el("legend", { text: t("proposals.form.place") }),
      el("p", { class: "hint", id: "proposal-place-hint", text: t("proposals.form.place.hint") }),
      mapNode,
      el(
        "div",
        { class: "row coords" },
        el("span", {}, ...field("proposal-lat", "proposals.form.lat", el("input", { name: "lat", type: "number", step: "any", inputmode: "decimal" }))),
        el("span", {}, ...field("proposal-lon", "proposals.form.lon", el("input", { name: "lon", type: "number", step: "any", inputmode: "decimal" }))),
      ),
    ),
    ...field(
      "proposal-images-input",
      "proposals.form.images",
      el("input", { name: "images", type: "file", accept: IMAGE_TYPES.join(","), multiple: true }),
      t("proposals.form.images.hint", { max: IMAGE_MAX_COUNT }),
    ),
    imageList,
    error,
    el("button", { type: "submit", class: "primary", text: t("proposals.form.submit") }),
  );
  dropMaps();
  body.replaceChildren(el("p", {}, el("a", { href: "#proposals", text: t("proposals.back") })), el("h3", { text: t("proposals.new") }), form);
  const map = cityMap(mapNode);
  let marker = null;
  const place = (lat, lon) => {
    marker?.remove();
    marker = Number.isFinite(lat) && Number.isFinite(lon) ? pin(map, lat, lon) : null;
  };
  map.on("click", (event) => {
    form.lat.value = event.latlng.lat.toFixed(6);
    form.lon.value = event.latlng.lng.toFixed(6);
    place(event.latlng.lat, event.latlng.lng);
  });
  for (const input of [form.lat, form.lon]) input.addEventListener("change", () => place(form.lat.valueAsNumber, form.lon.valueAsNumber));
  form.images.addEventListener("change", () => {
    const files = [...form.images.files];
    imageList.replaceChildren(
      ...files.map((file) => {
        const problem = imageProblem(file);
        return el("li", { class: problem ? "error" : "hint", text: problem || `${file.name} (${formatNumber(file.size / 1024, { maximumFractionDigits: 0 })} KB)` });
      }),
    );
    const problems = imagesProblems(files);
    error.textContent = problems.join(" ");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const title = form.title.value.trim();
    const description = form.description.value.trim();
    const lat = form.lat.valueAsNumber;
    const lon = form.lon.valueAsNumber;
    const files = [...form.images.files];
    const problems = [];
    if (title.length < 3) problems.push(t("proposals.form.title.short"));
    if (description.length < 10) problems.push(t("proposals.form.description.short"));
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) problems.push(t("proposals.form.place.missing"));
    problems.push(...imagesProblems(files));
    if (problems.length) {
      error.replaceChildren(...problems.map((text) => el("p", { text })));
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const fields = { title, description, location: { type: "Point", coordinates: [lon, lat] } };
    try {
      // A draft first, then the images, then publish: a refused image leaves an unpublished
      // draft that the next submit of this form completes, never a published half.
      if (state.draft) await patch(`/api/v1/proposals/${state.draft.id}`, { json: fields });
      else state.draft = { id: (await post("/api/v1/proposals", { json: { ...fields, publish: false } })).id, sent: new Set() };
      for (const file of files) {
        const key = `${file.name}|${file.size}|${file.lastModified}`;
        if (state.draft.sent.has(key)) continue;
        try {
          await post(`/api/v1/uploads/proposals/${state.draft.id}/images`, { body: file, headers: { "Content-Type": file.type } });
        } catch (failure) {
          throw new Error(`${file.name}: ${failure.message}`);
        }
        state.draft.sent.add(key);
      }
      const published = await post(`/api/v1/proposals/${state.draft.id}/publish`);
      state.draft = null;
      location.hash = `#proposals/${published.id}`;
    } catch (failure) {
      error.replaceChildren(el("p", { text: failure.message }));
      button.disabled = false;
    }
  });
}

// Show #proposals, #proposals/new or #proposals/<id> in the proposals view.
export function show(hash, options = {}) {
  const body = $("proposals-body");
  const id = decodeURIComponent(hash.split("/")[1] || "");
  dropMaps();
  if (id === "new") return newForm(body);
  if (id) return detail(body, id, options);
  return list(body);
}

// The view was left: free its maps.
export function leave() {
  dropMaps();
}
