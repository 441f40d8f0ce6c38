/**
 * One-shot connections that have their reply and our end-of-file, waiting for
 * the client's end. Rather than an epoll_ctl and a wake-up per connection for
 * it, the end is read for once LINGER_MS after the reply, in a loop turn that
 * happens anyway (a client that has not ended by then is waited for through
 * epoll as usual). The client is not kept waiting: it has its reply already.
 * A queue, oldest first, of slot, generation and time; an entry whose slot
 * has moved on (closed, reused) is skipped.
 */
import { FREE } from './conn-table.js';

export const LINGER_MS = 1;

export class Lingering {
  private slots: number[] = [];
  private gens: number[] = [];
  private ats: number[] = [];
  private head = 0;

  add(slot: number, gen: number, now: number): void {
    this.slots.push(slot);
    this.gens.push(gen);
    this.ats.push(now);
  }

  waiting(): boolean {
    return this.head < this.slots.length;
  }

  /** When the oldest entry is due (Infinity: none waits). */
  dueAt(): number {
    return this.head < this.slots.length ? this.ats[this.head] + LINGER_MS : Infinity;
  }

  /** The next slot whose time has come and that is still the same connection, or -1. */
  next(gen: Uint32Array, phase: Uint8Array, now: number): number {
    while (this.head < this.slots.length) {
      const h = this.head;
      const i = this.slots[h];
      const live = gen[i] === this.gens[h] && phase[i] !== FREE;
      if (live && now - this.ats[h] < LINGER_MS) break;
      this.head++;
      if (live) return i;
    }
    this.compact();
    return -1;
  }

  private compact(): void {
    if (this.head === this.slots.length) {
      this.slots = [];
      this.gens = [];
      this.ats = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.slots = this.slots.slice(this.head);
      this.gens = this.gens.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
  }
}
