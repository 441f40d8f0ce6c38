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

/** The Python seqpacket / dgram peer of the message-session tests. */
async function startMessagePeer(mode: 'seqpacket' | 'dgram'): Promise<string> {
  const path = join(tmpDir(), `${mode}.sock`);
  const peer = spawnChild('python3', [join(FIXTURES, 'message-session-peer.py'), mode, path], { timeoutMs: 30_000 });
  await waitForOutput(peer, /^ready$/m, 10_000);
  return path;
}

describe('startSession on message sockets (seqpacket, dgram)', () => {
  it('seqpacket: one message a line, one onData a message; an output full pauses reading until outputDrained()', async () => {
    const sock = await startMessagePeer('seqpacket');
    const input = new PassThrough();
    const got: string[] = [];
    const events: SessionEvent[] = [];
    const s = startSession(sock, {
      input,
      onData: (c, t) => {
        got.push(c.toString());
        expect(t.messageBytes).toBe(c.length);
        setImmediate(() => s.outputDrained());
        return false; // every message fills the output: reading waits for outputDrained()
      },
      onEvent: (e) => events.push(e),
    });
    input.end('two\nmulti\nlast');
    const r = await s.done;
    expect(got).toEqual(['first', 'second', 'line 1\nline 2\n', 'echo: last', 'got eof after 3 messages']);
    expect(events.map((e) => e.type)).toEqual(['connected', 'input-ended', 'server-closed']);
    expect(events[0]).toMatchObject({ socketType: 'seqpacket' });
    expect(events[1]).toMatchObject({ halfClosed: true });
    expect(r).toMatchObject({ ok: true, end: 'closed', socketType: 'seqpacket', messagesSent: 3, messagesReceived: 5, halfClosed: true });
  });

  it('seqpacket: output that takes nothing is bounded by timeout (IO_ERROR)', async () => {
    const sock = await startMessagePeer('seqpacket');
    const input = new PassThrough();
    const s = startSession(sock, { input, timeout: 300, onData: () => false });
    input.write('hello\n');
    const r = await s.done;
    expect(r.end).toBe('timeout');
    expect(r.error?.code).toBe('IO_ERROR');
  });

  it('dgram (socketType given): each line a datagram, replies come back; the end of input waits timeout, then ends "waited", ok', async () => {
    const sock = await startMessagePeer('dgram');
    const input = new PassThrough();
    const got: string[] = [];
    const s = startSession(sock, { socketType: 'dgram', input, timeout: 500, onData: (c) => got.push(c.toString()) > 0 });
    input.end('one\ntwo\n');
    const r = await s.done;
    expect(got).toEqual(['echo: one', 'first', 'second']);
    expect(r).toMatchObject({ ok: true, end: 'waited', socketType: 'dgram', messagesSent: 2, messagesReceived: 3, halfClosed: false });
  });

  it('a type the socket is not, given: WRONG_TYPE; on TCP a message type is refused at once', async () => {
    const sock = await startMessagePeer('dgram');
    const r = await startSession(sock, { socketType: 'seqpacket', input: new PassThrough() }).done;
    expect(r.error?.code).toBe('WRONG_TYPE');
    expect(() => startSession('127.0.0.1:9', { socketType: 'dgram' })).toThrow(/TCP is a stream/);
  });
});
