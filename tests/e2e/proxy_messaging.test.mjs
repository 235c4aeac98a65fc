// A proxy in real Chromium (axe-core on every view): a caregiver with full access signs in, sees the
// person who shared their record on "People you act for", opens Messages for her, sends a question to
// her care team in their own name, and the patient sees it in her own inbox as "<caregiver> for
// <patient>". A caregiver without messaging gets no Messages button.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { cli, makeData, startServer, signIn } from '../api/harness.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';

let d, srv, carer, alice, aliceName;
const question = `Can her appointment move to a morning? (${Date.now()})`;

function addUser(username) {
  const r = cli(['--data', d.dir, 'user', 'add', '--username', username, '--role', 'proxy']);
  assert.equal(r.status, 0, r.stderr);
  return { username, password: r.stdout.match(/password \(shown once\): (\S+)/)[1] };
}

before(async () => {
  d = makeData();
  const full = addUser('carer.e2e');
  const nomsg = addUser('carer.nomsg');
  srv = await startServer(d.dir);
  const a = d.accounts.find((x) => x.username === 'demo.patient1');
  alice = await signIn(srv, a);
  aliceName = (await alice.get(`/api/v1/patients/${a.patient_id}/summary`)).json.patient.name;
  for (const [username, scope] of [['carer.e2e', 'full'], ['carer.nomsg', 'no-messaging']]) {
    const g = await alice.post('/api/v1/me/proxies', { username, relationship: 'caregiver', scope });
    assert.equal(g.status, 201, g.text);
  }
  carer = { full: await signIn(srv, full), nomsg: await signIn(srv, nomsg) };
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('a caregiver acts for the patient: her record is listed, messages go to her care team in the caregiver\'s name', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    await adoptSession(b.context, srv.url, carer.full);
    await page.goto(`${srv.url}/`);
    await page.getByRole('heading', { level: 1, name: 'People you act for' }).waitFor();
    await page.getByRole('heading', { level: 3, name: aliceName }).waitFor();
    await expectAccessible(page, 'proxy home');
    await page.getByRole('link', { name: `Messages for ${aliceName}` }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    await expectAccessible(page, 'proxy inbox');
    await page.getByRole('link', { name: 'New message' }).click();
    await page.getByRole('heading', { level: 1, name: 'New message' }).waitFor();
    await page.getByLabel('To', { exact: true }).selectOption({ label: "Dr. Reyes' team" });
    await page.getByLabel('Subject').fill('Appointment time');
    await page.getByLabel('Message', { exact: true }).fill(question);
    await page.getByRole('button', { name: 'Send message' }).click();
    await page.locator('.msg-body', { hasText: question }).waitFor();
    await expectAccessible(page, 'proxy thread');
    assert.deepEqual(b.problems, []);
  } finally { await b.close(); }
  // the patient sees the conversation in her own inbox, written by the caregiver for her
  const inbox = await alice.get('/api/v1/messages/threads');
  const t = inbox.json.threads.find((x) => x.subject === 'Appointment time');
  assert.ok(t, 'the thread is in the patient\'s inbox');
  const th = await alice.get(`/api/v1/messages/threads/${t.id}`);
  const m = th.json.messages.find((x) => x.body === question);
  assert.ok(m, 'the question is in the thread');
  assert.equal(m.author.role, 'proxy');
  assert.equal(m.author.name, 'carer.e2e');
});

test('a caregiver without messaging sees the record but no Messages button', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    await adoptSession(b.context, srv.url, carer.nomsg);
    await page.goto(`${srv.url}/`);
    await page.getByRole('heading', { level: 3, name: aliceName }).waitFor();
    assert.equal(await page.getByRole('link', { name: `Messages for ${aliceName}` }).count(), 0);
    await page.getByRole('link', { name: `View the record of ${aliceName}` }).click();
    await page.locator('.alert-info', { hasText: /gave access/ }).waitFor();
    await expectAccessible(page, 'record seen by a proxy');
    assert.deepEqual(b.problems, []);
  } finally { await b.close(); }
});

test('a patient who is also someone\'s proxy gets "People you act for", acts there, and goes back to her own messages', async () => {
  // demo.patient2 has her own record; demo.patient1 (Alice) also names her as caregiver, full access
  const p2 = d.accounts.find((x) => x.username === 'demo.patient2');
  const g = await alice.post('/api/v1/me/proxies', { username: p2.username, relationship: 'caregiver', scope: 'full' });
  assert.equal(g.status, 201, g.text);
  const bob = await signIn(srv, p2);
  const b = await openBrowser();
  try {
    const { page } = b;
    await adoptSession(b.context, srv.url, bob);
    await page.goto(`${srv.url}/`);
    // her own summary is still home; the menu offers the people she acts for
    await page.getByRole('heading', { level: 1, name: 'Your health summary' }).waitFor();
    await page.getByRole('link', { name: 'People you act for' }).click();
    await page.getByRole('heading', { level: 1, name: 'People you act for' }).waitFor();
    await page.getByRole('heading', { level: 3, name: aliceName }).waitFor();
    await expectAccessible(page, 'patient-proxy home');
    await page.getByRole('link', { name: `Messages for ${aliceName}` }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    const notice = page.locator('.acting-notice');
    await notice.waitFor();
    assert.match(await notice.textContent(), new RegExp(`Messages for ${aliceName}`));
    // Alice's conversation (written by the caregiver in the first test) is listed here
    await page.locator('.msg-subject', { hasText: 'Appointment time' }).waitFor();
    await expectAccessible(page, 'patient-proxy inbox');
    await page.getByRole('button', { name: 'Back to your own messages' }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('.acting-notice'));
    assert.equal(await page.locator('.msg-subject', { hasText: 'Appointment time' }).count(), 0);
    assert.deepEqual(b.problems, []);
  } finally { await b.close(); }
});
