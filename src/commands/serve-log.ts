/**
 * serve's log as this thread writes it (the net engine's connection lines,
 * and the lines of this thread on either engine): lines gathered and written
 * once per event-loop turn, as lineBuffer() does, but never waited on and
 * never grown without bound. While LOG_BUFFER bytes wait for a reader that
 * does not keep up, connection and request lines are dropped and counted;
 * once there is room again a line says how many. This thread's own lines
 * (listening, warnings, stopped) are never dropped: they are few.
 */
import { LineBytes, type LineWriter } from '../core/line-writer.js';
import { LOG_BUFFER } from '../core/serve-epoll/thread-log.js';

type Stream = NodeJS.WritableStream & { writableLength?: number };

export class ServeLog {
  private readonly lines: LineBytes;
  private scheduled = false;
  /** Lines dropped since the last note of it. */
  private dropped = 0;
  /** Lines dropped in all. */
  droppedTotal = 0;
  private failed = false;
  private readonly writeTurn = () => {
    this.scheduled = false;
    const out = this.lines.take();
    if (out && !this.failed) this.stream.write(out);
  };

  constructor(
    private readonly stream: Stream,
    /** The line that says `count` lines were dropped. */
    private readonly note: (count: number) => string,
  ) {
    this.lines = new LineBytes((full) => {
      if (!this.failed) this.stream.write(full);
    });
    stream.on('drain', () => {
      if (this.dropped > 0 && this.backlog() < LOG_BUFFER) this.noteDropped();
    });
    // A reader that went away (EPIPE) or a terminal that closed (EIO): the log ends, serving goes on.
    stream.on('error', () => {
      this.failed = true;
    });
  }

  /** Bytes written but not yet taken by the reader, and lines not yet written. */
  private backlog(): number {
    return (this.stream.writableLength ?? 0) + this.lines.waiting;
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
    if (this.dropped > 0) this.noteDropped();
    render(log, this.lines);
    this.schedule();
  }

  /** A line that is never dropped. */
  line(text: string): void {
    this.lines.text(text);
    this.lines.end();
    this.schedule();
  }

  private noteDropped(): void {
    const n = this.dropped;
    this.dropped = 0;
    this.line(this.note(n));
  }

  /**
   * Write what waits (and the note of lines dropped since the last one); resolves
   * once the reader has taken all of it, or after boundMs (a reader that never
   * reads must not keep serve from exiting).
   */
  flush(boundMs: number): Promise<void> {
    if (this.dropped > 0) this.noteDropped();
    const out = this.lines.take();
    if (this.failed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, boundMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      if (out) this.stream.write(out, () => done());
      else if ((this.stream.writableLength ?? 0) > 0) this.stream.once('drain', done);
      else done();
    });
  }
}
