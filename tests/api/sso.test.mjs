// Staff sign-in through the organisation's OpenID provider: a real provider (oidc-provider, over
// HTTPS on loopback, tests/api/oidc_idp.mjs) and the real server. The provider's login form is
// driven over HTTP with a cookie jar. Also: suspension ends sessions and app tokens at once, staff
// password sign-in can be switched off, and unsafe SSO settings stop the server from starting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { join } from 'node:path';
import { chmodSync, copyFileSync } from 'node:fs';
import { makeData, startServer, setConfig, signIn, cli, Client } from './harness.mjs';
import { startIdp } from './oidc_idp.mjs';
import { pkce, form, getCode, auditRows } from '../interop/smart.mjs';

const ACCOUNTS = {
  clin: { password: 'idp-clin-pass', claims: { email: 'Clinician@Example.org', email_verified: true, name: 'Dr Test' } },
  nurse: { password: 'idp-nurse-pass', claims: { email: 'nurse@example.org', email_verified: true } },
  billing: { password: 'idp-billing-pass', claims: { email: 'billing@example.org', email_verified: true } },
  stranger: { password: 'idp-stranger-pass', claims: { email: 'nobody@example.org', email_verified: true } },
};
let d, srv, idp;
const audited = (where) => auditRows(d.dir, where);
const acct = (name) => d.accounts.find((a) => a.username === name);

