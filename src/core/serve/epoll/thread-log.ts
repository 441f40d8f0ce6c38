/**
 * The connection log written by an engine thread itself (ThreadConfig.logTo):
 * the records of each loop turn (the compact form the thread keeps anyway) are
 * rendered at its end, into one reused entry and a line buffer, and the lines
 * are written to the descriptor every WRITE_MS or WRITE_BYTES. Nothing per
 * connection crosses threads or becomes garbage: a line costs the thread
 * ~1.3 us under load (~0.5 us alone).
 */
import { closeSync } from 'node:fs';
import type { ConnectionLog, RequestLog } from '../protocol.js';
import { LineBytes, type LineWriter } from '../../line-writer.js';
import { LOG_BUFFER, PutQueue, nonBlockingPut } from '../log-put.js';
import { C_LOG_DROPPED, C_LOG_OPEN, type ReasonLimits, RecordReader } from './shared.js';

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
/** After a write the reader had no room for, the next try waits this long. */
const RETRY_MS = 10;
/** At the end, how long the last lines may wait for a reader that is behind. */
export const FINAL_WAIT_MS = 1_000;

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
