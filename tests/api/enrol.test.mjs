// Enrolment with identity proofing: front-desk staff who checked a patient's identity in person
// issue a one-time activation code; the patient creates their account with it and their birth
// date; the account records the assurance level. Expired, reused, voided and wrong codes get one
// and the same answer (no enumeration); guessing is throttled per address (even a correct code is
// refused once the bucket is empty); only staff with enrolment.issue can issue codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeData, startServer, signIn, sqlite, cli, Client } from './harness.mjs';

let d, srv, desk, clin, admin, alice, pub, birthDate;
const db = () => join(d.dir, 'phiportal.db');
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);

before(async () => {
  d = makeData({ config: { 'enrol.attempts_per_min': 30 } });
  srv = await startServer(d.dir);
  const acct = (u) => d.accounts.find((a) => a.username === u);
  [desk, clin, admin, alice] = await Promise.all(['demo.frontdesk', 'demo.clinician', 'demo.admin', 'demo.patient1'].map((u) => signIn(srv, acct(u))));
  // a patient without a portal account; the test learns the birth date as the patient would know it
  pub = sqlite(db(), "SELECT pub_id FROM resource WHERE type='Patient' AND id NOT IN (SELECT patient_id FROM user_account WHERE patient_id IS NOT NULL) ORDER BY pub_id LIMIT 1").trim();
  assert.match(pub, /^[0-9a-f]{32}$/);
  assert.equal(cli(['--data', d.dir, 'careteam', 'add', '--username', 'demo.clinician', '--patient', pub]).status, 0);
  birthDate = (await clin.get(`/fhir/Patient/${pub}`)).json.birthDate;
  assert.match(birthDate, /^\d{4}-\d{2}-\d{2}$/);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

const anon = () => new Client(srv);
const enrol = (body) => anon().post('/api/v1/enrol', body);
let n = 0;
const fresh = () => ({ username: `new.patient${++n}`, password: `Fresh-Enrol-Pass-${n}-x9Q` });

test('only staff allowed to proof identity issue codes; never for a record that has an account', async () => {
  for (const who of [clin, admin, alice])
    assert.equal((await who.post(`/api/v1/patients/${pub}/activation-code`, {})).status, 404);
  assert.equal((await desk.post('/api/v1/patients/00000000000000000000000000000000/activation-code', {})).status, 404);
  const own = d.accounts.find((a) => a.username === 'demo.patient1').patient_id;
  const r = await desk.post(`/api/v1/patients/${own}/activation-code`, {});
  assert.equal(r.status, 409);
  assert.equal(r.json.error.code, 'account_exists');
  assert.ok(audit(`action='enrol.code.issue' AND outcome='denied'`).length >= 3);
});

test('a patient enrols with the code and birth date; the code works once; assurance is recorded', async () => {
  const c = await desk.post(`/api/v1/patients/${pub}/activation-code`, {});
  assert.equal(c.status, 201, c.text);
  assert.match(c.json.code, /^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/);
  const hours = (Date.parse(c.json.expires_at) - Date.now()) / 3600000;
  assert.ok(hours > 71 && hours <= 72);
  // the code is not stored, nor in the audit log
  assert.equal(sqlite(db(), `SELECT count(*) FROM activation_code WHERE instr(code_digest, CAST('${c.json.code.replace(/-/g, '')}' AS BLOB)) > 0`).trim(), '0');
  assert.equal(audit(`detail LIKE '%${c.json.code.slice(0, 4)}%' OR resource_id LIKE '%${c.json.code.slice(0, 4)}%'`).length, 0);

  const wrongDob = await enrol({ code: c.json.code, birth_date: '1900-01-01', ...fresh() });
  const unknown = await enrol({ code: 'AAAA-BBBB-CCCC-DDDD', birth_date: birthDate, ...fresh() });
  const garbage = await enrol({ code: 'not a code', birth_date: birthDate, ...fresh() });
  for (const r of [wrongDob, unknown, garbage]) {
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, unknown.json, 'one answer for every wrong case');
  }
  assert.equal(unknown.json.error.code, 'invalid_code');
  // weak password: refused before the code is spent
  assert.equal((await enrol({ code: c.json.code, birth_date: birthDate, username: 'new.weak', password: 'password' })).json.error.code, 'weak_password');

  const who = fresh();
  const ok = await enrol({ code: c.json.code.toLowerCase(), birth_date: birthDate, ...who });
  assert.equal(ok.status, 201, ok.text);
  const again = await enrol({ code: c.json.code, birth_date: birthDate, ...fresh() });
  assert.equal(again.status, 400);
  assert.deepEqual(again.json, unknown.json, 'a used code looks like any wrong code');
  assert.equal(sqlite(db(), `SELECT assurance FROM user_account WHERE patient_id = (SELECT id FROM resource WHERE pub_id='${pub}')`).trim(), 'in-person');
  // the new account signs in (MFA enrolment first) and reaches its own record
  const me = await signIn(srv, who);
  const m = await me.get('/api/v1/me');
  assert.equal(m.json.role, 'patient');
  assert.equal(m.json.patient_id, pub);
  assert.equal((await me.get('/api/v1/me/summary')).status, 200);
  assert.ok(audit(`action='enrol' AND outcome='success' AND detail='assurance:in-person'`).length === 1);
  for (const why of ['birth-date-mismatch', 'code-unknown', 'code-used'])
    assert.ok(audit(`action='enrol' AND outcome='denied' AND detail='${why}'`).length >= 1, why);
  // now the record has an account: no more codes
  assert.equal((await desk.post(`/api/v1/patients/${pub}/activation-code`, {})).status, 409);
});

test('expired and voided codes are refused', async () => {
  const other = sqlite(db(), `SELECT pub_id FROM resource WHERE type='Patient' AND id NOT IN (SELECT patient_id FROM user_account WHERE patient_id IS NOT NULL) AND pub_id <> '${pub}' ORDER BY pub_id LIMIT 1`).trim();
  assert.equal(cli(['--data', d.dir, 'careteam', 'add', '--username', 'demo.clinician', '--patient', other]).status, 0);
  const bd = (await clin.get(`/fhir/Patient/${other}`)).json.birthDate;
  const first = (await desk.post(`/api/v1/patients/${other}/activation-code`, {})).json.code;
  const second = (await desk.post(`/api/v1/patients/${other}/activation-code`, {})).json.code;
  assert.notEqual(first, second);
  assert.equal((await enrol({ code: first, birth_date: bd, ...fresh() })).json.error.code, 'invalid_code', 'a new code voids the old one');
  // time passes: the code's 72 hours are over (its expiry moved into the past in the database)
  sqlite(db(), `UPDATE activation_code SET expires_ms = ${Date.now() - 1000} WHERE used_ms = 0 AND patient_id = (SELECT id FROM resource WHERE pub_id='${other}')`);
  assert.equal((await enrol({ code: second, birth_date: bd, ...fresh() })).json.error.code, 'invalid_code');
  assert.ok(audit(`action='enrol' AND outcome='denied' AND detail='code-expired'`).length >= 2);
});

test('guessing is throttled: past the limit even a correct code is refused with 429', async () => {
  const other = sqlite(db(), `SELECT pub_id FROM resource WHERE type='Patient' AND id NOT IN (SELECT patient_id FROM user_account WHERE patient_id IS NOT NULL) ORDER BY pub_id DESC LIMIT 1`).trim();
  assert.equal(cli(['--data', d.dir, 'careteam', 'add', '--username', 'demo.clinician', '--patient', other]).status, 0);
  const bd = (await clin.get(`/fhir/Patient/${other}`)).json.birthDate;
  const code = (await desk.post(`/api/v1/patients/${other}/activation-code`, {})).json.code;
  let throttled = null;
  for (let i = 0; i < 40 && !throttled; i++) {
    const r = await enrol({ code: `ZZZZ-ZZZZ-ZZZZ-${String(i).padStart(4, '2').replace(/[01]/g, '2')}`, birth_date: bd, ...fresh() });
    if (r.status === 429) throttled = r;
    else assert.equal(r.status, 400);
  }
  assert.ok(throttled, 'throttled within 40 guesses');
  assert.ok(Number(throttled.headers['retry-after']) > 0);
  const right = await enrol({ code, birth_date: bd, ...fresh() });
  assert.equal(right.status, 429, 'the correct code is refused while throttled');
  assert.ok(audit(`action='enrol' AND detail='throttled'`).length >= 2);
});
