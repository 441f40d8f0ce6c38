/**
 * HTTP/1.1 messages around the framer (http.ts): the request builder of
 * --http, and the decoder of a whole kept response for display (send).
 */
import { UdsError } from '../errors.js';

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

// ------------------------------------------------------------------ streaming display

/** Longest head (status line and headers) the streaming decoder holds; a longer one is passed on as it is. */
const MAX_STREAM_HEAD = 64 * 1024;
/** Longest chunk-size line (with extensions) it holds. */
const MAX_CHUNK_LINE = 4096;

/**
 * The response of a reply streamed as it comes (send --http, like curl): the
 * head held (bounded) and handed to `onHead`, interim 1xx heads skipped, the
 * body de-chunked and handed to `onBody` piece by piece. Memory is bounded
 * whatever the body's size; the framer (http.ts) found the reply's end, so
 * this trusts its structure loosely and never throws.
 */
export class HttpBodyDecoder {
  statusLine = '';
  private head: Buffer[] = [];
  private headBytes = 0;
  private state: 'head' | 'raw' | 'none' | 'size' | 'data' | 'crlf' | 'trailer' = 'head';
  private line: number[] = [];
  private left = 0;

  constructor(
    private readonly isHead: boolean,
    private readonly onHead: (head: Buffer) => void,
    private readonly onBody: (piece: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'head':
          i = this.pushHead(chunk, i);
          break;
        case 'raw':
          this.onBody(chunk.subarray(i));
          return;
        case 'none':
          return;
        case 'data': {
          const n = Math.min(this.left, chunk.length - i);
          this.onBody(chunk.subarray(i, i + n));
          i += n;
          this.left -= n;
          if (this.left === 0) this.state = 'crlf';
          break;
        }
        case 'crlf':
          if (chunk[i] === 0x0a) this.state = 'size';
          i++;
          break;
        case 'size':
        case 'trailer': {
          const b = chunk[i++];
          if (b !== 0x0a) {
            if (this.line.length < MAX_CHUNK_LINE) this.line.push(b);
            break;
          }
          const text = Buffer.from(this.line).toString('latin1').replace(/\r$/, '');
          this.line = [];
          if (this.state === 'trailer') {
            if (text === '') this.state = 'none';
            break;
          }
          const size = parseInt(text.split(';')[0].trim(), 16);
          if (!Number.isFinite(size) || size <= 0) this.state = 'trailer';
          else {
            this.left = size;
            this.state = 'data';
          }
          break;
        }
      }
    }
  }

  /** Hold the head up to its blank line; then choose how the body comes. */
  private pushHead(chunk: Buffer, from: number): number {
    let i = from;
    for (; i < chunk.length; i++) {
      const b = chunk[i];
      this.line.push(b);
      if (b !== 0x0a) continue;
      const blank = this.line.length === 1 || (this.line.length === 2 && this.line[0] === 0x0d);
      this.head.push(Buffer.from(this.line));
      this.headBytes += this.line.length;
      this.line = [];
      if (blank) return this.headDone(i + 1);
      if (this.headBytes > MAX_STREAM_HEAD) return this.headDone(i + 1, true);
    }
    return i;
  }

  private headDone(next: number, tooLong = false): number {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.headBytes = 0;
    const status = statusOf(head, 0);
    if (!tooLong && status >= 100 && status < 200 && status !== 101) return next; // an interim response: the real one follows
    this.statusLine = firstLine(head, 0);
    this.onHead(head);
    const text = head.toString('latin1').toLowerCase();
    if (tooLong) this.state = 'raw';
    else if (this.isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) this.state = 'none';
    else if (/\ntransfer-encoding:[^\n]*chunked[ \t]*\r?\n/.test(text)) this.state = 'size';
    else this.state = 'raw';
    return next;
  }
}
