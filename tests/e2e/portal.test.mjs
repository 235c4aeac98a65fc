// End-to-end test of the patient web UI in real Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), with axe-core on every view.
//
//   PP_URL=https://127.0.0.1:18443 PP_DEMO_USER=… PP_DEMO_PASSWORD=… PP_IDLE_TIMEOUT_S=20 \
//     node --test tests/e2e/
//
// PP_DEMO_USER must be a demo patient whose MFA is not enrolled yet (the test enrols it).
// PP_IDLE_TIMEOUT_S is the server's session.idle_timeout_s; with a short one (≤ 120 s) the idle
// test waits in real time and also checks that the server itself ends an idle session. Without it
// (or with a long one) the page's clock is fast-forwarded and only the UI's sign-off is checked.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request as pwRequest } from 'playwright-core';

import { makeData, startServer } from '../api/harness.mjs';
import { openBrowser, expectAccessible } from './browser.mjs';

// Without PP_URL the test brings its own server: a fresh demo data set with a 20 s idle timeout,
// so the server-side timeout is exercised in real time.
let ownServer = null, ownData = null;
if (!process.env.PP_URL) {
  ownData = makeData({ config: { 'session.idle_timeout_s': 20 } });
  ownServer = await startServer(ownData.dir);
  const account = ownData.accounts.find((a) => a.username === 'demo.patient1');
  Object.assign(process.env, { PP_URL: ownServer.url, PP_DEMO_USER: account.username,
    PP_DEMO_PASSWORD: account.password, PP_IDLE_TIMEOUT_S: '20' });
}
after(async () => { await ownServer?.stop(); ownData?.cleanup(); });

const BASE = (process.env.PP_URL || '').replace(/\/+$/, '');
const USER = process.env.PP_DEMO_USER || '';
const PASSWORD = process.env.PP_DEMO_PASSWORD || '';
const IDLE_ENV = process.env.PP_IDLE_TIMEOUT_S ? Number(process.env.PP_IDLE_TIMEOUT_S) : null;
const REAL_TIME_IDLE = IDLE_ENV !== null && IDLE_ENV <= 120;
const COOKIE = '__Host-pp_session';

// ---------- TOTP (RFC 6238, HMAC-SHA-1, 30 s, 6 digits) ----------
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error('setup key is not base32');
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

const totpCounter = (ms = Date.now()) => Math.floor(ms / 1000 / 30);

// ---------- shared state between the ordered tests ----------
const state = { secret: null, recoveryCodes: [], lastCounter: -1 };

// A code for a time step the server has not seen yet (it refuses a reused code); waits for the
// next 30-second step when needed.
async function freshTotp() {
  let c = totpCounter();
  while (c <= state.lastCounter) {
    await sleep(500);
    c = totpCounter();
  }
  // Not in the last 2 s of a step, so the code is still current when the server checks it.
  if ((Date.now() / 1000) % 30 > 28) {
    await sleep(2500);
    c = totpCounter();
  }
  state.lastCounter = c;
  return hotp(base32Decode(state.secret), c);
}

