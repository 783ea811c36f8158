// Curves drawn with uPlot (static/vendor/uplot, loaded by each page before this module) in its "mode 2":
// every series has its own x values, in the order given, so a latency-vs-throughput curve that bends
// back (throughput falling past saturation) is drawn as measured, and runs with different levels overlay.
// Each chart's data is also kept in window.llmloadCharts[id] (what the browser tests read).
import { absent, h, fmt } from "./common.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];
window.llmloadCharts = window.llmloadCharts || {};
const drawn = {};

/** A chart in `parent`:
 *  spec = {id, title, x: label, y: label, series: [{label, points: [{x, y, hollow}]}],
 *          lines: [{label, y}] (dashed horizontal: SLO objectives), vlines: [{label, x}] (the knee),
 *          absent: "why there is nothing to draw"}.
 *  Points with a null x or y are left out; a chart with no point says `absent` instead of drawing. */
export function curve(parent, spec) {
  const series = spec.series
    .map((s) => ({ label: s.label, points: s.points.filter((p) => isNum(p.x) && isNum(p.y)) }))
    .filter((s) => s.points.length > 0);
  const lines = (spec.lines || []).filter((l) => isNum(l.y));
  const vlines = (spec.vlines || []).filter((l) => isNum(l.x));
  const box = h("figure", { class: "chart", id: `chart-${spec.id}`, dataset: { chart: spec.id } }, h("figcaption", {}, spec.title));
  parent.append(box);
  window.llmloadCharts[spec.id] = {
    title: spec.title,
    absent: series.length === 0,
    series: series.map((s) => ({ label: s.label, points: s.points.map((p) => [p.x, p.y]) })),
    lines: lines.map((l) => ({ label: l.label, y: l.y })),
    vlines: vlines.map((l) => ({ label: l.label, x: l.x })),
  };
  if (series.length === 0) {
    box.append(absent(spec.absent || "Not measured in this run."));
    return;
  }
  drawn[spec.id]?.destroy();
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).concat(vlines.map((l) => l.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).concat(lines.map((l) => l.y));
  const [x0, x1] = padded(Math.min(...xs), Math.max(...xs), spec.xFromZero);
  const [, y1] = padded(0, Math.max(...ys), true);
  const colors = series.map((_, i) => COLORS[i % COLORS.length]);
  const opts = {
    mode: 2,
    width: Math.max(320, Math.min(parent.clientWidth || 560, 560)),
    height: 260,
    legend: { live: false },
    cursor: { show: false },
    scales: { x: { time: false, range: () => [x0, x1] }, y: { range: () => [0, y1] } },
    axes: [
      { scale: "x", label: spec.x, values: (u, ticks) => ticks.map((t) => fmt(t)) },
      { scale: "y", label: spec.y, values: (u, ticks) => ticks.map((t) => fmt(t)), size: 60 },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: colors[i],
        width: 2,
        facets: [{ scale: "x", auto: false }, { scale: "y", auto: false }],
        paths: uPlot.paths.linear(),
        points: { show: false },
      })),
    ],
    hooks: { draw: [(u) => decorate(u, series, colors, lines, vlines)] },
  };
  const data = [null, ...series.map((s) => [s.points.map((p) => p.x), s.points.map((p) => p.y)])];
  drawn[spec.id] = new uPlot(opts, data, box);
  if (spec.note) box.append(h("p", { class: "note" }, spec.note));
}

function decorate(u, series, colors, lines, vlines) {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.lineWidth = 2 * devicePixelRatio;
  series.forEach((s, i) => {
    for (const p of s.points) {
      const cx = u.valToPos(p.x, "x", true);
      const cy = u.valToPos(p.y, "y", true);
      ctx.beginPath();
      ctx.arc(cx, cy, 4 * devicePixelRatio, 0, 2 * Math.PI);
      ctx.fillStyle = p.hollow ? "#fff" : colors[i];
      ctx.strokeStyle = colors[i];
      ctx.fill();
      ctx.stroke();
    }
  });
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
  ctx.fillStyle = ctx.strokeStyle = "#b91c1c";
  for (const l of lines) {
    const y = u.valToPos(l.y, "y", true);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(l.label, left + width - 4, y - 4 * devicePixelRatio);
  }
  ctx.fillStyle = ctx.strokeStyle = "#374151";
  for (const l of vlines) {
    const x = u.valToPos(l.x, "x", true);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.textAlign = "left";
    ctx.fillText(l.label, x + 4, top + 12 * devicePixelRatio);
  }
  ctx.restore();
}

function padded(lo, hi, fromZero) {
  if (fromZero) lo = Math.min(0, lo);
  if (lo === hi) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.06;
  return [fromZero ? lo : lo - pad, hi + pad];
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
