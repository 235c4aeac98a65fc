// Notifications without PHI, end to end: a real SMTP server on loopback (Debian's python3-aiosmtpd,
// tests/api/smtp_sink.py, STARTTLS required, certificate made here with certtool) and an HTTPS SMS
// webhook (a Node https server with its own certtool certificate). The contact is set through the
// API; notices are triggered with `phiportal notify test` (the messaging module will call
// pp_notify_enqueue) and by importing new lab results. The exact text received is checked, and that
// no fixture patient's name, no result value and no identifier appears in it; a mail server that is
// down is retried until it is back, across a restart of the portal; a template that names {name}
// keeps `serve` from starting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import { ROOT, cli, makeData, setConfig, startServer, signIn, freePort, sqlite, Client } from './harness.mjs';
import { sleep, waitFor, makeCert, startSmtp, mails, parseMail, fixtureNames } from './smtp.mjs';

const FIXTURE_PATIENTS = '/work/shared/fixtures/synthea-10/Patient.000.ndjson';
const ORG = 'Riverside Clinic';
const PORTAL = 'https://portal.example.org/';
const FROM = 'notices@example.org';

const MSG_SUBJECT = 'You have a new message';
const MSG_BODY = `You have a new message in your patient portal. Sign in at ${PORTAL} to read it.\r\n\r\n${ORG}\r\n`;
const RES_SUBJECT = 'You have a new test result';
const RES_BODY = `A new test result is available in your patient portal. Sign in at ${PORTAL} to see it.\r\n\r\n${ORG}\r\n`;
const SMS_MSG = `${ORG}: you have a new message in your patient portal. Sign in at ${PORTAL}`;

let data, server, smtp, smtpPort, smsServer, smsPort, certs, smsCerts;
const smsReceived = [];
const base = () => data.base;
const outdir = () => join(base(), 'mail');

function startSms() {
  return new Promise((resolve) => {
    smsServer = https.createServer({ key: readFileSync(smsCerts.key), cert: readFileSync(smsCerts.cert) }, (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        smsReceived.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"queued"}');
      });
    });
    smsServer.listen(smsPort, '127.0.0.1', resolve);
  });
}

before(async () => {
  data = makeData({ demo: true });
  certs = makeCert(join(base(), 'smtp-tls'));
  smsCerts = makeCert(join(base(), 'sms-tls'));
  copyFileSync(certs.cert, join(data.dir, 'smtp-ca.pem'));
  copyFileSync(smsCerts.cert, join(data.dir, 'sms-ca.pem'));
  smtpPort = await freePort();
  smsPort = await freePort();
  setConfig(data.dir, {
    'notify.smtp_url': `smtp://127.0.0.1:${smtpPort}`,
    'notify.smtp_ca_file': 'smtp-ca.pem',
    'notify.mail_from': FROM,
    'notify.sms_webhook_url': `https://127.0.0.1:${smsPort}/sms`,
    'notify.sms_ca_file': 'sms-ca.pem',
    'notify.portal_url': PORTAL,
    'notify.org_name': ORG,
    'notify.retry_base_s': 1,
    'notify.poll_ms': 200,
    'notify.timeout_s': 5,
  });
  smtp = await startSmtp(smtpPort, certs, outdir());
  await startSms();
  server = await startServer(data.dir);
});

after(async () => {
  if (server) await server.stop().catch(() => {});
  if (smtp) await smtp.stop();
  if (smsServer) smsServer.close();
  data?.cleanup();
});

const account = (name) => data.accounts.find((a) => a.username === name);

