// Issue #4, must-show 1, in real Chromium with real services: a patient sends a medication refill
// request with a PDF attached (scanned by a real clamd) to "Dr. Reyes' team"; a nurse in that pool
// sees it in the inbox as a structured item, opens the attachment and replies; the patient gets an
// e-mail on a real SMTP sink (STARTTLS) that says only that a message is waiting; the patient reads
// the reply. Billing staff, outside the pool, get 404 for the conversation and the attachment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { makeData, startServer, setConfig, signIn, freePort } from '../api/harness.mjs';
import { startClamd } from '../api/clamd.mjs';
import { waitFor, makeCert, startSmtp, mails, parseMail, fixtureNames } from '../api/smtp.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';

const ORG = 'Riverside Clinic';
const PORTAL = 'https://portal.example.org/';
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n');
const WORDS = 'Running low on my tablets since the pharmacy closed early';
let d, srv, clamd, smtp, mailDir, patient, patientAcct, nurse, billing, threadId, fileId;

before(async () => {
  d = makeData();
  clamd = await startClamd();
  const certs = makeCert(join(d.base, 'smtp-tls'));
  copyFileSync(certs.cert, join(d.dir, 'smtp-ca.pem'));
  const port = await freePort();
  mailDir = join(d.base, 'mail');
  smtp = await startSmtp(port, certs, mailDir);
  setConfig(d.dir, {
    'files.clamd_socket': clamd.socket,
    'notify.smtp_url': `smtp://127.0.0.1:${port}`, 'notify.smtp_ca_file': 'smtp-ca.pem',
    'notify.mail_from': 'notices@example.org', 'notify.portal_url': PORTAL, 'notify.org_name': ORG,
    'notify.retry_base_s': 1, 'notify.poll_ms': 200, 'notify.timeout_s': 5,
  });
  srv = await startServer(d.dir, { publicUrl: true });
  // a demo patient who has an active medication to refill
  for (const u of ['demo.patient1', 'demo.patient2', 'demo.patient3']) {
    const acct = d.accounts.find((a) => a.username === u);
    const c = await signIn(srv, acct);
    if ((await c.get('/api/v1/messages/choices')).json.medications.length) { patient = c; patientAcct = acct; break; }
  }
  assert.ok(patient, 'a demo patient with an active medication');
  const contact = await patient.request('PUT', '/api/v1/me/contact', { json: { email: 'pat.inbox@example.org', email_enabled: true } });
  assert.equal(contact.status, 200, contact.text);
  nurse = await signIn(srv, d.accounts.find((a) => a.username === 'demo.nurse'));
  billing = await signIn(srv, d.accounts.find((a) => a.username === 'demo.billing'));
});
after(async () => { await srv?.stop(); await smtp?.stop(); await clamd?.stop(); d?.cleanup(); });

test('refill request with a PDF → the pool replies → a PHI-free e-mail → the patient reads the reply; outsiders get 404', async () => {
  // the patient composes
  const pb = await openBrowser();
  try {
    await adoptSession(pb.context, srv.publicUrl, patient);
    await pb.page.goto(`${srv.publicUrl}/#/messages/new`);
    await pb.page.getByLabel('What is this about?').waitFor();
    await expectAccessible(pb.page, 'compose view');
    assert.match(await pb.page.locator('#msg-disclaimer').innerText(), /emergency/i);
    await pb.page.getByLabel('To', { exact: true }).selectOption({ label: "Dr. Reyes' team" });
    assert.match(await pb.page.locator('.msg-turnaround').innerText(), /business days/);
    await pb.page.getByLabel('What is this about?').selectOption('refill');
    await pb.page.getByLabel('Subject', { exact: true }).fill('Refill please');
    await pb.page.getByLabel('Message', { exact: true }).fill(WORDS);
    await pb.page.getByLabel('Attach files (optional)').setInputFiles({ name: 'pharmacy-letter.pdf', mimeType: 'application/pdf', buffer: PDF });
    await pb.page.getByRole('button', { name: 'Send message' }).click();
    await pb.page.waitForURL(/#\/messages\/t\/[0-9a-f]{32}/);
    threadId = pb.page.url().match(/#\/messages\/t\/([0-9a-f]{32})/)[1];
    const link = pb.page.getByRole('link', { name: 'pharmacy-letter.pdf' });
    await link.waitFor();
    fileId = (await link.getAttribute('href')).split('/').pop();
    assert.deepEqual(pb.problems, []);
  } finally { await pb.close(); }

  // the nurse (in the pool) sees a structured refill request with the attachment, and replies
  const nb = await openBrowser();
  try {
    await adoptSession(nb.context, srv.publicUrl, nurse);
    await nb.page.goto(`${srv.publicUrl}/#/messages`);
    const item = nb.page.locator(`a[href="#/messages/t/${threadId}"]`);
    await item.waitFor();
    assert.match(await nb.page.locator('.msg-list').innerText(), /[Rr]efill/);
    await expectAccessible(nb.page, 'care-team inbox');
    await item.click();
    await nb.page.getByRole('link', { name: 'pharmacy-letter.pdf' }).waitFor();
    assert.match(await nb.page.locator('.msg-thread').innerText(), new RegExp(WORDS));
    await expectAccessible(nb.page, 'conversation (care team)');
    const dl = await nurse.get(`/api/v1/files/${fileId}`);
    assert.equal(dl.status, 200);
    assert.equal(dl.headers['content-type'], 'application/pdf');
    assert.match(dl.headers['content-disposition'], /^attachment/);
    assert.equal(createHash('sha256').update(dl.text).digest('hex'), createHash('sha256').update(PDF).digest('hex'), 'the bytes sent');
    await nb.page.getByLabel('Your reply').fill('Sent to your pharmacy today. Pick up after 3 pm.');
    await nb.page.getByRole('button', { name: 'Send reply' }).click();
    await nb.page.getByText('Sent to your pharmacy today').waitFor();
    assert.deepEqual(nb.problems, []);
  } finally { await nb.close(); }

  // the patient's e-mail: exactly the notice, nothing about the message or the patient
  const mail = await waitFor(() => mails(mailDir).find((m) => m.rcpt_tos.includes('pat.inbox@example.org')), 'the notice e-mail', 30000);
  assert.equal(mail.tls, true, 'delivered over STARTTLS');
  const { headers, body } = parseMail(mail.data);
  assert.equal(headers.subject, 'You have a new message');
  assert.equal(body, `You have a new message in your patient portal. Sign in at ${PORTAL} to read it.\r\n\r\n${ORG}\r\n`);
  const raw = JSON.stringify(mail);
  for (const bad of [...fixtureNames(), WORDS, 'Refill', 'pharmacy', patientAcct.username, patientAcct.patient_id, threadId])
    assert.ok(!raw.includes(bad), `the e-mail does not contain ${bad}`);

  // the patient reads the reply
  const pb2 = await openBrowser();
  try {
    await adoptSession(pb2.context, srv.publicUrl, patient);
    await pb2.page.goto(`${srv.publicUrl}/#/messages/t/${threadId}`);
    await pb2.page.getByText('Sent to your pharmacy today').waitFor();
    await expectAccessible(pb2.page, 'conversation (patient)');
    assert.deepEqual(pb2.problems, []);
  } finally { await pb2.close(); }

  // outside the pool: nothing
  assert.equal((await billing.get(`/api/v1/messages/threads/${threadId}`)).status, 404);
  assert.equal((await billing.get(`/api/v1/files/${fileId}`)).status, 404);
});
