// Time-series charts of a result with uPlot (vendored in ../vendor/uplot, loaded before this module as the
// global `uPlot`): one chart per measure, one line per city (and per daily aggregate), UTC time axis,
// drag to zoom. Each chart's figure records what uPlot holds (data-points, data-series) and data-drawn
// once uPlot has drawn it.

import { h } from "./dom.js";

export const FAMILIES = [
  { key: "temp", title: "Temperature", unit: "°C", columns: ["temp", "temp_min", "temp_mean", "temp_max"] },
  { key: "precipitation", title: "Precipitation", unit: "mm", columns: ["precipitation", "precipitation_sum"] },
  { key: "humidity", title: "Humidity", unit: "%", columns: ["humidity", "humidity_mean"] },
  { key: "wind_speed", title: "Wind speed", unit: "m/s", columns: ["wind_speed", "wind_speed_max"] },
];
// Okabe-Ito and Tol hues with at least 3:1 contrast against the white plot area (WCAG 1.4.11).
const COLORS = ["#0072B2", "#D55E00", "#007A5A", "#AA4499", "#1A1A1A", "#8A5A00", "#332288", "#B8003C"];
const DASHES = { temp_min: [6, 4], temp_max: [2, 3] };
const HEIGHT = 260;

function epochSeconds(row) {
  const [y, m, d] = row.date.split("-").map(Number);
  return Date.UTC(y, m - 1, d, row.hour ?? 0) / 1000;
}

/** uPlot's aligned data for one measure: x = the distinct times (s), one array per city × column. */
export function chartData(rows, family) {
  const columns = rows.length ? family.columns.filter((c) => c in rows[0]) : [];
  if (!columns.length) return null;
  const times = rows.map(epochSeconds);
  const xs = [...new Set(times)].sort((a, b) => a - b);
  const at = new Map(xs.map((t, i) => [t, i]));
  const cities = [...new Set(rows.map((r) => r.city_id))].sort((a, b) => a - b);
  const lines = [];
  const byKey = new Map();
  for (const city of cities) {
    for (const column of columns) {
      const line = { city, column, values: new Array(xs.length).fill(null) };
      lines.push(line);
      byKey.set(`${city}|${column}`, line.values);
    }
  }
  rows.forEach((row, k) => {
    const i = at.get(times[k]);
    for (const column of columns) byKey.get(`${row.city_id}|${column}`)[i] = row[column] ?? null;
  });
  return { xs, lines, columns };
}

/** Draw one measure's chart into `container`; `cityName(id)` labels the lines. Returns the uPlot. */
export function drawChart(container, family, data, cityName) {
  const host = h("div", { class: "chart-host" });
  const names = [...new Set(data.lines.map((l) => cityName(l.city)))];
  const figure = h(
    "figure",
    { class: "chart", dataset: { metric: family.key } },
    h("figcaption", {}, `${family.title} (${family.unit}): ${names.join(", ")}`),
    host,
  );
  container.append(figure);
  const width = () => Math.max(260, host.clientWidth || container.clientWidth || 600);
  const several = data.columns.length > 1;
  const options = {
    width: width(),
    height: HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: { x: { time: true } },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: "Time (UTC)" },
      ...data.lines.map((line, i) => ({
        label: several ? `${cityName(line.city)} ${line.column}` : cityName(line.city),
        stroke: COLORS[Math.floor(i / data.columns.length) % COLORS.length], // a colour per city
        dash: DASHES[line.column],
        width: 1.5,
        spanGaps: false,
        value: (u, v) => (v == null ? "–" : `${v} ${family.unit}`),
      })),
    ],
    axes: [
      { stroke: "#222", grid: { stroke: "#e3e3e3" }, ticks: { stroke: "#bbb" } },
      { stroke: "#222", label: family.unit, grid: { stroke: "#e3e3e3" }, ticks: { stroke: "#bbb" } },
    ],
    hooks: {
      draw: [
        () => {
          figure.dataset.drawn = "true";
        },
      ],
    },
  };
  const plot = new uPlot(options, [data.xs, ...data.lines.map((l) => l.values)], host);
  figure.dataset.points = String(plot.data[0].length);
  figure.dataset.series = String(plot.series.length - 1);
  new ResizeObserver(() => {
    if (Math.abs(plot.width - width()) > 1) plot.setSize({ width: width(), height: HEIGHT });
  }).observe(host);
  return plot;
}
