// Drives /docs (Swagger UI, served by Portcullis under its own CSP) in
// Debian's headless Chromium through playwright-core, as a person would:
//
//   1. open /docs and expand an operation;
//   2. "Try it out" + "Execute" on GET /healthz, and see 200;
//   3. "Authorize" with a bearer token obtained from the API;
//   4. "Try it out" + "Execute" on GET /v1/users/me, and see 200 and the user;
//   5. no console error, no uncaught page error, no CSP violation, no failed
//      request, all along.
// Saves a screenshot. Exits non-zero on the first failed step or on any
// error collected along the way.
//
//   PORTCULLIS_URL=http://127.0.0.1:8080 SCREENSHOT=../../target/swagger-ui.png node swagger-ui.mjs
import { chromium } from "playwright-core";

const baseUrl = process.env.PORTCULLIS_URL ?? "http://127.0.0.1:8080";
const screenshot = process.env.SCREENSHOT ?? "swagger-ui.png";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const stepTimeout = 15_000;

const problems = [];
const steps = [];
const step = (what) => {
  steps.push(what);
  console.log(`swagger-ui: ${what}`);
};

async function apiToken() {
  const email = `swagger-ui-${Date.now()}@example.com`;
  const password = "Meadow-lantern-orbit-4417";
  const post = (path, body) =>
    fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const registered = await post("/v1/auth/register", { email, password });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  const login = await post("/v1/auth/login", { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return { email, token: (await login.json()).access_token };
}

/** Expands an operation, presses "Try it out" and "Execute", returns its status cell. */
async function tryItOut(page, tag, operationId) {
  const op = page.locator(`#operations-${tag}-${operationId}`);
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: stepTimeout });
  return { op, status: (await status.innerText()).trim() };
}

async function main() {
  const { email, token } = await apiToken();
  step("obtained a bearer token through the API");

  const browser = await chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.setDefaultTimeout(stepTimeout);
    page.on("console", (message) => {
      if (message.type() === "error") {
        const where = message.location()?.url;
        problems.push(`console error: ${message.text()}${where ? ` (${where})` : ""}`);
      }
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) =>
      problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ""}`),
    );
    // Chromium also logs CSP violations to the console ("Refused to ..."),
    // but the DOM event names the directive and the blocked resource exactly.
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        console.error(
          `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "(inline)"}` +
            ` at ${event.sourceFile || "?"}:${event.lineNumber}`,
        );
      });
    });

    const response = await page.goto(`${baseUrl}/docs`, { waitUntil: "load" });
    if (response?.status() !== 200) throw new Error(`/docs answered ${response?.status()}`);
    const csp = response.headers()["content-security-policy"] ?? "";
    if (!csp.includes("script-src") || csp.includes("unsafe-inline")) {
      throw new Error(`/docs has an unexpected Content-Security-Policy: ${csp}`);
    }
    await page.locator(".opblock").first().waitFor();
    const operations = await page.locator(".opblock").count();
    step(`/docs rendered ${operations} operations`);

    const register = page.locator("#operations-Auth-register");
    await register.locator(".opblock-summary").first().click();
    const example = await register.locator(".opblock-body .body-param__example, .opblock-body .highlight-code").first().innerText();
    if (!example.includes("password")) throw new Error(`the register example shows no password: ${example}`);
    step("expanded POST /v1/auth/register: its example body shows email and password");
    await register.locator(".opblock-summary").first().click(); // fold it again
    await register.locator(".opblock-body").waitFor({ state: "detached" });

    const health = await tryItOut(page, "Operations", "healthz");
    if (health.status !== "200") throw new Error(`GET /healthz through Try it out: ${health.status}, want 200`);
    step("Try it out on GET /healthz: 200");

    await page.locator(".auth-wrapper button.authorize").click();
    const modal = page.locator(".modal-ux");
    await modal.waitFor();
    await modal.locator("input").first().fill(token);
    await modal.locator(".auth-btn-wrapper button.authorize").click();
    await modal.locator(".auth-btn-wrapper button.btn-done").click();
    await modal.waitFor({ state: "detached" });
    step("authorized with the bearer token");

    const me = await tryItOut(page, "Users", "getMe");
    if (me.status !== "200") throw new Error(`GET /v1/users/me through Try it out: ${me.status}, want 200`);
    const body = await me.op.locator(".live-responses-table .response-col_description .highlight-code").first().innerText();
    if (!body.includes(email)) throw new Error(`GET /v1/users/me did not show ${email}: ${body.slice(0, 300)}`);
    step("Try it out on GET /v1/users/me with the token: 200, the signed-in user");

    await me.op.locator(".live-responses-table").first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshot });
    step(`screenshot saved to ${screenshot}`);
  } finally {
    await browser.close();
  }
}

main()
  .catch((error) => problems.push(`step failed: ${error instanceof Error ? error.message : error}`))
  .finally(() => {
    for (const problem of problems) console.error(`swagger-ui: ${problem}`);
    if (problems.length) {
      console.error(`swagger-ui: FAILED after ${steps.length} step(s)`);
      process.exit(1);
    }
    console.log("swagger-ui: every step passed with no console error and no CSP violation");
  });
