/**
 * The connection log written by an engine thread itself (ThreadConfig.logTo):
 * the records of each loop turn (the compact form the thread keeps anyway) are
 * rendered at its end, into one reused entry and a line buffer, and the lines
 * are written to the descriptor every WRITE_MS or WRITE_BYTES. Nothing per
 * connection crosses threads or becomes garbage: a line costs the thread
 * ~1.3 us under load (~0.5 us alone).
 */
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import type { ConnectionLog, RequestLog } from '../protocol.js';
import { LineBytes, type LineWriter } from '../../line-writer.js';
import { E, MSG_DONTWAIT, MSG_NOSIGNAL, errnoName } from '../../socket/ffi.js';
import { C_LOG_DROPPED, C_LOG_OPEN, type ReasonLimits, RecordReader } from './shared.js';
import { epollLibc } from '../../socket/libc.js';

export type ConnectionRenderer = (log: ConnectionLog, out: LineWriter) => void;

/** What a thread log renders: a connection's line, a --keep-alive request's line, the note of lines dropped. */
export interface LogRenderers {
  connection: ConnectionRenderer;
  request?: (log: RequestLog, out: LineWriter) => void;
  /** The line that says `count` lines were dropped because the reader was too slow. */
  dropped?: (count: number, out: LineWriter) => void;
}

/** Lines are written when this much waits, */
const WRITE_BYTES = 32 * 1024;
/** or when the oldest has waited this long. */
export const WRITE_MS = 50;
/** Lines wait for openLog() at most this long; then they are written anyway. */
export const LOG_HOLD_MS = 1_000;
/**
 * What a log keeps for a reader that is behind (the pipe full): past this,
 * whole lines are dropped and counted, and serving never waits on the log.
 */
export const LOG_BUFFER = 1024 * 1024;
/** After a write the reader had no room for, the next try waits this long. */
const RETRY_MS = 10;
/** At the end, how long the last lines may wait for a reader that is behind. */
export const FINAL_WAIT_MS = 1_000;
/** A pipe takes a write of up to PIPE_BUF bytes whole: other writers' lines never land inside ours. */
const PIPE_BUF = 4096;
const NL = 0x0a;

/** A write that never blocks: bytes written, or -1 when the reader is behind (EAGAIN); throws on failure. */
export type Put = (b: Buffer, pos: number, len: number) => number;

/**
 * How to write to `fd` without ever waiting for its reader. A pipe or a
 * terminal is opened again through /proc as our own non-blocking open file
 * (O_NONBLOCK on the shared one would change it for every other writer); a
 * socket is written with MSG_DONTWAIT; a regular file does not wait for a
 * reader at all.
 */
export function nonBlockingPut(fd: number): { put: Put; own: number; shared: boolean } {
  let kind: 'file' | 'socket' | 'reopen' = 'reopen';
  try {
    const st = fstatSync(fd);
    kind = st.isSocket() ? 'socket' : st.isFIFO() || st.isCharacterDevice() ? 'reopen' : 'file';
  } catch {
    // unknown: try the careful way
  }
  const eagain = (err: unknown): number => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return -1;
    throw err;
  };
  if (kind === 'socket') {
    try {
      const sys = epollLibc();
      const put: Put = (b, pos, len) => {
        for (;;) {
          const n = sys.send(fd, pos === 0 ? b : b.subarray(pos), len, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n >= 0) return n;
          const e = sys.errno();
          if (e === E.EINTR) continue;
          if (e === E.EAGAIN) return -1;
          throw Object.assign(new Error(`send: ${errnoName(e)}`), { code: errnoName(e) });
        }
      };
      return { put, own: -1, shared: true };
    } catch {
      // no FFI here: the plain write below
    }
  }
  let target = fd;
  let own = -1;
  if (kind === 'reopen') {
    try {
      own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
      target = own;
    } catch {
      // no /proc: the descriptor as it is (non-blocking when Node made it so; else a full pipe waits)
    }
  }
  const put: Put = (b, pos, len) => {
    try {
      return writeSync(target, b, pos, len);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINTR') return 0;
      return eagain(err);
    }
  };
  return { put, own, shared: kind !== 'file' };
}

/**
 * Where the write of b from pos ends: all of it when it fits `max`, else after
 * the last whole line that fits (a single line longer than `max` is cut at
 * `max`: there is no better place).
 */
