// The Sejong map: Leaflet on a canvas renderer, no tiles; every layer comes from the layer
// registry (GET /web/layers) and is drawn from CityOS's own data.
import { get, hubHeaders } from "./api.js";
import { lang } from "./i18n.js";
import { classOf } from "./kpi.js";
import { theme } from "./theme.js";

const L = globalThis.L;
const SEJONG = [
  [36.42, 127.13],
  [36.74, 127.41],
];
const PAGE = 1000;
const MOVE_MS = 800;

export function labelOf(props, fallback = "") {
  const display = props?.displayName;
  if (display && typeof display === "object") {
    const map = display.languageMap || display.value || display;
    if (map[lang()]) return map[lang()];
  }
  const key = lang() === "ko" ? "name_ko" : "name_en";
  if (props?.[key]) return props[key];
  const name = props?.name;
  if (name && typeof name === "object") return name.value ?? fallback;
  return name || fallback;
}

// The colour of a class (a PM2.5 grade, a traffic or parking class): a CSS custom property of
// the theme, so the map and the legend use the same colour.
export function classColor(key) {
  if (!key) return null;
  return getComputedStyle(document.documentElement).getPropertyValue(`--${key}`).trim() || null;
}

function styleOf(def, feature) {
  const s = def.style;
  let color = theme() === "dark" ? s.color_dark : s.color_light;
  if (def.extra?.color_by && feature) color = classColor(classOf(def.extra.color_by, feature)) || color;
  return {
    color,
    fillColor: color,
    weight: s.weight,
    opacity: 0.9,
    fillOpacity: s.fill_opacity,
    dashArray: s.dash || null,
  };
}

// Whether a key-values feature belongs to a layer (its `match` rule: several layers may share
// one entity type, e.g. buses, BRT and shuttles are all Vehicle).
export function matches(def, feature) {
  const rule = def.match;
  if (!rule) return true;
  const found = rule.values.includes(feature.properties?.[rule.attr]);
  return rule.negate ? !found : found;
}

// Every entity of a layer's query as key-values GeoJSON features with a geometry, page by page.
export async function entityFeatures(query, tenant) {
  const { type } = query;
  const headers = hubHeaders(query, tenant);
  const features = [];
  for (let offset = 0; ; offset += PAGE) {
    const url = `/ngsi-ld/v1/entities?type=${encodeURIComponent(type)}&options=keyValues&limit=${PAGE}&offset=${offset}`;
    const page = await get(url, { accept: "application/geo+json", headers });
    features.push(...page.features.filter((f) => f.geometry));
    if (page.features.length < PAGE) return features;
  }
}

// The twin bundle's road links by id (roads and the BRT ring); `basemap(name)` returns a
// basemap's GeoJSON (by default GET /web/basemap/<name>).
export async function linkIndex(basemap = (name) => get(`/web/basemap/${name}`)) {
  const parts = await Promise.all([basemap("roads"), basemap("brt")]);
  const index = new Map();
  for (const part of parts) for (const f of part.features) index.set(f.properties.id, f);
  return index;
}

// A point entity that names a road link (extra.draw_as = "road-link") is drawn as the link;
// the link's properties (free-flow speed) go with it as feature.link.
export function linkedFeature(def, feature, index) {
  if (def.extra?.draw_as !== "road-link" || !index) return feature;
  const ref = feature.properties?.[def.extra.ref || "refRoadSegment"];
  const link = typeof ref === "string" ? index.get(ref.slice(ref.lastIndexOf(":") + 1)) : null;
  return link ? { ...feature, geometry: link.geometry, link: link.properties } : feature;
}

// A layer's features as the map draws them (its `match` rule applied, counters as their link),
// without a map: the citizen home's cards read the dashboard's tiles this way.
export async function layerFeatures(def, { tenant = "", index = null } = {}) {
  const features = (await entityFeatures(def.query, tenant)).filter((f) => matches(def, f));
  return features.map((f) => linkedFeature(def, f, index));
}

