/**
 * The FastCGI request builder, framer and decoder (src/core/framing/fastcgi.ts):
 * records built as the spec says, replies framed to END_REQUEST whatever the
 * chunking (every split point), the CGI Status: read on the way, and precise
 * errors for bytes that are not FastCGI or stop short.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_ERROR, NEED_MORE } from '../../src/core/framing/index.js';
import { FastcgiFramer, buildFastcgiRequest, decodeFastcgiReply, fastcgiParams } from '../../src/core/framing/fastcgi.js';
import { createFramer } from '../../src/core/framing/index.js';
import { framerEnds } from '../helpers/framing.js';
import { NAMED_FRAMERS } from '../../src/core/framing/named.js';

/** One record as a server writes it (padding to 8 unless `declared` lies about the length). */
function rec(type: number, content: Buffer | string, opts: { id?: number; declared?: number; version?: number } = {}): Buffer {
  const c = Buffer.from(content);
  const n = opts.declared ?? c.length;
  const pad = opts.declared === undefined ? (8 - (n % 8)) % 8 : 0;
  const h = Buffer.from([opts.version ?? 1, type, 0, opts.id ?? 1, n >> 8, n & 0xff, pad, 0]);
  return Buffer.concat([h, c, Buffer.alloc(pad)]);
}
const end = (protocolStatus = 0) => rec(3, Buffer.from([0, 0, 0, 0, protocolStatus, 0, 0, 0]));
const stdout = (s: string) => rec(6, s);
const stderr = (s: string) => rec(7, s);

/** The records of a request: [type, content] in order. */
function records(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let at = 0; at < buf.length; ) {
    expect(buf[at]).toBe(1);
    expect(buf.readUInt16BE(at + 2)).toBe(1);
    const len = buf.readUInt16BE(at + 4);
    expect((len + buf[at + 6]) % 8).toBe(0);
    out.push([buf[at + 1], buf.subarray(at + 8, at + 8 + len)]);
    at += 8 + len + buf[at + 6];
  }
  return out;
}

/** Decode FastCGI name-value pairs. */
function pairs(b: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  const len = (at: number): [number, number] => (b[at] < 128 ? [b[at], at + 1] : [b.readUInt32BE(at) & 0x7fffffff, at + 4]);
  for (let at = 0; at < b.length; ) {
    const [nl, a1] = len(at);
    const [vl, a2] = len(a1);
    m.set(b.subarray(a2, a2 + nl).toString(), b.subarray(a2 + nl, a2 + nl + vl).toString());
    at = a2 + nl + vl;
  }
  return m;
}

describe('the request', () => {
  it('BEGIN_REQUEST (responder), PARAMS a web server would send, each stream ended by its empty record', () => {
    const req = records(buildFastcgiRequest({ script: '/status?full&json' }));
    expect(req.map(([t]) => t)).toEqual([1, 4, 4, 5]);
    expect([...req[0][1]]).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    const p = pairs(req[1][1]);
    expect(p.get('SCRIPT_NAME')).toBe('/status');
    expect(p.get('SCRIPT_FILENAME')).toBe('/status');
    expect(p.get('QUERY_STRING')).toBe('full&json');
    expect(p.get('REQUEST_URI')).toBe('/status?full&json');
    expect(p.get('REQUEST_METHOD')).toBe('GET');
    expect(p.get('SERVER_PROTOCOL')).toBe('HTTP/1.1');
    expect(p.has('CONTENT_LENGTH')).toBe(false);
    expect(req[2][1].length).toBe(0);
    expect(req[3][1].length).toBe(0);
  });

  it('FCGI_KEEP_CONN when asked; --param adds and replaces; a long value takes a 4-byte length', () => {
    const long = 'x'.repeat(300);
    const req = records(buildFastcgiRequest({ script: '/ping', keepConn: true, params: ['SCRIPT_FILENAME=/srv/www/ping.php', `HTTP_X_LONG=${long}`, 'EMPTY='] }));
    expect(req[0][1][2]).toBe(1);
    const p = pairs(req[1][1]);
    expect(p.get('SCRIPT_FILENAME')).toBe('/srv/www/ping.php');
    expect(p.get('SCRIPT_NAME')).toBe('/ping');
    expect(p.get('HTTP_X_LONG')).toBe(long);
    expect(p.get('EMPTY')).toBe('');
  });

  it('a body goes in STDIN records of at most 65535 bytes, POST with its CONTENT_LENGTH', () => {
    const body = Buffer.alloc(70_000, 0x61);
    const req = records(buildFastcgiRequest({ script: '/echo.php', stdin: body }));
    const stdin = req.filter(([t]) => t === 5).map(([, c]) => c);
    expect(stdin.map((c) => c.length)).toEqual([65_535, 70_000 - 65_535, 0]);
    expect(Buffer.concat(stdin).equals(body)).toBe(true);
    const p = pairs(Buffer.concat(req.filter(([t]) => t === 4).map(([, c]) => c)));
    expect(p.get('REQUEST_METHOD')).toBe('POST');
    expect(p.get('CONTENT_LENGTH')).toBe('70000');
  });

  it('a script that is not a path and a --param without = are usage errors', () => {
    expect(() => fastcgiParams({ script: 'ping' })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => fastcgiParams({ script: '/ping', params: ['NOEQUALS'] })).toThrow(/--param must be NAME=VALUE/);
  });
});

