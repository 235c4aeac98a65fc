// Retention and legal holds, black box: two patients write to their care team over the API, one of
// them uploads a document; the privacy officer puts a legal hold on the other patient; then the CLI
// runs with the clock moved forward past the retention period (Debian's faketime): the dry run lists
// exactly what will go and changes nothing; the run purges the unheld messages (404 for patient and
// staff, rows gone, neither the text nor the ciphertext left in the database or WAL bytes), keeps
// the held ones readable; releasing the hold (audited) lets the next run take them; the scheduled
// run inside `serve` shreds the document once its own retention has passed; every purge is one
// audit record without content; `audit verify` passes; an audit retention below six years fails
// `compliance check`. Attachments (scanned by a real clamd) go with the message retention: alice's
// is crypto-shredded (blob file gone, download 404, one purge record without content), bob's is
// held and still downloads; alice's old draft is purged with its own record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import { BIN, makeData, startServer, signIn, sqlite, setConfig, sanitizerCheck, ASAN_BUILD } from './harness.mjs';
import { startClamd } from './clamd.mjs';

const YEARS8 = 8 * 365;
// libfaketime deadlocks in the AddressSanitizer runtime's start-up (recursive clock_gettime), so
// under `make asan` the moved-clock steps are skipped; tests/unit/test_retention.c runs the same
// paths under ASan with the injectable clock (pp_clock_set_offset_ms).
const ASAN = ASAN_BUILD;
const FAKETIME = ASAN && 'libfaketime cannot run under the ASan runtime (covered by the unit tests)';   // days: past retention.messages_days (2555), before documents_days (3650)
let d, srv, clamd;
const acct = {};
const u = {};
const marker = (p) => `${p}-${randomBytes(6).toString('hex')}`;
const text = { alice: marker('alicesecret'), reply: marker('replysecret'), bob: marker('bobsecret'), draft: marker('draftsecret') };
const attText = { alice: `${marker('aliceattachment')}\n`, bob: `${marker('bobattachment')}\n` };
const ids = {};      // thread and message ids
let holdId, docId;