export class CityMap {
  constructor(element, { onSelect, onLayersChanged }) {
    this.onSelect = onSelect;
    this.onLayersChanged = onLayersChanged;
    this.renderer = L.canvas({ padding: 0.3 });
    this.map = L.map(element, {
      preferCanvas: true,
      renderer: this.renderer,
      zoomSnap: 0.25,
      minZoom: 9,
      maxZoom: 18,
      keyboard: true,
    });
    this.map.fitBounds(SEJONG);
    // Live layers draw on a canvas of their own, above the base map: moving 1,000 markers
    // repaints that canvas only, not the district polygons and roads under it.
    this.map.createPane("live").style.zIndex = 450;
    this.liveRenderer = L.canvas({ padding: 0.3, pane: "live" });
    this.layers = new Map();
    this.moving = new Map();
    this.tenant = "";
  }

  setAttribution(text) {
    this.map.attributionControl.setPrefix(false);
    if (this._attribution) this.map.attributionControl.removeAttribution(this._attribution);
    this._attribution = text;
    this.map.attributionControl.addAttribution(text);
  }

  // Basemap GeoJSON, fetched once per page (the road-link layers reuse the roads' geometry).
  basemap(name) {
    this._basemaps ??= new Map();
    if (!this._basemaps.has(name)) this._basemaps.set(name, get(`/web/basemap/${name}`));
    return this._basemaps.get(name);
  }

  // The twin bundle's road links by id, for layers drawn as links (fetched once per map).
  links() {
    this._links ??= linkIndex((name) => this.basemap(name));
    return this._links;
  }

  asLink(def, feature, index) {
    return linkedFeature(def, feature, index);
  }

  async load() {
    const defs = await get("/web/layers");
    this._entities = new Map(); // one hub read per (type, @context) shared by its layers
    this.linkIndex = defs.some((d) => d.extra?.draw_as === "road-link") ? await this.links().catch(() => null) : null;
    await Promise.all(defs.map((def) => this.loadLayer(def)));
    this.stack();
    this.onLayersChanged?.();
  }

  async loadLayer(def) {
    let features = [];
    try {
      if (def.source === "basemap") {
        features = (await this.basemap(def.query.name)).features;
      } else {
        const key = `${def.query.type}|${def.query.context || ""}`;
        if (!this._entities.has(key)) this._entities.set(key, entityFeatures(def.query, this.tenant));
        features = (await this._entities.get(key)).filter((f) => matches(def, f));
        features = features.map((f) => this.asLink(def, f, this.linkIndex));
      }
    } catch (error) {
      console.warn(`layer ${def.id}:`, error.message);
    }
    const previous = this.layers.get(def.id);
    if (previous) previous.group.remove();
    const entry = { def, group: L.layerGroup(), items: new Map(), visible: def.visible };
    this.layers.set(def.id, entry);
    for (const feature of features) this.addFeature(entry, feature);
  }

  // The canvas draws (and hit-tests) in the order layers were added: re-add the visible ones
  // in registry order, so points stay above roads and roads above areas.
  stack() {
    for (const entry of this.layers.values()) entry.group.remove();
    const ordered = [...this.layers.values()].sort((a, b) => a.def.order - b.def.order);
    for (const entry of ordered) if (entry.visible) entry.group.addTo(this.map);
  }

  addFeature(entry, feature) {
    const { def } = entry;
    const id = feature.id ?? feature.properties?.id;
    const style = styleOf(def, feature);
    const renderer = def.group === "live" ? this.liveRenderer : this.renderer;
    const pane = def.group === "live" ? "live" : "overlayPane";
    let item;
    if (feature.geometry.type === "Point" && def.style.radius > 0) {
      const [lon, lat] = feature.geometry.coordinates;
      // Live points are filled only: one fill per marker is half the canvas work of fill+stroke.
      const stroke = def.group !== "live";
      item = L.circleMarker([lat, lon], { ...style, stroke, radius: def.style.radius, renderer, pane });
    } else {
      item = L.geoJSON(feature, { style: () => style, renderer, pane });
    }
    item.feature = feature;
    item.on("click", () => this.onSelect?.(def, feature));
    item.addTo(entry.group);
    entry.items.set(id, item);
  }

