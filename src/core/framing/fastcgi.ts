/**
 * FastCGI (php-fpm): the responder request (BEGIN_REQUEST, PARAMS, STDIN),
 * the reply framer (records until END_REQUEST, the CGI `Status:` read on the
 * way), and a decoder of a whole kept reply for display (STDOUT split into the
 * CGI head and body, STDERR apart).
 *
 * The framer keeps a fixed 8-byte header buffer, a 32-byte window on the CGI
 * header line being read, and a few numbers: record contents are counted, never
 * kept, so a peer cannot grow it (the exchange bounds what is kept, --timeout
 * how long). Spec: https://fastcgi-archives.github.io/FastCGI_Specification.html
 */
import { UdsError } from '../errors.js';
import { type ContentSink, FRAME_ERROR, type Framer, NEED_MORE } from './framer.js';

const VERSION = 1;
export const FCGI_BEGIN_REQUEST = 1;
export const FCGI_END_REQUEST = 3;
export const FCGI_PARAMS = 4;
export const FCGI_STDIN = 5;
export const FCGI_STDOUT = 6;
export const FCGI_STDERR = 7;
const FCGI_GET_VALUES_RESULT = 10;
const FCGI_UNKNOWN_TYPE = 11;
const RESPONDER = 1;
const KEEP_CONN = 1;
/** The request id udsctl uses (one request per connection at a time). */
const REQUEST_ID = 1;
/** Largest record content. */
const MAX_CONTENT = 0xffff;
/** The CGI head (STDOUT up to its blank line) is scanned for Status: up to this many bytes. */
export const MAX_CGI_HEAD = 64 * 1024;

const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'BEGIN_REQUEST',
  2: 'ABORT_REQUEST',
  3: 'END_REQUEST',
  4: 'PARAMS',
  5: 'STDIN',
  6: 'STDOUT',
  7: 'STDERR',
  8: 'DATA',
  9: 'GET_VALUES',
  10: 'GET_VALUES_RESULT',
  11: 'UNKNOWN_TYPE',
};
const typeName = (t: number): string => TYPE_NAMES[t] ?? `type ${t}`;

/** END_REQUEST's protocolStatus values. */
export const PROTOCOL_STATUS: Readonly<Record<number, string>> = {
  0: 'REQUEST_COMPLETE',
  1: 'CANT_MPX_CONN',
  2: 'OVERLOADED',
  3: 'UNKNOWN_ROLE',
};

export interface FastcgiRequestSpec {
  /** The script: `/ping`, `/status?full`, `/var/www/index.php?a=1` (the query goes to QUERY_STRING). */
  script: string;
  /** `K=V` params, added to or replacing the defaults (repeatable --param). */
  params?: readonly string[];
  /** The request body (STDIN); with one, REQUEST_METHOD defaults to POST. */
  stdin?: Buffer;
  /** Ask the server to keep the connection open after END_REQUEST (FCGI_KEEP_CONN; bench persistent). */
  keepConn?: boolean;
}

/** The CGI params a web server would send for this script (php-fpm needs SCRIPT_FILENAME; ping/status go by SCRIPT_NAME). */
export function fastcgiParams(spec: FastcgiRequestSpec): [string, string][] {
  const script = String(spec.script);
  if (!script.startsWith('/')) throw new UdsError('BAD_OPTION', `--fastcgi takes a script path starting with / (like /ping or /var/www/index.php), got "${script}"`);
  const q = script.indexOf('?');
  const path = q < 0 ? script : script.slice(0, q);
  const query = q < 0 ? '' : script.slice(q + 1);
  const body = spec.stdin ?? Buffer.alloc(0);
  const params = new Map<string, string>([
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'udsctl'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['SERVER_NAME', 'localhost'],
    ['REQUEST_METHOD', body.length > 0 ? 'POST' : 'GET'],
    ['SCRIPT_NAME', path],
    ['SCRIPT_FILENAME', path],
    ['DOCUMENT_URI', path],
    ['REQUEST_URI', script],
    ['QUERY_STRING', query],
  ]);
  if (body.length > 0) {
    params.set('CONTENT_LENGTH', String(body.length));
    params.set('CONTENT_TYPE', 'application/x-www-form-urlencoded');
  }
  for (const kv of spec.params ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UdsError('BAD_OPTION', `--param must be NAME=VALUE (got "${kv}")`);
    params.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return [...params];
}

function record(type: number, content: Buffer, at = 0, len = content.length): Buffer {
  const pad = (8 - (len % 8)) % 8;
  const r = Buffer.alloc(8 + len + pad);
  r[0] = VERSION;
  r[1] = type;
  r.writeUInt16BE(REQUEST_ID, 2);
  r.writeUInt16BE(len, 4);
  r[6] = pad;
  content.copy(r, 8, at, at + len);
  return r;
}

/** A stream (PARAMS, STDIN): its content in records of at most 65535 bytes, then the empty record that ends it. */
function stream(type: number, content: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < content.length; at += MAX_CONTENT) out.push(record(type, content, at, Math.min(MAX_CONTENT, content.length - at)));
  out.push(record(type, Buffer.alloc(0)));
  return out;
}

