// Sign-in over HTTPS against the real server: passwords, TOTP enrolment and challenge (codes from
// the real oathtool), recovery codes, code reuse, lockout, CSRF and Origin checks, logout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, Client, signIn, freshCode, totp, currentStep } from './harness.mjs';

let d, srv;
before(async () => {
  d = makeData({ config: { 'auth.lockout_threshold': 3, 'auth.lockout_seconds': 60 } });
  srv = await startServer(d.dir);
});
after(async () => { await srv?.stop(); d?.cleanup(); });
const acct = (name) => d.accounts.find((a) => a.username === name);

test('wrong password and unknown user get the same answer', async () => {
  const c = new Client(srv);
  const a = await c.post('/api/v1/auth/login', { username: 'demo.patient3', password: 'wrong password 123' });
  const b = await c.post('/api/v1/auth/login', { username: 'nobody.here', password: 'wrong password 123' });
  assert.equal(a.status, 401);
  assert.equal(b.status, 401);
  assert.deepEqual(a.json, b.json);
  assert.equal(a.json.error.code, 'invalid_credentials');
  assert.equal(c.cookies.size, 0, 'no session cookie on failure');
});

test('login requires JSON and a same-origin Origin', async () => {
  const c = new Client(srv);
  const a = acct('demo.patient1');
  const form = await c.request('POST', '/api/v1/auth/login', { raw: `username=${a.username}&password=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415);
  const cross = await c.post('/api/v1/auth/login', { username: a.username, password: a.password }, { headers: { origin: 'https://evil.example' } });
  assert.equal(cross.status, 403);
  assert.equal(cross.json.error.code, 'origin');
});

test('password, MFA enrolment with QR code, then a full session with a rotated cookie', async () => {
  const a = acct('demo.patient1');
  const c = new Client(srv);
  let r = await c.post('/api/v1/auth/login', { username: a.username, password: a.password });
  assert.equal(r.status, 200);
  assert.equal(r.json.state, 'enrol');
  const cookie = r.setCookie.find((s) => s.startsWith('__Host-pp_session='));
  assert.ok(cookie, 'session cookie set');
  for (const attr of [/;\s*Secure/i, /;\s*HttpOnly/i, /;\s*SameSite=Strict/i, /;\s*Path=\//i]) assert.match(cookie, attr);
  const preToken = c.cookies.get('__Host-pp_session');
  // not signed in yet: the record is out of reach
  r = await c.get('/api/v1/me/summary');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'mfa_required');
  r = await c.post('/api/v1/auth/mfa/enrol/start');
  assert.equal(r.status, 200);
  assert.match(r.json.otpauth_uri, /^otpauth:\/\/totp\//);
  assert.match(r.json.qr_svg, /<svg[\s\S]*<\/svg>/);
  assert.match(r.json.secret, /^[A-Z2-7]+=*$/);
  a.secret = r.json.secret;
  r = await c.post('/api/v1/auth/mfa/enrol/confirm', { code: '000000' === totp(a.secret) ? '111111' : '000000' });
  assert.equal(r.status, 401, 'a wrong code is refused');
  r = await c.post('/api/v1/auth/mfa/enrol/confirm', { code: await freshCode(a) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'full');
  assert.equal(r.json.recovery_codes.length, 10);
  assert.equal(new Set(r.json.recovery_codes).size, 10);
  a.recovery = r.json.recovery_codes;
  assert.notEqual(c.cookies.get('__Host-pp_session'), preToken, 'session id rotated at MFA');
  const old = new Client(srv); old.cookies.set('__Host-pp_session', preToken);
  assert.equal((await old.get('/api/v1/me')).status, 401, 'the pre-MFA token is dead');
  r = await c.get('/api/v1/me');
  assert.equal(r.status, 200);
  assert.equal(r.json.role, 'patient');
  assert.equal(r.json.patient_id, a.patient_id);
});

test('a TOTP code cannot be used twice', async () => {
  const a = acct('demo.patient1');
  const c1 = new Client(srv);
  await c1.post('/api/v1/auth/login', { username: a.username, password: a.password });
  const code = await freshCode(a);
  assert.equal((await c1.post('/api/v1/auth/mfa/verify', { code })).status, 200);
  const c2 = new Client(srv);
  const r = await c2.post('/api/v1/auth/login', { username: a.username, password: a.password });
  assert.equal(r.json.state, 'mfa');
  const again = await c2.post('/api/v1/auth/mfa/verify', { code });
  assert.equal(again.status, 401);
  assert.equal(again.json.error.code, 'invalid_code');
  // a code from three windows ago is refused too
  assert.equal((await c2.post('/api/v1/auth/mfa/verify', { code: totp(a.secret, currentStep() - 3) })).status, 401);
});

test('recovery codes work once each', async () => {
  const a = acct('demo.patient1');
  const c = new Client(srv);
  await c.post('/api/v1/auth/login', { username: a.username, password: a.password });
  let r = await c.post('/api/v1/auth/mfa/recover', { recovery_code: a.recovery[0] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.remaining, 9);
  const c2 = new Client(srv);
  await c2.post('/api/v1/auth/login', { username: a.username, password: a.password });
  r = await c2.post('/api/v1/auth/mfa/recover', { recovery_code: a.recovery[0] });
  assert.equal(r.status, 401, 'a used recovery code is refused');
  r = await c2.post('/api/v1/auth/mfa/recover', { recovery_code: a.recovery[1].toLowerCase().replaceAll('-', '') });
  assert.equal(r.status, 200, 'case and dashes do not matter');
});

test('CSRF: state-changing requests need the session token and the same origin', async () => {
  const c = await signIn(srv, acct('demo.patient2'));
  const noToken = await c.post('/api/v1/auth/keepalive', {}, { headers: { 'x-csrf-token': '' } });
  assert.equal(noToken.status, 403);
  assert.equal(noToken.json.error.code, 'csrf');
  const wrong = await c.post('/api/v1/auth/keepalive', {}, { headers: { 'x-csrf-token': 'A'.repeat(43) } });
  assert.equal(wrong.status, 403);
  const cross = await c.post('/api/v1/auth/keepalive', {}, { headers: { origin: 'https://evil.example' } });
  assert.equal(cross.status, 403);
  assert.equal(cross.json.error.code, 'origin');
  const logoutNoToken = await c.post('/api/v1/auth/logout', {}, { headers: { 'x-csrf-token': 'nope' } });
  assert.equal(logoutNoToken.status, 403, 'logout without CSRF is refused');
  assert.equal((await c.get('/api/v1/me')).status, 200, 'the session survived the forged requests');
  const ok = await c.post('/api/v1/auth/keepalive');
  assert.equal(ok.status, 200);
});

test('logout ends the session server-side', async () => {
  const c = await signIn(srv, acct('demo.patient2'));
  const token = c.cookies.get('__Host-pp_session');
  const r = await c.post('/api/v1/auth/logout');
  assert.equal(r.status, 204);
  const replay = new Client(srv); replay.cookies.set('__Host-pp_session', token);
  const me = await replay.get('/api/v1/me');
  assert.equal(me.status, 401);
});

test('lockout after repeated failures, even with the right password; uniform for unknown users', async () => {
  const a = acct('demo.patient3');
  const c = new Client(srv);
  for (let i = 0; i < 3; i++) {
    const r = await c.post('/api/v1/auth/login', { username: a.username, password: 'not the password!' });
    assert.ok([401, 429].includes(r.status));
  }
  const r = await c.post('/api/v1/auth/login', { username: a.username, password: a.password });
  assert.equal(r.status, 429);
  assert.equal(r.json.error.code, 'locked');
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.equal(c.cookies.size, 0);
  // an unknown username answers exactly the same way: "locked" reveals nothing
  const ghost = [];
  for (let i = 0; i < 4; i++) ghost.push(await c.post('/api/v1/auth/login', { username: 'no.such.person', password: 'not the password!' }));
  assert.deepEqual(ghost.map((g) => g.status), [401, 401, 429, 429]);
  assert.deepEqual(ghost[3].json, r.json);
});

test('staff accounts must enrol MFA too', async () => {
  const c = new Client(srv);
  const a = acct('demo.clinician');
  const r = await c.post('/api/v1/auth/login', { username: a.username, password: a.password });
  assert.equal(r.status, 200);
  assert.equal(r.json.state, 'enrol');
  assert.equal((await c.get('/api/v1/me')).status, 401);
});
