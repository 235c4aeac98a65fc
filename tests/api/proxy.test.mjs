// Proxies and consent. A parent given access to a 13-year-old's record by the front desk sees her
// immunizations but not a sensitive Condition (the sensitive-code list), and loses access on her
// 18th birthday (the server restarted with its clock moved there by libfaketime). An adult patient
// gives a caregiver access, sees it in the list, and revokes it with immediate effect; the
// caregiver's reads and a nurse's break-glass both show in her access history. Consent: apps off
// ends a connected app's access to the record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeData, startServer, signIn, sqlite, cli, ASAN_BUILD } from './harness.mjs';
import { getCode, pkce, form } from '../interop/smart.mjs';

let d, srv, desk, alice, bob, nurse, parent, teen, daysTo18;
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT actor, on_behalf_of, patient, action, outcome, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);
const acct = (u) => d.accounts.find((a) => a.username === u);
const iso = (t) => new Date(t).toISOString().slice(0, 10);

before(async () => {
  d = makeData();
  // a 13-year-old (13 years and 40 days) with a sensitive Condition, a plain one and an immunization
  const now = new Date();
  const born = new Date(Date.UTC(now.getUTCFullYear() - 13, now.getUTCMonth(), now.getUTCDate()) - 40 * 86400000);
  const eighteenth = Date.UTC(born.getUTCFullYear() + 18, born.getUTCMonth(), born.getUTCDate());
  daysTo18 = Math.ceil((eighteenth - now.getTime()) / 86400000) + 1;
  const sct = (code, display) => ({ coding: [{ system: 'http://snomed.info/sct', code, display }], text: display });
  const lines = [
    { resourceType: 'Patient', id: 'teen-1', name: [{ family: 'Testteen', given: ['Tess'] }], gender: 'female', birthDate: iso(born) },
    { resourceType: 'Condition', id: 'teen-cond-1', subject: { reference: 'Patient/teen-1' }, code: sct('80583007', 'Severe anxiety (panic) (finding)'),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, onsetDateTime: '2025-02-01' },
    { resourceType: 'Condition', id: 'teen-cond-2', subject: { reference: 'Patient/teen-1' }, code: sct('444814009', 'Viral sinusitis (disorder)'),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, onsetDateTime: '2025-03-01' },
    { resourceType: 'Immunization', id: 'teen-imm-1', status: 'completed', patient: { reference: 'Patient/teen-1' }, occurrenceDateTime: '2024-09-01',
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140', display: 'Influenza, seasonal, injectable, preservative free' }] } },
  ];
  const file = join(d.base, 'teen.ndjson');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  assert.equal(cli(['--data', d.dir, 'import', file]).status, 0);
  teen = sqlite(join(d.dir, 'phiportal.db'), "SELECT pub_id FROM resource WHERE type='Patient' ORDER BY last_updated_ms DESC LIMIT 1").trim();
  const add = cli(['--data', d.dir, 'user', 'add', '--username', 'teen.parent', '--role', 'proxy']);
  assert.equal(add.status, 0, add.stderr);
  parent = { username: 'teen.parent', password: add.stdout.match(/password \(shown once\): (\S+)/)[1] };
  srv = await startServer(d.dir, { publicUrl: true });
  [desk, alice, bob, nurse] = await Promise.all(['demo.frontdesk', 'demo.patient1', 'demo.patient2', 'demo.nurse'].map((u) => signIn(srv, acct(u))));
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('the front desk gives a parent access to a 13-year-old: immunizations yes, the sensitive Condition no', async () => {
  for (const bad of [{ username: 'teen.parent', relationship: 'uncle' }, { username: 'demo.clinician', relationship: 'parent' }, { username: 'nobody', relationship: 'parent' }])
    assert.equal((await desk.post(`/api/v1/patients/${teen}/proxies`, bad)).status, 400);
  assert.equal((await nurse.post(`/api/v1/patients/${teen}/proxies`, { username: 'teen.parent', relationship: 'parent' })).status, 404, 'only roles with proxy.grant');
  const g = await desk.post(`/api/v1/patients/${teen}/proxies`, { username: 'teen.parent', relationship: 'parent', scope: 'full' });
  assert.equal(g.status, 201, g.text);
  const p = await signIn(srv, parent);
  const list = await p.get('/api/v1/me/proxies');
  assert.deepEqual(list.json.acting_for.map((x) => [x.patient_id, x.relationship]), [[teen, 'parent']]);
  const s = await p.get(`/api/v1/patients/${teen}/summary`);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.access.via, 'proxy');
  assert.ok(s.json.immunizations.length >= 1, 'immunizations are shown');
  const problems = s.json.problems.map((x) => x.text);
  assert.ok(problems.some((t) => /sinusitis/i.test(t)), 'an ordinary problem is shown');
  assert.ok(!problems.some((t) => /anxiety/i.test(t)), 'the sensitive Condition is not');
  assert.doesNotMatch(s.text, /anxiety|80583007/i);
  // "proxy X on behalf of patient Y" in the audit record
  const rows = audit(`action='read' AND patient='${teen}' AND outcome='success'`);
  assert.ok(rows.some((r) => r.startsWith('user:') && r.includes(`|patient:${teen}|${teen}|read|`)), rows.join('\n'));
  // the teen's messages are hers: not the parent's (portal and FHIR alike)
  const teenAdd = cli(['--data', d.dir, 'user', 'add', '--username', 'tess.teen', '--role', 'patient', '--patient', teen]);
  assert.equal(teenAdd.status, 0, teenAdd.stderr);
  const tess = await signIn(srv, { username: 'tess.teen', password: teenAdd.stdout.match(/password \(shown once\): (\S+)/)[1] });
  const pools = (await tess.get('/api/v1/messages/pools')).json.pools;
  const th = await tess.post('/api/v1/messages/threads', { pool_id: pools[0].id, kind: 'text', subject: 'private', body: 'a private question' });
  assert.equal(th.status, 201, th.text);
  const pt = await p.get(`/api/v1/messages/threads/${th.json.id}`);
  assert.ok([403, 404].includes(pt.status), `refused (${pt.status})`);
  assert.doesNotMatch(pt.text, /private question/);
  const comm = await p.get(`/fhir/Communication?patient=${teen}`);
  assert.equal(comm.json.total, 0);
  assert.doesNotMatch(comm.text, /private question/);
  // her immunizations through FHIR too, and never the sensitive Condition
  const imm = await p.get(`/fhir/Immunization?patient=${teen}`);
  assert.equal(imm.status, 200);
  assert.ok(imm.json.total >= 1);
  const conds = await p.get(`/fhir/Condition?patient=${teen}`);
  assert.doesNotMatch(JSON.stringify(conds.json.entry || []), /80583007|anxiety/i);
  // nobody else: another patient, a clinician without a relationship (offered break-glass only)
  assert.equal((await alice.get(`/api/v1/patients/${teen}/summary`)).status, 404);
  assert.equal((await p.get(`/api/v1/patients/${acct('demo.patient1').patient_id}/summary`)).status, 404);
});

test('an adult patient gives a caregiver access, sees it, and revokes it at once; the access history shows it', async () => {
  // the demo patients: use an adult as the grantor; a minor cannot set up proxies herself
  const people = [];
  for (const u of ['demo.patient1', 'demo.patient2', 'demo.patient3']) {
    const c = u === 'demo.patient1' ? alice : u === 'demo.patient2' ? bob : await signIn(srv, acct(u));
    const bd = (await c.get('/api/v1/me/summary')).json.patient.birth_date;
    people.push({ u, c, pub: acct(u).patient_id, adult: Date.now() - Date.parse(bd) > 18.1 * 365.25 * 86400000 });
  }
  const minor = people.find((x) => !x.adult);
  if (minor) assert.equal((await minor.c.post('/api/v1/me/proxies', { username: 'teen.parent', relationship: 'guardian' })).json.error.code, 'minor');
  const [grantor, carer] = [people.find((x) => x.adult), people.filter((x) => x.adult)[1] || minor];
  assert.equal((await grantor.c.post('/api/v1/me/proxies', { username: carer.u, relationship: 'parent' })).json.error.code, 'not_a_minor');
  assert.equal((await grantor.c.post('/api/v1/me/proxies', { username: grantor.u, relationship: 'caregiver' })).status, 400, 'not oneself');
  assert.equal((await grantor.c.post('/api/v1/me/proxies', { username: carer.u, relationship: 'caregiver', expires: '2001-01-01' })).status, 400, 'not expired already');
  const g = await grantor.c.post('/api/v1/me/proxies', { username: carer.u, relationship: 'caregiver', scope: 'no-messaging' });
  assert.equal(g.status, 201, g.text);
  const mine = await grantor.c.get('/api/v1/me/proxies');
  assert.deepEqual(mine.json.granted.map((x) => [x.proxy, x.relationship, x.scope]), [[carer.u, 'caregiver', 'no-messaging']]);
  assert.deepEqual((await carer.c.get('/api/v1/me/proxies')).json.acting_for.map((x) => x.patient_id), [grantor.pub]);
  const s = await carer.c.get(`/api/v1/patients/${grantor.pub}/summary`);
  assert.equal(s.status, 200);
  assert.equal(s.json.access.via, 'proxy');
  // a nurse breaks the glass on the grantor's record (the nurse is on nobody's care team)
  assert.equal((await nurse.post(`/api/v1/patients/${grantor.pub}/break-glass`, { reason_code: 'covering', reason: 'covering the evening clinic' })).status, 201);
  assert.equal((await nurse.get(`/api/v1/patients/${grantor.pub}/summary`)).status, 200);
  const h = await grantor.c.get('/api/v1/me/access-history');
  assert.ok(h.json.items.some((x) => x.who === carer.u && x.role === 'Proxy' && !x.break_glass), h.text);
  assert.ok(h.json.items.some((x) => x.who === 'demo.nurse' && x.role === 'Nurse' && x.break_glass), h.text);
  // revoked: the next read is refused
  assert.equal((await carer.c.request('DELETE', `/api/v1/me/proxies/${g.json.id}`)).status, 404, 'only the patient revokes');
  assert.equal((await grantor.c.request('DELETE', `/api/v1/me/proxies/${g.json.id}`)).status, 200);
  assert.equal((await carer.c.get(`/api/v1/patients/${grantor.pub}/summary`)).status, 404);
  assert.equal((await grantor.c.request('DELETE', `/api/v1/me/proxies/${g.json.id}`)).status, 404);
  assert.ok(audit(`action='proxy.revoke' AND outcome='success'`).length === 1);
});

test('consent: a patient turns apps off; their connected app is refused; the choice is a FHIR Consent', async () => {
  const alicePub = acct('demo.patient1').patient_id;
  const p = pkce();
  const { code } = await getCode(srv, alice, { clientId: 'demo-patient-app', redirectUri: 'http://127.0.0.1:8765/callback', scope: 'launch/patient patient/*.rs', challenge: p.challenge });
  const tok = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:8765/callback', client_id: 'demo-patient-app', code_verifier: p.verifier });
  const bearer = { headers: { authorization: `Bearer ${tok.json.access_token}` } };
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, bearer)).status, 200);
  const c0 = await alice.get('/api/v1/me/consent');
  assert.equal(c0.status, 200, c0.text + srv.log().slice(-1500));
  assert.equal(c0.json.share_with_apps, true);
  assert.equal(c0.json.share_sensitive_with_proxies, false);
  assert.equal((await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: 'no' } })).status, 400);
  const c1 = await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: false } });
  assert.equal(c1.status, 200, c1.text);
  assert.equal(c1.json.fhir.resourceType, 'Consent');
  assert.equal(c1.json.fhir.provision.provision[0].type, 'deny');
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, bearer)).status, 404, 'the app is refused');
  assert.equal((await alice.get('/api/v1/me/summary')).status, 200, 'the patient herself is not');
  assert.ok(audit(`action='consent.update' AND detail='apps:no sensitive-to-proxies:no'`).length === 1);
  await alice.request('PUT', '/api/v1/me/consent', { json: { share_with_apps: true } });
  assert.equal((await alice.get(`/fhir/Patient/${alicePub}`, bearer)).status, 200);
});

test('on her 18th birthday the parent\'s access ends (server clock moved)', { skip: ASAN_BUILD && 'libfaketime cannot run under the ASan runtime (tests/unit/test_policy.c covers the 18th birthday with the injectable clock)' }, async () => {
  await srv.stop();
  srv = await startServer(d.dir, { publicUrl: true, clockOffsetDays: daysTo18 });
  const p = await signIn(srv, parent);
  const s = await p.get(`/api/v1/patients/${teen}/summary`);
  assert.equal(s.status, 404, s.text);
  assert.ok(audit(`action='read' AND outcome='denied' AND detail='proxy-patient-adult'`).length >= 1);
});
