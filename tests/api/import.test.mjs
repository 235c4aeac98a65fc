// FHIR import through the real CLI: exact counts for the Synthea fixture, idempotent re-import,
// malformed lines reported with file and line and skipped, and no plaintext PHI on disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, makeData, FIXTURES } from './harness.mjs';

const EXPECTED = {
  Patient: 13, Condition: 555, AllergyIntolerance: 11, Immunization: 161, MedicationRequest: 1745,
  Encounter: 1215, Procedure: 2056, DocumentReference: 1215, Device: 16, Organization: 43,
  Practitioner: 43, PractitionerRole: 43, Location: 44,
};
const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.ndjson')).map((f) => join(FIXTURES, f));

function counts(stdout) {
  const out = {};
  for (const m of stdout.matchAll(/^\s+(\w+)\s+(\d+) imported\s+(\d+) unchanged/gm))
    out[m[1]] = { imported: Number(m[2]), unchanged: Number(m[3]) };
  return out;
}

let d;
before(() => { d = makeData({ demo: false }); });
after(() => d.cleanup());

test('the fixture imports completely with exact counts per type', () => {
  // files given in an order where references come before their Patients
  const r = cli(['--data', d.dir, 'import', ...files.slice().reverse()]);
  assert.equal(r.status, 0, r.stderr);
  const c = counts(r.stdout);
  for (const [type, n] of Object.entries(EXPECTED)) assert.equal(c[type]?.imported, n, type);
  assert.equal(c.total.imported, Object.values(EXPECTED).reduce((a, b) => a + b));
});

test('re-importing changes nothing', () => {
  const r = cli(['--data', d.dir, 'import', ...files]);
  assert.equal(r.status, 0, r.stderr);
  const c = counts(r.stdout);
  for (const [type, n] of Object.entries(EXPECTED)) {
    assert.equal(c[type]?.imported, 0, type);
    assert.equal(c[type]?.unchanged, n, type);
  }
});

test('malformed lines are reported with file and line number; the rest imports', () => {
  const good = readFileSync(join(FIXTURES, 'Condition.000.ndjson'), 'utf8').split('\n').filter(Boolean);
  const deep = '['.repeat(500) + ']'.repeat(500);
  const lines = [
    good[0],
    '{"resourceType":"Condition","id":"x1", broken',          // 2: bad JSON
    good[1],
    '{"resourceType":"Condition"}',                          // 4: no id
    '{"resourceType":"Spaceship","id":"x2"}',                // 5: unknown type
    `{"resourceType":"Condition","id":"x3","note":${deep}}`, // 6: nested too deeply
    '[1,2,3]',                                               // 7: not an object
    good[2],
  ];
  const bad = join(d.base, 'bad.ndjson');
  writeFileSync(bad, lines.join('\n') + '\n');
  const r = cli(['--data', d.dir, 'import', bad]);
  assert.equal(r.status, 1, 'skipped lines make the exit status 1');
  for (const line of [2, 4, 5, 6, 7]) assert.match(r.stderr, new RegExp(`bad\\.ndjson:${line}: skipped`), `line ${line}`);
  for (const line of [1, 3, 8]) assert.doesNotMatch(r.stderr, new RegExp(`bad\\.ndjson:${line}:`));
  const c = counts(r.stdout);
  assert.equal(c.Condition.unchanged, 3, 'the three good lines were read (already present)');
  assert.match(r.stdout, /5 skipped/);
  // error output carries no PHI from the bad lines
  assert.doesNotMatch(r.stderr, /Spaceship|x1|x3/);
});

test('no plaintext PHI in the database files', () => {
  const needles = new Set();
  for (const line of readFileSync(join(FIXTURES, 'Patient.000.ndjson'), 'utf8').split('\n').filter(Boolean)) {
    const p = JSON.parse(line);
    for (const n of p.name || []) { if (n.family) needles.add(n.family); }
    if (p.birthDate) needles.add(p.birthDate);
    for (const id of p.identifier || []) if (id.value) needles.add(id.value);
    for (const a of p.address || []) for (const l of a.line || []) needles.add(l);
    for (const t of p.telecom || []) if (t.value) needles.add(t.value);
  }
  assert.ok(needles.size > 50, `collected ${needles.size} needles`);
  const dbFiles = readdirSync(d.dir).filter((f) => /\.db(-wal|-shm)?$/.test(f)).map((f) => join(d.dir, f));
  assert.ok(dbFiles.some((f) => f.endsWith('phiportal.db')));
  assert.ok(dbFiles.some((f) => f.endsWith('-wal')) || existsSync(join(d.dir, 'phiportal.db')));
  for (const f of dbFiles) {
    const bytes = readFileSync(f);
    for (const n of needles) {
      assert.equal(bytes.indexOf(Buffer.from(n, 'utf8')), -1, `plaintext found in ${f}`);
      assert.equal(bytes.indexOf(Buffer.from(n, 'utf16le')), -1, `UTF-16 plaintext found in ${f}`);
    }
  }
});

test('a crash mid-import leaves no half-written resource; re-running completes it', async () => {
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('./harness.mjs');
  const e = makeData({ demo: false });
  try {
    const child = spawn(BIN, ['--data', e.dir, 'import', ...files], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    // the database is consistent after the crash
    const { sqlite } = await import('./harness.mjs');
    assert.equal(sqlite(join(e.dir, 'phiportal.db'), 'PRAGMA integrity_check').trim(), 'ok');
    const partial = Number(sqlite(join(e.dir, 'phiportal.db'), 'SELECT count(*) FROM resource').trim());
    const total = Object.values(EXPECTED).reduce((a, b) => a + b);
    assert.ok(partial < total, `the import was interrupted (${partial} of ${total} stored)`);
    // every stored row decrypts (none is half-written): re-import sees them as unchanged
    const r = cli(['--data', e.dir, 'import', ...files]);
    assert.equal(r.status, 0, r.stderr);
    const c = counts(r.stdout);
    for (const [type, n] of Object.entries(EXPECTED))
      assert.equal(c[type].imported + c[type].unchanged, n, type);
    assert.equal(c.total.unchanged, partial - 0, 'every row written before the crash was complete');
  } finally { e.cleanup(); }
});
