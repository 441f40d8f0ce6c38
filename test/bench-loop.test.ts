/**
 * The pieces of bench's load loop, against a fake in-memory transport (no
 * sockets, no threads): the closed-loop run, the retry back-off, timeouts, error
 * classes, pipelined replies split across reads, the open-loop schedule, and the
 * one errno table. The real-socket contract is bench-suite.ts, for both engines.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { BACKLOG_FIRST_MS, BACKLOG_MAX_MS, RECONNECT_FIRST_MS, RECONNECT_MAX_MS, backlogDelay, reconnectDelay } from '../src/core/socket/backoff.js';
import { LoadLoop, type LoopIo } from '../src/core/bench/loop.js';
import { OpenLoopSchedule } from '../src/core/bench/schedule.js';
import { BACKOFF, DONE, FREE, OPEN, SlotBook } from '../src/core/bench/slots.js';
import type { Transport, TransportEvents } from '../src/core/bench/transport.js';
import { CTL_WORDS, type DoneMessage, LIVE_WORDS, type WorkerConfig, type WorkerMessage, type WorkerTarget } from '../src/core/bench/worker-stats.js';
import { type ErrorCode, codeOfErrno, fromConnectErrno } from '../src/core/errors.js';
import { parseTarget } from '../src/core/socket/target.js';

type ConnectResult = 'ok' | 'pending' | ErrorCode;

/** A transport in memory: connects as scripted, answers each send with one reply per request at the next poll. */
class FakeTransport implements Transport {
  connects = 0;
  closes = 0;
  /** Outcome of each connect() in turn; 'ok' once the list is used up. */
  results: ConnectResult[] = [];
  autoReply = true;
  reply = Buffer.from('ok\n');
  private readonly due: number[] = [];

  constructor(
    private readonly on: TransportEvents,
    private readonly payloadBytes: number,
  ) {}

  connect(i: number): void {
    this.connects++;
    const r = this.results.shift() ?? 'ok';
    if (r === 'ok') this.on.connected(i);
    else if (r !== 'pending') this.on.connectFailed(i, r, 0, `fake: ${r}`);
  }

  send(i: number, bytes: number): void {
    this.on.sent(i, bytes);
    if (this.autoReply) for (let n = bytes / this.payloadBytes; n > 0; n--) this.due.push(i);
  }

  endWrite(): void {}

  close(): void {
    this.closes++;
  }

  poll(): undefined {
    this.on.now = performance.now();
    for (const i of this.due.splice(0)) this.on.data(i, this.reply, 0, this.reply.length);
    return undefined;
  }

  dispose(): void {}
}

function config(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    index: 0,
    engine: 'net',
    target: parseTarget('/nonexistent/fake.sock') as WorkerTarget,
    mode: 'persistent',
    slots: 2,
    pipeline: 1,
    payload: Buffer.from('ping\n'),
    until: { kind: 'line' },
    oneMessage: false,
    expect: null,
    timeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    halfClose: false,
    rate: 0,
    phaseMs: 0,
    warmupMs: 0,
    durationMs: null,
    requests: null,
    shareIntervals: false,
    control: new SharedArrayBuffer(4 * CTL_WORDS),
    live: new SharedArrayBuffer(8 * LIVE_WORDS),
    ...over,
  };
}

/** The bookkeeping alone, driven by hand: a measured run already started. */
class Book extends SlotBook {
  readonly fake: FakeTransport;
  constructor(cfg: WorkerConfig) {
    super(cfg);
    this.fake = new FakeTransport(this, cfg.payload.length);
    this.attach(this.fake);
    this.started = true;
    this.measuring = true;
    this.tMeasure = 0;
  }
  startRequest(i: number): void {
    this.startOneshot(i, this.now);
  }
  open(i: number): void {
    this.startConnect(i);
  }
  send(i: number, m: number): void {
    this.sendBatch(i, m, this.now);
  }
  errors(): Record<string, number> {
    return Object.fromEntries(this.stats.done(0).errors.map((e) => [e.code, e.count]));
  }
}

async function runLoop(cfg: WorkerConfig, script?: (t: FakeTransport) => void): Promise<{ done: DoneMessage; fake: FakeTransport }> {
  const posted: WorkerMessage[] = [];
  const io: LoopIo = { post: (m) => posted.push(m), waitGo: async () => performance.now() };
  const loop = new LoadLoop(cfg, io);
  const fake = new FakeTransport(loop, cfg.payload.length);
  script?.(fake);
  loop.attach(fake);
  await loop.run();
  const done = posted.find((m): m is DoneMessage => m.type === 'done');
  if (!done) throw new Error(`no done message: ${JSON.stringify(posted.filter((m) => m.type === 'fatal'))}`);
  return { done, fake };
}

