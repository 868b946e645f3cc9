// The dashboard in headless Chromium, end to end against the gateway and
// the simulators (started by internal/app/browser_test.go). The tests run
// in order and share two browsers: the password admin's and the OIDC
// user's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import {
  env, url, base, launch, signInWithPassword, noProblems, axeCheck, noHorizontalScroll, setTheme, shot, eventually,
  desktop, phone,
} from "./helpers.mjs";

const adminEmail = env("SPARK_ADMIN_EMAIL");
const adminPassword = env("SPARK_ADMIN_PASSWORD");
const apiKey = env("SPARK_API_KEY");
const chatModel = env("SPARK_CHAT_MODEL");
const xssLabel = "<img src=x onerror=window.__xss=1>";

let admin; // { context, page, close }
let minted = ""; // the key minted in the keys test

before(async () => {
  admin = await launch();
});

after(async () => {
  if (admin) await admin.close();
});

const openai = (key) => new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });

test("a page without a session goes to the sign-in page, which has the fixed names", async () => {
  const { page } = admin;
  await page.goto(url("/usage"));
  assert.equal(page.url(), url("/login?next=%2Fusage"));
  await page.getByLabel("Email").waitFor();
  await page.getByLabel("Password").waitFor();
  await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
  await page.getByRole("button", { name: `Sign in with ${env("SPARK_OIDC_NAME")}` }).waitFor();
  await page.getByLabel("Email").fill(adminEmail);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "Wrong email or password" }).waitFor();
  assert.equal(await page.locator("link[rel=icon]").count(), 1);
  assert.equal(await page.locator('meta[name="viewport"]').count(), 1);
  for (const dark of [false, true]) {
    for (const [size, viewport] of [["desktop", desktop], ["phone", phone]]) {
      const where = `sign-in ${dark ? "dark" : "light"} ${size}`;
      await page.setViewportSize(viewport);
      await page.goto(url("/login"));
      await setTheme(page, dark);
      await shot(page, `signin-${dark ? "dark" : "light"}-${size}`);
      await axeCheck(page, where);
      await noHorizontalScroll(page, where);
      noProblems(page, where);
    }
  }
  await page.setViewportSize(desktop);
  await setTheme(page, false);
});

test("sign in with a password", async () => {
  const { page } = admin;
  page.problems.length = 0; // the wrong password's 401 above is expected
  await signInWithPassword(page, adminEmail, adminPassword);
  for (const name of ["Overview", "Accounts", "Keys", "Usage", "Models", "Playground", "Users", "Audit"]) {
    await page.getByRole("navigation").getByRole("link", { name, exact: true }).waitFor();
  }
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Overview", exact: true }).getAttribute("aria-current"), "page");
});

