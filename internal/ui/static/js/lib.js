// Shared helpers of the dashboard's pages: the message catalog, the JSON
// API client and a DOM builder. Data from the API is only ever put into
// the page as text (textContent, attribute values), never as HTML.

const body = document.body;

/** The route prefix ("" or like "/hf"). */
export const base = body.dataset.base || "";
/** The page's language ("en" or "zh-CN"). */
export const lang = body.dataset.lang || "en";
/** Whether the signed-in user is an admin. */
export const isAdmin = body.dataset.role === "admin";

const catalogEl = document.getElementById("catalog");
const catalog = catalogEl ? JSON.parse(catalogEl.textContent || "{}") : {};

/** t translates key, replacing {name} with vars[name]. */
export function t(key, vars) {
  let s = Object.prototype.hasOwnProperty.call(catalog, key) ? catalog[key] : key;
  if (vars) {
    for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
  }
  return s;
}

/** ApiError is a failed API call: its status and the envelope's message and code. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** api calls the dashboard API and returns the decoded JSON (null for 204). */
export async function api(method, path, payload, opts = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin", signal: opts.signal };
  if (payload !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  const resp = await fetch(base + path, init);
  if (resp.status === 401) {
    location.assign(base + "/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, t("error.session"), "unauthorized");
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.message || t("error.status", { status: resp.status }), e.code || "");
  }
  return data;
}

/**
 * el builds an element. attrs: "class", "text" (textContent), "on<event>"
 * handlers, "data-*"/"aria-*" and other attributes, and boolean
 * properties (hidden, disabled, checked). Children are nodes or strings
 * (added as text).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "hidden" || k === "disabled" || k === "checked" || k === "value") node[k] = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** clear removes every child of node. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

/** status shows a message in the page's live region ("" clears it). */
export function status(msg, isError = false) {
  const s = document.getElementById("status");
  if (!s) return;
  s.textContent = msg;
  s.classList.toggle("error", isError);
}

const numberFmt = new Intl.NumberFormat(lang);

/** num formats a count ("–" for null). */
export function num(n) {
  return n === null || n === undefined ? "–" : numberFmt.format(n);
}

/** ms formats a duration in milliseconds. */
export function ms(n) {
  if (n === null || n === undefined) return "–";
  return n < 1000 ? numberFmt.format(n) + " ms" : numberFmt.format(Math.round(n / 100) / 10) + " s";
}

const timeFmt = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" });

/** when formats an RFC 3339 time ("–" for null). */
export function when(s) {
  if (!s) return "–";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : timeFmt.format(d);
}

/** countdown formats the time left until an RFC 3339 time ("" once past). */
export function countdown(s, now = Date.now()) {
  if (!s) return "";
  const left = Math.round((new Date(s).getTime() - now) / 1000);
  if (!(left > 0)) return "";
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const sec = left % 60;
  const pad = (x) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** isoDay is the UTC date (YYYY-MM-DD) daysAgo days before today. */
export function isoDay(daysAgo = 0) {
  const d = new Date(Date.now() - daysAgo * 86400000);
  return d.toISOString().slice(0, 10);
}

/** fail shows an error of a background load in the status region. */
export function fail(err) {
  status(err && err.message ? err.message : String(err), true);
}

/**
 * openForm puts a clone of the <template> with id templateId into slot
 * and hides opener while it is open; the form's .cancel button (and
 * onDone) close it. Returns the form.
 */
export function openForm(templateId, slot, opener, onSubmit) {
  clear(slot);
  const tpl = document.getElementById(templateId);
  slot.append(tpl.content.cloneNode(true));
  const form = slot.querySelector("form");
  const close = () => {
    clear(slot);
    opener.hidden = false;
    opener.focus();
  };
  opener.hidden = true;
  form.querySelector(".cancel").addEventListener("click", close);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errEl = form.querySelector(".error");
    errEl.textContent = "";
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await onSubmit(form, close);
    } catch (err) {
      errEl.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
  return form;
}

/** confirmDialog asks a yes/no question in the page's <dialog>. */
export function confirmDialog(question) {
  const dlg = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = question;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "yes"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}
