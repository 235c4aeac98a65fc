// The command line is a contract: help, usage errors (exit 2), init, compliance check, and serve
// refusing unsafe configuration by naming the key and the safe value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, makeData, setConfig, ROOT, sqlite } from './harness.mjs';

test('help and version', () => {
  const h = cli(['--help']);
  assert.equal(h.status, 0);
  for (const cmd of ['init', 'serve', 'import', 'user add', 'audit verify', 'compliance check', 'version'])
    assert.match(h.stdout, new RegExp(cmd));
  for (const cmd of ['init', 'serve', 'import', 'user', 'audit', 'compliance']) {
    const r = cli([cmd, '--help']);
    assert.equal(r.status, 0, cmd);
    assert.match(r.stdout, /usage: phiportal/, cmd);
  }
  assert.match(cli(['version']).stdout, /^phiportal \d+\.\d+\.\d+/);
});

test('unknown command or option prints usage and exits 2', () => {
  for (const args of [['frobnicate'], ['serve', '--no-such-option'], ['init', '--nope'], [], ['audit', 'nope'], ['user', 'add', '--username']]) {
    const r = cli(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /usage: phiportal/, args.join(' '));
  }
});

let d;
before(() => { d = makeData({ demo: false }); });
after(() => d.cleanup());

test('init makes a private data directory and key files', () => {
  assert.equal(statSync(d.dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(d.dir, 'keys', 'master.key')).mode & 0o777, 0o600);
  assert.equal(statSync(join(d.dir, 'keys', 'master.key')).size, 32);
  assert.equal(statSync(join(d.dir, 'tls', 'key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(d.dir, 'phiportal.conf')).mode & 0o077, 0);
  const again = cli(['--data', d.dir, 'init']);
  assert.notEqual(again.status, 0, 'init must not overwrite an existing data directory');
});

test('compliance check passes on defaults', () => {
  const r = cli(['--data', d.dir, 'compliance', 'check']);
  assert.equal(r.status, 0, r.stderr);
});

const unsafe = [
  ['tls.min_version', '1.0', /tls\.min_version.*safe value: 1\.2/],
  ['tls.min_version', '1.1', /tls\.min_version.*safe value: 1\.2/],
  ['session.idle_timeout_s', '3600', /session\.idle_timeout_s.*safe value: 900/],
  ['auth.mfa_required_staff', 'false', /auth\.mfa_required_staff.*safe value: true/],
  ['audit.enabled', 'false', /audit\.enabled.*safe value: true/],
];
for (const [key, value, msg] of unsafe) {
  test(`unsafe ${key} = ${value} is refused by compliance check and serve`, () => {
    const e = makeData({ demo: false, config: { [key]: value } });
    try {
      const c = cli(['--data', e.dir, 'compliance', 'check']);
      assert.equal(c.status, 1);
      assert.match(c.stderr, msg);
      const s = cli(['--data', e.dir, 'serve', '--port', '1']);
      assert.equal(s.status, 1);
      assert.match(s.stderr, msg);
      assert.match(s.stderr, /refusing to start/);
    } finally { e.cleanup(); }
  });
}

test('a key file readable by others is refused', () => {
  const e = makeData({ demo: false });
  try {
    chmodSync(join(e.dir, 'keys', 'master.key'), 0o644);
    const c = cli(['--data', e.dir, 'compliance', 'check']);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /crypto\.key_file.*0600/);
    const s = cli(['--data', e.dir, 'serve', '--port', '1']);
    assert.equal(s.status, 1);
    assert.match(s.stderr, /crypto\.key_file/);
  } finally { e.cleanup(); }
});

test('an unknown or out-of-range config key stops with the line number', () => {
  const e = makeData({ demo: false });
  try {
    setConfig(e.dir, { 'no.such_key': '1' });
    const r = cli(['--data', e.dir, 'compliance', 'check']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /phiportal\.conf:\d+: unknown key 'no\.such_key'/);
  } finally { e.cleanup(); }
});

test('docs/config.md is the generated table, and lists every key', () => {
  const r = cli(['config', 'docs']);
  assert.equal(r.status, 0);
  const doc = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');
  assert.equal(doc, r.stdout, 'docs/config.md is stale: regenerate it with `make docs`');
  for (const key of ['session.idle_timeout_s', 'tls.min_version', 'audit.enabled', 'crypto.key_file'])
    assert.match(r.stdout, new RegExp('`' + key.replace('.', '\\.') + '`'));
});

test('docs/roles.md is the generated roles table', () => {
  const r = cli(['roles', 'docs']);
  assert.equal(r.status, 0);
  assert.equal(readFileSync(join(ROOT, 'docs', 'roles.md'), 'utf8'), r.stdout,
    'docs/roles.md is stale: regenerate it with `make docs`');
  for (const role of ['patient', 'proxy', 'clinician', 'nurse', 'front_desk', 'billing', 'privacy_officer', 'security_admin', 'admin'])
    assert.match(r.stdout, new RegExp('^\\| `' + role + '` \\|', 'm'), role);
  assert.equal(cli(['roles', 'nope']).status, 2);
});

test('user add creates an account that can sign in; weak passwords and bad roles are refused', async () => {
  const { startServer, Client } = await import('./harness.mjs');
  const e = makeData();
  try {
    const patient = e.accounts.find((a) => a.role === 'patient');
    const weak = cli(['--data', e.dir, 'user', 'add', '--username', 'new.user', '--role', 'patient', '--patient', patient.patient_id, '--password-stdin'], { input: 'password123\n' });
    assert.equal(weak.status, 1);
    assert.match(weak.stderr, /password refused/);
    assert.equal(cli(['--data', e.dir, 'user', 'add', '--username', 'x', '--role', 'wizard']).status, 2);
    assert.equal(cli(['--data', e.dir, 'user', 'add', '--username', 'x', '--role', 'patient']).status, 2, 'patient needs --patient');
    const ok = cli(['--data', e.dir, 'user', 'add', '--username', 'new.user', '--role', 'patient', '--patient', patient.patient_id, '--password-stdin'], { input: 'correct horse battery staple 42\n' });
    assert.equal(ok.status, 0, ok.stderr);
    const dup = cli(['--data', e.dir, 'user', 'add', '--username', 'new.user', '--role', 'clinician'], {});
    assert.equal(dup.status, 1);
    const gen = cli(['--data', e.dir, 'user', 'add', '--username', 'first.admin', '--role', 'admin']);
    assert.equal(gen.status, 0);
    assert.match(gen.stdout, /password \(shown once\): \S{12,}/);
    const srv = await startServer(e.dir);
    try {
      const c = new Client(srv);
      const r = await c.post('/api/v1/auth/login', { username: 'new.user', password: 'correct horse battery staple 42' });
      assert.equal(r.status, 200);
      assert.equal(r.json.state, 'enrol');
    } finally { await srv.stop(); }
  } finally { e.cleanup(); }
});

test('pool and careteam commands: create, list, add members, link a clinician; refusals are clear', () => {
  const e = makeData();
  try {
    const run = (...a) => cli(['--data', e.dir, ...a]);
    assert.equal(run('pool', 'add', '--name', 'Cardiology', '--kind', 'clinical', '--turnaround', 'within a day').status, 0);
    assert.equal(run('pool', 'add', '--name', 'Cardiology').status, 1, 'a name is unique');
    assert.equal(run('pool', 'add', '--name', 'X', '--kind', 'party').status, 2);
    const list = run('pool', 'list');
    assert.equal(list.status, 0);
    assert.match(list.stdout, /^Cardiology\s+clinical\s+within a day$/m);
    assert.match(list.stdout, /^Dr\. Reyes' team\s+clinical/m, 'the demo pools');
    assert.equal(run('pool', 'member', 'add', '--pool', 'Cardiology', '--username', 'demo.nurse').status, 0);
    assert.match(run('pool', 'member', 'add', '--pool', 'Nope', '--username', 'demo.nurse').stderr, /no such pool/);
    assert.match(run('pool', 'member', 'add', '--pool', 'Cardiology', '--username', 'nobody').stderr, /no such user/);
    const pub = e.accounts.find((a) => a.username === 'demo.patient3').patient_id;
    assert.equal(run('careteam', 'add', '--username', 'demo.nurse', '--patient', pub).status, 0);
    const admin = run('careteam', 'add', '--username', 'demo.admin', '--patient', pub);
    assert.equal(admin.status, 1);
    assert.match(admin.stderr, /only a clinician or nurse/);
    assert.match(run('careteam', 'add', '--username', 'demo.nurse', '--patient', 'ffff').stderr, /no patient/);
    assert.equal(run('careteam', 'end', '--username', 'demo.nurse', '--patient', pub).status, 0);
    assert.equal(run('pool', 'frobnicate').status, 2);
    assert.equal(run('careteam').status, 2);
    const rows = sqlite(join(e.dir, 'audit.db'), "SELECT action FROM audit_event WHERE actor='system:cli' AND action IN ('pool.add','pool.member.add','careteam.add','careteam.end')").trim().split('\n');
    assert.deepEqual(rows, ['pool.add', 'pool.member.add', 'careteam.add', 'careteam.end']);
  } finally { e.cleanup(); }
});
