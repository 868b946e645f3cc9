// Shared by the dashboard's browser tests: the environment the Go test
// (internal/app/browser_test.go) passes, a headless Chromium per signed-in
// person, page checks (console errors, axe-core, horizontal scroll) and
// screenshots.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through go test ./internal/app -run TestDashboardInBrowser`);
  return v;
};

export const base = env("SPARK_BASE_URL");
export const artifacts = env("SPARK_ARTIFACTS_DIR");

const require = createRequire(import.meta.url);
const axeSource = readFileSync(join(dirname(require.resolve("axe-core/package.json")), "axe.min.js"), "utf8");

/** The Chromium flags the brief asks for (a new --user-data-dir per browser). */
const flags = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export const desktop = { width: 1280, height: 860 };
export const phone = { width: 390, height: 844 };

/**
 * launch starts a browser with a fresh profile; every page it opens records
 * console errors and uncaught exceptions in .problems.
 */
export async function launch() {
  const dir = mkdtempSync(join(tmpdir(), "spark-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: env("SPARK_TEST_CHROMIUM"),
    headless: true,
    args: flags,
    viewport: desktop,
    locale: "en-US",
    timezoneId: "UTC",
    acceptDownloads: true,
  });
  context.setDefaultTimeout(15000);
  const track = (page) => {
    page.problems = [];
    page.on("console", (m) => {
      if (m.type() === "error") page.problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => page.problems.push(`exception: ${e.message}`));
    // What counts is the page now shown: a new document starts clean.
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) page.problems = [];
    });
  };
  context.on("page", track);
  for (const p of context.pages()) track(p);
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** url is a dashboard path under the gateway's base URL. */
export const url = (path) => base + path;

/** signInWithPassword signs page in through the sign-in form. */
export async function signInWithPassword(page, email, password) {
  await page.goto(url("/login"));
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(url("/"));
}

/** noProblems asserts the page logged no console error and threw nothing. */
export function noProblems(page, where) {
  assert.deepEqual(page.problems, [], `${where}: console errors or exceptions`);
}

/** axeCheck runs axe-core in the page and fails on serious or critical violations. */
export async function axeCheck(page, where) {
  await page.evaluate(axeSource); // CDP evaluation: not subject to the page's CSP
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} [${v.nodes.map((n) => n.target.join(" ")).join(", ")}]`), [], `${where}: axe-core violations`);
}

/** noHorizontalScroll asserts the page is no wider than its viewport. */
export async function noHorizontalScroll(page, where) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(scroll <= inner, `${where}: the page is ${scroll}px wide in a ${inner}px viewport`);
}

/** setTheme switches dark mode on or off through the switch, as a person would. */
export async function setTheme(page, dark) {
  const sw = page.getByRole("switch", { name: "Dark mode" });
  if ((await sw.isChecked()) !== dark) await sw.click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme === "dark"), dark);
}

/** shot writes a full-page screenshot to the artifacts directory. */
export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, name + ".png"), fullPage: true });
}

/** eventually retries fn (an async assertion) until it passes or timeoutMs ends. */
export async function eventually(fn, timeoutMs = 10000, stepMs = 250) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
}
