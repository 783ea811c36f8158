import { absent, api, fmt, h, page, parseRef, runLink, table } from "./common.js";
import { curve } from "./charts.js";
import { sloStat } from "./runview.js";

// The figures the deltas table shows by default (the CLI's compare table); ?all=1 shows every one.
const MAIN = ["requests_per_s", "output_tokens_per_s", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p50_ms",
  "itl_mean_ms", "e2e_p50_ms", "e2e_p90_ms", "goodput_percent", "error_percent"];

page("Compare runs", async (main) => {
  const query = new URLSearchParams(location.search);
  const refs = query.getAll("run");
  const input = h("input", { name: "run", id: "add-run", placeholder: "NAMESPACE/NAME[:RUNID]", size: 40 });
  const form = h("form", { id: "compare-form", class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    query.append("run", input.value.trim());
    location.search = query.toString();
  } }, h("label", {}, "add a run", input), h("button", { type: "submit" }, "Add"));
  main.append(h("p", {}, "The first run is the baseline: ", refs.length ? refs.map((r, i) => [i ? ", " : "", runLink(r)]) : "none yet"), form);
  if (refs.length < 2) {
    main.append(absent("Pick two or more runs (the runs list has checkboxes, or add them here by reference)."));
    return;
  }
  refs.forEach(parseRef);
  const all = query.get("all") === "1";
  const [comparison, ...runs] = await Promise.all([
    api("compare", { run: refs, metric: all ? [] : MAIN }),
    ...refs.map((ref) => {
      const { namespace, name, runId } = parseRef(ref);
      return api(`namespaces/${encodeURIComponent(namespace)}/runs/${encodeURIComponent(name)}`, { runId });
    }),
  ]);
  const stat = sloStat(runs[0].spec?.slo);
  const curves = h("section", { class: "grid" });
  main.append(h("h2", {}, "Curves"), curves);
  const byLevel = (lv) => [...lv].sort((a, b) => a.level - b.level);
  curve(curves, {
    id: "compare-latency-throughput", title: `TTFT ${stat} against throughput (hollow: missed the SLO)`, x: "requests/s", y: "ms", xFromZero: true,
    series: runs.map((run) => ({ label: run.ref, points: byLevel(run.levels).map((lv) => ({ x: lv.figures.requests_per_s, y: lv.figures[`ttft_${stat}_ms`], hollow: lv.withinSlo === false })) })),
    absent: "None of these runs has TTFT figures (non-streamed runs): see the E2E chart.",
  });
  curve(curves, {
    id: "compare-e2e", title: `E2E ${stat} per level`, x: "level", y: "ms",
    series: runs.map((run) => ({ label: run.ref, points: byLevel(run.levels).map((lv) => ({ x: lv.level, y: lv.figures[`e2e_${stat}_ms`] })) })),
  });
  curve(curves, {
    id: "compare-goodput", title: "Goodput per second against load", x: "level", y: "requests/s", xFromZero: true,
    series: runs.map((run) => ({ label: run.ref, points: byLevel(run.levels).map((lv) => ({ x: lv.level, y: lv.figures.goodput_per_s })) })),
    absent: "No goodput in these runs (no SLO in their specs).",
  });
  main.append(h("h2", {}, "Deltas against the baseline"),
    h("p", { class: "note" }, `Noise test at α = ${comparison.alpha}: a change is "worse"/"better" only when larger than run-to-run noise (docs/results.md). `,
      h("a", { href: "?" + withAll(query, !all), id: "toggle-all" }, all ? "main figures only" : "every figure")));
  for (const w of comparison.warnings || []) main.append(h("p", { class: "warning" }, w));
  for (const level of comparison.levels) {
    main.append(h("h3", {}, `level ${level.level}`), table(
      ["figure", `${comparison.baseline} (baseline)`, ...comparison.runs.slice(1).flatMap((r) => [r, "change", "verdict"])],
      level.metrics.map((m) => [
        `${m.title} (${m.unit})`, h("td", { class: "num" }, fmt(m.baseline)),
        ...m.changes.flatMap((c) => [
          h("td", { class: "num" }, fmt(c.value)),
          h("td", { class: "num" }, c.absolute === null ? "—" : `${c.absolute >= 0 ? "+" : ""}${fmt(c.absolute)}${c.percent === null ? "" : ` (${c.percent >= 0 ? "+" : ""}${fmt(c.percent, 1)} %)`}`),
          h("td", { class: `verdict ${c.verdict.replace(/\s+/g, "-")}` }, `${c.verdict}${c.pValue === null ? "" : ` p=${c.pValue.toPrecision(3)}`}`),
        ]),
      ]),
      { class: "deltas", dataset: { level: level.level } },
    ));
  }
});

function withAll(query, on) {
  const next = new URLSearchParams(query);
  on ? next.set("all", "1") : next.delete("all");
  return next.toString();
}
