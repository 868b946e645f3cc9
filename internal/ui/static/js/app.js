// The dashboard's entry module: the language and dark-mode switches (both
// remembered in cookies the server reads, so the next page renders in them
// from its first byte), sign-out, the sign-in form, and the page's own
// module.
import { base, t, status } from "./lib.js";

const year = 365 * 24 * 3600;

function remember(name, value) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${name}=${encodeURIComponent(value)}; Path=${base || "/"}; Max-Age=${year}; SameSite=Lax${secure}`;
}

for (const b of document.querySelectorAll(".lang-btn")) {
  b.addEventListener("click", () => {
    remember("spark_lang", b.dataset.lang);
    location.reload();
  });
}

const dark = document.getElementById("dark-mode");
if (dark) {
  if (!document.cookie.split("; ").some((c) => c.startsWith("spark_theme="))) {
    dark.checked = window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  dark.addEventListener("change", () => {
    const theme = dark.checked ? "dark" : "light";
    remember("spark_theme", theme);
    document.documentElement.dataset.theme = theme;
    document.dispatchEvent(new Event("spark-theme"));
  });
}

const signOut = document.getElementById("sign-out");
if (signOut) {
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    try {
      await fetch(base + "/auth/logout", { method: "POST", credentials: "same-origin" });
    } finally {
      location.assign(base + "/login");
    }
  });
}

const signIn = document.getElementById("signin-form");
if (signIn) {
  signIn.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errEl = document.getElementById("signin-error");
    errEl.textContent = "";
    const email = signIn.querySelector("#email").value;
    const password = signIn.querySelector("#password").value;
    try {
      const resp = await fetch(base + "/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ email, password }),
        credentials: "same-origin",
      });
      if (resp.status === 204) {
        location.assign(signIn.dataset.next || base + "/");
        return;
      }
      let msg = t("signin.failed");
      try {
        const data = await resp.json();
        if (data && data.error && data.error.message) msg = data.error.message;
      } catch {
        // keep the generic message
      }
      errEl.textContent = msg;
    } catch (err) {
      errEl.textContent = err.message;
    }
  });
}

// On a phone, table rows become cards (style.css): each cell is labelled
// with its column's heading, kept up to date as the pages add rows.
function labelCells(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, i) => {
      if (heads[i] && td.dataset.label !== heads[i] && !td.hasAttribute("colspan")) td.dataset.label = heads[i];
    });
  }
}
const observer = new MutationObserver((records) => {
  const tables = new Set(records.map((r) => r.target.closest && r.target.closest("table")).filter(Boolean));
  for (const t of tables) labelCells(t);
});
observer.observe(document.getElementById("main") || document.body, { childList: true, subtree: true });

const page = document.body.dataset.page;
const pageModules = new Set(["overview", "accounts", "keys", "usage", "models", "playground", "users", "audit"]);
if (pageModules.has(page)) {
  import(`./pages/${page}.js`)
    .then((m) => m.start())
    .catch((err) => status(err.message, true));
}
