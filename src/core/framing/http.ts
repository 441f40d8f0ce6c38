/**
 * HTTP/1.x: the response framer (Content-Length, chunked, close-delimited;
 * HEAD, 1xx, 204 and 304 without a body), the request builder, and a decoder of
 * a whole kept response for display. The framer reads the head byte by byte
 * into a few numbers and two small fixed buffers (header name, value): no
 * allocation per response, and a head over MAX_HEAD bytes is FRAME_ERROR.
 */
import { UdsError } from '../errors.js';
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

// ------------------------------------------------------------------ requests

export interface HttpRequestSpec {
  /** The request target: /path?query. */
  path: string;
  /** Default GET (POST when there is a body). */
  method?: string;
  /** Headers as "Name: value"; a Host header given here replaces `Host: localhost`. */
  headers?: readonly string[];
  /** The body (Content-Length is set from it). */
  data?: Buffer;
  /** Send `Connection: close` (bench oneshot). */
  close?: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const bad = (m: string): UdsError => new UdsError('BAD_OPTION', m);

/** The method an HTTP request spec will use. */
export function httpMethod(spec: HttpRequestSpec): string {
  return (spec.method ?? (spec.data && spec.data.length > 0 ? 'POST' : 'GET')).toUpperCase();
}

/** An HTTP/1.1 request as bytes; BAD_OPTION for a path, method or header that would break the request. */
export function buildHttpRequest(spec: HttpRequestSpec): Buffer {
  const path = spec.path;
  if (typeof path !== 'string' || path.length === 0 || /[\s\x00-\x1f\x7f]/.test(path)) {
    throw bad(`--http PATH must be a request target without spaces or control characters, like / or /status?full (got ${JSON.stringify(String(path))})`);
  }
  if (!path.startsWith('/') && path !== '*' && !/^https?:\/\//.test(path)) throw bad(`--http PATH must start with / (got "${path}")`);
  const method = httpMethod(spec);
  if (!TOKEN.test(method)) throw bad(`--method must be a word like GET, HEAD or POST (got "${method}")`);
  const lines = [`${method} ${path} HTTP/1.1`];
  let host = false;
  let length = false;
  let connection = false;
  for (const h of spec.headers ?? []) {
    const m = /^([^:]+):[ \t]*(.*)$/.exec(h);
    if (!m || !TOKEN.test(m[1]) || /[\r\n\x00]/.test(m[2])) throw bad(`--header must be "Name: value" without line breaks (got ${JSON.stringify(h)})`);
    const name = m[1].toLowerCase();
    if (name === 'host') host = true;
    if (name === 'content-length') length = true;
    if (name === 'connection') connection = true;
    lines.push(`${m[1]}: ${m[2]}`);
  }
  if (!host) lines.splice(1, 0, 'Host: localhost');
  const body = spec.data ?? Buffer.alloc(0);
  if (!length && (body.length > 0 || ['POST', 'PUT', 'PATCH'].includes(method))) lines.push(`Content-Length: ${body.length}`);
  if (spec.close && !connection) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

// ------------------------------------------------------------------ display

export interface HttpResponseView {
  /** The status line, e.g. "HTTP/1.1 200 OK". */
  statusLine: string;
  status: number;
  /** The head as received (status line and headers, up to and with the blank line). */
  head: Buffer;
  /** The body, de-chunked; as much of it as `reply` held. */
  body: Buffer;
}

/**
 * A kept response split into head and body for display (send). Not on a hot
 * path; the reply was framed already, so this trusts its structure loosely and
 * never throws: what it cannot read stays in `body`.
 */
export function decodeHttpResponse(reply: Buffer, head = false): HttpResponseView {
  // Skip interim (1xx) responses.
  let start = 0;
  for (;;) {
    const end = headEnd(reply, start);
    if (end < 0) return { statusLine: firstLine(reply, start), status: statusOf(reply, start), head: reply.subarray(start), body: Buffer.alloc(0) };
    const status = statusOf(reply, start);
    if (status >= 100 && status < 200 && status !== 101 && end < reply.length) {
      start = end;
      continue;
    }
    const h = reply.subarray(start, end);
    const rest = reply.subarray(end);
    const text = h.toString('latin1').toLowerCase();
    const noBody = head || status === 204 || status === 304 || (status >= 100 && status < 200);
    let body: Buffer = noBody ? Buffer.alloc(0) : rest;
    if (!noBody && /\ntransfer-encoding:[^\n]*chunked[ \t]*\r?\n/.test(text)) body = dechunk(rest);
    return { statusLine: firstLine(reply, start), status, head: h, body };
  }
}

function headEnd(buf: Buffer, from: number): number {
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

function firstLine(buf: Buffer, from: number): string {
  const nl = buf.indexOf(0x0a, from);
  return buf.subarray(from, nl < 0 ? buf.length : nl).toString('latin1').replace(/\r$/, '');
}

function statusOf(buf: Buffer, from: number): number {
  const m = /^HTTP\/1\.\d (\d{3})/.exec(buf.subarray(from, from + 16).toString('latin1'));
  return m ? Number(m[1]) : 0;
}

function dechunk(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) break;
    const size = parseInt(buf.subarray(i, nl).toString('latin1').split(';')[0].trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(buf.subarray(nl + 1, Math.min(buf.length, nl + 1 + size)));
    i = nl + 1 + size;
    if (buf[i] === 0x0d) i++;
    if (buf[i] === 0x0a) i++;
  }
  return Buffer.concat(parts);
}