describe('the load loop over a fake transport', () => {
  it('closed loop, persistent and pipelined: exactly --requests requests, all ok, bytes counted both ways', async () => {
    const { done, fake } = await runLoop(config({ slots: 3, pipeline: 4, requests: 101 }));
    expect(done.ok).toBe(101);
    expect(done.errorCount).toBe(0);
    expect(done.bytesOut).toBe(101 * 5);
    expect(done.bytesIn).toBe(101 * 3);
    expect(fake.connects).toBe(3);
  });

  it('closed loop, oneshot: one connection per request, each closed', async () => {
    const { done, fake } = await runLoop(config({ mode: 'oneshot', until: { kind: 'line' }, slots: 4, requests: 40 }));
    expect(done.ok).toBe(40);
    expect(fake.connects).toBe(40);
    expect(fake.closes).toBeGreaterThanOrEqual(40);
  });

  it('a persistent connection that fails during setup is fatal, with the typed message', async () => {
    const posted: WorkerMessage[] = [];
    const loop = new LoadLoop(config(), { post: (m) => posted.push(m), waitGo: async () => performance.now() });
    const fake = new FakeTransport(loop, 5);
    fake.results = ['REFUSED'];
    loop.attach(fake);
    await loop.run();
    expect(posted).toEqual([{ type: 'fatal', code: 'REFUSED', message: 'opening the persistent connections: fake: REFUSED' }]);
  });
});

describe('retry back-off (one policy: backoff.ts)', () => {
  it('the policies: backlog 0.05 ms doubling to 2 ms; reconnect 10 ms doubling to 250 ms', () => {
    const backlog: number[] = [];
    for (let d = 0, n = 0; n < 8; n++) backlog.push((d = backlogDelay(d)));
    expect(backlog).toEqual([BACKLOG_FIRST_MS, 0.1, 0.2, 0.4, 0.8, 1.6, BACKLOG_MAX_MS, BACKLOG_MAX_MS]);
    expect([1, 2, 3, 4, 5, 6, 7, 100].map(reconnectDelay)).toEqual([RECONNECT_FIRST_MS, 20, 40, 80, 160, RECONNECT_MAX_MS, 250, 250]);
  });

  it('oneshot against a dead server backs off per slot (not a retry every millisecond), and one success resets it', () => {
    const b = new Book(config({ mode: 'oneshot', until: { kind: 'eof' }, slots: 1 }));
    b.fake.results = Array(7).fill('REFUSED');
    const waits: number[] = [];
    for (let n = 0; n < 7; n++) {
      b.startRequest(0);
      expect(b.st[0]).toBe(BACKOFF);
      waits.push(Math.round((b.retryAt[0] - b.now) * 100) / 100);
      b.now = b.retryAt[0];
      b.scan(); // the wait is over: the slot is free for its next request
      expect(b.st[0]).toBe(FREE);
    }
    expect(waits).toEqual([10, 20, 40, 80, 160, 250, 250]);
    b.startRequest(0); // the script is used up: this connect succeeds
    expect(b.st[0]).toBe(OPEN);
    expect(b.failures[0]).toBe(0);
    expect(b.errors()).toEqual({ REFUSED: 7 });
  });

  it('a full backlog retries the same attempt (counted as connectRetries, no error) until the connect timeout, then BACKLOG_FULL', () => {
    const b = new Book(config({ mode: 'oneshot', until: { kind: 'eof' }, slots: 1, connectTimeoutMs: 50 }));
    b.fake.results = ['BACKLOG_FULL', 'BACKLOG_FULL', 'BACKLOG_FULL'];
    b.startRequest(0);
    const waits: number[] = [];
    while (b.st[0] === BACKOFF) {
      waits.push(Math.round((b.retryAt[0] - b.now) * 100) / 100);
      b.now = b.retryAt[0];
      b.scan();
    }
    expect(waits).toEqual([0.05, 0.1, 0.2]);
    expect(b.st[0]).toBe(OPEN);
    expect(b.stats.connectRetries).toBe(3);
    expect(b.stats.errorCount).toBe(0);

    const c = new Book(config({ mode: 'oneshot', until: { kind: 'eof' }, slots: 1, connectTimeoutMs: 50 }));
    c.fake.results = Array(1000).fill('BACKLOG_FULL');
    c.startRequest(0);
    const t0 = c.now;
    while (c.stats.errorCount === 0) {
      c.now = Math.max(c.retryAt[0], c.now);
      c.scan();
    }
    expect(c.now - t0).toBeGreaterThanOrEqual(50);
    expect(c.errors()).toEqual({ BACKLOG_FULL: 1 });
  });

  it('persistent: a failed reopen is an error of the run and backs off; the lost requests fail with the loss', () => {
    const b = new Book(config({ slots: 1 }));
    b.fake.autoReply = false;
    b.started = false; // opened during setup: not a reconnect
    b.open(0);
    b.started = true;
    b.send(0, 1);
    b.end(0); // the server closed the connection: reconnect at once
    expect(b.st[0]).toBe(BACKOFF);
    expect(b.retryAt[0]).toBe(b.now);
    b.fake.results = ['REFUSED', 'NOT_FOUND'];
    b.scan();
    expect(b.retryAt[0] - b.now).toBeCloseTo(10, 6);
    b.now = b.retryAt[0];
    b.scan();
    expect(b.retryAt[0] - b.now).toBeCloseTo(20, 6);
    expect(b.stats.reconnects).toBe(2);
    expect(b.errors()).toEqual({ CLOSED_EARLY: 1, REFUSED: 1, NOT_FOUND: 1 });
  });
});

