// SMART Backend Services with the client's keys at a jwks_uri: the server fetches the JWKS over
// HTTPS from a loopback server whose certificate (made here with certtool) is trusted through
// oauth.jwks_ca_file, caches it, picks up a rotated key (new kid) at once, and refuses — with
// invalid_client and an audit record — a jwks_uri that is unreachable, too large, redirecting,
// not HTTPS, serving no usable keys, or whose certificate does not match its host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import * as jose from 'jose';
import { makeData, startServer, cli, sqlite, freePort } from '../api/harness.mjs';
import { form, registerClient, auditRows } from './smart.mjs';

const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const futureYear = new Date().getUTCFullYear() + 2;
let tmp, d, srv, jwksSrv, base, tokenUrl, key1, key2;
let served;            // the JWKS the loopback server publishes at /jwks
const hits = {};       // path -> number of requests
const ids = {};

// a CA and a server certificate for 127.0.0.1 (no DNS name: "localhost" does not match it)
function makeCerts(dir) {
  const run = (args) => execFileSync('certtool', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const f = (n) => join(dir, n);
  writeFileSync(f('ca.tmpl'), 'cn = phiportal test CA\nca\ncert_signing_key\nexpiration_days = 2\n');
  writeFileSync(f('srv.tmpl'), 'cn = 127.0.0.1\nip_address = 127.0.0.1\nexpiration_days = 2\ntls_www_server\nsigning_key\n');
  run(['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', f('ca.key')]);
  run(['--generate-self-signed', '--load-privkey', f('ca.key'), '--template', f('ca.tmpl'), '--outfile', f('ca.pem')]);
  run(['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', f('srv.key')]);
  run(['--generate-certificate', '--load-privkey', f('srv.key'), '--load-ca-certificate', f('ca.pem'),
    '--load-ca-privkey', f('ca.key'), '--template', f('srv.tmpl'), '--outfile', f('srv.pem')]);
  return { ca: f('ca.pem'), key: readFileSync(f('srv.key')), cert: readFileSync(f('srv.pem')) };
}

async function publicJwk(k, kid) {
  return { ...(await jose.exportJWK(k.publicKey)), kid, alg: 'RS384', use: 'sig' };
}

function handler(req, res) {
  const path = new URL(req.url, 'https://x').pathname;
  hits[path] = (hits[path] || 0) + 1;
  const big = JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) });
  switch (path) {
    case '/jwks': res.writeHead(200, { 'content-type': 'application/json' }); return res.end(JSON.stringify(served));
    case '/big': res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) }); return res.end(big);
    case '/big-chunked': // no Content-Length: the size cap must hold while reading
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < big.length; i += 16384) res.write(big.slice(i, i + 16384));
      return res.end();
    case '/redirect': res.writeHead(302, { location: '/jwks' }); return res.end();
    case '/not-jwks': res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"hello":"world"}');
    case '/gone': res.writeHead(404); return res.end();
    default: res.writeHead(404); return res.end();
  }
}

