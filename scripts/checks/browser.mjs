// Headless Chromium against the running service, as a new frontend developer meets it (run by 60-browser.sh).
//  1. /docs (Swagger UI): for every GET operation, "Try it out" then "Execute" with the defaults the page fills
//     in; the response code the page shows must be 2xx.
//  2. A listing loaded directly, once per coding (br, zstd, gzip) and once with the browser's own
//     Accept-Encoding: the answer is in that coding, the browser decodes it to the identity page, and a reload
//     revalidates (a 304 is seen).
//  3. Throughout: no request to a host other than 127.0.0.1 / localhost.
// Prints one PASS or FAIL line per check and exits 1 when any failed.
//
// Environment: FARMLOKAL_URL (the service), PLAYWRIGHT_CORE_DIR (where playwright-core is installed),
// CHROMIUM (default /usr/bin/chromium), BROWSER_PROFILE (a fresh, empty user data directory).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.PLAYWRIGHT_CORE_DIR, "node_modules", "/"));
const { chromium } = require("playwright-core");

const base = process.env.FARMLOKAL_URL ?? "http://127.0.0.1:8080";
const listing = `${base}/products?sort=price&limit=50`;
const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);
let failed = 0;
const pass = (what) => console.log(`PASS browser: ${what}`);
const fail = (what) => {
  failed += 1;
  console.log(`FAIL browser: ${what}`);
};

const context = await chromium.launchPersistentContext(process.env.BROWSER_PROFILE, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
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
context.setDefaultTimeout(15_000);
console.log(`chromium ${context.browser()?.version() ?? "(version unknown)"}`);

const outside = [];
context.on("request", (request) => {
  const url = new URL(request.url());
  if (["http:", "https:", "ws:", "wss:"].includes(url.protocol) && !loopback.has(url.hostname)) {
    outside.push(`${request.method()} ${request.url()}`);
  }
});
const responses = [];
context.on("response", (response) => responses.push(response));

try {
  await checkDocs();
  await checkListing();
} catch (error) {
  fail(`stopped: ${error.message.split("\n")[0]}`);
}
if (outside.length === 0) pass("no request left 127.0.0.1/localhost");
else fail(`requests to other hosts: ${[...new Set(outside)].join(", ")}`);
await context.close();
process.exit(failed ? 1 : 0);

async function checkDocs() {
  const page = await context.newPage();
  await page.goto(`${base}/docs`, { timeout: 60_000 });
  const operations = page.locator(".opblock.opblock-get");
  await operations.first().waitFor();
  const count = await operations.count();
  for (let i = 0; i < count; i += 1) {
    const operation = operations.nth(i);
    const name = (await operation.locator(".opblock-summary-path").first().innerText()).trim();
    try {
      await operation.locator(".opblock-summary").first().click();
      await operation.locator("button.try-out__btn").click();
      const executed = page.waitForResponse((response) => response.request().resourceType() === "fetch");
      await operation.locator("button.execute").click();
      const sent = await executed;
      const shown = operation.locator(".live-responses-table .response .response-col_status").first();
      await shown.waitFor();
      const code = (await shown.innerText()).trim().split(/\s+/)[0];
      const request = sent.request();
      const detail = `${request.method()} ${new URL(request.url()).pathname}${new URL(request.url()).search}`;
      if (/^2\d\d$/.test(code)) pass(`/docs Try it out + Execute GET ${name}: ${code} (${detail})`);
      else {
        const body = await operation.locator(".live-responses-table .response-col_description pre").first().innerText().catch(() => "");
        fail(`/docs Try it out + Execute GET ${name}: the page shows ${code} (${detail}) ${body.replace(/\s+/g, " ").slice(0, 200)}`);
      }
    } catch (error) {
      fail(`/docs Try it out + Execute GET ${name}: ${error.message.split("\n")[0]}`);
    }
  }
  const spec = await (await fetch(`${base}/openapi.json`)).json();
  const documented = Object.values(spec.paths).filter((item) => item.get).length;
  if (count !== documented) fail(`/docs shows ${count} GET operations, the spec documents ${documented}`);
  await page.close();
}

async function checkListing() {
  const identity = await (await fetch(listing, { headers: { "accept-encoding": "identity" } })).text();
  for (const coding of [null, "br", "zstd", "gzip"]) {
    const label = coding ?? "the browser's own Accept-Encoding";
    const page = await context.newPage();
    try {
      // Playwright reports a revalidated answer as the cached 200; the status on the wire (304) is in
      // Network.responseReceivedExtraInfo. An empty cache per coding, so each first load is a full answer.
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.clearBrowserCache");
      const urls = new Map();
      const wire = new Map();
      cdp.on("Network.requestWillBeSent", (event) => urls.set(event.requestId, event.request.url));
      cdp.on("Network.responseReceivedExtraInfo", (event) => wire.set(event.requestId, event.statusCode));
      const onWire = () => [...wire].filter(([id]) => urls.get(id) === listing).map(([, status]) => status);

      if (coding) await page.setExtraHTTPHeaders({ "accept-encoding": coding });
      const first = await page.goto(listing);
      const offered = (await first.request().allHeaders())["accept-encoding"];
      const encoding = (await first.allHeaders())["content-encoding"];
      const decoded = await first.text();
      const shown = await page.locator("body").innerText();
      const problems = [];
      if (first.status() !== 200) problems.push(`answered ${first.status()}`);
      if (coding ? encoding !== coding : !["br", "zstd", "gzip"].includes(encoding)) {
        problems.push(`Content-Encoding ${encoding ?? "(none)"} for Accept-Encoding ${offered}`);
      }
      if (decoded !== identity) problems.push("the decoded body differs from the identity body");
      try {
        JSON.parse(shown.includes("{") ? shown.slice(shown.indexOf("{")) : shown);
      } catch {
        problems.push("the page does not show parsable JSON");
      }
      const loaded = onWire().length;
      const again = await page.reload();
      const sent = (await again.request().allHeaders())["if-none-match"];
      const revalidated = onWire().slice(loaded);
      if (!revalidated.includes(304)) {
        problems.push(`the reload sent If-None-Match ${sent ?? "(none)"} and got ${revalidated.join(", ") || "nothing"} on the wire, no 304`);
      }
      if (problems.length) fail(`listing with ${label}: ${problems.join("; ")}`);
      else pass(`listing with ${label}: ${encoding} decoded to the identity page, reload revalidated (304)`);
    } catch (error) {
      fail(`listing with ${label}: ${error.message.split("\n")[0]}`);
    }
    await page.close();
  }
}
