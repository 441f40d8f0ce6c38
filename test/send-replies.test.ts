/**
 * What `udsctl send` tells a human about the reply: the advice when a server
 * keeps the connection open after a complete reply (both readings), and
 * binary replies shown as a hex dump in the report lines (-v) while stdout
 * stays the raw bytes and --json keeps base64.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { cleanup, redis, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

describe('send: a server that keeps the connection open after its reply', () => {
  it('Redis (persistent, rightly open): the advice names --until / a protocol flag and the close reading', async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const r = await runCli(['send', '--timeout', '500ms', sock, 'PING\\r\\n']);
    expect(r.status).toBe(8);
    expect(r.stdout).toBe('+PONG\r\n');
    expect(r.stderr).toContain('If the protocol is persistent, end the reply with --until line / idle: / len: or a protocol flag;');
    expect(r.stderr).toContain('if it should close, the server must close (Go: defer conn.Close())');
    // The advice is followed: framed by a line, the same exchange is a success.
    const framed = await runCli(['send', '--until', 'line', '--timeout', '2s', sock, 'PING\\r\\n']);
    expect(framed.status).toBe(0);
    expect(framed.stdout).toBe('+PONG\r\n');
    expect(framed.stderr).toBe('');
  });

  it('a one-shot server that forgot to close gets the same two readings', async () => {
    const sock = join(tmpDir(), 'nc.sock');
    await serve(sock, ['--fault', 'never-close']);
    const r = await runCli(['send', '--timeout', '300ms', sock, 'hi']);
    expect(r.status).toBe(8);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(3);
    expect(r.stderr).toContain('(Go: defer conn.Close())');
  });
});
