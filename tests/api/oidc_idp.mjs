// A real OpenID provider for tests: the npm package oidc-provider (v9), served over HTTPS on loopback
// with a certificate made here by certtool (a throwaway CA; phiportal trusts it through sso.ca_file),
// and a minimal login interaction of our own: a plain HTML form (login + password) that an HTTP
// client can submit and Playwright can fill. Consent is granted automatically for the one client.
//
//   const idp = await startIdp({ accounts: { alice: { password: 'pw', claims: { email: 'a@x' } } } });
//   idp.configure({ redirectUris: ['https://localhost:8443/api/v1/auth/sso/callback'] });
//   ... idp.issuer, idp.caFile, idp.clientId, idp.secretFile (0600), idp.rotateKeys(), idp.stop()
//
// amr / acr: what the login step asserts (idp.configure({ amr: ['pwd', 'otp'] })). tokenHook: an
// async function (idToken, { sign }) => idToken that may rewrite the ID token the token endpoint
// returns (tests of tampered or re-signed tokens); sign(claims, { alg }) signs with the IdP's key.
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import Provider from 'oidc-provider';

function makeCerts(dir) {
  const run = (args) => execFileSync('certtool', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const f = (n) => join(dir, n);
  writeFileSync(f('ca.tmpl'), 'cn = phiportal test IdP CA\nca\ncert_signing_key\nexpiration_days = 2\n');
  writeFileSync(f('srv.tmpl'), 'cn = 127.0.0.1\nip_address = 127.0.0.1\ndns_name = localhost\nexpiration_days = 2\ntls_www_server\nsigning_key\n');
  run(['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', f('ca.key')]);
  run(['--generate-self-signed', '--load-privkey', f('ca.key'), '--template', f('ca.tmpl'), '--outfile', f('ca.pem')]);
  run(['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', f('srv.key')]);
  run(['--generate-certificate', '--load-privkey', f('srv.key'), '--load-ca-certificate', f('ca.pem'),
    '--load-ca-privkey', f('ca.key'), '--template', f('srv.tmpl'), '--outfile', f('srv.pem')]);
  return { caFile: f('ca.pem'), key: readFileSync(f('srv.key')), cert: readFileSync(f('srv.pem')) };
}

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><main><h1>Organisation sign-in</h1>
${error ? `<p role="alert" id="idp-error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="login">Username</label> <input id="login" name="login" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit" id="idp-submit">Sign in</button>
</form></main></body></html>`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startIdp({ accounts = {}, amr = ['pwd'], acr, clientId = 'phiportal',
  clientSecret = randomBytes(24).toString('base64url'), redirectUris = [],
  authMethod = 'client_secret_basic' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pp-idp-'));
  const { caFile, key, cert } = makeCerts(dir);
  const secretFile = join(dir, 'client_secret');
  writeFileSync(secretFile, clientSecret + '\n');
  chmodSync(secretFile, 0o600);

  const state = { amr, acr, redirectUris, keys: [await newSigningKey()], tokenHook: null, logins: 0, tokens: 0, jwksHits: 0 };
  let provider = null;
  let issuer = null;

  function build() {
    provider = new Provider(issuer, {
      clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: state.redirectUris.length ? state.redirectUris : ['https://localhost/unset'],
        response_types: ['code'], grant_types: ['authorization_code'], token_endpoint_auth_method: authMethod }],
      jwks: { keys: state.keys },
      cookies: { keys: [randomBytes(16).toString('hex')] },
      claims: { acr: null, amr: null, auth_time: null, sid: null, iss: null, openid: ['sub', 'amr', 'acr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name'] },
      conformIdTokenClaims: false,   // scope claims (email) in the ID token itself
      features: { devInteractions: { enabled: false } },
      pkce: { required: () => true },
      interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
      findAccount: (ctx, id) => (accounts[id] ? { accountId: id, claims: () => ({ sub: id, ...accounts[id].claims }) } : undefined),
      // the one client is first-party: consent is given as the user signs in
      loadExistingGrant: async (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId) return undefined;
        const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (existing) { const g = await ctx.oidc.provider.Grant.find(existing); if (g) return g; }
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId });
        grant.addOIDCScope('openid email profile');
        await grant.save();
        return grant;
      },
    });
    provider.on('server_error', (ctx, err) => { process.stderr.write(`oidc-provider: ${err.stack}\n`); });
  }

  async function sign(claims, { alg = 'RS256', key: k } = {}) {
    const jwk = k || state.keys[0];
    if (alg.startsWith('HS')) return new jose.SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid }).sign(randomBytes(32));
    const priv = await jose.importJWK(jwk, 'RS256');
    return new jose.SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' }).sign(priv);
  }

  async function handler(req, res) {
    const url = new URL(req.url, issuer);
    try {
      let m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
      if (m && req.method === 'GET') {
        await provider.interactionDetails(req, res);   // 400s on an unknown interaction
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(loginPage(m[1]));
      }
      m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)\/login$/);
      if (m && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const login = form.get('login') || '', password = form.get('password') || '';
        await provider.interactionDetails(req, res);
        if (!accounts[login] || accounts[login].password !== password) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return res.end(loginPage(m[1], 'Wrong username or password'));
        }
        state.logins++;
        const result = { login: { accountId: login, amr: state.amr } };
        if (state.acr) result.login.acr = state.acr;
        return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      }
      if (url.pathname.endsWith('/jwks')) state.jwksHits++;
      if (url.pathname.endsWith('/token') && req.method === 'POST') {
        state.tokens++;
        if (state.tokenHook) {
          const hook = state.tokenHook;
          const end = res.end.bind(res);
          res.end = (body, ...rest) => {
            let doc;
            try { doc = JSON.parse(String(body)); } catch { return end(body, ...rest); }
            Promise.resolve(doc.id_token ? hook(doc.id_token, { sign, decode: jose.decodeJwt }) : doc.id_token).then((t) => {
              if (t !== undefined) doc.id_token = t;
              const out = JSON.stringify(doc);
              if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(out));
              end(out);
            }, (e) => { process.stderr.write(`tokenHook: ${e.stack}\n`); end(body); });
            return res;
          };
        }
      }
      return provider.callback()(req, res);
    } catch (e) {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`idp error: ${e.message}`);
    }
  }

  const server = https.createServer({ key, cert }, handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `https://127.0.0.1:${server.address().port}`;
  build();

  return {
    issuer, caFile, clientId, clientSecret, secretFile,
    stats: state,
    // new redirect URIs / amr / acr / tokenHook (rebuilds the provider; sign-ins in progress end)
    configure({ redirectUris, amr: a, acr: c, tokenHook } = {}) {
      if (a !== undefined) state.amr = a;
      if (c !== undefined) state.acr = c;
      if (tokenHook !== undefined) state.tokenHook = tokenHook;
      if (redirectUris !== undefined) { state.redirectUris = redirectUris; build(); }
    },
    // a new signing key (new kid) replaces the old one, as at a key rotation
    async rotateKeys() { state.keys = [await newSigningKey()]; build(); },
    sign,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => { rmSync(dir, { recursive: true, force: true }); resolve(); });
    }),
  };
}