describe('timeouts and error classes', () => {
  it('no reply within --timeout: REPLY_TIMEOUT; a partial reply of an eof rule that never closes: NEVER_CLOSED', () => {
    const b = new Book(config({ slots: 1, timeoutMs: 100 }));
    b.fake.autoReply = false;
    b.open(0);
    b.send(0, 1);
    b.now += 99;
    b.scan();
    expect(b.pending).toBe(1);
    b.now += 2; // (not += 1: float sums of a large clock value may land a hair under the bound)
    b.scan();
    expect(b.pending).toBe(0);

    const o = new Book(config({ mode: 'oneshot', until: { kind: 'eof' }, slots: 1, timeoutMs: 100 }));
    o.fake.autoReply = false;
    o.startRequest(0);
    o.data(0, Buffer.from('partial'), 0, 7);
    o.now += 101;
    o.scan();
    expect(b.errors()).toEqual({ REPLY_TIMEOUT: 1 });
    expect(o.errors()).toEqual({ NEVER_CLOSED: 1 });
  });

  it('end before the reply: CLOSED_EARLY; an I/O error: its class, with a pause; end of an eof reply: ok', () => {
    const b = new Book(config({ mode: 'oneshot', until: { kind: 'eof' }, slots: 3 }));
    b.fake.autoReply = false;
    b.startRequest(0);
    b.end(0); // eof rule, nothing read: an empty reply
    b.startRequest(1);
    b.data(1, Buffer.from('hi'), 0, 2);
    b.failed(1, 'RESET', 0);
    expect(b.st[1]).toBe(BACKOFF);
    b.startRequest(2);
    b.data(2, Buffer.from('whole reply'), 0, 11);
    b.end(2);
    expect(b.stats.ok).toBe(1);
    expect(b.errors()).toEqual({ CLOSED_EARLY: 1, RESET: 1 });
  });

  it('pipelined replies split anywhere across reads each end one request, in order', () => {
    const b = new Book(config({ slots: 1, pipeline: 3 }));
    b.fake.autoReply = false;
    b.open(0);
    b.send(0, 3);
    const stream = Buffer.from('one\ntwo\nthree\n');
    b.data(0, stream, 0, 5);
    expect(b.stats.ok).toBe(1);
    b.data(0, stream, 5, 6);
    b.data(0, stream, 6, 14);
    expect(b.stats.ok).toBe(3);
    expect(b.inflight[0]).toBe(0);
    b.stopping = true;
    b.end(0);
    expect(b.st[0]).toBe(DONE);
  });

  it('one errno table: a full backlog (EAGAIN) is BACKLOG_FULL wherever it is mapped; resets are RESET; the unknown is IO_ERROR', () => {
    expect(codeOfErrno('EAGAIN')).toBe('BACKLOG_FULL');
    expect(codeOfErrno('EWOULDBLOCK')).toBe('BACKLOG_FULL');
    expect(codeOfErrno('ECONNRESET')).toBe('RESET');
    expect(codeOfErrno('EPIPE')).toBe('RESET');
    expect(codeOfErrno('ECONNREFUSED')).toBe('REFUSED');
    expect(codeOfErrno('EBOGUS')).toBe('IO_ERROR');
    expect(codeOfErrno('toString')).toBe('IO_ERROR');
    expect(codeOfErrno(undefined)).toBe('IO_ERROR');
    for (const name of ['EAGAIN', 'ENOENT', 'ENOTSOCK', 'EACCES', 'ECONNREFUSED', 'EMFILE', 'ELOOP', 'EBOGUS']) {
      const err = Object.assign(new Error(name), { code: name });
      expect(fromConnectErrno(err, 'x').code).toBe(codeOfErrno(name));
    }
  });
});

describe('the open-loop schedule', () => {
  it('request k is due at origin + k/rate; unstarted requests are counted from the measured start on', () => {
    const s = new OpenLoopSchedule(1000, 100); // every 10 ms
    expect([0, 1, 5].map((k) => s.at(k))).toEqual([1000, 1010, 1050]);
    s.due = 6;
    s.started = 2;
    expect(s.nextAt()).toBe(1060);
    expect(s.dropUnstarted(1030)).toBe(3); // requests 3, 4 and 5; request 2 was warmup
    expect(s.started).toBe(6);
  });
});
