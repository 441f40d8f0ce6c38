/**
 * Where a reply goes besides its end rule: the bytes kept in the exchange's
 * record (at most maxReply, the rest counted) and the copy streamed to the
 * caller's `replyTo` (send's stdout, like nc), with backpressure and without
 * an allocation per chunk for a sink that is done with a buffer once written
 * (CopyPool: the exchange's and the session's).
 */
import net from 'node:net';

/** A pooled copy's size: one stream read's worth (conn.ts reads 64 KiB at a time). */
const COPY_SIZE = 64 * 1024;

/** The reply bytes kept: at most `max`, the rest counted. */
export class KeptReply {
  private readonly chunks: Buffer[] = [];
  bytes = 0;
  constructor(private readonly max: number) {}
  /** `borrowed`: the chunk's memory is reused after this call, so keep a copy. */
  add(chunk: Buffer, borrowed = false): void {
    const room = this.max - this.bytes;
    if (room <= 0) return;
    const part = chunk.length <= room && !borrowed ? chunk : Buffer.from(chunk.subarray(0, room));
    this.chunks.push(part);
    this.bytes += part.length;
  }
  take(length: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bytes);
    return length < all.length ? all.subarray(0, length) : all;
  }
}

/** Whether a sink is done with a buffer when its write's callback runs (a socket, pipe, TTY or file: process.stdout). */
export function recyclesBuffers(sink: unknown): boolean {
  return sink instanceof net.Socket || (sink as { constructor?: { name?: string } } | undefined)?.constructor?.name === 'SyncWriteStream';
}

/**
 * Copies of reply chunks for a sink. One that recycles (recyclesBuffers) gets
 * buffers from a small pool, so streaming gigabytes allocates nothing per
 * chunk; any other sink (it may keep chunks) gets fresh copies. Pass
 * `written` as each write's callback.
 */
export class CopyPool {
  private readonly free: Buffer[] = [];
  private readonly busy: Buffer[] = [];

  constructor(private readonly recycles: boolean) {}

  copy(chunk: Buffer): Buffer {
    if (!this.recycles) return Buffer.from(chunk);
    // A message (seqpacket, dgram) may be larger than a pooled buffer: its own copy, which goes busy in turn.
    const pooled = chunk.length <= COPY_SIZE ? this.free.pop() : undefined;
    const buf = pooled ?? Buffer.allocUnsafe(Math.max(COPY_SIZE, chunk.length));
    const n = chunk.copy(buf);
    this.busy.push(buf);
    return buf.subarray(0, n);
  }

  /** Writes complete in order: the oldest busy buffer is free again. */
  readonly written = (): void => {
    const buf = this.busy.shift();
    if (buf && buf.length === COPY_SIZE && this.free.length < 16) this.free.push(buf);
  };
}

/**
 * The reply streamed to a writable (`replyTo`). While it is full the reader
 * pauses the connection (write() returned false) until `onDrain`; when it
 * fails (its reader went away: EPIPE) `onBroken` says so, once, and nothing
 * more is written.
 */
export class ReplySink {
  private broken = false;
  private readonly pool: CopyPool;

  constructor(
    private readonly sink: NodeJS.WritableStream | undefined,
    private readonly onDrain: () => void,
    private readonly onBroken: (err: NodeJS.ErrnoException) => void,
  ) {
    this.pool = new CopyPool(recyclesBuffers(sink));
  }

  start(): void {
    this.sink?.on('error', this.onError);
  }

  /** Hand a copy to the sink; false when it is full (then onDrain follows). Throws what the sink's write() throws. */
  write(chunk: Buffer): boolean {
    const sink = this.sink;
    if (!sink || this.broken || chunk.length === 0) return true;
    if (sink.write(this.pool.copy(chunk), this.pool.written)) return true;
    sink.once('drain', this.onDrain);
    return false;
  }

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.broken = true;
    this.sink?.removeListener('drain', this.onDrain);
    this.onBroken(err);
  };

  /** Listeners off (the exchange is over). */
  stop(): void {
    this.sink?.removeListener('drain', this.onDrain);
    this.sink?.removeListener('error', this.onError);
  }
}
