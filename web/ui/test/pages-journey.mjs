// The applicant's journey through the pages, as a parent applying for their child: sign in with
// a mailed link, create the request, upload a PDF and a CD's folder of DICOM files, sign the
// consent, submit, and read when we will answer. Environment (besides browser.mjs's):
//   APPLICANT_EMAIL, PDF_FILE (a PDF), DICOM_DIR (a folder: DICOMDIR and DICOM/IM…)
import { run, newPage, BASE, env, check, out, signInWithLink, screenshot, assertNoCSPViolation } from './browser.mjs';
import { uploadFiles } from './uploader.mjs';

const email = env('APPLICANT_EMAIL');
const pdf = env('PDF_FILE');
const dicomDir = env('DICOM_DIR');

run(async (browser) => {
  const { page } = await newPage(browser, { width: 1280, lang: 'en' });
  await signInWithLink(page, email);
  await screenshot(page, 'cases-empty');

  await page.getByRole('link', { name: 'Start a new request' }).click();
  await page.getByLabel('I am a parent of the patient').check();
  await page.getByLabel('Given name(s)').fill('Giulia');
  await page.getByLabel('Family name').fill('Bianchi');
  await page.getByLabel('Date of birth').fill('2012-03-04');
  await page.getByLabel('Oncological (medical oncology)').check();
  await page.getByLabel('Your question for the specialist').fill('Is the proposed chemotherapy the right choice?');
  await screenshot(page, 'new-request');
  await page.getByRole('button', { name: 'Create the request' }).click();
  await page.waitForURL(/\/cases\/[0-9a-f-]{36}$/);
  const caseId = page.url().split('/').pop();
  out({ event: 'created', caseId });

  const checklist = page.getByRole('region', { name: 'Checklist' });
  for (const item of ['Your own identity document', 'Proof of your authority', "The patient's identity document"]) {
    check(await checklist.getByText(item).count() > 0, `the checklist of a parent's request lacks "${item}"`);
  }
  await assertNoCSPViolation(page, 'case page');

  await page.getByRole('link', { name: 'Add documents' }).first().click();
  await page.waitForURL(`${BASE}/cases/${caseId}/upload`);
  const first = await uploadFiles(page, { kind: 'clinical_history', files: [pdf] });
  check(first.successful === 1 && first.failed === 0, `PDF upload: ${JSON.stringify(first)}`);
  // A file of the wrong format is refused, and the page says why in words.
  const wrong = await uploadFiles(page, { kind: 'histology_report', files: [env('TEXT_FILE')] });
  check(wrong.failed === 1 && wrong.successful === 0, `a text file as a histology report: ${JSON.stringify(wrong)}`);
  const errors = await page.evaluate(() => window.soUploader.uppy.getFiles().map((f) => f.error).filter(Boolean));
  check(errors.length === 1 && errors[0].includes('not of a format we accept'), `the refusal reads ${JSON.stringify(errors)}`);
  await page.getByRole('alert').filter({ hasText: 'notes.txt: This file is not of a format we accept' }).waitFor();
  await screenshot(page, 'upload-refused');
  await page.reload(); // a fresh uploader for the CD
  const cd = await uploadFiles(page, { kind: 'imaging_study', folder: dicomDir });
  check(cd.successful >= 13 && cd.failed === 0, `folder upload: ${JSON.stringify(cd)}`);
  await assertNoCSPViolation(page, 'upload page');

  await page.getByRole('link', { name: 'See the upload receipt' }).click();
  await page.waitForURL(`${BASE}/cases/${caseId}/receipt`);
  const receiptRows = await page.getByRole('row').count();
  await screenshot(page, 'receipt');
  const receipt = await page.evaluate(async (u) => (await fetch(u)).json(), `${BASE}/cases/${caseId}/receipt.json`);

  await page.goto(`${BASE}/cases/${caseId}`);
  await page.getByRole('link', { name: 'Sign the consent' }).click();
  await page.getByLabel('Your full name').fill('Marco Bianchi');
  await screenshot(page, 'consent');
  await page.getByRole('button', { name: 'Sign the consent' }).click();
  await page.waitForURL(`${BASE}/cases/${caseId}`);
  check(await page.getByText('Signed by you, waiting for our countersignature').count() === 1, 'the consent is not shown as signed');

  await page.getByRole('button', { name: 'Submit the request' }).click();
  await page.getByRole('status').filter({ hasText: 'your request is submitted' }).waitFor();
  const due = (await page.locator('.timeline .due').textContent()).trim();
  await screenshot(page, 'case-submitted');
  await assertNoCSPViolation(page, 'case page after submitting');

  // Withdrawing the consent: a warning first, then its state says so.
  await page.getByRole('link', { name: 'See the consent' }).click();
  await page.getByRole('region', { name: 'Withdraw your consent' }).getByText('no specialist can read your documents').waitFor();
  await page.getByRole('button', { name: 'Withdraw my consent' }).click();
  await page.getByRole('status').filter({ hasText: 'Your consent is withdrawn' }).waitFor();
  check(await page.getByText('Withdrawn', { exact: true }).count() > 0, 'the case page does not show the consent as withdrawn');
  return { caseId, due, receiptRows, receipt: receipt.documents.map((d) => ({ name: d.relative_path || d.filename, sha256: d.sha256, size: d.size })) };
});
