// Smoke run of the native peers against each other, for checking the harness
// pieces by hand:
//
//   node perf/lib/smoke.mjs [SECONDS]     (default 3)
//
// c-server oneshot and persistent under c-client, then go-server under
// c-client oneshot with 4 threads. Prints one JSON line per run; exits 1 if
// a run had errors or no successful request.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPeers, runCClient, startPeerServer } from '../build.mjs';

const seconds = process.argv[2] ?? '3';
if (!/^\d+(\.\d+)?$/.test(seconds)) {
  process.stderr.write('usage: node perf/lib/smoke.mjs [SECONDS]\n');
  process.exit(2);
}
const peers = await buildPeers();
const dir = await mkdtemp(join(tmpdir(), 'udsctl-perf-'));
const expect = ['--expect', 'OK+ at '];
const runs = [
  { name: 'c-server oneshot', bin: peers.cServer, mode: 'oneshot', client: ['--threads', '2', '--connections', '4'] },
  { name: 'c-server persistent', bin: peers.cServer, mode: 'persistent', client: ['--threads', '2', '--connections', '4'] },
  { name: 'go-server oneshot', bin: peers.goServer, mode: 'oneshot', client: ['--threads', '4', '--connections', '4'] },
];
let failed = false;
try {
  for (const r of runs) {
    if (!r.bin) {
      process.stderr.write(`${r.name}: skipped (not built)\n`);
      continue;
    }
    const sock = join(dir, `${r.name.replace(/\W+/g, '-')}.sock`);
    const serverArgs = r.bin === peers.goServer ? ['-path', sock] : ['--path', sock, '--mode', r.mode];
    const server = await startPeerServer(r.bin, serverArgs, sock);
    try {
      const report = await runCClient(['--path', sock, '--mode', r.mode, '--duration', seconds, ...r.client, ...expect]);
      process.stdout.write(JSON.stringify({ run: r.name, ...report }) + '\n');
      if (report.errors > 0 || report.requests === 0) failed = true;
    } finally {
      const end = await server.stop();
      if (end.code !== 0) {
        process.stderr.write(`${r.name}: server ended with ${end.code ?? end.signal}\n${end.stderr}\n`);
        failed = true;
      }
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
