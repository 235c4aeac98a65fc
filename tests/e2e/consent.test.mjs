// The consent screen in real Chromium: a signed-in patient is sent by an app to /oauth/authorize,
// sees in plain words who is asking and what the app will see, allows it, and the browser lands on
// the app's redirect URI with a code that the app exchanges (PKCE) for a token that reads the
// record. Then the patient disconnects the app on "Connected apps" and the token stops working at
// once. A staff member's EHR launch shows the staff wording. axe-core finds nothing on either view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, signIn } from '../api/harness.mjs';
import { pkce, form, registerClient, writeJwks } from '../interop/smart.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';
import * as jose from 'jose';

const APP = 'demo-patient-app';
const REDIRECT = 'http://127.0.0.1:8765/callback';
let d, srv, alice, aliceAccount, browser;

before(async () => {
  d = makeData();
  srv = await startServer(d.dir, { publicUrl: true });
  aliceAccount = d.accounts.find((a) => a.username === 'demo.patient1');
  alice = await signIn(srv, aliceAccount);
  browser = await openBrowser();
  // the app's redirect URI: answered by the test, which records where the browser was sent
  await browser.context.route('http://127.0.0.1:8765/**', (route) => route.fulfill({
    status: 200, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>app</title><p>back in the app</p></html>',
  }));
});
after(async () => { await browser?.close(); await srv?.stop(); d?.cleanup(); });

function authorizeUrl(clientId, redirect, scope, challenge, extra = {}) {
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirect, scope,
    state: 'st-' + Math.random().toString(36).slice(2), aud: `${srv.publicUrl}/fhir`, code_challenge: challenge,
    code_challenge_method: 'S256', ...extra });
  return `${srv.publicUrl}/oauth/authorize?${q}`;
}

test('a patient allows an app in the browser; the app gets a working token; disconnecting ends it', async () => {
  const { page, context, problems } = browser;
  await adoptSession(context, srv.publicUrl, alice);
  const p = pkce();
  await page.goto(authorizeUrl(APP, REDIRECT, 'launch/patient openid fhirUser patient/Observation.rs patient/Patient.rs', p.challenge));
  await page.getByRole('heading', { level: 1, name: /Allow .* to see your health record\?/ }).waitFor();
  const text = await page.locator('.view-consent').innerText();
  assert.match(text, /Your lab results|lab/i, 'plain-language lines for what the app will see');
  assert.doesNotMatch(text, /patient\/Observation\.rs/, 'no raw scope strings on the screen');
  await expectAccessible(page, 'consent view');
  await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:8765\/callback\?/), page.getByRole('button', { name: 'Allow access' }).click()]);
  const back = new URL(page.url());
  assert.ok(back.searchParams.get('code'));
  const tok = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code: back.searchParams.get('code'),
    redirect_uri: REDIRECT, client_id: APP, code_verifier: p.verifier });
  assert.equal(tok.status, 200, tok.text);
  assert.equal(tok.json.patient, aliceAccount.patient_id);
  const bearer = { authorization: `Bearer ${tok.json.access_token}` };
  assert.equal((await alice.get(`/fhir/Patient/${aliceAccount.patient_id}`, { headers: bearer })).status, 200);

  // Connected apps: the app is listed in plain words; disconnecting it ends the token at once
  await page.goto(`${srv.publicUrl}/#/apps`);
  const disconnect = page.getByRole('button', { name: /^Disconnect / });
  await disconnect.first().waitFor();
  await expectAccessible(page, 'connected apps view');
  await disconnect.first().click();
  await page.getByRole('status').filter({ hasText: 'was disconnected' }).waitFor();
  const after = await alice.get(`/fhir/Patient/${aliceAccount.patient_id}`, { headers: bearer });
  assert.equal(after.status, 401, 'the revoked token is refused at once');
  assert.deepEqual(problems, []);
});

test('a patient denies: the app gets access_denied and no code', async () => {
  const { page } = browser;
  const p = pkce();
  await page.goto(authorizeUrl(APP, REDIRECT, 'launch/patient patient/*.rs', p.challenge));
  await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:8765\/callback\?/), page.getByRole('button', { name: 'Deny' }).click()]);
  const back = new URL(page.url());
  assert.equal(back.searchParams.get('error'), 'access_denied');
  assert.equal(back.searchParams.get('code'), null);
});

test('a clinician\'s EHR launch shows the staff wording and passes axe', async () => {
  const key = await jose.generateKeyPair('ES384', { extractable: true });
  const pub = { ...(await jose.exportJWK(key.publicKey)), alg: 'ES384', kid: 'k1', use: 'sig' };
  const redirect = 'http://127.0.0.1:8765/ehr-callback';
  const app = registerClient(d.dir, ['--name', 'Growth Charts', '--type', 'confidential', '--redirect-uri', redirect,
    '--launch-uri', 'http://127.0.0.1:8765/launch', '--jwks', writeJwks(d.dir, 'charts', { keys: [pub] }),
    '--scopes', 'launch user/*.rs', '--baa-vendor', 'Charts Inc', '--baa-expires', `${new Date().getUTCFullYear() + 1}-12-31`]);
  const clinician = await signIn(srv, d.accounts.find((a) => a.username === 'demo.clinician'));
  const l = await clinician.post(`/api/v1/patients/${aliceAccount.patient_id}/launch`, { client_id: app });
  assert.equal(l.status, 200, l.text);
  const staff = await openBrowser();
  try {
    await adoptSession(staff.context, srv.publicUrl, clinician);
    const p = pkce();
    await staff.page.goto(authorizeUrl(app, redirect, 'launch user/*.rs', p.challenge, { launch: new URL(l.json.launch_url).searchParams.get('launch') }));
    await staff.page.getByRole('heading', { level: 1, name: 'Open Growth Charts for this patient?' }).waitFor();
    assert.match(await staff.page.locator('.view-consent').innerText(), /under your name/);
    await expectAccessible(staff.page, 'EHR-launch consent view');
    assert.deepEqual(staff.problems, []);
  } finally {
    await staff.close();
  }
});
