/**
 * ThreadLog: the connection log serve's epoll threads write themselves. A batch
 * of records in the engine's compact form goes in; lines come out on a real
 * descriptor, held until the main thread opens the log, cut at line ends for
 * pipes, and a descriptor that fails ends the log, not the thread.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_HOLD_MS, ThreadLog, WRITE_MS } from '../../src/core/serve/epoll/thread-log.js';
import { LOG_BUFFER, writeEnd } from '../../src/core/serve/log-put.js';
import {
  C_LOG_DROPPED,
  C_LOG_OPEN,
  END_CODE,
  R_AT,
  R_DURATION,
  R_END,
  R_ERRNO,
  R_FIELDS,
  R_ID,
  R_IN,
  R_OUT,
  R_REASON,
  R_REP_LEN,
  R_REQ_LEN,
  R_REQUESTS,
  REASON_IDLE,
  controlWords,
} from '../../src/core/serve/epoll/shared.js';
import { jsonLines } from '../../src/render/serve-thread.js';
import { connectionJsonRenderer } from '../../src/render/serve.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const LIMITS = { idleMs: 250, maxBytes: 1024, maxConns: 0 };
const AT = Date.UTC(2026, 10, 27, 5, 0, 0, 123);

/** n records as the engine keeps them: ids from `first`, request "hi <id>", the reply "OK\n"; the third ended idle. */
function batch(n: number, first = 1) {
  const nums = new Float64Array(n * R_FIELDS);
  const texts: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const o = k * R_FIELDS;
    const req = Buffer.from(`hi ${first + k}`);
    const rep = Buffer.from('OK\n');
    const idle = k === 2;
    nums[o + R_ID] = first + k;
    nums[o + R_AT] = AT + k;
    nums[o + R_IN] = req.length;
    nums[o + R_OUT] = idle ? 0 : rep.length;
    nums[o + R_REQUESTS] = 1;
    nums[o + R_DURATION] = 40 + k;
    nums[o + R_END] = idle ? END_CODE['idle-timeout'] : END_CODE.closed;
    nums[o + R_REASON] = idle ? REASON_IDLE : 0;
    nums[o + R_ERRNO] = 0;
    nums[o + R_REQ_LEN] = req.length;
    nums[o + R_REP_LEN] = idle ? -1 : rep.length;
    texts.push(req);
    if (!idle) texts.push(rep);
  }
  return { n, nums, text: new Uint8Array(Buffer.concat(texts)) };
}

