// The encounter relationship: a clinician whose account is linked to a Practitioner
// (`phiportal user link-practitioner`) reads the record of a patient whose recent encounter that
// practitioner took part in — over the JSON API and FHIR alike, audited with reason "encounter" —
// and nothing else: an older encounter, another practitioner's patient, or after the link is
// removed (or the encounter re-imported without them) the answer is the usual refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeData, startServer, signIn, cli, sqlite, FIXTURES } from './harness.mjs';

const NPI = '9999900001', OTHER_NPI = '9999900002';
const DAY = 86400000;
let d, srv, doc, A, B, pubA, pubB;
const user = { username: 'enc.doctor', password: 'correct horse battery staple 42' };
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, purpose, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);

const iso = (ms) => new Date(ms).toISOString();
function encounter(id, patient, npi, { status = 'finished', endedDaysAgo = 3 } = {}) {
  const end = Date.now() - endedDaysAgo * DAY;
  return {
    resourceType: 'Encounter', id, status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${patient}` },
    participant: [{ individual: { reference: `Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|${npi}` } }],
    period: status === 'finished' ? { start: iso(end - 3600000), end: iso(end) } : { start: iso(Date.now() - 3600000) },
  };
}
function importEncounters(name, list) {
  const file = join(d.base, name);
  writeFileSync(file, list.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = cli(['--data', d.dir, 'import', file]);
  assert.equal(r.status, 0, r.stderr);
}

before(async () => {
  d = makeData();
  // two synthetic patients from the fixtures (none of them on the new clinician's care team)
  const pats = readFileSync(join(FIXTURES, 'Patient.000.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  [A, B] = [pats[pats.length - 1].id, pats[pats.length - 2].id];
  importEncounters('enc1.ndjson', [
    encounter('b1-enc-recent', A, NPI, { endedDaysAgo: 3 }),         // inside the 30-day window
    encounter('b1-enc-old', B, NPI, { endedDaysAgo: 90 }),           // outside it
    encounter('b1-enc-other', B, OTHER_NPI, { status: 'in-progress' }), // someone else's patient
    encounter('b1-enc-planned', B, NPI, { status: 'planned' }),      // relates no one
  ]);
  const r = cli(['--data', d.dir, 'user', 'add', '--username', user.username, '--role', 'clinician', '--password-stdin'], { input: user.password + '\n' });
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer(d.dir);
  doc = await signIn(srv, user);
  for (const [mrn, set] of [[A, (v) => { pubA = v; }], [B, (v) => { pubB = v; }]]) {
    const l = await doc.post('/api/v1/staff/patient-lookup', { mrn });
    assert.equal(l.status, 200, l.text);
    set(l.json.patient_id);
  }
});
after(async () => { await srv?.stop(); d?.cleanup(); });

async function reads(pub) {
  const summary = await doc.get(`/api/v1/patients/${pub}/summary`);
  const search = await doc.get(`/fhir/Observation?patient=${pub}&_count=5`);
  return { summary, search };
}

test('without a link the encounter relates no one: break-glass prompt and 404', async () => {
  const { summary, search } = await reads(pubA);
  assert.equal(summary.status, 403);
  assert.equal(summary.json.error.code, 'break_glass_required');
  assert.equal(search.status, 404);
  assert.ok(!summary.text.includes('"name"') && !search.text.includes('Observation/'), 'no PHI');
  const mine = await doc.get('/api/v1/staff/patients');
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.json.patients, []);
  // linking needs a known Practitioner id, a numeric NPI and a clinical/front-desk/billing account
  assert.equal(cli(['--data', d.dir, 'user', 'link-practitioner', '--username', user.username, '--practitioner', 'no-such-practitioner']).status, 1);
  assert.equal(cli(['--data', d.dir, 'user', 'link-practitioner', '--username', user.username, '--npi', '99x']).status, 1);
  assert.equal(cli(['--data', d.dir, 'user', 'link-practitioner', '--username', 'demo.admin', '--npi', NPI]).status, 1);
  assert.equal(cli(['--data', d.dir, 'user', 'link-practitioner', '--username', user.username]).status, 2);
  assert.equal(cli(['--data', d.dir, 'user', 'unlink-practitioner', '--username', user.username]).status, 1);
});

test('linked by NPI: the recent encounter\'s patient is readable (JSON API and FHIR), audited as "encounter"', async () => {
  const l = cli(['--data', d.dir, 'user', 'link-practitioner', '--username', user.username, '--npi', NPI]);
  assert.equal(l.status, 0, l.stderr);
  assert.ok(!l.stdout.includes(NPI), 'the NPI is not echoed');
  const { summary, search } = await reads(pubA);
  assert.equal(summary.status, 200, summary.text);
  assert.equal(summary.json.access.via, 'encounter');
  assert.equal(search.status, 200, search.text);
  assert.equal(search.json.resourceType, 'Bundle');
  assert.ok(search.json.entry.length > 0, 'the demo Observations are there');
  const obs = search.json.entry[0].resource;
  assert.equal(obs.resourceType, 'Observation');
  const one = await doc.get(`/fhir/Observation/${obs.id}`);
  assert.equal(one.status, 200);
  const rows = audit(`patient='${pubA}' AND outcome='success' AND action IN ('read','search')`);
  assert.ok(rows.length >= 3, rows.join('\n'));
  for (const row of rows) assert.match(row, /\|treatment\|.*encounter/, row);
  // the staff list shows the patient with the reason
  const mine = await doc.get('/api/v1/staff/patients');
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.json.patients.map((p) => [p.patient_id, p.reason]), [[pubA, 'encounter']]);
  // the link and the index hold no identifiers in clear
  const db = join(d.dir, 'phiportal.db');
  assert.equal(sqlite(db, `SELECT count(*) FROM practitioner_link WHERE instr(key_bidx, CAST('${NPI}' AS BLOB)) > 0`).trim(), '0');
  assert.equal(sqlite(db, `SELECT count(*) FROM encounter_participant WHERE instr(key_bidx, CAST('${NPI}' AS BLOB)) > 0`).trim(), '0');
});

test('an encounter outside the window, someone else\'s, or planned relates no one', async () => {
  const { summary, search } = await reads(pubB);
  assert.equal(summary.status, 403);
  assert.equal(summary.json.error.code, 'break_glass_required');
  assert.equal(search.status, 404);
  assert.ok(audit(`patient='${pubB}' AND outcome='denied'`).length >= 2);
});

test('re-importing the encounter keeps the index in step', async () => {
  importEncounters('enc2.ndjson', [encounter('b1-enc-recent', A, OTHER_NPI, { endedDaysAgo: 3 })]);
  assert.equal((await doc.get(`/fhir/Observation?patient=${pubA}`)).status, 404);
  importEncounters('enc3.ndjson', [encounter('b1-enc-recent', A, NPI, { endedDaysAgo: 3 })]);
  assert.equal((await doc.get(`/fhir/Observation?patient=${pubA}`)).status, 200);
  // the same again (unchanged) changes nothing
  importEncounters('enc3.ndjson', [encounter('b1-enc-recent', A, NPI, { endedDaysAgo: 3 })]);
  assert.equal((await doc.get(`/fhir/Observation?patient=${pubA}`)).status, 200);
});

test('after unlinking the record is closed again', async () => {
  const u = cli(['--data', d.dir, 'user', 'unlink-practitioner', '--username', user.username]);
  assert.equal(u.status, 0, u.stderr);
  const { summary, search } = await reads(pubA);
  assert.equal(summary.status, 403);
  assert.equal(search.status, 404);
  assert.deepEqual((await doc.get('/api/v1/staff/patients')).json.patients, []);
  assert.equal(audit(`action IN ('user.link-practitioner','user.unlink-practitioner')`).length, 2);
});

test('init --demo links the demo clinician to a Practitioner of the demo encounters', async () => {
  const db = join(d.dir, 'phiportal.db');
  const linked = sqlite(db, 'SELECT count(DISTINCT e.patient_id) FROM practitioner_link l JOIN encounter_participant e ON e.key_bidx = l.key_bidx').trim();
  assert.ok(Number(linked) >= 2, `the demo clinician's practitioner saw ${linked} demo patients`);
  assert.equal(sqlite(db, 'SELECT count(DISTINCT user_id) FROM practitioner_link').trim(), '1');
});
