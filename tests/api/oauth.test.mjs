// The SMART/OAuth authorization server over HTTPS, driven by hand: discovery, the authorization
// code flow with PKCE through the consent API, refresh rotation, introspection and revocation,
// connected apps — and every refusal the issue lists, each with its OAuth error and audit record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeData, startServer, signIn, cli } from './harness.mjs';
import { pkce, form, raw, startAuthorize, getCode, registerClient, auditRows } from '../interop/smart.mjs';

const APP = 'demo-patient-app';
const REDIRECT = 'http://127.0.0.1:8765/callback';
let d, srv, alice, patient;

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  alice = d.accounts.find((a) => a.username === 'demo.patient1');
  patient = await signIn(srv, alice);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

const flow = (extra = {}) => {
  const p = pkce();
  return { p, opts: { clientId: APP, redirectUri: REDIRECT, scope: 'launch/patient openid fhirUser offline_access patient/*.rs', challenge: p.challenge, ...extra } };
};
const exchange = (code, verifier, extra = {}) => form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: APP, ...extra });
const introspect = (token, clientId = APP) => form(srv, '/oauth/introspect', { token, client_id: clientId });
const audited = (where) => auditRows(d.dir, where);

test('discovery documents and the JWKS describe the server', async () => {
  const smart = (await raw(srv, 'GET', '/.well-known/smart-configuration')).json;
  assert.equal(smart.issuer, srv.publicUrl);
  assert.equal(smart.token_endpoint, `${srv.publicUrl}/oauth/token`);
  assert.equal(smart.authorization_endpoint, `${srv.publicUrl}/oauth/authorize`);
  assert.deepEqual(smart.code_challenge_methods_supported, ['S256']);
  for (const cap of ['launch-standalone', 'launch-ehr', 'context-ehr-patient', 'client-public', 'client-confidential-asymmetric', 'context-standalone-patient', 'permission-v2', 'permission-v1', 'sso-openid-connect'])
    assert.ok(smart.capabilities.includes(cap), cap);
  assert.ok(smart.grant_types_supported.includes('client_credentials'));
  assert.ok(smart.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  const oidc = (await raw(srv, 'GET', '/.well-known/openid-configuration')).json;
  assert.equal(oidc.issuer, srv.publicUrl);
  assert.deepEqual(oidc.id_token_signing_alg_values_supported, ['RS256', 'ES256']);
  const jwks = (await raw(srv, 'GET', '/jwks')).json;
  assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
  for (const k of jwks.keys) assert.equal(k.d, undefined, 'no private parts');
});

test('code flow with PKCE: consent in plain words, tokens, patient context, introspection', async () => {
  const { p, opts } = flow();
  const { code, state, expectedState, consent } = await getCode(srv, patient, opts);
  assert.equal(state, expectedState);
  assert.equal(consent.client.name, 'Demo Health Viewer');
  assert.ok(consent.will_see.includes('Your whole health record'), JSON.stringify(consent.will_see));
  const t = await exchange(code, p.verifier);
  assert.equal(t.status, 200, t.text);
  assert.match(t.headers['cache-control'], /no-store/);
  assert.equal(t.json.token_type, 'Bearer');
  assert.equal(t.json.expires_in, 300);
  assert.equal(t.json.patient, alice.patient_id);
  assert.ok(t.json.refresh_token && t.json.id_token);
  assert.match(t.json.scope, /patient\/\*\.rs/);
  const i = await introspect(t.json.access_token);
  assert.equal(i.json.active, true);
  assert.equal(i.json.patient, alice.patient_id);
  assert.equal(i.json.client_id, APP);
  // another client learns nothing about the token
  assert.equal((await introspect(t.json.access_token, 'no-such-client')).status, 401);
  assert.ok(audited(`action='oauth.token' AND outcome='success' AND actor='client:${APP}'`).length >= 1);
  assert.ok(audited(`action='oauth.consent' AND detail LIKE 'approved%'`).length >= 1);
});

test('the granted scope never exceeds what the app registered (scope escalation)', async () => {
  const { p, opts } = flow({ scope: 'launch/patient patient/*.cruds system/*.rs user/*.rs' });
  const { code } = await getCode(srv, patient, opts);
  const t = await exchange(code, p.verifier);
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.scope, 'launch/patient patient/*.rs');
  assert.equal(t.json.refresh_token, undefined, 'no offline_access asked, no refresh token');
  // the patient may narrow further on the consent screen
  const n = flow({ scope: 'launch/patient patient/*.rs' });
  const narrowed = await getCode(srv, patient, { ...n.opts, approve: { scope: 'launch/patient patient/Observation.rs?category=laboratory' } });
  assert.deepEqual(narrowed.consent.will_see, ['Your whole health record']);
  const t2 = await exchange(narrowed.code, n.p.verifier);
  assert.equal(t2.json.scope, 'launch/patient patient/Observation.rs?category=laboratory');
});

