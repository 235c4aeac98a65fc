// Self-enrolment by demographics + a one-time code sent to the contact on file, end to end with a
// real SMTP server (tests/api/smtp.mjs): the code is read from the received e-mail, which must name
// no one; wrong, reused, expired (clock moved a day with libfaketime) and brute-forced codes are
// refused with one answer; details that match no record, several records, or a record without
// that contact get the same answer as a match, and no code; a record that already has an account
// is refused only after the right code; starts are throttled per address; the assurance reached
// is recorded on the account and every step is audited without PHI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, makeData, setConfig, startServer, signIn, freePort, sqlite, Client, ASAN_BUILD } from './harness.mjs';
import { sleep, waitFor, makeCert, startSmtp, mails, parseMail } from './smtp.mjs';

const PORTAL = 'https://portal.example.org/';
const ALMA = { family_name: "Testperson-O'Neil", given_name: 'Alma', birth_date: '1980-04-02' };
const BEN = { family_name: 'Nocontact', given_name: 'Ben', birth_date: '1975-01-01' };
const TWIN = { family_name: 'Twin', given_name: 'Sam', birth_date: '2001-07-07' };
const NOBODY = { family_name: 'Nobody', given_name: 'Zed', birth_date: '1990-09-09' };

let d, srv, smtp, smtpPort, certs;
const outdir = () => join(d.base, 'mail');
const db = () => join(d.dir, 'phiportal.db');
const audit = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim().split('\n').filter(Boolean);
const anon = () => new Client(srv);
const start = (body) => anon().post('/api/v1/enrol/self/start', body);
const finish = (body) => anon().post('/api/v1/enrol/self/finish', body);
let n = 0;
const fresh = () => ({ username: `self.patient${++n}`, password: `Self-Enrol-Pass-${n}-q7Z` });

function patient(id, { family, given, birthDate, telecom }) {
  return JSON.stringify({ resourceType: 'Patient', id, name: [{ use: 'official', family, given: [given] }], gender: 'female', birthDate, ...(telecom ? { telecom } : {}) });
}

before(async () => {
  d = makeData({ demo: true });
  certs = makeCert(join(d.base, 'smtp-tls'));
  writeFileSync(join(d.dir, 'smtp-ca.pem'), (await import('node:fs')).readFileSync(certs.cert));
  smtpPort = await freePort();
  setConfig(d.dir, {
    'notify.smtp_url': `smtp://127.0.0.1:${smtpPort}`,
    'notify.smtp_ca_file': 'smtp-ca.pem',
    'notify.mail_from': 'notices@example.org',
    'notify.portal_url': PORTAL,
    'notify.org_name': 'Riverside Clinic',
    'notify.poll_ms': 200,
    'notify.timeout_s': 5,
    'enrol.attempts_per_min': 60,
    'enrol.self_starts_per_min': 14,
  });
  const nd = join(d.base, 'self.ndjson');
  writeFileSync(nd, [
    patient('self-alma', { family: ALMA.family_name, given: ALMA.given_name, birthDate: ALMA.birth_date, telecom: [{ system: 'phone', value: '555-0100', use: 'home' }, { system: 'email', value: 'alma@example.org' }] }),
    patient('self-ben', { family: BEN.family_name, given: BEN.given_name, birthDate: BEN.birth_date, telecom: [{ system: 'phone', value: '555-0101', use: 'home' }] }),
    patient('self-twin1', { family: TWIN.family_name, given: TWIN.given_name, birthDate: TWIN.birth_date, telecom: [{ system: 'email', value: 'twin1@example.org' }] }),
    patient('self-twin2', { family: TWIN.family_name, given: TWIN.given_name, birthDate: TWIN.birth_date, telecom: [{ system: 'email', value: 'twin2@example.org' }] }),
  ].join('\n') + '\n');
  assert.equal(cli(['--data', d.dir, 'import', nd]).status, 0);
  smtp = await startSmtp(smtpPort, certs, outdir());
  srv = await startServer(d.dir);
});
after(async () => { await srv?.stop(); await smtp?.stop(); d?.cleanup(); });

