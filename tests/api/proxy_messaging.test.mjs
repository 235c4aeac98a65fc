// Proxies in secure messaging, black box. The front desk gives a caregiver full access to an adult
// patient's record: the caregiver, acting for her (?patient=<id>), picks one of her active
// medications and sends a refill request in their own name; the pool's nurse sees it (with "X for
// Y") and replies; the caregiver is notified (PHI-free outbox row) and reads the reply; the patient
// sees the same thread; drafts stay the author's; an attachment sent by the proxy is downloadable
// by the pool. Every record of the proxy's requests names the proxy as actor and the patient in
// on_behalf_of. A no-messaging and a billing-only proxy are refused (404) for every messaging call;
// a revoked proxy is refused at once; the parent of a 13-year-old cannot list, read or start the
// teen's conversations (policy's adolescent rule).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeData, startServer, signIn, sqlite, cli, freePort } from './harness.mjs';
import { startClamd } from './clamd.mjs';

let d, srv, clamd;
const u = {};
const acct = {};
let alicePub, teenPub, reyes, medId, threadId, proxyUserId, grantId;
const secret = (p) => `${p}-${randomBytes(6).toString('hex')}`;
const words = { refill: secret('proxyrefill'), reply: secret('nursereply'), draft: secret('proxydraft'), teen: secret('teenprivate') };
const auditDb = () => join(d.dir, 'audit.db');
const auditOf = (rid) => sqlite(auditDb(), `SELECT actor || '|' || coalesce(on_behalf_of,'') || '|' || coalesce(patient,'') || '|' || action || '|' || outcome || '|' || coalesce(detail,'') FROM audit_event WHERE request_id='${rid}'`).trim().split('\n').filter(Boolean);

function addUser(name, role, patient) {
  const args = ['--data', d.dir, 'user', 'add', '--username', name, '--role', role];
  if (patient) args.push('--patient', patient);
  const r = cli(args);
  assert.equal(r.status, 0, r.stderr);
  return { username: name, password: r.stdout.match(/password \(shown once\): (\S+)/)[1] };
}