  // A live change: move a point smoothly to its new place, or add the feature.
  upsertEntity(layerId, incoming) {
    const target = this.layers.get(layerId);
    if (!target) return;
    // The entity may have moved between layers of its type (a vehicle's vehicleType changed).
    for (const entry of this.layers.values()) {
      if (entry === target || entry.def.query?.type !== target.def.query?.type) continue;
      const stale = entry.items.get(incoming.id);
      if (stale) {
        stale.remove();
        entry.items.delete(incoming.id);
      }
    }
    const feature = this.asLink(target.def, incoming, this.linkIndex);
    for (const entry of [target]) {
      const item = entry.items.get(feature.id);
      if (item && item.setLatLng && feature.geometry?.type === "Point") {
        const [lon, lat] = feature.geometry.coordinates;
        this.moving.set(item, { from: item.getLatLng(), to: L.latLng(lat, lon), start: performance.now() });
        item.feature = { ...item.feature, properties: { ...item.feature.properties, ...feature.properties } };
        if (entry.def.extra?.color_by) item.setStyle(styleOf(entry.def, item.feature));
        this.animate();
      } else if (item) {
        item.feature = { ...item.feature, ...feature };
        if (entry.def.extra?.color_by) {
          const style = styleOf(entry.def, item.feature);
          item.setStyle(item.setLatLng ? style : () => style);
        }
      } else if (feature.geometry) {
        this.addFeature(entry, feature);
      }
      this.onLayersChanged?.();
    }
  }

  removeEntity(id) {
    for (const entry of this.layers.values()) {
      const item = entry.items.get(id);
      if (item) {
        item.remove();
        entry.items.delete(id);
        this.onLayersChanged?.();
      }
    }
  }

  // One animation frame moves every marker in flight (1,000 markers: one redraw per frame).
  // Leaflet's public setLatLng repaints per marker; with 1,000 in flight that costs more than a
  // frame, so the markers are re-projected here and the live canvas is repainted once (these
  // are Leaflet 1.9.4's own CircleMarker/Canvas internals; the version is pinned in vendor/).
  animate() {
    if (this._frame) return;
    const renderer = this.liveRenderer;
    const step = (now) => {
      for (const [item, move] of this.moving) {
        const k = Math.min(1, (now - move.start) / MOVE_MS);
        const e = k * (2 - k);
        const at = L.latLng(
          move.from.lat + (move.to.lat - move.from.lat) * e,
          move.from.lng + (move.to.lng - move.from.lng) * e,
        );
        if (item._renderer === renderer && item._map) {
          item._latlng = at;
          item._project();
        } else {
          item.setLatLng(at);
        }
        if (k >= 1) {
          this.moving.delete(item);
          item.fire("move", { latlng: at });
        }
      }
      if (renderer._map) {
        renderer._redrawBounds = null;
        renderer._redraw();
      }
      this._frame = this.moving.size ? requestAnimationFrame(step) : null;
    };
    this._frame = requestAnimationFrame(step);
  }

  setVisible(id, visible) {
    const entry = this.layers.get(id);
    if (!entry) return;
    entry.visible = visible;
    this.stack();
  }

  restyle() {
    for (const entry of this.layers.values()) {
      const style = styleOf(entry.def);
      for (const item of entry.items.values()) {
        const own = entry.def.extra?.color_by ? styleOf(entry.def, item.feature) : style;
        item.setStyle(item.setLatLng ? own : () => own);
      }
    }
  }

  features(id) {
    const entry = this.layers.get(id);
    return entry ? [...entry.items.values()].map((item) => item.feature) : [];
  }
}