function nvLength(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

/** The whole request: BEGIN_REQUEST (responder), PARAMS, STDIN, each stream ended by its empty record. */
export function buildFastcgiRequest(spec: FastcgiRequestSpec): Buffer {
  const begin = Buffer.alloc(8);
  begin.writeUInt16BE(RESPONDER, 0);
  begin[2] = spec.keepConn ? KEEP_CONN : 0;
  const pairs = fastcgiParams(spec).flatMap(([k, v]) => {
    const name = Buffer.from(k);
    const value = Buffer.from(v);
    return [nvLength(name.length), nvLength(value.length), name, value];
  });
  return Buffer.concat([record(FCGI_BEGIN_REQUEST, begin), ...stream(FCGI_PARAMS, Buffer.concat(pairs)), ...stream(FCGI_STDIN, spec.stdin ?? Buffer.alloc(0))]);
}

// Phases of the framer.
const HEADER = 0;
const CONTENT = 1;
const PADDING = 2;

const STATUS_PREFIX = Buffer.from('status:');
const LINE_WINDOW = 32;

/** Records until END_REQUEST; `status` is the CGI Status: (200 without one), `failed` a protocolStatus other than REQUEST_COMPLETE. */
export class FastcgiFramer implements Framer {
  readonly byBytes = true;
  status = 0;
  readonly closing: boolean;
  failed = false;
  /** Given STDOUT's content as it passes (bench's --expect), when set. */
  sink: ContentSink | null = null;

  private phase = HEADER;
  private readonly hdr = new Uint8Array(8);
  private hdrPos = 0;
  private type = 0;
  private contentLen = 0;
  private left = 0;
  private padLeft = 0;
  private records = 0;
  private stdoutBytes = 0;
  private stderrBytes = 0;
  private readonly end = new Uint8Array(8);
  // The CGI head scanner.
  private headDone = false;
  private headBytes = 0;
  private readonly line = new Uint8Array(LINE_WINDOW);
  private lineLen = 0;
  private cgiStatus = 0;
  private error: string | null = null;

  /** keepConn: the request asked the server to keep the connection (else it closes after END_REQUEST). */
  constructor(keepConn = false) {
    this.closing = !keepConn;
  }

  reset(): void {
    this.phase = HEADER;
    this.hdrPos = 0;
    this.clearReply();
    this.error = null;
  }

  /** Forget the reply's counts and CGI head (a new reply on this connection). */
  private clearReply(): void {
    this.records = 0;
    this.stdoutBytes = 0;
    this.stderrBytes = 0;
    this.headDone = false;
    this.headBytes = 0;
    this.lineLen = 0;
    this.cgiStatus = 0;
  }

  endsAtClose(): boolean {
    return false;
  }

  private fail(why: string): number {
    this.error = why;
    return FRAME_ERROR;
  }

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      if (this.phase === HEADER) {
        this.hdr[this.hdrPos++] = buf[i++];
        if (this.hdrPos < 8) continue;
        const h = this.hdr;
        this.hdrPos = 0;
        if (h[0] !== VERSION) return this.fail(`not FastCGI: a record starts with version byte ${h[0]} (0x${h[0].toString(16).padStart(2, '0')}), not 1${h[0] === 0x48 ? ' (an "H": an HTTP server?)' : ''}`);
        this.type = h[1];
        const id = (h[2] << 8) | h[3];
        if (this.type !== FCGI_STDOUT && this.type !== FCGI_STDERR && this.type !== FCGI_END_REQUEST && this.type !== FCGI_GET_VALUES_RESULT && this.type !== FCGI_UNKNOWN_TYPE) {
          return this.fail(`a ${typeName(this.type)} record, which a server does not send`);
        }
        if (id !== REQUEST_ID && id !== 0) return this.fail(`a record for request id ${id}; udsctl sent request id ${REQUEST_ID}`);
        this.contentLen = (h[4] << 8) | h[5];
        this.padLeft = h[6];
        if (this.type === FCGI_END_REQUEST && this.contentLen !== 8) return this.fail(`an END_REQUEST record of ${this.contentLen} content bytes, not 8`);
        this.left = this.contentLen;
        this.records++;
        this.phase = CONTENT;
      } else if (this.phase === CONTENT) {
        const n = Math.min(this.left, to - i);
        if (this.type === FCGI_STDOUT) {
          this.stdoutBytes += n;
          if (!this.headDone) this.scanHead(buf, i, i + n);
          if (this.sink !== null && n > 0) this.sink.content(buf, i, i + n);
        } else if (this.type === FCGI_STDERR) this.stderrBytes += n;
        else if (this.type === FCGI_END_REQUEST) for (let k = 0; k < n; k++) this.end[this.contentLen - this.left + k] = buf[i + k];
        this.left -= n;
        i += n;
      }
      if (this.phase === CONTENT && this.left === 0) this.phase = PADDING;
      if (this.phase === PADDING) {
        const n = Math.min(this.padLeft, to - i);
        this.padLeft -= n;
        i += n;
        if (this.padLeft > 0) break;
        this.phase = HEADER;
        if (this.type === FCGI_END_REQUEST) return this.ended(i);
      }
    }
    return NEED_MORE;
  }

  private ended(at: number): number {
    this.failed = this.end[4] !== 0;
    this.status = this.cgiStatus || (this.stdoutBytes > 0 ? 200 : 0);
    // Ready for the next reply (FCGI_KEEP_CONN): the facts above hold until then.
    this.clearReply();
    return at;
  }

  /** Read CGI header lines as STDOUT passes, for Status:; the first LINE_WINDOW bytes of each line are enough. */
  private scanHead(buf: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const b = buf[i];
      if (++this.headBytes > MAX_CGI_HEAD) {
        this.headDone = true;
        return;
      }
      if (b === 0x0a) {
        const len = this.lineLen > 0 && this.line[Math.min(this.lineLen, LINE_WINDOW) - 1] === 0x0d ? this.lineLen - 1 : this.lineLen;
        this.lineLen = 0;
        if (len === 0) {
          this.headDone = true;
          return;
        }
        this.readStatus(Math.min(len, LINE_WINDOW));
      } else {
        if (this.lineLen < LINE_WINDOW) this.line[this.lineLen] = b;
        this.lineLen++;
      }
    }
  }

  private readStatus(len: number): void {
    const p = STATUS_PREFIX;
    if (len < p.length) return;
    for (let k = 0; k < p.length; k++) if ((this.line[k] | 0x20) !== p[k]) return;
    let k = p.length;
    while (k < len && this.line[k] === 0x20) k++;
    let code = 0;
    let digits = 0;
    while (k < len && digits < 3 && this.line[k] >= 0x30 && this.line[k] <= 0x39) {
      code = code * 10 + this.line[k++] - 0x30;
      digits++;
    }
    if (digits === 3) this.cgiStatus = code;
  }

  describe(): string {
    if (this.error) return this.error;
    const seen = `${this.records} record${this.records === 1 ? '' : 's'} (${this.stdoutBytes} bytes of STDOUT, ${this.stderrBytes} of STDERR) and no END_REQUEST`;
    if (this.phase === HEADER && this.hdrPos > 0) return `${seen}; a record header cut short (${this.hdrPos} of 8 bytes)`;
    if (this.phase === CONTENT) return `${seen}; a ${typeName(this.type)} record cut short (${this.contentLen - this.left} of ${this.contentLen} content bytes)`;
    if (this.phase === PADDING) return `${seen}; a ${typeName(this.type)} record's padding cut short (${this.padLeft} bytes missing)`;
    return seen;
  }
}

