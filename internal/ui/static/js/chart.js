// Time-series charts over the vendored uPlot (vendor/uplot, npm uplot
// 1.6.32): one chart per container, resized with it, coloured from the
// page's CSS variables so dark mode applies.
import uPlot from "../vendor/uplot/uPlot.esm.js";

const charts = new Map();
const wholeSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 1e9];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function size(container) {
  const w = Math.max(240, container.clientWidth - 8);
  return { width: w, height: Math.max(160, Math.min(260, Math.round(w * 0.4))) };
}

/**
 * lineChart draws series over times (seconds since the epoch) in
 * container, replacing the chart already there. series: [{label, values,
 * color: CSS variable name}].
 */
export function lineChart(container, times, series) {
  const old = charts.get(container);
  if (old) old.chart.destroy();
  const fg = cssVar("--fg-muted");
  const grid = cssVar("--border");
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const opts = {
    ...size(container),
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    // Counts, tokens and milliseconds: whole-number ticks only.
    axes: [axis, { ...axis, size: 56, incrs: wholeSteps }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: cssVar(s.color), width: 2, points: { show: times.length < 50 } }))],
  };
  const chart = new uPlot(opts, [times, ...series.map((s) => s.values)], container);
  charts.set(container, { chart, times, series });
  return chart;
}

let pending = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(pending);
  pending = requestAnimationFrame(() => {
    for (const [container, c] of charts) c.chart.setSize(size(container));
  });
});

// The dark-mode switch changes the colours: draw the charts again.
document.addEventListener("spark-theme", () => {
  for (const [container, c] of charts) lineChart(container, c.times, c.series);
});
