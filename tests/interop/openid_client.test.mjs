// An unmodified third-party OpenID Connect client (openid-client 6) against the server:
// discovery, authorization code flow with PKCE and nonce, ID-token validation (signature from
// /jwks, iss, aud, exp, nonce), refresh (with a new ID token when the grant had openid),
// introspection and revocation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import * as jose from 'jose';
import { makeData, startServer, signIn, setConfig } from '../api/harness.mjs';
import { trustingFetch, raw } from './smart.mjs';

const APP = 'demo-patient-app';
const REDIRECT = 'http://127.0.0.1:8765/callback';
let d, srv, alice, patient, config;

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  alice = d.accounts.find((a) => a.username === 'demo.patient1');
  patient = await signIn(srv, alice);
  config = await oidc.discovery(new URL(srv.publicUrl), APP, { redirect_uris: [REDIRECT] }, oidc.None(),
    { [oidc.customFetch]: trustingFetch(srv.ca) });
  config[oidc.customFetch] = trustingFetch(srv.ca);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

// the browser part: follow /oauth/authorize to the consent view and approve as the patient
async function browserApproves(url) {
  const r = await raw(srv, 'GET', url.pathname + url.search);
  assert.equal(r.status, 302, r.text);
  const id = r.headers.location.match(/^\/#\/authorize\/(.+)$/)[1];
  const ok = await patient.post(`/api/v1/oauth/requests/${id}/approve`, {});
  assert.equal(ok.status, 200, ok.text);
  return new URL(ok.json.redirect);
}

async function login(scope = 'openid fhirUser launch/patient offline_access patient/*.rs') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = scope.split(' ').includes('openid') ? oidc.randomNonce() : undefined;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope, state, ...(nonce ? { nonce } : {}), aud: `${srv.publicUrl}/fhir`,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const callback = await browserApproves(url);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, ...(nonce ? { expectedNonce: nonce } : {}) });
  return { tokens, nonce };
}

test('discovery finds the endpoints', () => {
  const m = config.serverMetadata();
  assert.equal(m.issuer, srv.publicUrl);
  assert.equal(m.token_endpoint, `${srv.publicUrl}/oauth/token`);
  assert.ok(m.supportsPKCE());
});

test('code flow: the ID token validates (RS256) and names the patient as fhirUser', async () => {
  const { tokens, nonce } = await login();
  const claims = tokens.claims();
  assert.equal(claims.iss, srv.publicUrl);
  assert.equal(claims.aud, APP);
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.fhirUser, `${srv.publicUrl}/fhir/Patient/${alice.patient_id}`);
  assert.equal(tokens.patient, alice.patient_id);
  // independent check of the signature against /jwks with jose
  const jwks = jose.createLocalJWKSet((await raw(srv, 'GET', '/jwks')).json);
  const { protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, { issuer: srv.publicUrl, audience: APP });
  assert.equal(protectedHeader.alg, 'RS256');
  // a tampered ID token does not verify
  const [h, p, s] = tokens.id_token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: '999' })).toString('base64url');
  await assert.rejects(jose.jwtVerify(`${h}.${forged}.${s}`, jwks));
});

test('refresh through openid-client: rotated tokens and a validated ID token', async () => {
  const { tokens } = await login();
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
  // the grant had openid: the refresh brings a new ID token, which openid-client validated
  // (iss, aud, exp, iat) and which matches the original (OIDC Core 12.2: same iss, sub, aud; no
  // nonce, since none was sent)
  assert.ok(refreshed.id_token && refreshed.id_token !== tokens.id_token, 'refresh returns an ID token');
  const before = tokens.claims(), after = refreshed.claims();
  assert.equal(after.iss, before.iss);
  assert.equal(after.sub, before.sub);
  assert.equal(after.aud, APP);
  assert.equal(after.nonce, undefined);
  assert.equal(after.fhirUser, before.fhirUser);
  assert.ok(after.iat >= before.iat && after.exp > Math.floor(Date.now() / 1000));
  const jwks = jose.createLocalJWKSet((await raw(srv, 'GET', '/jwks')).json);
  await jose.jwtVerify(refreshed.id_token, jwks, { issuer: srv.publicUrl, audience: APP });
  // rotation and reuse detection still hold: the first refresh token is spent, and replaying it
  // ends the whole grant, including the refreshed tokens
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === 'invalid_grant');
  assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false,
    'reuse of a rotated refresh token revokes the family');
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant');
});

test('refresh of a grant without openid brings no ID token', async () => {
  const { tokens } = await login('launch/patient offline_access patient/*.rs');
  assert.equal(tokens.id_token, undefined);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token);
  assert.equal(refreshed.id_token, undefined);
});

test('introspection and revocation through openid-client', async () => {
  const { tokens } = await login();
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  const info = await oidc.tokenIntrospection(config, refreshed.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, APP);
  assert.equal(info.patient, alice.patient_id);
  await oidc.tokenRevocation(config, refreshed.refresh_token);
  assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false,
    'revoking the refresh token ends the grant');
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant');
});

test('ES256 ID tokens when configured', async () => {
  await srv.stop();
  setConfig(d.dir, { 'oauth.id_token_alg': 'ES256' });
  srv = await startServer(d.dir, { publicUrl: true });
  patient = await signIn(srv, alice);
  const fetch = trustingFetch(srv.ca);
  config = await oidc.discovery(new URL(srv.publicUrl), APP, { redirect_uris: [REDIRECT], id_token_signed_response_alg: 'ES256' }, oidc.None(), { [oidc.customFetch]: fetch });
  config[oidc.customFetch] = fetch;
  const { tokens } = await login('openid fhirUser launch/patient patient/*.rs');
  assert.equal(JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg, 'ES256');
  assert.equal(tokens.claims().fhirUser, `${srv.publicUrl}/fhir/Patient/${alice.patient_id}`);
});