/** A kept FastCGI reply, decoded for people (send's output, probe's report, --expect). */
export interface FastcgiReplyView {
  /** The STDOUT stream: the CGI head and body. */
  stdout: Buffer;
  /** The STDERR stream (php-fpm: "Primary script unknown", a script's warnings). */
  stderr: Buffer;
  /** The CGI head (up to the blank line), as latin1 text. */
  head: string;
  /** STDOUT after the head. */
  body: Buffer;
  /** The CGI Status: (200 without one; 0 without STDOUT). */
  status: number;
  /** The Status: line's text ("404 Not Found"), or the status number. */
  statusText: string;
  /** END_REQUEST seen: the application's exit status and the protocol status, else null. */
  end: { appStatus: number; protocolStatus: number } | null;
}

/** Decode the records of a kept reply (it may be cut short: what is whole is decoded). */
export function decodeFastcgiReply(reply: Buffer): FastcgiReplyView {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let end: FastcgiReplyView['end'] = null;
  for (let at = 0; at + 8 <= reply.length && reply[at] === VERSION; ) {
    const type = reply[at + 1];
    const len = reply.readUInt16BE(at + 4);
    const content = reply.subarray(at + 8, Math.min(reply.length, at + 8 + len));
    if (type === FCGI_STDOUT) out.push(content);
    else if (type === FCGI_STDERR) err.push(content);
    else if (type === FCGI_END_REQUEST && content.length === 8) {
      end = { appStatus: content.readUInt32BE(0), protocolStatus: content[4] };
      break;
    }
    at += 8 + len + reply[at + 6];
  }
  const stdout = Buffer.concat(out);
  const crlf = stdout.indexOf('\r\n\r\n');
  const lf = stdout.indexOf('\n\n');
  const cut = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
  const head = cut < 0 ? '' : stdout.subarray(0, cut).toString('latin1');
  const m = /^status:[ \t]*(\d{3})([^\r\n]*)/im.exec(head);
  const status = m ? Number(m[1]) : stdout.length > 0 ? 200 : 0;
  return {
    stdout,
    stderr: Buffer.concat(err),
    head,
    body: cut < 0 ? stdout : stdout.subarray(cut),
    status,
    statusText: m ? `${m[1]}${m[2]}`.trim() : String(status),
    end,
  };
}