export function writeEnd(b: Uint8Array, pos: number, max: number): number {
  if (b.length - pos <= max) return b.length;
  const end = b.lastIndexOf(NL, pos + max - 1) + 1;
  return end > pos ? end : pos + max;
}

/**
 * Whole-line buffers waiting for a reader, written through a Put that never
 * waits, in writes that end at a line's end and fit one atomic pipe write
 * where other writers share the descriptor. Used by the engine threads' log
 * and by serve's own (the main thread's) log alike.
 */
export class PutQueue {
  private readonly queue: Buffer[] = [];
  /** Where the first buffer's unwritten bytes start. */
  private headPos = 0;
  /** Bytes not yet written. */
  queued = 0;
  /** Largest single write: PIPE_BUF for pipes and sockets (shared with other writers), else any. */
  private readonly maxWrite: number;

  constructor(
    private readonly put: Put,
    shared: boolean,
  ) {
    this.maxWrite = shared ? PIPE_BUF : 1 << 20;
  }

  push(b: Buffer): void {
    this.queue.push(b);
    this.queued += b.length;
  }

  /**
   * As much as the reader has room for: true once everything is written,
   * false while the reader is behind (the rest waits). What put throws is
   * thrown, with the queue emptied: that log has ended.
   */
  flush(): boolean {
    while (this.queue.length > 0) {
      const b = this.queue[0];
      while (this.headPos < b.length) {
        const end = writeEnd(b, this.headPos, this.maxWrite);
        let n: number;
        try {
          n = this.put(b, this.headPos, end - this.headPos);
        } catch (err) {
          this.clear();
          throw err;
        }
        if (n < 0) return false;
        this.headPos += n;
        this.queued -= n;
      }
      this.queue.shift();
      this.headPos = 0;
    }
    return true;
  }

  /** Lines still waiting (the newlines not yet written). */
  linesWaiting(): number {
    let lines = 0;
    for (let k = 0; k < this.queue.length; k++) {
      const b = this.queue[k];
      for (let p = k === 0 ? this.headPos : 0; p < b.length; p++) if (b[p] === NL) lines++;
    }
    return lines;
  }

  clear(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.headPos = 0;
  }
}

export class ThreadLog {
  private readonly lines: LineBytes;
  /** Full buffers handed over by `lines`, not yet written. */
  private readonly out: PutQueue;
  /** When the oldest line not yet written was rendered (performance.now()); -1: none waiting. */
  private since = -1;
  private readonly reader: RecordReader;
  private readonly openBy: number;
  private open = false;
  private failed = false;
  /** Lines dropped since the last note of it. */
  private dropped = 0;
  /** Not before then (performance.now()) after a write the reader had no room for. */
  private retryAt = 0;
  private ownFd: number;
  private readonly renderers: LogRenderers;
  /** One entry of each kind, reused: renderers read it during the call and keep nothing of it. */
  private readonly entry: ConnectionLog = {
    id: 0,
    at: '',
    bytesIn: 0,
    bytesOut: 0,
    requests: 0,
    request: undefined,
    reply: undefined,
    durationUs: 0,
    end: 'closed',
    reason: undefined,
  };
  private readonly requestEntry: RequestLog = { id: 0, seq: 0, at: '', bytesIn: 0, bytesOut: 0, request: undefined, reply: undefined };
  private readonly renderOne: (log: ConnectionLog) => void;
  private readonly renderRequest: ((log: RequestLog) => void) | undefined;

  constructor(
    fd: number,
    render: ConnectionRenderer | LogRenderers,
    private readonly ctl: Int32Array,
    limits: ReasonLimits,
    /** Told once if the log cannot be written (the thread goes on serving, unlogged). */
    private readonly warn: (message: string) => void,
    now: number,
  ) {
    this.reader = new RecordReader(limits);
    this.renderers = typeof render === 'function' ? { connection: render } : render;
    const r = this.renderers;
    this.renderOne = (log) => r.connection(log, this.lines);
    this.renderRequest = r.request ? (log) => r.request!(log, this.lines) : undefined;
    this.lines = new LineBytes((full) => this.out.push(full));
    this.openBy = now + LOG_HOLD_MS;
    const w = nonBlockingPut(fd);
    this.out = new PutQueue(w.put, w.shared);
    this.ownFd = w.own;
  }

  /** Bytes rendered and not yet written. */
  get backlog(): number {
    return this.out.queued + this.lines.waiting;
  }

