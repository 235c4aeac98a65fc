// The FHIR R4 REST API over HTTPS: CapabilityStatement, read and search with the portal session,
// paging with an authenticated cursor that cannot be forged or replayed by someone else, search
// parameters (tokens, dates with prefixes and partial dates, _sort, _summary=count, _count
// limits), strict vs lenient handling, content negotiation, OperationOutcome errors, and the audit
// trail of every read, search and denied attempt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { makeData, startServer, Client, signIn, sqlite } from './harness.mjs';

let d, srv, alice, bob, a, b;
before(async () => {
  d = makeData();
  srv = await startServer(d.dir);
  alice = d.accounts.find((x) => x.username === 'demo.patient1');
  bob = d.accounts.find((x) => x.username === 'demo.patient2');
  a = await signIn(srv, alice);
  b = await signIn(srv, bob);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

const FHIR_JSON = /^application\/fhir\+json; charset=utf-8$/;
const pathOf = (url) => { const u = new URL(url); return u.pathname + u.search; };
const nextOf = (bundle) => (bundle.link || []).find((l) => l.relation === 'next');
const audit = (sql) => sqlite(join(d.dir, 'audit.db'), sql).trim();
const outcome = (r, status) => {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers['content-type'], FHIR_JSON);
  assert.equal(r.json.resourceType, 'OperationOutcome');
  assert.ok(r.json.issue[0].code && r.json.issue[0].details.text);
};
async function entries(client, path) {
  const r = await client.get(path);
  assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 300)}`);
  return r.json;
}

test('metadata: a CapabilityStatement with the SMART security extension, no auth needed', async () => {
  const c = new Client(srv);
  const r = await c.get('/fhir/metadata');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], FHIR_JSON);
  const cs = r.json;
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
  assert.ok(cs.format.includes('json'));
  const rest = cs.rest[0];
  assert.equal(rest.mode, 'server');
  const ext = rest.security.extension.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
  const uris = Object.fromEntries(ext.extension.map((e) => [e.url, e.valueUri]));
  for (const k of ['authorize', 'token', 'introspect', 'revoke']) assert.match(uris[k], new RegExp(`/oauth/${k}$`));
  assert.equal(rest.security.service[0].coding[0].code, 'SMART-on-FHIR');
  const types = rest.resource.map((x) => x.type).sort();
  assert.deepEqual(types, ['AllergyIntolerance', 'Communication', 'Condition', 'Consent', 'Device', 'DocumentReference', 'Encounter',
    'Immunization', 'Location', 'MedicationRequest', 'Observation', 'Organization', 'Patient', 'Practitioner', 'Procedure']);
  const obs = rest.resource.find((x) => x.type === 'Observation');
  assert.deepEqual(obs.interaction.map((i) => i.code), ['read', 'search-type']);
  for (const p of ['patient', 'category', 'code', 'date', '_id', '_lastUpdated']) assert.ok(obs.searchParam.some((s) => s.name === p), p);
  // XML is not served
  const x = await c.get('/fhir/metadata', { headers: { accept: 'application/fhir+xml' } });
  outcome(x, 406);
});

test('without credentials: 401 OperationOutcome with WWW-Authenticate: Bearer; bad tokens too', async () => {
  const c = new Client(srv);
  let r = await c.get('/fhir/Observation');
  outcome(r, 401);
  assert.match(r.headers['www-authenticate'], /^Bearer/);
  r = await c.get(`/fhir/Patient/${alice.patient_id}`, { headers: { authorization: 'Bearer not-a-real-token' } });
  outcome(r, 401);
  assert.match(r.headers['www-authenticate'], /invalid_token/);
  assert.doesNotMatch(r.text, /Patient/, 'no data in the error');
  r = await c.get('/fhir/Observation', { headers: { authorization: 'Basic YTpi' } });
  outcome(r, 401);
});

test('a patient reads their own Patient: opaque id, meta from the store, no-store, audited', async () => {
  const r = await a.get(`/fhir/Patient/${alice.patient_id}`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], FHIR_JSON);
  assert.match(r.headers['cache-control'], /no-store/);
  assert.equal(r.headers.etag, `W/"${r.json.meta.versionId}"`);
  assert.equal(r.json.resourceType, 'Patient');
  assert.equal(r.json.id, alice.patient_id);
  assert.match(r.json.meta.versionId, /^\d+$/);
  assert.match(r.json.meta.lastUpdated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const rows = audit(`SELECT count(*) FROM audit_event WHERE action='read' AND resource_type='Patient' AND outcome='success' AND resource_id='${alice.patient_id}' AND patient='${alice.patient_id}'`);
  assert.ok(Number(rows) >= 1);
});

test("another patient's resources are 404, identical to a missing id, and the attempts are audited", async () => {
  const theirs = await a.get(`/fhir/Patient/${bob.patient_id}`);
  outcome(theirs, 404);
  const none = await a.get(`/fhir/Patient/${'0'.repeat(32)}`);
  outcome(none, 404);
  assert.deepEqual(none.json, theirs.json);
  const garbage = await a.get('/fhir/Patient/..%2F..%2Fetc');
  assert.equal(garbage.status, 404);
  // one of bob's Observations, read by alice
  const bobObs = (await entries(b, '/fhir/Observation?_count=1')).entry[0].resource;
  const r = await a.get(`/fhir/Observation/${bobObs.id}`);
  outcome(r, 404);
  assert.deepEqual(r.json, theirs.json);
  // a search naming bob
  const s = await a.get(`/fhir/Observation?patient=${bob.patient_id}`);
  outcome(s, 404);
  const s2 = await a.get(`/fhir/Condition?subject=Patient/${bob.patient_id}`);
  outcome(s2, 404);
  const denied = audit(`SELECT action || ':' || resource_type FROM audit_event WHERE outcome='denied' AND patient='${bob.patient_id}' ORDER BY seq`);
  assert.match(denied, /read:Patient/);
  assert.match(denied, /read:Observation/);
  assert.match(denied, /search:Observation/);
  assert.match(denied, /search:Condition/);
  assert.match(audit(`SELECT detail FROM audit_event WHERE outcome='denied' AND resource_id='${bobObs.id}'`), /not-own-record/);
});

test('search: implicit own compartment, paging by next links, every page audited with its ids', async () => {
  const first = await entries(a, '/fhir/Observation?_count=50');
  assert.equal(first.resourceType, 'Bundle');
  assert.equal(first.type, 'searchset');
  assert.ok(first.total > 100);
  assert.equal(first.entry.length, 50);
  const self = first.link.find((l) => l.relation === 'self');
  assert.match(self.url, /\/fhir\/Observation\?_count=50$/);
  const seen = new Set();
  let bundle = first, pages = 0;
  for (;;) {
    pages++;
    for (const e of bundle.entry || []) {
      assert.equal(e.resource.subject.reference, `Patient/${alice.patient_id}`);
      assert.equal(e.fullUrl.endsWith(`/fhir/Observation/${e.resource.id}`), true);
      assert.equal(e.search.mode, 'match');
      assert.ok(!seen.has(e.resource.id), 'no duplicates across pages');
      seen.add(e.resource.id);
    }
    const n = nextOf(bundle);
    if (!n) break;
    assert.match(n.url, /_cursor=/);
    bundle = await entries(a, pathOf(n.url));
  }
  assert.equal(seen.size, first.total);
  assert.equal(pages, Math.ceil(first.total / 50));
  // explicit patient= gives the same set
  const explicit = await entries(a, `/fhir/Observation?patient=${alice.patient_id}&_summary=count`);
  assert.equal(explicit.total, first.total);
  assert.equal(explicit.entry, undefined);
  // the audit record of the first page names its 50 ids
  const ids = first.entry.map((e) => e.resource.id);
  const rec = audit(`SELECT resource_id FROM audit_event WHERE action='search' AND outcome='success' AND resource_id LIKE '${ids[0]},%' ORDER BY seq DESC LIMIT 1`);
  assert.deepEqual(rec.split(','), ids);
});

test('the next link cannot be forged, altered or used by someone else', async () => {
  const first = await entries(a, '/fhir/Observation?_count=10&category=laboratory');
  const next = pathOf(nextOf(first).url);
  const ok = await a.get(next);
  assert.equal(ok.status, 200);
  // bob replays alice's next link: the cursor is bound to alice
  const replay = await b.get(next);
  outcome(replay, 400);
  assert.doesNotMatch(replay.text, new RegExp(alice.patient_id));
  // bob swaps in his own patient id: policy says no before the cursor is even looked at... for him,
  // and for alice pointing the link at bob
  const swapped = next.replace('category=laboratory', `category=laboratory&patient=${bob.patient_id}`);
  outcome(await a.get(swapped), 404);
  // changing the query the cursor was issued for breaks its MAC
  outcome(await a.get(next.replace('_count=10', '_count=11')), 400);
  outcome(await a.get(next.replace('category=laboratory', 'category=vital-signs')), 400);
  // a cursor made up from scratch (offset 0 with a zero MAC) is refused
  const forged = Buffer.concat([Buffer.from([0, 0, 0, 20]), Buffer.alloc(8), Buffer.alloc(32)]).toString('base64url');
  outcome(await a.get(`/fhir/Observation?_count=10&category=laboratory&_cursor=${forged}`), 400);
  outcome(await a.get('/fhir/Observation?_cursor=abc'), 400);
  assert.ok(Number(audit(`SELECT count(*) FROM audit_event WHERE action='search' AND outcome='denied' AND detail LIKE 'bad-cursor%'`)) >= 4);
});

test('tokens: code with and without system, category, Condition clinical-status', async () => {
  const a1c = await entries(a, '/fhir/Observation?code=http://loinc.org|4548-4&_count=200');
  assert.equal(a1c.total, 20);
  for (const e of a1c.entry) assert.equal(e.resource.code.coding[0].code, '4548-4');
  assert.equal((await entries(a, '/fhir/Observation?code=4548-4&_summary=count')).total, 20);
  assert.equal((await entries(a, '/fhir/Observation?code=http://snomed.info/sct|4548-4&_summary=count')).total, 0);
  assert.equal((await entries(a, '/fhir/Observation?code=|4548-4&_summary=count')).total, 0, '|code means no system');
  // comma = OR
  assert.equal((await entries(a, '/fhir/Observation?code=4548-4,2345-7&_summary=count')).total, 40);
  const lab = await entries(a, '/fhir/Observation?category=laboratory&_summary=count');
  const vit = await entries(a, '/fhir/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs&_summary=count');
  const all = await entries(a, '/fhir/Observation?_summary=count');
  assert.ok(lab.total > 0 && vit.total > 0);
  assert.equal(lab.total + vit.total, all.total);
  // repeated parameter = AND
  assert.equal((await entries(a, '/fhir/Observation?category=laboratory&category=vital-signs&_summary=count')).total, 0);
  const conds = await entries(a, '/fhir/Condition?_count=200');
  const active = await entries(a, '/fhir/Condition?clinical-status=active&_count=200');
  // which demo patient gets the account varies, so compare with the patient's own list
  assert.ok(conds.total > 0 && active.total <= conds.total);
  for (const e of active.entry || []) assert.equal(e.resource.clinicalStatus.coding[0].code, 'active');
  const expected = conds.entry.filter((e) => e.resource.clinicalStatus?.coding?.[0]?.code === 'active').length;
  assert.equal(active.total, expected);
});

test('dates: prefixes and partial dates, _sort, _lastUpdated', async () => {
  const all = (await entries(a, '/fhir/Observation?code=4548-4&_count=200&_sort=date')).entry.map((e) => e.resource.effectiveDateTime);
  assert.equal(all.length, 20);
  assert.deepEqual(all, [...all].sort(), '_sort=date ascending');
  const desc = (await entries(a, '/fhir/Observation?code=4548-4&_count=200&_sort=-date')).entry.map((e) => e.resource.effectiveDateTime);
  assert.deepEqual(desc, [...all].reverse(), '_sort=-date descending');
  const year = all[5].slice(0, 4), month = all[5].slice(0, 7), day = all[5].slice(0, 10);
  const count = async (q) => (await entries(a, `/fhir/Observation?code=4548-4&_summary=count&${q}`)).total;
  assert.equal(await count(`date=${year}`), all.filter((t) => t.startsWith(year)).length);
  assert.equal(await count(`date=eq${month}`), all.filter((t) => t.startsWith(month)).length);
  assert.equal(await count(`date=${day}`), 1);
  assert.equal(await count(`date=ge${day}`), all.filter((t) => t.slice(0, 10) >= day).length);
  assert.equal(await count(`date=gt${day}`), all.filter((t) => t.slice(0, 10) > day).length);
  assert.equal(await count(`date=le${day}`), all.filter((t) => t.slice(0, 10) <= day).length);
  assert.equal(await count(`date=lt${day}`), all.filter((t) => t.slice(0, 10) < day).length);
  assert.equal(await count(`date=ne${day}`), 19);
  assert.equal(await count(`date=ge${year}&date=lt${Number(year) + 1}`), all.filter((t) => t.startsWith(year)).length);
  assert.equal(await count(`date=${all[5]}`), 1, 'full dateTime');
  assert.equal(await count(`date=sa${all[19].slice(0, 10)}`), 0);
  assert.equal(await count('_lastUpdated=ge2000-01-01'), 20);
  assert.equal(await count('_lastUpdated=lt2000'), 0);
  const upd = (await entries(a, '/fhir/Encounter?_sort=-_lastUpdated&_count=200')).entry.map((e) => e.resource.meta.lastUpdated);
  assert.deepEqual(upd, [...upd].sort().reverse());
});

test('_count: default 50, capped at 200; _summary=count; _id', async () => {
  const def = await entries(a, '/fhir/Observation');
  assert.equal(def.entry.length, 50);
  const big = await entries(a, '/fhir/Observation?_count=5000');
  assert.equal(big.entry.length, 200);
  const zero = await entries(a, '/fhir/Observation?_count=0');
  assert.equal(zero.entry, undefined);
  assert.ok(zero.total > 0);
  const ids = def.entry.slice(0, 2).map((e) => e.resource.id);
  const byId = await entries(a, `/fhir/Observation?_id=${ids.join(',')}`);
  assert.deepEqual(byId.entry.map((e) => e.resource.id).sort(), [...ids].sort());
});

test('strict vs lenient handling of unknown parameters; malformed values are 400', async () => {
  const lenient = await entries(a, '/fhir/Observation?foo=bar&code=4548-4&_summary=count');
  assert.equal(lenient.total, 20);
  assert.doesNotMatch(lenient.link[0].url, /foo/, 'the self link shows what was used');
  const strict = await a.get('/fhir/Observation?foo=bar&code=4548-4', { headers: { prefer: 'handling=strict' } });
  outcome(strict, 400);
  assert.match(strict.json.issue[0].details.text, /foo/);
  outcome(await a.get('/fhir/Observation?code:text=x', { headers: { prefer: 'handling=strict' } }), 400);
  for (const q of ['date=2020-13', 'date=xx2020', 'date=2020-02-30', '_count=abc', '_count=-1', '_lastUpdated=yesterday',
    'patient=Group/123', 'code=|', `patient=${alice.patient_id},${bob.patient_id}`, 'code=' + 'a,'.repeat(20) + 'a']) {
    const r = await a.get(`/fhir/Observation?${q}`);
    outcome(r, 400);
    assert.doesNotMatch(r.text, /2020-13|yesterday|Group/, 'no input echoed');
  }
});

test('content negotiation: fhir+json and json accepted, XML is 406', async () => {
  for (const accept of ['application/fhir+json', 'application/json', '*/*', 'text/html, application/fhir+json;q=0.9'])
    assert.equal((await a.get('/fhir/Observation?_count=1', { headers: { accept } })).status, 200, accept);
  outcome(await a.get('/fhir/Observation', { headers: { accept: 'application/fhir+xml' } }), 406);
  outcome(await a.get(`/fhir/Patient/${alice.patient_id}`, { headers: { accept: 'application/xml' } }), 406);
  outcome(await a.get('/fhir/Observation?_format=xml'), 406);
  outcome(await a.get('/fhir/Medication'), 404);
  outcome(await a.get('/fhir/Observation/x/y/z'), 404);
});

test('references are served ids: they resolve through the API, no logical ids leak', async () => {
  const conds = (await entries(a, '/fhir/Condition?_count=5')).entry.map((e) => e.resource);
  const withEnc = conds.find((c) => c.encounter);
  assert.ok(withEnc, 'a Condition with an encounter');
  assert.match(withEnc.encounter.reference, /^Encounter\/[0-9a-f]{32}$/);
  const enc = await a.get(`/fhir/${withEnc.encounter.reference}`);
  assert.equal(enc.status, 200);
  assert.equal(enc.json.subject.reference, `Patient/${alice.patient_id}`);
  // Synthea's logical ids are UUIDs: none may appear in a literal reference in anything served
  // (conditional references such as "Practitioner?identifier=<npi>" are served as received)
  let literal = 0;
  for (const type of ['Condition', 'Encounter', 'Procedure', 'MedicationRequest', 'Immunization', 'DocumentReference']) {
    const bundle = await entries(a, `/fhir/${type}?_count=200`);
    const refs = (JSON.stringify(bundle).match(/"reference":"[^"]*"/g) || []).filter((r) => !r.includes('?'));
    literal += refs.length;
    for (const r of refs) assert.match(r, /^"reference":"[A-Za-z]+\/[0-9a-f]{32}"$/, `${type}: ${r}`);
  }
  assert.ok(literal > 100);
});

test('directory types are readable by any signed-in user; staff see patients only through a care relationship', async () => {
  const prac = await entries(a, '/fhir/Practitioner?_count=2');
  assert.ok(prac.total > 0);
  const one = await a.get(`/fhir/Practitioner/${prac.entry[0].resource.id}`);
  assert.equal(one.status, 200);
  const name = prac.entry[0].resource.name[0].family;
  assert.ok((await entries(a, `/fhir/Practitioner?name=${encodeURIComponent(name.slice(0, 3))}&_summary=count`)).total >= 1);
  // demo.clinician is on the care team of demo.patient1 and demo.patient2, not of demo.patient3
  const clin = await signIn(srv, d.accounts.find((x) => x.username === 'demo.clinician'));
  const stranger = d.accounts.find((x) => x.username === 'demo.patient3').patient_id;
  assert.equal((await clin.get(`/fhir/Patient/${alice.patient_id}`)).status, 200);
  assert.ok((await entries(clin, `/fhir/Observation?patient=${alice.patient_id}&_summary=count`)).total > 0);
  outcome(await clin.get(`/fhir/Patient/${stranger}`), 404);
  outcome(await clin.get(`/fhir/Observation?patient=${stranger}`), 404);
  const all = await entries(clin, '/fhir/Patient?_count=50');
  const ids = (all.entry || []).map((e) => e.resource.id);
  assert.ok(ids.includes(alice.patient_id));
  assert.ok(!ids.includes(stranger), 'a search across patients returns only related ones');
  // an administrator has no care relationship with anyone
  const admin = await signIn(srv, d.accounts.find((x) => x.username === 'demo.admin'));
  assert.equal((await entries(admin, '/fhir/Observation?_summary=count')).total, 0);
  outcome(await admin.get(`/fhir/Patient/${alice.patient_id}`), 404);
});

test('audit store unwritable: 503 OperationOutcome and no PHI, for reads and searches', async () => {
  const before = await a.get(`/fhir/Patient/${alice.patient_id}`);
  assert.equal(before.status, 200);
  const family = before.json.name[0].family;
  const lock = spawn('sqlite3', [join(d.dir, 'audit.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    lock.stdin.write('BEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise((resolve) => lock.stdout.once('data', resolve));
    for (const path of [`/fhir/Patient/${alice.patient_id}`, '/fhir/Observation?_count=5']) {
      const r = await a.get(path);
      outcome(r, 503);
      assert.ok(!r.text.includes(family), 'no PHI in the failed response');
      assert.doesNotMatch(r.text, /Observation\/|valueQuantity/);
    }
    lock.stdin.write('ROLLBACK;\n.quit\n');
    await new Promise((resolve) => lock.on('exit', resolve));
    assert.equal((await a.get('/fhir/Observation?_count=5')).status, 200, 'recovers');
  } finally { lock.kill(); }
});

// A search that needs nothing from the bodies opens only its page (row ids from the index, or row
// metadata for _id/_lastUpdated) and writes the resources from their stored text; a search with a
// filter or a date sort decrypts and parses every candidate. Both must serve the same resources,
// byte for byte, in the same order, with the same total.
test('searches deciding on rows alone serve exactly what the full decrypt-and-parse path serves', async () => {
  const all = async (path) => {
    // the entries as raw text (JSON.parse would hide a difference in how a number is written)
    const out = [];
    let r = await a.get(path), total;
    for (;;) {
      assert.equal(r.status, 200, r.text.slice(0, 300));
      total ??= r.json.total;
      assert.equal(r.json.total, total);
      const at = r.text.indexOf(',"entry":[');
      out.push(at < 0 ? '' : r.text.slice(at));
      const next = nextOf(r.json);
      if (!next) break;
      r = await a.get(pathOf(next.url));
    }
    return { total, out };
  };
  const byIds = await all('/fhir/Observation?_count=37');                           // index only
  const byRows = await all('/fhir/Observation?_count=37&_lastUpdated=gt1900');      // row metadata
  const byBodies = await all('/fhir/Observation?_count=37&date=gt1900');            // every body
  assert.ok(byIds.total > 37 && byIds.out.length === Math.ceil(byIds.total / 37), 'several pages');
  assert.match(byIds.out[0], /"valueQuantity":\{"value":/);
  assert.deepEqual(byRows, byIds);
  assert.deepEqual(byBodies, byIds);
  // a read serves the same text as the search entry
  const m = byIds.out[0].match(/^,"entry":\[\{"fullUrl":"[^"]*\/Observation\/([0-9a-f]{32})","resource":/);
  assert.ok(m);
  const r = await a.get(`/fhir/Observation/${m[1]}`);
  assert.equal(r.status, 200);
  assert.ok(byIds.out[0].includes(`"resource":${r.text},"search":{"mode":"match"}}`));
});
