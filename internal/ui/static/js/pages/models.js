// Models: per provider, the models the user's accounts serve, with their
// display names, aliases and the accounts that serve each. The rows are
// read leniently (id or name; display_name; aliases; accounts as ids,
// labels or objects) so the page shows whatever the API lists.
import { api, t, el, clear, fail } from "../lib.js";

function accountName(a) {
  if (a && typeof a === "object") return a.label || a.id || "";
  return String(a);
}

/** groupModels groups model rows by provider, in first-seen order. */
export function groupModels(rows) {
  const groups = new Map();
  for (const m of rows) {
    const p = m.provider || m.owned_by || "";
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p).push(m);
  }
  return groups;
}

export async function start() {
  const box = document.getElementById("models");
  try {
    const res = await api("GET", "/api/models");
    clear(box);
    const rows = res.data || [];
    if (rows.length === 0) box.append(el("p", { text: t("models.none") }));
    for (const [provider, models] of groupModels(rows)) {
      const tb = el("tbody");
      for (const m of models) {
        const aliases = m.aliases || [];
        const accounts = (m.accounts || m.account_ids || []).map(accountName).filter(Boolean);
        tb.append(el("tr", {},
          el("td", {}, el("code", { text: m.id || m.name }), m.kind && m.kind !== "chat" ? el("span", { class: "badge", text: m.kind }) : null),
          el("td", { text: m.display_name || m.name || "" }),
          el("td", { text: aliases.join(", ") }),
          el("td", { text: accounts.join(", ") })));
      }
      box.append(el("section", { class: "card" },
        el("h2", { text: providerTitle(provider, models) }),
        el("div", { class: "table-wrap", tabindex: 0 }, el("table", {},
          el("thead", {}, el("tr", {},
            el("th", { scope: "col", text: t("models.id") }),
            el("th", { scope: "col", text: t("models.display_name") }),
            el("th", { scope: "col", text: t("models.aliases") }),
            el("th", { scope: "col", text: t("models.accounts") }))),
          tb))));
    }
  } catch (err) {
    fail(err);
  }
}

function providerTitle(provider, models) {
  const named = models.find((m) => m.provider_name || m.provider_display_name);
  return (named && (named.provider_name || named.provider_display_name)) || provider || t("models.other");
}