test('authorize refusals: wrong redirect URI is shown, not redirected; PKCE missing or plain; wrong aud; unknown EHR launch', async () => {
  const p = pkce();
  let { r } = await startAuthorize(srv, { clientId: APP, redirectUri: 'http://127.0.0.1:8765/callback/', scope: 'patient/*.rs', challenge: p.challenge });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_request');
  assert.equal(r.headers.location, undefined);
  ({ r } = await startAuthorize(srv, { clientId: 'nope', redirectUri: REDIRECT, scope: 'patient/*.rs', challenge: p.challenge }));
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_client');
  const cases = [
    [{ challenge: undefined, method: undefined }, 'invalid_request', 'pkce-missing'],
    [{ challenge: p.verifier, method: 'plain' }, 'invalid_request', 'pkce-method'],
    [{ aud: 'https://evil.example/fhir' }, 'invalid_request', 'aud-mismatch'],
    [{ extra: { launch: 'xyz' } }, 'invalid_request', 'launch-unknown'],
    [{ scope: 'launch patient/*.rs' }, 'invalid_scope', 'launch-missing'],
    [{ extra: { response_type: 'token' } }, 'unsupported_response_type', 'response-type'],
  ];
  for (const [o, err, why] of cases) {
    ({ r } = await startAuthorize(srv, { clientId: APP, redirectUri: REDIRECT, scope: 'patient/*.rs', challenge: p.challenge, ...o }));
    assert.equal(r.status, 302, why);
    const u = new URL(r.headers.location);
    assert.equal(u.origin + u.pathname, REDIRECT);
    assert.equal(u.searchParams.get('error'), err, why);
    assert.ok(u.searchParams.get('state'), 'state echoed');
    assert.ok(audited(`action='oauth.authorize' AND outcome='denied' AND detail='${why}'`).length >= 1, why);
  }
  assert.ok(audited(`action='oauth.authorize' AND outcome='denied' AND detail='redirect-uri-mismatch'`).length >= 1);
});

test('the consent request needs a signed-in patient and CSRF; deny sends access_denied', async () => {
  const { p, opts } = flow();
  const { requestId } = await startAuthorize(srv, opts);
  assert.ok(requestId);
  const anon = await raw(srv, 'GET', `/api/v1/oauth/requests/${requestId}`);
  assert.equal(anon.status, 401);
  const noCsrf = await patient.post(`/api/v1/oauth/requests/${requestId}/approve`, {}, { headers: { 'x-csrf-token': 'wrong' } });
  assert.equal(noCsrf.status, 403);
  const denied = await patient.post(`/api/v1/oauth/requests/${requestId}/deny`, {});
  assert.equal(denied.status, 200);
  const u = new URL(denied.json.redirect);
  assert.equal(u.searchParams.get('error'), 'access_denied');
  assert.equal(u.searchParams.get('code'), null);
  // answered once only
  assert.equal((await patient.post(`/api/v1/oauth/requests/${requestId}/approve`, {})).status, 404);
  void p;
});

test('wrong code_verifier and wrong redirect_uri at the token endpoint are invalid_grant', async () => {
  const { p, opts } = flow();
  const { code } = await getCode(srv, patient, opts);
  const bad = await exchange(code, pkce().verifier);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'invalid_grant');
  assert.ok(audited(`detail='pkce-failed'`).length >= 1);
  const again = flow();
  const c2 = await getCode(srv, patient, again.opts);
  const r = await exchange(c2.code, again.p.verifier, { redirect_uri: 'http://127.0.0.1:8765/other' });
  assert.equal(r.json.error, 'invalid_grant');
  void p;
});

