/**
 * Library callers (issue 19 item 8): a replyTo.write() or onData that throws
 * inside a socket callback becomes the exchange's typed error (the process
 * lives on), and so does the session's (startSession's onData and onEvent); a payloadStream or replyTo that is not a stream is a clear
 * BAD_OPTION, not a TypeError. On a stream and a seqpacket socket alike.
 */
import { Writable } from 'node:stream';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from '../../src/core/exchange.js';
import { startSession } from '../../src/core/session.js';
import { Readable } from 'node:stream';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { requirePeers } from '../helpers/requirements.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await killChildren();
});

/** A stream server that answers every request with a line and stays open. */
async function lineServer(): Promise<string> {
  const path = join(tmpDir(), 'line.sock');
  const server = net.createServer((c) => c.on('data', () => c.write('hello\n')));
  await new Promise<void>((r) => server.listen(path, r));
  closers.push(() => server.close());
  return path;
}

/** socat's seqpacket echo (type=5, cat): each message comes back. */
async function seqpacketEcho(): Promise<string> {
  requirePeers('socat');
  const path = join(tmpDir(), 'sp.sock');
  const p = spawnChild('socat', ['-d', '-d', `UNIX-LISTEN:${path},type=5,fork`, 'EXEC:cat'], { timeoutMs: 30_000 });
  await waitForOutput(p, /listening on/, 10_000);
  return path;
}

const throwingSink = () =>
  new Writable({
    write() {
      throw new Error('sink broke');
    },
  });

describe.each([
  ['stream', lineServer],
  ['seqpacket', seqpacketEcho],
] as const)('callbacks that throw, on a %s socket', (_type, start) => {
  it('onData throws: IO_ERROR naming it, the thrown error on cause', async () => {
    const boom = new Error('caller bug');
    const r = await exchange(await start(), {
      payload: Buffer.from('hi\n'),
      until: { kind: 'line' },
      timeout: 8_000,
      onData: () => {
        throw boom;
      },
    });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('IO_ERROR');
    expect(r.error?.message).toMatch(/onData threw: caller bug/);
    expect(r.error?.cause).toBe(boom);
  });

  it('replyTo.write() throws: IO_ERROR naming it', async () => {
    const r = await exchange(await start(), { payload: Buffer.from('hi\n'), until: { kind: 'line' }, timeout: 8_000, replyTo: throwingSink() });
    expect(r.error?.code).toBe('IO_ERROR');
    expect(r.error?.message).toMatch(/replyTo\.write\(\) threw: sink broke/);
  });
});

describe.each([
  ['stream', lineServer],
  ['seqpacket', seqpacketEcho],
] as const)('startSession callbacks that throw, on a %s socket', (_type, start) => {
  it('onData throws: the session ends with IO_ERROR naming it, the thrown error on cause (the process lives on)', async () => {
    const boom = new Error('caller bug');
    const s = startSession(await start(), {
      input: Readable.from([Buffer.from('hi\n')]),
      timeout: 8_000,
      onData: () => {
        throw boom;
      },
    });
    const r = await s.done;
    expect(r.ok).toBe(false);
    expect(r.end).toBe('error');
    expect(r.error?.code).toBe('IO_ERROR');
    expect(r.error?.message).toMatch(/onData threw: caller bug/);
    expect(r.error?.cause).toBe(boom);
  });

  it('onEvent throws (on connected): IO_ERROR naming it', async () => {
    const s = startSession(await start(), {
      input: Readable.from([Buffer.from('hi\n')]),
      timeout: 8_000,
      onEvent: () => {
        throw new Error('event bug');
      },
    });
    const r = await s.done;
    expect(r.error?.code).toBe('IO_ERROR');
    expect(r.error?.message).toMatch(/onEvent threw: event bug/);
  });
});

describe('options that are not streams', () => {
  it('a payloadStream without once(): BAD_OPTION saying what it lacks', async () => {
    const fake = { on() {}, pause() {}, resume() {} };
    await expect(exchange('/nonexistent.sock', { payloadStream: fake as never })).rejects.toMatchObject({
      code: 'BAD_OPTION',
      message: expect.stringMatching(/payloadStream must be a readable stream \(it has no once\(\), removeListener\(\)\)/),
    });
  });

  it('startSession: an input without once(), an onData that is not a function: BAD_OPTION, not a TypeError', () => {
    const fake = { on() {} };
    expect(() => startSession('/nonexistent.sock', { input: fake as never })).toThrow(/input must be a readable stream \(it has no once\(\), removeListener\(\), pause\(\), resume\(\)\)/);
    expect(() => startSession('/nonexistent.sock', { onData: 5 as never })).toThrow(expect.objectContaining({ code: 'BAD_OPTION', message: 'onData must be a function' }));
  });

  it('a replyTo with write() only: BAD_OPTION', async () => {
    await expect(exchange('/nonexistent.sock', { replyTo: { write: () => true } as never })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
