/**
 * The tap's epoll relay's connections (relay-thread.ts), by slot, in typed
 * arrays grown by doubling: a slot has two sides, the client's (0) and the
 * upstream's (1), stored at slot*2+side (the same number the epoll data
 * carries), and one bounded out-queue per side. A slot's generation changes
 * when it is freed, so an event for a closed connection is recognised after
 * the slot is reused. State only: what happens is the thread's.
 */
import { grown } from './conn-table.js';

/** Each direction's out-queue, and each read: flat memory per connection (two of these at most). */
export const OUT_CAP = 64 * 1024;
const INITIAL_SLOTS = 256;

// Slot phases.
export const FREE = 0;
/** The upstream's connect is under way (TCP: EPOLLOUT awaited; Unix: backlog full, retried at retryAt). */
export const CONNECTING = 1;
export const RETRYING = 2;
export const RELAYING = 3;

// Per-side flags (sideFlags[slot*2+side]).
/** In the epoll set. */
export const REG = 1;
/** Read its end (EOF). */
export const EOF = 2;
/** Its write side is shut down (the other side's end relayed), or can take nothing more. */
export const SHUT = 4;
/** The end of the other side waits for the out-queue to this side to drain. */
export const SHUT_PENDING = 8;
/** The client's side: the upstream has ended and a fault (never-close, silent) holds the client open until its own end. */
export const HELD = 16;
/** The client's side, --fault reset: its request was peeked and relayed; it is not read again (its bytes stay unread). */
export const PEEKED = 32;
/** The client's side, --delay: its out-queue holds a reply chunk not to be sent before sendAt. */
export const DELAYED = 64;

export class RelayTable {
  cap = 0;
  /** Slots below this have been used (scans stop there). */
  highWater = 0;
  /** [slot*2+side]: the descriptor (-1: none), the side's flags, its epoll interest. */
  fd = new Int32Array(0);
  sideFlags = new Uint8Array(0);
  armed = new Uint32Array(0);
  gen = new Uint32Array(0);
  phase = new Uint8Array(0);
  lastActive = new Float64Array(0);
  /** The upstream's connect must have succeeded by then. */
  deadline = new Float64Array(0);
  /** RETRYING: the next connect attempt, and the wait after it. */
  retryAt = new Float64Array(0);
  retryMs = new Float64Array(0);
  /** Out-queues by destination side ([slot*2+side]: the bytes waiting to be sent to that side); a buffer only while needed. */
  readonly outBuf: (Buffer | null)[] = [];
  outOff = new Int32Array(0);
  outLen = new Int32Array(0);
  /** --delay: when the client's delayed out-queue may go. */
  sendAt = new Float64Array(0);
  private freeList = new Int32Array(0);
  private freeTop = 0;

  constructor() {
    this.grow();
  }

  /** A free slot for the client `cfd`, its upstream not yet connected (within connectMs of now). */
  take(cfd: number, now: number, connectMs: number): number {
    if (this.freeTop === 0) this.grow();
    const i = this.freeList[--this.freeTop];
    if (i >= this.highWater) this.highWater = i + 1;
    this.gen[i]++;
    for (let k = 2 * i; k < 2 * i + 2; k++) {
      this.fd[k] = -1;
      this.sideFlags[k] = 0;
      this.armed[k] = 0;
      this.outLen[k] = 0;
    }
    this.fd[2 * i] = cfd;
    this.lastActive[i] = now;
    this.deadline[i] = now + connectMs;
    return i;
  }

  /** The connection is gone (its descriptors closed): free the slot and its queues. */
  release(i: number): void {
    for (let k = 2 * i; k < 2 * i + 2; k++) {
      this.fd[k] = -1;
      this.sideFlags[k] = 0;
      this.outLen[k] = 0;
      this.outBuf[k] = null;
    }
    this.phase[i] = FREE;
    this.gen[i]++;
    this.freeList[this.freeTop++] = i;
  }

  private grow(): void {
    const old = this.cap;
    const n = old === 0 ? INITIAL_SLOTS : old * 2;
    this.fd = grown(this.fd, Int32Array, 2 * n);
    this.sideFlags = grown(this.sideFlags, Uint8Array, 2 * n);
    this.armed = grown(this.armed, Uint32Array, 2 * n);
    this.outOff = grown(this.outOff, Int32Array, 2 * n);
    this.outLen = grown(this.outLen, Int32Array, 2 * n);
    this.gen = grown(this.gen, Uint32Array, n);
    this.phase = grown(this.phase, Uint8Array, n);
    this.lastActive = grown(this.lastActive, Float64Array, n);
    this.deadline = grown(this.deadline, Float64Array, n);
    this.retryAt = grown(this.retryAt, Float64Array, n);
    this.retryMs = grown(this.retryMs, Float64Array, n);
    this.sendAt = grown(this.sendAt, Float64Array, n);
    for (let k = 2 * old; k < 2 * n; k++) this.outBuf.push(null);
    const fl = new Int32Array(n);
    fl.set(this.freeList.subarray(0, this.freeTop));
    this.freeList = fl;
    for (let i = n - 1; i >= old; i--) this.freeList[this.freeTop++] = i;
    this.cap = n;
  }
}
