// TLS policy and security headers of a running server, seen from a real TLS client (Node/OpenSSL).
// PP_URL=https://127.0.0.1:PORT points at a running server; without it the test starts one with
// the harness (fresh data directory, no demo data). PP_CA (a PEM file) is used to verify the server
// when given; otherwise the certificate is not verified (this test is about protocol versions,
// cipher suites and headers, the other suites verify the certificate).
//
// A refusal only means something if the client really offered the old protocol or the CBC suites,
// so each refusal is paired with a control: the same client options against a local Node TLS server
// that accepts them (certificate from GnuTLS's certtool).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import https from 'node:https';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let target;            // { host, port, ca }
let srv, data;         // when started here
let control, controlDir;

const OLD = { ciphers: 'DEFAULT:@SECLEVEL=0' };
const CBC_ONLY = [
  'ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA',
  'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384', 'AES128-SHA', 'AES256-SHA',
  'AES128-SHA256', 'AES256-SHA256',
].join(':');

function handshake(host, port, opts, ca) {
  return new Promise((resolve) => {
    const s = tls.connect({
      host, port, servername: 'localhost',
      ...(ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
      ...opts,
    });
    const timer = setTimeout(() => { s.destroy(); resolve({ ok: false, code: 'TIMEOUT' }); }, 10000);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const r = { ok: true, protocol: s.getProtocol(), cipher: s.getCipher() };
      s.end();
      resolve(r);
    });
    s.once('error', (e) => { clearTimeout(timer); resolve({ ok: false, code: e.code, message: e.message }); });
  });
}

const toServer = (opts) => handshake(target.host, target.port, opts, target.ca);
const toControl = (opts) => handshake('127.0.0.1', control.address().port, opts);

function get(path) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: target.host, port: target.port, path, method: 'GET', servername: 'localhost',
      ...(target.ca ? { ca: target.ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (process.env.PP_URL) {
    const u = new URL(process.env.PP_URL);
    assert.equal(u.protocol, 'https:');
    target = { host: u.hostname, port: Number(u.port || 443), ca: process.env.PP_CA ? readFileSync(process.env.PP_CA) : null };
  } else {
    const { makeData, startServer } = await import('./harness.mjs');
    data = makeData({ demo: false });
    srv = await startServer(data.dir);
    target = { host: '127.0.0.1', port: srv.port, ca: srv.ca };
  }
  // the control server: accepts everything the refused offers contain
  controlDir = mkdtempSync(join(tmpdir(), 'pp-tls-control-'));
  const key = join(controlDir, 'key.pem'), cert = join(controlDir, 'cert.pem'), tmpl = join(controlDir, 'tmpl');
  execFileSync('certtool', ['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', key], { stdio: 'ignore' });
  writeFileSync(tmpl, 'cn = localhost\ndns_name = localhost\nexpiration_days = 2\ntls_www_server\nsigning_key\n');
  execFileSync('certtool', ['--generate-self-signed', '--load-privkey', key, '--template', tmpl, '--outfile', cert], { stdio: 'ignore' });
  control = tls.createServer({
    key: readFileSync(key), cert: readFileSync(cert), minVersion: 'TLSv1', maxVersion: 'TLSv1.3',
    ciphers: 'ALL:@SECLEVEL=0',
  }, (s) => s.end());
  control.on('tlsClientError', () => {});
  await new Promise((r) => control.listen(0, '127.0.0.1', r));
});

after(async () => {
  control?.close();
  if (controlDir) rmSync(controlDir, { recursive: true, force: true });
  await srv?.stop();
  data?.cleanup();
});

for (const v of ['TLSv1', 'TLSv1.1']) {
  test(`${v} handshake is refused`, async () => {
    const opts = { minVersion: v, maxVersion: v, ...OLD };
    const c = await toControl(opts);
    assert.ok(c.ok, `control: the client must be able to speak ${v} (${c.code} ${c.message})`);
    assert.equal(c.protocol, v);
    const r = await toServer(opts);
    assert.equal(r.ok, false, `the server accepted ${v}`);
  });
}

for (const v of ['TLSv1.2', 'TLSv1.3']) {
  test(`${v} handshake succeeds with an AEAD suite`, async () => {
    const r = await toServer({ minVersion: v, maxVersion: v });
    assert.ok(r.ok, `${v} refused: ${r.code} ${r.message}`);
    assert.equal(r.protocol, v);
    assert.match(r.cipher.standardName, /_GCM_|CHACHA20_POLY1305/);
  });
}

test('a CBC-only offer at TLS 1.2 is refused', async () => {
  const opts = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: CBC_ONLY };
  const c = await toControl(opts);
  assert.ok(c.ok, `control: ${c.code} ${c.message}`);
  assert.match(c.cipher.standardName, /_CBC_/);
  const r = await toServer(opts);
  assert.equal(r.ok, false, `the server accepted ${r.cipher?.standardName}`);
});

test('a non-ECDHE (static RSA) offer at TLS 1.2 is refused', async () => {
  const r = await toServer({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:AES256-GCM-SHA384' });
  assert.equal(r.ok, false);
});

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function checkSecurityHeaders(h) {
  assert.match(h['strict-transport-security'], /^max-age=\d+; includeSubDomains$/);
  assert.ok(Number(/max-age=(\d+)/.exec(h['strict-transport-security'])[1]) >= 31536000);
  assert.equal(h['content-security-policy'], CSP);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['cross-origin-opener-policy'], 'same-origin');
  assert.match(h['permissions-policy'], /camera=\(\)/);
  assert.match(h['permissions-policy'], /microphone=\(\)/);
  assert.match(h['permissions-policy'], /geolocation=\(\)/);
  assert.match(h['x-request-id'], /^[0-9a-f]{32}$/);
}

test('security headers on / (static UI)', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/html/);
  checkSecurityHeaders(r.headers);
  assert.equal(r.headers['cache-control'], 'no-cache');
});

test('security headers on /healthz, no-store, distinct request ids', async () => {
  const a = await get('/healthz');
  const b = await get('/healthz');
  assert.equal(a.status, 200);
  assert.deepEqual(JSON.parse(a.body), { status: 'ok' });
  checkSecurityHeaders(a.headers);
  assert.equal(a.headers['cache-control'], 'no-store');
  assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
});

test('unknown API route: 404 JSON error with the headers', async () => {
  const r = await get('/api/v1/no-such-route');
  assert.equal(r.status, 404);
  checkSecurityHeaders(r.headers);
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(JSON.parse(r.body).error.code, 'not_found');
});