// the code in the n-th received mail (waits for it)
async function codeFromMail(count) {
  const got = await waitFor(() => mails(outdir()).length >= count && mails(outdir()), 'the code e-mail');
  const m = got[count - 1];
  const { headers, body } = parseMail(m.data);
  assert.match(headers.subject, /sign-up code/);
  assert.deepEqual(m.rcpt_tos || m.rcpt || m.to || ['alma@example.org'], ['alma@example.org']);
  for (const phi of ['Alma', 'Testperson', 'Neil', '1980', '04-02', 'self-alma'])
    assert.ok(!m.data.includes(phi), `the e-mail must not contain ${phi}`);
  assert.ok(body.includes(PORTAL));
  return body.match(/\b(\d{6})\b/)[1];
}

test('demographics that match no record, several, or one without that contact: same answer, no code', async () => {
  const before = mails(outdir()).length;
  const answers = [];
  for (const body of [{ ...NOBODY, channel: 'email' }, { ...BEN, channel: 'email' }, { ...TWIN, channel: 'email' }, { ...ALMA, channel: 'sms' }, { ...ALMA, channel: 'email' }]) {
    const r = await start(body);
    assert.equal(r.status, 202, r.text);
    answers.push(r);
  }
  const shape = (r) => ({ keys: Object.keys(r.json).sort(), channel: r.json.channel, attempts: r.json.attempts, id: /^[0-9a-f]{32}$/.test(r.json.start_id), exp: Math.round((Date.parse(r.json.expires_at) - Date.now()) / 60000) });
  for (const r of answers.slice(1)) assert.deepEqual({ ...shape(r), channel: null }, { ...shape(answers[0]), channel: null });
  // only the real match (Alma, e-mail) got a code
  await codeFromMail(before + 1);
  await sleep(1500);
  assert.equal(mails(outdir()).length, before + 1);
  // and a code for a start that sent nothing is refused like a wrong one
  const a = await finish({ start_id: answers[0].json.start_id, code: '123456', ...fresh() });
  const b = await finish({ start_id: answers[1].json.start_id, code: '123456', ...fresh() });
  assert.equal(a.status, 400);
  assert.deepEqual(a.json, b.json);
  assert.deepEqual(audit(`action='enrol.self.start'`).map((l) => l.split('|')[2]),
    ['channel:email match:none', 'channel:email match:no-contact', 'channel:email match:several', 'channel:sms match:no-contact', 'channel:email match:code-sent']);
  // nothing about the person in the store in the clear; the index is a blind index
  assert.equal(sqlite(db(), "SELECT count(*) FROM enrol_demo_index WHERE instr(demo_bidx, CAST('alma' AS BLOB)) > 0").trim(), '0');
  assert.ok(Number(sqlite(db(), 'SELECT count(*) FROM enrol_demo_index').trim()) >= 14);
});

test('malformed details are a 400 that says which shape is expected', async () => {
  for (const body of [{ ...ALMA, channel: 'fax' }, { ...ALMA, birth_date: '02/04/1980', channel: 'email' }, { ...ALMA, family_name: ' -- ', channel: 'email' }, { channel: 'email' }]) {
    const r = await start(body);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'invalid_request');
  }
});

test('brute force: after enrol.self_code_attempts wrong codes even the right one is refused', async () => {
  const count = mails(outdir()).length;
  const r = await start({ ...ALMA, family_name: 'testperson oneil', given_name: 'ALMA', channel: 'email' });
  const code = await codeFromMail(count + 1);
  const wrong = String((Number(code) + 1) % 1000000).padStart(6, '0');
  let first;
  for (let i = 0; i < 5; i++) {
    const w = await finish({ start_id: r.json.start_id, code: wrong, ...fresh() });
    assert.equal(w.status, 400);
    first ??= w.json;
    assert.deepEqual(w.json, first);
  }
  const right = await finish({ start_id: r.json.start_id, code, ...fresh() });
  assert.equal(right.status, 400);
  assert.deepEqual(right.json, first);
  assert.ok(audit(`action='enrol.self' AND detail='too-many-attempts'`).length >= 1);
  assert.equal(sqlite(db(), "SELECT count(*) FROM user_account WHERE assurance LIKE 'self%'").trim(), '0');
});

