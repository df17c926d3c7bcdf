// Every page, in English, Italian and Spanish, 1280 and 360 pixels wide: no axe-core violation
// of impact serious or critical, no CSP violation, no horizontal scrolling at 360 px, the page in
// the language chosen. Screenshots of each page in English at 1280 px (and at 360 px).
// Environment (besides browser.mjs's): APPLICANT_EMAIL; PAGES, a JSON list of
// {name, path, as: "nobody" | "applicant", method?: "POST", form?: {...}}.
import { run, newPage, BASE, env, check, out, signInWithLink, screenshot, assertNoCSPViolation, axeCheck, chooseLanguage } from './browser.mjs';

const pages = JSON.parse(env('PAGES'));
const langs = ['en', 'it', 'es'];
const widths = [1280, 360];

// selfTest proves the two checkers can fail: axe finds an image without a text alternative, and
// the listener hears the CSP refuse an inline script, on one of our own pages.
async function selfTest(browser) {
  const { context, page } = await newPage(browser);
  await page.goto(`${BASE}/signin`);
  await page.evaluate(() => {
    const img = document.createElement('img');
    img.src = '/static/app.css';
    document.body.append(img);
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.append(s);
  });
  await page.waitForTimeout(200);
  let axeFailed = false;
  try {
    await axeCheck(page, 'self-test');
  } catch (e) {
    axeFailed = /image-alt/.test(String(e.message));
  }
  check(axeFailed, 'axe did not report an image without alt text');
  let cspFailed = false;
  try {
    await assertNoCSPViolation(page, 'self-test');
  } catch (e) {
    cspFailed = /script-src/.test(String(e.message));
  }
  check(cspFailed, 'the CSP listener did not hear an inline script being refused');
  check(await page.evaluate(() => window.__inline) === undefined, 'an inline script ran');
  await context.close();
}

// keyboardOnly asks for a sign-in link with the keyboard alone: the focus order reaches the
// field, and Enter sends the form.
async function keyboardOnly(browser) {
  const { context, page } = await newPage(browser);
  await page.goto(`${BASE}/signin`);
  let reached = false;
  for (let i = 0; i < 20 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'link_email');
  }
  check(reached, 'the sign-in link field cannot be reached with Tab');
  await page.keyboard.type(env('APPLICANT_EMAIL'));
  await page.keyboard.press('Enter');
  await page.getByRole('status').waitFor();
  await context.close();
}

run(async (browser) => {
  await selfTest(browser);
  await keyboardOnly(browser);
  const signedIn = await newPage(browser);
  await signInWithLink(signedIn.page, env('APPLICANT_EMAIL'));
  const applicantState = await signedIn.context.storageState();
  await signedIn.context.close();

  let checked = 0;
  let minor = 0;
  let report = '';
  for (const lang of langs) {
    for (const width of widths) {
      for (const as of ['nobody', 'applicant']) {
        const { context, page } = await newPage(browser, { width, lang, storageState: as === 'applicant' ? applicantState : undefined });
        // The language switch, as a person uses it: it outranks the case's language.
        await page.goto(`${BASE}/signin`);
        await chooseLanguage(page, lang);
        for (const p of pages.filter((x) => x.as === as)) {
          const where = `${p.name} (${lang}, ${width} px)`;
          let resp;
          if (p.method === 'POST') {
            await page.goto(`${BASE}${p.from}`);
            await page.locator(p.submit).click();
            await page.waitForLoadState();
          } else {
            resp = await page.goto(`${BASE}${p.path}`);
            check(resp.status() === (p.status || 200), `${where}: status ${resp.status()}`);
          }
          const htmlLang = await page.locator('html').getAttribute('lang');
          check(htmlLang === lang, `${where}: the page is in ${htmlLang}`);
          const missing = await page.getByText(/\bpage\.[a-z_]+\.[a-z_.]+/).count();
          check(missing === 0, `${where}: a message id is shown instead of its text`);
          if (width === 360) {
            const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
            check(overflow <= 0, `${where}: ${overflow} px of horizontal scrolling`);
          }
          minor += await axeCheck(page, where);
          await assertNoCSPViolation(page, where);
          if (lang === 'en' || p.name === 'case' || p.name === 'accesses') {
            await screenshot(page, lang === 'en' ? `${p.name}${width === 360 ? '-360' : ''}` : `${p.name}-${lang}${width === 360 ? '-360' : ''}`);
          }
          if (p.name === 'case-released' && lang === 'en' && width === 1280) {
            // The released report, downloaded from its link as the patient would.
            const href = await page.getByRole('link', { name: 'Download the report' }).getAttribute('href');
            report = await page.evaluate(async (u) => {
              const r = await fetch(u);
              const b = await r.arrayBuffer();
              const h = await crypto.subtle.digest('SHA-256', b);
              return r.ok ? Array.from(new Uint8Array(h), (x) => x.toString(16).padStart(2, '0')).join('') : `status ${r.status}`;
            }, href);
          }
          checked++;
        }
        await context.close();
      }
      out({ event: 'checked', lang, width, pages: checked });
    }
  }
  return { checked, minorOrModerate: minor, report };
});