// GET/POST on the provider with a cookie jar; returns { status, location, text }
function idpRequest(jar, method, url, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = {};
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body) { headers['content-type'] = 'application/x-www-form-urlencoded'; }
    const req = https.request(u, { method, headers, ca: idp.ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        for (const sc of [].concat(res.headers['set-cookie'] || [])) {
          const [pair] = sc.split(';');
          const i = pair.indexOf('=');
          const v = pair.slice(i + 1).trim();
          if (v && !/expires=Thu, 01 Jan 1970/i.test(sc)) jar.set(pair.slice(0, i).trim(), v); else jar.delete(pair.slice(0, i).trim());
        }
        resolve({ status: res.statusCode, location: res.headers.location ? new URL(res.headers.location, url).href : null, text: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// Runs the provider's side of a sign-in: from the authorization URL to the redirect back to the
// portal (returned as a path + query, not followed).
async function atIdp(authUrl, login, password) {
  const jar = new Map();
  let r = await idpRequest(jar, 'GET', authUrl);
  for (let hops = 0; hops < 10; hops++) {
    if (r.location && r.location.startsWith(srv.publicUrl)) return r.location.slice(srv.publicUrl.length);
    if (r.status === 200 && /<form method="post" action="([^"]+)"/.test(r.text)) {
      const action = new URL(r.text.match(/<form method="post" action="([^"]+)"/)[1], authUrl).href;
      r = await idpRequest(jar, 'POST', action, new URLSearchParams({ login, password }).toString());
      continue;
    }
    assert.ok(r.location, `provider stopped at ${r.status}: ${r.text.slice(0, 300)}`);
    r = await idpRequest(jar, 'GET', r.location);
  }
  throw new Error('too many redirects at the provider');
}

// A whole sign-in; returns the portal client and its last response (the callback's answer).
async function ssoSignIn(login, { client = new Client(srv) } = {}) {
  const start = await client.get('/api/v1/auth/sso/start');
  assert.equal(start.status, 302, start.text);
  assert.ok(start.headers.location.startsWith(idp.issuer), start.headers.location);
  const back = await atIdp(start.headers.location, login, ACCOUNTS[login].password);
  const res = await client.get(back);
  return { client, res, back };
}

before(async () => {
  idp = await startIdp({ accounts: ACCOUNTS });
  idp.ca = (await import('node:fs')).readFileSync(idp.caFile);
  d = makeData();
  const secret = join(d.dir, 'sso_secret');
  copyFileSync(idp.secretFile, secret);
  chmodSync(secret, 0o600);
  setConfig(d.dir, { 'sso.enabled': 'true', 'sso.issuer': idp.issuer, 'sso.client_id': idp.clientId,
    'sso.client_secret_file': 'sso_secret', 'sso.ca_file': idp.caFile, 'sso.mfa': 'idp' });
  for (const [user, value] of [['demo.clinician', 'clinician@example.org'], ['demo.nurse', 'NURSE@example.org'], ['demo.billing', 'billing@example.org']]) {
    const r = cli(['--data', d.dir, 'user', 'link-sso', '--username', user, '--value', value]);
    assert.equal(r.status, 0, r.stderr);
  }
  srv = await startServer(d.dir, { publicUrl: true });
  idp.configure({ redirectUris: [`${srv.publicUrl}/api/v1/auth/sso/callback`] });
});
after(async () => { await srv?.stop(); await idp?.stop(); d?.cleanup(); });

test('the sign-in methods are public; start sends the browser to the provider with PKCE, state and nonce', async () => {
  const m = await new Client(srv).get('/api/v1/auth/methods');
  assert.equal(m.status, 200);
  assert.deepEqual(m.json, { password: true, sso: true, staff_password: true });
  const c = new Client(srv);
  const r = await c.get('/api/v1/auth/sso/start');
  assert.equal(r.status, 302);
  const u = new URL(r.headers.location);
  assert.equal(u.searchParams.get('response_type'), 'code');
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.match(u.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.match(u.searchParams.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(u.searchParams.get('redirect_uri'), `${srv.publicUrl}/api/v1/auth/sso/callback`);
  assert.equal(c.cookies.get('__Host-pp_sso'), u.searchParams.get('state'), 'the state is bound to this browser');
  assert.match(r.setCookie.join(';'), /__Host-pp_sso=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=600/);
});

test('sso.mfa=idp: a provider sign-in without MFA in amr is refused and audited', async () => {
  idp.configure({ amr: ['pwd'] });
  const { client, res } = await ssoSignIn('clin');
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, '/#/sso-error/sso_mfa_required');
  assert.ok(!client.cookies.has('__Host-pp_session'), 'no session');
  assert.ok(audited(`action='auth.sso' AND outcome='denied' AND detail='mfa-not-asserted'`).length >= 1);
});

test('sso.mfa=idp with amr ["pwd","otp"]: a FULL session as the clinician, audited without the e-mail', async () => {
  idp.configure({ amr: ['pwd', 'otp'] });
  const { client, res } = await ssoSignIn('clin');
  assert.equal(res.status, 302, res.text);
  assert.equal(res.headers.location, '/#/');
  assert.ok(client.cookies.has('__Host-pp_session'));
  assert.ok(!client.cookies.has('__Host-pp_sso'), 'the binding cookie is cleared');
  const s = await client.get('/api/v1/auth/session');
  assert.equal(s.status, 200);
  assert.equal(s.json.state, 'full');
  assert.equal(s.json.role, 'clinician');
  const me = await client.get('/api/v1/me/contact');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.email, 'demo.clinician@example.org');
  const ok = audited(`action='auth.sso' AND outcome='success'`);
  assert.ok(ok.length >= 1);
  assert.match(ok.at(-1), /^auth\.sso\|success\|user:\d+\|idp-mfa$/);
  const all = JSON.stringify(audited(`action='auth.sso'`)).toLowerCase();
  assert.ok(!all.includes('example.org'), 'no e-mail address in the audit log');
});

test('a replayed callback (state already used) is refused', async () => {
  idp.configure({ amr: ['pwd', 'otp'] });
  const { client, res, back } = await ssoSignIn('clin');
  assert.equal(res.headers.location, '/#/');
  const state = new URL(back, srv.publicUrl).searchParams.get('state');
  client.cookies.set('__Host-pp_sso', state);
  client.cookies.delete('__Host-pp_session');
  const again = await client.get(back);
  assert.equal(again.headers.location, '/#/sso-error/sso_refused');
  assert.ok(!again.setCookie?.some((c) => c.startsWith('__Host-pp_session=') && !c.includes('Max-Age=0')));
  assert.ok(audited(`action='auth.sso' AND detail='state-unknown'`).length >= 1);
});

test('a callback for a sign-in another browser started is refused (login CSRF)', async () => {
  const attacker = new Client(srv);
  const start = await attacker.get('/api/v1/auth/sso/start');
  const back = await atIdp(start.headers.location, 'clin', ACCOUNTS.clin.password);
  const victim = new Client(srv);
  await victim.get('/api/v1/auth/sso/start');   // the victim has a binding cookie of its own
  const r = await victim.get(back);
  assert.equal(r.headers.location, '/#/sso-error/sso_refused');
  assert.ok(!victim.cookies.has('__Host-pp_session'));
  assert.ok(audited(`action='auth.sso' AND detail='state-mismatch'`).length >= 1);
  // without any binding cookie the browser gets a same-origin bounce page, then a refusal
  const nobody = new Client(srv);
  const b = await nobody.get(back);
  assert.equal(b.status, 200);
  assert.match(b.text, /http-equiv="refresh"/);
  assert.match(b.headers['cache-control'], /no-store/);
  const b2 = await nobody.get(back + '&bounce=1');
  assert.equal(b2.headers.location, '/#/sso-error/sso_refused');
  assert.ok(audited(`action='auth.sso' AND detail='no-binding'`).length >= 1);
});

test('ID tokens with a wrong nonce, a tampered payload or an HS256 signature are refused', async () => {
  idp.configure({ amr: ['pwd', 'otp'] });
  const cases = [
    ['nonce-mismatch', async (t, { sign, decode }) => sign({ ...decode(t), nonce: 'not-the-nonce' })],
    ['id-token-signature', async (t) => {
      const [h, p, s] = t.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      claims.email = 'nurse@example.org';
      return [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    }],
    ['id-token-alg', async (t, { sign, decode }) => sign(decode(t), { alg: 'HS256' })],
    ['aud-mismatch', async (t, { sign, decode }) => sign({ ...decode(t), aud: 'another-client' })],
    ['expired', async (t, { sign, decode }) => sign({ ...decode(t), exp: Math.floor(Date.now() / 1000) - 3600 })],
  ];
  try {
    for (const [reason, hook] of cases) {
      idp.configure({ tokenHook: hook });
      const { client, res } = await ssoSignIn('clin');
      assert.equal(res.headers.location, '/#/sso-error/sso_refused', reason);
      assert.ok(!client.cookies.has('__Host-pp_session'), reason);
      assert.ok(audited(`action='auth.sso' AND outcome='denied' AND detail='${reason}'`).length >= 1, reason);
    }
    // the hook itself does not break a sign-in when it changes nothing
    idp.configure({ tokenHook: async (t) => t });
    assert.equal((await ssoSignIn('clin')).res.headers.location, '/#/');
  } finally {
    idp.configure({ tokenHook: null });
  }
});

test('unknown identity, a non-staff account and a suspended account are refused alike, each audited', async () => {
  idp.configure({ amr: ['pwd', 'otp'] });
  const unknown = await ssoSignIn('stranger');
  assert.equal(unknown.res.headers.location, '/#/sso-error/sso_refused');
  assert.ok(audited(`action='auth.sso' AND actor='anonymous' AND detail='unknown-identity'`).length >= 1);

  // patients cannot be linked, and an account linked while it was staff is refused once it is not
  const p = cli(['--data', d.dir, 'user', 'link-sso', '--username', 'demo.patient1', '--value', 'p1@example.org']);
  assert.equal(p.status, 1);
  assert.match(p.stderr, /only staff/);
  const { sqlite } = await import('./harness.mjs');
  const billingId = sqlite(join(d.dir, 'phiportal.db'), "SELECT id FROM user_account WHERE role='billing'").trim();
  sqlite(join(d.dir, 'phiportal.db'), `UPDATE user_account SET role='patient' WHERE id=${billingId}`);
  const notStaff = await ssoSignIn('billing');
  assert.equal(notStaff.res.headers.location, '/#/sso-error/sso_refused');
  assert.ok(audited(`action='auth.sso' AND actor='user:${billingId}' AND detail='not-staff'`).length >= 1);

  const sus = cli(['--data', d.dir, 'user', 'suspend', '--username', 'demo.nurse']);
  assert.equal(sus.status, 0, sus.stderr);
  const suspended = await ssoSignIn('nurse');
  assert.equal(suspended.res.headers.location, '/#/sso-error/sso_refused');
  assert.ok(!suspended.client.cookies.has('__Host-pp_session'));
  assert.ok(audited(`action='auth.sso' AND detail='account-inactive'`).length >= 1);
  assert.equal(cli(['--data', d.dir, 'user', 'activate', '--username', 'demo.nurse']).status, 0);
  assert.equal((await ssoSignIn('nurse')).res.headers.location, '/#/');
});

test('key rotation at the provider: the next sign-in fetches the new keys and works', async () => {
  idp.configure({ amr: ['pwd', 'otp'] });
  const hits = idp.stats.jwksHits;
  await idp.rotateKeys();
  idp.configure({ redirectUris: [`${srv.publicUrl}/api/v1/auth/sso/callback`] });
  const { res } = await ssoSignIn('clin');
  assert.equal(res.headers.location, '/#/');
  assert.equal(idp.stats.jwksHits, hits + 1, 'one refetch for the unknown kid');
});

test('suspending a user ends all of their sessions and app tokens at once; deprovisioning is final', async () => {
  const bob = acct('demo.patient2');
  const s1 = await signIn(srv, bob);
  const s2 = await signIn(srv, bob);
  const p = pkce();
  const redirect = 'http://127.0.0.1:8765/callback';
  const { code } = await getCode(srv, s1, { clientId: 'demo-patient-app', redirectUri: redirect, scope: 'launch/patient openid patient/*.rs', challenge: p.challenge });
  const t = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: p.verifier, client_id: 'demo-patient-app' });
  assert.equal(t.status, 200, t.text);
  const fhir = (tok) => new Promise((resolve, reject) => {
    https.get(`${srv.url}/fhir/Patient/${bob.patient_id}`, { ca: srv.ca, servername: 'localhost', headers: { authorization: `Bearer ${tok}` } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject);
  });
  assert.equal(await fhir(t.json.access_token), 200);
  const r = cli(['--data', d.dir, 'user', 'suspend', '--username', 'demo.patient2']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 app token families revoked/);
  assert.equal((await s1.get('/api/v1/auth/session')).status, 401);
  assert.equal((await s2.get('/api/v1/auth/session')).status, 401);
  assert.equal(await fhir(t.json.access_token), 401);
  const refresh = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: t.json.refresh_token ?? 'none', client_id: 'demo-patient-app' });
  assert.notEqual(refresh.status, 200);
  assert.equal((await new Client(srv).post('/api/v1/auth/login', { username: bob.username, password: bob.password })).status, 401);
  assert.ok(audited(`action='user.suspend' AND outcome='success'`).length >= 1);
  assert.equal(cli(['--data', d.dir, 'user', 'activate', '--username', 'demo.patient2']).status, 0);
  assert.equal((await new Client(srv).post('/api/v1/auth/login', { username: bob.username, password: bob.password })).status, 200);
  assert.equal(cli(['--data', d.dir, 'user', 'deprovision', '--username', 'demo.patient2']).status, 0);
  const again = cli(['--data', d.dir, 'user', 'activate', '--username', 'demo.patient2']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /deprovisioned/);
  assert.ok(audited(`action='user.deprovision' AND outcome='success'`).length >= 1);
});