function setup(fd: number) {
  const ctl = new Int32Array(new SharedArrayBuffer(4 * controlWords(1)));
  const warnings: string[] = [];
  const log = new ThreadLog(fd, connectionJsonRenderer(42), ctl, LIMITS, (m) => warnings.push(m), 0);
  return { ctl, warnings, log };
}

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ThreadLog', () => {
  it('renders each record as the main thread would, and holds the lines until the log is opened', () => {
    const file = join(tmpDir(), 'log');
    const fd = openSync(file, 'w');
    try {
      const { ctl, log, warnings } = setup(fd);
      const b = batch(5);
      log.add(b.n, b.nums, b.text, 10);
      log.write(10 + WRITE_MS);
      expect(readFileSync(file, 'utf8')).toBe(''); // held
      Atomics.store(ctl, C_LOG_OPEN, 1);
      log.write(10 + WRITE_MS); // looked at again WRITE_MS after it was found held
      expect(readFileSync(file, 'utf8')).toBe('');
      log.write(10 + 2 * WRITE_MS);
      const got = lines(file);
      expect(got.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
      expect(got[0]).toEqual({
        event: 'connection',
        pid: 42,
        id: 1,
        at: '2026-11-27T05:00:00.123Z',
        bytesIn: 4,
        bytesOut: 3,
        requests: 1,
        request: 'hi 1',
        reply: 'OK\n',
        durationUs: 40,
        end: 'closed',
      });
      // The reused entry carries nothing over: no reason after the idle one, no reply on it.
      expect(got[2]).toMatchObject({ end: 'idle-timeout', reason: 'no data for 250ms' });
      expect(got[2]).not.toHaveProperty('reply');
      expect(got[3]).not.toHaveProperty('reason');
      expect(warnings).toEqual([]);
    } finally {
      closeSync(fd);
    }
  });

  it('lines are written WRITE_MS after the first, or sooner when 32 KiB wait', () => {
    const file = join(tmpDir(), 'log');
    const fd = openSync(file, 'w');
    try {
      const { ctl, log } = setup(fd);
      Atomics.store(ctl, C_LOG_OPEN, 1);
      const few = batch(3);
      log.add(few.n, few.nums, few.text, 0);
      expect(log.dueAt()).toBe(WRITE_MS);
      log.write(WRITE_MS - 1);
      expect(lines(file)).toHaveLength(0);
      log.write(WRITE_MS);
      expect(lines(file)).toHaveLength(3);
      expect(log.dueAt()).toBe(Infinity);
      const many = batch(200, 4); // ~200 bytes a line: past 32 KiB
      log.add(many.n, many.nums, many.text, 100);
      log.write(101);
      expect(lines(file)).toHaveLength(203);
    } finally {
      closeSync(fd);
    }
  });

  it('a held log is written anyway at the end, or once LOG_HOLD_MS has passed', () => {
    const file = join(tmpDir(), 'log');
    const fd = openSync(file, 'w');
    try {
      const a = setup(fd);
      const b = batch(2);
      a.log.add(b.n, b.nums, b.text, 0);
      a.log.write(LOG_HOLD_MS - 1); // held: looked at again WRITE_MS later
      expect(lines(file)).toHaveLength(0);
      a.log.write(LOG_HOLD_MS - 1 + WRITE_MS);
      expect(lines(file)).toHaveLength(2);
      const c = setup(fd);
      const d = batch(3, 3);
      c.log.add(d.n, d.nums, d.text, 0);
      c.log.write(1, true);
      expect(lines(file).map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      closeSync(fd);
    }
  });

  it('a descriptor that fails ends the log with one warning, and the thread goes on', () => {
    const file = join(tmpDir(), 'log');
    writeFileSync(file, '');
    const fd = openSync(file, 'r'); // not writable: EBADF
    const { ctl, log, warnings } = setup(fd);
    Atomics.store(ctl, C_LOG_OPEN, 1);
    const b = batch(3);
    expect(() => log.add(b.n, b.nums, b.text, 0)).not.toThrow();
    expect(() => log.write(WRITE_MS)).not.toThrow();
    expect(() => log.add(b.n, b.nums, b.text, 100)).not.toThrow();
    expect(() => log.write(100 + WRITE_MS, true)).not.toThrow();
    // Nothing more to do: the thread's loop must not be woken for it (a busy loop).
    expect(log.dueAt()).toBe(Infinity);
    closeSync(fd);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^the connection log could not be written \(EBADF\); connections are no longer logged$/);
  });
});

describe('ThreadLog and a reader that does not read', () => {
  it('never waits: past LOG_BUFFER whole batches are dropped and counted; once read, a line says how many', () => {
    const dir = tmpDir();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // The read end open and never read: the writes fill the pipe (64 KiB) and the log's buffer.
    const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const wr = openSync(fifo, constants.O_WRONLY); // blocking: the log must not rely on that
    try {
      const ctl = new Int32Array(new SharedArrayBuffer(4 * controlWords(1)));
      const log = new ThreadLog(wr, jsonLines(42), ctl, LIMITS, () => {}, 0);
      Atomics.store(ctl, C_LOG_OPEN, 1);
      let now = 0;
      let batches = 0;
      const started = performance.now();
      while (Atomics.load(ctl, C_LOG_DROPPED) === 0 && batches < 10_000) {
        const b = batch(100, batches * 100 + 1);
        log.add(b.n, b.nums, b.text, now);
        now += WRITE_MS;
        log.write(now);
        batches++;
      }
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(log.backlog).toBeGreaterThanOrEqual(LOG_BUFFER);
      expect(log.backlog).toBeLessThan(LOG_BUFFER + 64 * 1024);
      const more = batch(100, batches * 100 + 1);
      log.add(more.n, more.nums, more.text, now);
      const dropped = Atomics.load(ctl, C_LOG_DROPPED);
      expect(dropped).toBe(200); // two batches of 100, whole
      // The reader catches up: everything rendered comes out whole, then the note.
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(1 << 16);
      for (let k = 0; k < 10_000; k++) {
        now += WRITE_MS;
        log.write(now);
        let n = 0;
        try {
          n = readSync(rd, buf, 0, buf.length, null);
        } catch {
          n = 0; // EAGAIN: empty for now
        }
        if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
        if (n === 0 && log.backlog === 0 && log.dueAt() === Infinity) break;
      }
      const got = Buffer.concat(chunks)
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(got.at(-1)).toEqual({ event: 'warning', message: 'log: 200 lines dropped, reader too slow', dropped: 200 });
      // Every record sent (batches + 1 of them) came out, or was counted as dropped.
      expect(got.filter((e) => e.event === 'connection')).toHaveLength((batches + 1) * 100 - 200);
    } finally {
      closeSync(wr);
      closeSync(rd);
    }
  });
});

