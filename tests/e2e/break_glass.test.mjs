// Issue #5, must-show 2, in real Chromium: a clinician signs in through the organisation's OpenID
// provider (a real oidc-provider on loopback, MFA asserted by the provider), opens the record of a
// patient outside their care team by medical record number, is asked to break the glass, gives a
// reason, sees the record under a break-glass banner; the privacy officer then finds the access in
// the review queue and closes it with an outcome. axe-core finds nothing on any of these views.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, copyFileSync } from 'node:fs';
import { makeData, startServer, setConfig, cli, signIn, sqlite } from '../api/harness.mjs';
import { startIdp } from '../api/oidc_idp.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';

const ACCOUNTS = { clin: { password: 'idp-clin-pass', claims: { email: 'clinician@example.org', email_verified: true } } };
let d, srv, idp, browser, mrn, strangerPub;

before(async () => {
  idp = await startIdp({ accounts: ACCOUNTS, amr: ['pwd', 'otp'] });
  d = makeData();
  copyFileSync(idp.secretFile, join(d.dir, 'sso_secret'));
  chmodSync(join(d.dir, 'sso_secret'), 0o600);
  setConfig(d.dir, { 'sso.enabled': 'true', 'sso.issuer': idp.issuer, 'sso.client_id': idp.clientId,
    'sso.client_secret_file': 'sso_secret', 'sso.ca_file': idp.caFile, 'sso.mfa': 'idp' });
  assert.equal(cli(['--data', d.dir, 'user', 'link-sso', '--username', 'demo.clinician', '--value', 'clinician@example.org']).status, 0);
  // demo.patient3 is on nobody's care team; her medical record number is the fixture's Patient id,
  // which the clinician would have from a referral or a wristband
  strangerPub = d.accounts.find((a) => a.username === 'demo.patient3').patient_id;
  srv = await startServer(d.dir, { publicUrl: true });
  idp.configure({ redirectUris: [`${srv.publicUrl}/api/v1/auth/sso/callback`] });
  const backend = await signIn(srv, d.accounts.find((a) => a.username === 'demo.patient3'));
  mrn = (await backend.get('/api/v1/me/summary')).json.patient.mrn;
  assert.ok(mrn, 'the record has a medical record number');
  browser = await openBrowser();
});
after(async () => { await browser?.close(); await srv?.stop(); await idp?.stop(); d?.cleanup(); });

test('SSO sign-in → unrelated patient → break-glass with a reason → record with banner → privacy review closed', async () => {
  const { page, problems } = browser;
  await page.goto(`${srv.publicUrl}/`);
  const sso = page.getByRole('link', { name: 'Sign in with your organisation' });
  await sso.waitFor();
  await Promise.all([page.waitForURL(/^https:\/\/127\.0\.0\.1:\d+\/interaction\//), sso.click()]);
  await page.getByLabel('Username').fill('clin');
  await page.getByLabel('Password').fill(ACCOUNTS.clin.password);
  await Promise.all([page.waitForURL(`${srv.publicUrl}/**`), page.getByRole('button', { name: 'Sign in' }).click()]);

  // the staff home: my patients, and opening another record by medical record number
  await page.getByRole('heading', { level: 1, name: 'My patients' }).waitFor();
  await page.locator('.patient-list li').first().waitFor();
  // each patient says why they are listed (the demo clinician is on the first patient's care team)
  assert.equal(await page.locator('.patient-list li').first().locator('.relation').textContent(), 'Care team');
  await expectAccessible(page, 'staff home');
  await page.getByLabel('Medical record number').fill(mrn);
  await page.getByRole('button', { name: 'Open record' }).click();

  // no relationship: the break-glass prompt
  await page.getByRole('heading', { name: 'You have no care relationship with this patient' }).waitFor();
  await expectAccessible(page, 'break-glass prompt');
  await page.getByRole('button', { name: /Break the glass/ }).click();
  await page.getByText('Choose a reason and explain it in a few words.').waitFor();
  await page.getByLabel('Reason').selectOption('emergency');
  await page.getByLabel('Explain in your own words').fill('Unresponsive in the waiting room, chart needed for allergies');
  await page.getByRole('button', { name: /Break the glass/ }).click();

  // the record, under the banner
  const banner = page.locator('.banner-break-glass');
  await banner.waitFor();
  assert.match(await banner.innerText(), /Break-glass access/);
  await page.locator('#allergies').waitFor();
  await expectAccessible(page, 'record under break-glass');
  assert.deepEqual(problems, []);
  const reads = sqlite(join(d.dir, 'audit.db'), `SELECT count(*) FROM audit_event WHERE patient='${strangerPub}' AND purpose='emergency' AND detail='break-glass' AND outcome='success'`).trim();
  assert.ok(Number(reads) >= 1, 'the read is audited as break-glass');
  await page.locator('#signout').click();
  await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
});

test('the privacy officer closes the review in the queue', async () => {
  const officer = await signIn(srv, d.accounts.find((a) => a.username === 'demo.privacy'));
  const b = await openBrowser();
  try {
    await adoptSession(b.context, srv.publicUrl, officer);
    await b.page.goto(`${srv.publicUrl}/#/privacy`);
    await b.page.getByRole('heading', { level: 1, name: 'Break-glass reviews' }).waitFor();
    const item = b.page.locator('.review-item').filter({ hasText: 'demo.clinician' });
    await item.waitFor();
    assert.match(await item.innerText(), /Unresponsive in the waiting room/);
    await expectAccessible(b.page, 'break-glass review queue');
    await item.getByLabel('Outcome').selectOption('appropriate');
    await item.getByLabel('Note').fill('Confirmed with the ED charge nurse');
    await item.getByRole('button', { name: 'Close review' }).click();
    await b.page.getByText('The review was closed.').waitFor();
    await b.page.getByText('No break-glass access is waiting for review.').waitFor();
    const closed = await officer.get('/api/v1/privacy/break-glass?status=closed');
    assert.equal(closed.json.items.length, 1);
    assert.equal(closed.json.items[0].outcome, 'appropriate');
    assert.deepEqual(b.problems, []);
  } finally {
    await b.close();
  }
});