  /**
   * Render a batch of records; write() writes them. While LOG_BUFFER waits for
   * the reader, a batch is dropped whole (and counted), not rendered.
   */
  add(count: number, nums: Float64Array, text: Uint8Array, now: number): void {
    if (this.failed || count === 0) return;
    if (this.backlog >= LOG_BUFFER) {
      this.dropped += count;
      Atomics.add(this.ctl, C_LOG_DROPPED, count);
      if (this.since < 0) this.since = now;
      return;
    }
    this.noteDropped();
    this.reader.read(count, nums, text, this.renderOne, this.entry, this.renderRequest, this.requestEntry);
    if (this.since < 0) this.since = now;
  }

  /**
   * Where one record's line(s) go, for a caller that renders each record as
   * it happens (the tap's relay, relay-log.ts); write() writes them. Null
   * while LOG_BUFFER waits for the reader: the record is dropped (and counted).
   */
  lineOut(now: number): LineWriter | null {
    if (this.failed) return null;
    if (this.since < 0) this.since = now;
    if (this.backlog >= LOG_BUFFER) {
      this.dropped++;
      Atomics.add(this.ctl, C_LOG_DROPPED, 1);
      return null;
    }
    this.noteDropped();
    return this.lines;
  }

  /** Say how many lines were dropped (once there is room again), before the lines that follow. */
  private noteDropped(): void {
    if (this.dropped === 0) return;
    this.renderers.dropped?.(this.dropped, this.lines);
    this.dropped = 0;
  }

  /** When write() next has something to do (performance.now() clock), or Infinity. */
  dueAt(): number {
    return this.since < 0 || this.failed ? Infinity : this.since + WRITE_MS;
  }

  /**
   * Write the lines rendered so far once WRITE_BYTES or WRITE_MS worth wait,
   * unless the log is still held (`final`: everything, now). What the reader
   * has no room for waits for the next turn; nothing here ever waits for it.
   */
  write(now: number, final = false): void {
    if (this.failed || this.since < 0) return;
    if (!final && now < this.since + WRITE_MS && this.backlog < WRITE_BYTES) return;
    // A reader that had no room: not asked again every loop turn (a failed write each).
    if (!final && now < this.retryAt) return;
    if (!this.open) {
      this.open = final || now >= this.openBy || Atomics.load(this.ctl, C_LOG_OPEN) === 1;
      if (!this.open) {
        this.since = now; // looked at again in WRITE_MS
        return;
      }
    }
    this.takeLines();
    this.writeQueue();
    if (this.out.queued > 0) this.retryAt = now + RETRY_MS;
    if (this.out.queued === 0 && this.dropped > 0 && !this.failed) {
      // Caught up after dropping: say so now, not only when the next line comes.
      this.noteDropped();
      this.takeLines();
      this.writeQueue();
    }
    // Looked at again in WRITE_MS while lines or the note of dropped ones wait for the reader.
    this.since = !this.failed && (this.out.queued > 0 || this.dropped > 0) ? now : -1;
  }

  /**
   * The thread is ending: write what is left, waiting for a reader that is
   * behind at most FINAL_WAIT_MS; what it still has no room for is dropped and
   * counted. Closes the log's own descriptor.
   */
  finish(now: number): void {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const until = performance.now() + FINAL_WAIT_MS;
    this.write(now, true);
    while (!this.failed && this.since >= 0 && performance.now() < until) {
      Atomics.wait(sleeper, 0, 0, 5);
      this.write(performance.now(), true);
    }
    if (!this.failed && this.since >= 0) Atomics.add(this.ctl, C_LOG_DROPPED, this.out.linesWaiting());
    this.out.clear();
    if (this.ownFd >= 0) {
      try {
        closeSync(this.ownFd);
      } catch {
        // already gone
      }
      this.ownFd = -1;
    }
  }

  private takeLines(): void {
    const last = this.lines.take();
    if (last) this.out.push(last);
  }

  /** As much of the queue as the reader has room for; the rest waits for the next turn. */
  private writeQueue(): void {
    if (this.failed) return;
    try {
      this.out.flush();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.failed = true;
      // A reader that went away (EPIPE) is not news; anything else is.
      if (code !== 'EPIPE') this.warn(`the connection log could not be written (${code ?? (err as Error).message}); connections are no longer logged`);
    }
  }
}
