// Accounts: the user's accounts with their state, rest countdown, last
// error and 24-hour counts; per row Test (the doctor's verdict inline),
// Reset and Delete; forms to add one account and to import many. A cookie
// is sent once and never shown again (the API never returns it).
import { api, t, el, clear, num, countdown, status, fail, openForm, confirmDialog } from "../lib.js";

const tbody = () => document.querySelector("#accounts-table tbody");
let ticker = 0;

function stateBadge(state) {
  const known = ["active", "resting", "disabled"].includes(state);
  return el("span", { class: "badge badge-" + (known ? state : "unknown"), text: known ? t("state." + state) : state });
}

/** verdictText is the doctor's answer in words: "OK" and the latency, or the problem and message. */
export function verdictText(v) {
  if (v.ok) return t("accounts.verdict_ok", { latency: v.latency_ms ?? "–" });
  const problem = v.problem ? t("problem." + v.problem) : t("accounts.verdict_failed");
  return v.message ? `${problem}: ${v.message}` : problem;
}

function row(a) {
  const verdict = el("span", { class: "verdict", "data-testid": "verdict", role: "status" });
  const rest = el("span", { class: "countdown", "data-until": a.rest_until || "" , text: countdown(a.rest_until) });
  const providerName = document.querySelector(`#add-account-form`)?.content.querySelector(`option[value="${CSS.escape(a.provider)}"]`)?.textContent;
  const tr = el("tr", { "data-id": a.id },
    el("td", { text: providerName || a.provider }),
    el("td", { class: "label", text: a.label || "" }),
    el("td", {}, stateBadge(a.state)),
    el("td", {}, rest),
    el("td", { class: "last-error", text: a.last_error || "" }),
    el("td", { class: "num", text: num(a.requests_24h) }),
    el("td", { class: "num", text: num(a.errors_24h) }),
  );
  const test = el("button", { type: "button", text: t("accounts.test") });
  test.addEventListener("click", async () => {
    test.disabled = true;
    verdict.textContent = t("accounts.testing");
    verdict.className = "verdict";
    try {
      const v = await api("POST", `/api/accounts/${encodeURIComponent(a.id)}/test`);
      verdict.textContent = verdictText(v);
      verdict.classList.add(v.ok ? "ok" : "bad");
    } catch (err) {
      verdict.textContent = err.message;
      verdict.classList.add("bad");
    } finally {
      test.disabled = false;
    }
  });
  const reset = el("button", { type: "button", text: t("accounts.reset") });
  reset.addEventListener("click", async () => {
    try {
      await api("POST", `/api/accounts/${encodeURIComponent(a.id)}/reset`);
      status(t("accounts.reset_done"));
      await load();
    } catch (err) {
      fail(err);
    }
  });
  const del = el("button", { type: "button", class: "danger", text: t("common.delete") });
  del.addEventListener("click", async () => {
    if (!(await confirmDialog(t("accounts.confirm_delete", { label: a.label || a.id })))) return;
    try {
      await api("DELETE", `/api/accounts/${encodeURIComponent(a.id)}`);
      status(t("accounts.deleted"));
      await load();
    } catch (err) {
      fail(err);
    }
  });
  tr.append(el("td", { class: "row-actions" }, test, reset, del, verdict));
  return tr;
}

async function load() {
  const res = await api("GET", "/api/accounts");
  const tb = tbody();
  clear(tb);
  const rows = res.data || [];
  if (rows.length === 0) tb.append(el("tr", {}, el("td", { colspan: 8, text: t("accounts.none") })));
  for (const a of rows) tb.append(row(a));
}

function tick() {
  const now = Date.now();
  for (const c of document.querySelectorAll(".countdown[data-until]")) {
    const next = countdown(c.dataset.until, now);
    if (c.textContent !== next) c.textContent = next;
  }
}

/** importResultText describes one line of an import's result. */
export function importResultText(r) {
  const line = t("accounts.import_line", { n: (r.index ?? 0) + 1 });
  const st = t("import." + r.status);
  return r.reason ? `${line}: ${st} (${r.reason})` : `${line}: ${st}`;
}

export function start() {
  const slot = document.getElementById("account-form-slot");
  const add = document.getElementById("add-account");
  const imp = document.getElementById("import-accounts");
  add.addEventListener("click", () => {
    imp.hidden = false;
    openForm("add-account-form", slot, add, async (form, close) => {
      const payload = { provider: form.provider.value, cookie: form.cookie.value.trim() };
      if (form.label.value.trim()) payload.label = form.label.value.trim();
      if (form.proxy.value.trim()) payload.proxy = form.proxy.value.trim();
      await api("POST", "/api/accounts", payload);
      form.cookie.value = "";
      close();
      status(t("accounts.added"));
      await load();
    });
  });
  imp.addEventListener("click", () => {
    add.hidden = false;
    openForm("import-accounts-form", slot, imp, async (form) => {
      const cookies = form.cookies.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
      const res = await api("POST", "/api/accounts/import", { provider: form.provider.value, cookies });
      form.cookies.value = "";
      const list = form.querySelector(".import-result");
      clear(list);
      for (const r of res.data || []) list.append(el("li", { class: "import-" + r.status, text: importResultText(r) }));
      await load();
    });
  });
  ticker = setInterval(tick, 1000);
  load().catch(fail);
}

export function stop() {
  clearInterval(ticker);
}
