import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExchangeRecord, exchange, parseEndRule, send } from '../../src/index.js';
import { killChildren } from '../helpers/children.js';
import { OK_REPLY_RE, startDripServer, startFullBacklogListener } from '../helpers/peers.js';
import { collectLogs, serve, tcpAnyPort } from '../helpers/servers.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

afterEach(killChildren);

const hi = Buffer.from('hi\n');
const until = parseEndRule;

function expectOk(r: ExchangeRecord): void {
  expect(r.error, r.error?.message).toBeUndefined();
  expect(r.ok).toBe(true);
}

describe('exchange(): end rules', () => {
  it('eof: the reply is everything until the server closes', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi });
    expectOk(r);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    expect(r).toMatchObject({ until: 'eof', ruleMet: true, end: 'closed', bytesSent: 3, bytesReceived: 16, target: path });
  });

  it('eof: several writes from the server make one reply', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['one ', 'two ', 'three'], { gapMs: 20 });
    const r = await exchange(path, { until: until('eof') });
    expectOk(r);
    expect(r.reply.toString()).toBe('one two three');
    expect(r.end).toBe('closed');
  });

  it('line: the reply ends at the first newline while the connection is still open', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['first li', 'ne\nsecond line\n'], { gapMs: 20, then: 'stay-open' });
    const r = await exchange(path, { until: until('line') });
    expectOk(r);
    expect(r.reply.toString()).toBe('first line\n');
    expect(r).toMatchObject({ ruleMet: true, end: 'open', until: 'line' });
    // What came after the rule is counted, not returned.
    expect(r.bytesReceived).toBeGreaterThanOrEqual(r.reply.length);
  });

  it('delim: finds a delimiter split across two reads', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['HTTP-ish header\r', '\nbody that follows'], { gapMs: 30, then: 'stay-open' });
    const r = await exchange(path, { until: until('delim:\\r\\n') });
    expectOk(r);
    expect(r.reply.toString()).toBe('HTTP-ish header\r\n');
    expect(r).toMatchObject({ until: 'delim:\\r\\n', ruleMet: true, end: 'open' });
  });

  it('delim: a multi-byte delimiter arriving a byte at a time', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['payload<', '<', 'E', 'N', 'D', '>', '>tail'], { gapMs: 10, then: 'stay-open' });
    const r = await exchange(path, { until: until('delim:<<END>>') });
    expectOk(r);
    expect(r.reply.toString()).toBe('payload<<END>>');
  });

  it('bytes:N: the reply is exactly N bytes even when more arrive in the same read', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['0123', '456789abcdef'], { gapMs: 20, then: 'stay-open' });
    const r = await exchange(path, { until: until('bytes:6') });
    expectOk(r);
    expect(r.reply.toString()).toBe('012345');
    expect(r).toMatchObject({ until: 'bytes:6', ruleMet: true, end: 'open' });
    expect(r.bytesReceived).toBeGreaterThanOrEqual(6);
  });

  it('idle: the reply ends after a quiet gap, gathering every chunk before it', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['a', 'b', 'c'], { gapMs: 30, then: 'stay-open' });
    const r = await exchange(path, { until: until('idle:400ms'), timeout: 5_000 });
    expectOk(r);
    expect(r.reply.toString()).toBe('abc');
    expect(r).toMatchObject({ until: 'idle:400ms', ruleMet: true, end: 'open' });
  });

  it('idle: a server that closes ends the reply too', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi, until: until('idle:2s') });
    expectOk(r);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    expect(r.end).toBe('closed');
  });

  it('closeTimeout: after the rule is met, waits for the server to close and says it did', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi, until: until('line'), closeTimeout: 2_000 });
    expectOk(r);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    expect(r.end).toBe('closed');
    expect(r.timings.closedUs).toBeGreaterThanOrEqual(r.timings.replyEndUs!);
  });

  it('closeTimeout: a server that stays open is left open, without an error', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'never-close' });
    const r = await exchange(path, { payload: hi, until: until('line'), closeTimeout: 150 });
    expectOk(r);
    expect(r.end).toBe('open');
  });
});

