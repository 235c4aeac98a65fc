// Shared by the tests that need mail: a certificate for the sink's STARTTLS, a real SMTP server
// (Debian's python3-aiosmtpd, tests/api/smtp_sink.py) that writes each message it receives to a
// file, reading those files back, and the fixture patients' names (a notice must contain none).
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

const FIXTURE_PATIENTS = '/work/shared/fixtures/synthea-10/Patient.000.ndjson';
const SINK = join(ROOT, 'tests', 'api', 'smtp_sink.py');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export function makeCert(dir) {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'key.pem'), cert = join(dir, 'cert.pem'), tmpl = join(dir, 'tmpl');
  execFileSync('certtool', ['--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', key], { stdio: 'ignore' });
  writeFileSync(tmpl, 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\nexpiration_days = 30\ntls_www_server\nsigning_key\nencryption_key\n');
  execFileSync('certtool', ['--generate-self-signed', '--load-privkey', key, '--template', tmpl, '--outfile', cert], { stdio: 'ignore' });
  return { key, cert };
}

// the SMTP sink: resolves once it accepts connections; messages land in outdir as JSON files
export async function startSmtp(port, { cert, key }, outdir, extra = []) {
  mkdirSync(outdir, { recursive: true });
  const proc = spawn('/usr/bin/python3', [SINK, '--port', String(port), '--cert', cert, '--key', key, '--outdir', outdir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('smtp sink did not start: ' + err)), 15000);
    proc.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(t); resolve(); } });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`smtp sink exited ${c}: ${err}`)); });
  });
  proc.removeAllListeners('exit');
  return {
    proc,
    stop: () => new Promise((r) => { if (proc.exitCode !== null) return r(); proc.on('exit', () => r()); proc.kill('SIGTERM'); }),
  };
}

export function mails(outdir) {
  if (!existsSync(outdir)) return [];
  return readdirSync(outdir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(outdir, f), 'utf8')));
}

// headers and body of one received message
export function parseMail(data) {
  const i = data.indexOf('\r\n\r\n');
  const headers = {};
  for (const line of data.slice(0, i).split('\r\n')) {
    const k = line.indexOf(':');
    headers[line.slice(0, k).toLowerCase()] = line.slice(k + 1).trim();
  }
  return { headers, body: data.slice(i + 4) };
}

// every fixture patient's names (as written, and without Synthea's digits)
export function fixtureNames() {
  const names = new Set();
  for (const line of readFileSync(FIXTURE_PATIENTS, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const p = JSON.parse(line);
    for (const n of p.name || []) {
      for (const part of [n.family, ...(n.given || [])].filter(Boolean)) {
        names.add(part);
        const bare = part.replace(/[0-9]+$/, '');
        if (bare.length >= 4) names.add(bare);
      }
    }
  }
  return [...names];
}

