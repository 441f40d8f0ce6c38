/**
 * The connection log written by an engine thread itself (ThreadConfig.logTo):
 * the records of each loop turn (the compact form the thread keeps anyway) are
 * rendered at its end, into one reused entry and a line buffer, and the lines
 * are written to the descriptor every WRITE_MS or WRITE_BYTES. Nothing per
 * connection crosses threads or becomes garbage: a line costs the thread
 * ~1.3 us under load (~0.5 us alone).
 */
import { fstatSync, writeSync } from 'node:fs';
import type { ConnectionLog } from '../server.js';
import { LineBytes, type LineWriter } from '../line-writer.js';
import { C_LOG_OPEN, type ReasonLimits, RecordReader } from './shared.js';

export type ConnectionRenderer = (log: ConnectionLog, out: LineWriter) => void;

/** Lines are written when this much waits, */
const WRITE_BYTES = 32 * 1024;
/** or when the oldest has waited this long. */
export const WRITE_MS = 50;
/** Lines wait for openLog() at most this long; then they are written anyway. */
export const LOG_HOLD_MS = 1_000;
/** A pipe takes a write of up to PIPE_BUF bytes whole: other writers' lines never land inside ours. */
const PIPE_BUF = 4096;
const NL = 0x0a;

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

export class ThreadLog {
  private readonly lines: LineBytes;
  /** Full buffers handed over by `lines`, not yet written. */
  private readonly queue: Buffer[] = [];
  private queued = 0;
  /** When the oldest line not yet written was rendered (performance.now()); -1: none waiting. */
  private since = -1;
  private readonly reader: RecordReader;
  private readonly openBy: number;
  private open = false;
  private failed = false;
  /** Largest single write: PIPE_BUF for pipes and sockets (shared with other writers), else any. */
  private readonly maxWrite: number;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  /** One entry, reused: renderers read it during the call and keep nothing of it. */
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
  private readonly renderOne = (log: ConnectionLog) => this.render(log, this.lines);

  constructor(
    private readonly fd: number,
    private readonly render: ConnectionRenderer,
    private readonly ctl: Int32Array,
    limits: ReasonLimits,
    /** Told once if the log cannot be written (the thread goes on serving, unlogged). */
    private readonly warn: (message: string) => void,
    now: number,
  ) {
    this.reader = new RecordReader(limits);
    this.lines = new LineBytes((full) => {
      this.queue.push(full);
      this.queued += full.length;
    });
    this.openBy = now + LOG_HOLD_MS;
    let shared = true;
    try {
      const st = fstatSync(fd);
      shared = st.isFIFO() || st.isSocket();
    } catch {
      // unknown: assume the careful case
    }
    this.maxWrite = shared ? PIPE_BUF : 1 << 20;
  }

  /** Render a batch of records; write() writes them. */
  add(count: number, nums: Float64Array, text: Uint8Array, now: number): void {
    if (this.failed || count === 0) return;
    this.reader.read(count, nums, text, this.renderOne, this.entry);
    if (this.since < 0) this.since = now;
  }

  /** When write() next has something to do (performance.now() clock), or Infinity. */
  dueAt(): number {
    return this.since < 0 ? Infinity : this.since + WRITE_MS;
  }

  /**
   * Write the lines rendered so far once WRITE_BYTES or WRITE_MS worth wait,
   * unless the log is still held (`final`: everything, now).
   */
  write(now: number, final = false): void {
    if (this.failed || this.since < 0) return;
    if (!final && now < this.since + WRITE_MS && this.queued + this.lines.waiting < WRITE_BYTES) return;
    if (!this.open) {
      this.open = final || now >= this.openBy || Atomics.load(this.ctl, C_LOG_OPEN) === 1;
      if (!this.open) {
        this.since = now; // looked at again in WRITE_MS
        return;
      }
    }
    const last = this.lines.take();
    if (last) this.queue.push(last);
    for (const b of this.queue) if (!this.failed) this.writeAll(b);
    this.queue.length = 0;
    this.queued = 0;
    this.since = -1;
  }

  /** All of b, in writes that end at a line's end and fit maxWrite. */
  private writeAll(b: Buffer): void {
    let pos = 0;
    while (pos < b.length) {
      const end = writeEnd(b, pos, this.maxWrite);
      try {
        pos += writeSync(this.fd, b, pos, end - pos);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // A non-blocking descriptor whose reader is behind: wait as a blocking write would.
          Atomics.wait(this.sleeper, 0, 0, 1);
          continue;
        }
        if (code === 'EINTR') continue;
        this.failed = true;
        // A reader that went away (EPIPE) is not news; anything else is.
        if (code !== 'EPIPE') this.warn(`the connection log could not be written (${code ?? (err as Error).message}); connections are no longer logged`);
        return;
      }
    }
  }
}
