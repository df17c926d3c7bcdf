// The staff desks, one role after another (environment besides browser.mjs's):
//   PASSWORD (every staff account's), CM_EMAIL, REVIEWER_EMAIL, DPO_EMAIL, ADMIN_EMAIL,
//   OVERDUE_CASE (submitted, past its triage date), OTHER_CASE (submitted later, not overdue),
//   REVIEWER_CASE_BEFORE_CONSENT (assigned to the reviewer, consent not countersigned) and its DOC,
//   IDENTITY_DOC (a PDF of OVERDUE_CASE), REJECT_DOC (a document of it to reject), REPORT (a PDF).
//   The DPO puts OTHER_CASE under legal hold, lifts it, and erases the case.
import { readFileSync } from 'node:fs';
import { run, newPage, BASE, env, check, out, screenshot, assertNoCSPViolation, axeCheck, chooseLanguage, mailedLink } from './browser.mjs';
import { enrolTOTP, pdfDrawn } from './staff.mjs';
import { uploadFiles } from './uploader.mjs';

const password = env('PASSWORD');
const caseA = env('OVERDUE_CASE');
const caseB = env('OTHER_CASE');

async function checkPage(page, where) {
  check(await page.getByText(/\bpage\.[a-z_]+\.[a-z_.]+/).count() === 0, `${where}: a message id is shown`);
  await axeCheck(page, where);
  await assertNoCSPViolation(page, where);
}

// inEveryLanguage checks the role's pages in Italian and Spanish too (English is checked as
// the scenario goes), then switches back to English.
async function inEveryLanguage(page, paths) {
  for (const lang of ['it', 'es']) {
    await page.goto(`${BASE}${paths[0]}`);
    await chooseLanguage(page, lang);
    for (const path of paths) {
      await page.goto(`${BASE}${path}`);
      const where = `${path} (${lang})`;
      check(await page.locator('html').getAttribute('lang') === lang, `${where}: not in ${lang}`);
      check(await page.getByText(/\bpage\.[a-z_]+\.[a-z_.]+/).count() === 0, `${where}: a message id is shown`);
      await checkPage(page, where);
    }
  }
  await chooseLanguage(page, 'en');
}