// the CLI at a moved clock (faketime's relative offset, e.g. "+2920d")
function cliAt(days, args) {
  // under `make asan` the preloaded libfaketime comes before the ASan runtime: tell ASan it is fine
  const env = { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0` };
  const r = spawnSync('faketime', ['-f', `+${days}d`, BIN, '--data', d.dir, ...args], { encoding: 'utf8', env, timeout: 120000 });
  sanitizerCheck(r.stderr || '', `phiportal ${args.join(' ')}`);
  return r;
}
const db = () => join(d.dir, 'phiportal.db');
const auditDb = () => join(d.dir, 'audit.db');
const diskBytes = () => Buffer.concat([db(), db() + '-wal'].filter(existsSync).map((f) => readFileSync(f)));

function upload(client, path, body, name) {
  const h = { 'content-type': 'application/octet-stream', 'x-csrf-token': client.csrf, 'content-length': String(body.length),
    'x-file-name': encodeURIComponent(name), cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  return new Promise((resolve, reject) => {
    const req = https.request(client.server.url + path, { method: 'POST', headers: h, ca: client.server.ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { const t = Buffer.concat(chunks).toString(); resolve({ status: res.statusCode, json: t ? JSON.parse(t) : null }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function signInAll(server) {
  for (const k of Object.keys(acct)) u[k] = await signIn(server, acct[k]);
}

before(async () => {
  // a real clamd: attachments must be scanned clean before they can be sent
  clamd = await startClamd();
  d = makeData({ config: { 'files.clamd_socket': clamd.socket } });
  for (const [k, name] of [['alice', 'demo.patient1'], ['bob', 'demo.patient2'], ['nurse', 'demo.nurse'],
    ['privacy', 'demo.privacy'], ['admin', 'demo.admin'], ['billing', 'demo.billing']])
    acct[k] = d.accounts.find((a) => a.username === name);
  srv = await startServer(d.dir);
  await signInAll(srv);
});
after(async () => { await srv?.stop().catch(() => {}); await clamd?.stop(); d?.cleanup(); });

test('set-up: both patients write to their care team; the nurse replies; alice uploads a document', async () => {
  const pools = (await u.alice.get('/api/v1/messages/pools')).json.pools;
  const reyes = pools.find((p) => p.name === "Dr. Reyes' team");
  let r = await u.alice.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: 'Question', body: text.alice });
  assert.equal(r.status, 201, r.text);
  ids.aliceThread = r.json.id;
  ids.aliceMsg = r.json.messages[0].id;
  r = await u.nurse.post(`/api/v1/messages/threads/${ids.aliceThread}/messages`, { kind: 'text', body: text.reply });
  assert.ok([200, 201].includes(r.status), r.text);
  r = await u.bob.post('/api/v1/messages/threads', { pool_id: reyes.id, kind: 'text', subject: 'Hello', body: text.bob });
  assert.equal(r.status, 201, r.text);
  ids.bobThread = r.json.id;
  ids.bobMsg = r.json.messages[0].id;
  // each sends an attachment in their thread; alice leaves a draft
  for (const who of ['alice', 'bob']) {
    const thread = ids[`${who}Thread`];
    const a = await upload(u[who], `/api/v1/messages/threads/${thread}/attachments`, Buffer.from(attText[who]), `${who}.txt`);
    assert.equal(a.status, 201, JSON.stringify(a.json));
    assert.equal(a.json.status, 'clean');
    ids[`${who}Att`] = a.json.file_id;
    r = await u[who].post(`/api/v1/messages/threads/${thread}/messages`, { body: 'see attached', attachments: [a.json.file_id] });
    assert.equal(r.status, 201, r.text);
  }
  assert.equal((await u.alice.request('PUT', `/api/v1/messages/threads/${ids.aliceThread}/draft`, { json: { body: text.draft } })).status, 200);
  const up = await upload(u.alice, `/api/v1/patients/${acct.alice.patient_id}/documents`, Buffer.from('My own notes for the record\n'), 'notes.txt');
  assert.equal(up.status, 201, JSON.stringify(up.json));
  assert.equal(up.json.status, 'clean');
  docId = up.json.file_id;
  assert.ok(up.json.document_id);
  ids.docref = up.json.document_id;
});

test('only the privacy officer and admin see retention and manage holds; everyone else gets 404', async () => {
  for (const k of ['nurse', 'billing', 'alice']) {
    assert.equal((await u[k].get('/api/v1/admin/retention')).status, 404, k);
    assert.equal((await u[k].post('/api/v1/admin/legal-holds', { scope: 'patient', target: acct.bob.patient_id, reason: 'x' })).status, 404, k);
  }
  const denied = sqlite(auditDb(), "SELECT count(*) FROM audit_event WHERE action IN ('retention.read','legal_hold.place') AND outcome='denied'").trim();
  assert.equal(denied, '6');
  for (const k of ['privacy', 'admin']) {
    const r = await u[k].get('/api/v1/admin/retention');
    assert.equal(r.status, 200, k);
    assert.deepEqual(r.json.policies, { messages_days: 2555, attachments_days: 2555, documents_days: 3650, audit_days: 2190, interval_s: 86400 });
    assert.deepEqual(r.json.holds, []);
    assert.match(r.json.audit_note, /never purged/);
  }
});

test('the privacy officer places a hold on bob (one audit record, reason sealed); bad requests refused', async () => {
  const reason = marker('Litigation hold case');
  let r = await u.privacy.post('/api/v1/admin/legal-holds', { scope: 'patient', target: acct.bob.patient_id, reason });
  assert.equal(r.status, 201, r.text);
  holdId = r.json.id;
  assert.match(holdId, /^[0-9a-f]{32}$/);
  const rid = r.headers['x-request-id'];
  assert.equal(sqlite(auditDb(), `SELECT action || '|' || patient || '|' || resource_id FROM audit_event WHERE request_id='${rid}'`).trim(),
    `legal_hold.place|${acct.bob.patient_id}|${holdId}`);
  assert.ok(!diskBytes().includes(reason), 'the reason is stored encrypted');
  assert.ok(!sqlite(auditDb(), 'SELECT * FROM audit_event').includes(reason), 'the reason is not in the audit log');
  r = await u.admin.get('/api/v1/admin/retention');
  assert.equal(r.json.holds.length, 1);
  assert.equal(r.json.holds[0].reason, reason);
  assert.equal(r.json.holds[0].target, acct.bob.patient_id);
  for (const [body, status, code] of [
    [{ scope: 'everything', target: acct.bob.patient_id, reason: 'x' }, 400, 'invalid_scope'],
    [{ scope: 'patient', target: '../x', reason: 'x' }, 400, 'invalid_target'],
    [{ scope: 'patient', target: acct.bob.patient_id, reason: '' }, 400, 'reason_required'],
    [{ scope: 'patient', target: acct.bob.patient_id, reason: 'x'.repeat(501) }, 400, 'reason_too_long'],
    [{ scope: 'thread', target: acct.bob.patient_id, reason: 'x' }, 404, 'not_found'],
  ]) {
    r = await u.privacy.post('/api/v1/admin/legal-holds', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error.code, code);
  }
  r = await u.privacy.request('POST', '/api/v1/admin/legal-holds', { json: { scope: 'patient', target: acct.bob.patient_id, reason: 'x' }, headers: { 'x-csrf-token': 'wrong' } });
  assert.equal(r.status, 403, 'CSRF required');
  assert.equal((await u.admin.request('DELETE', '/api/v1/admin/legal-holds/ffff')).status, 404);
  await srv.stop();
  srv = null;
  const list = spawnSync(BIN, ['--data', d.dir, 'hold', 'list', '--json'], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).map((h) => h.id), [holdId]);
  // the shell: a hold on one thread, placed and released, each one audit record as system:cli
  const add = spawnSync(BIN, ['--data', d.dir, 'hold', 'add', '--thread', ids.aliceThread, '--reason', 'Complaint review'], { encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  const tid = add.stdout.trim();
  assert.match(tid, /^[0-9a-f]{32}$/);
  const rel = spawnSync(BIN, ['--data', d.dir, 'hold', 'release', tid], { encoding: 'utf8' });
  assert.equal(rel.status, 0, rel.stderr);
  assert.equal(spawnSync(BIN, ['--data', d.dir, 'hold', 'release', tid], { encoding: 'utf8' }).status, 1);
  assert.equal(spawnSync(BIN, ['--data', d.dir, 'hold', 'add', '--thread', ids.aliceThread, '--patient', acct.bob.patient_id, '--reason', 'x'], { encoding: 'utf8' }).status, 2);
  assert.equal(sqlite(auditDb(), `SELECT group_concat(action || '/' || outcome, ' ') FROM audit_event WHERE actor='system:cli' AND resource_id='${tid}'`).trim(),
    'legal_hold.place/success legal_hold.release/success');
});

let cipher;   // hex slices of the purged messages' ciphertext, as stored
const blobs = {};   // the attachments' blob file names
test('dry run eight years on: lists exactly what would go and what the hold keeps, changes nothing', { skip: FAKETIME }, () => {
  const rows = sqlite(db(), "SELECT m.pub_id || '|' || hex(substr(m.content_enc, 21, 32)) FROM msg_message m " +
    `JOIN msg_thread t ON t.id = m.thread_id WHERE t.pub_id = '${ids.aliceThread}'`).trim().split('\n');
  assert.equal(rows.length, 3);
  cipher = rows.map((l) => Buffer.from(l.split('|')[1], 'hex'));
  const onDisk = diskBytes();
  assert.ok(cipher.every((c) => onDisk.includes(c)), 'the ciphertext is on disk before the purge');
  for (const who of ['alice', 'bob']) {
    blobs[who] = sqlite(db(), `SELECT blob FROM file WHERE pub_id='${ids[`${who}Att`]}'`).trim();
    assert.ok(existsSync(join(d.dir, 'files', blobs[who])), 'the blob is on disk before');
  }
  const before = sqlite(db(), 'SELECT (SELECT count(*) FROM msg_message) || \',\' || (SELECT count(*) FROM msg_thread) || \',\' || (SELECT count(*) FROM file WHERE status <> \'shredded\')').trim();

  const r = cliAt(YEARS8, ['retention', 'run', '--dry-run', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.dry_run, true);
  assert.deepEqual(rep.counts.purge, { message: 3, thread: 1, attachment: 1, document: 0, draft: 1 });
  assert.deepEqual(rep.counts.held, { message: 2, thread: 1, attachment: 1, document: 0, draft: 0 });
  assert.ok(rep.purge.some((i) => i.kind === 'attachment' && i.id === ids.aliceAtt));
  assert.ok(rep.purge.some((i) => i.kind === 'draft' && i.id === `${ids.aliceThread}/draft`));
  const alicePurge = rep.purge.filter((i) => i.kind === 'message').map((i) => i.id);
  assert.ok(alicePurge.includes(ids.aliceMsg));
  assert.ok(rep.purge.some((i) => i.kind === 'thread' && i.id === ids.aliceThread));
  assert.ok(rep.purge.every((i) => i.patient_id === acct.alice.patient_id && i.age_days >= 2919 && i.age_days <= 2921));
  assert.deepEqual(rep.held.filter((i) => i.kind !== 'message').map((i) => [i.kind, i.id, i.patient_id, i.hold_id]).sort(),
    [['attachment', ids.bobAtt, acct.bob.patient_id, holdId], ['thread', ids.bobThread, acct.bob.patient_id, holdId]].sort());
  assert.ok(rep.held.some((i) => i.kind === 'message' && i.id === ids.bobMsg && i.hold_id === holdId));
  assert.ok(!rep.purge.some((i) => i.id === docId), 'the document is kept ten years');
  assert.equal(rep.audit.retention_days, 2190);
  assert.ok(rep.audit.older_than_retention > 0, 'eight years on, the set-up\'s audit records are past six years');
  assert.equal(rep.audit.purged, 0);
  assert.ok(!r.stdout.includes(text.alice) && !r.stdout.includes(text.bob), 'no content in the report');
  // nothing changed
  assert.equal(sqlite(db(), 'SELECT (SELECT count(*) FROM msg_message) || \',\' || (SELECT count(*) FROM msg_thread) || \',\' || (SELECT count(*) FROM file WHERE status <> \'shredded\')').trim(), before);
  assert.equal(sqlite(auditDb(), "SELECT count(*) FROM audit_event WHERE action='retention.purge'").trim(), '0');
  assert.equal(sqlite(auditDb(), "SELECT count(*) FROM audit_event WHERE action='retention.dry_run'").trim(), '1');
  // the text report says the same
  const t = cliAt(YEARS8, ['retention', 'run', '--dry-run']);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /would purge: 3 message\(s\), 1 thread\(s\), 1 attachment\(s\), 0 document\(s\), 1 draft\(s\)/);
  assert.match(t.stdout, /held back by a legal hold: 2 message\(s\), 1 thread\(s\), 1 attachment\(s\)/);
  assert.match(t.stdout, /audit log: \d+ record\(s\) older than 2190 days \(kept/);
});

let purged;
test('the run purges the expired, unheld messages: rows and ciphertext gone, one audit record each', { skip: FAKETIME }, () => {
  const r = cliAt(YEARS8, ['retention', 'run', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.dry_run, false);
  assert.deepEqual(rep.counts.purge, { message: 3, thread: 1, attachment: 1, document: 0, draft: 1 });
  assert.equal(rep.wal_truncated, true);
  purged = rep.purge;
  assert.equal(sqlite(db(), `SELECT count(*) FROM msg_thread WHERE pub_id IN ('${ids.aliceThread}')`).trim(), '0');
  assert.equal(sqlite(db(), `SELECT count(*) FROM msg_message WHERE pub_id = '${ids.aliceMsg}'`).trim(), '0');
  assert.equal(sqlite(db(), `SELECT count(*) FROM msg_message WHERE pub_id = '${ids.bobMsg}'`).trim(), '1');
  const onDisk = diskBytes();
  assert.ok(cipher.every((c) => !onDisk.includes(c)), 'the purged ciphertext is not in the database or WAL bytes');
  assert.ok(!onDisk.includes(text.alice) && !onDisk.includes(text.reply) && !onDisk.includes(text.draft));
  // alice's attachment: crypto-shredded (no key, no blob); bob's (held) intact
  assert.equal(sqlite(db(), `SELECT status || '|' || length(coalesce(key_enc, '')) FROM file WHERE pub_id='${ids.aliceAtt}'`).trim(), 'shredded|0');
  assert.ok(!existsSync(join(d.dir, 'files', blobs.alice)), 'the blob file is deleted');
  assert.equal(sqlite(db(), `SELECT status FROM file WHERE pub_id='${ids.bobAtt}'`).trim(), 'clean');
  assert.ok(existsSync(join(d.dir, 'files', blobs.bob)));
  const rows = sqlite(auditDb(), "SELECT actor || '|' || resource_type || '|' || resource_id || '|' || patient || '|' || detail FROM audit_event WHERE action='retention.purge' AND outcome='success'").trim().split('\n');
  assert.equal(rows.length, 6);
  assert.ok(rows.some((l) => l.startsWith(`system:cli|Binary|${ids.aliceAtt}|${acct.alice.patient_id}|kind:attachment age_days:`)), rows.join('\n'));
  assert.ok(rows.some((l) => l.startsWith(`system:cli|MessageDraft|${ids.aliceThread}/draft|`)), rows.join('\n'));
  for (const item of purged) assert.equal(rows.filter((l) => l.split('|')[2] === item.id).length, 1, `one record for ${item.kind}`);
  assert.ok(rows.every((l) => l.startsWith('system:cli|') && l.includes(`|${acct.alice.patient_id}|kind:`)));
  const all = sqlite(auditDb(), 'SELECT * FROM audit_event');
  for (const m of [...Object.values(text), ...Object.values(attText)]) assert.ok(!all.includes(m.trim()), 'no message or file content in the audit log');
  assert.ok(!all.includes('alice.txt') && !all.includes('bob.txt'), 'no file names in the audit log');
});

test('after the run: the purged messages are 404 for both sides; the held ones are still readable', { skip: FAKETIME }, async () => {
  // the purge is done, so the server can run at the real time (its sessions from the set-up still
  // hold): what was purged stays gone whatever the clock says
  await srv?.stop().catch(() => {});   // (a failed earlier test may have left one running)
  srv = await startServer(d.dir);
  for (const c of Object.values(u)) c.server = srv;
  assert.equal((await u.alice.get(`/api/v1/messages/threads/${ids.aliceThread}`)).status, 404);
  assert.equal((await u.nurse.get(`/api/v1/messages/threads/${ids.aliceThread}`)).status, 404);
  let r = await u.bob.get(`/api/v1/messages/threads/${ids.bobThread}`);
  assert.equal(r.status, 200);
  assert.ok(r.text.includes(text.bob));
  r = await u.nurse.get(`/api/v1/messages/threads/${ids.bobThread}`);
  assert.equal(r.status, 200);
  assert.ok(r.text.includes(text.bob));
  // the shredded attachment is gone for everyone; the held one still downloads, intact
  assert.equal((await u.alice.get(`/api/v1/files/${ids.aliceAtt}`)).status, 404);
  assert.equal((await u.nurse.get(`/api/v1/files/${ids.aliceAtt}`)).status, 404);
  r = await u.bob.get(`/api/v1/files/${ids.bobAtt}`);
  assert.equal(r.status, 200);
  assert.equal(r.text, attText.bob);
  // releasing the hold is one audit record; a second release is 404
  r = await u.privacy.request('DELETE', `/api/v1/admin/legal-holds/${holdId}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'released');
  const rid = r.headers['x-request-id'];
  assert.equal(sqlite(auditDb(), `SELECT count(*) || '|' || max(action) || '|' || max(patient) FROM audit_event WHERE request_id='${rid}'`).trim(),
    `1|legal_hold.release|${acct.bob.patient_id}`);
  assert.equal((await u.privacy.request('DELETE', `/api/v1/admin/legal-holds/${holdId}`)).status, 404);
  r = await u.privacy.get('/api/v1/admin/retention?holds=all');
  assert.equal(r.json.holds.length, 2, 'the released holds: bob\'s and the one on a thread from the shell');
  const h = r.json.holds.find((x) => x.id === holdId);
  assert.ok(h.released_at);
  assert.match(h.released_by, /^user:\d+$/);
  assert.deepEqual((await u.privacy.get('/api/v1/admin/retention')).json.holds, [], 'no active hold left');
  await srv.stop();
  srv = null;
});

