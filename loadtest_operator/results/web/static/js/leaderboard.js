import { api, fmt, h, page, runLink, table, time } from "./common.js";

const METRICS = [
  ["goodput_per_s", "goodput per second (best level)"],
  ["ttft_p90_ms", "TTFT p90 at a level"],
  ["output_tokens_per_s_per_gpu", "output tokens/s per GPU"],
  ["joules_per_1k_output_tokens", "GPU energy per 1k output tokens"],
  ["cost_per_1m_output_tokens", "cost per 1M output tokens (needs a price)"],
];

page("Leaderboard", async (main) => {
  const query = new URLSearchParams(location.search);
  const metric = query.get("metric") || "goodput_per_s";
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, value: query.get(name) || "", ...attrs }));
  const form = h("form", { id: "board-form", class: "filters" },
    h("label", {}, "metric", h("select", { name: "metric" }, METRICS.map(([k, t]) => h("option", { value: k, selected: k === metric }, t)))),
    field("level", "at level", { size: 5 }), h("label", {}, "rank", h("select", { name: "by" },
      ["run", "model"].map((b) => h("option", { value: b, selected: (query.get("by") || "run") === b }, `by ${b}`)))),
    field("pricePerGpuHour", "price per GPU-hour", { size: 6 }), field("namespace", "namespace"), field("model", "model"),
    h("button", { type: "submit" }, "Rank"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.search = next.toString();
  });
  main.append(form);
  const body = await api("leaderboard", {
    metric, level: query.get("level"), by: query.get("by"), pricePerGpuHour: query.get("pricePerGpuHour"),
    namespace: query.get("namespace"), model: query.get("model"),
  });
  main.append(h("p", { class: "note" }, `${body.metric} (${body.unit}), ${body.better} is better; ${body.runsRead} run(s) read${body.truncated ? " (stopped at the newest 2,000)" : ""}.`));
  main.append(table(["rank", body.metric, "level", "run", "model", "target", "started"],
    body.items.map((i) => [fmt(i.rank), h("td", { class: "num" }, fmt(i.value)), fmt(i.level), body.by === "model" ? i.run : runLink(i.run), i.model ?? "—", i.target ?? "—", time(i.startedAt)]),
    { id: "leaderboard" }));
  const excluded = body.excluded || [];
  if (excluded.length) main.append(h("details", {}, h("summary", {}, `${excluded.length} run(s) not ranked`), h("ul", {}, excluded.map((e) => h("li", {}, typeof e === "string" ? e : JSON.stringify(e))))));
});