test('expired code refused (server clock moved a day)', { skip: ASAN_BUILD && 'libfaketime cannot be preloaded under ASan' }, async () => {
  const count = mails(outdir()).length;
  const r = await start({ ...ALMA, channel: 'email' });
  const code = await codeFromMail(count + 1);
  await srv.stop();
  srv = await startServer(d.dir, { clockOffsetDays: 1 });
  try {
    const e = await finish({ start_id: r.json.start_id, code, ...fresh() });
    assert.equal(e.status, 400);
    assert.equal(e.json.error.code, 'invalid_code');
    assert.ok(audit(`action='enrol.self' AND detail='code-expired'`).length >= 1);
  } finally {
    await srv.stop();
    srv = await startServer(d.dir);
  }
});

test('the right code creates the account once; assurance recorded; MFA enrolment follows', async () => {
  const count = mails(outdir()).length;
  const r = await start({ ...ALMA, channel: 'email' });
  const code = await codeFromMail(count + 1);
  // only a keyed digest of the code is kept; the sealed address and code are gone once sent
  assert.equal(sqlite(db(), `SELECT count(*) FROM enrol_self WHERE pub_id='${r.json.start_id}' AND dest_enc IS NULL AND code_enc IS NULL AND send_state='sent' AND instr(code_digest, CAST('${code}' AS BLOB)) = 0`).trim(), '1');
  const bad = await finish({ start_id: r.json.start_id, code: code === '000000' ? '000001' : '000000', ...fresh() });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_code');
  const weak = await finish({ start_id: r.json.start_id, code, username: 'alma.t', password: 'password' });
  assert.equal(weak.status, 400);
  assert.equal(weak.json.error.code, 'weak_password');
  const account = { username: 'alma.t', password: 'Alma-Self-Enrolled-9x!' };
  const ok = await finish({ start_id: r.json.start_id, code, ...account });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json.assurance, 'self-demographics+otp:email');
  const again = await finish({ start_id: r.json.start_id, code, ...fresh() });
  assert.equal(again.status, 400);
  assert.deepEqual(again.json, bad.json, 'a used code looks like a wrong one');
  assert.equal(sqlite(db(), "SELECT count(*) FROM user_account u JOIN resource r ON r.id = u.patient_id WHERE u.assurance = 'self-demographics+otp:email' AND u.role = 'patient' AND r.type = 'Patient'").trim(), '1');
  const login = await anon().post('/api/v1/auth/login', account);
  assert.equal(login.status, 200);
  assert.equal(login.json.state, 'enrol');
  const c = await signIn(srv, { ...account });
  const me = await c.get('/api/v1/me/summary');
  assert.equal(me.status, 200);
  assert.ok(JSON.stringify(me.json).includes('Alma'));
  const ok1 = audit(`action='enrol.self' AND outcome='success'`);
  assert.equal(ok1.length, 1);
  assert.match(ok1[0], /assurance:self-demographics\+otp:email/);
  assert.ok(!audit('1').some((l) => /Alma|Testperson|1980-04-02|alma@/.test(l)), 'no PHI in audit details');
});

test('a record that already has an account: same start, refused only after the right code', async () => {
  const count = mails(outdir()).length;
  const r = await start({ ...ALMA, channel: 'email' });
  assert.equal(r.status, 202);
  const code = await codeFromMail(count + 1);
  const wrong = await finish({ start_id: r.json.start_id, code: code === '111111' ? '111112' : '111111', ...fresh() });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error.code, 'invalid_code');
  const e = await finish({ start_id: r.json.start_id, code, ...fresh() });
  assert.equal(e.status, 409);
  assert.equal(e.json.error.code, 'account_exists');
  assert.equal(sqlite(db(), "SELECT count(*) FROM user_account WHERE assurance LIKE 'self%'").trim(), '1');
});

test('starts are throttled per source address', async () => {
  let r;
  for (let i = 0; i < 20; i++) {
    r = await start({ ...NOBODY, channel: 'email' });
    if (r.status === 429) break;
    assert.equal(r.status, 202);
  }
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.ok(audit(`action='enrol.self.start' AND detail='throttled'`).length >= 1);
});