function upload(client, path, body, name) {
  const h = { 'content-type': 'application/octet-stream', 'x-csrf-token': client.csrf, 'content-length': String(body.length),
    'x-file-name': encodeURIComponent(name), cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  return new Promise((resolve, reject) => {
    const req = https.request(client.server.url + path, { method: 'POST', headers: h, ca: client.server.ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { const t = Buffer.concat(chunks).toString(); resolve({ status: res.statusCode, json: t ? JSON.parse(t) : null }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  clamd = await startClamd();
  const smtpPort = await freePort();   // nothing listens: notices stay queued in the outbox
  d = makeData({ config: { 'files.clamd_socket': clamd.socket, 'notify.smtp_url': `smtp://127.0.0.1:${smtpPort}`,
    'notify.mail_from': 'portal@example.org', 'notify.portal_url': 'https://portal.example.org/', 'notify.retry_base_s': 3600 } });
  // a 13-year-old (and 40 days) with her own account, and her parent
  const now = new Date();
  const born = new Date(Date.UTC(now.getUTCFullYear() - 13, now.getUTCMonth(), now.getUTCDate()) - 40 * 86400000);
  const file = join(d.base, 'teen.ndjson');
  writeFileSync(file, JSON.stringify({ resourceType: 'Patient', id: 'pm-teen-1', name: [{ family: 'Testteen', given: ['Tia'] }], gender: 'female', birthDate: born.toISOString().slice(0, 10) }) + '\n');
  assert.equal(cli(['--data', d.dir, 'import', file]).status, 0);
  teenPub = sqlite(join(d.dir, 'phiportal.db'), "SELECT pub_id FROM resource WHERE type='Patient' ORDER BY last_updated_ms DESC LIMIT 1").trim();
  acct.teen = addUser('tia.teen', 'patient', teenPub);
  acct.parent = addUser('tia.parent', 'proxy');
  acct.carer = addUser('carer.full', 'proxy');
  acct.nomsg = addUser('carer.nomsg', 'proxy');
  acct.billonly = addUser('carer.billing', 'proxy');
  srv = await startServer(d.dir);
  // alice: the demo patient with the most active medications
  const patients = [];
  for (const name of ['demo.patient1', 'demo.patient2', 'demo.patient3']) {
    const a = d.accounts.find((x) => x.username === name);
    const c = await signIn(srv, a);
    patients.push({ a, c, meds: (await c.get('/api/v1/messages/choices')).json.medications });
  }
  patients.sort((x, y) => y.meds.length - x.meds.length);
  acct.alice = patients[0].a;
  u.alice = patients[0].c;
  alicePub = acct.alice.patient_id;
  medId = patients[0].meds[0]?.id;
  assert.ok(medId, 'a demo patient has an active medication');
  for (const [k, name] of [['desk', 'demo.frontdesk'], ['nurse', 'demo.nurse']]) u[k] = await signIn(srv, d.accounts.find((a) => a.username === name));
  for (const k of ['teen', 'parent', 'carer', 'nomsg', 'billonly']) u[k] = await signIn(srv, acct[k]);
  // the front desk sets up the grants (a minor's parent; caregivers of alice with three scopes)
  for (const [pub, username, relationship, scope] of [[teenPub, 'tia.parent', 'parent', 'full'], [alicePub, 'carer.full', 'caregiver', 'full'],
    [alicePub, 'carer.nomsg', 'caregiver', 'no-messaging'], [alicePub, 'carer.billing', 'caregiver', 'billing-only']]) {
    const g = await u.desk.post(`/api/v1/patients/${pub}/proxies`, { username, relationship, scope });
    assert.equal(g.status, 201, g.text);
    if (username === 'carer.full') grantId = g.json.id;
  }
  // the proxy's user id (beyond 2^53: read it from the audit record of one of their requests)
  const pl = await u.carer.get('/api/v1/me/proxies');
  proxyUserId = sqlite(auditDb(), `SELECT substr(actor, 6) FROM audit_event WHERE request_id='${pl.headers['x-request-id']}'`).trim();
  assert.match(proxyUserId, /^\d+$/);
  const pools = (await u.alice.get('/api/v1/messages/pools')).json.pools;
  reyes = pools.find((p) => p.name === "Dr. Reyes' team");
  assert.ok(reyes);
});
after(async () => { await srv?.stop(); await clamd?.stop(); d?.cleanup(); });

test('a proxy must say whose record: the inbox-wide calls without ?patient are refused', async () => {
  for (const path of ['/api/v1/messages/threads', '/api/v1/messages/unread', '/api/v1/messages/choices']) {
    const r = await u.carer.get(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.json.error.code, 'patient_required');
  }
  const r = await u.carer.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', body: 'x' });
  assert.equal(r.status, 400);
  // a record the proxy has no grant for is not found (and audited as denied)
  const other = d.accounts.find((a) => a.username === 'demo.patient2').patient_id;
  const o = await u.carer.get(`/api/v1/messages/threads?patient=${other === alicePub ? teenPub : other}`);
  assert.equal(o.status, 404);
  assert.ok(auditOf(o.headers['x-request-id']).some((l) => l.includes('|message.access|denied|')));
});

test('the full proxy sends a refill request for the patient, in their own name, audited on her behalf', async () => {
  const ch = await u.carer.get(`/api/v1/messages/choices?patient=${alicePub}`);
  assert.equal(ch.status, 200, ch.text);
  assert.ok(ch.json.medications.some((m) => m.id === medId), 'the patient\'s active medications');
  // a medication that is not hers is refused
  const bad = await u.carer.post(`/api/v1/messages/threads?patient=${alicePub}`, { pool_id: reyes.id, kind: 'refill', fields: { medication_request_id: 'ab'.repeat(16) } });
  assert.equal(bad.status, 400);
  const r = await u.carer.post(`/api/v1/messages/threads?patient=${alicePub}`, { pool_id: reyes.id, kind: 'refill', body: words.refill, fields: { medication_request_id: medId } });
  assert.equal(r.status, 201, r.text);
  threadId = r.json.id;
  assert.equal(r.json.patient_id, alicePub);
  const m = r.json.messages[0];
  assert.equal(m.side, 'patient');
  assert.equal(m.mine, true);
  assert.equal(m.author.role, 'proxy');
  assert.equal(m.author.name, 'carer.full');
  assert.ok(m.author.for.length > 0, 'the patient\'s name');
  const rows = auditOf(r.headers['x-request-id']);
  assert.equal(rows.length, 1, rows.join('\n'));
  assert.match(rows[0], new RegExp(`^user:${proxyUserId}\\|patient:${alicePub}\\|${alicePub}\\|message.create\\|success\\|new-thread;kind:refill;.*;proxy$`));
  // the other kinds too
  const appt = await u.carer.post(`/api/v1/messages/threads?patient=${alicePub}`, { pool_id: reyes.id, kind: 'appointment', fields: { reason: 'Check-up', preferred_times: ['2031-05-02T09:30'] } });
  assert.equal(appt.status, 201, appt.text);
  const results = ch.json.results;
  if (results.length) {
    const q = await u.carer.post(`/api/v1/messages/threads?patient=${alicePub}`, { pool_id: reyes.id, kind: 'result_question', body: 'What does this mean?', fields: { observation_id: results[0].id } });
    assert.equal(q.status, 201, q.text);
  }
});

test('the pool sees it as "proxy for patient" and replies; the proxy is notified and reads the reply', async () => {
  const inbox = await u.nurse.get('/api/v1/messages/threads');
  const t = inbox.json.threads.find((x) => x.id === threadId);
  assert.ok(t, 'in the pool\'s inbox');
  assert.equal(t.item.kind, 'refill');
  const th = await u.nurse.get(`/api/v1/messages/threads/${threadId}`);
  assert.equal(th.status, 200);
  assert.equal(th.json.messages[0].author.name, 'carer.full');
  assert.equal(th.json.messages[0].body, words.refill);
  const before = Number(sqlite(join(d.dir, 'phiportal.db'), `SELECT count(*) FROM notify_outbox WHERE user_id=${proxyUserId} AND event='message'`).trim());
  // the proxy's contact, so that a notice can be queued for them
  assert.equal((await u.carer.request('PUT', '/api/v1/me/contact', { json: { email: 'carer@example.org' } })).status, 200);
  const rep = await u.nurse.post(`/api/v1/messages/threads/${threadId}/messages`, { body: words.reply });
  assert.equal(rep.status, 201, rep.text);
  assert.equal(rep.json.author, undefined, 'staff messages carry no proxy author');
  const after = Number(sqlite(join(d.dir, 'phiportal.db'), `SELECT count(*) FROM notify_outbox WHERE user_id=${proxyUserId} AND event='message'`).trim());
  assert.equal(after, before + 1, 'a PHI-free notice is queued for the proxy');
  // unread for the proxy acting for alice, then read
  const un = await u.carer.get(`/api/v1/messages/unread?patient=${alicePub}`);
  assert.equal(un.status, 200);
  assert.ok(un.json.unread >= 1);
  const list = await u.carer.get(`/api/v1/messages/threads?patient=${alicePub}`);
  assert.equal(list.status, 200);
  assert.ok(list.json.threads.some((x) => x.id === threadId && x.unread === 1));
  assert.ok(auditOf(list.headers['x-request-id']).every((l) => l.includes(`|patient:${alicePub}|`) && l.endsWith('|proxy')));
  const read = await u.carer.get(`/api/v1/messages/threads/${threadId}`);
  assert.equal(read.status, 200);
  assert.ok(read.json.messages.some((x) => x.body === words.reply && x.side === 'staff'));
  assert.ok(auditOf(read.headers['x-request-id'])[0].startsWith(`user:${proxyUserId}|patient:${alicePub}|${alicePub}|message.read|success|proxy`));
  const mr = await u.carer.post(`/api/v1/messages/threads/${threadId}/read`);
  assert.equal(mr.status, 200);
  assert.equal(mr.json.marked, 1);
  // search within the record the proxy acts for
  const s = await u.carer.post(`/api/v1/messages/search?patient=${alicePub}`, { q: words.reply });
  assert.equal(s.status, 200);
  assert.equal(s.json.results.length, 1);
});

test('the patient sees the same thread, with the proxy named; drafts stay their author\'s', async () => {
  const list = await u.alice.get('/api/v1/messages/threads');
  assert.ok(list.json.threads.some((x) => x.id === threadId));
  const th = await u.alice.get(`/api/v1/messages/threads/${threadId}`);
  assert.equal(th.status, 200);
  assert.equal(th.json.messages[0].author.name, 'carer.full');
  assert.equal(th.json.messages[0].mine, false);
  assert.ok(auditOf(th.headers['x-request-id'])[0].includes('|message.read|success|own-record'), 'her own read is not "on behalf"');
  assert.equal((await u.carer.request('PUT', `/api/v1/messages/threads/${threadId}/draft`, { json: { body: words.draft } })).status, 200);
  assert.equal((await u.carer.get(`/api/v1/messages/threads/${threadId}`)).json.draft.body, words.draft);
  assert.equal((await u.alice.get(`/api/v1/messages/threads/${threadId}`)).json.draft, null);
  // a reply from the proxy uses up their draft; patient-side replies may carry a kind
  const rep = await u.carer.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'Thank you' });
  assert.equal(rep.status, 201, rep.text);
  assert.equal(rep.json.author.name, 'carer.full');
  assert.equal((await u.carer.get(`/api/v1/messages/threads/${threadId}`)).json.draft, null);
  // staff-only actions stay staff-only
  assert.equal((await u.carer.post(`/api/v1/messages/threads/${threadId}/reassign`, { pool_id: reyes.id, reason: 'x' })).status, 403);
});

test('an attachment sent by the proxy reaches the pool', async () => {
  const up = await upload(u.carer, `/api/v1/messages/threads/${threadId}/attachments`, Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n'), 'list.pdf');
  assert.equal(up.status, 201, JSON.stringify(up.json));
  const rep = await u.carer.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'The list', attachments: [up.json.file_id] });
  assert.equal(rep.status, 201, rep.text);
  assert.equal(rep.json.attachments.length, 1);
  const dl = await u.nurse.get(`/api/v1/files/${up.json.file_id}`);
  assert.equal(dl.status, 200);
  assert.equal((await u.carer.get(`/api/v1/files/${up.json.file_id}`)).status, 200);
  // the proxy's upload and download are audited as on the patient's behalf
  const rows = (action) => sqlite(auditDb(), `SELECT coalesce(on_behalf_of,'') FROM audit_event WHERE action='${action}' AND resource_id='${up.json.file_id}' AND outcome='success' ORDER BY seq`).trim().split('\n');
  assert.deepEqual(rows('file.upload'), [`patient:${alicePub}`]);
  assert.ok(rows('file.download').includes(`patient:${alicePub}`), rows('file.download').join(','));
});

test('the full proxy reads the conversations as FHIR Communication too, on the patient\'s behalf', async () => {
  const r = await u.carer.get(`/fhir/Communication?patient=${alicePub}`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.total >= 1);
  assert.ok(r.text.includes(words.refill));
  const rows = auditOf(r.headers['x-request-id']);
  assert.equal(rows.length, 1);
  assert.ok(rows[0].startsWith(`user:${proxyUserId}|patient:${alicePub}|${alicePub}|search|success`), rows[0]);
  const n = await u.nomsg.get(`/fhir/Communication?patient=${alicePub}`);
  assert.doesNotMatch(n.text, new RegExp(words.refill));
});

test('no-messaging and billing-only proxies are refused everywhere in messaging', async () => {
  for (const k of ['nomsg', 'billonly']) {
    const c = u[k];
    assert.equal((await c.get(`/api/v1/messages/threads?patient=${alicePub}`)).status, 404, k);
    assert.equal((await c.get(`/api/v1/messages/unread?patient=${alicePub}`)).status, 404, k);
    assert.equal((await c.get(`/api/v1/messages/threads/${threadId}`)).status, 404, k);
    const r = await c.post(`/api/v1/messages/threads?patient=${alicePub}`, { pool_id: reyes.id, kind: 'text', body: 'hello' });
    assert.equal(r.status, 404, k);
    const rows = auditOf(r.headers['x-request-id']);
    assert.equal(rows.length, 1);
    assert.match(rows[0], /\|message.access\|denied\|proxy-scope$/);
    assert.equal((await c.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'x' })).status, 404, k);
  }
  // the no-messaging proxy still reads the record itself: the scope, not the grant, refuses
  assert.equal((await u.nomsg.get(`/api/v1/patients/${alicePub}/summary`)).status, 200);
});

test('the parent of a 13-year-old cannot list, read or start the teen\'s conversations', async () => {
  const pools = (await u.teen.get('/api/v1/messages/pools')).json.pools;
  const th = await u.teen.post('/api/v1/messages/threads', { pool_id: pools[0].id, kind: 'text', subject: 'private', body: words.teen });
  assert.equal(th.status, 201, th.text);
  const list = await u.parent.get(`/api/v1/messages/threads?patient=${teenPub}`);
  assert.equal(list.status, 404);
  assert.ok(auditOf(list.headers['x-request-id'])[0].endsWith('|message.access|denied|proxy-adolescent'));
  const r = await u.parent.get(`/api/v1/messages/threads/${th.json.id}`);
  assert.equal(r.status, 404);
  assert.doesNotMatch(r.text, new RegExp(words.teen));
  assert.equal((await u.parent.post(`/api/v1/messages/threads?patient=${teenPub}`, { pool_id: pools[0].id, kind: 'text', body: 'about my daughter' })).status, 404);
  assert.equal((await u.parent.post('/api/v1/messages/search?patient=' + teenPub, { q: words.teen })).status, 404);
});

test('a revoked proxy is refused at once', async () => {
  assert.equal((await u.carer.get(`/api/v1/messages/threads/${threadId}`)).status, 200);
  const rv = await u.alice.request('DELETE', `/api/v1/me/proxies/${grantId}`);
  assert.equal(rv.status, 200, rv.text);
  assert.equal((await u.carer.get(`/api/v1/messages/threads/${threadId}`)).status, 404);
  assert.equal((await u.carer.get(`/api/v1/messages/threads?patient=${alicePub}`)).status, 404);
  assert.equal((await u.carer.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'still here?' })).status, 404);
  // and a staff reply no longer notifies them
  // (an identical pending notice would suppress a new one: clear the earlier one first)
  sqlite(join(d.dir, 'phiportal.db'), `UPDATE notify_outbox SET status='cancelled' WHERE user_id=${proxyUserId}`);
  const before = sqlite(join(d.dir, 'phiportal.db'), `SELECT count(*) FROM notify_outbox WHERE user_id=${proxyUserId}`).trim();
  assert.equal((await u.nurse.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'Done.' })).status, 201);
  assert.equal(sqlite(join(d.dir, 'phiportal.db'), `SELECT count(*) FROM notify_outbox WHERE user_id=${proxyUserId}`).trim(), before);
  // no message text in the audit log
  const all = sqlite(auditDb(), 'SELECT * FROM audit_event');
  for (const w of Object.values(words)) assert.ok(!all.includes(w));
});
