// Usage: a range picker; requests and errors, tokens and latency over
// time; breakdowns by model, key and account; the request log (filterable
// by key, model and status, a page at a time) and its CSV export.
import { api, base, t, el, clear, num, ms, when, isoDay, fail } from "../lib.js";
import { lineChart } from "../chart.js";

let cursor = null;
let keyNames = new Map();
let accountNames = new Map();

function range() {
  const days = Number(document.getElementById("range").value) || 7;
  return { from: isoDay(days - 1), to: isoDay(0), byHour: days <= 2 };
}

/** groupTime is a day ("2026-03-10") or hour ("2026-03-10T14:00Z") group in seconds since the epoch. */
export function groupTime(g) {
  const iso = g.length === 10 ? g + "T00:00:00Z" : g.replace(/Z$/, ":00Z");
  return Date.parse(iso) / 1000;
}

/**
 * buckets lays rows (by day or hour) over every bucket from from (a
 * YYYY-MM-DD day) to now, empty buckets as zeros, so the time axis spans
 * the range asked for.
 */
export function buckets(rows, from, byHour, now = Date.now()) {
  const step = byHour ? 3600 : 86400;
  const byTime = new Map(rows.map((x) => [groupTime(x.group), x]));
  const zero = { requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, latency_p50_ms: null, latency_p95_ms: null, ttft_p50_ms: null };
  const out = [];
  const end = Math.floor(now / 1000 / step) * step;
  for (let t = Date.parse(from + "T00:00:00Z") / 1000; t <= end; t += step) out.push({ t, ...(byTime.get(t) || zero) });
  return out;
}

async function loadCharts() {
  const r = range();
  const res = await api("GET", `/api/usage?from=${r.from}&to=${r.to}&group_by=${r.byHour ? "hour" : "day"}`);
  const rows = buckets(res.data || [], r.from, r.byHour);
  const times = rows.map((x) => x.t);
  const pick = (f) => rows.map(f);
  lineChart(document.getElementById("chart-requests"), times, [
    { label: t("usage.requests"), values: pick((x) => x.requests), color: "--accent" },
    { label: t("usage.errors"), values: pick((x) => x.errors), color: "--danger" },
  ]);
  lineChart(document.getElementById("chart-tokens"), times, [
    { label: t("usage.input_tokens"), values: pick((x) => x.input_tokens), color: "--accent" },
    { label: t("usage.output_tokens"), values: pick((x) => x.output_tokens), color: "--accent-2" },
  ]);
  lineChart(document.getElementById("chart-latency"), times, [
    { label: t("usage.latency_p50"), values: pick((x) => x.latency_p50_ms), color: "--accent" },
    { label: t("usage.latency_p95"), values: pick((x) => x.latency_p95_ms), color: "--danger" },
    { label: t("usage.ttft_p50"), values: pick((x) => x.ttft_p50_ms), color: "--accent-2" },
  ]);
}

async function loadBreakdown(group) {
  const r = range();
  const res = await api("GET", `/api/usage?from=${r.from}&to=${r.to}&group_by=${group}`);
  const tb = document.querySelector(`#by-${group} tbody`);
  clear(tb);
  const rows = res.data || [];
  if (rows.length === 0) tb.append(el("tr", {}, el("td", { colspan: 7, text: t("usage.none") })));
  for (const x of rows) {
    const names = group === "key" ? keyNames : group === "account" ? accountNames : null;
    const name = (names && names.get(x.group)) || x.group;
    tb.append(el("tr", {},
      el("td", { text: name || "–" }),
      el("td", { class: "num", text: num(x.requests) }),
      el("td", { class: "num", text: num(x.errors) }),
      el("td", { class: "num", text: num(x.input_tokens) }),
      el("td", { class: "num", text: num(x.output_tokens) }),
      el("td", { class: "num", text: ms(x.latency_p50_ms) }),
      el("td", { class: "num", text: ms(x.ttft_p50_ms) })));
  }
}

function filters() {
  const f = new URLSearchParams();
  for (const id of ["key", "model", "status"]) {
    const v = document.getElementById("f-" + id).value.trim();
    if (v) f.set(id, v);
  }
  return f;
}

async function loadLog(reset) {
  const q = filters();
  q.set("limit", "50");
  if (!reset && cursor) q.set("cursor", cursor);
  const res = await api("GET", "/api/usage/requests?" + q);
  const tb = document.querySelector("#request-log tbody");
  if (reset) clear(tb);
  for (const x of res.data || []) {
    const failed = x.status >= 400 || x.error_class;
    tb.append(el("tr", { class: failed ? "failed" : "", "data-request-id": x.request_id },
      el("td", { text: when(x.time) }),
      el("td", {}, el("code", { text: x.request_id })),
      el("td", { text: keyNames.get(x.key_id) || x.key_id || "–" }),
      el("td", { text: x.model || "–" }),
      el("td", { text: x.served_model || "–" }),
      el("td", { text: x.error_class ? `${x.status} ${x.error_class}` : String(x.status) }),
      el("td", { class: "num", text: `${num(x.input_tokens)} / ${num(x.output_tokens)}` }),
      el("td", { class: "num", text: ms(x.latency_ms) }),
      el("td", { class: "num", text: ms(x.ttft_ms) })));
  }
  if (tb.children.length === 0) tb.append(el("tr", {}, el("td", { colspan: 9, text: t("usage.none") })));
  cursor = res.next_cursor;
  document.getElementById("log-more").hidden = !cursor;
  document.getElementById("export-csv").href = base + "/api/usage/export.csv" + (filters().toString() ? "?" + filters() : "");
}

async function loadAccounts() {
  try {
    const res = await api("GET", "/api/accounts");
    accountNames = new Map((res.data || []).map((a) => [a.id, a.label || a.id]));
  } catch (err) {
    fail(err);
  }
}

async function loadKeys() {
  try {
    const res = await api("GET", "/api/keys");
    keyNames = new Map((res.data || []).map((k) => [k.id, `${k.name} (${k.prefix})`]));
    const sel = document.getElementById("f-key");
    for (const [id, name] of keyNames) sel.append(el("option", { value: id, text: name }));
  } catch (err) {
    fail(err);
  }
}

function loadAll() {
  for (const p of [loadCharts(), loadBreakdown("model"), loadBreakdown("key"), loadBreakdown("account"), loadLog(true)]) p.catch(fail);
}

export async function start() {
  document.getElementById("range").addEventListener("change", loadAll);
  document.getElementById("range-form").addEventListener("submit", (ev) => ev.preventDefault());
  document.getElementById("log-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadLog(true).catch(fail);
  });
  document.getElementById("log-more").addEventListener("click", () => loadLog(false).catch(fail));
  await Promise.all([loadKeys(), loadAccounts()]);
  loadAll();
}
