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
