// make bench: how long a case manager waits for the first page of a long PDF in the viewer.
// Environment: BASE_URL, CM_EMAIL, PASSWORD, DOC_ID, RUNS. Prints {"result": {"ms": [...]}}:
// for each fresh page load, milliseconds from the navigation's start to the first page drawn.
import { run, newPage, BASE, env } from './browser.mjs';
import { enrolTOTP, pdfDrawn } from './staff.mjs';

run(async (browser) => {
  const { context, page } = await newPage(browser);
  await enrolTOTP(page, env('CM_EMAIL'), env('PASSWORD'));
  const state = await context.storageState();
  const ms = [];
  for (let i = 0; i < Number(env('RUNS', '5')); i++) {
    const fresh = await newPage(browser, { storageState: state });
    await fresh.page.goto(`${BASE}/staff/documents/${env('DOC_ID')}`);
    ms.push(await pdfDrawn(fresh.page));
    await fresh.context.close();
  }
  return { ms };
});