describe('writeEnd: how a pipe write is cut', () => {
  it('whole lines up to the limit; all of it when it fits; a longer line at the limit', () => {
    const text = Buffer.from(Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}\n`).join(''));
    let pos = 0;
    const cuts: number[] = [];
    while (pos < text.length) {
      const end = writeEnd(text, pos, 256);
      expect(end - pos).toBeLessThanOrEqual(256);
      expect(text[end - 1]).toBe(0x0a);
      cuts.push(end);
      pos = end;
    }
    expect(cuts.length).toBeGreaterThan(1);
    expect(writeEnd(text, 0, text.length)).toBe(text.length);
    const long = Buffer.from(`${'y'.repeat(600)}\nz\n`);
    expect(writeEnd(long, 0, 256)).toBe(256);
  });
});

describe('ThreadLog.lineOut: a record rendered as it happens (the tap relay, relay-log.ts)', () => {
  it('a writer while there is room; past LOG_BUFFER null, the record dropped and counted; once read, the note comes before the next line', () => {
    const dir = tmpDir();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const wr = openSync(fifo, constants.O_WRONLY);
    try {
      const ctl = new Int32Array(new SharedArrayBuffer(4 * controlWords(1)));
      const log = new ThreadLog(wr, jsonLines(42), ctl, LIMITS, () => {}, 0);
      Atomics.store(ctl, C_LOG_OPEN, 1);
      const line = `{"event":"traffic","n":"${'x'.repeat(200)}"}`;
      let now = 0;
      let written = 0;
      // Fill the pipe and the buffer: lines are taken until lineOut says no.
      for (;;) {
        const out = log.lineOut(now);
        if (out === null) break;
        out.text(line);
        out.end();
        written++;
        now += 1;
        log.write(now);
        expect(written).toBeLessThan(100_000);
      }
      expect(log.backlog).toBeGreaterThanOrEqual(LOG_BUFFER);
      expect(log.lineOut(now)).toBeNull();
      expect(Atomics.load(ctl, C_LOG_DROPPED)).toBe(2);
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(1 << 16);
      let last = false;
      for (let k = 0; k < 10_000; k++) {
        now += WRITE_MS;
        if (!last && log.backlog < LOG_BUFFER / 2) {
          const out = log.lineOut(now)!;
          out.text('{"event":"last"}');
          out.end();
          last = true;
        }
        log.write(now);
        let n = 0;
        try {
          n = readSync(rd, buf, 0, buf.length, null);
        } catch {
          n = 0;
        }
        if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
        if (last && n === 0 && log.backlog === 0 && log.dueAt() === Infinity) break;
      }
      const got = Buffer.concat(chunks).toString().split('\n').filter(Boolean);
      expect(got.filter((l) => l === line)).toHaveLength(written);
      expect(got.slice(-2).map((l) => JSON.parse(l))).toEqual([{ event: 'warning', message: 'log: 2 lines dropped, reader too slow', dropped: 2 }, { event: 'last' }]);
    } finally {
      closeSync(wr);
      closeSync(rd);
    }
  });
});
