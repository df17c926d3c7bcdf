// A large upload interrupted by a reload continues after the file is chosen again, sending only
// the bytes the server does not have. Environment (besides browser.mjs's):
//   APPLICANT_EMAIL, CASE_ID, BIG_FILE (its size is read from disk)
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { run, newPage, BASE, env, check, out, signInWithLink, assertNoCSPViolation } from './browser.mjs';
import { uploadFiles, chooseFiles } from './uploader.mjs';

const email = env('APPLICANT_EMAIL');
const caseId = env('CASE_ID');
const big = env('BIG_FILE');
const size = statSync(big).size;

run(async (browser) => {
  const { page } = await newPage(browser, { width: 1280, lang: 'en' });
  await signInWithLink(page, email);
  await page.goto(`${BASE}/cases/${caseId}/upload`);

  // Start the upload and reload the page once the first chunk is stored, mid-way through the next.
  let patches0 = 0;
  const secondChunk = page.waitForRequest((r) => r.method() === 'PATCH' && ++patches0 === 2);
  const pending = uploadFiles(page, { kind: 'other', files: [big] }).catch(() => null);
  await secondChunk;
  await page.waitForTimeout(200);
  await page.reload();
  pending.catch(() => {});

  // The page lists the unfinished upload with what is stored.
  const list = await (await page.request.get(`${BASE}/api/v1/uploads?case_id=${caseId}`)).json();
  check(list.uploads.length === 1, `unfinished uploads after the reload: ${JSON.stringify(list)}`);
  const stored = list.uploads[0].offset;
  check(stored > 0 && stored < size, `stored ${stored} of ${size} bytes after the reload`);
  const resume = page.locator('#upload-resume');
  await resume.getByText(basename(big)).waitFor();
  out({ event: 'listed', stored, text: (await resume.textContent()).trim() });
  await assertNoCSPViolation(page, 'upload page after a reload');

  // Choose the same file again: HEAD, then PATCHes from the stored offset; never a new POST.
  const posts = [];
  const patches = [];
  const answers = [];
  const heads = [];
  page.on('response', (r) => {
    if (!r.url().startsWith(`${BASE}/api/v1/uploads`)) return;
    answers.push(`${r.request().method()} ${r.status()}`);
    if (r.request().method() === 'HEAD') heads.push(Number(r.headers()['upload-offset']));
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(`${BASE}/api/v1/uploads`)) return;
    if (r.method() === 'POST') posts.push(r.url());
    if (r.method() === 'PATCH') patches.push(Number(r.headers()['upload-offset']));
  });
  const done = await uploadFiles(page, { kind: 'other', files: [big] });
  const errors = await page.evaluate(() => window.soUploader.uppy.getFiles().map((f) => f.error).filter(Boolean));
  check(done.successful === 1 && done.failed === 0,
    `resumed upload: ${JSON.stringify(done)}, errors ${JSON.stringify(errors)}, answers ${answers.join(', ')}`);
  check(posts.length === 0, `the resumed upload created a new upload: ${posts.length} POST`);
  // The interrupted PATCH may still have been saving when the list was read: the client asks
  // (HEAD) and continues from what the server has then, never from less than the list said.
  check(heads.length > 0 && heads[0] >= stored, `HEAD after the reload: ${heads[0]}, listed ${stored}`);
  check(patches.length > 0 && patches[0] === heads[0], `the first PATCH after the reload starts at ${patches[0]}, the server had ${heads[0]}`);
  return { size, stored, resumedAt: patches[0], bytesSentAfterReload: size - patches[0], patches };
});
