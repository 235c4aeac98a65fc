// Test harness for black-box tests: makes data directories with the real CLI, starts the real
// server on a free loopback port, and talks HTTPS to it (verifying the dev certificate).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import net from 'node:net';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.PP_BIN || join(ROOT, 'build', 'phiportal');
export const FIXTURES = process.env.PP_FIXTURES || join(ROOT, 'demo', 'synthea-10');

// Under `make asan` a sanitizer report anywhere (CLI or server) fails the test that caused it.
const SANITIZER = /ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:/;
export function sanitizerCheck(text, what) {
  if (SANITIZER.test(text)) throw new Error(`sanitizer report from ${what}:\n${text.slice(-4000)}`);
}

export function cli(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', input: opts.input, env: { ...process.env, ...opts.env }, timeout: 300000 });
  sanitizerCheck(r.stderr || '', `phiportal ${args.join(' ')}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A fresh data directory. demo: run init --demo and return the demo accounts.
export function makeData({ demo = true, config = {} } = {}) {
  const base = mkdtempSync(join(tmpdir(), 'pp-test-'));
  const dir = join(base, 'data');
  const r = cli(['--data', dir, 'init', ...(demo ? ['--demo', '--json'] : [])]);
  if (r.status !== 0) throw new Error(`init failed (${r.status}): ${r.stderr}`);
  const accounts = demo ? JSON.parse(r.stdout).accounts : [];
  setConfig(dir, config);
  return { base, dir, accounts, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

// later lines override earlier ones in phiportal.conf
export function setConfig(dir, config) {
  const lines = Object.entries(config).map(([k, v]) => `${k} = ${v}\n`).join('');
  if (lines) appendFileSync(join(dir, 'phiportal.conf'), lines);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// publicUrl: set server.public_url to https://localhost:<port> (OAuth issuer, FHIR base URL)
// clockOffsetDays: run the server with its wall clock moved by that many days (Debian's
// libfaketime, preloaded; monotonic clocks stay real). signIn computes TOTP codes for that clock.
export const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
// an AddressSanitizer build (make asan): libfaketime cannot be preloaded under its runtime, so
// tests skip what needs the server's clock moved (the unit tests cover those paths with the
// injectable clock)
export const ASAN_BUILD = spawnSync('grep', ['-q', '__asan_init', BIN]).status === 0;
export async function startServer(dir, { extraArgs = [], publicUrl = false, clockOffsetDays = 0 } = {}) {
  const port = await freePort();
  if (publicUrl) setConfig(dir, { 'server.public_url': `https://localhost:${port}` });
  const env = { ...process.env };
  if (clockOffsetDays) {
    Object.assign(env, { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `${clockOffsetDays >= 0 ? '+' : ''}${clockOffsetDays}d`,
      FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_DONT_RESET: '1', FAKETIME_FORCE_MONOTONIC_FIX: '1',
      ASAN_OPTIONS: `${env.ASAN_OPTIONS ? env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0` });
  }
  const proc = spawn(BIN, ['--data', dir, 'serve', '--port', String(port), ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + stderr)), 60000);
    proc.stdout.on('data', (d) => { out += d; if (out.includes('listening on')) { clearTimeout(timer); resolve(); } });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
  const ca = readFileSync(join(dir, 'tls', 'cert.pem'));
  const server = {
    port, proc, ca, url: `https://127.0.0.1:${port}`, publicUrl: `https://localhost:${port}`,
    clockOffsetMs: clockOffsetDays * 86400000,
    log: () => stderr,
    stop: () => new Promise((resolve, reject) => {
      const done = (code) => {
        try { sanitizerCheck(stderr, 'phiportal serve'); } catch (e) { return reject(e); }
        if (code !== 0) return reject(new Error(`server exited with ${code}: ${stderr.slice(-2000)}`));
        resolve(code);
      };
      if (proc.exitCode !== null) return done(proc.exitCode);
      proc.removeAllListeners('exit');
      proc.on('exit', (code, sig) => done(code ?? sig));
      proc.kill('SIGTERM');
    }),
  };
  return server;
}

// One browser-like client: keeps the session cookie and the CSRF token.
export class Client {
  constructor(server) { this.server = server; this.cookies = new Map(); this.csrf = null; }

  request(method, path, { json, headers = {}, raw } = {}) {
    const h = { ...headers };
    if (json !== undefined) { h['content-type'] = 'application/json'; }
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrf && method !== 'GET' && !('x-csrf-token' in h)) h['x-csrf-token'] = this.csrf;
    const body = raw !== undefined ? raw : json !== undefined ? JSON.stringify(json) : undefined;
    return new Promise((resolve, reject) => {
      const req = https.request(this.server.url + path, { method, headers: h, ca: this.server.ca, servername: 'localhost' }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          for (const sc of [].concat(res.headers['set-cookie'] || [])) {
            const [pair, ...attrs] = sc.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
            if (!value || attrs.some((a) => /max-age=0/i.test(a.trim()))) this.cookies.delete(name);
            else this.cookies.set(name, value);
          }
          const text = Buffer.concat(chunks).toString('utf8');
          let data = null;
          try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
          if (data && typeof data.csrf === 'string') this.csrf = data.csrf;
          resolve({ status: res.statusCode, headers: res.headers, text, json: data, setCookie: res.headers['set-cookie'] });
        });
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
  get(path, o) { return this.request('GET', path, o); }
  post(path, json, o = {}) { return this.request('POST', path, { json: json ?? {}, ...o }); }
}

// RFC 6238 codes from the real oathtool, for the current 30 s step or a given one
export const currentStep = (offsetMs = 0) => Math.floor((Date.now() + offsetMs) / 30000);
export function totp(secret, step) {
  const args = ['--totp', '-b', secret];
  if (step !== undefined) args.push('-N', `@${step * 30 + 1}`);
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}

// A code the server will accept once: a step after the last one used, inside the ±1 window
// (waits for the next window when both neighbours are used up).
export async function freshCode(account, offsetMs = 0) {
  for (;;) {
    const now = currentStep(offsetMs);
    const step = Math.max(now - 1, (account.lastStep ?? -Infinity) + 1);
    if (step <= now + 1) { account.lastStep = step; return totp(account.secret, step); }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// Signs a demo account in completely (enrolling MFA); returns the client and the TOTP secret.
export async function signIn(server, account) {
  const c = new Client(server);
  let r = await c.post('/api/v1/auth/login', { username: account.username, password: account.password });
  if (r.status !== 200) throw new Error(`login ${r.status} ${r.text}`);
  let secret = account.secret;
  if (r.json.state === 'enrol') {
    r = await c.post('/api/v1/auth/mfa/enrol/start');
    if (r.status !== 200) throw new Error(`enrol start ${r.status} ${r.text}`);
    secret = r.json.secret;
    account.secret = secret;
    r = await c.post('/api/v1/auth/mfa/enrol/confirm', { code: await freshCode(account, server.clockOffsetMs || 0) });
    if (r.status !== 200) throw new Error(`enrol confirm ${r.status} ${r.text}`);
    account.recovery = r.json.recovery_codes;
  } else if (r.json.state === 'mfa') {
    r = await c.post('/api/v1/auth/mfa/verify', { code: await freshCode(account, server.clockOffsetMs || 0) });
    if (r.status !== 200) throw new Error(`mfa verify ${r.status} ${r.text}`);
  }
  return c;
}

export function sqlite(db, sql) {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8' });
}
