// The complaint form's map: Sejong drawn from CityOS's own data (districts, parks, water, roads,
// the BRT ring; no tiles, no internet) and one draggable pin. Leaflet is loaded the first time
// the form opens, so the citizen home does not pay for it.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { layerFeatures } from "./map.js";
import { theme } from "./theme.js";

// 세종시청 (Sejong City Hall): where the map opens when the device's position is not shared.
export const CITY_HALL = { lat: 36.48, lon: 127.289 };
const BASE_LAYERS = ["districts", "parks", "water", "roads", "brt"];
let leaflet = null;

function loadLeaflet() {
  if (globalThis.L) return Promise.resolve(globalThis.L);
  leaflet ??= new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/static/vendor/leaflet/leaflet.css";
    // Before the app's styles, as on the dashboard: app.css's theme rules for Leaflet's
    // controls and background must win over leaflet.css's defaults.
    document.head.insertBefore(css, document.head.querySelector('link[rel="stylesheet"]'));
    const script = document.createElement("script");
    script.src = "/static/vendor/leaflet/leaflet.js";
    script.addEventListener("load", () => resolve(globalThis.L));
    script.addEventListener("error", () => reject(new Error("leaflet.js")));
    document.head.append(script);
  });
  return leaflet;
}

function styleOf(def) {
  const s = def.style;
  const color = theme() === "dark" ? s.color_dark : s.color_light;
  return { color, fillColor: color, weight: s.weight, opacity: 0.9, fillOpacity: s.fill_opacity, dashArray: s.dash || null };
}

export class PinMap {
  // `onPin(point | null)` is told every time the pin is placed or moved ({lat, lon}).
  constructor(element, { onPin }) {
    this.element = element;
    this.onPin = onPin;
    this.pin = null;
    this.ready = this.build();
  }

  async build() {
    const L = await loadLeaflet();
    this.L = L;
    this.map = L.map(this.element, { preferCanvas: true, zoomSnap: 0.5, minZoom: 9, maxZoom: 18, keyboard: true });
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution(t("complaints.map.attribution"));
    this.map.setView([CITY_HALL.lat, CITY_HALL.lon], 14);
    this.map.on("click", (event) => this.place({ lat: event.latlng.lat, lon: event.latlng.lng }));
    this.drawBase(L).catch((error) => console.warn("complaint map:", error.message));
  }

  // The dashboard's base layers, by their registry declarations (GET /web/layers).
  async drawBase(L) {
    const defs = (await get("/web/layers")).filter((def) => BASE_LAYERS.includes(def.id));
    defs.sort((a, b) => a.order - b.order);
    for (const def of defs) {
      const features =
        def.source === "basemap" ? (await get(`/web/basemap/${def.query.name}`)).features : await layerFeatures(def);
      const style = styleOf(def);
      L.geoJSON({ type: "FeatureCollection", features }, { style: () => style, interactive: false }).addTo(this.map);
    }
  }

  // Put the pin at a point (and keep it in view).
  place(point, { centre = false } = {}) {
    const L = this.L;
    const at = [point.lat, point.lon];
    if (!this.pin) {
      this.pin = L.marker(at, { draggable: true, keyboard: true, title: t("complaints.map.pin"), alt: t("complaints.map.pin") });
      this.pin.on("dragend", () => {
        const moved = this.pin.getLatLng();
        this.onPin({ lat: moved.lat, lon: moved.lng });
      });
      this.pin.addTo(this.map);
    } else {
      this.pin.setLatLng(at);
    }
    if (centre) this.map.setView(at, Math.max(this.map.getZoom(), 15));
    this.onPin({ lat: point.lat, lon: point.lon });
  }

  centre() {
    const c = this.map.getCenter();
    return { lat: c.lat, lon: c.lng };
  }

  clear() {
    if (this.pin) this.pin.remove();
    this.pin = null;
  }

  // Leaflet measures its box once; a map made while hidden must measure again when shown.
  resize() {
    this.map?.invalidateSize();
  }
}
