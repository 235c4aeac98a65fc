// Files and documents: streaming encrypted upload/download, type control by content (libmagic),
// malware scanning by a REAL clamd (EICAR signature), size limits enforced while streaming,
// fail-closed and quarantine behaviour when clamd is down, and memory bounded by the chunk size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { makeData, startServer, signIn, setConfig, sqlite, cli } from './harness.mjs';
import { startClamd, EICAR } from './clamd.mjs';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const MB = 1024 * 1024;

let d, server, clamd, alice, bob, ca, cb, cur;   // cur: alice's client on the running server

// A raw upload with the client's session: body is a Buffer, or an async iterable of Buffers
// (streamed, chunked unless length is given). Resolves with status, json, and whether the
// server closed the connection before the whole body was sent.
function upload(client, path, body, { name, length, headers = {} } = {}) {
  const h = { 'content-type': 'application/octet-stream', 'x-csrf-token': client.csrf, ...headers };
  h.cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  if (name !== undefined) h['x-file-name'] = encodeURIComponent(name);
  if (Buffer.isBuffer(body)) h['content-length'] = String(body.length);
  else if (length !== undefined) h['content-length'] = String(length);
  return new Promise((resolve, reject) => {
    let sent = 0, aborted = false;
    const req = https.request(client.server.url + path, { method: 'POST', headers: h, ca: client.server.ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json, sent, aborted });
      });
      res.on('error', reject);
    });
    req.on('error', (e) => {
      aborted = true;
      if (['ECONNRESET', 'EPIPE'].includes(e.code)) resolve({ status: 0, aborted, sent, text: '', json: null });
      else reject(e);
    });
    (async () => {
      if (Buffer.isBuffer(body)) { req.end(body); sent = body.length; return; }
      if (body === null) { req.flushHeaders(); return; }   // headers only: the body never comes
      for await (const chunk of body) {
        if (req.destroyed || aborted) return;
        sent += chunk.length;
        if (!req.write(chunk)) await new Promise((r) => { const done = () => { req.off('drain', done); req.off('close', done); r(); }; req.on('drain', done); req.on('close', done); });
      }
      req.end();
    })().catch(reject);
  });
}

