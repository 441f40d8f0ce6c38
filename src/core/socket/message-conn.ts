/**
 * A seqpacket or dgram socket behind the connection seam (../conn.ts) that
 * the one exchange and the one session drive, as node:net's Socket is for a
 * stream: read (each message handed to the sink by itself, with its whole
 * size, so a framer or the session sees its boundaries), write (each write
 * one message), shut down the write side once the queue is sent, pause and
 * resume reading, 'end' (a seqpacket peer closed), 'error', 'drain'. The
 * policies (deadline, end rules, close phase, backpressure, lines) are
 * written once above it.
 *
 * Every wait here is a bounded poll slice (message.ts), and destroy() ends
 * them all: the exchange's deadline or the session's bounds bound the
 * connection.
 */
import { EventEmitter } from 'node:events';
import { UdsError } from '../errors.js';
import type { Conn } from '../conn.js';
import { E } from './ffi.js';
import type { MessageSocket } from './message.js';

/** The largest message read whole: Linux's default Unix datagram limit is ~208 KiB (wmem_default). */
export const MAX_MESSAGE = 256 * 1024;

/** Messages read in a row before the event loop gets a turn (a flood must not starve the input or the timers). */
const READ_BURST = 64;

export type { Conn };

export interface ReadSink {
  /** A message (its first `bytes` valid only during the call; `whole`: its size before it was cut); false: stop reading until resume(). */
  callback(bytes: number, buffer: Buffer, whole: number): boolean;
}

export class MessageConn extends EventEmitter implements Conn {
  /** Messages received. */
  messages = 0;
  private readonly buf = Buffer.allocUnsafe(MAX_MESSAGE);
  private paused = false;
  private destroyed = false;
  /** The reading is over: the peer's end, or a receive error, was read. */
  private ended = false;
  private wake: (() => void) | null = null;
  private readonly queue: { chunk: Buffer; cb: (err?: Error | null) => void }[] = [];
  private sending = false;
  /** end() came while messages were queued: the write side is shut once they are sent. */
  private endWhenSent = false;

  constructor(
    readonly sock: MessageSocket,
    private readonly label: string,
    private readonly sink: ReadSink,
    /** What one write of `bytes` is called in an EMSGSIZE error. */
    private readonly unit = (bytes: number): string => `the message (${bytes} bytes)`,
  ) {
    super();
  }

  /** Start reading (after the caller's handlers are in place). */
  start(): void {
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    while (!this.destroyed && !this.ended) {
      if (this.paused) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const w = await this.sock.waitReadable(Infinity);
      if (w === 'closed' || this.destroyed) return;
      if (this.readQueued(READ_BURST) === READ_BURST) await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * Read the messages queued now, each by itself, while the reader takes them
   * (at most `most`), without waiting; the count read. Also what a peer sent
   * before a write found it gone (EPIPE).
   */
  readQueued(most = Infinity): number {
    const { sock, buf } = this;
    let read = 0;
    while (!this.destroyed && !this.paused && !this.ended && read < most) {
      let n: number;
      try {
        n = sock.tryRecv(buf, this.label);
      } catch (err) {
        this.ended = true;
        this.fail(err as NodeJS.ErrnoException);
        break;
      }
      if (n === -E.EAGAIN) break;
      if (n === 0 && sock.type === 'seqpacket') {
        this.ended = true;
        this.emit('end');
        break;
      }
      read++;
      this.messages++;
      // MSG_TRUNC: a message longer than the buffer is cut to it.
      if (!this.sink.callback(Math.min(n, buf.length), buf, n)) this.paused = true;
    }
    return read;
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.destroyed) return;
    // A connected dgram socket whose receiver went away: the kernel refuses what we send it.
    this.emit('error', err);
  }

  /** One message; false when the receiver's queue is full (then 'drain' follows). */
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean {
    if (this.sending || this.queue.length > 0) {
      this.queue.push({ chunk, cb });
      return false;
    }
    try {
      if (this.sock.trySend(chunk, this.label) >= 0) {
        process.nextTick(cb);
        return true;
      }
    } catch (err) {
      this.sendFailed(err as NodeJS.ErrnoException, chunk, cb);
      return false;
    }
    this.queue.push({ chunk, cb });
    void this.sendQueued();
    return false;
  }

  private async sendQueued(): Promise<void> {
    this.sending = true;
    while (this.queue.length > 0 && !this.destroyed) {
      const { chunk, cb } = this.queue[0];
      let w: string;
      try {
        w = await this.sock.send(chunk, this.label, Infinity);
      } catch (err) {
        this.queue.length = 0;
        this.sending = false;
        return this.sendFailed(err as NodeJS.ErrnoException, chunk, cb);
      }
      if (w !== 'ready') break; // closed
      this.queue.shift();
      cb();
    }
    this.sending = false;
    if (this.destroyed) return;
    if (this.endWhenSent) this.shutdownWrite();
    this.emit('drain');
  }

  private sendFailed(err: NodeJS.ErrnoException, chunk: Buffer, cb: (err?: Error | null) => void): void {
    const e =
      err.code === 'EMSGSIZE'
        ? new UdsError('BAD_OPTION', `${this.label}: ${this.unit(chunk.length)} is larger than the socket takes in one message (EMSGSIZE)`, {
            target: this.label,
            cause: err,
          })
        : err;
    cb(e);
    this.fail(e as NodeJS.ErrnoException);
  }

  /** Shut down our write side once the queue is sent: a seqpacket peer reads end-of-file; a datagram has nothing to shut. */
  end(): void {
    if (this.sock.type !== 'seqpacket' || this.destroyed) return;
    if (this.sending || this.queue.length > 0) this.endWhenSent = true;
    else this.shutdownWrite();
  }

  private shutdownWrite(): void {
    this.endWhenSent = false;
    try {
      this.sock.shutdownWrite(this.label);
    } catch {
      // ENOTCONN: the peer is gone; its close is read as the end
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sock.close();
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
