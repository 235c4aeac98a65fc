// Shared by the browser tests: Debian's Chromium through playwright-core (never a downloaded
// browser), axe-core checks, and handing a session made through the API to the browser.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A fresh profile; `problems` collects CSP refusals and page errors (a test asserts it stays empty).
export async function openBrowser({ clock = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-e2e-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 }, locale: 'en-US',
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  if (clock) await page.clock.install();
  return {
    context, page, problems,
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function expectAccessible(page, label) {
  const result = await new AxeBuilder({ page }).analyze();
  const lines = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
  assert.equal(result.violations.length, 0, `axe violations on ${label}:\n  ${lines.join('\n  ')}`);
  assert.ok(result.passes.length > 10, `axe ran on ${label}`);
}

// Gives the browser the session of an API client signed in with tests/api/harness.mjs's signIn.
export async function adoptSession(context, baseUrl, client) {
  const value = client.cookies.get('__Host-pp_session');
  assert.ok(value, 'the API client holds a session');
  await context.addCookies([{ name: '__Host-pp_session', value, url: baseUrl, secure: true, httpOnly: true, sameSite: 'Strict' }]);
}