test("sign in through the OIDC provider as a user (no admin pages)", async () => {
  const b = await launch();
  try {
    const { page } = b;
    await page.goto(url("/keys"));
    await page.getByRole("button", { name: `Sign in with ${env("SPARK_OIDC_NAME")}` }).click();
    await page.waitForURL(url("/keys"));
    await page.getByRole("link", { name: "Keys", exact: true }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Users", exact: true }).count(), 0);
    assert.equal(await page.getByRole("link", { name: "Audit", exact: true }).count(), 0);
    assert.match(await page.locator(".who").textContent(), new RegExp(env("SPARK_OIDC_EMAIL").replace(/\./g, "\\.")));
    const resp = await page.goto(url("/users"));
    assert.equal(resp.status(), 404);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(url("/login"));
    await page.goto(url("/keys"));
    assert.ok(page.url().startsWith(url("/login?next=")), page.url());
  } finally {
    await b.close();
  }
});

test("users (admin): the OIDC user's markup-laden name stays text; role and disabled switches", async () => {
  const { page } = admin;
  await page.goto(url("/users"));
  const row = page.locator("#users-table tbody tr").filter({ hasText: env("SPARK_OIDC_EMAIL") });
  await row.waitFor();
  assert.equal(await row.locator("td").nth(1).textContent(), env("SPARK_XSS_NAME"));
  assert.equal(await page.locator("#users-table img").count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  const role = row.getByRole("combobox", { name: `Role of ${env("SPARK_OIDC_EMAIL")}` });
  assert.equal(await role.inputValue(), "user");
  await role.selectOption("admin");
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  await page.reload();
  await eventually(async () => assert.equal(await row.getByRole("combobox").inputValue(), "admin"));
  await row.getByRole("combobox").selectOption("user");
  const disabled = row.getByRole("switch", { name: `Disable ${env("SPARK_OIDC_EMAIL")}` });
  await disabled.check();
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  await disabled.uncheck();
  noProblems(page, "users");
});

test("audit (admin): the sign-ins and the user update are in the log", async () => {
  const { page } = admin;
  await page.goto(url("/audit"));
  await page.locator("#audit-table tbody tr").filter({ hasText: "user.update" }).first().waitFor();
  await page.locator("#audit-table tbody tr").filter({ hasText: adminEmail }).first().waitFor();
  noProblems(page, "audit");
});

test("usage: a request made with a key appears in the request log, the breakdown and the overview", async () => {
  const { page } = admin;
  const { response } = await openai(apiKey).chat.completions
    .create({ model: chatModel, messages: [{ role: "user", content: "Hello from the browser test" }] })
    .withResponse();
  const requestId = response.headers.get("x-request-id");
  assert.ok(requestId, "no X-Request-Id");
  await page.goto(url("/usage"));
  const log = page.getByTestId("request-log");
  await eventually(async () => {
    await page.reload();
    await log.locator(`tr[data-request-id="${requestId}"]`).waitFor({ timeout: 1000 });
  }, 15000);
  const row = log.locator(`tr[data-request-id="${requestId}"]`);
  assert.match(await row.textContent(), new RegExp(chatModel.replace(/\./g, "\\.")));
  await page.locator("#by-model tbody tr").filter({ hasText: chatModel }).waitFor();
  assert.ok(await page.locator("#chart-requests canvas").count() > 0, "no requests chart");
  // Filter by a status the request does not have: it disappears.
  await page.getByLabel("Status").selectOption("error");
  await page.getByRole("button", { name: "Filter" }).click();
  await eventually(async () => assert.equal(await row.count(), 0));
  const href = await page.getByRole("link", { name: "Export CSV" }).getAttribute("href");
  assert.match(href, /\/api\/usage\/export\.csv\?status=error$/);
  await page.getByLabel("Status").selectOption("");
  await page.getByRole("button", { name: "Filter" }).click();
  await row.waitFor();
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  const csv = await (await download).createReadStream();
  let text = "";
  for await (const chunk of csv) text += chunk;
  assert.ok(text.includes(requestId), "the CSV lacks the request");
  noProblems(page, "usage");

  await page.goto(url("/"));
  await eventually(async () => assert.ok(Number((await page.locator("#today-requests").textContent()).replace(/\D/g, "")) >= 1));
  assert.ok(await page.locator("#hourly-chart canvas").count() > 0, "no hourly chart");
  noProblems(page, "overview");
});

test("accounts: add one with a markup label and test it, a logged-out one, import three, delete with confirmation", async () => {
  const { page } = admin;
  await page.goto(url("/accounts"));
  await page.getByRole("button", { name: "Add account" }).click();
  await page.getByLabel("Provider").selectOption(env("SPARK_ACCOUNT_PROVIDER"));
  await page.getByLabel("Cookie").fill(env("SPARK_ACCOUNT_COOKIE"));
  await page.getByLabel("Label").fill(xssLabel);
  await page.getByRole("button", { name: "Save" }).click();
  const row = page.locator("#accounts-table tbody tr").filter({ hasText: xssLabel });
  await row.waitFor();
  assert.equal(await row.locator("td.label").textContent(), xssLabel);
  assert.equal(await page.locator("#accounts-table img").count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.ok(!(await page.content()).includes(env("SPARK_ACCOUNT_COOKIE")), "the cookie is shown after saving");
  await row.getByRole("button", { name: "Test" }).click();
  await eventually(async () => assert.match(await row.getByTestId("verdict").textContent(), /^OK, \d+ ms$/), 20000);

  await page.getByRole("button", { name: "Add account" }).click();
  await page.getByLabel("Provider").selectOption(env("SPARK_ACCOUNT_PROVIDER"));
  await page.getByLabel("Cookie").fill(env("SPARK_ACCOUNT_COOKIE_LOGGED_OUT"));
  await page.getByLabel("Label").fill("logged out");
  await page.getByRole("button", { name: "Save" }).click();
  const lo = page.locator("#accounts-table tbody tr").filter({ has: page.locator("td.label", { hasText: /^logged out$/ }) });
  await lo.waitFor();
  await lo.getByRole("button", { name: "Test" }).click();
  await eventually(async () => assert.match(await lo.getByTestId("verdict").textContent(), /^Logged out/), 20000);

  await page.getByRole("button", { name: "Import" }).click();
  await page.getByLabel("Provider").selectOption(env("SPARK_ACCOUNT_PROVIDER"));
  await page.getByLabel("Cookies").fill(["session_id=import-one", "session_id=import-two", "session_id=import-three"].join("\n"));
  await page.getByRole("button", { name: "Import" }).click();
  const results = page.getByTestId("import-result").locator("li");
  await eventually(async () => assert.equal(await results.count(), 3));
  for (let i = 0; i < 3; i++) assert.equal(await results.nth(i).textContent(), `Line ${i + 1}: created`);
  assert.ok(!(await page.content()).includes("import-two"), "an imported cookie is shown");

  await lo.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await lo.waitFor();
  await lo.getByRole("button", { name: "Delete" }).click();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await lo.waitFor({ state: "detached" });
  noProblems(page, "accounts");
});

test("models: the accounts' models by provider", async () => {
  const { page } = admin;
  await page.goto(url("/models"));
  await page.locator("#models table tbody tr").filter({ hasText: chatModel }).first().waitFor();
  noProblems(page, "models");
});

test("keys: mint one with a model allowlist, use it from the openai SDK, see it in the log, revoke it", async () => {
  const { page } = admin;
  await page.goto(url("/keys"));
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByLabel("Name").fill("browser test key");
  await page.getByLabel("Models").fill(chatModel);
  await page.getByLabel("IP allowlist").fill("127.0.0.1/32, ::1/128");
  await page.getByLabel("Requests per minute").fill("60");
  await page.getByLabel("Max concurrency").fill("4");
  await page.getByLabel("Token quota").fill("1000000");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const shown = page.getByTestId("new-key");
  await shown.waitFor();
  minted = (await shown.textContent()).trim();
  assert.match(minted, /^sk-spark-/);
  assert.ok((await page.locator("#snip-curl").textContent()).includes(minted));
  assert.ok((await page.locator("#snip-claude").textContent()).includes("ANTHROPIC_BASE_URL=" + base));
  const row = page.locator("#keys-table tbody tr").filter({ hasText: "browser test key" });
  await row.waitFor();
  assert.match(await row.textContent(), /60\/min/);

  const client = openai(minted);
  const { response } = await client.chat.completions
    .create({ model: chatModel, messages: [{ role: "user", content: "Hello with the minted key" }] })
    .withResponse();
  const requestId = response.headers.get("x-request-id");
  await page.goto(url("/usage"));
  await eventually(async () => {
    await page.reload();
    await page.getByTestId("request-log").locator(`tr[data-request-id="${requestId}"]`).waitFor({ timeout: 1000 });
  }, 15000);
  assert.match(await page.getByTestId("request-log").locator(`tr[data-request-id="${requestId}"]`).textContent(), /browser test key/);

  await page.goto(url("/keys"));
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("status").filter({ hasText: "revoked" }).waitFor();
  await assert.rejects(
    client.chat.completions.create({ model: chatModel, messages: [{ role: "user", content: "after revoking" }] }),
    (err) => err.status === 401,
  );
  noProblems(page, "keys");
});

test("playground: the answer streams into the page", async () => {
  const { page } = admin;
  await page.goto(url("/playground"));
  await eventually(async () => assert.ok((await page.getByLabel("Model").locator("option").count()) > 0));
  await page.getByLabel("Model").selectOption(chatModel);
  await page.getByLabel("System").fill("Answer briefly.");
  await page.getByLabel("Message").fill("Say hello <b>bold</b>");
  await page.getByRole("button", { name: "Send" }).click();
  const answer = page.getByTestId("answer");
  await eventually(async () => assert.ok((await answer.textContent()).length > 0), 20000);
  await eventually(async () => assert.match(await page.locator("#pg-usage").textContent(), /tokens out/), 20000);
  assert.equal(await answer.locator("*").count(), 0, "the answer holds elements, not text");
  noProblems(page, "playground");
});

test("language and dark mode are switched and remembered", async () => {
  const { page } = admin;
  await page.goto(url("/"));
  await page.getByRole("button", { name: "简体中文" }).click();
  await page.waitForLoadState("load");
  await page.getByRole("link", { name: "概览", exact: true }).waitFor();
  await page.goto(url("/keys"));
  await page.getByRole("link", { name: "密钥", exact: true }).waitFor();
  await page.getByRole("button", { name: "创建密钥" }).waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
  await page.getByRole("switch", { name: "深色模式" }).check();
  await page.reload();
  assert.equal(await page.locator("html").getAttribute("data-theme"), "dark");
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(17, 19, 24)");
  await axeCheck(page, "keys in zh-CN, dark");
  await page.getByRole("button", { name: "English" }).click();
  await page.waitForLoadState("load");
  await page.getByRole("link", { name: "Keys", exact: true }).waitFor();
  await setTheme(page, false);
  await page.reload();
  assert.equal(await page.locator("html").getAttribute("data-theme"), "light");
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(246, 247, 249)");
  noProblems(page, "language and theme");
});

const pages = [
  ["overview", "/"], ["accounts", "/accounts"], ["keys", "/keys"], ["usage", "/usage"], ["models", "/models"],
  ["playground", "/playground"], ["users", "/users"], ["audit", "/audit"],
];

for (const [name, path] of pages) {
  test(`${name}: axe-core clean, no console error, no horizontal scroll at 390 px, screenshots light and dark`, async () => {
    const { page } = admin;
    // Every variant is checked and photographed; the failures are reported together.
    const failures = [];
    for (const dark of [false, true]) {
      for (const [size, viewport] of [["desktop", desktop], ["phone", phone]]) {
        const where = `${name} ${dark ? "dark" : "light"} ${size}`;
        await page.setViewportSize(viewport);
        await page.goto(url(path));
        await setTheme(page, dark);
        await page.waitForLoadState("networkidle");
        await shot(page, `${name}-${dark ? "dark" : "light"}-${size}`);
        for (const check of [() => axeCheck(page, where), () => noHorizontalScroll(page, where), () => noProblems(page, where)]) {
          try {
            await check();
          } catch (err) {
            failures.push(err.message);
          }
        }
      }
    }
    await page.setViewportSize(desktop);
    await setTheme(page, false);
    assert.deepEqual(failures, []);
  });
}

test("sign out ends the session", async () => {
  const { page } = admin;
  await page.goto(url("/"));
  await page.getByRole("button", { name: "Sign out" }).click();
  // A load of the page still under way when the session ended may send the
  // browser to the sign-in page with ?next= first.
  await page.waitForURL((u) => u.href.startsWith(url("/login")));
  await page.goto(url("/accounts"));
  assert.ok(page.url().startsWith(url("/login?next=")), page.url());
});
