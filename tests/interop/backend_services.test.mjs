// SMART Backend Services: a client that signs its assertion with `jose` (RS384 and ES384) gets a
// system/ token with client_credentials + private_key_jwt; replayed, expired, far-future, wrongly
// addressed, forged and alg:none assertions are refused, and so are clients whose BAA is missing or
// expired — each with its OAuth error and an audit record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { makeData, startServer, cli } from '../api/harness.mjs';
import { form, raw, registerClient, writeJwks, auditRows } from './smart.mjs';

let d, srv, tokenUrl, rsKey, esKey, otherKey, lab, labEs, noBaa, oldBaa;
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const futureYear = new Date().getUTCFullYear() + 2;

async function publicJwk(key, kid, alg) {
  return { ...(await jose.exportJWK(key.publicKey)), kid, alg, use: 'sig' };
}

before(async () => {
  d = makeData({ demo: true });
  rsKey = await jose.generateKeyPair('RS384', { extractable: true });
  esKey = await jose.generateKeyPair('ES384', { extractable: true });
  otherKey = await jose.generateKeyPair('RS384', { extractable: true });
  const rsFile = writeJwks(d.dir, 'lab', { keys: [await publicJwk(rsKey, 'lab-1', 'RS384')] });
  const esFile = writeJwks(d.dir, 'lab-es', { keys: [await publicJwk(esKey, 'lab-es-1', 'ES384')] });
  const common = ['--type', 'backend', '--scopes', 'system/Observation.rs system/Patient.rs', '--owner', 'Acme Labs', '--purpose', 'results delivery'];
  lab = registerClient(d.dir, ['--name', 'Acme Lab', ...common, '--jwks', rsFile, '--baa-vendor', 'Acme Labs Inc', '--baa-signed', '2024-01-01', '--baa-expires', `${futureYear}-12-31`]);
  labEs = registerClient(d.dir, ['--name', 'Acme Lab ES', ...common, '--jwks', esFile, '--baa-vendor', 'Acme Labs Inc', '--baa-expires', `${futureYear}-12-31`]);
  noBaa = registerClient(d.dir, ['--name', 'No BAA', ...common, '--jwks', rsFile]);
  oldBaa = registerClient(d.dir, ['--name', 'Old BAA', ...common, '--jwks', rsFile, '--baa-vendor', 'Old Co', '--baa-expires', '2020-01-01']);
  srv = await startServer(d.dir, { publicUrl: true });
  tokenUrl = `${srv.publicUrl}/oauth/token`;
});
after(async () => { await srv?.stop(); d?.cleanup(); });

async function assertion(clientId, { key = rsKey.privateKey, alg = 'RS384', kid = 'lab-1', exp = '4m', aud = tokenUrl, jti = randomUUID(), iss = clientId } = {}) {
  return new jose.SignJWT({ jti })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(iss).setSubject(clientId).setAudience(aud).setIssuedAt()
    .setExpirationTime(exp).sign(key);
}
const tokenRequest = (clientAssertion, scope = 'system/Observation.rs') => form(srv, '/oauth/token', {
  grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION, client_assertion: clientAssertion,
});
const audited = (where) => auditRows(d.dir, where);

test('client_credentials with an RS384 assertion gives a short-lived system/ token', async () => {
  const r = await tokenRequest(await assertion(lab), 'system/Observation.rs system/*.cruds');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.expires_in, 300);
  assert.equal(r.json.scope, 'system/Observation.rs system/Patient.rs', 'requested ∩ registered');
  assert.equal(r.json.refresh_token, undefined);
  assert.equal(r.json.id_token, undefined);
  const info = await form(srv, '/oauth/introspect', { token: r.json.access_token, client_assertion_type: ASSERTION, client_assertion: await assertion(lab) });
  assert.equal(info.json.active, true);
  assert.equal(info.json.scope, 'system/Observation.rs system/Patient.rs');
  assert.ok(audited(`actor='client:${lab}' AND action='oauth.token' AND outcome='success'`).length >= 1);
});

test('ES384 assertions work too', async () => {
  const r = await tokenRequest(await assertion(labEs, { key: esKey.privateKey, alg: 'ES384', kid: 'lab-es-1' }));
  assert.equal(r.status, 200, r.text);
});

