/**
 * What the message tap's loop (message-tap.ts) and its two relays
 * (message-tap-seqpacket.ts, message-tap-dgram.ts) share: the pollfd set
 * rebuilt each round, and the interfaces between the loop and a relay.
 */
import { libc } from '../socket/libc.js';
import type { MessageSocket } from '../socket/message.js';
import type { MessageTapOptions, MessageTapPeerLog, MessageTapTraffic } from './message-tap-records.js';

import { POLLERR, POLLHUP, POLLIN, POLLOUT } from '../socket/ffi.js';

export { POLLERR, POLLHUP, POLLIN, POLLOUT };

/** A pollfd array rebuilt each round, its buffer reused (grown when needed). */
export class PollSet {
  private buf = Buffer.alloc(8 * 64);
  n = 0;

  reset(): void {
    this.n = 0;
  }

  /** Add an fd; no events: left out (fd -1), so a hung-up socket nobody reads does not wake poll forever. Returns its index. */
  add(fd: number, events: number): number {
    if (8 * (this.n + 1) > this.buf.length) {
      const next = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(next);
      this.buf = next;
    }
    const at = 8 * this.n;
    this.buf.writeInt32LE(events === 0 ? -1 : fd, at);
    this.buf.writeInt16LE(events, at + 4);
    this.buf.writeInt16LE(0, at + 6);
    return this.n++;
  }

  /** Add an fd polled for nothing but POLLHUP/POLLERR (which poll reports always): a held-open client's full close. */
  addHupOnly(fd: number): number {
    const i = this.add(fd, POLLIN);
    this.buf.writeInt16LE(0, 8 * i + 4);
    return i;
  }

  revents(i: number): number {
    return i < 0 ? 0 : this.buf.readInt16LE(8 * i + 6);
  }

  /**
   * poll(2): first without waiting, on this thread (under load something is
   * ready: no hop to koffi's worker thread), then yielding to the event loop
   * (the log's writes, signals) before the caller handles it; else on a
   * worker thread, waiting up to timeoutMs.
   */
  async poll(timeoutMs: number): Promise<number> {
    const c = libc();
    const n = c.poll(this.buf, this.n, 0);
    if (n !== 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return n;
    }
    return c.pollAsync(this.buf, this.n, timeoutMs);
  }
}

/** What a relay needs of the tap. */
export interface MessageTapHost {
  readonly o: MessageTapOptions;
  readonly listener: MessageSocket;
  /** The one receive buffer: maxBytes + 1 bytes. */
  readonly buf: Buffer;
  readonly maxBytes: number;
  /** Whether anybody listens for 'traffic' (previews are copied only then). */
  readonly tracing: boolean;
  readonly stopping: boolean;
  traffic(log: MessageTapTraffic): void;
  peer(log: MessageTapPeerLog): void;
  warn(message: string): void;
}

/** One relay mechanism behind the loop. */
export interface MessageTapRelay {
  /** Whether the listener is polled (false: --count reached, out of descriptors). */
  accepting(now: number): boolean;
  /** Add what to poll after the listener (index 0). */
  addPolls(ps: PollSet, now: number): void;
  onListener(): Promise<void> | void;
  onPolled(ps: PollSet): void;
  /** Idle checks and due replies; ms until the next timed thing. */
  tick(now: number): number;
  /** --count reached and nothing left to relay. */
  finished(now: number): boolean;
  closeAll(reason: string): void;
}
