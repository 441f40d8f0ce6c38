/**
 * A seqpacket or dgram socket behind the same small connection the stream
 * exchange drives on a node:net socket (Conn): read (each message handed to
 * `onread` by itself, so a framer sees its boundaries), write (each write one
 * message), shut down the write side, pause and resume reading, 'end' (a
 * seqpacket peer closed), 'error', 'drain'. The exchange's policy (deadline,
 * end rules, close phase, backpressure) is written once, in exchange.ts.
 *
 * Every wait here is a bounded poll slice (message.ts), and destroy() ends
 * them all: the exchange's deadline bounds the connection.
 */
import { EventEmitter } from 'node:events';
import { UdsError } from '../errors.js';
import { E } from './ffi.js';
import type { MessageSocket } from './message.js';

/** The largest message read whole: Linux's default Unix datagram limit is ~208 KiB (wmem_default). */
export const MAX_MESSAGE = 256 * 1024;

/** What the exchange needs of a connection: node:net's Socket has it, and so has MessageConn. */
export interface Conn {
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  end(): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  on(event: 'end' | 'error', fn: (err: NodeJS.ErrnoException) => void): unknown;
  once(event: 'drain', fn: () => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  removeListener(event: string, fn: (...args: any[]) => void): unknown;
}

export interface ReadSink {
  /** A message (its bytes valid only during the call); false: stop reading until resume(). */
  callback(bytes: number, buffer: Buffer): boolean;
}

export class MessageConn extends EventEmitter implements Conn {
  /** Messages received. */
  messages = 0;
  private readonly buf = Buffer.allocUnsafe(MAX_MESSAGE);
  private paused = false;
  private destroyed = false;
  private wake: (() => void) | null = null;
  private readonly queue: { chunk: Buffer; cb: (err?: Error | null) => void }[] = [];
  private sending = false;

  constructor(
    readonly sock: MessageSocket,
    private readonly label: string,
    private readonly sink: ReadSink,
  ) {
    super();
  }

  /** Start reading (after the caller's handlers are in place). */
  start(): void {
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    const { sock, buf } = this;
    while (!this.destroyed) {
      if (this.paused) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const w = await sock.waitReadable(Infinity);
      if (w === 'closed' || this.destroyed) return;
      // Every message queued now, each by itself, while the reader takes them.
      while (!this.destroyed && !this.paused) {
        let n: number;
        try {
          n = sock.tryRecv(buf, this.label);
        } catch (err) {
          return this.fail(err as NodeJS.ErrnoException);
        }
        if (n === -E.EAGAIN) break;
        if (n === 0 && sock.type === 'seqpacket') {
          this.emit('end');
          return;
        }
        this.messages++;
        // MSG_TRUNC: a message longer than the buffer is cut to it.
        if (!this.sink.callback(Math.min(n, buf.length), buf)) this.paused = true;
      }
    }
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
    if (!this.destroyed) this.emit('drain');
  }

  private sendFailed(err: NodeJS.ErrnoException, chunk: Buffer, cb: (err?: Error | null) => void): void {
    const e =
      err.code === 'EMSGSIZE'
        ? new UdsError('BAD_OPTION', `${this.label}: the message (${chunk.length} bytes) is larger than the socket takes in one message (EMSGSIZE)`, {
            target: this.label,
            cause: err,
          })
        : err;
    cb(e);
    this.fail(e as NodeJS.ErrnoException);
  }

  /** Shut down our write side: a seqpacket peer reads end-of-file; a datagram has nothing to shut. */
  end(): void {
    if (this.sock.type !== 'seqpacket' || this.destroyed) return;
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
