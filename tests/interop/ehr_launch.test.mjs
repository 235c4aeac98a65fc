// SMART EHR launch: a clinician opens an organisation's app (a confidential client with a BAA and a
// registered launch URL) from a patient's chart; the unmodified npm `fhirclient` library takes the
// launch (iss + launch), authorizes with PKCE and private_key_jwt (ES384), and reads the chart's
// patient. Every later request is still decided by policy/ for the clinician: a patient outside
// their care team stays out of reach. Launches are single-use, bound to the app and to the person
// who started them, and short-lived; staff without a relationship cannot start one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import dns from 'node:dns';
import { createRequire } from 'node:module';
import * as jose from 'jose';
import { makeData, startServer, signIn } from '../api/harness.mjs';
import { raw, registerClient, writeJwks, auditRows, startAuthorize, pkce } from './smart.mjs';

const require = createRequire(import.meta.url);
const smart = require('fhirclient');

const REDIRECT = 'http://127.0.0.1:8766/callback';
const LAUNCH = 'http://127.0.0.1:8766/launch';
const futureYear = new Date().getUTCFullYear() + 2;
let d, srv, app, appNoLaunch, privateJwk, clinician, nurse, related, unrelated, alice;

before(async () => {
  d = makeData();
  const key = await jose.generateKeyPair('ES384', { extractable: true });
  privateJwk = { ...(await jose.exportJWK(key.privateKey)), alg: 'ES384', kid: 'chart-app-1' };
  const pub = { ...(await jose.exportJWK(key.publicKey)), alg: 'ES384', kid: 'chart-app-1', use: 'sig' };
  const jwks = writeJwks(d.dir, 'chart-app', { keys: [pub] });
  const common = ['--type', 'confidential', '--redirect-uri', REDIRECT, '--jwks', jwks,
    '--scopes', 'launch openid fhirUser profile user/*.rs patient/*.rs', '--owner', 'Clinic IT',
    '--purpose', 'growth charts', '--baa-vendor', 'Charts Inc', '--baa-expires', `${futureYear}-12-31`];
  app = registerClient(d.dir, ['--name', 'Growth Charts', ...common, '--launch-uri', LAUNCH]);
  appNoLaunch = registerClient(d.dir, ['--name', 'No Launch URL', ...common]);
  srv = await startServer(d.dir, { publicUrl: true });
  clinician = await signIn(srv, d.accounts.find((a) => a.username === 'demo.clinician'));
  nurse = await signIn(srv, d.accounts.find((a) => a.username === 'demo.nurse'));
  alice = await signIn(srv, d.accounts.find((a) => a.username === 'demo.patient1'));
  related = d.accounts.find((a) => a.username === 'demo.patient1').patient_id;
  unrelated = d.accounts.find((a) => a.username === 'demo.patient3').patient_id;
  https.globalAgent.options.ca = srv.ca;
  https.globalAgent.options.lookup = (host, opts, cb) => dns.lookup(host === 'localhost' ? '127.0.0.1' : host, opts, cb);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

function appRequest(url) {
  return { url, method: 'GET', headers: { host: '127.0.0.1:8766', 'x-forwarded-proto': 'http' }, connection: {}, socket: {} };
}
function appResponse() {
  return { location: null, writeHead(status, headers) { this.status = status; this.location = headers.Location || headers.location; }, end() {} };
}
function memoryStorage() {
  const m = new Map();
  return { get: async (k) => m.get(k), set: async (k, v) => { m.set(k, v); return v; }, unset: async (k) => m.delete(k) };
}
const audited = (where) => auditRows(d.dir, where);

test('EHR launch: fhirclient takes the launch from a chart, authorizes as the clinician, reads the patient', async () => {
  const l = await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: app });
  assert.equal(l.status, 200, l.text);
  const launchUrl = new URL(l.json.launch_url);
  assert.equal(launchUrl.origin + launchUrl.pathname, LAUNCH);
  assert.equal(launchUrl.searchParams.get('iss'), `${srv.publicUrl}/fhir`);
  assert.ok(!l.json.launch_url.includes(related), 'the launch URL carries no patient id');

  const storage = memoryStorage();
  const res1 = appResponse();
  await smart(appRequest(launchUrl.pathname + launchUrl.search), res1, storage).authorize({
    clientId: app, redirectUri: REDIRECT, pkceMode: 'required', clientPrivateJwk: privateJwk,
    scope: 'launch openid fhirUser user/*.rs patient/*.rs',
  });
  assert.equal(res1.status, 302);
  const authUrl = new URL(res1.location);
  assert.equal(authUrl.searchParams.get('launch'), launchUrl.searchParams.get('launch'));

  const r = await raw(srv, 'GET', authUrl.pathname + authUrl.search);
  assert.equal(r.status, 302, r.text);
  const id = r.headers.location.match(/^\/#\/authorize\/(.+)$/)[1];
  // the request belongs to the clinician who launched: not to a patient, not to another staff member
  assert.equal((await alice.get(`/api/v1/oauth/requests/${id}`)).status, 404);
  assert.equal((await nurse.get(`/api/v1/oauth/requests/${id}`)).status, 404);
  const consent = await clinician.get(`/api/v1/oauth/requests/${id}`);
  assert.equal(consent.status, 200, consent.text);
  assert.equal(consent.json.ehr_launch, true);
  const ok = await clinician.post(`/api/v1/oauth/requests/${id}/approve`, {});
  assert.equal(ok.status, 200, ok.text);
  const back = new URL(ok.json.redirect);

  const client = await smart(appRequest(back.pathname + back.search), appResponse(), storage).ready();
  assert.equal(client.patient.id, related, 'the chart\'s patient is the launch context');
  assert.equal(client.state.tokenResponse.need_patient_banner, false);
  const p = await client.patient.read();
  assert.equal(p.resourceType, 'Patient');
  assert.equal(p.id, related);
  const conds = await client.request(`Condition?patient=${related}&_count=5`);
  assert.equal(conds.resourceType, 'Bundle');
  // the ID token names the clinician, not the patient
  const idt = jose.decodeJwt(client.state.tokenResponse.id_token);
  assert.notEqual(idt.fhirUser, `${srv.publicUrl}/fhir/Patient/${related}`);
  assert.ok(audited(`action='oauth.launch' AND outcome='success' AND patient='${related}'`).length === 1);
  // the patient's access history names the app and the clinician who used it
  const hist = await alice.get('/api/v1/me/access-history');
  assert.ok(hist.json.items.some((x) => x.who === 'Growth Charts, used by demo.clinician' && x.via === 'app' && x.role === 'Clinician'), hist.text);
  // the patient compartment holds: another patient is out of reach, even one on the care team
  const other = d.accounts.find((a) => a.username === 'demo.patient2').patient_id;
  await assert.rejects(client.request(`Patient/${other}`), /404|Not Found|not found/i);

  // the launch was used once: a second authorize with it is refused
  const p2 = pkce();
  const again = await startAuthorize(srv, { clientId: app, redirectUri: REDIRECT, scope: 'launch user/*.rs', challenge: p2.challenge, extra: { launch: authUrl.searchParams.get('launch') } });
  assert.equal(again.r.status, 302);
  assert.equal(new URL(again.r.headers.location).searchParams.get('error'), 'invalid_request');
  assert.ok(audited(`action='oauth.authorize' AND outcome='denied' AND detail='launch-used'`).length >= 1);
});

test('EHR launch with user/ scopes: policy still decides per request (care team yes, stranger no)', async () => {
  const l = await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: app });
  const launch = new URL(l.json.launch_url).searchParams.get('launch');
  const storage = memoryStorage();
  const res1 = appResponse();
  await smart(appRequest(`/launch?iss=${encodeURIComponent(`${srv.publicUrl}/fhir`)}&launch=${launch}`), res1, storage).authorize({
    clientId: app, redirectUri: REDIRECT, pkceMode: 'required', clientPrivateJwk: privateJwk, scope: 'launch openid user/*.rs',
  });
  const r = await raw(srv, 'GET', new URL(res1.location).pathname + new URL(res1.location).search);
  const id = r.headers.location.match(/^\/#\/authorize\/(.+)$/)[1];
  const ok = await clinician.post(`/api/v1/oauth/requests/${id}/approve`, {});
  const back = new URL(ok.json.redirect);
  const client = await smart(appRequest(back.pathname + back.search), appResponse(), storage).ready();
  const other = d.accounts.find((a) => a.username === 'demo.patient2').patient_id;
  const p = await client.request(`Patient/${other}`);
  assert.equal(p.id, other, 'a care-team patient is reachable with user/ scopes');
  await assert.rejects(client.request(`Patient/${unrelated}`), /404|Not Found|not found/i);
  assert.ok(audited(`action='read' AND outcome='denied' AND patient='${unrelated}'`).length >= 1
    || audited(`outcome='denied' AND patient='${unrelated}'`).length >= 1, 'the refused read is audited');
});

