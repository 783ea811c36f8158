// A run's figures as panels: the curves, the per-level percentiles, the GPUs, vLLM, the flags, the
// fingerprint. Used by the run page for stored runs and for the live stream's snapshots alike (both
// carry levels in the API's shape: {level, withinSlo, clientSaturated, figures, result}).
import { absent, fmt, h, num, table } from "./common.js";
import { curve } from "./charts.js";

export const FAMILIES = [
  ["ttft", "TTFT", "ttftMilliseconds"],
  ["tpot", "TPOT", "tpotMilliseconds"],
  ["itl", "ITL", null],
  ["e2e", "E2E", "e2eMilliseconds"],
];

/** The reported percentile the SLO is judged at: the one at or above slo.percentile (docs/metrics.md). */
export function sloStat(slo) {
  const p = (slo && slo.percentile) || 90;
  return p <= 50 ? "p50" : p <= 90 ? "p90" : p <= 95 ? "p95" : p <= 99 ? "p99" : "p999";
}

const f = (lv, key) => lv.figures?.[key] ?? null;
const r = (lv, path) => path.split(".").reduce((o, k) => (o == null ? null : o[k]), lv.result) ?? null;
const sorted = (levels) => [...levels].sort((a, b) => a.level - b.level);

function sloLines(slo, key, label) {
  const value = slo?.[key];
  return value ? [{ label: `SLO ${label} ${sloStat(slo)} ≤ ${value} ms`, y: value }] : [];
}

/** Every panel of one run into `root` (emptied first). */
export function renderFigures(root, run) {
  const levels = sorted(run.levels || []);
  const slo = run.slo || {};
  const stat = sloStat(slo);
  const unit = run.mode === "Rate" ? "requests/s offered" : "concurrency";
  root.replaceChildren();
  if (levels.length === 0) {
    root.append(absent(run.live ? "No level has finished yet: the charts appear as levels complete." : "This run has no stored levels."));
  }
  const curves = h("section", { class: "grid" });
  root.append(h("h2", {}, "Curves"), curves);
  curve(curves, {
    id: "latency-throughput",
    title: `Latency against throughput (${stat}; hollow: level missed the SLO)`,
    x: "requests/s",
    y: "ms",
    xFromZero: true,
    series: [
      { label: `TTFT ${stat}`, points: levels.map((lv) => ({ x: f(lv, "requests_per_s"), y: f(lv, `ttft_${stat}_ms`), hollow: lv.withinSlo === false })) },
      { label: `E2E ${stat}`, points: levels.map((lv) => ({ x: f(lv, "requests_per_s"), y: f(lv, `e2e_${stat}_ms`), hollow: lv.withinSlo === false })) },
    ],
    lines: [...sloLines(slo, "ttftMilliseconds", "TTFT"), ...sloLines(slo, "e2eMilliseconds", "E2E")],
    absent: "No level has a request rate and latencies.",
  });
  curve(curves, {
    id: "goodput-load",
    title: "Goodput against load (requests within the SLO, per second)",
    x: unit,
    y: "requests/s",
    xFromZero: true,
    series: [
      { label: "goodput/s", points: levels.map((lv) => ({ x: lv.level, y: f(lv, "goodput_per_s"), hollow: lv.withinSlo === false })) },
      { label: "requests/s", points: levels.map((lv) => ({ x: lv.level, y: f(lv, "requests_per_s") })) },
    ],
    absent: "No goodput: the run has no SLO (spec.slo), so no request is judged good or bad.",
  });

  const latencies = h("section", { class: "grid" });
  root.append(h("h2", {}, "Latency percentiles per level"), latencies);
  for (const [family, title, sloKey] of FAMILIES) {
    curve(latencies, {
      id: `percentiles-${family}`,
      title: `${title} per level`,
      x: unit,
      y: "ms",
      series: ["p50", "p90", "p99"].map((s) => ({ label: `${title} ${s}`, points: levels.map((lv) => ({ x: lv.level, y: f(lv, `${family}_${s}_ms`) })) })),
      lines: sloKey ? sloLines(slo, sloKey, title) : [],
      absent: family === "ttft" || family === "tpot" || family === "itl"
        ? `No ${title}: it is measured on streamed responses only (spec.workload.stream).`
        : `No ${title} figures in this run.`,
    });
  }

  const gpus = h("section", { class: "grid" });
  root.append(h("h2", {}, "GPUs (DCGM series, per level)"), gpus);
  const noGpu = gpuAbsent(run);
  curve(gpus, {
    id: "gpu-utilization", title: "GPU utilisation (mean of the target's GPUs)", x: unit, y: "%",
    series: [{ label: "utilisation mean", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "gpu.utilizationPercentMean") })) },
      { label: "utilisation max", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "gpu.utilizationPercentMax") })) }],
    absent: noGpu,
  });
  curve(gpus, {
    id: "gpu-power", title: "GPU power (all GPUs, mean)", x: unit, y: "W",
    series: [{ label: "power", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "gpu.powerWattsTotalMean") })) }],
    absent: noGpu,
  });
  curve(gpus, {
    id: "gpu-energy", title: "Energy per level and per 1k output tokens", x: unit, y: "J",
    series: [{ label: "energy of the level", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "gpu.energyJoules") })) },
      { label: "J per 1k output tokens", points: levels.map((lv) => ({ x: lv.level, y: f(lv, "joules_per_1k_output_tokens") })) }],
    absent: noGpu,
  });

  const server = h("section", { class: "grid" });
  root.append(h("h2", {}, "vLLM (its own series, per level)"), server);
  const noServer = "No vLLM series for this run: the operator found none of vLLM's metrics in Prometheus for the target pods (no Prometheus configured, or not a vLLM server).";
  curve(server, {
    id: "vllm-queue", title: "vLLM requests running and waiting (time average, all pods)", x: unit, y: "requests",
    series: [{ label: "running", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "server.requestsRunningMean") })) },
      { label: "waiting", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "server.requestsWaitingMean") })) }],
    absent: noServer,
  });
  curve(server, {
    id: "vllm-kv-cache", title: "vLLM KV-cache use", x: unit, y: "%",
    series: [{ label: "mean", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "server.kvCacheUsagePercentMean") })) },
      { label: "max (any pod)", points: levels.map((lv) => ({ x: lv.level, y: r(lv, "server.kvCacheUsagePercentMax") })) }],
    absent: noServer,
  });

  root.append(h("h2", {}, "Levels"), levelTable(levels, stat));
  root.append(h("h2", {}, "Flags"), flags(levels));
  root.append(h("h2", {}, "Target fingerprint"), fingerprint(run.fingerprint));
}

