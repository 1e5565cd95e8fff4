// Key indicators computed from the entities on the map.

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
