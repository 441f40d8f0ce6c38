/**
 * HTTP/1.x: the response framer (Content-Length, chunked, close-delimited;
 * HEAD, 1xx, 204 and 304 without a body). It reads the head byte by byte into
 * a few numbers and two small fixed buffers (header name, value): no
 * allocation per response, and a head over MAX_HEAD bytes is FRAME_ERROR.
 * Requests and the display of a kept response: http-message.ts.
 */
import { FRAME_ERROR, type Framer, NEED_MORE } from './framer.js';

/** Largest response head (status line, headers; a chunk-size line or trailer too). */
export const MAX_HEAD = 64 * 1024;

// Phases.
const STATUS = 0; // the status line
const HEADER = 1; // header lines, until the blank line
const BODY_LEN = 2; // Content-Length bytes
const CHUNK_SIZE = 3; // a chunk-size line (hex, maybe ;ext)
const CHUNK_DATA = 4;
const CHUNK_CRLF = 5; // the CRLF after a chunk's data
const TRAILER = 6; // trailer lines after the last chunk, until the blank line
const BODY_CLOSE = 7; // no length: the body ends when the server closes

// Known headers (by lowercased name).
const H_OTHER = 0;
const H_LENGTH = 1;
const H_TE = 2;
const H_CONNECTION = 3;
const NAMES: [Uint8Array, number][] = [
  [Buffer.from('content-length'), H_LENGTH],
  [Buffer.from('transfer-encoding'), H_TE],
  [Buffer.from('connection'), H_CONNECTION],
];
const NAME_MAX = 20;
const VALUE_MAX = 64;

const CHUNKED = Buffer.from('chunked');
const CLOSE = Buffer.from('close');
const KEEP_ALIVE = Buffer.from('keep-alive');

export class HttpFramer implements Framer {
  readonly byBytes = true;
  status = 0;
  closing = false;
  failed = false;

  private phase = STATUS;
  private headBytes = 0; // bytes of the current head (or chunk line / trailer)
  private linePos = 0; // bytes of the current line, CR and LF aside
  private code = 0; // status of the response being read
  private minor = 1; // HTTP/1.minor
  private header = H_OTHER;
  private inValue = false;
  private readonly name = new Uint8Array(NAME_MAX);
  private nameLen = 0;
  private readonly value = new Uint8Array(VALUE_MAX);
  private valueLen = 0;
  private length = -1; // Content-Length, -1: none
  private chunked = false;
  private otherCoding = false; // a Transfer-Encoding that is not chunked: the body ends at close
  private connClose = false;
  private connKeep = false;
  private left = 0; // body or chunk bytes still to come
  private body = 0; // body bytes so far (for describe)
  private chunks = 0;
  private chunkDigits = 0;
  private chunkExt = false;
  private error: string | null = null;

  /** `head`: the request was HEAD, so the response has no body whatever its headers say. */
  constructor(private readonly head = false) {}

  reset(): void {
    this.startResponse();
    this.error = null;
  }

  private startResponse(): void {
    this.phase = STATUS;
    this.headBytes = 0;
    this.linePos = 0;
    this.code = 0;
    this.minor = 1;
    this.startLine();
    this.length = -1;
    this.chunked = false;
    this.otherCoding = false;
    this.connClose = false;
    this.connKeep = false;
    this.left = 0;
    this.body = 0;
    this.chunks = 0;
  }

  private startLine(): void {
    this.linePos = 0;
    this.header = H_OTHER;
    this.inValue = false;
    this.nameLen = 0;
    this.valueLen = 0;
    this.chunkDigits = 0;
    this.chunkExt = false;
  }

  private fail(why: string): number {
    this.error = why;
    return FRAME_ERROR;
  }

  /** The frame ends: its facts, then ready for the next response. */
  private ended(at: number): number {
    this.status = this.code;
    this.failed = this.code >= 400;
    this.closing = this.connClose || (this.minor === 0 && !this.connKeep) || this.phase === BODY_CLOSE;
    this.startResponse();
    return at;
  }

