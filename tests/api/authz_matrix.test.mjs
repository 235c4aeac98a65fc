// The authorization matrix: for every role (and the two kinds of app token) × every endpoint that
// reaches patient data × every kind of target (the caller's own record, a related patient, an
// unrelated patient, a proxy's patient, an adolescent's sensitive data), the expected decision comes
// from the table below; the real server is called and any mismatch fails the test. A denied answer
// must also not carry the target's data. The number of cases tried is printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import { makeData, startServer, signIn, sqlite, cli } from './harness.mjs';
import { getCode, pkce, form, registerClient, writeJwks } from '../interop/smart.mjs';

let d, srv;
const who = {};        // role → client (session or bearer)
const target = {};     // own, related, unrelated, proxied, sensitive → ids
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

// ---- the expected decisions ----
// relation of each caller to each target patient
const RELATION = {
  patient: { own: 'own', related: 'none', unrelated: 'none', proxied: 'none' },
  proxy: { own: 'none', related: 'none', unrelated: 'none', proxied: 'proxy' },
  clinician: { own: 'care', related: 'care', unrelated: 'none', proxied: 'care' },
  // billing staff: each demo patient has a conversation with the "Billing" pool (demographics only)
  nurse: {}, front_desk: {}, billing: { own: 'pool', related: 'pool', unrelated: 'pool' },
  privacy_officer: {}, security_admin: {}, admin: {},
  'patient-app': { own: 'own', related: 'none', unrelated: 'none', proxied: 'none' },
  backend: { own: 'system', related: 'system', unrelated: 'system', proxied: 'system' },
};
// endpoints: path builder, and which relations it allows; sensitive: the adolescent's sensitive
// Condition (visible to her care team and, never, to a parent)
const ENDPOINTS = [
  { name: 'portal summary', path: (t) => `/api/v1/patients/${t}/summary`, allow: ['own', 'care', 'proxy'], session: true },
  { name: 'FHIR Patient read', path: (t) => `/fhir/Patient/${t}`, allow: ['own', 'care', 'proxy', 'system', 'pool'] },
  { name: 'FHIR Immunization search', path: (t) => `/fhir/Immunization?patient=${t}`, allow: ['own', 'care', 'proxy', 'system'] },
  { name: 'FHIR Condition search', path: (t) => `/fhir/Condition?patient=${t}`, allow: ['own', 'care', 'proxy', 'system'] },
  { name: 'FHIR Observation search', path: (t) => `/fhir/Observation?patient=${t}&_count=5`, allow: ['own', 'care', 'proxy', 'system'] },
  { name: 'launch an app from the chart', path: (t) => `/api/v1/patients/${t}/launch`, method: 'POST', body: () => ({ client_id: target.chartApp }), allow: ['care'], roles: ['clinician', 'nurse'], session: true },
];
const SENSITIVE = { name: 'FHIR read of the sensitive Condition', path: () => `/fhir/Condition/${target.sensitive}`, allow: ['care', 'system'] };
const STAFF_ONLY = [
  { name: 'break-glass review queue', path: () => '/api/v1/privacy/break-glass', roles: ['privacy_officer'], session: true },
  { name: 'my patients', path: () => '/api/v1/staff/patients', roles: ['clinician', 'nurse', 'front_desk', 'billing', 'privacy_officer', 'security_admin', 'admin'], session: true },
];

