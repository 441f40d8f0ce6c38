/**
 * A caller that closes our stdin or stdout (issue 19 item 11), also when it
 * runs the script through node itself (`node bin/udsctl.cjs`, so the
 * launcher's sh line never looks): a closed stdout fails send clearly rather
 * than losing the reply with exit 0; a closed stdin reads as empty.
 */
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run } from '../helpers/children.js';
import { BIN } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => killChildren());

/** `node bin/udsctl.cjs ARGS REDIRS` run by sh ($1: the socket). */
const direct = (args: string, redirs: string, sock: string) =>
  run('/bin/sh', ['-c', `exec node "$0" ${args} ${redirs}`, BIN, sock], { env: { ...process.env, NO_COLOR: '1' }, timeoutMs: 15_000 });

/** A server that reads to end of file and answers with the count. */
async function countServer(): Promise<{ path: string; close: () => void }> {
  const path = join(tmpDir(), 's.sock');
  const server = net.createServer((c) => {
    let n = 0;
    c.on('data', (d) => (n += d.length)).on('end', () => c.end(`got ${n}\n`));
  });
  server.listen(path);
  await once(server, 'listening');
  return { path, close: () => server.close() };
}

describe('closed stdio, the script run by node itself', () => {
  it('stdout closed (>&-): send fails with one line and a non-zero status; >/dev/null still discards', async () => {
    const srv = await countServer();
    try {
      const closed = await direct('send -N "$1" hi', '>&-', srv.path);
      expect(closed.code).toBe(1);
      expect(closed.stderr.trim().split('\n')).toHaveLength(1);
      expect(closed.stderr).toMatch(/standard output is closed/);
      const discarded = await direct('send -N "$1" hi', '>/dev/null', srv.path);
      expect(discarded.code, discarded.stderr).toBe(0);
      // Through the launcher: the same.
      const launcher = await run('/bin/sh', ['-c', 'exec "$0" send -N "$1" hi >&-', BIN, srv.path]);
      expect(launcher.code).toBe(1);
    } finally {
      srv.close();
    }
  });

  it('stdin closed (<&-): a message argument is sent, "-" reads nothing; no internal error', async () => {
    const srv = await countServer();
    try {
      const arg = await direct('send -N "$1" hi', '<&-', srv.path);
      expect([arg.code, arg.stdout, arg.stderr]).toEqual([0, 'got 2\n', '']);
      const dash = await direct('send -N "$1" -', '<&-', srv.path);
      expect([dash.code, dash.stdout, dash.stderr]).toEqual([0, 'got 0\n', '']);
      const both = await direct('send -N "$1" hi', '<&- 2>&1 >&-', srv.path);
      expect(both.code).toBe(1);
      expect(both.stdout).toMatch(/standard output is closed/);
    } finally {
      srv.close();
    }
  });
});
