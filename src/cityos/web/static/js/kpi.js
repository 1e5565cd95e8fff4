// Key indicators computed from the entities on the map.
import { formatNumber, t } from "./i18n.js";

// Korean PM2.5 grades (환경부 통합대기환경지수, µg/m³): 좋음 0–15, 보통 16–35, 나쁨 36–75,
// 매우나쁨 ≥ 76. The published bands are whole numbers; a fractional value belongs to the band
// whose upper bound it does not exceed (15.4 → 좋음, 15.6 → 보통).
export const PM25_GRADES = [
  { key: "good", max: 15 },
  { key: "moderate", max: 35 },
  { key: "bad", max: 75 },
  { key: "verybad", max: Infinity },
];

export function pm25Grade(value) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return null;
  const rounded = Math.round(value);
  return PM25_GRADES.find((grade) => rounded <= grade.max).key;
}

// The value of an attribute in a normalized or key-values entity (or GeoJSON properties).
export function valueOf(entity, attr) {
  const raw = entity?.[attr];
  if (raw && typeof raw === "object" && "value" in raw) return raw.value;
  return raw;
}

export function meanPm25(entities) {
  const values = entities.map((e) => valueOf(e, "pm25")).filter((v) => typeof v === "number");
  if (!values.length) return null;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, count: values.length };
}

// ---- colour classes of live layers (the layer's extra.color_by; legend in the layer list) ----

// Traffic: the counted link's mean speed over its free-flow speed (the twin bundle's
// free_flow_kmh of the link named by refRoadSegment). ≥ 0.7 smooth (원활), 0.4–0.7 slow (서행),
// < 0.4 congested (정체); without a free-flow speed the SDM `congested` flag decides.
export const SPEED_RATIO = [
  { key: "smooth", min: 0.7 },
  { key: "slow", min: 0.4 },
  { key: "jam", min: -Infinity },
];

export function speedRatio(props, link) {
  const speed = valueOf(props, "averageVehicleSpeed");
  const free = link?.free_flow_kmh;
  if (typeof speed !== "number" || typeof free !== "number" || free <= 0) return null;
  return speed / free;
}

function flowClass(props, link) {
  const ratio = speedRatio(props, link);
  if (ratio === null) {
    const congested = valueOf(props, "congested");
    if (congested === true) return "jam";
    return congested === false ? "smooth" : null;
  }
  return SPEED_RATIO.find((c) => ratio >= c.min).key;
}

// Car parks: the free share of the spaces (availableSpotNumber / totalSpotNumber).
function parkingClass(props) {
  const free = valueOf(props, "availableSpotNumber");
  const total = valueOf(props, "totalSpotNumber");
  if (typeof free !== "number" || typeof total !== "number" || total <= 0) return null;
  const share = free / total;
  if (share >= 0.3) return "plenty";
  return share >= 0.1 ? "few" : "full";
}

// Parking spaces: the SDM ParkingSpot status enum.
function spotClass(props) {
  const status = valueOf(props, "status");
  return ["free", "occupied", "closed"].includes(status) ? `spot-${status}` : null;
}

export const CLASSES = {
  "pm25-grade": PM25_GRADES.map((g) => g.key),
  "speed-ratio": SPEED_RATIO.map((c) => c.key),
  "parking-free": ["plenty", "few", "full"],
  "spot-status": ["spot-free", "spot-occupied", "spot-closed"],
};

// The colour class of a feature for a layer's colour rule, or null (the layer's own colour).
export function classOf(kind, feature) {
  const props = feature?.properties || {};
  if (kind === "pm25-grade") return pm25Grade(valueOf(props, "pm25"));
  if (kind === "speed-ratio") return flowClass(props, feature?.link);
  if (kind === "parking-free") return parkingClass(props);
  if (kind === "spot-status") return spotClass(props);
  return null;
}

// ---- KPI tiles: one function per tile kind (the tile registry, GET /web/tiles) ----------
// Each takes the features of the tile's layers and returns {value, detail, grade} or null
// when there is nothing to show (the tile is then absent).

