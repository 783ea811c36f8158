// Shared by every page: the bearer token (sessionStorage), calls to the JSON API, the page frame with
// its navigation and login, and a DOM builder that writes every value as text (never as HTML).

const TOKEN_KEY = "llmload.token";
export const API = new URL("../api/v1/", new URL(".", location.href)); // the service's API, beside /dashboard/

// `kubectl llmload dashboard` hands the token over in the fragment (#token=...), which a browser never
// sends to a server: keep it for this tab only and take it out of the address bar and the history.
(function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (!given) return;
  sessionStorage.setItem(TOKEN_KEY, given);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
})();

export const token = () => sessionStorage.getItem(TOKEN_KEY);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET an API path (relative to /api/v1/) with the query `params` (arrays repeat the key). */
export async function api(path, params = {}) {
  const url = apiUrl(path, params);
  const answer = await fetch(url, { headers: authHeaders(), cache: "no-store" });
  if (!answer.ok) throw new ApiError(answer.status, await detail(answer));
  return answer.json();
}

export function apiUrl(path, params = {}) {
  const url = new URL(path, API);
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.append(key, v);
    }
  }
  return url;
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function detail(answer) {
  try {
    const body = await answer.json();
    if (typeof body.detail === "string") return body.detail;
  } catch (_) {
    /* not JSON: the status says it */
  }
  return `HTTP ${answer.status} ${answer.statusText}`;
}

/** An element: h("td", {class: "num"}, "12.5"); strings become text nodes, null children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A number for people: "—" for a figure that is absent (never 0). */
export function fmt(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  const abs = Math.abs(value);
  const d = abs >= 1000 ? 0 : abs >= 100 ? 1 : digits;
  return value.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 });
}

export const time = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC") : "—");

export function runLink(ref, text) {
  return h("a", { href: `run.html?ref=${encodeURIComponent(ref)}` }, text || ref);
}

/** "ns/name:3" → {namespace, name, runId}. */
export function parseRef(ref) {
  const m = /^([^/]+)\/([^:]+)(?::(\d+))?$/.exec(ref || "");
  if (!m) throw new ApiError(400, `not a run reference: ${JSON.stringify(ref)} (NAMESPACE/NAME[:RUNID])`);
  return { namespace: m[1], name: m[2], runId: m[3] === undefined ? null : Number(m[3]) };
}

const PAGES = [
  ["index.html", "Runs"],
  ["compare.html", "Compare"],
  ["leaderboard.html", "Leaderboard"],
  ["recommendation.html", "Recommendations"],
];

/** The page frame: navigation, the login state, a main area given to `render(main)`. Errors from the
 *  API become a message on the page: 401 the login form, 403 the permission that is missing. */
export async function page(title, render) {
  document.title = `${title} · llmload`;
  const current = location.pathname.split("/").pop() || "index.html";
  const nav = h(
    "nav",
    {},
    h("span", { class: "brand" }, "llmload"),
    PAGES.map(([href, label]) => h("a", { href, class: href === current ? "current" : null }, label)),
    h("span", { class: "spacer" }),
    token()
      ? h("button", { id: "logout", type: "button", onclick: logout }, "Forget token")
      : h("span", { class: "muted" }, "not logged in"),
  );
  const main = h("main", { id: "main" });
  document.body.replaceChildren(nav, h("h1", {}, title), main);
  if (!token()) {
    main.append(loginForm());
    markReady("login");
    return;
  }
  try {
    await render(main);
    markReady("ok");
  } catch (err) {
    main.replaceChildren(problem(err));
    markReady(err instanceof ApiError ? `error-${err.status}` : "error");
    if (!(err instanceof ApiError)) console.error(err);
  }
}

export function markReady(state) {
  document.body.dataset.state = state; // the browser tests wait for it
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

export function problem(err) {
  if (err instanceof ApiError && err.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    return h(
      "div",
      {},
      h("p", { id: "auth-problem", class: "problem", dataset: { kind: "unauthorized" } },
        `Your token was not accepted: ${err.message}. Log in again.`),
      loginForm(),
    );
  }
  if (err instanceof ApiError && err.status === 403) {
    return h("p", { id: "auth-problem", class: "problem", dataset: { kind: "forbidden" } },
      `Permission needed: ${err.message}. Ask for the chart's llmload-view role in that namespace ` +
        "(kubectl create rolebinding ... --clusterrole=llmload-view).");
  }
  return h("p", { class: "problem", id: "page-problem" }, err.message || String(err));
}

function loginForm() {
  const input = h("textarea", { id: "token-input", rows: 3, placeholder: "eyJhbGciOi...", autocomplete: "off" });
  return h(
    "form",
    {
      id: "login",
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        location.reload();
      },
    },
    h("p", {}, "The dashboard shows what your Kubernetes identity may read (get loadtests in a namespace). ",
      "Open it with ", h("code", {}, "kubectl llmload dashboard"), ", which logs you in, or paste a bearer token, e.g. ",
      h("code", {}, "kubectl create token NAME -n NAMESPACE"), ". It is kept for this browser tab only."),
    input,
    h("button", { type: "submit" }, "Log in"),
  );
}

/** A paragraph that says a figure is not in this run (instead of drawing it as zero). */
export const absent = (text) => h("p", { class: "absent" }, text);

export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", {}, c)))))),
  );
}

export const num = (value, digits) => h("td", { class: "num" }, fmt(value, digits));
