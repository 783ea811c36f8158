import { absent, api, ApiError, apiUrl, authHeaders, detail, fmt, h, markReady, page, parseRef, problem, table, time } from "./common.js";
import { follow } from "./live.js";
import { renderFigures } from "./runview.js";

const LIVE_OUTCOMES = new Set(["Pending", "Running"]);

page("Run", async (main) => {
  const ref = new URLSearchParams(location.search).get("ref");
  const { namespace, name, runId } = parseRef(ref);
  let stored = null;
  try {
    stored = await api(`namespaces/${encodeURIComponent(namespace)}/runs/${encodeURIComponent(name)}`, { runId });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  document.querySelector("h1").textContent = `Run ${stored ? stored.ref : `${namespace}/${name}`}`;
  const facts = h("section", { id: "facts" });
  const liveLine = h("p", { id: "live", class: "live", dataset: { updates: "0" } });
  const figures = h("section", { id: "figures" });
  main.append(facts, liveLine, figures);
  if (stored) {
    facts.append(factsTable(stored), actions(stored));
    renderFigures(figures, fromStored(stored));
  }
  if (!stored || LIVE_OUTCOMES.has(stored.outcome)) {
    watch(namespace, name, stored, { facts, liveLine, figures }); // runs on while the page is open
  }
});

function fromStored(run) {
  return {
    mode: run.mode, slo: run.spec?.slo, levels: run.levels, fingerprint: run.fingerprint, summary: run.summary, live: false,
  };
}

function factsTable(run) {
  const slo = run.spec?.slo;
  const sloText = slo
    ? Object.entries(slo).map(([k, v]) => `${k} ${v}`).join(", ")
    : "none (no goodput, no SLO verdict)";
  return table(["", ""], [
    ["outcome", `${run.outcome}${run.reason ? ` (${run.reason})` : ""}`],
    ["model", run.model ?? "—"], ["target", run.target ?? "—"], ["mode", run.mode], ["SLO", sloText],
    ["started", time(run.startedAt)], ["finished", time(run.finishedAt)],
    ["vLLM version", run.vllmVersion ?? "— (not recorded)"], ["GPUs of the target", run.gpus ?? "— (none requested)"],
    ["best goodput level", run.bestGoodputLevel ?? "—"],
  ], { id: "run-facts" });
}

function actions(run) {
  const download = async (format) => {
    const answer = await fetch(apiUrl(`namespaces/${run.namespace}/runs/${run.name}/export`, { runId: run.runId, format }), { headers: authHeaders() });
    if (!answer.ok) return alert(await detail(answer));
    const link = h("a", { href: URL.createObjectURL(await answer.blob()), download: `${run.name}-${run.runId}.${format}` });
    link.click();
    URL.revokeObjectURL(link.href);
  };
  return h("p", { class: "actions" },
    h("a", { href: `compare.html?run=${encodeURIComponent(run.ref)}` }, "Compare with…"), " · ",
    ["csv", "xlsx", "json"].map((fmt_) => [h("button", { type: "button", onclick: () => download(fmt_) }, `Export ${fmt_.toUpperCase()}`), " "]));
}

/** Follow the LoadTest live: every status event redraws the panels from its levels. */
async function watch(namespace, name, stored, { facts, liveLine, figures }) {
  let updates = 0;
  const stop = new AbortController();
  addEventListener("pagehide", () => stop.abort());
  liveLine.textContent = "Live: connecting…";
  try {
    await follow(namespace, name, (event, data) => {
      if (event === "status") {
        updates += 1;
        liveLine.dataset.updates = String(updates);
        liveLine.dataset.phase = data.phase || "";
        liveLine.dataset.levels = String(data.levels.length);
        liveLine.textContent = `Live (${time(new Date().toISOString())}): ${describe(data)}`;
        if (!stored) facts.replaceChildren(liveFacts(data));
        renderFigures(figures, { mode: stored?.mode, slo: data.slo, levels: data.levels, fingerprint: data.fingerprint, summary: data, live: true });
      } else if (event === "end") {
        liveLine.dataset.ended = data.reason;
        liveLine.append(data.reason === "Finished"
          ? " — finished: reload for the stored run."
          : ` — live updates stop after ${fmt(data.seconds / 60)} minutes: reload to go on.`);
      } else if (event === "error") {
        liveLine.dataset.ended = "error";
        liveLine.append(` — live updates stopped: ${data.message}`);
      }
    }, stop.signal);
  } catch (err) {
    if (err.name === "AbortError") return;
    liveLine.replaceChildren(problem(err));
    if (!stored) markReady(err instanceof ApiError ? `error-${err.status}` : "error");
  }
}

function describe(s) {
  const p = s.progress || {};
  const parts = [`phase ${s.phase || "unknown"}`, `${s.levels.length} level(s) done`];
  if (p.currentLevel !== undefined && p.currentLevel !== null) parts.push(`running level ${p.currentLevel}`);
  if (p.percent !== undefined && p.percent !== null) parts.push(`${p.percent} %`);
  if (p.live?.requestsPerSecond !== undefined) parts.push(`${fmt(p.live.requestsPerSecond)} req/s now`);
  if (p.live?.ttftMedianMilliseconds !== undefined) parts.push(`TTFT median ${fmt(p.live.ttftMedianMilliseconds)} ms now`);
  return parts.join(", ");
}

function liveFacts(s) {
  return h("div", {},
    absent("Not in the store yet (or no store is configured): the figures below are the LoadTest's live status."),
    table(["", ""], [["phase", s.phase ?? "—"], ["target", s.target?.display ?? s.target?.url ?? "—"], ["model", s.target?.model ?? "—"],
      ["summary", s.summary ?? "—"]], { id: "run-facts" }));
}
