/**
 * serve's log as this thread writes it (the net engine's connection lines,
 * and the lines of this thread on either engine): lines gathered and written
 * once per event-loop turn, as lineBuffer() does, but never waited on and
 * never grown without bound. While LOG_BUFFER bytes wait for a reader that
 * does not keep up, connection and request lines are dropped and counted;
 * once there is room again a line says how many. This thread's own lines
 * (listening, warnings, stopped) are never dropped: they are few.
 *
 * On the process's own stderr the lines are written to the descriptor
 * directly, never blocking (nonBlockingPut), in writes that end at a line's
 * end: Node's stream would keep whatever the reader has not taken, and its
 * pending writes keep the process from exiting until the reader reads.
 */
import { LineBytes, type LineWriter } from '../core/line-writer.js';
import { LOG_BUFFER, type Put, nonBlockingPut, writeEnd } from '../core/serve/epoll/thread-log.js';

type Stream = NodeJS.WritableStream & { writableLength?: number };

/** Retry a write the reader had no room for this often. */
const RETRY_MS = 20;
/** A pipe takes a write of up to PIPE_BUF bytes whole: the engine threads' lines never land inside ours. */
const PIPE_BUF = 4096;

export class ServeLog {
  private readonly lines: LineBytes;
  private scheduled = false;
  /** Lines dropped since the last note of it. */
  private dropped = 0;
  /** Lines dropped in all. */
  droppedTotal = 0;
  private failed = false;
  /** Direct writes (fd mode): the writer, what waits for the reader, and the retry timer. */
  private readonly put: Put | null = null;
  private readonly maxWrite: number = PIPE_BUF;
  private readonly queue: Buffer[] = [];
  private headPos = 0;
  private queued = 0;
  private retry: NodeJS.Timeout | null = null;
  private readonly writeTurn = () => {
    this.scheduled = false;
    const out = this.lines.take();
    if (out) this.send(out);
  };

  constructor(
    private readonly stream: Stream,
    /** The line that says `count` lines were dropped. */
    private readonly note: (count: number) => string,
    /** The stream's descriptor, to be written directly (the process's own stderr). */
    fd?: number,
  ) {
    if (fd !== undefined) {
      try {
        const w = nonBlockingPut(fd);
        this.put = w.put;
        this.maxWrite = w.shared ? PIPE_BUF : 1 << 20;
      } catch {
        this.put = null; // the stream, then
      }
    }
    this.lines = new LineBytes((full) => this.send(full));
    if (this.put === null) {
      stream.on('drain', () => {
        if (this.backlog() < LOG_BUFFER) this.noteDropped();
      });
    }
    // A reader that went away (EPIPE) or a terminal that closed (EIO): the log ends, serving goes on.
    stream.on('error', () => {
      this.failed = true;
    });
  }

  /** Bytes written but not yet taken by the reader, and lines not yet written. */
  private backlog(): number {
    return (this.put ? this.queued : (this.stream.writableLength ?? 0)) + this.lines.waiting;
  }

  private send(b: Buffer): void {
    if (this.failed) return;
    if (!this.put) {
      this.stream.write(b);
      return;
    }
    this.queue.push(b);
    this.queued += b.length;
    this.writeQueue();
  }

  /** As much of the queue as the reader has room for; the rest is tried again in RETRY_MS. */
  private writeQueue(): void {
    const put = this.put!;
    while (this.queue.length > 0 && !this.failed) {
      const b = this.queue[0];
      while (this.headPos < b.length) {
        const end = writeEnd(b, this.headPos, this.maxWrite);
        let n: number;
        try {
          n = put(b, this.headPos, end - this.headPos);
        } catch {
          this.failed = true;
          this.queue.length = 0;
          this.queued = 0;
          return;
        }
        if (n < 0) {
          this.retry ??= setTimeout(() => {
            this.retry = null;
            this.writeQueue();
          }, RETRY_MS);
          return;
        }
        this.headPos += n;
        this.queued -= n;
      }
      this.queue.shift();
      this.headPos = 0;
    }
    // Caught up: say what was dropped meanwhile.
    if (this.dropped > 0 && !this.failed) this.noteDropped();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.writeTurn);
  }

  /** A connection's or a request's line, unless the reader is LOG_BUFFER behind: then it is dropped, and counted. */
  record<T>(render: (log: T, out: LineWriter) => void, log: T): void {
    if (this.backlog() >= LOG_BUFFER) {
      this.dropped++;
      this.droppedTotal++;
      return;
    }
    this.noteDropped();
    render(log, this.lines);
    this.schedule();
  }

  /** A line that is never dropped. */
  line(text: string): void {
    this.lines.text(text);
    this.lines.end();
    this.schedule();
  }

  /** Say now how many lines were dropped since the last note, if any (before serve's last line). */
  noteDropped(): void {
    if (this.dropped === 0) return;
    const n = this.dropped;
    this.dropped = 0;
    this.line(this.note(n));
  }

  /**
   * Write what waits (and the note of lines dropped since the last one);
   * resolves true once the reader has taken all of it, false after boundMs
   * (a reader that never reads must not keep serve from exiting).
   */
  async flush(boundMs: number): Promise<boolean> {
    this.noteDropped();
    const out = this.lines.take();
    if (out) this.send(out);
    if (this.failed) return true;
    if (!this.put) {
      if ((this.stream.writableLength ?? 0) === 0) return true;
      return new Promise((resolve) => {
        const done = (written: boolean) => {
          clearTimeout(timer);
          this.stream.removeListener('drain', drained);
          resolve(written);
        };
        const drained = () => done(true);
        const timer = setTimeout(() => done(false), boundMs);
        this.stream.once('drain', drained);
      });
    }
    const until = Date.now() + boundMs;
    while (this.queued > 0 && !this.failed && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      this.writeQueue();
    }
    return this.queued === 0 || this.failed;
  }

  /** Give up on what the reader has not taken (after flush() timed out). */
  abandon(): void {
    this.failed = true;
    this.queue.length = 0;
    this.queued = 0;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
