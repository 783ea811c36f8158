import { api, h, num, page, runLink, table, time } from "./common.js";

const FILTERS = [
  ["namespace", "namespace", "every one you may read"],
  ["name", "LoadTest name", ""],
  ["model", "model", ""],
  ["since", "since", "24h, 7d or an RFC 3339 time"],
  ["until", "until", ""],
];
const OUTCOMES = ["", "Succeeded", "Failed", "Running", "Pending", "Rejected"];
const PAGE_SIZE = 20; // ?limit=N for another

page("Runs", async (main) => {
  const query = new URLSearchParams(location.search);
  const form = h("form", { id: "filters", class: "filters" },
    FILTERS.map(([key, label, hint]) => h("label", {}, label, h("input", { name: key, value: query.get(key) || "", placeholder: hint }))),
    h("label", {}, "outcome", h("select", { name: "outcome" },
      OUTCOMES.map((o) => h("option", { value: o, selected: query.get("outcome") === o }, o || "any")))),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.search = next.toString();
  });
  main.append(form);
  const params = Object.fromEntries([...FILTERS.map(([k]) => k), "outcome", "continue"].map((k) => [k, query.get(k)]));
  const body = await api("runs", { ...params, limit: query.get("limit") || PAGE_SIZE });
  const picked = new Set();
  const compare = h("button", { id: "compare-selected", type: "button", disabled: true, onclick: () => {
    location.href = "compare.html?" + [...picked].map((r) => "run=" + encodeURIComponent(r)).join("&");
  } }, "Compare selected");
  const rows = body.items.map((run) => [
    h("td", {}, h("input", { type: "checkbox", value: run.ref, "aria-label": `select ${run.ref}`, onchange: (ev) => {
      ev.target.checked ? picked.add(run.ref) : picked.delete(run.ref);
      compare.disabled = picked.size < 2;
    } })),
    h("td", {}, runLink(run.ref)), run.outcome, run.model ?? "—", run.target ?? "—", run.mode, time(run.startedAt),
    num(run.bestGoodputLevel), num(run.gpus),
  ]);
  main.append(
    body.items.length
      ? table(["", "run", "outcome", "model", "target", "mode", "started", "best level", "GPUs"], rows, { id: "runs" })
      : h("p", { id: "runs-empty", class: "absent" }, "No stored run matches (or none in a namespace you may read)."),
  );
  const pager = h("p", { class: "pager" }, compare, " ");
  if (query.get("continue")) {
    const first = new URLSearchParams(query);
    first.delete("continue");
    pager.append(h("a", { href: "?" + first, id: "first-page" }, "First page"), " ");
  }
  if (body.continue) {
    const next = new URLSearchParams(query);
    next.set("continue", body.continue);
    pager.append(h("a", { href: "?" + next, id: "next-page" }, "Next page"));
  }
  main.append(pager);
});
