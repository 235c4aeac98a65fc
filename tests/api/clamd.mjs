// A real ClamAV clamd for tests: its own temporary directory, the test signature database
// (EICAR), a unix socket; started, waited for (the socket appears once the database is loaded),
// stopped by its pid.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const NDB = process.env.PP_CLAMAV_NDB || '/work/shared/fixtures/clamav/eicar-test.ndb';

export async function startClamd({ streamMax = '30M' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pp-clamd-'));
  mkdirSync(join(dir, 'db'));
  copyFileSync(NDB, join(dir, 'db', 'test.ndb'));
  const socket = join(dir, 'clamd.sock');
  writeFileSync(join(dir, 'clamd.conf'), [
    `DatabaseDirectory ${join(dir, 'db')}`, `LocalSocket ${socket}`, 'Foreground yes',
    `PidFile ${join(dir, 'clamd.pid')}`, 'User root', `StreamMaxLength ${streamMax}`,
    `TemporaryDirectory ${dir}`, '',
  ].join('\n'));
  const proc = spawn('clamd', ['-c', join(dir, 'clamd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const deadline = Date.now() + 30000;
  while (!existsSync(socket) || !(await ping(socket))) {
    if (proc.exitCode !== null) throw new Error(`clamd exited ${proc.exitCode}: ${stderr}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('clamd did not start: ' + stderr); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket, dir, proc,
    stop: () => new Promise((resolve) => {
      const done = () => { rmSync(dir, { recursive: true, force: true }); resolve(); };
      if (proc.exitCode !== null) return done();
      proc.on('exit', done);
      proc.kill('SIGTERM');
    }),
  };
}

function ping(socket) {
  return new Promise((resolve) => {
    const s = net.createConnection(socket);
    let out = '';
    s.on('connect', () => s.write('zPING\0'));
    s.on('data', (d) => { out += d; if (out.includes('PONG')) { s.destroy(); resolve(true); } });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(out.includes('PONG')));
  });
}