// a streamed download: sha-256 and length of the body, without keeping it
function download(client, path) {
  const h = { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  return new Promise((resolve, reject) => {
    https.get(client.server.url + path, { headers: h, ca: client.server.ca, servername: 'localhost' }, (res) => {
      const hash = createHash('sha256');
      let n = 0;
      const first = [];
      res.on('data', (c) => { hash.update(c); n += c.length; if (first.length < 4) first.push(c); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, sha: hash.digest('hex'), length: n, head: Buffer.concat(first) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function rss(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+) kB`))[1]);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

const blobs = () => readdirSync(join(d.dir, 'files'));
const fileRows = () => Number(sqlite(join(d.dir, 'phiportal.db'), 'SELECT count(*) FROM file').trim());
const auditRows = (where) => sqlite(join(d.dir, 'audit.db'), `SELECT action, outcome, resource_id, detail FROM audit_event WHERE ${where} ORDER BY seq`).trim();

// Under AddressSanitizer freed memory is held in a quarantine (256 MB by default), which would
// count as resident growth: keep it small for this file's servers.
if (process.env.ASAN_OPTIONS !== undefined || /asan/.test(process.env.PP_BIN || '')) {
  process.env.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=4:thread_local_quarantine_size_kb=64`;
}

before(async () => {
  clamd = await startClamd({ streamMax: '256M' });
  d = makeData({ config: { 'files.clamd_socket': clamd.socket, 'files.max_bytes': 256 * MB } });
  server = await startServer(d.dir);
  [alice, bob] = d.accounts.filter((a) => a.role === 'patient');
  ca = await signIn(server, alice);
  cb = await signIn(server, bob);
});

after(async () => {
  await server?.stop().catch(() => {});
  await clamd?.stop();
  d?.cleanup();
});

test('a PNG named .pdf is typed by its content, stored encrypted, downloaded intact with safe headers', async () => {
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, PNG, { name: '../../etc/scan\u202Egnp.pdf', headers: { 'content-type': 'application/pdf' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.type, 'image/png');
  assert.equal(r.json.size, PNG.length);
  assert.match(r.json.file_id, /^[0-9a-f]{32}$/);
  assert.equal(r.json.name, 'etcscangnp.pdf');   // no separators, no bidi override, no leading dots
  const g = await download(ca, `/api/v1/files/${r.json.file_id}`);
  assert.equal(g.status, 200);
  assert.equal(g.sha, createHash('sha256').update(PNG).digest('hex'));
  assert.equal(g.headers['content-type'], 'image/png');
  assert.equal(g.headers['x-content-type-options'], 'nosniff');
  assert.match(g.headers['cache-control'], /no-store/);
  assert.equal(g.headers['content-disposition'], "attachment; filename*=UTF-8''etcscangnp.pdf");
  // blob named by random hex, not holding the plaintext
  for (const b of blobs()) assert.match(b, /^[0-9a-f]{32}$/);
  const rows = auditRows(`action='file.upload' AND resource_id='${r.json.file_id}'`);
  assert.match(rows, /file.upload\|success\|[0-9a-f]{32}\|clean type=image\/png size=\d+/);
  assert.doesNotMatch(sqlite(join(d.dir, 'audit.db'), 'SELECT group_concat(detail) FROM audit_event'), /gnp|etc/);
  assert.match(auditRows(`action='file.download' AND resource_id='${r.json.file_id}'`), /success/);
});

test('EICAR is refused by the real clamd, audited, and nothing is stored', async () => {
  const before = { blobs: blobs().length, rows: fileRows() };
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, Buffer.from(EICAR), { name: 'notes.txt' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'malware_detected');
  assert.deepEqual({ blobs: blobs().length, rows: fileRows() }, before);
  assert.match(auditRows("action='file.refused'"), /file.refused\|failure\|\|malware_detected type=text\/plain size=68 signature=Eicar-Test-Signature/);
});

test('an ELF executable is refused whatever its name and declared type', async () => {
  const before = { blobs: blobs().length, rows: fileRows() };
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, readFileSync('/bin/true'), { name: 'report.pdf', headers: { 'content-type': 'application/pdf' } });
  assert.equal(r.status, 415, r.text);
  assert.equal(r.json.error.code, 'executable_refused');
  const t = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, Buffer.from('#!/bin/sh\nrm -rf /\n'), { name: 'x.txt' });
  assert.equal(t.status, 415, t.text);
  assert.equal(t.json.error.code, 'type_not_allowed');
  assert.deepEqual({ blobs: blobs().length, rows: fileRows() }, before);
});

test('a declared oversize upload is refused with 413 before any byte of the body is read', async () => {
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, null, { length: 300 * MB, name: 'big.txt' });
  assert.equal(r.status, 413, r.text);
  assert.equal(r.json.error.code, 'too_large');
  assert.equal(r.sent, 0);
  assert.match(auditRows("action='file.refused'"), /too_large/);
});

test('another patient\'s file and record answer 404; uploads need the CSRF token', async () => {
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, PDF, { name: 'letter.pdf' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.type, 'application/pdf');
  async function* chunked() { yield PDF.subarray(0, 10); yield PDF.subarray(10); }
  const ch = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, chunked(), { name: 'chunked.pdf' });
  assert.equal(ch.status, 201, ch.text);
  assert.equal(ch.json.size, PDF.length);
  const g = await download(cb, `/api/v1/files/${r.json.file_id}`);
  assert.equal(g.status, 404);
  const u = await upload(cb, `/api/v1/patients/${alice.patient_id}/files`, PDF, { name: 'x.pdf' });
  assert.equal(u.status, 404, u.text);
  assert.match(auditRows(`action='file.download' AND outcome='denied'`), /not-own-record/);
  const n = await download(ca, '/api/v1/files/00000000000000000000000000000000');
  assert.equal(n.status, 404);
  const noCsrf = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, PDF, { headers: { 'x-csrf-token': 'wrong' } });
  assert.equal(noCsrf.status, 403);
  const anon = await upload({ ...ca, cookies: new Map(), server }, `/api/v1/patients/${alice.patient_id}/files`, PDF);
  assert.equal(anon.status, 401);
});

test('documents: an upload creates a DocumentReference and is listed for the patient only', async () => {
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/documents`, PDF, { name: 'Discharge summary.pdf' });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.document_id, /^[0-9a-f]{32}$/);
  const l = await ca.get(`/api/v1/patients/${alice.patient_id}/documents`);
  assert.equal(l.status, 200);
  const doc = l.json.documents.find((x) => x.file_id === r.json.file_id);
  assert.equal(doc.name, 'Discharge summary.pdf');
  assert.equal(doc.type, 'application/pdf');
  const type = sqlite(join(d.dir, 'phiportal.db'), `SELECT type FROM resource WHERE pub_id='${r.json.document_id}'`).trim();
  assert.equal(type, 'DocumentReference');
  const other = await cb.get(`/api/v1/patients/${alice.patient_id}/documents`);
  assert.equal(other.status, 404);
});

test('200 MB upload and download: server memory stays bounded, bytes equal, blob is ciphertext', async () => {
  const MARK = 'PLAINTEXT-MARKER-7f3a9c';
  const line = `${MARK} the quick brown fox jumps over the lazy dog 0123456789\n`;
  const block = Buffer.from(line.repeat(Math.ceil(MB / line.length)).slice(0, MB));
  const total = 200 * MB;
  const hash = createHash('sha256');
  async function* body() { for (let i = 0; i < total / MB; i++) { hash.update(block); yield block; } }
  const pid = server.proc.pid;
  const m0 = rss(pid);
  const t0 = Date.now();
  const r = await upload(ca, `/api/v1/patients/${alice.patient_id}/files`, body(), { name: 'big.txt', length: total });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.size, total);
  const sha = hash.digest('hex');
  const g = await download(ca, `/api/v1/files/${r.json.file_id}`);
  const secs = (Date.now() - t0) / 1000;
  const m1 = rss(pid);
  assert.equal(g.status, 200);
  assert.equal(g.length, total);
  assert.equal(g.sha, sha);
  const growth = Math.max(m1.rss - m0.rss, m1.hwm - m0.hwm);
  console.log(`# 200 MB up+down in ${secs.toFixed(1)} s; RSS ${(m0.rss / MB).toFixed(1)} -> ${(m1.rss / MB).toFixed(1)} MB, peak ${(m0.hwm / MB).toFixed(1)} -> ${(m1.hwm / MB).toFixed(1)} MB`);
  assert.ok(growth < 32 * MB, `server memory grew by ${(growth / MB).toFixed(1)} MB`);
  assert.ok(secs < 60, `took ${secs} s`);
  // the blob on disk: the right size, no plaintext marker anywhere in it
  const name = sqlite(join(d.dir, 'phiportal.db'), `SELECT blob FROM file WHERE pub_id='${r.json.file_id}'`).trim();
  const path = join(d.dir, 'files', name);
  assert.ok(statSync(path).size > total);
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(4 * MB);
  let n, found = false, tail = '';
  while ((n = readSync(fd, buf, 0, buf.length)) > 0) {
    const s = tail + buf.subarray(0, n).toString('latin1');
    if (s.includes(MARK)) { found = true; break; }
    tail = s.slice(-MARK.length);
  }
  closeSync(fd);
  assert.equal(found, false, 'plaintext marker found in the blob');
});

test('a lying upload (chunked, no Content-Length) is cut off past the limit and nothing is kept', async () => {
  // runs against a server with a 1 MiB limit (restarted below with the same data)
  await server.stop();
  setConfig(d.dir, { 'files.max_bytes': MB });
  server = await startServer(d.dir);
  const c = cur = await signIn(server, alice);
  const before = { blobs: blobs().length, rows: fileRows() };
  const block = Buffer.alloc(64 * 1024, 'a');
  async function* body() { for (let i = 0; i < 400 * 16; i++) yield block; }   // 400 MB, never all sent
  const m0 = rss(server.proc.pid);
  const r = await upload(c, `/api/v1/patients/${alice.patient_id}/files`, body(), { name: 'a.txt' }).catch((e) => ({ error: e }));
  const m1 = rss(server.proc.pid);
  assert.ok(r.aborted || r.status === 413, JSON.stringify(r));
  assert.ok(r.sent < 32 * MB, `client sent ${r.sent} bytes before the cut`);
  assert.ok(m1.rss - m0.rss < 32 * MB);
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual({ blobs: blobs().length, rows: fileRows() }, before);
  assert.match(auditRows("action='file.refused'"), /too_large type=text\/plain size=1048576/);
  // a refusal found in the body (not its length) is answered once the body is complete
  const elf = readFileSync('/bin/true');
  async function* elfChunks() { yield elf.subarray(0, 20000); yield elf.subarray(20000); }
  const e = await upload(c, `/api/v1/patients/${alice.patient_id}/files`, elfChunks(), { name: 'x' });
  assert.equal(e.status, 415, e.text);
});

test('clamd down: uploads are refused (fail closed), then quarantined in quarantine mode and released by a rescan', async () => {
  await clamd.stop();
  const before = { blobs: blobs().length, rows: fileRows() };
  const r = await upload(cur || ca, `/api/v1/patients/${alice.patient_id}/files`, PDF, { name: 'a.pdf' });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.error.code, 'scan_unavailable');
  assert.deepEqual({ blobs: blobs().length, rows: fileRows() }, before);
  assert.match(auditRows("action='file.refused'"), /scan_unavailable/);

  await server.stop();
  setConfig(d.dir, { 'files.scan_mode': 'quarantine', 'files.max_bytes': 25 * MB });
  server = await startServer(d.dir);
  const c = await signIn(server, alice);
  const q = await upload(c, `/api/v1/patients/${alice.patient_id}/files`, PDF, { name: 'q.pdf' });
  assert.equal(q.status, 201, q.text);
  assert.equal(q.json.status, 'quarantined');
  const e = await upload(c, `/api/v1/patients/${alice.patient_id}/files`, Buffer.from(EICAR), { name: 'e.txt' });
  assert.equal(e.status, 201, e.text);
  assert.equal(e.json.status, 'quarantined');
  const g = await download(c, `/api/v1/files/${q.json.file_id}`);
  assert.equal(g.status, 409);
  assert.doesNotMatch(g.head.toString('latin1'), /%PDF/);

  clamd = await startClamd();
  setConfig(d.dir, { 'files.clamd_socket': clamd.socket });
  const rs = cli(['--data', d.dir, 'files', 'rescan']);
  assert.equal(rs.status, 0, rs.stderr + rs.stdout);
  assert.match(rs.stdout, /1 clean, 1 infected/);
  const ok = await download(c, `/api/v1/files/${q.json.file_id}`);
  assert.equal(ok.status, 200);
  assert.equal(ok.sha, createHash('sha256').update(PDF).digest('hex'));
  const gone = await download(c, `/api/v1/files/${e.json.file_id}`);
  assert.equal(gone.status, 404);
});
