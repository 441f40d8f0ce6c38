/**
 * Reads a file descriptor (stdin) into a few reused buffers. A stream that
 * allocates a fresh 64 KiB buffer per read leaves garbage at the speed of the
 * input (`send S - < /dev/zero` moves gigabytes), and V8 collects such
 * external memory only after tens of megabytes of it: the resident size climbs
 * by that much. Here a buffer goes back to the pool when its consumer says the
 * chunk was written (`release`), so memory stays flat at any speed.
 *
 * It looks enough like a readable stream for exchange()'s payloadStream:
 * 'data', 'end', 'error', pause(), resume(), unref().
 */
import { EventEmitter } from 'node:events';
import { fstatSync, read } from 'node:fs';
import net from 'node:net';
import { isatty } from 'node:tty';

const CHUNK = 64 * 1024;
const POOL_MAX = 8;

export class PooledFdReader extends EventEmitter {
  private readonly pool: Buffer[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private paused = true;
  private reading = false;
  private done = false;
  private socket?: net.Socket;

  /**
   * A reader for `fd`, or undefined when it should be left to the ordinary
   * stream (a terminal, or an fd that cannot be looked at).
   */
  static open(fd: number): PooledFdReader | undefined {
    try {
      if (isatty(fd)) return undefined;
      const st = fstatSync(fd);
      if (st.isFIFO() || st.isSocket()) return new PooledFdReader(fd, 'stream');
      if (st.isFile() || st.isCharacterDevice()) return new PooledFdReader(fd, 'file');
    } catch {
      // fall back to the ordinary stream
    }
    return undefined;
  }

  /** `tail`: bytes emitted after the last read, before 'end' (send --newline). */
  private tail: Buffer | undefined;

  private constructor(
    private readonly fd: number,
    private readonly kind: 'stream' | 'file',
  ) {
    super();
  }

  /** Emit these bytes after the input's own, before 'end'. */
  appendAtEnd(tail: Buffer): this {
    this.tail = tail.length > 0 ? tail : undefined;
    return this;
  }

  private take(): Buffer {
    const b = this.pool.pop();
    if (b) return b;
    const fresh = Buffer.allocUnsafeSlow(CHUNK);
    this.owned.add(fresh.buffer);
    return fresh;
  }

  /** The consumer is done with a chunk this reader emitted: its buffer may be reused. */
  release(chunk: Buffer): void {
    if (!this.owned.has(chunk.buffer) || this.pool.length >= POOL_MAX) return;
    this.pool.push(Buffer.from(chunk.buffer, 0, CHUNK));
  }

  resume(): this {
    this.paused = false;
    if (this.kind === 'stream') this.streamSocket().resume();
    else this.readFile();
    return this;
  }

  pause(): this {
    this.paused = true;
    this.socket?.pause();
    return this;
  }

  /** Stop for good: the fd stays open (it is stdin), nothing keeps the process alive. */
  unref(): this {
    this.paused = true;
    this.done = true;
    if (this.socket) {
      this.socket.pause();
      this.socket.unref();
    }
    return this;
  }

  private streamSocket(): net.Socket {
    if (this.socket) return this.socket;
    const s = new net.Socket({
      fd: this.fd,
      readable: true,
      writable: false,
      onread: {
        buffer: () => this.take(),
        callback: (n: number, buf: Buffer): boolean => {
          if (!this.done) this.emit('data', buf.subarray(0, n));
          if (this.paused) s.pause();
          return !this.paused;
        },
      },
    } as net.SocketConstructorOpts);
    s.once('end', () => this.finish());
    s.once('error', (err) => this.emit('error', err));
    this.socket = s;
    return s;
  }

  private readFile(): void {
    if (this.paused || this.reading || this.done) return;
    this.reading = true;
    const buf = this.take();
    read(this.fd, buf, 0, CHUNK, null, (err, n) => {
      this.reading = false;
      if (this.done) return;
      if (err) return void this.emit('error', err);
      if (n === 0) return this.finish();
      this.emit('data', buf.subarray(0, n));
      setImmediate(() => this.readFile());
    });
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.tail) this.emit('data', this.tail);
    this.emit('end');
  }
}