describe('exchange(): lateUntil (a rule looked up only when the reply does not end by a close)', () => {
  it('a server that closes after its reply: never asked', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    let asked = 0;
    const r = await exchange(path, { payload: hi, lateUntil: async () => (asked++, until('line')) });
    expectOk(r);
    expect(r.until).toBe('eof');
    expect(asked).toBe(0);
  });

  it('a server that stays open: asked once when the reply is quiet, and the rule ends the reply on the bytes already read', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['first li', 'ne\nsecond'], { gapMs: 5, then: 'stay-open' });
    let asked = 0;
    const t0 = Date.now();
    const r = await exchange(path, { timeout: 3_000, lateUntil: async () => (asked++, until('line')) });
    expectOk(r);
    expect(asked).toBe(1);
    expect(r.reply.toString()).toBe('first line\n');
    expect(r).toMatchObject({ until: 'line', ruleMet: true, end: 'open' });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('a late rule not yet met reads on by it; null keeps eof (NEVER_CLOSED at the deadline)', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['no end yet', ' still none', ' done\n'], { gapMs: 200, then: 'stay-open' });
    const r = await exchange(path, { timeout: 3_000, lateUntil: async () => until('line') });
    expectOk(r);
    expect(r.reply.toString()).toBe('no end yet still none done\n');
    const open = join(tmpDir(), 'open.sock');
    await startDripServer(open, ['hello\n'], { then: 'stay-open' });
    const none = await exchange(open, { timeout: 300, lateUntil: async () => null });
    expect(none.error?.code).toBe('NEVER_CLOSED');
    expect(none.reply.toString()).toBe('hello\n');
  });
});

describe('exchange(): timeouts', () => {
  it('REPLY_TIMEOUT when the server never replies, with the timeout in the error', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'silent' });
    const started = performance.now();
    const r = await exchange(path, { payload: hi, timeout: 200 });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('REPLY_TIMEOUT');
    expect(r.error?.timeoutMs).toBe(200);
    expect(r.error?.message).toMatch(/no reply within 200ms/);
    expect(r).toMatchObject({ end: 'timeout', ruleMet: false, bytesReceived: 0 });
    // Generous bounds: it waited, and it did not wait for ever.
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('REPLY_TIMEOUT with a partial reply when the end rule is never met', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { keepAlive: true, fault: 'no-newline' });
    const r = await exchange(path, { payload: hi, until: until('line'), timeout: 200 });
    expect(r.error?.code).toBe('REPLY_TIMEOUT');
    expect(r.error?.message).toMatch(/partial reply \(15 bytes, end rule line not met\)/);
    expect(r.reply.toString()).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
    expect(r.end).toBe('timeout');
  });

  it('a slow server inside the timeout is fine, outside it is REPLY_TIMEOUT', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'slow', delay: 300 });
    const late = await exchange(path, { payload: hi, timeout: 100 });
    expect(late.error?.code).toBe('REPLY_TIMEOUT');
    const inTime = await exchange(path, { payload: hi, timeout: 5_000 });
    expectOk(inTime);
    expect(inTime.reply.toString()).toMatch(OK_REPLY_RE);
    expect(inTime.timings.firstByteUs! - inTime.timings.writtenUs!).toBeGreaterThanOrEqual(250_000);
  });

  it('the default timeouts are written out: 5s each', async () => {
    const { DEFAULT_TIMEOUT_MS } = await import('../../src/core/exchange.js');
    const { DEFAULT_CONNECT_TIMEOUT_MS } = await import('../../src/core/socket/connect.js');
    expect(DEFAULT_TIMEOUT_MS).toBe(5_000);
    expect(DEFAULT_CONNECT_TIMEOUT_MS).toBe(5_000);
  });
});

