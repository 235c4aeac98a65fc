// A login flood must not stall the rest of the server: password hashing runs on its own bounded
// pool, so health checks and signed-in reads are answered while logins queue, and logins beyond
// the queue are refused at once with 503 busy instead of piling up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, Client, signIn } from './harness.mjs';

let d, srv;
before(async () => {
  d = makeData({ config: { 'auth.ip_max_failures': 100000, 'auth.hash_queue_max': 16, 'auth.hash_threads': 1 } });
  srv = await startServer(d.dir);
});
after(async () => { await srv?.stop(); d?.cleanup(); });

test('health checks and record reads are served while logins queue; overflow is 503 busy', async () => {
  const reader = await signIn(srv, d.accounts[0]);
  let done = 0;
  const logins = Array.from({ length: 48 }, (_, i) => new Client(srv)
    .post('/api/v1/auth/login', { username: `flood.${i}`, password: 'not a real password' })
    .then((r) => { done++; return r; }));
  await new Promise((r) => setTimeout(r, 50));
  const h = await new Client(srv).get('/healthz');
  const doneAtHealth = done;
  const s = await reader.get('/api/v1/me/summary');
  const doneAtRead = done;
  const results = await Promise.all(logins);
  assert.equal(h.status, 200);
  assert.equal(s.status, 200);
  assert.ok(doneAtHealth < logins.length, `health check answered while ${logins.length - doneAtHealth} logins were pending`);
  assert.ok(doneAtRead < logins.length, 'a signed-in read was answered during the flood');
  const busy = results.filter((r) => r.status === 503);
  assert.ok(busy.length > 0, 'logins beyond the hashing queue are refused');
  for (const b of busy) { assert.equal(b.json.error.code, 'busy'); assert.ok(b.headers['retry-after']); }
  assert.ok(results.every((r) => [401, 503].includes(r.status)));
});
