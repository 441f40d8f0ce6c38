/**
 * serve's log as this thread writes it (the net engine's connection lines,
 * and the lines of this thread on either engine): lines encoded straight into
 * buffers (LineBytes) and written once per event-loop turn, never waited on and
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
import { LOG_BUFFER, PutQueue, nonBlockingPut } from '../core/serve/log-put.js';
import type { Server } from '../core/serve/protocol.js';
import type { TapConnectionLog } from '../core/serve/tap.js';
import { messageTapRenderers } from '../render/message-tap.js';
import { messageRenderers } from '../render/serve-message.js';
import { connectionJsonRenderer, connectionLineRenderer, requestJsonRenderer, requestLineRenderer } from '../render/serve.js';
import { tapConnectionJsonRenderer, tapConnectionLineRenderer, trafficJsonRenderer, trafficLineRenderer } from '../render/tap.js';
import type { ChalkInstance } from 'chalk';

type Stream = NodeJS.WritableStream & { writableLength?: number };

/** Retry a write the reader had no room for this often. */
const RETRY_MS = 20;

export class ServeLog {
  private readonly lines: LineBytes;
  private scheduled = false;
  /** Lines dropped since the last note of it. */
  private dropped = 0;
  /** Lines dropped in all. */
  droppedTotal = 0;
  private failed = false;
  /** Direct writes (fd mode): what waits for the reader (in writes that end at line ends), and the retry timer. */
  private readonly out: PutQueue | null = null;
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
        this.out = new PutQueue(w.put, w.shared);
      } catch {
        this.out = null; // the stream, then
      }
    }
    this.lines = new LineBytes((full) => this.send(full));
    if (this.out === null) {
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
    return (this.out ? this.out.queued : (this.stream.writableLength ?? 0)) + this.lines.waiting;
  }

  private send(b: Buffer): void {
    if (this.failed) return;
    if (!this.out) {
      this.stream.write(b);
      return;
    }
    this.out.push(b);
    this.writeQueue();
  }

  /** As much of the queue as the reader has room for; the rest is tried again in RETRY_MS. */
  private writeQueue(): void {
    if (this.failed) return;
    let all: boolean;
    try {
      all = this.out!.flush();
    } catch {
      this.failed = true;
      return;
    }
    if (!all) {
      this.retry ??= setTimeout(() => {
        this.retry = null;
        this.writeQueue();
      }, RETRY_MS);
      return;
    }
    // Caught up: say what was dropped meanwhile.
    if (this.dropped > 0) this.noteDropped();
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
    if (!this.out) {
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
    while (this.out.queued > 0 && !this.failed && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      this.writeQueue();
    }
    return this.out.queued === 0 || this.failed;
  }

  /** Give up on what the reader has not taken (after flush() timed out). */
  abandon(): void {
    this.failed = true;
    this.out?.clear();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}

/** How serve's log shows the records. */
export interface LogRecordsOptions {
  json: boolean;
  c: ChalkInstance;
  pid: number;
  /** The tap's records (serve --upstream), not the server's. */
  tap: boolean;
  keepAlive?: boolean;
  hexdump?: boolean;
  /** The stream engines' records too: not when the engine writes its log itself (Server.ownLog). */
  stream: boolean;
}

/**
 * Every record a server makes, whichever engine, into serve's bounded log
 * through its renderers (render/serve.ts, tap.ts, serve-message.ts,
 * message-tap.ts). Before listen(): an engine makes records only for the
 * events somebody listens to.
 */
export function logRecords(server: Server, log: ServeLog, o: LogRecordsOptions): void {
  const { json, c, pid } = o;
  if (o.tap) {
    const m = messageTapRenderers(json, c, pid, { hexdump: o.hexdump });
    server.on('messageTraffic', (l) => log.record(m.traffic, l));
    server.on('messagePeer', (l) => log.record(m.peer, l));
    if (!o.stream) return;
    const traffic = json ? trafficJsonRenderer(pid) : trafficLineRenderer(c, { hexdump: o.hexdump });
    const conn = json ? tapConnectionJsonRenderer(pid) : tapConnectionLineRenderer(c);
    server.on('traffic', (l) => log.record(traffic, l));
    server.on('connection', (l) => log.record(conn, l as TapConnectionLog));
    return;
  }
  const m = messageRenderers(json, c, pid);
  server.on('message', (l) => log.record(m.message, l));
  server.on('conn', (l) => log.record(m.conn, l));
  if (!o.stream) return;
  const render = json ? connectionJsonRenderer(pid) : connectionLineRenderer(c, { keepAlive: o.keepAlive });
  server.on('connection', (l) => log.record(render, l));
  if (o.keepAlive) {
    const renderRequest = json ? requestJsonRenderer(pid) : requestLineRenderer(c);
    server.on('request', (l) => log.record(renderRequest, l));
  }
}