function wrongTotp() {
  const key = base32Decode(state.secret);
  const c = totpCounter();
  const near = new Set([-2, -1, 0, 1, 2].map((d) => hotp(key, c + d)));
  for (let n = 0; ; n += 1) {
    const candidate = String((Number(hotp(key, c)) + 500000 + n) % 1000000).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
}

// ---------- browser helpers (openBrowser, expectAccessible: ./browser.mjs) ----------
async function expectNoInlineStyles(page) {
  const n = await page.evaluate(() => document.querySelectorAll('[style]').length);
  assert.equal(n, 0, 'no element carries a style attribute');
}

const heading = (page, name) => page.getByRole('heading', { level: 1, name });

async function signIn(page, username, password) {
  await page.goto(`${BASE}/`);
  await heading(page, /sign in/i).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function sessionCookie(context) {
  const c = (await context.cookies(BASE)).find((x) => x.name === COOKIE);
  return c ? c.value : null;
}

// Status of GET /api/v1/me with only the given session cookie, from outside the browser.
async function meStatusWithCookie(value) {
  const rq = await pwRequest.newContext({ ignoreHTTPSErrors: true });
  try {
    const res = await rq.get(`${BASE}/api/v1/me`, { headers: { Cookie: `${COOKIE}=${value}` } });
    let code = null;
    try { code = (await res.json()).error?.code ?? null; } catch { /* not JSON */ }
    return { status: res.status(), code };
  } finally {
    await rq.dispose();
  }
}

async function pageSession(page) {
  return page.evaluate(async () => {
    const r = await fetch('/api/v1/auth/session', { cache: 'no-store' });
    return { status: r.status, body: await r.json().catch(() => null) };
  });
}

async function expectSummary(page) {
  await heading(page, 'Your health summary').waitFor();
  await page.locator('#patient-heading').waitFor();
  for (const id of ['problems', 'medications', 'labs']) {
    const rows = page.locator(`#${id}-table tbody tr`);
    assert.ok(await rows.count() > 0, `${id} are listed`);
    assert.ok((await rows.first().innerText()).trim().length > 0, `${id} rows have text`);
  }
  // labs carry a reference range and a flag column
  const labHeaders = await page.locator('#labs-table thead th').allInnerTexts();
  assert.ok(labHeaders.some((t) => /reference range/i.test(t)) && labHeaders.some((t) => /flag/i.test(t)), 'lab table shows ranges and flags');
  assert.ok(await page.locator('#labs-table .flag').count() > 0, 'lab flags are shown');
  // at least one trend chart drawn as inline SVG, with a text alternative and a data table
  const chart = page.locator('svg.trend-chart').first();
  await chart.waitFor();
  assert.equal(await chart.getAttribute('role'), 'img');
  assert.ok(await chart.locator('path.trend-line').count() === 1, 'chart has a trend line');
  assert.ok(await chart.locator('circle.trend-point').count() >= 2, 'chart has points');
  const desc = await chart.locator('desc').textContent();
  assert.match(desc, /results from/);
  assert.ok(await page.locator('.trend table caption').count() > 0, 'chart data tables exist');
}

// ---------- the tests ----------
describe('patient portal web UI', { timeout: 600_000 }, () => {
  before(() => {
    const missing = ['PP_URL', 'PP_DEMO_USER', 'PP_DEMO_PASSWORD'].filter((k) => !process.env[k]);
    if (missing.length) throw new Error(`set ${missing.join(', ')} (see the comment at the top of this file)`);
  });

  test('TOTP implementation matches the RFC 6238 test vector', () => {
    // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits)
    assert.equal(hotp(Buffer.from('12345678901234567890'), totpCounter(59_000), 8), '94287082');
    assert.equal(hotp(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), 1, 6), '287082');
  });

  test('sign-in errors are uniform and the page is accessible', async () => {
    const b = await openBrowser();
    try {
      const res = await b.page.goto(`${BASE}/`);
      const csp = res.headers()['content-security-policy'] || '';
      assert.match(csp, /script-src 'self'/, 'the server sends a strict CSP');
      await heading(b.page, /sign in/i).waitFor();
      await expectAccessible(b.page, 'sign-in');

      await b.page.getByLabel('Username').fill(USER);
      await b.page.getByLabel('Password').fill(`${PASSWORD}-wrong`);
      await b.page.getByRole('button', { name: 'Sign in' }).click();
      const alert = b.page.locator('#signin-error');
      await alert.waitFor({ state: 'visible' });
      const wrongPasswordText = (await alert.textContent()).trim();
      assert.match(wrongPasswordText, /username or password is not correct/i);
      assert.equal(await b.page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
      await expectAccessible(b.page, 'sign-in with error');

      // an unknown user gets exactly the same message
      await b.page.getByLabel('Username').fill(`nobody-${crypto.randomBytes(4).toString('hex')}`);
      await b.page.getByLabel('Password').fill('Whatever-123456');
      await b.page.getByRole('button', { name: 'Sign in' }).click();
      await b.page.waitForFunction(() => !document.querySelector('#signin-error')?.hidden &&
        !document.querySelector('button[type=submit]')?.disabled);
      assert.equal((await alert.textContent()).trim(), wrongPasswordText);
      assert.equal(await sessionCookie(b.context), null, 'no session after failed sign-ins');
      assert.deepEqual(b.problems, []);
    } finally {
      await b.close();
    }
  });

  test('enrolment, recovery codes, health summary and sign-out', async () => {
    const b = await openBrowser();
    const { page } = b;
    try {
      await signIn(page, USER, PASSWORD);

      // enrolment: QR code, setup key, code
      await heading(page, 'Set up two-step verification').waitFor();
      const secretEl = page.locator('#mfa-secret');
      await secretEl.waitFor();
      state.secret = (await secretEl.textContent()).replace(/\s+/g, '');
      assert.match(state.secret, /^[A-Z2-7]{16,}=*$/, 'setup key is base32');
      const qr = page.getByRole('img', { name: /QR code/i });
      await qr.waitFor();
      assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'QR code image renders');
      await expectAccessible(page, 'enrolment');
      await expectNoInlineStyles(page);

      // a wrong code is refused with an error
      const codeField = page.getByLabel('6-digit code');
      await codeField.fill(wrongTotp());
      await page.getByRole('button', { name: 'Verify and turn on' }).click();
      await page.locator('#enrol-error').waitFor({ state: 'visible' });
      assert.match(await page.locator('#enrol-error').textContent(), /did not match/i);
      await expectAccessible(page, 'enrolment with error');

      await codeField.fill(await freshTotp());
      await page.getByRole('button', { name: 'Verify and turn on' }).click();

      // recovery codes, shown once
      await heading(page, 'Save your recovery codes').waitFor();
      state.recoveryCodes = (await page.locator('#recovery-codes li').allTextContents()).map((t) => t.trim());
      assert.equal(state.recoveryCodes.length, 10, 'ten recovery codes');
      assert.equal(new Set(state.recoveryCodes).size, 10, 'recovery codes differ');
      await expectAccessible(page, 'recovery codes');
      await page.getByRole('button', { name: /I saved them/ }).click();

      // the health summary
      await expectSummary(page);
      await expectAccessible(page, 'health summary');
      await expectNoInlineStyles(page);
      // a chart's data table opens and stays accessible
      await page.locator('.trend-data summary').first().click();
      assert.ok(await page.locator('.trend-data[open] table tbody tr').count() >= 2);
      await expectAccessible(page, 'health summary with a chart table open');
      // the summary survives a reload (state comes from the server, not the page)
      await page.reload();
      await expectSummary(page);

      // sign out: the session ends on the server too
      const cookie = await sessionCookie(b.context);
      assert.ok(cookie, 'signed-in session cookie present');
      await page.getByRole('navigation', { name: 'Account' }).getByRole('button', { name: 'Sign out' }).click();
      await heading(page, /sign in/i).waitFor();
      await page.getByText('You have signed out').waitFor();
      assert.equal((await meStatusWithCookie(cookie)).status, 401, 'old cookie no longer works after sign-out');
      await expectAccessible(page, 'sign-in after sign-out');
      assert.deepEqual(b.problems, []);
    } finally {
      await b.close();
    }
  });

  test('recovery code sign-in, idle warning and automatic sign-out', async () => {
    assert.ok(state.recoveryCodes.length >= 2, 'needs the recovery codes from the enrolment test');
    const b = await openBrowser({ clock: !REAL_TIME_IDLE });
    const { page } = b;
    let apiSession = null;
    try {
      // A second, API-only session (another recovery code) that then stays idle: the server
      // itself must end it, whatever the browser does.
      if (REAL_TIME_IDLE) {
        apiSession = await pwRequest.newContext({ baseURL: BASE, ignoreHTTPSErrors: true });
        const login = await apiSession.post('/api/v1/auth/login', { data: { username: USER, password: PASSWORD } });
        assert.equal(login.status(), 200);
        const { csrf } = await login.json();
        const rec = await apiSession.post('/api/v1/auth/mfa/recover', {
          data: { recovery_code: state.recoveryCodes[1] }, headers: { 'X-CSRF-Token': csrf } });
        assert.equal(rec.status(), 200, 'recovery code accepted over the API');
        assert.equal((await apiSession.get('/api/v1/me')).status(), 200);
      }
      const apiIdleSince = Date.now();

      await signIn(page, USER, PASSWORD);
      await heading(page, 'Two-step verification').waitFor();
      await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
      await page.getByLabel('Recovery code').fill('not-a-real-code');
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.locator('#mfa-error').waitFor({ state: 'visible' });
      await expectAccessible(page, 'recovery code with error');
      await page.getByLabel('Recovery code').fill(state.recoveryCodes[0]);
      await page.getByRole('button', { name: 'Verify' }).click();
      await expectSummary(page);
      await page.getByText(/signed in with a recovery code/i).waitFor();

      const s = await pageSession(page);
      assert.equal(s.status, 200);
      assert.equal(s.body.state, 'full');
      const timeout = s.body.idle_timeout_s;
      if (IDLE_ENV !== null) assert.equal(timeout, IDLE_ENV, 'server runs with PP_IDLE_TIMEOUT_S');
      const lead = Math.min(60, timeout / 2);
      const cookie = await sessionCookie(b.context);
      assert.ok(cookie);
      const dialog = page.getByRole('alertdialog', { name: 'Are you still there?' });

      // 1. the warning appears, takes focus, and "Stay signed in" extends the session
      if (!REAL_TIME_IDLE) await page.clock.fastForward((timeout - lead + 1) * 1000);
      await dialog.waitFor({ timeout: (timeout - lead + 15) * 1000 });
      assert.ok(await page.evaluate(() => document.getElementById('idle-dialog').contains(document.activeElement)), 'focus moved into the warning');
      await expectAccessible(page, 'idle warning');
      await dialog.getByRole('button', { name: 'Stay signed in' }).click();
      await dialog.waitFor({ state: 'hidden' });
      const after = await pageSession(page);
      assert.equal(after.status, 200);
      assert.ok(after.body.idle_remaining_s > lead, `keepalive extended the session (${after.body.idle_remaining_s} s left)`);

      // 2. no answer this time: the UI signs out and says why; the old cookie is dead
      if (!REAL_TIME_IDLE) await page.clock.fastForward((timeout - lead + 1) * 1000);
      await dialog.waitFor({ timeout: (timeout - lead + 15) * 1000 });
      if (!REAL_TIME_IDLE) await page.clock.fastForward((lead + 1) * 1000);
      await heading(page, /sign in/i).waitFor({ timeout: (lead + 15) * 1000 });
      await page.getByText(/signed out after inactivity/i).waitFor();
      assert.equal(await dialog.isVisible(), false, 'warning closed');
      await expectAccessible(page, 'sign-in after inactivity');
      const me = await meStatusWithCookie(cookie);
      assert.equal(me.status, 401, 'the old session cookie no longer works');

      // 3. the server ended the untouched API session on its own
      if (apiSession) {
        const wait = apiIdleSince + (timeout + 2) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
        const res = await apiSession.get('/api/v1/me');
        assert.equal(res.status(), 401, 'server ends an idle session');
        assert.equal((await res.json()).error.code, 'session_expired');
      }
      assert.deepEqual(b.problems, []);
    } finally {
      if (apiSession) await apiSession.dispose();
      await b.close();
    }
  });

  test('authenticator code sign-in rejects a wrong code, then signs in', async () => {
    assert.ok(state.secret, 'needs the setup key from the enrolment test');
    const b = await openBrowser();
    const { page } = b;
    try {
      await signIn(page, USER, PASSWORD);
      await heading(page, 'Two-step verification').waitFor();
      await expectAccessible(page, 'MFA challenge');
      const field = page.getByLabel('6-digit code');
      await field.fill(wrongTotp());
      await page.getByRole('button', { name: 'Verify' }).click();
      const err = page.locator('#mfa-error');
      await err.waitFor({ state: 'visible' });
      assert.match(await err.textContent(), /not valid/i);
      await expectAccessible(page, 'MFA challenge with error');
      await field.fill(await freshTotp());
      await page.getByRole('button', { name: 'Verify' }).click();
      await expectSummary(page);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByText('You have signed out').waitFor();
      assert.deepEqual(b.problems, []);
    } finally {
      await b.close();
    }
  });
});