test('sso.mfa=local gives an MFA/enrol session; staff password login can be switched off, patients unaffected', async () => {
  await srv.stop();
  setConfig(d.dir, { 'sso.mfa': 'local', 'auth.staff_password_login': 'false' });
  srv = await startServer(d.dir, { publicUrl: true });
  idp.configure({ redirectUris: [`${srv.publicUrl}/api/v1/auth/sso/callback`], amr: ['pwd'] });
  const { client, res } = await ssoSignIn('clin');
  assert.equal(res.headers.location, '/#/');
  const s = await client.get('/api/v1/auth/session');
  assert.equal(s.json.state, 'enrol', 'no TOTP enrolled yet: enrol in phiportal');
  assert.equal((await client.get('/api/v1/me/contact')).status, 401, 'not signed in fully yet');
  assert.deepEqual((await new Client(srv).get('/api/v1/auth/methods')).json, { password: true, sso: true, staff_password: false });
  const staff = acct('demo.admin');
  const r = await new Client(srv).post('/api/v1/auth/login', { username: staff.username, password: staff.password });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'password_login_disabled');
  assert.ok(!r.setCookie?.some((c) => c.startsWith('__Host-pp_session=') && !c.includes('Max-Age=0')));
  assert.ok(audited(`action='login' AND outcome='failure' AND detail='staff-password-disabled'`).length >= 1);
  const wrong = await new Client(srv).post('/api/v1/auth/login', { username: staff.username, password: 'wrong password here' });
  assert.equal(wrong.status, 401, 'a wrong password tells nothing about the switch');
  const pat = acct('demo.patient1');
  assert.equal((await new Client(srv).post('/api/v1/auth/login', { username: pat.username, password: pat.password })).status, 200);
});

