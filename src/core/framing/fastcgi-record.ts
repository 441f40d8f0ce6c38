/**
 * Exactly one FastCGI record (header, content, padding): the end of a
 * management reply (FCGI_GET_VALUES_RESULT), for php-fpm's health request in
 * probe (src/core/service/fastcgi.ts) and bench.
 */
import { FRAME_ERROR, NEED_MORE, type Framer } from './framer.js';

export class FastcgiRecordFramer implements Framer {
  readonly byBytes = true;
  readonly status = 0;
  readonly closing = false;
  readonly failed = false;
  private readonly hdr = new Uint8Array(8);
  private got = 0;
  private left = -1;
  private error = '';

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      if (this.left < 0) {
        this.hdr[this.got++] = buf[i++];
        if (this.got < 8) continue;
        if (this.hdr[0] !== 1) {
          this.error = `not a FastCGI record (version ${this.hdr[0]})`;
          return FRAME_ERROR;
        }
        this.left = ((this.hdr[4] << 8) | this.hdr[5]) + this.hdr[6];
        if (this.left === 0) return this.done(i);
        continue;
      }
      const take = Math.min(this.left, to - i);
      this.left -= take;
      i += take;
      if (this.left === 0) return this.done(i);
    }
    return NEED_MORE;
  }

  private done(at: number): number {
    this.got = 0;
    this.left = -1;
    return at;
  }

  reset(): void {
    this.done(0);
    this.error = '';
  }

  endsAtClose(): boolean {
    return false;
  }

  describe(): string {
    if (this.error) return this.error;
    return this.left < 0 ? `${this.got} of 8 header bytes` : `${this.left} bytes of the record still to come`;
  }
}

