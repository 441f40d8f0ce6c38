/**
 * The one bounded log writer: whole lines written to a descriptor without
 * ever waiting for its reader (nonBlockingPut), queued in line-ended writes
 * that a shared pipe takes whole (PutQueue). Serve's main-thread log
 * (commands/serve-log.ts) and the engine threads' log (epoll/thread-log.ts)
 * both write through it; past LOG_BUFFER they drop whole lines and count them.
 */
import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import { E, MSG_DONTWAIT, MSG_NOSIGNAL, errnoName } from '../socket/ffi.js';
import { epollLibc } from '../socket/libc.js';

/**
 * What a log keeps for a reader that is behind (the pipe full): past this,
 * whole lines are dropped and counted, and serving never waits on the log.
 */
export const LOG_BUFFER = 1024 * 1024;
/** A pipe takes a write of up to PIPE_BUF bytes whole: other writers' lines never land inside ours. */
const PIPE_BUF = 4096;
const NL = 0x0a;

/** A write that never blocks: bytes written, or -1 when the reader is behind (EAGAIN); throws on failure. */
export type Put = (b: Buffer, pos: number, len: number) => number;

/**
 * How to write to `fd` without ever waiting for its reader. A pipe or a
 * terminal is opened again through /proc as our own non-blocking open file
 * (O_NONBLOCK on the shared one would change it for every other writer); a
 * socket is written with MSG_DONTWAIT; a regular file does not wait for a
 * reader at all.
 */
export function nonBlockingPut(fd: number): { put: Put; own: number; shared: boolean } {
  let kind: 'file' | 'socket' | 'reopen' = 'reopen';
  try {
    const st = fstatSync(fd);
    kind = st.isSocket() ? 'socket' : st.isFIFO() || st.isCharacterDevice() ? 'reopen' : 'file';
  } catch {
    // unknown: try the careful way
  }
  const eagain = (err: unknown): number => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return -1;
    throw err;
  };
  if (kind === 'socket') {
    try {
      const sys = epollLibc();
      const put: Put = (b, pos, len) => {
        for (;;) {
          const n = sys.send(fd, pos === 0 ? b : b.subarray(pos), len, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n >= 0) return n;
          const e = sys.errno();
          if (e === E.EINTR) continue;
          if (e === E.EAGAIN) return -1;
          throw Object.assign(new Error(`send: ${errnoName(e)}`), { code: errnoName(e) });
        }
      };
      return { put, own: -1, shared: true };
    } catch {
      // no FFI here: the plain write below
    }
  }
  let target = fd;
  let own = -1;
  if (kind === 'reopen') {
    try {
      own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
      target = own;
    } catch {
      // no /proc: the descriptor as it is (non-blocking when Node made it so; else a full pipe waits)
    }
  }
  const put: Put = (b, pos, len) => {
    try {
      return writeSync(target, b, pos, len);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINTR') return 0;
      return eagain(err);
    }
  };
  return { put, own, shared: kind !== 'file' };
}

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

/**
 * Whole-line buffers waiting for a reader, written through a Put that never
 * waits, in writes that end at a line's end and fit one atomic pipe write
 * where other writers share the descriptor. Used by the engine threads' log
 * and by serve's own (the main thread's) log alike.
 */
export class PutQueue {
  private readonly queue: Buffer[] = [];
  /** Where the first buffer's unwritten bytes start. */
  private headPos = 0;
  /** Bytes not yet written. */
  queued = 0;
  /** Largest single write: PIPE_BUF for pipes and sockets (shared with other writers), else any. */
  private readonly maxWrite: number;

  constructor(
    private readonly put: Put,
    shared: boolean,
  ) {
    this.maxWrite = shared ? PIPE_BUF : 1 << 20;
  }

  push(b: Buffer): void {
    this.queue.push(b);
    this.queued += b.length;
  }

  /**
   * As much as the reader has room for: true once everything is written,
   * false while the reader is behind (the rest waits). What put throws is
   * thrown, with the queue emptied: that log has ended.
   */
  flush(): boolean {
    while (this.queue.length > 0) {
      const b = this.queue[0];
      while (this.headPos < b.length) {
        const end = writeEnd(b, this.headPos, this.maxWrite);
        let n: number;
        try {
          n = this.put(b, this.headPos, end - this.headPos);
        } catch (err) {
          this.clear();
          throw err;
        }
        if (n < 0) return false;
        this.headPos += n;
        this.queued -= n;
      }
      this.queue.shift();
      this.headPos = 0;
    }
    return true;
  }

  /** Lines still waiting (the newlines not yet written). */
  linesWaiting(): number {
    let lines = 0;
    for (let k = 0; k < this.queue.length; k++) {
      const b = this.queue[k];
      for (let p = k === 0 ? this.headPos : 0; p < b.length; p++) if (b[p] === NL) lines++;
    }
    return lines;
  }

  clear(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.headPos = 0;
  }
}
