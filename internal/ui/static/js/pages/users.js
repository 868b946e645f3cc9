// Users (admin): every user with a role select and a disabled switch.
import { api, t, el, clear, when, status, fail } from "../lib.js";

function row(u) {
  const role = el("select", { "aria-label": t("users.role_of", { email: u.email }) },
    el("option", { value: "user", text: t("role.user") }),
    el("option", { value: "admin", text: t("role.admin") }));
  role.value = u.role;
  const disabled = el("input", { type: "checkbox", role: "switch", checked: u.disabled, "aria-label": t("users.disabled_of", { email: u.email }) });
  const patch = async (change, undo) => {
    try {
      await api("PATCH", `/api/users/${encodeURIComponent(u.id)}`, change);
      status(t("users.saved", { email: u.email }));
    } catch (err) {
      undo();
      fail(err);
    }
  };
  role.addEventListener("change", () => {
    const prev = u.role;
    patch({ role: role.value }, () => (role.value = prev)).then(() => (u.role = role.value));
  });
  disabled.addEventListener("change", () => {
    patch({ disabled: disabled.checked }, () => (disabled.checked = !disabled.checked));
  });
  return el("tr", { "data-id": u.id },
    el("td", { text: u.email }),
    el("td", { text: u.name || "" }),
    el("td", {}, role),
    el("td", {}, disabled),
    el("td", { text: when(u.last_login_at) }));
}

export async function start() {
  try {
    const res = await api("GET", "/api/users");
    const tb = document.querySelector("#users-table tbody");
    clear(tb);
    for (const u of res.data || []) tb.append(row(u));
  } catch (err) {
    fail(err);
  }
}