test('after the release the next run purges bob\'s messages too; the audit chain verifies', { skip: FAKETIME }, () => {
  const r = cliAt(YEARS8, ['retention', 'run', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.deepEqual(rep.counts.purge, { message: 2, thread: 1, attachment: 1, document: 0, draft: 0 });
  assert.deepEqual(rep.counts.held, { message: 0, thread: 0, attachment: 0, document: 0, draft: 0 });
  assert.ok(!existsSync(join(d.dir, 'files', blobs.bob)), 'bob\'s attachment is shredded once the hold is released');
  assert.equal(sqlite(db(), 'SELECT count(*) FROM msg_message').trim(), '0');
  assert.ok(!diskBytes().includes(text.bob));
  const v = spawnSync(BIN, ['--data', d.dir, 'audit', 'verify'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr + v.stdout);
  assert.match(v.stdout, /audit verify: OK/);
});

test('the scheduled run inside serve shreds the document once its ten years have passed', { skip: FAKETIME }, async () => {
  assert.equal(sqlite(db(), `SELECT status FROM file WHERE pub_id='${docId}'`).trim(), 'clean');
  const blob = sqlite(db(), `SELECT blob FROM file WHERE pub_id='${docId}'`).trim();
  assert.ok(existsSync(join(d.dir, 'files', blob)));
  setConfig(d.dir, { 'jobs.retention_interval_s': 1 });
  // the server's clock ten years on (libfaketime); its jobs thread runs every second
  await srv?.stop().catch(() => {});
  srv = await startServer(d.dir, { clockOffsetDays: 3651 });
  const deadline = Date.now() + 30000;
  let row = '';
  while (Date.now() < deadline) {
    row = sqlite(auditDb(), `SELECT actor || '|' || detail FROM audit_event WHERE action='retention.purge' AND resource_id='${docId}'`).trim();
    if (row) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  assert.match(row, /^system:jobs\|kind:document age_days:365[01]/);
  await srv.stop();
  srv = null;
  assert.equal(sqlite(db(), `SELECT status || '|' || length(coalesce(key_enc, '')) FROM file WHERE pub_id='${docId}'`).trim(), 'shredded|0');
  assert.ok(!existsSync(join(d.dir, 'files', blob)), 'the blob is deleted');
  assert.equal(sqlite(db(), `SELECT count(*) FROM resource WHERE pub_id='${ids.docref}'`).trim(), '0', 'its DocumentReference is gone');
  assert.equal(spawnSync(BIN, ['--data', d.dir, 'audit', 'verify'], { encoding: 'utf8' }).status, 0);
});

test('an audit retention below six years fails compliance check with a clear message', () => {
  let r = spawnSync(BIN, ['--data', d.dir, 'compliance', 'check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  setConfig(d.dir, { 'retention.audit_days': 365 });
  r = spawnSync(BIN, ['--data', d.dir, 'compliance', 'check'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /retention\.audit_days: value '365' is unsafe; safe value: 2190/);
  r = spawnSync(BIN, ['--data', d.dir, 'serve'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /retention\.audit_days/);
});