async function caseManager(browser) {
  const { page } = await newPage(browser);
  await enrolTOTP(page, env('CM_EMAIL'), password);
  await page.waitForURL(`${BASE}/staff/cases`);
  await checkPage(page, 'queue');
  await screenshot(page, 'staff-queue');
  // The overdue case first, marked.
  const first = page.locator('table.queue tbody tr').first();
  check((await first.locator('code.caseid').textContent()).trim() === caseA, 'the overdue case is not first in the queue');
  check(await first.getByText('Overdue').count() === 1, 'the overdue case is not marked');
  const other = page.locator('table.queue tbody tr').filter({ hasText: caseB });
  check(await other.count() === 1 && await other.getByText('Overdue').count() === 0, 'the other case is missing or marked overdue');
  // Search by id, and a filter.
  await page.getByLabel('Find a case by its id').fill(caseB);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.waitForURL(`${BASE}/staff/cases/${caseB}`);
  await page.goto(`${BASE}/staff/cases?overdue=true`);
  check(await page.locator('table.queue tbody tr').count() === 1, 'the overdue filter shows other cases');

  await page.goto(`${BASE}/staff/cases/${caseA}`);
  await page.getByRole('button', { name: 'Take it into triage' }).click();
  await page.getByRole('status').filter({ hasText: 'in triage' }).waitFor();
  await checkPage(page, 'triage page');
  await screenshot(page, 'staff-triage');

  // The identity document, inline.
  await page.goto(`${BASE}/staff/documents/${env('IDENTITY_DOC')}`);
  const ms = await pdfDrawn(page);
  out({ event: 'identity document drawn', ms });
  await checkPage(page, 'document viewer');
  await screenshot(page, 'staff-viewer');

  // Reject one document with a reason, accept the others.
  await page.goto(`${BASE}/staff/cases/${caseA}`);
  const rejectRow = page.locator('table.staff-docs tbody tr').filter({ has: page.locator(`a[href="/staff/documents/${env('REJECT_DOC')}"]`) });
  await rejectRow.getByText('Reject').first().click();
  await rejectRow.getByLabel('Why (the patient reads this)').fill('The scan is cut off: please send all pages.');
  await rejectRow.getByRole('button', { name: 'Reject' }).click();
  await page.getByRole('status').filter({ hasText: 'The decision is recorded.' }).waitFor();
  for (let i = 0; i < 20; i++) {
    const accept = page.locator('table.staff-docs').getByRole('button', { name: /^Accept/ });
    if (await accept.count() === 0) break;
    await accept.first().click();
    await page.getByRole('status').filter({ hasText: 'The decision is recorded.' }).waitFor();
  }
  await page.getByRole('button', { name: 'Countersign the consent' }).click();
  await page.getByRole('status').filter({ hasText: 'countersigned' }).waitFor();
  // With the consent active, a scanned slide (TIFF) is shown as an image.
  await page.goto(`${BASE}/staff/documents/${env('TIFF_DOC')}`);
  const width = await page.locator('img.doc-image').evaluate((img) => img.complete ? img.naturalWidth :
    new Promise((resolve) => { img.onload = () => resolve(img.naturalWidth); img.onerror = () => resolve(-1); }));
  check(width === 320, `the TIFF is shown ${width} pixels wide, want 320`);
  await checkPage(page, 'TIFF in the viewer');
  await page.goto(`${BASE}/staff/cases/${caseA}`);
  await page.getByLabel('Assign a specialist').selectOption(env('REVIEWER_EMAIL'));
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'specialist is assigned' }).waitFor();
  await page.getByRole('button', { name: 'Accept the case' }).click();
  await page.getByRole('status').filter({ hasText: 'The case is accepted' }).waitFor();
  await page.getByLabel('Method').fill('bank transfer');
  await page.getByLabel('Reference').fill('SO-2026-0042');
  await page.getByRole('button', { name: 'Record the payment' }).click();
  await page.getByRole('status').filter({ hasText: 'The payment is recorded.' }).waitFor();
  check(await page.locator('.badge').filter({ hasText: 'With the specialist' }).count() === 1, 'after payment the case is not with the specialist');
  await checkPage(page, 'case after payment');
  await inEveryLanguage(page, ['/staff/cases', `/staff/cases/${caseA}`, `/staff/cases/${caseB}`, `/staff/documents/${env('IDENTITY_DOC')}`]);
}

async function reviewer(browser) {
  const { page } = await newPage(browser);
  await enrolTOTP(page, env('REVIEWER_EMAIL'), password);
  await page.waitForURL(`${BASE}/staff/cases`);
  await checkPage(page, 'reviewer cases');
  // Before consent: nothing of the case, and no document.
  await page.goto(`${BASE}/staff/cases/${env('REVIEWER_CASE_BEFORE_CONSENT')}`);
  await page.getByText("waits for the patient's consent").waitFor();
  check(await page.locator('table.staff-docs').count() === 0, 'documents shown before consent');
  const refused = await page.goto(`${BASE}/staff/documents/${env('REVIEWER_DOC_BEFORE_CONSENT')}`);
  check(refused.status() === 403 || refused.status() === 404, `the viewer before consent answered ${refused.status()}`);
  const content = await page.evaluate(async (u) => (await fetch(u)).status, `${BASE}/api/v1/documents/${env('REVIEWER_DOC_BEFORE_CONSENT')}/content`);
  check(content === 403, `the content before consent answered ${content}`);
  // After consent: the documents, the viewer, the report.
  await page.goto(`${BASE}/staff/cases/${caseA}`);
  await page.goto(`${BASE}/staff/documents/${env('IDENTITY_DOC')}`);
  await pdfDrawn(page);
  await page.goto(`${BASE}/staff/cases/${caseA}`);
  await screenshot(page, 'staff-workspace');
  await page.getByRole('link', { name: 'Upload the report' }).click();
  const up = await uploadFiles(page, { kind: 'report', files: [env('REPORT')] });
  check(up.successful === 1, `report upload: ${JSON.stringify(up)}`);
  await page.goto(`${BASE}/staff/cases/${caseA}`);
  await page.getByRole('button', { name: 'Release the report' }).click();
  await page.getByRole('status').filter({ hasText: 'The report is released' }).waitFor();
  await checkPage(page, 'workspace after release');
  await inEveryLanguage(page, ['/staff/cases', `/staff/cases/${caseA}`, `/staff/cases/${env('REVIEWER_CASE_BEFORE_CONSENT')}`]);
}