test('launch refusals: stranger patient, patients, app without launch URL; foreign launches, missing launch scope', async () => {
  // no relationship → 404, audited
  const s = await clinician.post(`/api/v1/patients/${unrelated}/launch`, { client_id: app });
  assert.equal(s.status, 404);
  assert.ok(audited(`action='oauth.launch' AND outcome='denied' AND patient='${unrelated}'`).length >= 1);
  // a patient cannot start an EHR launch, not even on their own record
  assert.equal((await alice.post(`/api/v1/patients/${related}/launch`, { client_id: app })).status, 404);
  // an app without a launch URL, an unknown app
  assert.equal((await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: appNoLaunch })).json.error.code, 'not_launchable');
  assert.equal((await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: 'nope' })).status, 400);
  // CSRF is required
  assert.equal((await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: app }, { headers: { 'x-csrf-token': 'x' } })).status, 403);

  const l = await clinician.post(`/api/v1/patients/${related}/launch`, { client_id: app });
  const launch = new URL(l.json.launch_url).searchParams.get('launch');
  const p = pkce();
  // bound to the app it was made for
  let a = await startAuthorize(srv, { clientId: appNoLaunch, redirectUri: REDIRECT, scope: 'launch user/*.rs', challenge: p.challenge, extra: { launch } });
  assert.equal(new URL(a.r.headers.location).searchParams.get('error'), 'invalid_request');
  assert.ok(audited(`action='oauth.authorize' AND detail='launch-other-client'`).length >= 1);
  // the launch scope is required with a launch
  a = await startAuthorize(srv, { clientId: app, redirectUri: REDIRECT, scope: 'user/*.rs', challenge: p.challenge, extra: { launch } });
  assert.ok(audited(`action='oauth.authorize' AND detail='launch-scope-missing'`).length >= 1);
});
