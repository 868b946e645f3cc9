// Audit (admin): the audit log, newest first, a page at a time.
import { api, t, el, when, fail } from "../lib.js";

let cursor = null;

async function loadPage() {
  const q = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
  const res = await api("GET", "/api/audit" + q);
  const tb = document.querySelector("#audit-table tbody");
  for (const e of res.data || []) {
    tb.append(el("tr", {},
      el("td", { text: when(e.time) }),
      el("td", { text: e.actor_email || e.actor_id || "–" }),
      el("td", {}, el("code", { text: e.action })),
      el("td", { text: [e.target_type, e.target_id].filter(Boolean).join(" ") }),
      el("td", { text: e.ip || "" })));
  }
  if (tb.children.length === 0) tb.append(el("tr", {}, el("td", { colspan: 5, text: t("audit.none") })));
  cursor = res.next_cursor;
  document.getElementById("audit-more").hidden = !cursor;
}

export function start() {
  document.getElementById("audit-more").addEventListener("click", () => loadPage().catch(fail));
  loadPage().catch(fail);
}