async function dpo(browser) {
  const { page } = await newPage(browser);
  await enrolTOTP(page, env('DPO_EMAIL'), password);
  await page.waitForURL(`${BASE}/staff/audit`);
  await page.getByLabel('Case').fill(caseA);
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/case_id=/);
  const rows = page.locator('table.audit tbody tr');
  check(await rows.count() > 5, `the log of the case has ${await rows.count()} entries`);
  const cases = await page.locator('table.audit tbody tr td:nth-child(6)').allTextContents();
  check(cases.every((c) => c.trim() === caseA), 'the filtered log shows other cases');
  await checkPage(page, 'audit desk');
  await screenshot(page, 'staff-audit');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'FHIR AuditEvent (NDJSON)' }).click()]);
  const text = readFileSync(await download.path(), 'utf8');
  const events = text.trim().split('\n').map((l) => JSON.parse(l));
  check(events.length === await rows.count() || events.length >= await rows.count(), 'the export has fewer entries than the page');
  check(events.every((e) => e.resourceType === 'AuditEvent'), 'the export is not FHIR AuditEvents');
  await page.getByRole('link', { name: 'Verify the whole log now' }).click();
  await page.getByText('The audit log is intact.').waitFor();
  await checkPage(page, 'verification');
  await screenshot(page, 'staff-audit-verify');
  await inEveryLanguage(page, [`/staff/audit?case_id=${caseA}`, '/staff/audit/verify']);

  // Legal hold, then erasure at the patient's request, of the other case.
  await page.goto(`${BASE}/staff/cases/${caseB}`);
  check(await page.getByText('This case is not under legal hold.').count() === 1, 'the case page does not say whether it is held');
  await page.getByText('Place a legal hold', { exact: true }).first().click();
  await page.getByLabel('Reference (a claim, a court order)').fill('Claim 2026/88');
  await page.getByRole('button', { name: 'Place the hold' }).click();
  await page.getByRole('status').filter({ hasText: 'The case is under legal hold.' }).waitFor();
  check(await page.getByText(/Under legal hold since .*: Claim 2026\/88/).count() === 1, 'the hold and its reason are not shown');
  check(await page.getByText('Erase this case').count() === 0, 'erasure is offered under legal hold');
  await checkPage(page, 'case under legal hold');
  await screenshot(page, 'staff-case-hold');
  await inEveryLanguage(page, [`/staff/cases/${caseB}`]);
  // Screenshots of the held case in every language, at 1280 and 360 px.
  for (const lang of ['it', 'es', 'en']) {
    await chooseLanguage(page, lang);
    await page.goto(`${BASE}/staff/cases/${caseB}`);
    if (lang !== 'en') await screenshot(page, `staff-case-hold-${lang}`);
    await page.setViewportSize({ width: 360, height: 800 });
    await screenshot(page, `staff-case-hold${lang === 'en' ? '' : '-' + lang}-360`);
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  const [zip] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('link', { name: "Download the applicant's data (ZIP)" }).click()]);
  const bytes = readFileSync(await zip.path());
  check(zip.suggestedFilename().endsWith('.zip') && bytes.subarray(0, 2).toString() === 'PK',
    `the DPO's export on the applicant's behalf is not a ZIP (${zip.suggestedFilename()}, ${bytes.length} bytes)`);
  await page.getByRole('button', { name: 'Lift the legal hold' }).click();
  await page.getByRole('status').filter({ hasText: 'The legal hold is lifted.' }).waitFor();
  await page.getByText('Erase this case', { exact: true }).first().click();
  await page.getByLabel('Reference of the request').fill('DSR-2026-17');
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await page.getByRole('button', { name: 'Erase the case for good' }).click();
  await page.getByRole('status').filter({ hasText: 'The case is erased.' }).waitFor();
  check(asked.includes('for good'), `the erasure was not confirmed first (asked "${asked}")`);
  check(page.url() === `${BASE}/staff/cases`, 'after the erasure the queue is not shown');
  await checkPage(page, 'queue after an erasure');
  const gone = await page.goto(`${BASE}/staff/cases/${caseB}`);
  check(gone.status() === 404, `the erased case answers ${gone.status()}`);
  return events.length;
}

