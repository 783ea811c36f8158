import { absent, api, fmt, h, num, page, parseRef, runLink, table, time } from "./common.js";
import { curve } from "./charts.js";

page("Capacity recommendations", async (main) => {
  const ref = new URLSearchParams(location.search).get("ref");
  if (!ref) return list(main);
  const { namespace, name } = parseRef(ref);
  const rec = await api(`namespaces/${encodeURIComponent(namespace)}/recommendations/${encodeURIComponent(name)}`);
  document.querySelector("h1").textContent = `CapacityRecommendation ${namespace}/${name}`;
  const measured = rec.measured || {};
  const result = rec.recommendation;
  main.append(table(["", ""], [
    ["ready", rec.readyReason ?? "—"], ["target", rec.target ?? "—"], ["deployment", rec.deployment ?? "—"],
    ["mode", rec.mode ?? "—"], ["peak", fmt(rec.peak)], ["knee (per measured replicas)", measured.kneeLevel === undefined ? "—" : `${fmt(measured.kneeLevel)}${measured.kneeIsLowerBound ? " (a lower bound: no level missed the SLO)" : ""}`],
    ["replicas measured", fmt(measured.currentReplicas)], ["GPUs per replica", fmt(measured.gpusPerReplica)],
    ["goodput at the knee", measured.goodputPercentAtKnee === undefined ? "—" : `${fmt(measured.goodputPercentAtKnee)} %`],
    ["updated", time(rec.updatedAt)],
  ], { id: "rec-facts" }));

  const trace = rec.searchTrace || [];
  const curves = h("section", { class: "grid" });
  main.append(h("h2", {}, "The search on the curve"), curves);
  const knee = measured.kneeLevel === undefined ? [] : [{ label: `knee ${measured.kneeLevel}`, x: measured.kneeLevel }];
  curve(curves, {
    id: "search-goodput", title: "Goodput of each searched level (hollow: missed the SLO)", x: "level", y: "% good requests", xFromZero: true,
    series: [{ label: "goodput %", points: trace.map((t) => ({ x: t.level, y: t.goodputPercent, hollow: t.withinSlo === false })) }],
    vlines: knee, absent: "No searched level is in the store yet.",
  });
  curve(curves, {
    id: "search-ttft", title: "TTFT p90 of each searched level", x: "level", y: "ms", xFromZero: true,
    series: [{ label: "TTFT p90", points: trace.map((t) => ({ x: t.level, y: t.ttftP90Ms, hollow: t.withinSlo === false })) }],
    lines: rec.spec?.slo?.ttftMilliseconds ? [{ label: `SLO TTFT ≤ ${rec.spec.slo.ttftMilliseconds} ms`, y: rec.spec.slo.ttftMilliseconds }] : [],
    vlines: knee, absent: "No TTFT in the searched levels (a non-streamed workload, or none stored yet).",
  });
  main.append(h("h2", {}, "Search trace (in the order searched)"), table(
    ["level", "repeat", "LoadTest", "outcome", "within SLO", "goodput %", "TTFT p90 ms", "output tok/s"],
    trace.map((t) => [num(t.level), num(t.repeat), t.loadtest && t.runId !== null ? runLink(`${namespace}/${t.loadtest}:${t.runId}`, t.loadtest) : "—",
      t.outcome ?? "— (not stored)", t.withinSlo === null ? "—" : t.withinSlo ? "yes" : "no", num(t.goodputPercent), num(t.ttftP90Ms), num(t.outputTokensPerS)]),
    { id: "trace" }));

  main.append(h("h2", {}, "The recommendation"));
  if (!result) {
    main.append(absent(`No recommendation yet (${rec.readyReason ?? "the search has not finished"}).`));
    return;
  }
  main.append(
    table(["", ""], [["replicas", fmt(result.replicas)], ["GPUs in all", fmt(result.totalGpus)],
      ["cost per hour", result.costPerHour ? `${result.costPerHour} ${result.currency ?? ""}` : "— (no price in the spec)"],
      ["cost per 1M output tokens", result.costPerMillionOutputTokens ? `${result.costPerMillionOutputTokens} ${result.currency ?? ""}` : "—"]], { id: "rec-result" }),
    h("h3", {}, "The formula with its numbers"),
    h("ol", { id: "formula" }, (result.formula || "").split("; ").map((step) => h("li", {}, h("code", {}, step)))),
    h("h3", {}, "Reasoning"), h("p", { id: "reasoning" }, result.reasoning || "—"),
    result.patchCommand ? h("div", {}, h("h3", {}, "To apply it"), h("pre", { id: "patch" }, result.patchCommand)) : "",
  );
});

async function list(main) {
  const body = await api("recommendations", { limit: 50 });
  main.append(body.items.length
    ? table(["recommendation", "target", "peak", "knee", "replicas", "GPUs", "cost/h", "ready", "updated"],
      body.items.map((r) => [h("a", { href: `?ref=${encodeURIComponent(`${r.namespace}/${r.name}`)}` }, `${r.namespace}/${r.name}`),
        r.target ?? "—", num(r.peak), num(r.kneeLevel), num(r.replicas), num(r.totalGpus),
        r.costPerHour ? `${r.costPerHour} ${r.currency ?? ""}` : "—", r.readyReason ?? "—", time(r.updatedAt)]), { id: "recommendations" })
    : absent("No stored CapacityRecommendation in a namespace you may read."));
}
