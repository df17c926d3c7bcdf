// Helpers of the staff desk tests: password sign-in, TOTP enrolment with a code computed here
// from the secret the page shows (RFC 6238: HMAC-SHA1, 30 s, 6 digits), and the PDF viewer.
import { createHmac } from 'node:crypto';
import { BASE, check, axeCheck, assertNoCSPViolation } from './browser.mjs';

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of s.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) continue;
    bits += v.toString(2).padStart(5, '0');
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

// serverNow is the service's clock (SERVER_NOW_MS, when the test holds it still), else ours.
const serverNow = () => Number(process.env.SERVER_NOW_MS || Date.now());

// totp is the code of secret (base32) at time t (ms).
export function totp(secret, t = serverNow()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)));
  const h = createHmac('sha1', base32(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, '0');
}

// passwordSignIn fills the password form.
export async function passwordSignIn(page, email, password, code = '') {
  await page.goto(`${BASE}/signin`);
  const form = page.getByRole('region', { name: 'With your password' });
  await form.getByLabel('Email address').fill(email);
  await form.getByLabel('Password', { exact: true }).fill(password);
  if (code) await form.getByLabel(/authenticator app/).fill(code);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

// enrolTOTP signs a staff member in for the first time and enrols the authenticator, as a
// person with a phone would: the secret is read from the page. It returns the secret.
export async function enrolTOTP(page, email, password) {
  await passwordSignIn(page, email, password);
  await page.waitForURL(`${BASE}/staff/totp`);
  await page.getByRole('button', { name: 'Show the code to scan' }).click();
  check(await page.getByRole('img', { name: /QR code/ }).count() === 1, 'no QR code on the enrolment page');
  await axeCheck(page, 'TOTP enrolment');
  await assertNoCSPViolation(page, 'TOTP enrolment');
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  await page.getByLabel('Six-digit code').fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('status').filter({ hasText: 'authenticator app is set up' }).waitFor();
  return secret;
}

// openPDF opens the viewer of a document and waits for its first page; it fails on a blank page.
export async function pdfDrawn(page) {
  const root = page.locator('#pdf-viewer');
  await root.waitFor();
  await page.waitForFunction(() => {
    const r = document.getElementById('pdf-viewer');
    return r && (r.dataset.firstPageMs || r.dataset.error);
  }, null, { timeout: 30000 });
  check(!(await root.getAttribute('data-error')), 'the PDF viewer could not show the document');
  const dark = await page.evaluate(() => {
    const c = document.getElementById('pdf-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 300) n++;
    return n;
  });
  check(dark > 1000, `the first page is blank (${dark} dark pixels)`);
  return Number(await root.getAttribute('data-first-page-ms'));
}