test('a replayed code is refused and revokes the tokens issued from it', async () => {
  const { p, opts } = flow();
  const { code } = await getCode(srv, patient, opts);
  const first = await exchange(code, p.verifier);
  assert.equal(first.status, 200);
  const replay = await exchange(code, p.verifier);
  assert.equal(replay.status, 400);
  assert.equal(replay.json.error, 'invalid_grant');
  assert.equal((await introspect(first.json.access_token)).json.active, false);
  const rf = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.json.refresh_token, client_id: APP });
  assert.equal(rf.json.error, 'invalid_grant');
  assert.ok(audited(`action='oauth.token' AND outcome='denied' AND detail='code-replayed'`).length >= 1);
});

test('refresh rotates; reusing an old refresh token revokes the whole family', async () => {
  const { p, opts } = flow();
  const { code } = await getCode(srv, patient, opts);
  const t0 = (await exchange(code, p.verifier)).json;
  const r1 = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: t0.refresh_token, client_id: APP });
  assert.equal(r1.status, 200, r1.text);
  assert.notEqual(r1.json.refresh_token, t0.refresh_token);
  assert.equal(r1.json.patient, alice.patient_id);
  // widening on refresh is refused
  const wide = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: r1.json.refresh_token, client_id: APP, scope: 'patient/*.cruds' });
  assert.equal(wide.json.error, 'invalid_scope');
  // (the refused refresh used r1's token; take a fresh one from a new grant for the reuse check)
  const g = flow();
  const c2 = await getCode(srv, patient, g.opts);
  const a0 = (await exchange(c2.code, g.p.verifier)).json;
  const a1 = (await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: a0.refresh_token, client_id: APP })).json;
  const reuse = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: a0.refresh_token, client_id: APP });
  assert.equal(reuse.status, 400);
  assert.equal(reuse.json.error, 'invalid_grant');
  assert.equal((await introspect(a1.access_token)).json.active, false, 'the rotated access token died too');
  const next = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: a1.refresh_token, client_id: APP });
  assert.equal(next.json.error, 'invalid_grant', 'and so did the newest refresh token');
  assert.ok(audited(`action='oauth.refresh' AND outcome='denied' AND detail='refresh-reused'`).length >= 1);
  assert.ok(audited(`action='oauth.refresh' AND outcome='success'`).length >= 1);
});

