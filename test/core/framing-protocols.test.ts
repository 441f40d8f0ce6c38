/**
 * The HTTP and RESP framers: each frame found however the stream is cut (every
 * split point), their facts (status, closing, error reply), malformed input as
 * FRAME_ERROR, and cut-short frames described precisely.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_ERROR, type Framer, NEED_MORE, createFramer } from '../../src/core/framing/index.js';
import { buildHttpRequest, decodeHttpResponse } from '../../src/core/framing/http-message.js';
import { encodeRespCommand, splitCommand } from '../../src/core/framing/resp-command.js';
import { formatRespReply } from '../../src/core/framing/resp-render.js';
import { framerEnds } from '../helpers/framing.js';

/** Every way of cutting `stream` in three finds `want`. */
function everySplit(make: () => Framer, stream: Buffer, want: number[]): void {
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j += 3) {
      expect(framerEnds(make(), stream, [i, j]), `cut at ${i},${j}`).toEqual(want);
    }
  }
}

const http = () => createFramer({ kind: 'http', head: false });
const b = (s: string) => Buffer.from(s);

describe('HttpFramer', () => {
  const cl = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello';
  const chunked = 'HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, Chunked\r\n\r\n3;x=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n';
  const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n';

  it('Content-Length, chunked (with extensions and a trailer), 1xx then 204, pipelined, at every split', () => {
    const stream = b(cl + chunked + interim + cl);
    const e1 = cl.length;
    const e2 = e1 + chunked.length;
    const e3 = e2 + interim.length;
    everySplit(http, stream, [e1, e2, e3, e3 + cl.length]);
  });

  it('facts: status, error status, Connection: close and HTTP/1.0', () => {
    const f = http();
    expect(f.push(b(cl), 0, cl.length)).toBe(cl.length);
    expect([f.status, f.failed, f.closing]).toEqual([200, false, false]);
    expect(f.push(b(chunked), 0, chunked.length)).toBe(chunked.length);
    expect([f.status, f.failed]).toEqual([404, true]);
    const close = b('HTTP/1.1 500 Oops\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n');
    expect(f.push(close, 0, close.length)).toBe(close.length);
    expect([f.status, f.failed, f.closing]).toEqual([500, true, true]);
    const old = b('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx');
    expect(f.push(old, 0, old.length)).toBe(old.length);
    expect(f.closing).toBe(true);
  });

  it('HEAD and 304 have no body whatever Content-Length says', () => {
    const head = createFramer({ kind: 'http', head: true });
    const r = b('HTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n');
    expect(head.push(r, 0, r.length)).toBe(r.length);
    const nm = b('HTTP/1.1 304 Not Modified\r\nContent-Length: 612\r\n\r\n');
    expect(http().push(nm, 0, nm.length)).toBe(nm.length);
  });

  it('no length: the body ends at the close', () => {
    const f = http();
    const r = b('HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body');
    expect(f.push(r, 0, r.length)).toBe(NEED_MORE);
    expect(f.endsAtClose()).toBe(true);
    expect([f.status, f.closing]).toEqual([200, true]);
  });

  it('cut short: Content-Length longer than the body, chunked without the last chunk', () => {
    const f = http();
    const r = b('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
    expect(f.push(r, 0, r.length)).toBe(NEED_MORE);
    expect(f.endsAtClose()).toBe(false);
    expect(f.describe()).toBe('HTTP 200 with Content-Length 100, but only 9 bytes of body');
    const g = http();
    const c = b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    expect(g.push(c, 0, c.length)).toBe(NEED_MORE);
    expect(g.describe()).toBe('HTTP 200 chunked body: 5 bytes in 1 chunks, and no last (0-size) chunk');
  });

  it('another protocol or a broken response is FRAME_ERROR with a reason', () => {
    for (const [text, why] of [
      ['+PONG\r\n', /not an HTTP response/],
      ['HTTP/2 200\r\n', /not an HTTP\/1.x/],
      ['HTTP/1.1 2x0 OK\r\n', /no 3-digit status/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', /Content-Length that is not a number/],
      ['HTTP/1.1 200 OK\r\nbroken header\r\n\r\n', /without ":"/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /not hexadecimal/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', /longer than its size/],
    ] as const) {
      const f = http();
      expect(f.push(b(text), 0, text.length), text).toBe(FRAME_ERROR);
      expect(f.describe()).toMatch(why);
    }
  });

  it('a head that never ends is bounded (64 KiB)', () => {
    const f = http();
    const big = Buffer.concat([b('HTTP/1.1 200 OK\r\n'), Buffer.alloc(70_000, 0x61)]);
    expect(f.push(big, 0, big.length)).toBe(FRAME_ERROR);
    expect(f.describe()).toMatch(/over 65536 bytes/);
  });

  it('requests: Host: localhost by default, headers, a body with its length, Connection: close', () => {
    expect(buildHttpRequest({ path: '/' }).toString()).toBe('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(buildHttpRequest({ path: '/x?y=1', method: 'put', headers: ['Host: a', 'X-K:  v'], data: b('hi'), close: true }).toString()).toBe(
      'PUT /x?y=1 HTTP/1.1\r\nHost: a\r\nX-K: v\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    );
    expect(buildHttpRequest({ path: '/', data: b('a') }).toString()).toMatch(/^POST /);
    expect(() => buildHttpRequest({ path: '/a b' })).toThrow(/--http PATH/);
    expect(() => buildHttpRequest({ path: 'x' })).toThrow(/start with \//);
    expect(() => buildHttpRequest({ path: '/', headers: ['NoColon'] })).toThrow(/--header/);
    expect(() => buildHttpRequest({ path: '/', headers: ['A: b\r\nEvil: 1'] })).toThrow(/--header/);
    expect(() => buildHttpRequest({ path: '/', method: 'G T' })).toThrow(/--method/);
  });

  it('decodes a kept response for display: head, de-chunked body', () => {
    const v = decodeHttpResponse(b(chunked));
    expect(v.status).toBe(404);
    expect(v.statusLine).toBe('HTTP/1.1 404 Not Found');
    expect(v.body.toString()).toBe('abc0123456789abcdef');
    const w = decodeHttpResponse(b(interim));
    expect([w.status, w.body.length]).toEqual([204, 0]);
  });
});

const resp = () => createFramer({ kind: 'resp' });

describe('RespFramer', () => {
  const replies = [
    '+PONG\r\n',
    '-ERR unknown command\r\n',
    ':42\r\n',
    '$5\r\nhe\r\nl\r\n',
    '$0\r\n\r\n',
    '$-1\r\n',
    '*-1\r\n',
    '*0\r\n',
    '*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n_\r\n',
    '%2\r\n+k\r\n:1\r\n+k2\r\n~2\r\n#t\r\n,3.5\r\n',
    '=15\r\ntxt:Some string\r\n',
    '(3492890328409238509324850943850943825024385\r\n',
    '!21\r\nSYNTAX invalid syntax\r\n',
    '>2\r\n+message\r\n+hi\r\n',
    '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:7\r\n',
  ];

  it('every RESP2 and RESP3 type, pipelined, at every split', () => {
    const stream = b(replies.join(''));
    const want: number[] = [];
    let at = 0;
    for (const r of replies) want.push((at += r.length));
    everySplit(resp, stream, want);
  });

  it('error replies are failed; others are not', () => {
    const f = resp();
    for (const [r, failed] of [['-ERR x\r\n', true], ['+OK\r\n', false], ['!3\r\nERR\r\n', true], ['*1\r\n-ERR in array\r\n', false]] as const) {
      expect(f.push(b(r), 0, r.length)).toBe(r.length);
      expect(f.failed, r).toBe(failed);
    }
  });

  it('not RESP, a bad length, a bulk longer than said: FRAME_ERROR', () => {
    for (const [text, why] of [
      ['HTTP/1.1 400 Bad Request\r\n', /not a RESP reply/],
      ['$x\r\n', /not a number/],
      ['$2\r\nabc\r\n', /longer than its length/],
      ['*-2\r\n', /length of -2/],
    ] as const) {
      const f = resp();
      expect(f.push(b(text), 0, text.length), text).toBe(FRAME_ERROR);
      expect(f.describe()).toMatch(why);
    }
  });

  it('a bulk that never ends is described', () => {
    const f = resp();
    expect(f.push(b('$100\r\nabc'), 0, 9)).toBe(NEED_MORE);
    expect(f.describe()).toBe('a RESP bulk string with 97 of its bytes still to come');
  });

  it('nesting is bounded', () => {
    const deep = b('*1\r\n'.repeat(100));
    expect(resp().push(deep, 0, deep.length)).toBe(FRAME_ERROR);
  });

  it('commands: split like a shell, encoded as an array of bulk strings', () => {
    expect(splitCommand(`SET k "a b\\"c" 'd e' "\\xff\\n" é`)).toEqual([b('SET'), b('k'), b('a b"c'), b('d e'), Buffer.from([0xff, 0x0a]), b('é')]);
    expect(() => splitCommand('  ')).toThrow(/needs a command/);
    expect(() => splitCommand('GET "x')).toThrow(/not closed/);
    expect(encodeRespCommand(['GET', 'k']).toString()).toBe('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
  });

  it('formats replies as redis-cli does', () => {
    expect(formatRespReply(b('+PONG\r\n'))).toBe('PONG');
    expect(formatRespReply(b('$-1\r\n'))).toBe('(nil)');
    expect(formatRespReply(b('-ERR x\r\n'))).toBe('(error) ERR x');
    expect(formatRespReply(b('*2\r\n$1\r\na\r\n*1\r\n:2\r\n'))).toBe('1) "a"\n2) 1) (integer) 2');
    expect(formatRespReply(b('%1\r\n+k\r\n:1\r\n'))).toBe('(map)\n1# k => (integer) 1');
  });
});
