/**
 * Issue 19 item 6: /proc/net/unix is text with names printed raw, so any user
 * can bind an abstract name holding a newline and a whole forged row. probe
 * reads listeners from sock_diag (names as bytes), so a forged row names no
 * one: probe of an absent path must not report SOCKET_DELETED naming the
 * forger's process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { lsPeer } from './helpers/ls-peers.js';
import { cleanup, probeJson } from './fixtures/probe-helpers.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { chmodSync } from 'node:fs';
import { killChildren, spawnChild, waitForOutput } from './helpers/children.js';
import { FIXTURES } from './helpers/peers.js';
import { STRICT, requireRoot } from './helpers/requirements.js';
import { spawnSync } from 'node:child_process';
import { socketTypeCandidates, socketTypeFromProc } from '../src/core/socket/socket-type.js';
import { runCli } from './helpers/run-cli.js';
import { parseTarget } from '../src/core/socket/target.js';

/** A folder uid 65534 may use too (the forger runs as that user when we are root). */
function sharedTmp(): string {
  const dir = tmpDir();
  chmodSync(dir, 0o1777);
  return dir;
}

afterEach(cleanup);
afterEach(killChildren);

it('a forged /proc/net/unix row (a newline in an abstract name) is not taken for a listener of a deleted file', async () => {
  const absent = join(tmpDir(), 'absent.sock');
  const forger = await lsPeer(['forge', absent], { asOther: true });
  // The forgery is there in the text, as a row of its own that claims the path.
  const rows = readFileSync('/proc/net/unix', 'utf8').split('\n');
  expect(rows.some((r) => r.endsWith(` ${forger.inode} ${absent}`))).toBe(true);

  const { t } = await probeJson([absent, '--timeout', '300ms', '--connect-timeout', '300ms']);
  const codes = t.findings.map((f: { code: string }) => f.code);
  expect(codes).not.toContain('SOCKET_DELETED');
  expect(codes).toContain('NOT_FOUND');
  expect(JSON.stringify(t)).not.toContain(`pid ${forger.pid}`);
});

it('a forged row gives no socket type: send and probe take the type from sock_diag, not from the text', async () => {
  const absent = join(tmpDir(), 'absent.sock');
  await lsPeer(['forge', absent, '0002'], { asOther: true });
  // The text claims a dgram listener at the path: what the lookup took before.
  expect(await socketTypeFromProc(parseTarget(absent), '/proc/net/unix')).toBe('dgram');
  expect(await socketTypeFromProc(parseTarget(absent))).toBeNull();
  // send's hint (it reads the text so as not to load the FFI at start): tried first, never the only type.
  expect(await socketTypeCandidates(parseTarget(absent))).toEqual({ types: ['dgram', 'stream', 'seqpacket'], source: 'proc' });
});

it('a socket served from another network namespace, with a forged dgram row for its path: probe is still healthy (was TYPE_MISMATCH)', async (ctx) => {
  requireRoot('unshare -n: a server in a network namespace of its own, its socket file shared');
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) {
    const why = 'unshare -n fails here (root without CAP_SYS_ADMIN)';
    if (STRICT) throw new Error(`${why} (UDSCTL_TEST_STRICT=1: nothing may skip)`);
    return ctx.skip(why);
  }
  const sock = join(sharedTmp(), 'netns.sock');
  // The namespace's sockets are not in our sock_diag nor in our /proc/net/unix: only the forged row names the path.
  const server = spawnChild('unshare', ['-n', 'python3', join(FIXTURES, 'ls-peers.py'), 'listen', 'stream', sock]);
  await waitForOutput(server, /^ready /m, 10_000);
  await lsPeer(['forge', sock, '0002'], { asOther: true });
  const { r, t } = await probeJson([sock, '--connect-only', '--timeout', '2s']);
  expect(t.code).toBe('OK');
  expect(t.socketType).toBe('stream');
  expect(t.socketTypeSource).toBe('connect');
  expect(r.status).toBe(0);
  // send: the forged dgram hint is refused by the kernel (EPROTOTYPE, nothing sent), then stream connects.
  const sent = await runCli(['send', '--json', '--timeout', '500ms', sock, 'hello']);
  const rec = JSON.parse(sent.stdout);
  expect(rec).toMatchObject({ socketType: 'stream', socketTypeSource: 'connect', bytesSent: 5 });
  expect(rec.error?.code).not.toBe('WRONG_TYPE');
});