  push(buf: Uint8Array, from: number, to: number): number {
    if (this.error !== null) return FRAME_ERROR;
    let i = from;
    while (i < to) {
      const phase = this.phase;
      if (phase === BODY_LEN || phase === CHUNK_DATA) {
        const n = Math.min(this.left, to - i);
        this.left -= n;
        this.body += n;
        i += n;
        if (this.left > 0) return NEED_MORE;
        if (phase === BODY_LEN) return this.ended(i);
        this.phase = CHUNK_CRLF;
        this.linePos = 0;
        continue;
      }
      if (phase === BODY_CLOSE) {
        this.body += to - i;
        return NEED_MORE;
      }
      const c = buf[i++];
      if (++this.headBytes > MAX_HEAD) return this.fail(`the response head (or a chunk line) is over ${MAX_HEAD} bytes`);
      if (phase === CHUNK_CRLF) {
        if (c === 0x0d && this.linePos === 0) {
          this.linePos = 1;
          continue;
        }
        if (c !== 0x0a) return this.fail(`chunk ${this.chunks} is longer than its size line said`);
        this.phase = CHUNK_SIZE;
        this.headBytes = 0;
        this.startLine();
        continue;
      }
      if (c === 0x0a) {
        const r = this.lineEnd(i);
        if (r !== NEED_MORE) return r;
        continue;
      }
      if (c === 0x0d) continue; // CR before LF (a bare CR is tolerated as nginx does)
      const r = this.lineByte(c);
      if (r === FRAME_ERROR) return r;
    }
    return NEED_MORE;
  }

  /** One byte of a line (not CR or LF). */
  private lineByte(c: number): number {
    const pos = this.linePos++;
    switch (this.phase) {
      case STATUS:
        // "HTTP/1.x SSS reason": checked as it comes, so another protocol fails at its first bytes.
        if (pos < 5) {
          if (c !== 'HTTP/'.charCodeAt(pos)) return this.fail(`not an HTTP response: it does not start with "HTTP/1."`);
        } else if (pos === 5) {
          if (c !== 0x31) return this.fail('not an HTTP/1.x response');
        } else if (pos === 6) {
          if (c !== 0x2e) return this.fail('not an HTTP/1.x response');
        } else if (pos === 7) {
          if (c < 0x30 || c > 0x39) return this.fail('not an HTTP/1.x response');
          this.minor = c - 0x30;
        } else if (pos === 8) {
          if (c !== 0x20) return this.fail('malformed status line');
        } else if (pos <= 11) {
          if (c < 0x30 || c > 0x39) return this.fail('malformed status line: no 3-digit status');
          this.code = this.code * 10 + (c - 0x30);
        } else if (pos === 12 && c !== 0x20) return this.fail('malformed status line: no 3-digit status');
        return NEED_MORE;
      case HEADER:
      case TRAILER:
        if (!this.inValue) {
          if (c === 0x3a) {
            this.inValue = true;
            this.header = this.phase === HEADER ? this.knownHeader() : H_OTHER;
            return NEED_MORE;
          }
          if (this.nameLen < NAME_MAX) this.name[this.nameLen] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
          this.nameLen++;
          return NEED_MORE;
        }
        if (this.header === H_LENGTH) {
          if (c === 0x20 || c === 0x09) return NEED_MORE;
          if (c < 0x30 || c > 0x39) return this.fail('a Content-Length that is not a number');
          const v = (this.valueLen === 0 ? 0 : this.valueLen) * 10 + (c - 0x30);
          if (v > Number.MAX_SAFE_INTEGER) return this.fail('a Content-Length too large');
          this.valueLen = v; // for Content-Length, valueLen holds the number
          return NEED_MORE;
        }
        if (this.header !== H_OTHER && this.valueLen < VALUE_MAX) this.value[this.valueLen++] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
        return NEED_MORE;
      case CHUNK_SIZE: {
        if (this.chunkExt) return NEED_MORE;
        if (c === 0x3b || c === 0x20 || c === 0x09) {
          if (this.chunkDigits === 0) return this.fail(`chunk ${this.chunks + 1} has no size`);
          this.chunkExt = true;
          return NEED_MORE;
        }
        const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 87 : c >= 0x41 && c <= 0x46 ? c - 55 : -1;
        if (d < 0) return this.fail(`chunk ${this.chunks + 1}'s size is not hexadecimal`);
        if (++this.chunkDigits > 13) return this.fail(`chunk ${this.chunks + 1}'s size is too large`);
        this.left = this.left * 16 + d;
        return NEED_MORE;
      }
      default:
        return NEED_MORE;
    }
  }