test('bad assertions are invalid_client and audited', async () => {
  const now = Math.floor(Date.now() / 1000);
  const replayed = await assertion(lab);
  assert.equal((await tokenRequest(replayed)).status, 200);
  const unsigned = new jose.UnsecuredJWT({ jti: randomUUID() }).setIssuer(lab).setSubject(lab).setAudience(tokenUrl).setExpirationTime('4m').encode();
  const cases = [
    [replayed, 'assertion-replayed'],
    [await assertion(lab, { exp: now - 10 }), 'assertion-expired'],
    [await assertion(lab, { exp: now + 3600 }), 'assertion-exp-too-far'],
    [await assertion(lab, { aud: `${srv.publicUrl}/fhir` }), 'assertion-aud'],
    [await assertion(lab, { key: otherKey.privateKey }), 'assertion-signature'],
    [await assertion(lab, { key: (await jose.generateKeyPair('RS256')).privateKey, alg: 'RS256' }), 'assertion-alg'],
    [unsigned, 'assertion-malformed'],
  ];
  for (const [a, why] of cases) {
    const r = await tokenRequest(a);
    assert.equal(r.status, 401, `${why}: ${r.text}`);
    assert.equal(r.json.error, 'invalid_client', why);
    assert.ok(audited(`actor='client:${lab}' AND outcome='denied' AND detail='${why}'`).length >= 1 ||
              audited(`outcome='denied' AND detail='${why}'`).length >= 1, why);
  }
  // the assertion names the client: a client_id that disagrees is refused
  const mismatch = await form(srv, '/oauth/token', { grant_type: 'client_credentials', scope: 'system/Observation.rs', client_id: labEs, client_assertion_type: ASSERTION, client_assertion: await assertion(lab) });
  assert.equal(mismatch.json.error, 'invalid_client');
  // a backend client cannot authenticate as a public client
  const publicTry = await form(srv, '/oauth/token', { grant_type: 'client_credentials', scope: 'system/Observation.rs', client_id: lab });
  assert.equal(publicTry.json.error, 'invalid_client');
});

test('scope escalation: unregistered system scopes are invalid_scope', async () => {
  const r = await tokenRequest(await assertion(lab), 'system/Condition.rs');
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_scope');
  const p = await tokenRequest(await assertion(lab), 'patient/*.rs');
  assert.equal(p.json.error, 'invalid_scope');
});

test('no BAA on file, or an expired one: no token', async () => {
  for (const [id, why] of [[noBaa, 'baa-missing'], [oldBaa, 'baa-expired']]) {
    const r = await tokenRequest(await assertion(id));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'unauthorized_client');
    assert.match(r.json.error_description, /Business Associate Agreement/);
    assert.ok(audited(`actor='client:${id}' AND outcome='denied' AND detail='${why}'`).length >= 1, why);
  }
});

test('a system/ token reads through /fhir, and stops working once revoked', async () => {
  const t = (await tokenRequest(await assertion(lab))).json;
  const r = await raw(srv, 'GET', '/fhir/Observation?_count=1', { headers: { authorization: `Bearer ${t.access_token}`, accept: 'application/fhir+json' } });
  assert.equal(r.status, 200, r.text);
  const rv = await form(srv, '/oauth/revoke', { token: t.access_token, client_assertion_type: ASSERTION, client_assertion: await assertion(lab) });
  assert.equal(rv.status, 200);
  const after = await raw(srv, 'GET', '/fhir/Observation?_count=1', { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(after.status, 401);
});

test('a backend service must register its keys, by value (--jwks) or by URL (--jwks-uri)', () => {
  const r = cli(['--data', d.dir, 'client', 'add', '--name', 'Keyless', '--type', 'backend', '--scopes', 'system/Observation.rs']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /need --jwks or --jwks-uri/);
  const bad = cli(['--data', d.dir, 'client', 'add', '--name', 'Plain', '--type', 'backend', '--scopes', 'system/Observation.rs', '--jwks-uri', 'http://keys.example.org/jwks']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--jwks-uri must be an https:\/\/ URL/);
});
