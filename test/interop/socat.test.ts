import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchange, parseEndRule } from '../../src/index.js';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { requirePeers } from '../helpers/requirements.js';
import { OK_REPLY_RE } from '../helpers/peers.js';
import { collectLogs, serve } from '../helpers/servers.js';
import { tmpDir } from '../helpers/tmp-dir.js';

// Not installed: these tests skip (one summary line at the end); UDSCTL_TEST_STRICT=1 makes that a failure.
beforeEach(() => requirePeers('socat'));
afterEach(killChildren);

/** socat as a client: stdin to the socket, the socket to stdout; -t bounds the wait after stdin EOF. */
function socatClient(address: string, input: string, waitAfterEof = '2') {
  return run('socat', ['-t', waitAfterEof, '-', address], { input, timeoutMs: 10_000 });
}

/** socat as a server on `listen`, running `reply` for each connection; resolves once it listens. */
async function socatServer(listen: string, reply: string) {
  const peer = spawnChild('socat', ['-d', '-d', listen, reply], { timeoutMs: 15_000 });
  await waitForOutput(peer, /listening on/);
  return peer;
}

describe('socat as a client of udsctl startServer()', () => {
  it('gets the default reply', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    const r = await socatClient(`UNIX-CONNECT:${path}`, 'hello from socat\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(OK_REPLY_RE);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ request: 'hello from socat\n', end: 'closed' });
  });

  it('half-closes on stdin EOF, so a read-to-EOF echo server answers', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'eof', echo: true });
    const r = await socatClient(`UNIX-CONNECT:${path}`, 'line one\nline two\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('line one\nline two\n');
  });

  it('gets one reply per line from a keep-alive server', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { keepAlive: true });
    const logs = collectLogs(server);
    const r = await socatClient(`UNIX-CONNECT:${path}`, 'a\nb\nc\n');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split(/(?<=\n)/);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(OK_REPLY_RE);
    const [log] = await logs.waitFor(1);
    expect(log.requests).toBe(3);
  });

  it('against never-close, socat only stops because of its own -t timeout', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'never-close' });
    const r = await socatClient(`UNIX-CONNECT:${path}`, 'hello\n', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(OK_REPLY_RE);
  });
});

describe('udsctl exchange() against socat servers', () => {
  it('a socat SYSTEM server: reply to EOF', async () => {
    const path = join(tmpDir(), 'socat.sock');
    // `read` first: a command that exits with our request unread makes its
    // socketpair report a reset to socat, which may then drop the output.
    await socatServer(`UNIX-LISTEN:${path}`, 'SYSTEM:read l; echo hello-from-socat');
    const r = await exchange(path, { payload: Buffer.from('hi\n') });
    expect(r.error).toBeUndefined();
    expect(r.reply.toString()).toBe('hello-from-socat\n');
    expect(r.end).toBe('closed');
  });

  it('a socat cat server: all 256 byte values round-trip with half-close', async () => {
    const path = join(tmpDir(), 'socat.sock');
    await socatServer(`UNIX-LISTEN:${path}`, 'EXEC:cat');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await exchange(path, { payload: all, halfClose: true });
    expect(r.error).toBeUndefined();
    expect(r.reply).toEqual(all);
  });

  it('without half-close, a cat server never closes: NEVER_CLOSED, with the echo in hand', async () => {
    const path = join(tmpDir(), 'socat.sock');
    await socatServer(`UNIX-LISTEN:${path}`, 'EXEC:cat');
    const r = await exchange(path, { payload: Buffer.from('ping\n'), timeout: 1_000 });
    expect(r.error?.code).toBe('NEVER_CLOSED');
    expect(r.reply.toString()).toBe('ping\n');
  });

  it('a forking socat server answers several exchanges, line by line', async () => {
    const path = join(tmpDir(), 'socat.sock');
    await socatServer(`UNIX-LISTEN:${path},fork`, 'SYSTEM:read l; echo "got $l"');
    for (const word of ['alpha', 'beta', 'gamma']) {
      const r = await exchange(path, { payload: Buffer.from(`${word}\n`), until: parseEndRule('line') });
      expect(r.error).toBeUndefined();
      expect(r.reply.toString()).toBe(`got ${word}\n`);
    }
  });
});