describe('exchange(): half-close', () => {
  it('without halfClose, a server that reads to EOF never answers', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'eof' });
    const r = await exchange(path, { payload: hi, timeout: 200 });
    expect(r.error?.code).toBe('REPLY_TIMEOUT');
  });

  it('with halfClose, the server sees EOF, replies and closes', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof', echo: true });
    const logs = collectLogs(server);
    const r = await exchange(path, { payload: Buffer.from('part one\npart two\n'), halfClose: true });
    expectOk(r);
    expect(r.reply.toString()).toBe('part one\npart two\n');
    expect(r.end).toBe('closed');
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ requests: 1, bytesIn: 18, bytesOut: 18, end: 'closed' });
  });

  it('halfClose with an empty payload sends EOF at once', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof' });
    const logs = collectLogs(server);
    const r = await exchange(path, { halfClose: true, timeout: 2_000 });
    // Nothing to answer: the server closes without a reply.
    expect(r.error?.code).toBe('CLOSED_EARLY');
    expect(r.bytesSent).toBe(0);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ requests: 0, end: 'client-closed' });
  });
});

describe('exchange(): payloads', () => {
  it('round-trips all 256 byte values through an echo server', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { echo: true, read: 'eof' });
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await exchange(path, { payload: all, halfClose: true });
    expectOk(r);
    expect(r.reply).toEqual(all);
    expect(r).toMatchObject({ bytesSent: 256, bytesReceived: 256 });
  });

  it('round-trips binary with the default one-read framing too (one read of up to 512 bytes)', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { echo: true });
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    const r = await exchange(path, { payload: all });
    expectOk(r);
    expect(r.reply).toEqual(all);
  });

  for (const mib of [8, 24]) {
    it(`round-trips ${mib} MiB (read to EOF, echo, raised maxBytes, half-close)`, async () => {
      const path = join(tmpDir(), 's.sock');
      await serve(path, { echo: true, read: 'eof', maxBytes: 64 * 1024 * 1024 });
      const payload = Buffer.alloc(mib * 1024 * 1024 + 7);
      for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
      let streamed = 0;
      const r = await exchange(path, { payload, halfClose: true, timeout: 15_000, maxReply: 64 * 1024 * 1024, onData: (c) => (streamed += c.length) });
      expectOk(r);
      expect(r.bytesSent).toBe(payload.length);
      expect(r.bytesReceived).toBe(payload.length);
      expect(streamed).toBe(payload.length);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      expect(sha(r.reply)).toBe(sha(payload));
    });
  }

  it('send() takes a string or a Buffer', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { echo: true });
    expect((await send(path, 'text\n')).reply.toString()).toBe('text\n');
    expect((await send(path, Buffer.from([1, 2, 3]))).reply).toEqual(Buffer.from([1, 2, 3]));
  });

  it('an empty payload writes nothing; the server can still speak first', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['banner\n']);
    const r = await exchange(path, {});
    expectOk(r);
    expect(r.bytesSent).toBe(0);
    expect(r.reply.toString()).toBe('banner\n');
  });
});