before(async () => {
  d = makeData();
  // an adolescent with a sensitive Condition and a parent with proxy access
  const now = new Date();
  const born = new Date(Date.UTC(now.getUTCFullYear() - 13, now.getUTCMonth(), now.getUTCDate()) - 40 * 86400000).toISOString().slice(0, 10);
  const file = join(d.base, 'teen.ndjson');
  writeFileSync(file, [
    { resourceType: 'Patient', id: 'm-teen', name: [{ family: 'Matrix', given: ['Teen'] }], gender: 'female', birthDate: born },
    { resourceType: 'Condition', id: 'm-teen-c1', subject: { reference: 'Patient/m-teen' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '80583007' }], text: 'Severe anxiety (panic)' } },
    { resourceType: 'Immunization', id: 'm-teen-i1', status: 'completed', patient: { reference: 'Patient/m-teen' }, occurrenceDateTime: '2024-09-01', vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140' }] } },
  ].map((x) => JSON.stringify(x)).join('\n') + '\n');
  assert.equal(cli(['--data', d.dir, 'import', file]).status, 0);
  const acct = (u) => d.accounts.find((a) => a.username === u);
  target.own = acct('demo.patient1').patient_id;        // the patient's own; also on demo.clinician's care team
  target.related = acct('demo.patient2').patient_id;    // on demo.clinician's care team
  target.unrelated = acct('demo.patient3').patient_id;  // nobody's
  target.proxied = sqlite(join(d.dir, 'phiportal.db'), "SELECT pub_id FROM resource WHERE type='Patient' ORDER BY last_updated_ms DESC LIMIT 1").trim();
  assert.equal(cli(['--data', d.dir, 'careteam', 'add', '--username', 'demo.clinician', '--patient', target.proxied]).status, 0);
  const add = cli(['--data', d.dir, 'user', 'add', '--username', 'm.parent', '--role', 'proxy']);
  const parent = { username: 'm.parent', password: add.stdout.match(/password \(shown once\): (\S+)/)[1] };
  // the organisation's chart app (for the EHR-launch endpoint) and a backend service
  const key = await jose.generateKeyPair('ES384', { extractable: true });
  const jwks = writeJwks(d.dir, 'm', { keys: [{ ...(await jose.exportJWK(key.publicKey)), alg: 'ES384', kid: 'm1', use: 'sig' }] });
  const year = new Date().getUTCFullYear() + 1;
  target.chartApp = registerClient(d.dir, ['--name', 'Chart app', '--type', 'confidential', '--redirect-uri', 'http://127.0.0.1:9/cb', '--launch-uri', 'http://127.0.0.1:9/launch', '--jwks', jwks, '--scopes', 'launch user/*.rs', '--baa-vendor', 'V', '--baa-expires', `${year}-12-31`]);
  const backend = registerClient(d.dir, ['--name', 'Lab', '--type', 'backend', '--jwks', jwks, '--scopes', 'system/*.rs', '--baa-vendor', 'V', '--baa-expires', `${year}-12-31`]);
  srv = await startServer(d.dir, { publicUrl: true });
  for (const [role, u] of [['patient', 'demo.patient1'], ['clinician', 'demo.clinician'], ['nurse', 'demo.nurse'], ['front_desk', 'demo.frontdesk'], ['billing', 'demo.billing'], ['privacy_officer', 'demo.privacy'], ['admin', 'demo.admin']])
    who[role] = await signIn(srv, acct(u));
  const sec = cli(['--data', d.dir, 'user', 'add', '--username', 'm.security', '--role', 'security_admin']);
  who.security_admin = await signIn(srv, { username: 'm.security', password: sec.stdout.match(/password \(shown once\): (\S+)/)[1] });
  assert.equal((await who.front_desk.post(`/api/v1/patients/${target.proxied}/proxies`, { username: 'm.parent', relationship: 'parent' })).status, 201);
  who.proxy = await signIn(srv, parent);
  // one conversation per demo patient with the "Billing" pool
  const pools = (await who.patient.get('/api/v1/messages/pools')).json.pools;
  const reyes = pools.find((x) => x.name === 'Billing').id;
  target.threads = {};
  for (const [kind, u] of [['own', 'demo.patient1'], ['related', 'demo.patient2'], ['unrelated', 'demo.patient3']]) {
    const c = kind === 'own' ? who.patient : await signIn(srv, acct(u));
    const t = await c.post('/api/v1/messages/threads', { pool_id: reyes, kind: 'text', subject: 'matrix', body: 'matrix message' });
    assert.equal(t.status, 201, t.text);
    target.threads[kind] = t.json.id;
  }
  // the sensitive Condition's id, as her care team sees it
  const conds = await who.clinician.get(`/fhir/Condition?patient=${target.proxied}`);
  target.sensitive = conds.json.entry.find((e) => e.resource.code.coding[0].code === '80583007').resource.id;
  // app tokens: the patient's own app (patient/*.rs) and a backend service (system/*.rs)
  const p = pkce();
  const { code } = await getCode(srv, who.patient, { clientId: 'demo-patient-app', redirectUri: 'http://127.0.0.1:8765/callback', scope: 'launch/patient patient/*.rs', challenge: p.challenge });
  const t1 = await form(srv, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:8765/callback', client_id: 'demo-patient-app', code_verifier: p.verifier });
  who['patient-app'] = { bearer: t1.json.access_token };
  const assertion = await new jose.SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES384', kid: 'm1' })
    .setIssuer(backend).setSubject(backend).setAudience(`${srv.publicUrl}/oauth/token`).setIssuedAt().setExpirationTime('4m').sign(key.privateKey);
  const t2 = await form(srv, '/oauth/token', { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: ASSERTION, client_assertion: assertion });
  assert.equal(t2.status, 200, t2.text);
  who.backend = { bearer: t2.json.access_token };
});
after(async () => { await srv?.stop(); d?.cleanup(); });

