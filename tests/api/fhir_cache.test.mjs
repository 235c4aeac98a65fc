// The /fhir read path keeps bearer tokens and resource rows in memory between requests
// (oauth/token_cache.c, fhir/cache.c, store/sqlite_epoch.c). These tests warm those caches with
// repeated reads and then change the database — from another process (the CLI) and through the
// server itself — and check that the very next request sees the change: a suspended client and a
// revoked token are refused at once, an imported new version is served at once, a new row shows up
// in the next search, and every cached read still leaves exactly one audit record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { makeData, startServer, cli, sqlite, FIXTURES } from './harness.mjs';
import { form, raw, registerClient, writeJwks, auditRows } from '../interop/smart.mjs';

let d, srv, key, client, patientPub;
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const futureYear = new Date().getUTCFullYear() + 2;

before(async () => {
  // one worker thread: every request runs on the same thread and database connection, so a cache
  // hit cannot come from a thread that merely had not looked at the database before
  d = makeData({ demo: true, config: { 'server.workers': 1 } });
  key = await jose.generateKeyPair('ES384', { extractable: true });
  const jwks = writeJwks(d.dir, 'cachetest', { keys: [{ ...(await jose.exportJWK(key.publicKey)), kid: 'c-1', alg: 'ES384', use: 'sig' }] });
  client = registerClient(d.dir, ['--name', 'Cache test', '--type', 'backend', '--scopes', 'system/Patient.rs system/Observation.rs',
    '--jwks', jwks, '--baa-vendor', 'Cache Co', '--baa-expires', `${futureYear}-12-31`]);
  patientPub = d.accounts.find((a) => a.role === 'patient').patient_id;
  srv = await startServer(d.dir, { publicUrl: true });
});
after(async () => { await srv?.stop(); d?.cleanup(); });

async function assertion() {
  return new jose.SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES384', kid: 'c-1', typ: 'JWT' })
    .setIssuer(client).setSubject(client).setAudience(`${srv.publicUrl}/oauth/token`).setIssuedAt()
    .setExpirationTime('4m').sign(key.privateKey);
}
async function token() {
  const r = await form(srv, '/oauth/token', { grant_type: 'client_credentials', scope: 'system/Patient.rs system/Observation.rs',
    client_assertion_type: ASSERTION, client_assertion: await assertion() });
  assert.equal(r.status, 200, r.text);
  return r.json.access_token;
}
const get = (tok, path) => raw(srv, 'GET', path, { headers: { authorization: `Bearer ${tok}` } });
async function warm(tok, path, n = 3) {
  for (let i = 0; i < n; i++) assert.equal((await get(tok, path)).status, 200, path);
}

test('a client suspended by another process is refused on the very next request, and back once activated', async () => {
  const tok = await token();
  const path = `/fhir/Patient/${patientPub}`;
  await warm(tok, path);
  await warm(tok, `/fhir/Observation?patient=${patientPub}&_count=5`);
  assert.equal(cli(['--data', d.dir, 'client', 'suspend', client]).status, 0);
  const blocked = await get(tok, path);
  assert.equal(blocked.status, 403, blocked.text);
  assert.equal((await get(tok, `/fhir/Observation?patient=${patientPub}&_count=5`)).status, 403);
  assert.ok(auditRows(d.dir, `actor='client:${client}' AND action='oauth.authenticate' AND detail='client-suspended'`).length >= 2);
  assert.equal(cli(['--data', d.dir, 'client', 'activate', client]).status, 0);
  assert.equal((await get(tok, path)).status, 200);
});

test('a token revoked through the server is refused on the very next request', async () => {
  const tok = await token();
  await warm(tok, `/fhir/Patient/${patientPub}`);
  const rv = await form(srv, '/oauth/revoke', { token: tok, client_assertion_type: ASSERTION, client_assertion: await assertion() });
  assert.equal(rv.status, 200);
  const after = await get(tok, `/fhir/Patient/${patientPub}`);
  assert.equal(after.status, 401, after.text);
  assert.ok(auditRows(d.dir, `actor='client:${client}' AND action='oauth.authenticate' AND detail='token-revoked'`).length >= 1);
});