test('forged, malformed and alg:none bearer tokens are refused at /fhir and audited', async () => {
  const forged = randomBytes(32).toString('base64url');
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.`;
  for (const tok of [forged, none]) {
    const r = await raw(srv, 'GET', `/fhir/Patient/${alice.patient_id}`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(r.status, 401, r.text);
  }
  assert.ok(audited(`action='oauth.authenticate' AND detail='token-unknown'`).length >= 1);
  assert.ok(audited(`action='oauth.authenticate' AND detail='token-malformed'`).length >= 1);
});

test('revocation (RFC 7009) and the patient\'s connected apps end access at once', async () => {
  const { p, opts } = flow();
  const { code } = await getCode(srv, patient, opts);
  const t = (await exchange(code, p.verifier)).json;
  const read = await raw(srv, 'GET', `/fhir/Patient/${alice.patient_id}`, { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(read.status, 200, read.text);
  const rv = await form(srv, '/oauth/revoke', { token: t.access_token, client_id: APP });
  assert.equal(rv.status, 200);
  assert.equal((await introspect(t.access_token)).json.active, false);
  const after = await raw(srv, 'GET', `/fhir/Patient/${alice.patient_id}`, { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(after.status, 401);
  // connected apps
  const f2 = flow();
  const c2 = await getCode(srv, patient, f2.opts);
  const t2 = (await exchange(c2.code, f2.p.verifier)).json;
  const apps = await patient.get('/api/v1/apps');
  assert.equal(apps.status, 200);
  const mine = apps.json.apps.find((a) => a.client_id === APP);
  assert.ok(mine && mine.name === 'Demo Health Viewer' && mine.will_see.length > 0);
  const off = await patient.post(`/api/v1/apps/${APP}/revoke`, {});
  assert.equal(off.status, 200, off.text);
  assert.equal((await introspect(t2.access_token)).json.active, false);
  const rf = await form(srv, '/oauth/token', { grant_type: 'refresh_token', refresh_token: t2.refresh_token, client_id: APP });
  assert.equal(rf.json.error, 'invalid_grant');
  assert.equal((await patient.get('/api/v1/apps')).json.apps.length, 0);
  assert.ok(audited(`action='oauth.apps.revoke' AND outcome='success'`).length >= 1);
  assert.ok(audited(`action='oauth.revoke' AND detail='access-token'`).length >= 1);
});

test('client governance: IP not allowed, rate limit exceeded, suspended client', async () => {
  const ipOnly = registerClient(d.dir, ['--name', 'Office app', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'launch/patient patient/*.rs', '--ip-allow', '10.0.0.0/8, 2001:db8::/32']);
  const f1 = flow({ clientId: ipOnly });
  const c1 = await getCode(srv, patient, f1.opts);
  const t1 = await exchange(c1.code, f1.p.verifier, { client_id: ipOnly });
  assert.equal(t1.status, 403);
  assert.equal(t1.json.error, 'access_denied');
  assert.ok(audited(`actor='client:${ipOnly}' AND detail='ip-not-allowed'`).length >= 1);

  const slow = registerClient(d.dir, ['--name', 'Slow app', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'launch/patient patient/*.rs', '--rate-limit', '2']);
  const codes = [];
  for (let i = 0; i < 3; i++) { const f = flow({ clientId: slow }); codes.push([await getCode(srv, patient, f.opts), f.p]); }
  assert.equal((await exchange(codes[0][0].code, codes[0][1].verifier, { client_id: slow })).status, 200);
  assert.equal((await exchange(codes[1][0].code, codes[1][1].verifier, { client_id: slow })).status, 200);
  const limited = await exchange(codes[2][0].code, codes[2][1].verifier, { client_id: slow });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.ok(audited(`actor='client:${slow}' AND detail='rate-limited'`).length >= 1);

  const f3 = flow();
  const c3 = await getCode(srv, patient, f3.opts);
  const t3 = (await exchange(c3.code, f3.p.verifier)).json;
  const sus = registerClient(d.dir, ['--name', 'Soon suspended', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'patient/*.rs']);
  assert.equal(cli(['--data', d.dir, 'client', 'suspend', sus]).status, 0);
  const f4 = flow({ clientId: sus });
  const { r } = await startAuthorize(srv, f4.opts);
  assert.equal(new URL(r.headers.location).searchParams.get('error'), 'unauthorized_client');
  assert.equal(cli(['--data', d.dir, 'client', 'suspend', APP]).status, 0);
  const blocked = await raw(srv, 'GET', `/fhir/Patient/${alice.patient_id}`, { headers: { authorization: `Bearer ${t3.access_token}` } });
  assert.equal(blocked.status, 403, 'a suspended client\'s live token stops working');
  assert.ok(audited(`action='oauth.authenticate' AND detail='client-suspended'`).length >= 1);
  assert.equal(cli(['--data', d.dir, 'client', 'activate', APP]).status, 0);
  const list = JSON.parse(cli(['--data', d.dir, 'client', 'list', '--json']).stdout);
  assert.equal(list.find((c) => c.client_id === sus).status, 'suspended');
});

test('client add validates its input', () => {
  const bad = [
    ['--name', 'x', '--type', 'patient-app', '--redirect-uri', 'http://example.com/cb', '--scopes', 'patient/*.rs'],
    ['--name', 'x', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'patient/Observation.xyz'],
    ['--name', 'x', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'system/*.rs'],
    ['--name', 'x', '--type', 'backend', '--scopes', 'system/*.rs'],
    ['--name', 'x', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'patient/*.rs', '--ip-allow', '10.0.0.0/33'],
    ['--name', 'x', '--type', 'patient-app', '--redirect-uri', REDIRECT, '--scopes', 'patient/*.rs', '--baa-expires', '2026-13-01'],
  ];
  for (const args of bad) assert.notEqual(cli(['--data', d.dir, 'client', 'add', ...args]).status, 0, args.join(' '));
});
