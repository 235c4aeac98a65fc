// Break-glass: a clinician with no care relationship to a patient is told to break the glass
// (others learn nothing); a reason from the list plus free text is required; the access is
// time-limited, marked on the record (banner data) and every read through it is audited with
// purpose "emergency"; the privacy officer sees it in the review queue (with the reason) and must
// close it with an outcome. Nobody else reaches the queue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeData, startServer, signIn, sqlite } from './harness.mjs';

let d, srv, clin, nurse, admin, privacy, billing, alice, related, stranger, grantId;
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, purpose, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);

before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  const acct = (u) => d.accounts.find((a) => a.username === u);
  [clin, nurse, admin, privacy, billing, alice] = await Promise.all(
    ['demo.clinician', 'demo.nurse', 'demo.admin', 'demo.privacy', 'demo.billing', 'demo.patient1'].map((u) => signIn(srv, acct(u))));
  related = acct('demo.patient1').patient_id;
  stranger = acct('demo.patient3').patient_id;
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('without a relationship a clinician is offered break-glass; others get 404', async () => {
  const r = await clin.get(`/api/v1/patients/${stranger}/summary`);
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'break_glass_required');
  assert.ok(!r.text.includes('"name"'), 'no PHI in the refusal');
  for (const who of [admin, privacy, billing, alice])
    assert.equal((await who.get(`/api/v1/patients/${stranger}/summary`)).status, 404);
  // an id that is not a patient is a plain 404 even for a clinician
  assert.equal((await clin.get('/api/v1/patients/00000000000000000000000000000000/summary')).status, 404);
  // related: the care team reads normally
  const ok = await clin.get(`/api/v1/patients/${related}/summary`);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.access.via, 'care-team');
});

test('a reason from the list and in words is required; only clinical staff may break the glass', async () => {
  const reasons = await clin.get('/api/v1/break-glass/reasons');
  assert.equal(reasons.status, 200);
  assert.ok(reasons.json.reasons.some((x) => x.code === 'emergency'));
  assert.equal(reasons.json.minutes, 60);
  for (const body of [{}, { reason_code: 'emergency' }, { reason_code: 'bored', reason: 'just looking around' }, { reason_code: 'emergency', reason: 'x' }])
    assert.equal((await clin.post(`/api/v1/patients/${stranger}/break-glass`, body)).json.error.code, 'reason_required');
  for (const who of [admin, privacy, billing, alice])
    assert.equal((await who.post(`/api/v1/patients/${stranger}/break-glass`, { reason_code: 'emergency', reason: 'patient collapsed in the lobby' })).status, 404);
  assert.ok(audit(`action='breakglass.start' AND outcome='denied'`).length >= 4);
  // nothing to break where a relationship exists
  assert.equal((await clin.post(`/api/v1/patients/${related}/break-glass`, { reason_code: 'emergency', reason: 'patient collapsed in the lobby' })).status, 409);
  assert.equal((await clin.post(`/api/v1/patients/${stranger}/break-glass`, { reason_code: 'emergency', reason: 'ok' }, { headers: { 'x-csrf-token': 'bad' } })).status, 403);
});

test('break-glass opens the record for a limited time, marked, and every read is audited as such', async () => {
  const words = 'Patient collapsed in the lobby, no chart access';
  const g = await clin.post(`/api/v1/patients/${stranger}/break-glass`, { reason_code: 'emergency', reason: words });
  assert.equal(g.status, 201, g.text);
  grantId = g.json.id;
  const minutes = (Date.parse(g.json.expires_at) - Date.now()) / 60000;
  assert.ok(minutes > 58 && minutes <= 60, `expires in about an hour (${minutes})`);
  const s = await clin.get(`/api/v1/patients/${stranger}/summary`);
  assert.equal(s.status, 200);
  assert.equal(s.json.access.via, 'break-glass');
  assert.equal(s.json.access.expires_at, g.json.expires_at);
  const f = await clin.get(`/fhir/Patient/${stranger}`);
  assert.equal(f.status, 200);
  const reads = audit(`patient='${stranger}' AND outcome='success' AND action IN ('read','search')`);
  assert.ok(reads.length >= 2);
  for (const row of reads) assert.match(row, /\|emergency\|break-glass/, row);
  // the free text is sealed: not in the audit log, not in the database file in clear
  assert.equal(audit(`detail LIKE '%lobby%'`).length, 0);
  assert.equal(sqlite(join(d.dir, 'phiportal.db'), 'SELECT count(*) FROM break_glass').trim(), '1');
  assert.equal(sqlite(join(d.dir, 'phiportal.db'), "SELECT count(*) FROM break_glass WHERE instr(reason_enc, CAST('lobby' AS BLOB)) > 0").trim(), '0');
  // a second grant while one runs is refused; the nurse (no grant) is still out
  assert.equal((await clin.post(`/api/v1/patients/${stranger}/break-glass`, { reason_code: 'emergency', reason: words })).status, 409);
  assert.equal((await nurse.get(`/api/v1/patients/${stranger}/summary`)).status, 403);
  // read-only: break-glass never allows writes (a FHIR write is not offered at all)
  assert.notEqual((await clin.request('PUT', `/fhir/Patient/${stranger}`, { json: {} })).status, 200);
});

