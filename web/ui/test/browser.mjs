// Shared helpers of the page tests: Debian's Chromium driven by playwright-core (no downloaded
// browser), a CSP violation listener on every page, axe-core checks and screenshots.
// The Go tests in cmd/secondopinion run the scenario scripts beside this file with:
//   BASE_URL        the service (or the TLS proxy in front of it)
//   CONTROL_URL     the Go test's helper: GET /link?email=… answers the newest link mailed there
//   SCREENSHOT_DIR  where screenshots go ("" for none)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   CHROMIUM_ARGS   more flags (the proxy test trusts its throwaway certificate by its SPKI hash)
// A scenario prints JSON lines: {"event": …} while it runs and {"result": …} at the end; it exits 1
// with {"error": …} when a check fails.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const env = (k, d) => process.env[k] ?? d;
export const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
export const BASE = env('BASE_URL', 'http://127.0.0.1:8080');
export const CONTROL = env('CONTROL_URL', '');
const SHOTS = env('SCREENSHOT_DIR', '');

export class Failure extends Error {}

// lastPage is the newest page opened, described when a scenario fails.
let lastPage = null;
export function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// launch starts Chromium with the flags DEVELOPERS.md names. playwright-core gives every launch
// a fresh profile of its own (it refuses --user-data-dir and removes the profile on close).
export async function launch() {
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', ...env('CHROMIUM_ARGS', '').split(' ').filter(Boolean)],
  });
  return { browser, close: () => browser.close() };
}

// newPage opens a page that records CSP violations and failed requests to the service.
export async function newPage(browser, { width = 1280, height = 900, lang = 'en', storageState } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale: lang === 'en' ? 'en-GB' : lang,
    extraHTTPHeaders: { 'Accept-Language': lang }, storageState });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber });
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  lastPage = page;
  const csp = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
  });
  page.cspConsole = csp;
  return { context, page };
}

// assertNoCSPViolation fails when the page reported a violation of its Content-Security-Policy.
export async function assertNoCSPViolation(page, where) {
  const v = await page.evaluate(() => window.__csp || []).catch(() => []);
  check(v.length === 0 && page.cspConsole.length === 0,
    `CSP violated on ${where}: ${JSON.stringify(v)} ${page.cspConsole.join(' | ')}`);
}

// axeCheck runs axe-core (WCAG 2.0/2.1 A and AA rules) and fails on serious or critical violations.
export async function axeCheck(page, where) {
  await page.evaluate(axeSource); // evaluated by the DevTools protocol: not a page script, no CSP exemption needed
  const res = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe on ${where}: ` + bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')).join('; '));
  return res.violations.length;
}

// screenshot saves the page as SCREENSHOT_DIR/name.png (full page).
export async function screenshot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
}

// mailedLink asks the Go test for the newest link mailed to email (waiting for the outbox).
export async function mailedLink(email) {
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${CONTROL}/link?email=${encodeURIComponent(email)}`);
    if (r.ok) return (await r.text()).trim();
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Failure(`no link mailed to ${email}`);
}

// control asks the Go test to do something a scenario cannot do through pages (staff steps).
export async function control(path) {
  const r = await fetch(`${CONTROL}${path}`, { method: 'POST' });
  const text = await r.text();
  check(r.ok, `control ${path}: ${r.status} ${text}`);
  return text;
}

// run runs a scenario and reports its result or failure.
export async function run(scenario) {
  let b;
  try {
    b = await launch();
    const result = await scenario(b.browser);
    out({ result });
    await b.close();
    process.exit(0);
  } catch (e) {
    let where = '';
    if (lastPage) {
      try {
        const text = await lastPage.evaluate(() => document.body.innerText);
        where = `\n  on ${lastPage.url()}: ${text.replace(/\s+/g, ' ').slice(0, 600)}`;
      } catch {
        // the page is gone
      }
    }
    out({ error: (e instanceof Failure ? e.message : String(e && e.stack ? e.stack : e)) + where });
    if (b) await b.close().catch(() => {});
    process.exit(1);
  }
}

// signInWithLink asks for a link on the sign-in page, follows it from the mail and signs in.
export async function signInWithLink(page, email) {
  await page.goto(`${BASE}/signin`);
  await page.getByRole('region', { name: /link by email|link per email|enlace por correo/i }).getByLabel(/email|e-mail|correo/i).fill(email);
  await page.getByRole('button', { name: /email me a link|inviatemi|envíenme/i }).click();
  await page.getByRole('status').waitFor();
  const link = await mailedLink(email);
  check(link.startsWith(BASE + '/signin/link?token='), `the mailed link ${link.replace(/token=.*/, 'token=…')} is not under ${BASE}`);
  await page.goto(link);
  await page.getByRole('button', { name: /sign in|accedi|entrar|iniciar/i }).click();
  await page.waitForURL(`${BASE}/cases`);
}

// chooseLanguage presses the page's language switch.
export async function chooseLanguage(page, lang) {
  await page.locator(`form.langs button[value=${lang}]`).click();
  await page.waitForLoadState();
}