test('unsafe SSO settings stop serve and compliance check', async () => {
  const e = makeData({ demo: false });
  try {
    const secret = join(e.dir, 'sso_secret');
    copyFileSync(idp.secretFile, secret);
    chmodSync(secret, 0o600);
    const base = { 'sso.enabled': 'true', 'sso.issuer': 'https://idp.example.org', 'sso.client_id': 'x', 'sso.client_secret_file': 'sso_secret', 'sso.mfa': 'idp' };
    setConfig(e.dir, base);
    assert.equal(cli(['--data', e.dir, 'compliance', 'check']).status, 0);
    setConfig(e.dir, { 'sso.issuer': 'http://idp.example.org' });
    let r = cli(['--data', e.dir, 'compliance', 'check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sso\.issuer: value 'http:\/\/idp\.example\.org' is unsafe/);
    setConfig(e.dir, { 'sso.issuer': 'http://127.0.0.1:9999' });
    assert.equal(cli(['--data', e.dir, 'compliance', 'check']).status, 0, 'loopback http is for tests');
    setConfig(e.dir, { 'sso.mfa': '' });
    r = cli(['--data', e.dir, 'compliance', 'check']);
    assert.match(r.stderr, /sso\.mfa: value '' is unsafe; safe value: local or idp/);
    setConfig(e.dir, { 'sso.mfa': 'local' });
    chmodSync(secret, 0o644);
    r = cli(['--data', e.dir, 'compliance', 'check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sso\.client_secret_file: 'sso_secret' is missing or readable by group or others/);
    r = cli(['--data', e.dir, 'serve', '--port', '1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing to start/);
  } finally {
    e.cleanup();
  }
});
