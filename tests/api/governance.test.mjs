// Connection governance in front of everything: global source-address allow/deny lists (CIDR) and
// a per-IP token bucket (429 with Retry-After).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, Client, cli } from './harness.mjs';

async function withServer(config, fn) {
  const d = makeData({ demo: false, config });
  const srv = await startServer(d.dir);
  try { await fn(new Client(srv)); } finally { await srv.stop(); d.cleanup(); }
}

test('per-IP rate limit: beyond the budget 429 with Retry-After, a stable code', async () => {
  await withServer({ 'limits.ip_rate_per_min': 20 }, async (c) => {
    const rs = [];
    for (let i = 0; i < 30; i++) rs.push(await c.get('/healthz'));
    const ok = rs.filter((r) => r.status === 200).length;
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(ok >= 19 && ok <= 21, `about one minute's budget passes (${ok})`);
    assert.ok(limited.length >= 9);
    assert.equal(limited[0].json.error.code, 'rate_limited');
    assert.ok(Number(limited[0].headers['retry-after']) >= 1);
    assert.ok(limited[0].headers['strict-transport-security'], 'security headers on refusals too');
  });
});

test('global deny list refuses matching sources with 403', async () => {
  await withServer({ 'server.ip_deny': '10.0.0.0/8 127.0.0.0/8' }, async (c) => {
    const r = await c.get('/healthz');
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'ip_refused');
  });
});

test('global allow list admits only listed sources', async () => {
  await withServer({ 'server.ip_allow': '192.0.2.0/24, 2001:db8::/32' }, async (c) => {
    assert.equal((await c.get('/healthz')).status, 403);
  });
  await withServer({ 'server.ip_allow': '127.0.0.1/32 ::1' }, async (c) => {
    assert.equal((await c.get('/healthz')).status, 200);
  });
});

test('a list that is not CIDR stops the server from starting', () => {
  const d = makeData({ demo: false, config: { 'server.ip_deny': '10.0.0/8' } });
  try {
    const r = cli(['--data', d.dir, 'serve', '--port', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /server\.ip_allow \/ server\.ip_deny must be CIDR lists/);
  } finally { d.cleanup(); }
});
