// Self-enrolment in the browser: "Create your account" on the sign-in page, name and birth date,
// the code read from the e-mail a real SMTP server received, a username and password, then the
// first sign-in leads to two-step verification set-up. axe-core on each step; no CSP refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, makeData, setConfig, startServer, freePort } from '../api/harness.mjs';
import { waitFor, makeCert, startSmtp, mails, parseMail } from '../api/smtp.mjs';
import { openBrowser, expectAccessible } from './browser.mjs';

let d, srv, smtp, b;
const outdir = () => join(d.base, 'mail');

before(async () => {
  d = makeData({ demo: true });
  const certs = makeCert(join(d.base, 'smtp-tls'));
  writeFileSync(join(d.dir, 'smtp-ca.pem'), readFileSync(certs.cert));
  const port = await freePort();
  setConfig(d.dir, { 'notify.smtp_url': `smtp://127.0.0.1:${port}`, 'notify.smtp_ca_file': 'smtp-ca.pem',
    'notify.mail_from': 'notices@example.org', 'notify.poll_ms': 200, 'notify.timeout_s': 5 });
  const nd = join(d.base, 'p.ndjson');
  writeFileSync(nd, JSON.stringify({ resourceType: 'Patient', id: 'e2e-self', name: [{ family: 'Browserova', given: ['Vera'] }],
    gender: 'female', birthDate: '1985-06-15', telecom: [{ system: 'email', value: 'vera@example.org' }] }) + '\n');
  assert.equal(cli(['--data', d.dir, 'import', nd]).status, 0);
  smtp = await startSmtp(port, certs, outdir());
  srv = await startServer(d.dir);
  b = await openBrowser();
});
after(async () => { await b?.close(); await srv?.stop(); await smtp?.stop(); d?.cleanup(); });

test('a patient signs up with name, birth date and the e-mailed code, then sets up MFA', async () => {
  const page = b.page;
  await page.goto(srv.url + '/');
  await page.getByRole('link', { name: 'Create your account' }).click();
  await page.getByRole('heading', { name: 'Create your portal account' }).waitFor();
  await expectAccessible(page, 'sign-up details');
  // an empty form is refused in the page
  await page.getByRole('button', { name: 'Send me a code' }).click();
  await page.locator('#signup-error').getByText('Enter your family name').waitFor();
  await page.getByLabel('Family name (last name)').fill('browserova');
  await page.getByLabel('Given name (first name)').fill('Vera');
  await page.getByLabel('Date of birth').fill('1985-06-15');
  await page.getByRole('button', { name: 'Send me a code' }).click();
  await page.getByText('a 6-digit code is on its way').waitFor();
  await expectAccessible(page, 'sign-up code');
  const got = await waitFor(() => mails(outdir()).length >= 1 && mails(outdir()), 'the code e-mail');
  const mail = parseMail(got[0].data);
  assert.ok(!/Vera|Browserova|1985/.test(got[0].data), 'the e-mail names no one');
  const code = mail.body.match(/\b(\d{6})\b/)[1];
  // a wrong code first
  await page.getByLabel('6-digit code').fill(code === '000000' ? '000001' : '000000');
  await page.getByLabel('Choose a username').fill('vera.b');
  await page.getByLabel('Choose a password').fill('Vera-Signs-Up-2024!x');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.locator('#signup-error2').getByText('That code is not correct').waitFor();
  await expectAccessible(page, 'sign-up wrong code');
  await page.getByLabel('6-digit code').fill(code);
  await page.getByLabel('Choose a password').fill('Vera-Signs-Up-2024!x');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.getByText('Your account is ready').waitFor();
  await expectAccessible(page, 'sign-in after sign-up');
  await page.getByLabel('Username').fill('vera.b');
  await page.getByLabel('Password').fill('Vera-Signs-Up-2024!x');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  assert.deepEqual(b.problems, []);
});
