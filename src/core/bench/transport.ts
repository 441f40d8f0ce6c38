/**
 * The seam between bench's one load loop (loop.ts) and the mechanisms that move
 * its bytes (transport-epoll.ts, transport-net.ts). A transport knows sockets,
 * not requests: it opens, writes, reads and closes per slot and reports what
 * happened; every policy (what a byte means, timeouts, retries, counting) is the
 * loop's. A new transport is one module implementing Transport.
 */
import type { ErrorCode } from '../errors.js';

/** What a transport reports, per slot. Calls may come from inside the loop's own calls (a Unix connect completes in connect()). */
export interface TransportEvents {
  /** The time of the event being reported (performance.now()); set by the transport before each report. */
  now: number;
  /** The connection of slot i is open. */
  connected(i: number): void;
  /** Connecting slot i failed (BACKLOG_FULL: the listen backlog was full; the loop decides about retrying). */
  connectFailed(i: number, code: ErrorCode, errno: number, message: string | null): void;
  /** Bytes arrived on slot i: buf[from, to), valid only during the call. */
  data(i: number, buf: Buffer, from: number, to: number): void;
  /** `n` bytes of slot i's request stream left this process. */
  sent(i: number, n: number): void;
  /** The peer ended slot i's stream (end of file). */
  end(i: number): void;
  /** An I/O error on slot i's open connection (RESET or IO_ERROR). */
  failed(i: number, code: ErrorCode, errno: number): void;
}

export interface Transport {
  /** Start connecting slot i (any connection it had is closed first by the loop). */
  connect(i: number): void;
  /** Write the next `bytes` bytes of the repeated payload on slot i (queued until the socket takes them). */
  send(i: number, bytes: number): void;
  /** Shut down our write side of slot i once what was sent has left (oneshot --half-close). */
  endWrite(i: number): void;
  /** Close slot i's connection, if any; its later events are dropped. */
  close(i: number): void;
  /**
   * Wait up to `timeoutMs` for events and report them. A transport that waits
   * synchronously (epoll) returns undefined; one driven by Node's event loop returns
   * a promise that settles at its first event or the timeout. Either sets the events' `now`
   * when the wait ends.
   */
  poll(timeoutMs: number): Promise<void> | undefined;
  /** Close everything; the transport is not used again. */
  dispose(): void;
}
