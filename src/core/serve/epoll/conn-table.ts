/**
 * An engine thread's connections, by slot: their state in typed arrays (one
 * array per field, grown by doubling), a free list of slots, and the few
 * per-connection buffers that are objects (partial input, output the client
 * has not taken). A slot's generation changes each time it is freed, so an
 * epoll event or a lingering entry for a closed connection is recognised even
 * when the slot has been reused. Holds state only: what happens to a
 * connection is the thread's (thread.ts) and the protocol step's (conn-step.ts).
 */
import { copyBytes } from './record-batch.js';
import { PREVIEW } from './shared.js';

// Slot phases.
export const FREE = 0;
/** Reading the request (one-shot) or lines (keep-alive). */
export const READING = 1;
/** One-shot: the request was taken; what follows is counted and ignored until the client's end. */
export const ANSWERED = 2;

// Slot flags.
export const REPLIED = 1;
export const REGISTERED = 2;
/** One-shot: shut down our side once the reply is out. */
export const SHUT_AFTER_FLUSH = 4;
/** The client has ended: close once the output is out. */
export const CLOSE_AFTER_FLUSH = 8;
/** Not reading: output is backed up, or the client has ended. */
export const IN_PAUSED = 16;
/** One-shot, answered, not in the epoll set: its end is looked for lazily (see LINGER_MS in thread.ts). */
export const LINGERING = 32;

const INITIAL_SLOTS = 256;

type Numbers = Int32Array | Uint32Array | Uint8Array | Int8Array | Int16Array | Float64Array;

/** A copy of `a` with room for `n` (the epoll tables' columns grow by doubling; relay-table.ts too). */
export function grown<T extends Numbers>(a: T, C: new (n: number) => T, n: number): T {
  const b = new C(n);
  b.set(a);
  return b;
}

export class ConnTable {
  /** Slots allocated. */
  cap = 0;
  /** Slots below this have been used (scans stop there). */
  highWater = 0;
  fdOf = new Int32Array(0);
  gen = new Uint32Array(0);
  phase = new Uint8Array(0);
  flags = new Uint8Array(0);
  /** The epoll interest registered for the slot. */
  armed = new Uint32Array(0);
  /** END_CODE of how it ended, -1 while not decided. */
  endOf = new Int8Array(0);
  reasonOf = new Uint8Array(0);
  errnoOf = new Int32Array(0);
  startAt = new Float64Array(0);
  lastActive = new Float64Array(0);
  bytesIn = new Float64Array(0);
  bytesOut = new Float64Array(0);
  requests = new Float64Array(0);
  // Kept only when the thread logs (`logOn`):
  idOf = new Float64Array(0);
  wallAt = new Float64Array(0);
  /** The client's process (SO_PEERCRED at accept); pid 0: not known. */
  peerPid = new Int32Array(0);
  peerUid = new Uint32Array(0);
  peerGid = new Uint32Array(0);
  /** Preview lengths, -1: none; the previews themselves PREVIEW bytes a slot. */
  reqLen = new Int16Array(0);
  repLen = new Int16Array(0);
  reqPrev = new Uint8Array(0);
  repPrev = new Uint8Array(0);
  /** Partial input (line and eof framing, keep-alive's unfinished line). */
  readonly pendIn: (Buffer[] | null)[] = [];
  readonly pendInLen: number[] = [];
  /** Output the client has not taken yet. */
  readonly pendOut: (Buffer | null)[] = [];
  /** Last fixed reply sent (a reference: the reply buffer is replaced, never changed). */
  readonly repRef: (Buffer | null)[] = [];
  private freeList = new Int32Array(0);
  private freeTop = 0;

  constructor(private readonly logOn: boolean) {
    this.grow();
  }

  /** A free slot, reset for a new connection on `fd` (its generation moved on). */
  take(fd: number, now: number): number {
    if (this.freeTop === 0) this.grow();
    const i = this.freeList[--this.freeTop];
    if (i >= this.highWater) this.highWater = i + 1;
    this.fdOf[i] = fd;
    this.gen[i]++;
    this.phase[i] = READING;
    this.flags[i] = 0;
    this.armed[i] = 0;
    this.endOf[i] = -1;
    this.startAt[i] = now;
    this.lastActive[i] = now;
    this.bytesIn[i] = 0;
    this.bytesOut[i] = 0;
    this.requests[i] = 0;
    if (this.logOn) {
      this.reqLen[i] = -1;
      this.repLen[i] = -1;
    }
    return i;
  }

