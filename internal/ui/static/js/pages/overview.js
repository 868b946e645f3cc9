// Overview: today's requests, errors and tokens; accounts healthy, resting
// and failing; requests and errors per hour over the last 24 hours.
import { api, t, num, isoDay, fail } from "../lib.js";
import { lineChart } from "../chart.js";

/** hourSeries turns group_by=hour rows into the last 24 hours, one point an hour. */
export function hourSeries(rows, now = Date.now()) {
  const hour = 3600000;
  const end = Math.floor(now / hour) * hour;
  const byHour = new Map(rows.map((r) => [Date.parse(r.group.replace(/Z$/, ":00Z")), r]));
  const times = [], requests = [], errors = [];
  for (let h = end - 23 * hour; h <= end; h += hour) {
    const r = byHour.get(h);
    times.push(h / 1000);
    requests.push(r ? r.requests : 0);
    errors.push(r ? r.errors : 0);
  }
  return { times, requests, errors };
}

function set(id, v) {
  document.getElementById(id).textContent = v;
}

async function loadToday() {
  const today = isoDay(0);
  const res = await api("GET", `/api/usage?from=${today}&to=${today}&group_by=day`);
  const row = (res.data || [])[0] || { requests: 0, errors: 0, input_tokens: 0, output_tokens: 0 };
  set("today-requests", num(row.requests));
  set("today-errors", num(row.errors));
  set("today-tokens", num(row.input_tokens + row.output_tokens));
}

async function loadAccounts() {
  const res = await api("GET", "/api/accounts");
  let healthy = 0, resting = 0, failing = 0;
  for (const a of res.data || []) {
    if (a.state === "resting") resting++;
    else if (a.state === "disabled" || a.last_error) failing++;
    else healthy++;
  }
  set("acc-healthy", num(healthy));
  set("acc-resting", num(resting));
  set("acc-failing", num(failing));
}

async function loadChart() {
  const res = await api("GET", `/api/usage?from=${isoDay(1)}&to=${isoDay(0)}&group_by=hour`);
  const s = hourSeries(res.data || []);
  lineChart(document.getElementById("hourly-chart"), s.times, [
    { label: t("overview.requests_series"), values: s.requests, color: "--accent" },
    { label: t("overview.errors_series"), values: s.errors, color: "--danger" },
  ]);
}

export function start() {
  for (const p of [loadToday(), loadAccounts(), loadChart()]) p.catch(fail);
}