describe('exchange(): targets', () => {
  it('a relative path resolves from the working directory', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'rel.sock'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await exchange('rel.sock', { payload: hi });
      expectOk(r);
      expect(r.target).toBe('rel.sock');
    } finally {
      process.chdir(cwd);
    }
  });

  it('a unix: target', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(`unix:${path}`, { payload: hi });
    expectOk(r);
    expect(r.target).toBe(path);
  });

  it('a 107-byte path (the longest sun_path takes) works end to end', async () => {
    const dir = tmpDir();
    const path = join(dir, 'x'.repeat(107 - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(107);
    await serve(path);
    const r = await exchange(path, { payload: hi });
    expectOk(r);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
  });

  it('a Linux abstract name @name, with half-close and binary', async () => {
    const name = uniqueAbstractName();
    await serve(name, { echo: true, read: 'eof' });
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await exchange(name, { payload: all, halfClose: true });
    expectOk(r);
    expect(r.target).toBe(name);
    expect(r.reply).toEqual(all);
    expect(r.end).toBe('closed');
  });

  it('an abstract name nobody listens on is REFUSED (abstract names have no file: never NOT_FOUND)', async () => {
    const r = await exchange(uniqueAbstractName(), { payload: hi });
    expect(r.error?.code).toBe('REFUSED');
    expect(r.end).toBe('error');
  });

  it('TCP on 127.0.0.1 with port 0 resolved by the server', async () => {
    const server = await serve(tcpAnyPort());
    const addr = server.address();
    expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(addr).not.toBe('127.0.0.1:0');
    const r = await exchange(addr, { payload: hi });
    expectOk(r);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    const r2 = await exchange(`tcp://${addr}`, { payload: Buffer.from('x'), until: until('line') });
    expectOk(r2);
  });

  it('a bad target string rejects with the typed error (not a socket failure, so it throws)', async () => {
    await expect(exchange('')).rejects.toMatchObject({ code: 'BAD_TARGET' });
    await expect(exchange('/' + 'a'.repeat(200))).rejects.toMatchObject({ code: 'PATH_TOO_LONG' });
  });
});

describe('exchange(): record', () => {
  it('timings are in order and the phases that happened are present', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi });
    const t = r.timings;
    for (const k of ['connectedUs', 'writtenUs', 'firstByteUs', 'replyEndUs', 'closedUs', 'totalUs'] as const) {
      expect(Number.isInteger(t[k]), k).toBe(true);
    }
    expect(t.connectedUs!).toBeLessThanOrEqual(t.writtenUs!);
    expect(t.writtenUs!).toBeLessThanOrEqual(t.firstByteUs!);
    expect(t.firstByteUs!).toBeLessThanOrEqual(t.replyEndUs!);
    expect(t.replyEndUs!).toBeLessThanOrEqual(t.totalUs);
  });

  it('a failed connect has only totalUs', async () => {
    const r = await exchange(join(tmpDir(), 'absent.sock'));
    expect(Object.keys(r.timings)).toEqual(['totalUs']);
    expect(r).toMatchObject({ ok: false, end: 'error', bytesSent: 0, bytesReceived: 0, ruleMet: false });
  });

  it('onData sees every chunk as it arrives', async () => {
    const path = join(tmpDir(), 'drip.sock');
    await startDripServer(path, ['a', 'b', 'c'], { gapMs: 30 });
    const seen: string[] = [];
    const r = await exchange(path, { onData: (c) => seen.push(c.toString()) });
    expectOk(r);
    expect(seen.join('')).toBe('abc');
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it('an AbortSignal ends the exchange at once and the record says so', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'silent' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    const r = await exchange(path, { payload: hi, timeout: 10_000, signal: ac.signal });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(r).toMatchObject({ ok: false, end: 'error' });
    expect(r.error?.message).toMatch(/aborted/);
  });

  // openConnection() is not given the signal, so an abort while connecting
  // (a full backlog being retried) waits out the whole connectTimeout.
  it('an abort while connecting ends the exchange at once too', async () => {
    const path = await startFullBacklogListener('unix', join(tmpDir(), 'full.sock'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    const r = await exchange(path, { payload: hi, connectTimeout: 2_000, signal: ac.signal });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(r.ok).toBe(false);
    expect(r.error?.message).toMatch(/aborted/);
  });

  it('an already-aborted signal never waits', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'silent' });
    const r = await exchange(path, { payload: hi, timeout: 10_000, signal: AbortSignal.abort() });
    expect(r.ok).toBe(false);
    expect(r.error?.message).toMatch(/aborted/);
  });

  it('the error serialises to { code, message, errno }', async () => {
    const r = await exchange(join(tmpDir(), 'absent.sock'));
    const json = JSON.parse(JSON.stringify(r.error));
    expect(json).toEqual({ code: 'NOT_FOUND', message: expect.stringMatching(/no such socket/), errno: 'ENOENT' });
  });
});