test('contact: GET/PUT /api/v1/me/contact with validation, CSRF, audit without the address, sealed at rest', async () => {
  const c = await signIn(server, account('demo.patient1'));
  let r = await c.get('/api/v1/me/contact');
  assert.equal(r.status, 200);
  assert.match(r.headers['cache-control'], /no-store/);
  // init --demo gave the demo accounts an example.org address
  assert.deepEqual(r.json, { email: 'demo.patient1@example.org', phone: null, email_enabled: true, sms_enabled: false, channels: { email: true, sms: true } });

  r = await c.request('PUT', '/api/v1/me/contact', { json: { email: 'not an address' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_email');
  r = await c.request('PUT', '/api/v1/me/contact', { json: { phone: '555-0123' } });
  assert.equal(r.json.error.code, 'invalid_phone');
  r = await c.request('PUT', '/api/v1/me/contact', { json: { email: 'p1@example.org', sms_enabled: true } });
  assert.equal(r.json.error.code, 'phone_required');
  r = await c.request('PUT', '/api/v1/me/contact', { json: { email: 'p1@example.org', name: 'x' } });
  assert.equal(r.json.error.code, 'invalid_request');
  r = await c.request('PUT', '/api/v1/me/contact', { json: { email: 'p1@example.org' }, headers: { 'x-csrf-token': 'wrong' } });
  assert.equal(r.status, 403);
  r = await new Client(server).request('PUT', '/api/v1/me/contact', { json: { email: 'p1@example.org' } });
  assert.equal(r.status, 401);

  r = await c.request('PUT', '/api/v1/me/contact', { json: { email: 'p1.notify@example.org', phone: '+15555550123' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { email: 'p1.notify@example.org', phone: '+15555550123', email_enabled: true, sms_enabled: true, channels: { email: true, sms: true } });
  r = await c.get('/api/v1/me/contact');
  assert.equal(r.json.email, 'p1.notify@example.org');
  assert.equal(r.json.phone, '+15555550123');

  // one audit record per request; the detail says which channels are on, never the address
  const rows = sqlite(join(data.dir, 'audit.db'),
    "SELECT action || '|' || outcome || '|' || coalesce(detail,'') FROM audit_event WHERE resource_type = 'ContactPreferences' ORDER BY seq").trim().split('\n');
  assert.deepEqual(rows, ['read|success|email:on sms:none', 'update|success|email:on sms:on', 'read|success|email:on sms:on']);
  const audit = readFileSync(join(data.dir, 'audit.db'));
  assert.ok(!audit.includes('p1.notify@example.org') && !audit.includes('5555550123'));
  // stored sealed: the address is not in the database files
  for (const f of ['phiportal.db', 'phiportal.db-wal']) {
    const p = join(data.dir, f);
    if (existsSync(p)) {
      const b = readFileSync(p);
      assert.ok(!b.includes('p1.notify@example.org') && !b.includes('+15555550123'), f);
    }
  }
  // and never logged
  assert.ok(!server.log().includes('p1.notify@example.org') && !server.log().includes('5555550123'));
});

test('a new-message notice: exact PHI-free e-mail over STARTTLS and exact SMS text', async () => {
  const before = mails(outdir()).length;
  const r = cli(['--data', data.dir, 'notify', 'test', '--username', 'demo.patient1']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /queued 2 message notice/);
  const got = await waitFor(() => { const m = mails(outdir()); return m.length > before && m; }, 'the e-mail');
  const m = got[got.length - 1];
  assert.equal(m.tls, true);
  assert.match(m.tls_version, /^TLSv1\.[23]$/);
  assert.equal(m.mail_from, FROM);
  assert.deepEqual(m.rcpt_tos, ['p1.notify@example.org']);
  const { headers, body } = parseMail(m.data);
  assert.equal(headers.from, FROM);
  assert.equal(headers.to, 'p1.notify@example.org');
  assert.equal(headers.subject, MSG_SUBJECT);
  assert.equal(headers['content-type'], 'text/plain; charset=UTF-8');
  assert.equal(body, MSG_BODY);

  const sms = await waitFor(() => smsReceived.length && smsReceived, 'the SMS');
  assert.equal(sms.length, 1);
  assert.equal(sms[0].method, 'POST');
  assert.equal(sms[0].url, '/sms');
  assert.equal(sms[0].headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(sms[0].body), { to: '+15555550123', text: SMS_MSG });

  // nothing that identifies the patient: no fixture name, no username, no record or account id
  const me = account('demo.patient1');
  const everything = m.data + sms[0].body;
  for (const n of fixtureNames()) assert.ok(!everything.includes(n), `patient name ${n} in a notice`);
  assert.ok(!everything.includes(me.patient_id), 'patient id in a notice');
  assert.ok(!everything.includes('demo.patient1'), 'username in a notice');
  const uid = sqlite(join(data.dir, 'phiportal.db'), "SELECT user_id FROM notify_outbox WHERE channel = 'email' ORDER BY id DESC LIMIT 1").trim();
  assert.ok(uid.length > 3 && !everything.includes(uid), 'account id in a notice');
  // the outbox row: sent, nothing but who/channel/kind
  const cols = sqlite(join(data.dir, 'phiportal.db'), 'PRAGMA table_info(notify_outbox)').trim().split('\n').map((l) => l.split('|')[1]);
  assert.deepEqual(cols, ['id', 'user_id', 'channel', 'event', 'status', 'attempts', 'due_ms', 'created_ms', 'sent_ms', 'last_error']);
  await waitFor(() => sqlite(join(data.dir, 'phiportal.db'), "SELECT group_concat(status) FROM notify_outbox").trim() === 'sent,sent', 'both rows marked sent');
});

test('importing new lab results sends a PHI-free result notice to each patient account', async () => {
  const before = mails(outdir()).length;
  // one new Observation per fixture patient, with a value that must not leak
  const lines = readFileSync(FIXTURE_PATIENTS, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => JSON.stringify({
    resourceType: 'Observation', id: `notify-test-obs-${i}`, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '2823-3', display: 'Potassium' }], text: 'Potassium CRITICAL-MARKER' },
    subject: { reference: `Patient/${JSON.parse(l).id}` }, effectiveDateTime: '2026-01-02T03:04:05Z',
    valueQuantity: { value: 9.87, unit: 'mmol/L' },
  }));
  const file = join(base(), 'new-results.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  const r = cli(['--data', data.dir, 'import', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /result notices queued for 3 account\(s\)/);
  // the three demo patients have e-mail on (patient1 at its new address); patient1 has SMS too
  const got = await waitFor(() => { const m = mails(outdir()); return m.length >= before + 3 && m; }, 'three result e-mails');
  const fresh = got.slice(before);
  assert.deepEqual(fresh.map((m) => m.rcpt_tos[0]).sort(), ['demo.patient2@example.org', 'demo.patient3@example.org', 'p1.notify@example.org']);
  for (const m of fresh) {
    const { headers, body } = parseMail(m.data);
    assert.equal(m.tls, true);
    assert.equal(headers.subject, RES_SUBJECT);
    assert.equal(body, RES_BODY);
    assert.ok(!m.data.includes('9.87') && !m.data.includes('CRITICAL') && !m.data.includes('Potassium'));
    for (const n of fixtureNames()) assert.ok(!m.data.includes(n), `patient name ${n} in a result notice`);
  }
  const sms = await waitFor(() => smsReceived.length >= 2 && smsReceived, 'the result SMS');
  assert.equal(JSON.parse(sms[1].body).text, `${ORG}: a new test result is available in your patient portal. Sign in at ${PORTAL}`);
  // importing the same file again changes nothing and notifies nobody
  const again = cli(['--data', data.dir, 'import', file]);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /result notices queued/);
});

test('mail server down: the notice is retried with back-off, survives a restart, and is delivered once the server is back', async () => {
  await smtp.stop();
  smtp = null;
  const db = join(data.dir, 'phiportal.db');
  const before = mails(outdir()).length;
  const r = cli(['--data', data.dir, 'notify', 'test', '--username', 'demo.clinician']);
  assert.equal(r.status, 0, r.stderr);
  const row = () => sqlite(db, "SELECT status || '|' || attempts || '|' || last_error FROM notify_outbox WHERE id = (SELECT max(id) FROM notify_outbox)").trim();
  await waitFor(() => /^pending\|[2-9]\|smtp:curl-7$/.test(row()), 'two failed attempts');
  // the portal restarts while the notice is still pending
  await server.stop();
  server = await startServer(data.dir);
  assert.match(row(), /^pending\|/);
  smtp = await startSmtp(smtpPort, certs, outdir());
  const got = await waitFor(() => { const m = mails(outdir()); return m.length > before && m; }, 'the retried e-mail', 30000)
    .catch((e) => { throw new Error(`${e.message}; outbox row ${row()}; log: ${server.log().slice(-3000)}`); });
  const m = got[got.length - 1];
  assert.deepEqual(m.rcpt_tos, ['demo.clinician@example.org']);
  assert.equal(parseMail(m.data).body, MSG_BODY);
  assert.match(row(), /^sent\|[3-9]\|$/);
  // exactly one copy
  await sleep(500);
  assert.equal(mails(outdir()).length, before + 1);
  assert.ok(!server.log().includes('demo.clinician@example.org'));
});

test('STARTTLS is required, the certificate is verified, SMTP AUTH uses the password file', async () => {
  const d = makeData({ demo: false });
  try {
    const c2 = makeCert(join(d.base, 'tls'));
    const port = await freePort();
    const out = join(d.base, 'mail');
    const u = cli(['--data', d.dir, 'user', 'add', '--username', 'nurse.one', '--role', 'nurse']);
    assert.equal(u.status, 0, u.stderr);
    const ct = cli(['--data', d.dir, 'user', 'contact', '--username', 'nurse.one', '--email', 'nurse.one@example.org']);
    assert.equal(ct.status, 0, ct.stderr);
    assert.ok(!ct.stdout.includes('nurse.one@example.org'));
    setConfig(d.dir, { 'notify.smtp_url': `smtp://127.0.0.1:${port}`, 'notify.mail_from': FROM, 'notify.retry_base_s': 1 });
    const row = () => sqlite(join(d.dir, 'phiportal.db'), "SELECT status || '|' || last_error FROM notify_outbox ORDER BY id DESC LIMIT 1").trim();
    const send = () => {
      assert.equal(cli(['--data', d.dir, 'notify', 'test', '--username', 'nurse.one']).status, 0);
      return cli(['--data', d.dir, 'notify', 'run']);
    };

    // 1. a server that offers no STARTTLS gets nothing
    let sink = await startSmtp(port, c2, out, ['--plain']);
    let r = send();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sent 0/);
    assert.equal(row(), 'pending|smtp:curl-64');   /* CURLE_USE_SSL_FAILED */
    await sink.stop();
    assert.equal(mails(out).length, 0);

    // 2. STARTTLS but a certificate nobody vouches for: refused (notify.smtp_ca_file not set)
    sink = await startSmtp(port, c2, out);
    await sleep(1100);   // the row is due again after retry_base_s
    r = cli(['--data', d.dir, 'notify', 'run']);
    assert.match(r.stdout, /sent 0/);
    assert.equal(row(), 'pending|smtp:curl-60');   /* CURLE_PEER_FAILED_VERIFICATION */
    assert.equal(mails(out).length, 0);
    await sink.stop();

    // 3. trusted certificate and SMTP AUTH from a 0600 password file
    copyFileSync(c2.cert, join(d.dir, 'smtp-ca.pem'));
    writeFileSync(join(d.dir, 'smtp.pw'), 'pw-from-file\n');
    chmodSync(join(d.dir, 'smtp.pw'), 0o644);
    setConfig(d.dir, { 'notify.smtp_ca_file': 'smtp-ca.pem', 'notify.smtp_username': 'portal', 'notify.smtp_password_file': 'smtp.pw' });
    r = cli(['--data', d.dir, 'notify', 'check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /notify.smtp_password_file: .*mode 0600/);
    chmodSync(join(d.dir, 'smtp.pw'), 0o600);
    sink = await startSmtp(port, c2, out, ['--auth', 'portal:pw-from-file']);
    await sleep(2100);   // second back-off step
    r = cli(['--data', d.dir, 'notify', 'run']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sent 1/);
    await sink.stop();
    const m = mails(out);
    assert.equal(m.length, 1);
    assert.equal(m[0].tls, true);
    assert.equal(m[0].auth_user, 'portal');
    assert.equal(parseMail(m[0].data).headers.subject, MSG_SUBJECT);
    assert.equal(row(), 'sent|');
    assert.ok(!readFileSync(join(d.dir, 'phiportal.conf'), 'utf8').includes('pw-from-file'));
  } finally {
    d.cleanup();
  }
});

test('a template that names {name} (or any other data) keeps serve from starting', async () => {
  const d = makeData({ demo: false });
  try {
    assert.equal(cli(['--data', d.dir, 'notify', 'check']).status, 0);
    setConfig(d.dir, { 'notify.email_body_message': 'Dear {name}, sign in at {portal_url}' });
    let r = cli(['--data', d.dir, 'serve', '--port', String(await freePort())]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /notify\.email_body_message: placeholder \{name\} is not allowed: only \{portal_url\} and \{org_name\}/);
    assert.doesNotMatch(r.stdout, /listening/);
    r = cli(['--data', d.dir, 'notify', 'check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\{name\}/);
    r = cli(['--data', d.dir, 'compliance', 'check']);
    assert.equal(r.status, 1);
    // other disguises of data: another placeholder syntax, a link that carries an identifier
    setConfig(d.dir, { 'notify.email_body_message': 'Sign in at {portal_url}', 'notify.sms_message': 'Hi ${patient}', 'notify.portal_url': 'https://p.example.org/?mrn=1' });
    r = cli(['--data', d.dir, 'serve', '--port', String(await freePort())]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /notify\.sms_message: '\$\{patient\}' looks like a substitution/);
    assert.match(r.stderr, /notify\.portal_url: must not carry a query/);
  } finally {
    d.cleanup();
  }
});
