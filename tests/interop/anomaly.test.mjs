// Bulk-read anomaly: a backend client that suddenly reads far more records than the configured
// threshold is flagged for review in the audit log and, with oauth.anomaly_suspend, suspended — its
// token stops working at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { makeData, startServer } from '../api/harness.mjs';
import { form, raw, registerClient, writeJwks, auditRows } from './smart.mjs';

let d, srv, key, client;
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
before(async () => {
  d = makeData({ demo: true, config: { 'oauth.anomaly_min_reads': 300, 'oauth.anomaly_suspend': 'true' } });
  key = await jose.generateKeyPair('ES384', { extractable: true });
  const jwks = writeJwks(d.dir, 'bulk', { keys: [{ ...(await jose.exportJWK(key.publicKey)), kid: 'k1', alg: 'ES384', use: 'sig' }] });
  client = registerClient(d.dir, ['--name', 'Bulk Reader', '--type', 'backend', '--scopes', 'system/Observation.rs',
    '--jwks', jwks, '--baa-vendor', 'Bulk Co', '--baa-expires', `${new Date().getUTCFullYear() + 1}-12-31`]);
  srv = await startServer(d.dir, { publicUrl: true });
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('a client reading far more than the threshold is flagged and suspended', async () => {
  const assertion = await new jose.SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
    .setIssuer(client).setSubject(client).setAudience(`${srv.publicUrl}/oauth/token`)
    .setIssuedAt().setExpirationTime('4m').sign(key.privateKey);
  const t = await form(srv, '/oauth/token', { grant_type: 'client_credentials', scope: 'system/Observation.rs',
    client_assertion_type: ASSERTION, client_assertion: assertion });
  assert.equal(t.status, 200, t.text);
  const auth = { authorization: `Bearer ${t.json.access_token}` };
  const patient = d.accounts.find((a) => a.role === 'patient').patient_id;
  const first = await raw(srv, 'GET', `/fhir/Observation?patient=${patient}&_count=200`, { headers: auth });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.entry.length, 200);
  assert.equal(auditRows(d.dir, "action='oauth.anomaly'").length, 0, 'below the threshold: no flag');
  const second = await raw(srv, 'GET', `/fhir/Observation?patient=${patient}&_count=200&_sort=date`, { headers: auth });
  assert.equal(second.status, 200, 'the request that crosses the threshold is still answered');
  const flags = auditRows(d.dir, `action='oauth.anomaly' AND actor='client:${client}'`);
  assert.equal(flags.length, 1);
  assert.match(flags[0], /suspended/);
  const after = await raw(srv, 'GET', `/fhir/Observation?patient=${patient}&_count=10`, { headers: auth });
  assert.equal(after.status, 403, 'a suspended client is refused at once');
});