const register = (name, uri) => registerClient(d.dir, ['--name', name, '--type', 'backend',
  '--scopes', 'system/Observation.rs', '--jwks-uri', uri, '--baa-vendor', 'Acme Labs Inc',
  '--baa-expires', `${futureYear}-12-31`]);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pp-jwks-'));
  const certs = makeCerts(tmp);
  key1 = await jose.generateKeyPair('RS384', { extractable: true });
  key2 = await jose.generateKeyPair('RS384', { extractable: true });
  served = { keys: [await publicJwk(key1, 'k1')] };
  jwksSrv = https.createServer({ key: certs.key, cert: certs.cert }, handler);
  await new Promise((resolve) => jwksSrv.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${jwksSrv.address().port}`;
  const closed = await freePort();
  d = makeData({ demo: true, config: { 'oauth.jwks_ca_file': certs.ca } });
  ids.lab = register('Lab by URL', `${base}/jwks`);
  ids.down = register('Unreachable', `https://127.0.0.1:${closed}/jwks`);
  ids.big = register('Oversized', `${base}/big`);
  ids.chunked = register('Oversized chunked', `${base}/big-chunked`);
  ids.redirect = register('Redirects', `${base}/redirect`);
  ids.notJwks = register('Not a JWKS', `${base}/not-jwks`);
  ids.gone = register('404', `${base}/gone`);
  ids.wrongHost = register('Wrong host', `https://localhost:${jwksSrv.address().port}/jwks`);
  ids.plain = register('Plain HTTP', `${base}/jwks`);
  // a registry row from before the CLI check (or edited by hand): refused at token time too
  sqlite(join(d.dir, 'phiportal.db'), `UPDATE oauth_client SET jwks_uri='http://127.0.0.1:${jwksSrv.address().port}/jwks' WHERE client_id='${ids.plain}'`);
  srv = await startServer(d.dir, { publicUrl: true });
  tokenUrl = `${srv.publicUrl}/oauth/token`;
});
after(async () => {
  await srv?.stop();
  d?.cleanup();
  await new Promise((resolve) => (jwksSrv ? jwksSrv.close(resolve) : resolve()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function assertion(clientId, { key = key1.privateKey, kid = 'k1' } = {}) {
  return new jose.SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'RS384', kid, typ: 'JWT' })
    .setIssuer(clientId).setSubject(clientId).setAudience(tokenUrl).setIssuedAt()
    .setExpirationTime('4m').sign(key);
}
const tokenRequest = async (clientId, opts) => form(srv, '/oauth/token', {
  grant_type: 'client_credentials', scope: 'system/Observation.rs',
  client_assertion_type: ASSERTION, client_assertion: await assertion(clientId, opts),
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('the CLI accepts only https:// jwks_uris, and not together with --jwks', () => {
  const args = ['--data', d.dir, 'client', 'add', '--name', 'x', '--type', 'backend', '--scopes', 'system/Observation.rs'];
  for (const bad of ['http://127.0.0.1/jwks', 'ftp://example.org/jwks', 'https://', 'https://a b/jwks', 'https://example.org/jwks#k']) {
    const r = cli([...args, '--jwks-uri', bad]);
    assert.notEqual(r.status, 0, bad);
    assert.match(r.stderr, /--jwks-uri must be an https:\/\/ URL/, bad);
  }
  const jwksFile = join(tmp, 'k.jwks.json');
  writeFileSync(jwksFile, JSON.stringify(served));
  const both = cli([...args, '--jwks-uri', `${base}/jwks`, '--jwks', jwksFile]);
  assert.notEqual(both.status, 0);
  assert.match(both.stderr, /not both/);
  const listed = JSON.parse(cli(['--data', d.dir, 'client', 'list', '--json']).stdout);
  assert.equal(listed.find((c) => c.client_id === ids.lab).jwks_uri, `${base}/jwks`);
});

test('a token with a key from the jwks_uri; the set is fetched once and cached', async () => {
  const r = await tokenRequest(ids.lab);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.scope, 'system/Observation.rs');
  assert.equal(hits['/jwks'], 1);
  const again = await tokenRequest(ids.lab);
  assert.equal(again.status, 200, again.text);
  assert.equal(hits['/jwks'], 1, 'the second assertion is checked against the cached set');
  // a key that is not in the set (same kid) is refused
  const forged = await tokenRequest(ids.lab, { key: key2.privateKey });
  assert.equal(forged.status, 401);
  assert.equal(forged.json.error, 'invalid_client');
  assert.ok(auditRows(d.dir, `actor='client:${ids.lab}' AND outcome='denied' AND detail='assertion-signature'`).length >= 1);
  assert.equal(hits['/jwks'], 1, 'a known kid does not trigger a refetch');
});

test('key rotation: a new kid is fetched at once; the retired key stops working', async () => {
  served = { keys: [await publicJwk(key2, 'k2')] };
  await sleep(1100);   // refetches are spaced at least a second apart per client
  const before = hits['/jwks'];
  const r = await tokenRequest(ids.lab, { key: key2.privateKey, kid: 'k2' });
  assert.equal(r.status, 200, r.text);
  assert.equal(hits['/jwks'], before + 1, 'an unknown kid refetches the set once');
  const again = await tokenRequest(ids.lab, { key: key2.privateKey, kid: 'k2' });
  assert.equal(again.status, 200, again.text);
  assert.equal(hits['/jwks'], before + 1);
  // the old key is gone from the refreshed set (a refetch within the second is not made)
  const old = await tokenRequest(ids.lab, { key: key1.privateKey, kid: 'k1' });
  assert.equal(old.status, 401, old.text);
  assert.equal(old.json.error, 'invalid_client');
  assert.equal(hits['/jwks'], before + 1, 'unknown kids cannot make the server hammer the jwks_uri');
  assert.ok(auditRows(d.dir, `actor='client:${ids.lab}' AND action='oauth.token' AND outcome='success'`).length >= 4);
});

test('unusable jwks_uris are invalid_client, audited, and leave no response content in the log', async () => {
  const cases = [
    [ids.down, 'jwks-fetch-failed'],
    [ids.big, 'jwks-too-large'],
    [ids.chunked, 'jwks-too-large'],
    [ids.redirect, 'jwks-fetch-failed'],
    [ids.gone, 'jwks-fetch-failed'],
    [ids.notJwks, 'jwks-invalid'],
    [ids.wrongHost, 'jwks-fetch-failed'],
    [ids.plain, 'jwks-uri-not-https'],
  ];
  const jwksHits = hits['/jwks'] || 0;
  for (const [id, why] of cases) {
    const r = await tokenRequest(id);
    assert.equal(r.status, 401, `${why}: ${r.text}`);
    assert.equal(r.json.error, 'invalid_client', why);
    assert.match(r.json.error_description, /jwks_uri/, why);
    assert.equal(auditRows(d.dir, `actor='client:${id}' AND action='oauth.token' AND outcome='denied' AND detail='${why}'`).length, 1, `${why} audited`);
  }
  assert.equal(hits['/redirect'], 1, 'redirects are not followed');
  assert.equal(hits['/jwks'] || 0, jwksHits, 'no request reached /jwks: the wrong host failed TLS verification, http:// was not tried');
  assert.equal(hits['/big-chunked'], 1);
  // nothing from the responses reaches the log; the wrong host failed TLS verification
  assert.doesNotMatch(srv.log(), /hello|xxxxxxxx|"kty"/);
  assert.match(srv.log(), /jwks_uri of client/);
  if (process.env.PP_SHOWLOG) console.error(srv.log());
  // a failed fetch is not cached as success: the unreachable client is still refused
  assert.equal((await tokenRequest(ids.down)).json.error, 'invalid_client');
});
