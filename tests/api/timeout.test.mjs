// Session timeouts enforced by the server: idle (a session left alone ends) and absolute (a
// session kept busy still ends). Run with short timeouts set in the config.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, signIn } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let d, srv;
before(async () => {
  d = makeData({ config: { 'session.idle_timeout_s': 10, 'session.absolute_timeout_s': 25 } });
  srv = await startServer(d.dir);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('idle timeout: GET /auth/session does not extend it, activity does, inactivity ends it', async () => {
  const c = await signIn(srv, d.accounts[0]);
  let s = await c.get('/api/v1/auth/session');
  assert.equal(s.status, 200);
  assert.equal(s.json.idle_timeout_s, 10);
  assert.ok(s.json.idle_remaining_s <= 10 && s.json.idle_remaining_s >= 8);
  await sleep(6000);
  s = await c.get('/api/v1/auth/session');
  assert.ok(s.json.idle_remaining_s <= 5, 'peeking does not reset the idle timer');
  assert.equal((await c.post('/api/v1/auth/keepalive')).status, 200);
  await sleep(6000);
  assert.equal((await c.get('/api/v1/me')).status, 200, 'keepalive reset the idle timer');
  await sleep(11000);
  const r = await c.get('/api/v1/me');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'session_expired');
  // and the session is gone for good
  assert.equal((await c.get('/api/v1/me')).status, 401);
});

test('absolute timeout ends a busy session', async () => {
  const c = await signIn(srv, d.accounts[1]);
  const start = Date.now();
  let status = 200;
  while (Date.now() - start < 32000) {
    status = (await c.get('/api/v1/me')).status;
    if (status !== 200) break;
    await sleep(4000);
  }
  assert.equal(status, 401, 'the session ended although it was in use');
  assert.ok(Date.now() - start >= 20000, 'not before the absolute timeout');
});
