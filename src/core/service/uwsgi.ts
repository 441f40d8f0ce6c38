/**
 * uwsgi's binary protocol (uwsgi --socket): a request packet (modifier1 0,
 * WSGI) for GET / or the path given, answered with a raw HTTP response, which
 * is judged as HTTP. (uwsgi's own ping, modifier1 100, is a plugin Debian's
 * build does not load: "unavailable modifier requested: 100".) With
 * --http-socket uwsgi speaks HTTP, and http.ts recognises it by its command line.
 */
import type { EndRule } from '../framing/end-rule.js';
import { formatDuration } from '../duration.js';
import type { ExchangeRecord } from '../exchange-record.js';
import { statusLine } from './http.js';
import type { CheckContext, Service, ServiceReply, Verdict } from './types.js';

const HTTP_REPLY: EndRule = { kind: 'http', head: false };

/** A uwsgi request packet: modifier1, the vars' size (16-bit little-endian), modifier2, then each var as 16-bit LE length + bytes. */
export function uwsgiRequest(path: string): Buffer {
  const q = path.indexOf('?');
  const vars: [string, string][] = [
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', path],
    ['PATH_INFO', q < 0 ? path : path.slice(0, q)],
    ['QUERY_STRING', q < 0 ? '' : path.slice(q + 1)],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['SERVER_NAME', 'localhost'],
    ['SERVER_PORT', '80'],
    ['HTTP_HOST', 'localhost'],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['HTTP_USER_AGENT', 'udsctl'],
  ];
  const parts: Buffer[] = [];
  for (const [k, v] of vars) {
    for (const s of [k, v]) {
      const b = Buffer.from(s, 'latin1');
      const n = Buffer.alloc(2);
      n.writeUInt16LE(b.length);
      parts.push(n, b);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.from([0, body.length & 0xff, body.length >> 8, 0]);
  return Buffer.concat([head, body]);
}

function judge(reply: ServiceReply, ctx: CheckContext): Verdict {
  const line = statusLine(reply.bytes);
  const path = ctx.arg ?? '/';
  const s = reply.status;
  const details = { status: s };
  if (s >= 500) return { code: 'HTTP_STATUS', severity: 'CRITICAL', summary: `a uwsgi request for ${path} answered ${line}: the application fails (or none is loaded)`, details };
  if (ctx.arg === undefined) return { code: 'OK', summary: `a uwsgi request for / answered ${line}: alive`, details };
  if (s >= 200 && s < 300) return { code: 'OK', summary: `a uwsgi request for ${path} answered ${line}`, details };
  return { code: 'HTTP_STATUS', severity: 'WARNING', summary: `a uwsgi request for ${path} answered ${line}, not a 2xx`, details };
}

function nameFailure(r: ExchangeRecord, ctx: CheckContext): Verdict | null {
  if (r.error?.code === 'REPLY_TIMEOUT' && r.bytesReceived === 0 && r.timings.connectedUs !== undefined) {
    return { code: 'UWSGI_BUSY', summary: `connected, but no worker answered within ${formatDuration(ctx.timeout)}: every worker is busy (or stuck) and requests wait in the listen queue` };
  }
  return null;
}

export const uwsgi: Service = {
  name: 'uwsgi',
  arg: { name: 'PATH', means: 'request this path; a 2xx is healthy (default: /, any answer below 500)' },
  title: 'uwsgi',
  socketTypes: ['stream'],
  recognise: {
    process: /^uwsgi(-core)?$/,
    path: /(^|\/)uwsgi[^/]*\.sock$/,
  },
  check: {
    kind: 'request',
    request: (ctx) => uwsgiRequest(ctx.arg ?? '/'),
    until: () => HTTP_REPLY,
    judge,
  },
  nameFailure,
  findings: [
    {
      code: 'UWSGI_BUSY',
      severity: 'CRITICAL',
      title: 'every uwsgi worker is busy',
      cause: 'uwsgi took the connection (the kernel queued it) but no worker answered: all --processes/--threads are busy with slow requests or stuck',
      fix: 'find the slow requests (uwsgi --stats, harakiri logs); add workers (--processes) or set --harakiri to kill stuck ones',
    },
  ],
  flag: '--as uwsgi',
  benchRequest: { get payload() { return uwsgiRequest('/'); }, until: HTTP_REPLY, describe: 'a uwsgi request for /' },
};