test('the privacy officer reviews and closes each break-glass; nobody else can', async () => {
  for (const who of [clin, admin, billing, alice])
    assert.equal((await who.get('/api/v1/privacy/break-glass')).status, 404);
  const q = await privacy.get('/api/v1/privacy/break-glass');
  assert.equal(q.status, 200);
  const item = q.json.items.find((x) => x.id === grantId);
  assert.ok(item, 'the grant is in the open queue');
  assert.equal(item.staff.username, 'demo.clinician');
  assert.equal(item.staff.role, 'clinician');
  assert.equal(item.patient_id, stranger);
  assert.equal(item.reason_code, 'emergency');
  assert.match(item.reason, /collapsed in the lobby/);
  assert.equal(item.status, 'open');
  assert.equal((await privacy.post(`/api/v1/privacy/break-glass/${grantId}/close`, { outcome: 'fine' })).status, 400);
  assert.equal((await admin.post(`/api/v1/privacy/break-glass/${grantId}/close`, { outcome: 'appropriate' })).status, 404);
  const c = await privacy.post(`/api/v1/privacy/break-glass/${grantId}/close`, { outcome: 'appropriate', note: 'confirmed with the ED charge nurse' });
  assert.equal(c.status, 200, c.text);
  assert.equal((await privacy.post(`/api/v1/privacy/break-glass/${grantId}/close`, { outcome: 'appropriate' })).status, 404, 'closed once');
  const open = await privacy.get('/api/v1/privacy/break-glass?status=open');
  assert.ok(!open.json.items.some((x) => x.id === grantId));
  const closed = await privacy.get('/api/v1/privacy/break-glass?status=closed');
  const done = closed.json.items.find((x) => x.id === grantId);
  assert.equal(done.outcome, 'appropriate');
  assert.match(done.note, /charge nurse/);
  assert.ok(done.reviewed_at);
  assert.equal(audit(`action='breakglass.review.close' AND outcome='success' AND patient='${stranger}'`).length, 1);
  assert.ok(audit(`action='breakglass.queue.read'`).length >= 3);
  assert.equal((await privacy.get('/api/v1/privacy/break-glass?status=bogus')).status, 400);
});

test('"who viewed my record": the patient sees the break-glass and the care team\'s reads, in plain words, without internal ids', async () => {
  const carol = await signIn(srv, d.accounts.find((a) => a.username === 'demo.patient3'));
  await carol.get('/api/v1/me/summary');   // her own view is not listed
  const h = await carol.get('/api/v1/me/access-history');
  assert.equal(h.status, 200, h.text);
  const items = h.json.items;
  const glass = items.filter((x) => x.break_glass);
  assert.ok(glass.some((x) => x.what.includes('break-glass') && x.who === 'demo.clinician' && x.role === 'Clinician'), JSON.stringify(glass));
  assert.ok(glass.some((x) => x.what === 'Your health summary'), 'the summary read through break-glass');
  assert.ok(glass.some((x) => x.what.startsWith('Your personal details')), 'the FHIR Patient read through break-glass');
  assert.ok(!items.some((x) => x.who === 'demo.patient3'), 'own views left out');
  assert.doesNotMatch(h.text, /user:|client:|[0-9a-f]{32}|127\.0\.0\.1/, 'no internal ids or addresses');
  for (const x of items) assert.deepEqual(Object.keys(x).sort(), ['break_glass', 'role', 'via', 'what', 'when', 'who']);
  // alice's history shows her care team's ordinary reads, not flagged
  const a = await alice.get('/api/v1/me/access-history');
  assert.ok(a.json.items.some((x) => x.who === 'demo.clinician' && !x.break_glass && x.what === 'Your health summary'));
  assert.ok(!a.json.items.some((x) => x.break_glass));
  // it is the patient's own: staff get 404 for their own (no record) and the read is audited
  assert.equal((await clin.get('/api/v1/me/access-history')).status, 404);
  assert.ok(audit(`action='access-history.read' AND outcome='success' AND patient='${stranger}'`).length === 1);
});
