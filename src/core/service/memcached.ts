/**
 * memcached's text protocol: `version` is its health request (read-only, one
 * line back); its replies end where the protocol says, which no plain end rule
 * can tell (`get` answers VALUE blocks then END, `stats` STAT lines then END,
 * `set` one line), so it brings its own framer for send and bench.
 */
import { FRAME_ERROR, NEED_MORE, type Framer } from '../framing/framer.js';
import type { EndRule } from '../framing/end-rule.js';
import type { Service, ServiceReply, Verdict } from './types.js';

/** Longest reply line (a VALUE line carries a key of at most 250 bytes). */
const MAX_LINE = 8 * 1024;
/** Bytes of a line kept to tell what it is (VALUE key flags bytes: a 250-byte key fits). */
const HEAD = 320;

/** Lines that a further line follows: VALUE (a data block, then more), STAT, ITEM, a metadump's key=. */
const CONTINUES = ['VALUE ', 'STAT ', 'ITEM ', 'key=', 'CONFIG '].map((s) => Buffer.from(s));
const VALUE = CONTINUES[0];
const VA = Buffer.from('VA ');

/**
 * One memcached text reply: lines until a line that ends a reply (END, STORED,
 * ERROR, VERSION ..., a number, a meta HD/EN/...), skipping the data block
 * that follows a VALUE or VA line by its byte count.
 */
export class MemcachedFramer implements Framer {
  readonly byBytes = true;
  readonly status = 0;
  readonly closing = false;
  failed = false;
  private readonly head = new Uint8Array(HEAD);
  private lineLen = 0;
  /** Bytes of a data block (and its \r\n) still to skip; -1: reading lines. */
  private data = -1;
  /** The reply ends after the data block being skipped (meta VA). */
  private endAfterData = false;
  private error = '';

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      if (this.data >= 0) {
        const take = Math.min(this.data, to - i);
        this.data -= take;
        i += take;
        if (this.data > 0) return NEED_MORE;
        this.data = -1;
        if (this.endAfterData) return this.ended(i);
        continue;
      }
      const c = buf[i++];
      if (c !== 0x0a) {
        if (this.lineLen < HEAD) this.head[this.lineLen] = c;
        if (++this.lineLen > MAX_LINE) {
          this.error = `a reply line longer than ${MAX_LINE} bytes`;
          return FRAME_ERROR;
        }
        continue;
      }
      const r = this.lineEnd();
      if (r === FRAME_ERROR) return FRAME_ERROR;
      if (r === 1) return this.ended(i);
    }
    return NEED_MORE;
  }

  /** A line ended: 1 the reply ends here, 0 more follows, FRAME_ERROR. */
  private lineEnd(): number {
    const n = Math.min(this.lineLen, HEAD);
    const line = this.head.subarray(0, n);
    this.lineLen = 0;
    const starts = (p: Buffer) => n >= p.length && p.every((b, k) => line[k] === b);
    if (starts(VALUE) || starts(VA)) {
      const words = Buffer.from(line).toString('latin1').trim().split(' ');
      const size = Number(starts(VA) ? words[1] : words[3]);
      if (!Number.isSafeInteger(size) || size < 0) {
        this.error = `a ${starts(VA) ? 'VA' : 'VALUE'} line without a byte count`;
        return FRAME_ERROR;
      }
      this.data = size + 2;
      this.endAfterData = starts(VA);
      return 0;
    }
    if (CONTINUES.some(starts)) return 0;
    this.failed = /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(Buffer.from(line.subarray(0, 12)).toString('latin1'));
    return 1;
  }

  private ended(at: number): number {
    this.lineLen = 0;
    this.data = -1;
    this.endAfterData = false;
    return at;
  }

  reset(): void {
    this.ended(0);
    this.failed = false;
    this.error = '';
  }

  endsAtClose(): boolean {
    return false;
  }

  describe(): string {
    if (this.error) return this.error;
    return this.data >= 0 ? `${this.data} bytes of a data block still to come` : 'no line that ends a memcached reply (END, STORED, VERSION, ...)';
  }
}

/** The end of a memcached text reply, as an end rule send, probe and bench take. */
export const MEMCACHED_REPLY: EndRule = { kind: 'framer', name: 'memcached', create: () => new MemcachedFramer() };

const VERSION_REQUEST = Buffer.from('version\r\n');

function judge(reply: ServiceReply): Verdict {
  const line = reply.bytes.toString('latin1').replace(/\r?\n$/, '');
  const m = /^VERSION (\S+)/.exec(line);
  if (m) return { code: 'OK', summary: `version ${m[1]}`, details: { version: m[1] } };
  return { code: 'MEMCACHED_ERROR', summary: `memcached answered version with ${JSON.stringify(line.slice(0, 120))}` };
}

export const memcached: Service = {
  name: 'memcached',
  title: 'memcached',
  socketTypes: ['stream'],
  recognise: {
    process: /^memcached$/,
    path: /memcached[^/]*\.sock$/,
    // Its answer to a line it does not know.
    reply: (b) => b.equals(Buffer.from('ERROR\r\n')),
  },
  check: {
    kind: 'request',
    request: () => VERSION_REQUEST,
    until: () => MEMCACHED_REPLY,
    judge,
  },
  findings: [
    {
      code: 'MEMCACHED_ERROR',
      severity: 'CRITICAL',
      title: 'memcached answered an error',
      cause: 'memcached answered `version` with an error: out of connections (-c), out of memory, or not memcached at all',
      fix: "read the reply shown; raise memcached's -c if it names too many connections, or check the path belongs to memcached",
    },
  ],
  replyEnd: MEMCACHED_REPLY,
  benchRequest: { payload: VERSION_REQUEST, until: MEMCACHED_REPLY, describe: "'version\\r\\n' (memcached)" },
};