test('a new version imported by another process is served at once, and a new row shows in the next search', async () => {
  const tok = await token();
  const path = `/fhir/Patient/${patientPub}`;
  const before1 = await get(tok, path);
  assert.equal(before1.status, 200);
  await warm(tok, path);
  const search = `/fhir/Observation?patient=${patientPub}&_count=5`;
  const s0 = await get(tok, search);
  assert.equal(s0.status, 200);
  await warm(tok, search);

  // the fixture line of this patient (its logical id is the Synthea identifier), with a new name
  const lid = before1.json.identifier.find((i) => i.system === 'https://github.com/synthetichealth/synthea').value;
  const line = readFileSync(join(FIXTURES, 'Patient.000.ndjson'), 'utf8').split('\n').find((l) => l.includes(`"id":"${lid}"`));
  assert.ok(line, 'fixture line');
  const changed = JSON.parse(line);
  changed.name = [{ use: 'official', family: 'Cachetest', given: ['Fresh'] }];
  const obs = {
    resourceType: 'Observation', id: `cache-${randomUUID()}`, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${lid}` }, effectiveDateTime: '2020-01-01T00:00:00Z',
    valueQuantity: { value: 61, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
  const file = join(d.base, 'cache-import.ndjson');
  writeFileSync(file, JSON.stringify(changed) + '\n' + JSON.stringify(obs) + '\n');
  const imp = cli(['--data', d.dir, 'import', file]);
  assert.equal(imp.status, 0, imp.stderr);

  const after1 = await get(tok, path);
  assert.equal(after1.status, 200);
  assert.equal(after1.json.name[0].family, 'Cachetest');
  assert.equal(Number(after1.json.meta.versionId), Number(before1.json.meta.versionId) + 1);
  const s1 = await get(tok, search);
  assert.equal(s1.status, 200);
  assert.equal(s1.json.total, s0.json.total + 1);
});

test('cached reads and searches still leave one audit record each', async () => {
  const tok = await token();
  const count = (action) => auditRows(d.dir, `actor='client:${client}' AND action='${action}' AND outcome='success'`).length;
  const reads = count('read'), searches = count('search');
  await warm(tok, `/fhir/Patient/${patientPub}`, 5);
  await warm(tok, `/fhir/Observation?patient=${patientPub}&_count=3`, 4);
  assert.equal(count('read'), reads + 5);
  assert.equal(count('search'), searches + 4);
  // a pub id that does not exist is still not found (and audited as such), warm or cold
  for (let i = 0; i < 2; i++) assert.equal((await get(tok, '/fhir/Patient/0123456789abcdef0123456789abcdef')).status, 404);
});

test('a search page served from memory changes as soon as one of its rows does, and its audit record names the rows served', async () => {
  const tok = await token();
  const lid = `page-${randomUUID()}`;
  const patient = await get(tok, `/fhir/Patient/${patientPub}`);
  const plid = patient.json.identifier.find((i) => i.system === 'https://github.com/synthetichealth/synthea').value;
  const obs = (value) => JSON.stringify({
    resourceType: 'Observation', id: lid, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${plid}` }, effectiveDateTime: '2020-02-02T00:00:00Z',
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  }) + '\n';
  const file = join(d.base, 'page-import.ndjson');
  writeFileSync(file, obs(70));
  assert.equal(cli(['--data', d.dir, 'import', file]).status, 0);

  // follow the next links to the page that holds the new row
  const ours = (page) => page.json.entry.map((e) => e.resource)
    .find((r) => r.effectiveDateTime?.startsWith('2020-02-02') && [70, 99].includes(r.valueQuantity?.value));
  let path = `/fhir/Observation?patient=${patientPub}&_count=4`;
  for (;;) {
    const page = await get(tok, path);
    assert.equal(page.status, 200);
    if (ours(page)) break;
    const next = page.json.link.find((l) => l.relation === 'next');
    assert.ok(next, 'the new row is on some page');
    path = new URL(next.url).pathname + new URL(next.url).search;
  }
  await warm(tok, path, 3);
  const before = await get(tok, path);
  assert.equal(ours(before).valueQuantity.value, 70);

  // the record of the last (cached) search names exactly the rows it served
  const served = before.json.entry.map((e) => e.resource.id);
  const last = sqlite(join(d.dir, 'audit.db'),
    `SELECT resource_id FROM audit_event WHERE actor='client:${client}' AND action='search' ORDER BY seq DESC LIMIT 1`).trim();
  assert.deepEqual(last.split(','), served);

  writeFileSync(file, obs(99));   // a new version of a row on that page, from another process
  assert.equal(cli(['--data', d.dir, 'import', file]).status, 0);
  const after = await get(tok, path);
  assert.equal(after.status, 200);
  assert.equal(ours(after).valueQuantity.value, 99);
  assert.equal(after.json.total, before.json.total);
});