  /** The connection is gone: forget its buffers and give the slot back. */
  release(i: number): void {
    this.fdOf[i] = -1;
    this.phase[i] = FREE;
    this.gen[i]++;
    this.pendIn[i] = null;
    this.pendInLen[i] = 0;
    this.pendOut[i] = null;
    this.repRef[i] = null;
    this.freeList[this.freeTop++] = i;
  }

  /** Decide how the connection ends (the first decision stands). */
  setEnd(i: number, end: number, reason: number, errno = 0): void {
    if (this.endOf[i] >= 0) return;
    this.endOf[i] = end;
    this.reasonOf[i] = reason;
    this.errnoOf[i] = errno;
  }

  /** Keep the preview of src[start, end) for slot i (request or reply previews). */
  notePreview(prev: Uint8Array, lens: Int16Array, i: number, src: Uint8Array, start: number, end: number): void {
    const n = Math.min(end - start, PREVIEW);
    copyBytes(src, start, prev, i * PREVIEW, n);
    lens[i] = n;
  }

  /** The partial input, with `tail` after it, as one buffer; the slot keeps none. */
  takePending(i: number, tail?: Uint8Array): Buffer {
    const parts = this.pendIn[i]!;
    if (tail !== undefined) parts.push(tail as Buffer);
    const all = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.pendIn[i] = null;
    this.pendInLen[i] = 0;
    return all;
  }

  /** Keep a copy of src[start, end) as partial input (src is the reused read buffer). */
  keepPending(i: number, src: Buffer, start: number, end: number): void {
    const copy = Buffer.allocUnsafe(end - start);
    src.copy(copy, 0, start, end);
    const parts = this.pendIn[i];
    if (parts === null) this.pendIn[i] = [copy];
    else parts.push(copy);
    this.pendInLen[i] += end - start;
  }

  private grow(): void {
    const cap = this.cap;
    const n = cap === 0 ? INITIAL_SLOTS : cap * 2;
    this.fdOf = grown(this.fdOf, Int32Array, n);
    this.gen = grown(this.gen, Uint32Array, n);
    this.phase = grown(this.phase, Uint8Array, n);
    this.flags = grown(this.flags, Uint8Array, n);
    this.armed = grown(this.armed, Uint32Array, n);
    this.endOf = grown(this.endOf, Int8Array, n);
    this.reasonOf = grown(this.reasonOf, Uint8Array, n);
    this.errnoOf = grown(this.errnoOf, Int32Array, n);
    this.startAt = grown(this.startAt, Float64Array, n);
    this.lastActive = grown(this.lastActive, Float64Array, n);
    this.bytesIn = grown(this.bytesIn, Float64Array, n);
    this.bytesOut = grown(this.bytesOut, Float64Array, n);
    this.requests = grown(this.requests, Float64Array, n);
    if (this.logOn) {
      this.idOf = grown(this.idOf, Float64Array, n);
      this.wallAt = grown(this.wallAt, Float64Array, n);
      this.peerPid = grown(this.peerPid, Int32Array, n);
      this.peerUid = grown(this.peerUid, Uint32Array, n);
      this.peerGid = grown(this.peerGid, Uint32Array, n);
      this.reqLen = grown(this.reqLen, Int16Array, n);
      this.repLen = grown(this.repLen, Int16Array, n);
      this.reqPrev = grown(this.reqPrev, Uint8Array, n * PREVIEW);
      this.repPrev = grown(this.repPrev, Uint8Array, n * PREVIEW);
    }
    const fl = new Int32Array(n);
    fl.set(this.freeList.subarray(0, this.freeTop));
    this.freeList = fl;
    for (let i = n - 1; i >= cap; i--) {
      this.freeList[this.freeTop++] = i;
      this.pendIn.push(null);
      this.pendInLen.push(0);
      this.pendOut.push(null);
      this.repRef.push(null);
    }
    this.cap = n;
  }
}
