/**
 * Messages that start with a fixed header holding the body's length, for the
 * binary services whose header the plain `len:` end rule cannot say:
 * PostgreSQL (a type byte, then a 4-byte big-endian length counting itself),
 * MySQL (a 3-byte little-endian length, then a sequence byte), D-Bus, and a
 * FastCGI record (named.ts: its length and padding in an 8-byte header).
 */
import type { EndRule } from './end-rule.js';
import { FRAME_ERROR, type Framer, NEED_MORE } from './framer.js';

/** How one protocol's header gives the body length. */
export interface LengthHeader {
  /** Shown in messages and as the end rule's name. */
  name: string;
  /** Header bytes before the body. */
  size: number;
  /** The body's length from the header, or -1 when the header is not valid. */
  bodyLength(head: Uint8Array): number;
  /** Why a header is not valid, said from its bytes (default: "not a NAME message header"). */
  invalid?(head: Uint8Array): string;
  /** Largest body accepted (a peer's length is not trusted). */
  max: number;
}

/** One message: the header, then as many body bytes as it says. */
export class LengthFramer implements Framer {
  readonly byBytes = true;
  readonly status = 0;
  readonly closing = false;
  readonly failed = false;
  private readonly head: Uint8Array;
  private got = 0;
  /** Body bytes still to come; -1 while the header is read. */
  private left = -1;
  private error = '';

  constructor(private readonly h: LengthHeader) {
    this.head = new Uint8Array(h.size);
  }

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      if (this.left < 0) {
        this.head[this.got++] = buf[i++];
        if (this.got < this.h.size) continue;
        const n = this.h.bodyLength(this.head);
        if (n < 0 || n > this.h.max) {
          this.error = n < 0 ? (this.h.invalid?.(this.head) ?? `not a ${this.h.name} message header`) : `a ${this.h.name} message of ${n} bytes (more than ${this.h.max})`;
          return FRAME_ERROR;
        }
        this.left = n;
      }
      const take = Math.min(this.left, to - i);
      this.left -= take;
      i += take;
      if (this.left === 0) {
        this.got = 0;
        this.left = -1;
        return i;
      }
    }
    return NEED_MORE;
  }

  reset(): void {
    this.got = 0;
    this.left = -1;
    this.error = '';
  }

  endsAtClose(): boolean {
    return false;
  }

  describe(): string {
    if (this.error) return this.error;
    if (this.left >= 0) return `${this.left} bytes of a ${this.h.name} message still to come`;
    return this.got === 0 ? `no ${this.h.name} message` : `${this.got} of ${this.h.size} header bytes of a ${this.h.name} message`;
  }
}

/** An end rule ending a reply after one such message. */
export function lengthRule(h: LengthHeader): EndRule {
  return { kind: 'framer', name: h.name, create: () => new LengthFramer(h) };
}