async function call(role, ep, t) {
  const c = who[role];
  const method = ep.method || 'GET';
  if (c.bearer) {
    if (ep.session) return null;   // a session-only endpoint: not reachable with a token at all
    return who.patient.request(method, ep.path(t), { headers: { authorization: `Bearer ${c.bearer}` }, json: ep.body?.() });
  }
  return c.request(method, ep.path(t), { json: ep.body?.() });
}

function allowed(ep, role, rel) {
  if (ep.roles && !ep.roles.includes(role)) return false;
  return ep.allow.includes(rel);
}

test('authorization matrix: every role × endpoint × target decides as the table says', async () => {
  let tried = 0;
  const failures = [];
  const roles = Object.keys(RELATION);
  for (const role of roles) {
    for (const [kind, t] of Object.entries({ own: target.own, related: target.related, unrelated: target.unrelated, proxied: target.proxied })) {
      const rel = RELATION[role][kind] || 'none';
      for (const ep of ENDPOINTS) {
        const r = await call(role, ep, t);
        if (!r) continue;
        tried++;
        const want = allowed(ep, role, rel);
        const got = r.status >= 200 && r.status < 300;
        if (want !== got) failures.push(`${role} → ${ep.name} (${kind}): expected ${want ? 'allow' : 'deny'}, got ${r.status}`);
        if (!want && [403, 404, 401].indexOf(r.status) < 0) failures.push(`${role} → ${ep.name} (${kind}): a denial answered ${r.status}`);
        if (!want && r.text.includes('"birthDate"')) failures.push(`${role} → ${ep.name} (${kind}): a denial carried data`);
      }
    }
    // the adolescent's sensitive Condition: her care team (and a backend service) yes; her parent never
    const rel = RELATION[role].proxied || 'none';
    const r = await call(role, SENSITIVE, null);
    if (r) {
      tried++;
      const want = allowed(SENSITIVE, role, rel);
      const got = r.status === 200;
      if (want !== got) failures.push(`${role} → ${SENSITIVE.name}: expected ${want ? 'allow' : 'deny'}, got ${r.status}`);
      if (!want && r.text.includes('80583007')) failures.push(`${role} → ${SENSITIVE.name}: the denial leaked the code`);
    }
    for (const ep of STAFF_ONLY) {
      const s = await call(role, ep, null);
      if (!s) continue;
      tried++;
      const want = ep.roles.includes(role);
      if (want !== (s.status === 200)) failures.push(`${role} → ${ep.name}: expected ${want ? 'allow' : 'deny'}, got ${s.status}`);
    }
  }
  // message threads (one per demo patient, with the "Billing" pool): the patient and the pool's
  // member (demo.billing) read them; nobody else, whatever their relationship (the care team too)
  for (const [kind, th] of Object.entries(target.threads)) {
    for (const role of roles) {
      const r = await call(role, { path: () => `/api/v1/messages/threads/${th}`, session: true }, null);
      if (!r) continue;
      tried++;
      const want = (role === 'patient' && kind === 'own') || role === 'billing';
      if (want !== (r.status === 200)) failures.push(`${role} → message thread (${kind}): expected ${want ? 'allow' : 'deny'}, got ${r.status}`);
      if (!want && r.text.includes('matrix message')) failures.push(`${role} → message thread (${kind}): a denial carried the text`);
    }
  }
  // a parent's searches never return the sensitive Condition, whatever the search
  for (const path of [`/fhir/Condition?patient=${target.proxied}`, `/fhir/Condition?patient=${target.proxied}&code=80583007`, `/api/v1/patients/${target.proxied}/summary`]) {
    tried++;
    const r = await who.proxy.get(path);
    const shown = r.json?.resourceType === 'Bundle' ? JSON.stringify((r.json.entry || []).map((e) => e.resource)) : r.text;
    if (r.status === 200 && shown.includes('80583007')) failures.push(`proxy search ${path} returned the sensitive Condition`);
    if (r.status === 200 && r.json?.resourceType === 'Bundle' && path.includes('code=') && r.json.total !== 0) failures.push(`proxy search ${path} counted the hidden Condition`);
  }
  console.log(`authorization matrix: ${tried} cases tried, ${failures.length} mismatches`);
  assert.deepEqual(failures, [], failures.join('\n'));
  assert.ok(tried >= 200, `at least 200 cases (${tried})`);
});
