// Staff sign-in through the organisation's identity provider in real Chromium: the sign-in view
// offers "Sign in with your organisation" (axe-core finds nothing on it), the clinician fills the
// provider's form (tests/api/oidc_idp.mjs, a real oidc-provider over HTTPS on loopback) and lands
// signed in. The provider (127.0.0.1) and the portal (localhost) are different sites, so the
// return trip is a cross-site navigation: this also exercises the same-origin bounce that brings
// the SameSite=Strict binding cookie along. A refused sign-in shows a plain message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, copyFileSync } from 'node:fs';
import { makeData, startServer, setConfig, cli } from '../api/harness.mjs';
import { startIdp } from '../api/oidc_idp.mjs';
import { openBrowser, expectAccessible } from './browser.mjs';

const ACCOUNTS = {
  clin: { password: 'idp-clin-pass', claims: { email: 'clinician@example.org', email_verified: true } },
  stranger: { password: 'idp-stranger-pass', claims: { email: 'nobody@example.org', email_verified: true } },
};
let d, srv, idp, browser;

before(async () => {
  idp = await startIdp({ accounts: ACCOUNTS, amr: ['pwd', 'otp'] });
  d = makeData();
  copyFileSync(idp.secretFile, join(d.dir, 'sso_secret'));
  chmodSync(join(d.dir, 'sso_secret'), 0o600);
  setConfig(d.dir, { 'sso.enabled': 'true', 'sso.issuer': idp.issuer, 'sso.client_id': idp.clientId,
    'sso.client_secret_file': 'sso_secret', 'sso.ca_file': idp.caFile, 'sso.mfa': 'idp' });
  const r = cli(['--data', d.dir, 'user', 'link-sso', '--username', 'demo.clinician', '--value', 'clinician@example.org']);
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer(d.dir, { publicUrl: true });
  idp.configure({ redirectUris: [`${srv.publicUrl}/api/v1/auth/sso/callback`] });
  browser = await openBrowser();
});
after(async () => { await browser?.close(); await srv?.stop(); await idp?.stop(); d?.cleanup(); });

async function throughIdp(page, login) {
  await page.goto(`${srv.publicUrl}/`);
  const button = page.getByRole('link', { name: 'Sign in with your organisation' });
  await button.waitFor();
  await Promise.all([page.waitForURL(/^https:\/\/127\.0\.0\.1:\d+\/interaction\//), button.click()]);
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill(ACCOUNTS[login].password);
  await Promise.all([page.waitForURL(`${srv.publicUrl}/**`), page.getByRole('button', { name: 'Sign in' }).click()]);
}

test('the clinician signs in through the provider and lands signed in; the view is accessible', async () => {
  const { page, problems } = browser;
  await page.goto(`${srv.publicUrl}/`);
  await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
  await expectAccessible(page, 'sign-in view with the SSO button');
  await throughIdp(page, 'clin');
  await page.locator('#signout').waitFor({ state: 'visible' });
  const s = await page.evaluate(async () => (await fetch('/api/v1/auth/session')).json());
  assert.equal(s.state, 'full');
  assert.equal(s.role, 'clinician');
  assert.deepEqual(problems, []);
  await page.locator('#signout').click();
  await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
});

test('an identity linked to no account is refused with a plain message', async () => {
  const { page, problems, context } = browser;
  await context.clearCookies();   // the provider would remember the clinician's sign-in
  await throughIdp(page, 'stranger');
  const alert = page.locator('#sso-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /not accepted/);
  assert.ok(!page.url().includes('sso-error'), 'the error code is taken off the address bar');
  await expectAccessible(page, 'sign-in view with an SSO error');
  assert.deepEqual(problems, []);
});
