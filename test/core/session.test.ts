/** core/session.ts through the library API, against the Python line peer (test/fixtures/session-peer.py). */
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SessionEvent, UdsError, startSession } from '../../src/index.js';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { tmpDir } from '../helpers/tmp-dir.js';

beforeEach(() => requirePeers('python3'));
afterEach(killChildren);

async function startPeer(...args: string[]): Promise<string> {
  const path = join(tmpDir(), 's.sock');
  const peer = spawnChild('python3', [join(FIXTURES, 'session-peer.py'), path, ...args], { timeoutMs: 30_000 });
  await waitForOutput(peer, /^ready$/m, 10_000);
  return path;
}

/** Resolves when `text` has arrived in `got()`. */
const arrived = (got: () => string, text: string) =>
  new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (got().includes(text)) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });

describe('startSession', () => {
  it('moves bytes both ways as they come, reports events in order, half-closes at the end of the input', async () => {
    const sock = await startPeer('--banner', 'hi');
    const input = new PassThrough();
    let got = '';
    const events: SessionEvent['type'][] = [];
    const timings: boolean[] = [];
    const s = startSession(sock, {
      input,
      crlf: true,
      onData: (chunk, t) => {
        got += chunk.toString();
        timings.push(t.afterSend);
        return true;
      },
      onEvent: (e) => events.push(e.type),
    });
    await arrived(() => got, 'hi\n');
    input.write('one\n');
    await arrived(() => got, 'echo: one [CRLF]\n'); // a reply while the input is still open
    input.end();
    const r = await s.done;
    expect(got).toBe('hi\necho: one [CRLF]\ngot eof after 1 lines\n');
    expect(events).toEqual(['connected', 'input-ended', 'server-closed']);
    expect(timings[0]).toBe(false); // the banner came before anything was sent
    expect(r).toMatchObject({ ok: true, end: 'closed', halfClosed: true, bytesSent: 5, bytesReceived: got.length });
    expect(r.timings.inputEndedUs).toBeGreaterThan(0);
  });

  it('output that takes nothing is bounded by timeout (IO_ERROR); reading resumes on outputDrained()', async () => {
    const sock = await startPeer('--banner', 'hi');
    const stuck = startSession(sock, { timeout: 300, onData: () => false });
    const r = await stuck.done;
    expect(r.end).toBe('timeout');
    expect(r.error?.code).toBe('IO_ERROR');

    const input = new PassThrough();
    let got = '';
    const s = startSession(sock, {
      input,
      timeout: 5_000,
      onData: (c) => {
        got += c.toString();
        setImmediate(() => s.outputDrained());
        return false;
      },
    });
    input.end('one\n');
    const ok = await s.done;
    expect(ok.ok).toBe(true);
    expect(got).toBe('hi\necho: one\ngot eof after 1 lines\n');
  });

  it('an abort ends it as interrupted, with no error; a missing socket is NOT_FOUND', async () => {
    const sock = await startPeer();
    const ac = new AbortController();
    const s = startSession(sock, { input: new PassThrough(), signal: ac.signal, onEvent: (e) => e.type === 'connected' && ac.abort() });
    expect(await s.done).toMatchObject({ ok: false, end: 'interrupted' });
    const missing = await startSession(join(tmpDir(), 'none.sock')).done;
    expect(missing.end).toBe('error');
    expect(missing.error?.code).toBe('NOT_FOUND');
  });

  it('checks its options as the CLI does (typed errors)', () => {
    expect(() => startSession('/tmp/x.sock', { timeout: 0 })).toThrow(UdsError);
    expect(() => startSession('', {})).toThrow(UdsError);
  });
});
