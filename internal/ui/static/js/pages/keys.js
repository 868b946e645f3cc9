// Keys: the user's API keys with their policies, last use and tokens
// used; "Create key" mints one (shown once, with a copy button and
// ready-to-paste snippets); "Revoke" per row.
import { api, base, t, el, clear, num, when, status, fail, openForm } from "../lib.js";

/** policyText lists a key's policies in words. */
export function policyText(k) {
  const parts = [];
  if (k.models && k.models.length) parts.push(t("keys.p_models", { models: k.models.join(", ") }));
  if (k.ip_allow && k.ip_allow.length) parts.push(t("keys.p_ips", { ips: k.ip_allow.join(", ") }));
  if (k.rpm) parts.push(t("keys.p_rpm", { n: k.rpm }));
  if (k.max_concurrency) parts.push(t("keys.p_conc", { n: k.max_concurrency }));
  if (k.token_quota) parts.push(t("keys.p_quota", { n: num(k.token_quota) }));
  if (k.expires_at) parts.push(t("keys.p_expires", { when: when(k.expires_at) }));
  return parts.length ? parts.join(" · ") : t("keys.p_none");
}

function row(k) {
  const revoke = el("button", { type: "button", class: "danger", text: t("keys.revoke"), disabled: k.revoked });
  revoke.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/keys/${encodeURIComponent(k.id)}`);
      status(t("keys.revoked_done"));
      await load();
    } catch (err) {
      fail(err);
    }
  });
  return el("tr", { "data-id": k.id, class: k.revoked ? "revoked" : "" },
    el("td", {}, el("code", { text: k.prefix })),
    el("td", { text: k.name }),
    el("td", { class: "policies", text: policyText(k) + (k.revoked ? " · " + t("keys.revoked") : "") }),
    el("td", { text: when(k.last_used_at) }),
    el("td", { class: "num", text: num(k.tokens_used) }),
    el("td", { class: "row-actions" }, revoke),
  );
}

async function load() {
  const res = await api("GET", "/api/keys");
  const tb = document.querySelector("#keys-table tbody");
  clear(tb);
  const rows = res.data || [];
  if (rows.length === 0) tb.append(el("tr", {}, el("td", { colspan: 6, text: t("keys.none") })));
  for (const k of rows) tb.append(row(k));
}

/** snippets are the ready-to-paste uses of key at origin (with the route prefix). */
export function snippets(origin, key) {
  const v1 = origin + "/v1";
  return {
    curl: `curl ${v1}/chat/completions \\\n  -H "Authorization: Bearer ${key}" \\\n  -H "Content-Type: application/json" \\\n  -d '{"model":"gpt-5.1","messages":[{"role":"user","content":"Hello"}]}'`,
    python: `from openai import OpenAI\n\nclient = OpenAI(base_url="${v1}", api_key="${key}")\nprint(client.chat.completions.create(model="gpt-5.1", messages=[{"role": "user", "content": "Hello"}]).choices[0].message.content)`,
    js: `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${v1}", apiKey: "${key}" });\nconst r = await client.chat.completions.create({ model: "gpt-5.1", messages: [{ role: "user", content: "Hello" }] });\nconsole.log(r.choices[0].message.content);`,
    claude: `export ANTHROPIC_BASE_URL=${origin}\nexport ANTHROPIC_API_KEY=${key}\nclaude`,
    n8n: `Base URL: ${v1}\nAPI Key: ${key}`,
  };
}

function showKey(key) {
  const panel = document.getElementById("new-key-panel");
  document.getElementById("new-key").textContent = key;
  const s = snippets(location.origin + base, key);
  for (const [id, text] of Object.entries(s)) document.getElementById("snip-" + id).textContent = text;
  panel.hidden = false;
}

function list(s) {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function intOrUndefined(v) {
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export function start() {
  const slot = document.getElementById("key-form-slot");
  const opener = document.getElementById("create-key");
  opener.addEventListener("click", () => {
    document.getElementById("new-key-panel").hidden = true;
    openForm("key-form-template", slot, opener, async (form, close) => {
      const payload = { name: form.name.value.trim() };
      const models = list(form.models.value);
      if (models.length) payload.models = models;
      const ips = list(form.ip_allow.value);
      if (ips.length) payload.ip_allow = ips;
      if (form.expires.value) payload.expires_at = new Date(form.expires.value + "T23:59:59Z").toISOString().replace(/\.\d+Z$/, "Z");
      for (const f of ["rpm", "max_concurrency", "token_quota"]) {
        const n = intOrUndefined(form[f].value);
        if (n !== undefined) payload[f] = n;
      }
      const res = await api("POST", "/api/keys", payload);
      close();
      showKey(res.key);
      await load();
    });
  });
  document.getElementById("copy-key").addEventListener("click", async () => {
    const key = document.getElementById("new-key").textContent;
    try {
      await navigator.clipboard.writeText(key);
      status(t("keys.copied"));
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("new-key"));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      status(t("keys.copy_manual"));
    }
  });
  load().catch(fail);
}