// admin resets the case manager's authenticator (a lost phone): at the next sign-in with the
// password the case manager must set it up again.
async function admin(browser) {
  const { page } = await newPage(browser);
  await enrolTOTP(page, env('ADMIN_EMAIL'), password);
  await page.waitForURL(`${BASE}/staff/admin`);
  await checkPage(page, 'admin desk');
  await screenshot(page, 'staff-admin');
  const row = page.locator('table.accounts tbody tr').filter({ hasText: env('CM_EMAIL') });
  check(await row.getByText('Set up', { exact: true }).count() === 1, "the case manager's authenticator is not shown as set up");
  await row.getByText('Reset the authenticator').click();
  await row.getByRole('button', { name: /^Reset it/ }).click();
  await page.getByRole('status').filter({ hasText: 'The authenticator is reset' }).waitFor();
  check(await page.locator('table.accounts tbody tr').filter({ hasText: env('CM_EMAIL') }).getByText('Not set up', { exact: true }).count() === 1,
    'after the reset the authenticator is still shown as set up');
  await checkPage(page, 'admin desk after the reset');
  await inEveryLanguage(page, ['/staff/admin']);

  const cm = (await newPage(browser)).page;
  await enrolTOTP(cm, env('CM_EMAIL'), password); // asks to enrol again, and works

  // A new specialist: the admin adds the account and mails a link to choose a password.
  const newcomer = 'dr.neri@example.org';
  await page.getByText('Add an account').click();
  await page.getByLabel('Email address', { exact: true }).first().fill(newcomer);
  await page.locator('#new-role').selectOption('reviewer');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'The account is added.' }).waitFor();
  await page.locator('table.accounts tbody tr').filter({ hasText: newcomer })
    .getByRole('button', { name: /Send a password set-up link/ }).click();
  await page.getByRole('status').filter({ hasText: 'password set-up link is on its way' }).waitFor();
  const link = await mailedLink(newcomer);
  check(link.startsWith(`${BASE}/password?token=`), 'the set-up link is not under the public URL');
  const them = (await newPage(browser)).page;
  await them.goto(link);
  await checkPage(them, 'password set-up page');
  await them.getByLabel('New password').fill('a new and long password 42');
  await them.getByLabel('The same password again').fill('a new and long password 42');
  await them.getByRole('button', { name: 'Save the password' }).click();
  await them.getByRole('status').filter({ hasText: 'Your password is saved' }).waitFor();
  await enrolTOTP(them, newcomer, 'a new and long password 42');
  const reused = await them.goto(link);
  check(reused.status() === 200, 'the spent link page did not open');
  // The enrolment page and the sign-in refused without a code, checked too.
  const again = (await newPage(browser)).page;
  await again.goto(`${BASE}/signin`);
  await checkPage(again, 'staff sign-in');
}

run(async (browser) => {
  await caseManager(browser);
  await reviewer(browser);
  const exported = await dpo(browser);
  await admin(browser);
  return { exported };
});
