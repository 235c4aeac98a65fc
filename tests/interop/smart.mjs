// Helpers for the OAuth/SMART tests: PKCE, the authorize → consent → code dance driven the way the
// web UI drives it, form posts to the token endpoints, a fetch that trusts the dev certificate
// (for third-party clients), and client registration through the real CLI.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import { cli, sqlite } from '../api/harness.mjs';

export const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function pkce() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

export function registerClient(dir, args) {
  const r = cli(['--data', dir, 'client', 'add', '--json', ...args]);
  if (r.status !== 0) throw new Error(`client add failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).client_id;
}

export function writeJwks(dir, name, jwks) {
  const p = join(dir, '..', `${name}.jwks.json`);
  writeFileSync(p, JSON.stringify(jwks));
  return p;
}

// A fetch for Node clients: connects to 127.0.0.1 whatever the host name (the server binds
// loopback IPv4), verifies the dev certificate as "localhost".
export function trustingFetch(ca) {
  return (input, init = {}) => new Promise((resolve, reject) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers = {};
    const h = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
    h.forEach((v, k) => { headers[k] = v; });
    headers.host = url.host;
    const req = https.request({
      host: '127.0.0.1', port: url.port, path: url.pathname + url.search,
      method: init.method || 'GET', headers, ca, servername: url.hostname,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const rh = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) v.forEach((x) => rh.append(k, x)); else if (v !== undefined) rh.set(k, v);
        }
        const body = [204, 304].includes(res.statusCode) ? null : Buffer.concat(chunks);
        const resp = new Response(body, { status: res.statusCode, headers: rh });
        Object.defineProperty(resp, 'url', { value: url.href });
        resolve(resp);
      });
    });
    req.on('error', reject);
    if (init.body !== undefined && init.body !== null) req.write(typeof init.body === 'string' || Buffer.isBuffer(init.body) ? init.body : String(init.body));
    req.end();
  });
}

// raw HTTPS request to the server (no redirects followed)
export function raw(srv, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(srv.url + path, { method, headers, ca: srv.ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function form(srv, path, params, headers = {}) {
  return raw(srv, 'POST', path, {
    body: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

export function authorizeQuery(srv, { clientId, redirectUri, scope, state = 'st-' + b64url(randomBytes(6)), challenge, method = 'S256', aud, nonce, extra = {} }) {
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state, aud: aud ?? `${srv.publicUrl}/fhir` });
  if (challenge !== undefined) q.set('code_challenge', challenge);
  if (method !== undefined) q.set('code_challenge_method', method);
  if (nonce) q.set('nonce', nonce);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return { query: q.toString(), state };
}

// GET /oauth/authorize → the consent request id (from the redirect to the web UI)
export async function startAuthorize(srv, opts) {
  const { query, state } = authorizeQuery(srv, opts);
  const r = await raw(srv, 'GET', `/oauth/authorize?${query}`);
  return { r, state, requestId: r.status === 302 ? (r.headers.location.match(/^\/#\/authorize\/([A-Za-z0-9_-]+)$/) || [])[1] : undefined };
}

// full browser-side flow for a signed-in patient client: authorize, consent, approve → code
export async function getCode(srv, patient, opts) {
  const { r, state, requestId } = await startAuthorize(srv, opts);
  if (!requestId) throw new Error(`authorize ${r.status} ${r.headers.location || r.text}`);
  const consent = await patient.get(`/api/v1/oauth/requests/${requestId}`);
  if (consent.status !== 200) throw new Error(`consent ${consent.status} ${consent.text}`);
  const ok = await patient.post(`/api/v1/oauth/requests/${requestId}/approve`, opts.approve ?? {});
  if (ok.status !== 200) throw new Error(`approve ${ok.status} ${ok.text}`);
  const u = new URL(ok.json.redirect);
  return { code: u.searchParams.get('code'), state: u.searchParams.get('state'), expectedState: state, consent: consent.json, redirect: ok.json.redirect };
}

export function auditRows(dir, where) {
  return sqlite(join(dir, 'audit.db'), `SELECT action, outcome, actor, detail FROM audit_event WHERE ${where} ORDER BY seq`)
    .trim().split('\n').filter(Boolean);
}
