// The patient's own record over HTTPS: the summary is there, the security headers are on every
// response, another patient's record is 404 and the attempt is in the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeData, startServer, Client, signIn, sqlite } from './harness.mjs';

let d, srv, alice, bob;
before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  alice = d.accounts.find((a) => a.username === 'demo.patient1');
  bob = d.accounts.find((a) => a.username === 'demo.patient2');
});
after(async () => { await srv?.stop(); d?.cleanup(); });

function securityHeaders(h) {
  assert.match(h['strict-transport-security'], /max-age=\d+/);
  const csp = h['content-security-policy'];
  assert.ok(csp, 'CSP present');
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.match(h['x-request-id'], /^[0-9a-f]{16,}$/);
}

test('health checks answer without PHI and with the security headers', async () => {
  const c = new Client(srv);
  for (const path of ['/healthz', '/readyz']) {
    const r = await c.get(path);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
    securityHeaders(r.headers);
  }
  const page = await c.get('/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /text\/html/);
  securityHeaders(page.headers);
});

test('a patient reads their own health summary', async () => {
  const c = await signIn(srv, alice);
  const r = await c.get('/api/v1/me/summary');
  assert.equal(r.status, 200, r.text);
  securityHeaders(r.headers);
  assert.match(r.headers['cache-control'], /no-store/);
  const s = r.json;
  assert.equal(s.patient.id, alice.patient_id);
  assert.ok(s.patient.name && s.patient.birth_date, 'demographics');
  for (const k of ['problems', 'medications', 'allergies', 'immunizations', 'labs', 'vitals', 'lab_trends', 'encounters'])
    assert.ok(Array.isArray(s[k]), k);
  assert.ok(s.problems.length > 0 && s.encounters.length > 0 && s.labs.length >= 10 && s.vitals.length >= 4);
  assert.ok(s.lab_trends.some((t) => t.points.length >= 8), 'several years of lab history');
  const a1c = s.labs.find((l) => l.code === '4548-4');
  assert.ok(a1c && typeof a1c.value === 'number' && a1c.unit, 'HbA1c with a unit');
  // same through the id route
  const same = await c.get(`/api/v1/patients/${alice.patient_id}/summary`);
  assert.equal(same.status, 200);
  assert.equal(same.json.patient.id, alice.patient_id);
});

test('patient A cannot read patient B: 404, and the attempt is audited', async () => {
  const c = await signIn(srv, alice);
  const r = await c.get(`/api/v1/patients/${bob.patient_id}/summary`);
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
  assert.doesNotMatch(r.text, new RegExp(bob.patient_id));
  // an id that does not exist looks exactly the same
  const none = await c.get(`/api/v1/patients/${'0'.repeat(32)}/summary`);
  assert.equal(none.status, 404);
  assert.deepEqual(none.json, r.json);
  const rows = sqlite(join(d.dir, 'audit.db'),
    `SELECT actor, outcome, patient FROM audit_event WHERE action='read' AND outcome='denied' AND patient='${bob.patient_id}'`);
  assert.match(rows, /denied/, 'denied read is in the audit log');
  const okRows = sqlite(join(d.dir, 'audit.db'),
    `SELECT count(*) FROM audit_event WHERE action='read' AND outcome='success' AND patient='${alice.patient_id}'`);
  assert.ok(Number(okRows) >= 1, 'successful reads are audited');
});

test('errors are JSON with stable codes; bad input loses nothing', async () => {
  const c = new Client(srv);
  let r = await c.get('/api/v1/no/such/route');
  assert.equal(r.status, 404);
  assert.ok(r.json.error.code);
  r = await c.request('POST', '/api/v1/auth/login', { raw: '{"username": ', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_json');
  r = await c.request('POST', '/api/v1/auth/login', { raw: '['.repeat(200) + ']'.repeat(200), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  r = await c.request('POST', '/api/v1/auth/login', { raw: '{"username":"' + 'x'.repeat(2 << 20) + '"}', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413);
  r = await c.get('/api/v1/me');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'no_session');
});