function gpuAbsent(run) {
  const discovery = run.summary?.gpuDiscovery;
  const why = discovery ? `${discovery.reason}${discovery.message ? ": " + discovery.message : ""}` : "no GPU discovery recorded";
  return `No GPU figures for this run (${why}).`;
}

function levelTable(levels, stat) {
  return table(
    ["level", "requests", "errors", "req/s", "output tok/s", `TTFT ${stat} ms`, `TPOT ${stat} ms`, "ITL mean ms", `E2E ${stat} ms`, "goodput %", "within SLO", "GPU util %", "power W", "J/1k tok", "vLLM run/wait", "KV max %"],
    levels.map((lv) => [
      num(lv.level), num(lv.requests), num(lv.errors), num(f(lv, "requests_per_s")), num(f(lv, "output_tokens_per_s")),
      num(f(lv, `ttft_${stat}_ms`)), num(f(lv, `tpot_${stat}_ms`)), num(f(lv, "itl_mean_ms")), num(f(lv, `e2e_${stat}_ms`)),
      num(f(lv, "goodput_percent")), lv.withinSlo === null || lv.withinSlo === undefined ? "—" : lv.withinSlo ? "yes" : "no",
      num(r(lv, "gpu.utilizationPercentMean")), num(r(lv, "gpu.powerWattsTotalMean")), num(f(lv, "joules_per_1k_output_tokens")),
      r(lv, "server.requestsRunningMean") === null ? "—" : `${fmt(r(lv, "server.requestsRunningMean"))} / ${fmt(r(lv, "server.requestsWaitingMean"))}`,
      num(r(lv, "server.kvCacheUsagePercentMax")),
    ]),
    { id: "levels" },
  );
}

function flags(levels) {
  const rows = levels.map((lv) => {
    const reasons = r(lv, "saturation.reasons") || [];
    const overlap = r(lv, "shardOverlap");
    return h(
      "tr",
      { dataset: { level: lv.level, saturated: String(!!lv.clientSaturated), overlap: overlap ?? "" } },
      h("td", { class: "num" }, String(lv.level)),
      h("td", { class: lv.clientSaturated ? "flag" : "" }, lv.clientSaturated ? `client saturated: ${reasons.join("; ") || "yes"}` : "no"),
      h("td", { class: overlap !== null && overlap < 0.9 ? "flag" : "" },
        overlap === null ? "one shard (not judged)" : `${fmt(overlap * 100, 1)} %${overlap < 0.9 ? " (below 90 %: shards did not run together)" : ""}`),
      h("td", { class: "num" }, fmt(r(lv, "shardStartSpreadMilliseconds"))),
    );
  });
  return h(
    "table",
    { id: "flags" },
    h("thead", {}, h("tr", {}, h("th", {}, "level"), h("th", {}, "client saturation"), h("th", {}, "shard overlap"), h("th", {}, "shard start spread ms"))),
    h("tbody", {}, rows),
  );
}

function fingerprint(fp) {
  if (!fp || Object.keys(fp).length === 0) {
    return h("div", { id: "fingerprint" }, absent("The stored run has no target fingerprint (the target's pods could not be read, or an older operator wrote the run)."));
  }
  const facts = [
    ["vLLM version", fp.vllmVersion], ["consistent", fp.consistent === undefined ? null : fp.consistent ? "yes" : "no: the pods run different configurations"],
    ["nodes", (fp.nodes || []).join(", ")], ["GPU models", (fp.gpuModels || []).join(", ")],
  ];
  const serving = (fp.serving || []).map((s) =>
    table(["option", "value"], Object.entries(s).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)])));
  return h("div", { id: "fingerprint" },
    table(["", ""], facts.map(([k, v]) => [k, v === null || v === undefined || v === "" ? "— (not recorded)" : String(v)])),
    serving.length ? [h("h3", {}, "Serving configurations"), serving] : absent("No serving configuration recorded."));
}
