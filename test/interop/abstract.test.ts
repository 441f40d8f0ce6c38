/**
 * Linux abstract names (@name) must meet the exact name other programs use:
 * socat's ABSTRACT-* addresses and Python's '\0name', with no NUL padding.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, parseEndRule } from '../../src/index.js';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES, OK_REPLY_RE } from '../helpers/peers.js';
import { collectLogs, serve } from '../helpers/servers.js';
import { uniqueAbstractName } from '../helpers/tmp-dir.js';

// socat or python3 not installed: the tests that start one skip (spawnChild checks), one summary line at the end.
afterEach(killChildren);

describe('udsctl startServer("@name") as the server', () => {
  it('socat ABSTRACT-CONNECT reaches it', async () => {
    const name = uniqueAbstractName();
    const server = await serve(name);
    const logs = collectLogs(server);
    const r = await run('socat', ['-t', '2', '-', `ABSTRACT-CONNECT:${name.slice(1)}`], { input: 'hello\n', timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(OK_REPLY_RE);
    const [log] = await logs.waitFor(1);
    expect(log.request).toBe('hello\n');
  });

  it("Python '\\0name' reaches it, echo with half-close", async () => {
    const name = uniqueAbstractName();
    await serve(name, { echo: true, read: 'eof' });
    const r = await run('python3', [join(FIXTURES, 'client.py'), name, 'abstract echo\\n', '--half-close'], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ reply: 'abstract echo\n', closed: true, error: null });
  });

  it('names match exactly: one byte more is another name', async () => {
    const name = uniqueAbstractName();
    await serve(name);
    const r = await run('socat', ['-t', '1', '-', `ABSTRACT-CONNECT:${name.slice(1)}x`], { input: 'x\n', timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection refused/);
  });
});

describe('udsctl exchange("@name") as the client', () => {
  it('reaches socat ABSTRACT-LISTEN', async () => {
    const name = uniqueAbstractName();
    const peer = spawnChild('socat', ['-d', '-d', `ABSTRACT-LISTEN:${name.slice(1)}`, 'SYSTEM:read l; echo from-socat'], { timeoutMs: 15_000 });
    await waitForOutput(peer, /listening on/);
    const r = await exchange(name, { payload: Buffer.from('hi\n') });
    expect(r.error).toBeUndefined();
    expect(r.reply.toString()).toBe('from-socat\n');
  });

  it('binary round trip through socat ABSTRACT-LISTEN + cat with half-close', async () => {
    const name = uniqueAbstractName();
    const peer = spawnChild('socat', ['-d', '-d', `ABSTRACT-LISTEN:${name.slice(1)}`, 'EXEC:cat'], { timeoutMs: 15_000 });
    await waitForOutput(peer, /listening on/);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await exchange(name, { payload: all, halfClose: true });
    expect(r.error).toBeUndefined();
    expect(r.reply).toEqual(all);
  });

  it("reaches the Python one-shot server on '\\0name'", async () => {
    const name = uniqueAbstractName();
    const peer = spawnChild('python3', [join(FIXTURES, 'oneshot-server.py'), name, '2'], { timeoutMs: 15_000 });
    await waitForOutput(peer, /^ready$/m);
    const eof = await exchange(name, { payload: Buffer.from('first\n') });
    expect(eof.reply.toString()).toMatch(OK_REPLY_RE);
    const line = await exchange(name, { payload: Buffer.from('second\n'), until: parseEndRule('line') });
    expect(line.reply.toString()).toMatch(OK_REPLY_RE);
    expect((await peer.exited).code).toBe(0);
    expect(peer.stdout()).toMatch(/request first\nrequest second\n/);
  });
});
