// The referring physician: the patient invites them from the case page, they follow the mailed
// invitation, upload a cover letter, see what they sent, and reach nothing else.
// Environment (besides browser.mjs's): APPLICANT_EMAIL, CASE_ID, OTHER_CASE_ID (a case of the
// same patient they were not invited to), PHYSICIAN_EMAIL, LETTER (a PDF).
import { basename } from 'node:path';
import { run, newPage, BASE, env, check, signInWithLink, mailedLink, screenshot, assertNoCSPViolation, axeCheck, chooseLanguage } from './browser.mjs';
import { uploadFiles } from './uploader.mjs';

const caseId = env('CASE_ID');
const other = env('OTHER_CASE_ID');
const doctor = env('PHYSICIAN_EMAIL');
const letter = env('LETTER');

run(async (browser) => {
  // The patient invites the physician from the case page.
  const patient = (await newPage(browser)).page;
  await signInWithLink(patient, env('APPLICANT_EMAIL'));
  await patient.goto(`${BASE}/cases/${caseId}`);
  await chooseLanguage(patient, 'en'); // the case is in Italian
  await patient.getByLabel("Your physician's email address").fill(doctor);
  await patient.getByRole('button', { name: 'Send the invitation' }).click();
  await patient.getByRole('status').filter({ hasText: 'The invitation is sent.' }).waitFor();
  check(await patient.getByRole('listitem').filter({ hasText: doctor }).count() === 1, 'the case page does not list the invitation');

  // The physician follows the mailed link.
  const link = await mailedLink(doctor);
  check(link.startsWith(`${BASE}/invitation?token=`), 'the invitation link is not under the public URL');
  const { page } = await newPage(browser);
  await page.goto(link);
  await screenshot(page, 'invitation');
  await page.getByRole('button', { name: 'Accept and continue' }).click();
  await page.waitForURL(`${BASE}/physician`);
  const kinds = await page.getByLabel('Kind of document').locator('option').allTextContents();
  check(!kinds.some((k) => /identity|authority|consent|specialist/i.test(k)), `the physician may choose ${kinds.join(', ')}`);
  const done = await uploadFiles(page, { kind: 'cover_letter', files: [letter] });
  check(done.successful === 1, `cover letter upload: ${JSON.stringify(done)}`);
  await page.reload();
  check(await page.getByRole('region', { name: 'What you sent' }).getByText(basename(letter)).count() === 1,
    'the physician page does not list the cover letter');
  await screenshot(page, 'physician');
  await axeCheck(page, 'physician page');
  await assertNoCSPViolation(page, 'physician page');
  // The physician's page in every language, on a desk and on a phone.
  for (const lang of ['it', 'es', 'en']) {
    await chooseLanguage(page, lang);
    for (const width of [1280, 360]) {
      await page.setViewportSize({ width, height: 900 });
      const where = `physician page (${lang}, ${width} px)`;
      check(await page.locator('html').getAttribute('lang') === lang, `${where}: not in ${lang}`);
      check(await page.getByText(/\bpage\.[a-z_]+\.[a-z_.]+/).count() === 0, `${where}: a message id is shown`);
      if (width === 360) {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        check(overflow <= 0, `${where}: ${overflow} px of horizontal scrolling`);
      }
      await axeCheck(page, where);
      await assertNoCSPViolation(page, where);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });

  // Nothing else: not the case page, not the other case, not the patient's documents.
  const denied = {};
  for (const path of [`/cases/${caseId}`, `/cases/${other}`, `/cases/${other}/upload`, '/cases/new', `/cases/${caseId}/consent`]) {
    const r = await page.goto(`${BASE}${path}`);
    denied[path] = r.status();
    check(r.status() === 404 || r.status() === 403, `the physician reached ${path}: ${r.status()}`);
  }
  const list = await (await page.request.get(`${BASE}/api/v1/cases`)).json();
  check(Array.isArray(list.cases) && list.cases.length === 0, `the physician's case list: ${JSON.stringify(list)}`);
  for (const path of [`/api/v1/cases/${caseId}`, `/api/v1/cases/${other}/documents`, `/api/v1/cases/${caseId}/consent`]) {
    const r = await page.request.get(`${BASE}${path}`);
    denied[path] = r.status();
    check(r.status() >= 400, `the physician's API call ${path} answered ${r.status()}`);
  }
  const mine = await (await page.request.get(`${BASE}/api/v1/cases/${caseId}/documents`)).json();

  // The patient revokes the invitation: the physician's session ends with it.
  await patient.reload();
  let asked = '';
  patient.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await patient.getByRole('button', { name: `Revoke ${doctor}` }).click();
  await patient.getByRole('status').filter({ hasText: 'The invitation is revoked.' }).waitFor();
  check(asked.includes(doctor), `the revocation was not confirmed first (asked: ${asked})`);
  await page.goto(`${BASE}/physician`);
  check(page.url() === `${BASE}/signin`, `after the revocation the physician is at ${page.url()}`);
  return { denied, physicianSees: mine.documents.map((d) => d.filename) };
});
