import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchange, parseEndRule } from '../../src/index.js';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { requirePeers } from '../helpers/requirements.js';
import { OK_REPLY_RE } from '../helpers/peers.js';
import { collectLogs, serve } from '../helpers/servers.js';
import { tmpDir } from '../helpers/tmp-dir.js';

// netcat-openbsd: -U Unix socket, -N shut down the write side on stdin EOF, -l listen.
// Not installed: these tests skip (one summary line at the end); UDSCTL_TEST_STRICT=1 makes that a failure.
beforeEach(() => requirePeers('nc'));
afterEach(killChildren);

describe('nc -U as a client of udsctl startServer()', () => {
  it('gets the default reply and exits when the server closes', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    const r = await run('nc', ['-U', path], { input: 'hello from nc\n', timeoutMs: 5_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(OK_REPLY_RE);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ request: 'hello from nc\n', end: 'closed' });
  });

  it('nc -N half-closes, so a read-to-EOF echo server answers', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'eof', echo: true });
    const r = await run('nc', ['-N', '-U', path], { input: 'to the end\n', timeoutMs: 5_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('to the end\n');
  });

  it('plain nc never half-closes: a read-to-EOF server waits until its idle timeout', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof', idleTimeout: 300 });
    const logs = collectLogs(server);
    const r = await run('nc', ['-U', path], { input: 'waiting\n', timeoutMs: 5_000 });
    expect(r.signal).toBeNull();
    expect(r.stdout).toBe('');
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'idle-timeout', requests: 0, bytesIn: 8 });
  });
});

describe('udsctl exchange() against nc -lU', () => {
  it('reads the line nc sends', async () => {
    const path = join(tmpDir(), 'nc.sock');
    const peer = spawnChild('nc', ['-v', '-l', '-U', path], { timeoutMs: 10_000 });
    peer.child.stdin?.end('hello from nc\n');
    await waitForOutput(peer, /Listening on/);
    const r = await exchange(path, { payload: Buffer.from('hi nc\n'), until: parseEndRule('line'), timeout: 3_000 });
    expect(r.error).toBeUndefined();
    expect(r.reply.toString()).toBe('hello from nc\n');
    expect(r.end).toBe('open');
    await peer.exited;
    expect(peer.stdout()).toBe('hi nc\n');
  });

  it('nc -N -l closes after its stdin, so the eof rule works', async () => {
    const path = join(tmpDir(), 'nc.sock');
    const peer = spawnChild('nc', ['-v', '-N', '-l', '-U', path], { timeoutMs: 10_000 });
    peer.child.stdin?.end('all of it\n');
    await waitForOutput(peer, /Listening on/);
    const r = await exchange(path, { payload: Buffer.from('x\n'), timeout: 3_000 });
    expect(r.error).toBeUndefined();
    expect(r.reply.toString()).toBe('all of it\n');
    expect(r.end).toBe('closed');
  });

  it('plain nc -l keeps the connection open: NEVER_CLOSED for the eof rule', async () => {
    const path = join(tmpDir(), 'nc.sock');
    const peer = spawnChild('nc', ['-v', '-l', '-U', path], { timeoutMs: 10_000 });
    peer.child.stdin?.end('partial story\n');
    await waitForOutput(peer, /Listening on/);
    const r = await exchange(path, { payload: Buffer.from('x\n'), timeout: 1_000 });
    expect(r.error?.code).toBe('NEVER_CLOSED');
    expect(r.reply.toString()).toBe('partial story\n');
  });
});