const sum = (values) => values.reduce((a, b) => a + b, 0);
const numbers = (features, attr) =>
  features.map((f) => valueOf(f.properties || {}, attr)).filter((v) => typeof v === "number" && Number.isFinite(v));

export const TILE_KINDS = {
  "pm25-grade": (features) => {
    const aq = meanPm25(features.map((f) => f.properties || {}));
    if (!aq) return null;
    const grade = pm25Grade(aq.mean);
    return { value: { key: `grade.${grade}` }, detail: { key: "kpi.aq.detail", count: aq.count, value: aq.mean, digits: 1 }, grade };
  },
  // Congestion: the share of counted links whose speed is below 40 % of free flow (정체),
  // with the mean speed ratio of every counted link in the detail.
  congestion: (features) => {
    const classes = features.map((f) => flowClass(f.properties || {}, f.link)).filter(Boolean);
    if (!classes.length) return null;
    const jams = classes.filter((c) => c === "jam").length;
    const ratios = features.map((f) => speedRatio(f.properties || {}, f.link)).filter((r) => r !== null);
    const share = jams / classes.length;
    const grade = share >= 0.25 ? "verybad" : share >= 0.1 ? "bad" : share > 0 ? "moderate" : "good";
    return {
      value: { percent: share },
      detail: ratios.length
        ? { key: "kpi.congestion.detail", jams, count: classes.length, ratio: Math.round((100 * sum(ratios)) / ratios.length) }
        : { key: "kpi.congestion.flags", jams, count: classes.length },
      grade,
    };
  },
  count: (features) => (features.length ? { value: { number: features.length }, detail: null } : null),
  // ER load: the mean occupancy (0–1) of the emergency departments that report it; the
  // available beds (E-Gen hvec) summed in the detail.
  "er-load": (features) => {
    const occupancy = numbers(features, "occupancy");
    const beds = numbers(features, "hvec");
    if (!occupancy.length && !beds.length) return null;
    const load = occupancy.length ? sum(occupancy) / occupancy.length : null;
    const grade = load === null ? null : load >= 0.95 ? "verybad" : load >= 0.8 ? "bad" : load >= 0.5 ? "moderate" : "good";
    return {
      value: load === null ? { number: sum(beds), unit: "kpi.er.beds" } : { percent: load },
      detail: { key: "kpi.er.detail", count: features.length, beds: sum(beds) },
      grade,
    };
  },
  // Energy balance [kW]: solar generation (PhotovoltaicMeasurement.activePower) minus metered
  // consumption (EnergyMeter.totalActivePower); positive = surplus.
  "energy-balance": (features) => {
    const generation = sum(numbers(features.filter((f) => f.layer === "solar"), "activePower"));
    const consumption = sum(numbers(features.filter((f) => f.layer !== "solar"), "totalActivePower"));
    if (!features.length) return null;
    return {
      value: { number: generation - consumption, unit: "kpi.energy.kw", digits: 0 },
      detail: { key: "kpi.energy.detail", generation, consumption },
      grade: generation - consumption >= 0 ? "good" : "bad",
    };
  },
  // Open complaints: Open311 service_requests whose status is "open".
  "open-complaints": (features) => {
    if (!features.length) return null;
    const open = features.filter((f) => valueOf(f.properties || {}, "status") === "open").length;
    return { value: { number: open }, detail: { key: "kpi.complaints.detail", count: features.length } };
  },
};

// A tile's value and detail as text in the page's language.
export function tileValueText(value) {
  if (!value) return "–";
  if (value.key) return t(value.key);
  if ("percent" in value) return formatNumber(value.percent, { style: "percent", maximumFractionDigits: 0 });
  const number = formatNumber(value.number, { maximumFractionDigits: value.digits ?? 0 });
  return value.unit ? t(value.unit, { value: number }) : number;
}

export function tileDetailText(detail) {
  if (!detail) return "";
  const params = {};
  for (const [name, v] of Object.entries(detail)) {
    if (name === "key" || name === "digits") continue;
    params[name] = typeof v === "number" ? formatNumber(v, { maximumFractionDigits: detail.digits ?? 0 }) : v;
  }
  return t(detail.key, params);
}