describe('the framer', () => {
  const reply = Buffer.concat([
    stdout('Content-type: text/html\r\nStatus: 404 Not Found\r\n\r\n'),
    stderr('Primary script unknown'),
    stdout('File not found.\n'),
    end(),
  ]);

  it('ends at END_REQUEST whatever the chunking (every split point), the CGI Status: read on the way', () => {
    for (let cut = 0; cut <= reply.length; cut++) {
      const f = new FastcgiFramer();
      expect(framerEnds(f, reply, [cut]), `cut at ${cut}`).toEqual([reply.length]);
      expect(f.status).toBe(404);
      expect(f.failed).toBe(false);
      expect(f.closing).toBe(true);
    }
    // Byte by byte.
    const f = new FastcgiFramer();
    expect(framerEnds(f, reply, Array.from({ length: reply.length }, (_, i) => i))).toEqual([reply.length]);
    expect(f.status).toBe(404);
  });

  it("one FastCGI record (php-fpm's health reply): an HTTP answer instead is named by its version byte", () => {
    const f = NAMED_FRAMERS['one FastCGI record']();
    const http = Buffer.from('HTTP/1.1 200 OK\r\n\r\n');
    expect(f.push(http, 0, http.length)).toBe(FRAME_ERROR);
    expect(f.describe()).toBe('not a FastCGI record (version 72)');
  });

  it('FCGI_KEEP_CONN: replies back to back, each framed with its own status; 200 without a Status:', () => {
    const second = Buffer.concat([stdout('Content-Type: text/plain\r\n\r\npong'), end()]);
    const both = Buffer.concat([reply, second]);
    const f = createFramer({ kind: 'fastcgi', keepConn: true });
    expect(f.closing).toBe(false);
    expect(f.push(both, 0, both.length)).toBe(reply.length);
    expect(f.status).toBe(404);
    expect(f.push(both, reply.length, both.length)).toBe(both.length);
    expect(f.status).toBe(200);
  });

  it('a request the server refused (END_REQUEST OVERLOADED) is failed', () => {
    const f = new FastcgiFramer();
    const r = end(2);
    expect(f.push(r, 0, r.length)).toBe(r.length);
    expect(f.failed).toBe(true);
    expect(f.status).toBe(0);
  });

  it('bytes that are not FastCGI are FRAME_ERROR, said precisely', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), /version byte 72 .*an HTTP server\?/],
      [rec(6, 'x', { id: 7 }), /request id 7; udsctl sent request id 1/],
      [rec(3, 'short'), /END_REQUEST record of 5 content bytes, not 8/],
      [rec(1, Buffer.alloc(8)), /a BEGIN_REQUEST record, which a server does not send/],
    ];
    for (const [bytes, why] of cases) {
      const f = new FastcgiFramer();
      expect(f.push(bytes, 0, bytes.length)).toBe(FRAME_ERROR);
      expect(f.describe()).toMatch(why);
    }
  });

  it('a reply that stops short says where: in a header, in a record, no END_REQUEST; a close never completes it', () => {
    const f = new FastcgiFramer();
    const head = rec(6, 'Status: 2', { declared: 100 });
    expect(f.push(head, 0, head.length)).toBe(NEED_MORE);
    expect(f.describe()).toBe('1 record (9 bytes of STDOUT, 0 of STDERR) and no END_REQUEST; a STDOUT record cut short (9 of 100 content bytes)');
    expect(f.endsAtClose()).toBe(false);
    const g = new FastcgiFramer();
    const two = Buffer.concat([stdout('pong'), end().subarray(0, 3)]);
    expect(g.push(two, 0, two.length)).toBe(NEED_MORE);
    expect(g.describe()).toBe('1 record (4 bytes of STDOUT, 0 of STDERR) and no END_REQUEST; a record header cut short (3 of 8 bytes)');
    g.reset();
    expect(g.describe()).toBe('0 records (0 bytes of STDOUT, 0 of STDERR) and no END_REQUEST');
  });
});

describe('the decoder', () => {
  it('splits STDOUT into the CGI head and body, keeps STDERR apart, reads Status: and END_REQUEST', () => {
    const v = decodeFastcgiReply(Buffer.concat([stdout('Status: 404 Not Found\r\nX: y\r\n\r\nFile '), stderr('Primary script unknown'), stdout('not found.\n'), end()]));
    expect(v.head).toBe('Status: 404 Not Found\r\nX: y\r\n\r\n');
    expect(v.body.toString()).toBe('File not found.\n');
    expect(v.stderr.toString()).toBe('Primary script unknown');
    expect(v.status).toBe(404);
    expect(v.statusText).toBe('404 Not Found');
    expect(v.end).toEqual({ appStatus: 0, protocolStatus: 0 });
  });

  it('a reply cut short decodes what is whole, end null', () => {
    const v = decodeFastcgiReply(Buffer.concat([stdout('Content-Type: text/plain\n\npong'), end().subarray(0, 4)]));
    expect(v.body.toString()).toBe('pong');
    expect(v.status).toBe(200);
    expect(v.end).toBeNull();
  });
});