  private knownHeader(): number {
    if (this.nameLen > NAME_MAX) return H_OTHER;
    for (const [n, id] of NAMES) {
      if (n.length !== this.nameLen) continue;
      let same = true;
      for (let k = 0; k < n.length; k++) {
        if (n[k] !== this.name[k]) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
    return H_OTHER;
  }

  /** A line ended (LF) just before `at`. */
  private lineEnd(at: number): number {
    const empty = this.linePos === 0;
    switch (this.phase) {
      case STATUS:
        if (empty) return this.fail('an empty line where the status line should be');
        if (this.linePos < 12) return this.fail('malformed status line: no 3-digit status');
        this.phase = HEADER;
        this.startLine();
        return NEED_MORE;
      case HEADER:
        if (!empty) {
          if (!this.inValue) return this.fail('a header line without ":"');
          this.headerDone();
          this.startLine();
          return NEED_MORE;
        }
        return this.headEnd(at);
      case CHUNK_SIZE:
        if (this.chunkDigits === 0) return this.fail(`chunk ${this.chunks + 1} has no size line`);
        this.chunks++;
        this.headBytes = 0;
        this.startLine();
        if (this.left === 0) {
          this.phase = TRAILER;
          return NEED_MORE;
        }
        this.phase = CHUNK_DATA;
        return NEED_MORE;
      case TRAILER:
        if (!empty) {
          this.startLine();
          return NEED_MORE;
        }
        return this.ended(at);
      default:
        return NEED_MORE;
    }
  }

  private headerDone(): void {
    switch (this.header) {
      case H_LENGTH:
        this.length = this.valueLen;
        break;
      case H_TE: {
        const v = this.value.subarray(0, this.valueLen);
        // The last coding decides: "gzip, chunked" is chunked.
        let end = v.length;
        while (end > 0 && (v[end - 1] === 0x20 || v[end - 1] === 0x09)) end--;
        const isChunked = end >= CHUNKED.length && CHUNKED.every((b, k) => v[end - CHUNKED.length + k] === b);
        if (isChunked) this.chunked = true;
        else if (end > 0) this.otherCoding = true;
        break;
      }
      case H_CONNECTION:
        if (contains(this.value, this.valueLen, CLOSE)) this.connClose = true;
        if (contains(this.value, this.valueLen, KEEP_ALIVE)) this.connKeep = true;
        break;
      default:
    }
  }

  /** The blank line after the headers: what follows is decided here. */
  private headEnd(at: number): number {
    const code = this.code;
    if (code >= 100 && code < 200 && code !== 101) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      this.startResponse();
      return NEED_MORE;
    }
    this.headBytes = 0;
    if (this.head || code === 101 || code === 204 || code === 304) return this.ended(at);
    if (this.chunked) {
      this.phase = CHUNK_SIZE;
      this.startLine();
      return NEED_MORE;
    }
    if (this.length >= 0 && !this.otherCoding) {
      if (this.length === 0) return this.ended(at);
      this.phase = BODY_LEN;
      this.left = this.length;
      return NEED_MORE;
    }
    this.phase = BODY_CLOSE;
    return NEED_MORE;
  }

  endsAtClose(): boolean {
    if (this.phase !== BODY_CLOSE) return false;
    // The frame ends at the close: its facts, as ended() would set them.
    this.status = this.code;
    this.failed = this.code >= 400;
    this.closing = true;
    return true;
  }

  describe(): string {
    if (this.error !== null) return this.error;
    switch (this.phase) {
      case STATUS:
      case HEADER:
        return this.headBytes === 0 ? 'no response yet' : `the response head is incomplete (${this.headBytes} bytes, no blank line after the headers yet)`;
      case BODY_LEN:
        return `HTTP ${this.code} with Content-Length ${this.length}, but only ${this.body} bytes of body`;
      case CHUNK_SIZE:
      case CHUNK_DATA:
      case CHUNK_CRLF:
        return `HTTP ${this.code} chunked body: ${this.body} bytes in ${this.chunks} chunks, and no last (0-size) chunk`;
      case TRAILER:
        return `HTTP ${this.code} chunked body: the last chunk came, but the trailer after it never ended`;
      default:
        return `HTTP ${this.code}: ${this.body} bytes of a body that ends when the server closes`;
    }
  }
}

function contains(hay: Uint8Array, len: number, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= len; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}
