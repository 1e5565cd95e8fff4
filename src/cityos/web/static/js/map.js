// The Sejong map: Leaflet on a canvas renderer, no tiles; every layer comes from the layer
// registry (GET /web/layers) and is drawn from CityOS's own data.
import { get, hubHeaders } from "./api.js";
import { lang } from "./i18n.js";
import { pm25Grade, valueOf } from "./kpi.js";
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

function gradeColor(props) {
  const grade = pm25Grade(valueOf(props, "pm25"));
  if (!grade) return null;
  return getComputedStyle(document.documentElement).getPropertyValue(`--${grade}`).trim() || null;
}

function styleOf(def, feature) {
  const s = def.style;
  let color = theme() === "dark" ? s.color_dark : s.color_light;
  if (def.extra?.color_by === "pm25-grade" && feature) color = gradeColor(feature.properties) || color;
  return {
    color,
    fillColor: color,
    weight: s.weight,
    opacity: 0.9,
    fillOpacity: s.fill_opacity,
    dashArray: s.dash || null,
  };
}

async function entityFeatures(query, tenant) {
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

  async load() {
    const defs = await get("/web/layers");
    await Promise.all(defs.map((def) => this.loadLayer(def)));
    this.stack();
    this.onLayersChanged?.();
  }

  async loadLayer(def) {
    let features = [];
    try {
      if (def.source === "basemap") {
        features = (await get(`/web/basemap/${def.query.name}`)).features;
      } else {
        features = await entityFeatures(def.query, this.tenant);
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
  upsertEntity(layerId, feature) {
    for (const entry of this.layers.values()) {
      if (entry.def.id !== layerId) continue;
      const item = entry.items.get(feature.id);
      if (item && item.setLatLng && feature.geometry?.type === "Point") {
        const [lon, lat] = feature.geometry.coordinates;
        this.moving.set(item, { from: item.getLatLng(), to: L.latLng(lat, lon), start: performance.now() });
        item.feature = { ...item.feature, properties: { ...item.feature.properties, ...feature.properties } };
        if (entry.def.extra?.color_by) item.setStyle(styleOf(entry.def, item.feature));
        this.animate();
      } else if (item) {
        item.feature = { ...item.feature, ...feature };
        if (entry.def.extra?.color_by) item.setStyle(styleOf(entry.def, item.feature));
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
        item.setStyle(entry.def.extra?.color_by ? styleOf(entry.def, item.feature) : style);
      }
    }
  }

  features(id) {
    const entry = this.layers.get(id);
    return entry ? [...entry.items.values()].map((item) => item.feature) : [];
  }
}
