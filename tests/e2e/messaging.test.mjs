// Messaging in real Chromium (Debian's /usr/bin/chromium via playwright-core), with axe-core on
// every new view: a patient composes a refill request (the emergency disclaimer and the pool's reply
// time are on screen before sending) → a nurse in the pool sees it as a structured item in the pool
// inbox and replies → the patient sees the unread badge and reads the reply (read receipt).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { makeData, startServer, signIn } from '../api/harness.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';

let d, srv, patient, nurse;
const replyText = `Your refill was sent to the pharmacy (${Date.now()}).`;

before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  // which record each demo patient account gets is decided at init: take one with an active medication
  let alice = null;
  for (const u of ['demo.patient1', 'demo.patient2', 'demo.patient3']) {
    const c = await signIn(srv, d.accounts.find((a) => a.username === u));
    if ((await c.get('/api/v1/messages/choices')).json.medications.length) { alice = c; break; }
  }
  assert.ok(alice, 'a demo patient with an active medication');
  const staff = await signIn(srv, d.accounts.find((a) => a.username === 'demo.nurse'));
  patient = await openBrowser();
  nurse = await openBrowser();
  await adoptSession(patient.context, srv.url, alice);
  await adoptSession(nurse.context, srv.url, staff);
});
after(async () => {
  await patient?.close();
  await nurse?.close();
  await srv?.stop();
  d?.cleanup();
});

test('patient composes a refill request: disclaimer and turnaround shown before sending', async () => {
  const { page } = patient;
  await page.goto(`${srv.url}/#/messages`);
  await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
  await expectAccessible(page, 'patient inbox (empty)');
  await page.getByRole('link', { name: 'New message' }).click();
  await page.getByRole('heading', { level: 1, name: 'New message' }).waitFor();
  await page.locator('#msg-disclaimer').waitFor();
  assert.match(await page.locator('#msg-disclaimer').textContent(), /emergency, call 911/);
  await page.getByLabel('To', { exact: true }).selectOption({ label: 'Billing' });
  assert.match(await page.locator('.msg-turnaround').textContent(), /3 business days/);
  await page.getByLabel('To', { exact: true }).selectOption({ label: "Dr. Reyes' team" });
  assert.match(await page.locator('.msg-turnaround').textContent(), /2 business days/);
  await page.getByLabel('What is this about?').selectOption('refill');
  await page.getByLabel('Medication to refill').waitFor();
  await expectAccessible(page, 'compose (refill)');
  await page.getByLabel('What is this about?').selectOption('appointment');
  await page.getByLabel('Reason for the visit').waitFor();
  await expectAccessible(page, 'compose (appointment)');
  await page.getByLabel('What is this about?').selectOption('result_question');
  await page.getByLabel('Lab result').waitFor();
  await page.getByLabel('What is this about?').selectOption('refill');
  const med = await page.getByLabel('Medication to refill').locator('option').first().textContent();
  await page.getByLabel('Message', { exact: true }).fill('Running low, please refill.');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByRole('heading', { level: 1, name: 'Medication refill request' }).waitFor();
  assert.match(await page.locator('.msg-structured').first().textContent(), new RegExp(`Refill request: ${med.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(await page.locator('.msg-receipt').first().textContent(), /Not read yet/);
  await expectAccessible(page, 'patient thread');
  assert.deepEqual(patient.problems, []);
});

test('a nurse in the pool sees the structured item in the pool inbox and replies', async () => {
  const { page } = nurse;
  await page.goto(`${srv.url}/#/messages`);
  await page.getByRole('heading', { level: 1, name: 'Care-team inbox' }).waitFor();
  const item = page.locator('.msg-item').first();
  await item.waitFor();
  assert.match(await item.textContent(), /Refill request: /);
  assert.match(await item.textContent(), /1 unread/);
  await expectAccessible(page, 'staff pool inbox');
  await item.getByRole('link').click();
  await page.getByRole('heading', { level: 1, name: 'Medication refill request' }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'Reassign to another pool' }).waitFor();
  await expectAccessible(page, 'staff thread');
  await page.getByLabel('Your reply').fill(replyText);
  await page.getByRole('button', { name: 'Send reply' }).click();
  await page.locator('.msg-body', { hasText: replyText }).waitFor();
  assert.deepEqual(nurse.problems, []);
});

test('the patient sees the unread badge, reads the reply, and sees her message was read', async () => {
  const { page } = patient;
  await page.goto(`${srv.url}/#/messages`);
  await page.locator('#nav-unread', { hasText: '1 unread' }).waitFor();
  const item = page.locator('.msg-item.is-unread').first();
  await item.waitFor();
  await item.getByRole('link').click();
  await page.locator('.msg-body', { hasText: replyText }).waitFor();
  await page.locator('.msg-receipt', { hasText: /^Read / }).waitFor();
  await page.locator('#nav-unread').waitFor({ state: 'hidden' });
  // a draft is kept for her only
  await page.getByLabel('Your reply').fill('Thank you!');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await page.getByText('Draft saved. Only you can see it.').waitFor();
  await expectAccessible(page, 'patient thread with reply and draft');
  assert.deepEqual(patient.problems, []);
});
