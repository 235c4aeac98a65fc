// The npm `fhirclient` library (SMART's own JavaScript client, Node adapter) completes a standalone
// patient launch with PKCE against the server, then reads the patient and their Observations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import dns from 'node:dns';
import { createRequire } from 'node:module';
import { makeData, startServer, signIn } from '../api/harness.mjs';
import { raw } from './smart.mjs';

const require = createRequire(import.meta.url);
const smart = require('fhirclient');

const APP = 'demo-patient-app';
const REDIRECT = 'http://127.0.0.1:8765/callback';
let d, srv, alice, patient;

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  alice = d.accounts.find((a) => a.username === 'demo.patient1');
  patient = await signIn(srv, alice);
  // fhirclient fetches through Node's default HTTPS agent: trust the dev certificate and send
  // "localhost" to the loopback address the server listens on
  https.globalAgent.options.ca = srv.ca;
  https.globalAgent.options.lookup = (host, opts, cb) => dns.lookup(host === 'localhost' ? '127.0.0.1' : host, opts, cb);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

// the app's own web server is simulated: fhirclient only needs request/response objects
function appRequest(url) {
  return { url, method: 'GET', headers: { host: '127.0.0.1:8765', 'x-forwarded-proto': 'http' }, connection: {}, socket: {} };
}
function appResponse() {
  return { location: null, writeHead(status, headers) { this.status = status; this.location = headers.Location || headers.location; }, end() {} };
}
function memoryStorage() {
  const m = new Map();
  return { get: async (k) => m.get(k), set: async (k, v) => { m.set(k, v); return v; }, unset: async (k) => m.delete(k) };
}

test('fhirclient: standalone launch with PKCE, then reads the patient and their lab results', async () => {
  const storage = memoryStorage();
  const res1 = appResponse();
  await smart(appRequest('/launch'), res1, storage).authorize({
    iss: `${srv.publicUrl}/fhir`, clientId: APP, redirectUri: REDIRECT, pkceMode: 'required',
    scope: 'launch/patient openid fhirUser patient/*.rs',
  });
  assert.equal(res1.status, 302);
  const authUrl = new URL(res1.location);
  assert.equal(authUrl.origin + authUrl.pathname, `${srv.publicUrl}/oauth/authorize`);
  assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authUrl.searchParams.get('aud'), `${srv.publicUrl}/fhir`);

  // the browser: the server parks the request and shows the consent view; the patient allows it
  const r = await raw(srv, 'GET', authUrl.pathname + authUrl.search);
  assert.equal(r.status, 302, r.text);
  const id = r.headers.location.match(/^\/#\/authorize\/(.+)$/)[1];
  const ok = await patient.post(`/api/v1/oauth/requests/${id}/approve`, {});
  assert.equal(ok.status, 200, ok.text);
  const back = new URL(ok.json.redirect);

  const client = await smart(appRequest(back.pathname + back.search), appResponse(), storage).ready();
  assert.equal(client.patient.id, alice.patient_id);
  assert.equal(client.getFhirUser(), `Patient/${alice.patient_id}`);
  const p = await client.patient.read();
  assert.equal(p.resourceType, 'Patient');
  assert.equal(p.id, alice.patient_id);
  const bundle = await client.request(`Observation?patient=${alice.patient_id}&category=laboratory&_count=5`);
  assert.equal(bundle.resourceType, 'Bundle');
  assert.ok(bundle.entry && bundle.entry.length > 0, 'lab Observations');
  for (const e of bundle.entry) assert.equal(e.resource.subject.reference, `Patient/${alice.patient_id}`);
});
