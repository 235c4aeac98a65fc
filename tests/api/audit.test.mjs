// The audit trail: every kind of tampering is caught by `audit verify`, and when the audit store
// cannot be written the request fails with 503 and no PHI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, cpSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cli, makeData, setConfig, startServer, signIn, sqlite } from './harness.mjs';

let d;
before(async () => {
  d = makeData({ config: { 'audit.checkpoint_every': 5 } });
  // some activity: sign-ins and reads
  const srv = await startServer(d.dir);
  try {
    const a = d.accounts.find((x) => x.username === 'demo.patient1');
    const c = await signIn(srv, a);
    for (let i = 0; i < 5; i++) assert.equal((await c.get('/api/v1/me/summary')).status, 200);
  } finally { await srv.stop(); }
});
after(() => d?.cleanup());

test('an intact chain verifies', () => {
  const r = cli(['--data', d.dir, 'audit', 'verify']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK, \d+ records/);
});

function tampered(sql) {
  const copy = join(mkdtempSync(join(tmpdir(), 'pp-tamper-')), 'data');
  cpSync(d.dir, copy, { recursive: true });
  const db = join(copy, 'audit.db');
  const triggers = sqlite(db, "SELECT name FROM sqlite_master WHERE type='trigger'").split('\n').filter(Boolean);
  sqlite(db, triggers.map((t) => `DROP TRIGGER ${t};`).join('') + sql);
  const r = cli(['--data', copy, 'audit', 'verify']);
  rmSync(join(copy, '..'), { recursive: true, force: true });
  return r;
}

test('append-only: the database refuses UPDATE and DELETE', () => {
  assert.throws(() => sqlite(join(d.dir, 'audit.db'), "UPDATE audit_event SET outcome='x' WHERE seq=2"));
  assert.throws(() => sqlite(join(d.dir, 'audit.db'), 'DELETE FROM audit_event WHERE seq=2'));
});

test('an edited record is caught and named', () => {
  const r = tampered("UPDATE audit_event SET outcome='denied' WHERE seq=3;");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /FAILED at record 3\b/);
});

test('a deleted record is caught', () => {
  const r = tampered('DELETE FROM audit_event WHERE seq=4;');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /FAILED at record (4|5)\b/);
});

test('an inserted record is caught', () => {
  const r = tampered(`INSERT INTO audit_event SELECT 100000, ts_ms, 'user:999', actor_role, on_behalf_of, patient, action, resource_type, resource_id, outcome, source_ip, user_agent, session_id, purpose, request_id, detail, prev_hash, hash FROM audit_event WHERE seq=2;
    UPDATE audit_event SET seq = -(seq + 1) WHERE seq > 2 AND seq < 100000; UPDATE audit_event SET seq = -seq WHERE seq < 0;
    UPDATE audit_event SET seq = 3 WHERE seq = 100000;`.replace(/\n/g, ' '));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /FAILED at record (2|3)\b/);
});

test('reordered records are caught', () => {
  const r = tampered('UPDATE audit_event SET seq = -1 WHERE seq = 2; UPDATE audit_event SET seq = 2 WHERE seq = 3; UPDATE audit_event SET seq = 3 WHERE seq = -1;');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /FAILED at record 2\b/);
});

test('audit store unwritable: 503, no PHI sent; service recovers afterwards', async () => {
  const srv = await startServer(d.dir);
  const lock = spawn('sqlite3', [join(d.dir, 'audit.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const a = d.accounts.find((x) => x.username === 'demo.patient2');
    const c = await signIn(srv, a);
    const before = await c.get('/api/v1/me/summary');
    assert.equal(before.status, 200);
    const name = before.json.patient.name;
    // another process takes an exclusive lock on the audit database
    lock.stdin.write('BEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise((resolve) => lock.stdout.once('data', resolve));
    const r = await c.get('/api/v1/me/summary');
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'audit_unavailable');
    assert.ok(!r.text.includes(name), 'no PHI in the failed response');
    assert.doesNotMatch(r.text, /problems|medications|birth/);
    lock.stdin.write('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => lock.on('exit', resolve));
    const after = await c.get('/api/v1/me/summary');
    assert.equal(after.status, 200, 'recovers once the store is writable');
  } finally { lock.kill(); await srv.stop(); setConfig(d.dir, { 'server.threads': 0 }); }
  const v = cli(['--data', d.dir, 'audit', 'verify']);
  assert.equal(v.status, 0, 'the chain is intact after the outage: ' + v.stderr);
});

test('FHIR reads (served on the I/O threads) wait for their audit record: unwritable store → 503 OperationOutcome, no PHI; other requests are not held up', async () => {
  setConfig(d.dir, { 'server.threads': 1 });   // one I/O thread: a held read must not block it
  const srv = await startServer(d.dir);
  const lock = spawn('sqlite3', [join(d.dir, 'audit.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const a = d.accounts.find((x) => x.username === 'demo.patient2');
    const c = await signIn(srv, a);
    const path = `/fhir/Patient/${a.patient_id}`;
    const before = await c.get(path, { headers: { accept: 'application/fhir+json' } });
    assert.equal(before.status, 200);
    const family = before.json.name[0].family;
    lock.stdin.write('BEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise((resolve) => lock.stdout.once('data', resolve));
    const t0 = Date.now();
    const pending = c.get(path, { headers: { accept: 'application/fhir+json' } });
    // the one I/O thread is free while that read waits for the audit writer
    await new Promise((resolve) => setTimeout(resolve, 300));
    const meta = await c.get('/fhir/metadata', { headers: { accept: 'application/fhir+json' } });
    assert.equal(meta.status, 200);
    assert.ok(Date.now() - t0 < 2500, 'metadata answered while the read is held');
    const r = await pending;
    assert.equal(r.status, 503);
    assert.equal(r.json.resourceType, 'OperationOutcome');
    assert.ok(!r.text.includes(family), 'no PHI in the failed response');
    lock.stdin.write('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => lock.on('exit', resolve));
    const after = await c.get(path, { headers: { accept: 'application/fhir+json' } });
    assert.equal(after.status, 200, 'recovers once the store is writable');
    assert.equal(after.json.name[0].family, family);
  } finally { lock.kill(); await srv.stop(); setConfig(d.dir, { 'server.threads': 0 }); }
  const v = cli(['--data', d.dir, 'audit', 'verify']);
  assert.equal(v.status, 0, 'the chain is intact after the outage: ' + v.stderr);
});
