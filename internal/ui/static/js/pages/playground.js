// Playground: pick a model, write a system prompt and a message, and read
// the answer as it streams (POST /api/playground/chat, server-sent events
// delta, reasoning, image, done, error). The answer is text: it goes into
// the page through textContent only, so model output cannot run script;
// images are shown from the signed proxy URLs the API gives.
import { api, base, t, el, clear, num, fail } from "../lib.js";

/**
 * parseSSE feeds chunks of an event stream and calls onEvent(name, data)
 * for each complete event (data parsed as JSON when it is).
 */
export function sseParser(onEvent) {
  let buf = "";
  let name = "message";
  let data = [];
  return (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length) {
          const raw = data.join("\n");
          let v = raw;
          try {
            v = JSON.parse(raw);
          } catch {
            // not JSON: hand over the text
          }
          onEvent(name, v);
        }
        name = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  };
}

/** usageText describes the done event's usage. */
export function usageText(u) {
  if (!u) return "";
  const parts = [t("playground.usage_in", { n: num(u.input_tokens ?? u.prompt_tokens ?? 0) }),
    t("playground.usage_out", { n: num(u.output_tokens ?? u.completion_tokens ?? 0) })];
  if (u.reasoning_tokens) parts.push(t("playground.usage_reasoning", { n: num(u.reasoning_tokens) }));
  return parts.join(" · ");
}

function safeImageURL(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
  } catch {
    return "";
  }
}

async function loadModels() {
  const sel = document.getElementById("pg-model");
  try {
    const res = await api("GET", "/api/models");
    clear(sel);
    const seen = new Set();
    for (const m of res.data || []) {
      const id = m.id || m.name;
      // One option per model name (two providers may serve it); no embedding models.
      if (!id || seen.has(id) || m.kind === "embedding") continue;
      seen.add(id);
      sel.append(el("option", { value: id, text: m.display_name && m.display_name !== id ? `${m.display_name} (${id})` : id }));
    }
  } catch (err) {
    fail(err);
  }
}

export function start() {
  loadModels();
  const form = document.getElementById("chat-form");
  const send = document.getElementById("pg-send");
  const stopBtn = document.getElementById("pg-stop");
  const answer = document.getElementById("pg-answer");
  const reasoning = document.getElementById("pg-reasoning");
  const reasoningText = reasoning.querySelector(".reasoning");
  const images = document.getElementById("pg-images");
  const usage = document.getElementById("pg-usage");
  const errEl = document.getElementById("pg-error");
  let ctrl = null;
  stopBtn.addEventListener("click", () => ctrl && ctrl.abort());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    answer.textContent = "";
    reasoningText.textContent = "";
    reasoning.hidden = true;
    clear(images);
    usage.textContent = "";
    errEl.textContent = "";
    const payload = { model: form.model.value, messages: [{ role: "user", content: form.message.value }] };
    if (form.system.value.trim()) payload.system = form.system.value;
    ctrl = new AbortController();
    send.disabled = true;
    stopBtn.hidden = false;
    answer.setAttribute("aria-busy", "true");
    try {
      const resp = await fetch(base + "/api/playground/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(payload),
        credentials: "same-origin",
        signal: ctrl.signal,
      });
      if (!resp.ok) {
        let msg = t("error.status", { status: resp.status });
        try {
          const data = await resp.json();
          if (data && data.error && data.error.message) msg = data.error.message;
        } catch {
          // keep the status
        }
        throw new Error(msg);
      }
      const feed = sseParser((name, data) => {
        switch (name) {
          case "delta":
            answer.append(document.createTextNode(data.text || ""));
            break;
          case "reasoning":
            reasoning.hidden = false;
            reasoningText.append(document.createTextNode(data.text || ""));
            break;
          case "image": {
            const src = safeImageURL(data.url || "");
            if (src) images.append(el("img", { src, alt: t("playground.image_alt"), loading: "lazy" }));
            break;
          }
          case "done":
            usage.textContent = usageText(data.usage);
            break;
          case "error":
            errEl.textContent = (data && data.message) || t("playground.failed");
            break;
        }
      });
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(value);
      }
      feed("\n\n");
    } catch (err) {
      if (err.name !== "AbortError") errEl.textContent = err.message;
    } finally {
      answer.removeAttribute("aria-busy");
      send.disabled = false;
      stopBtn.hidden = true;
      ctrl = null;
    }
  });
}
