/**
 * FastCGI (php-fpm). With no script, the management request FCGI_GET_VALUES
 * (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS) tells a live pool without
 * running any PHP: a child accepts it and answers GET_VALUES_RESULT. With a
 * script (--fastcgi /ping), that script is requested and its CGI Status:
 * judged. A php-fpm whose every child is busy takes the connection (the
 * kernel queues it) and answers nothing: FPM_QUEUE_FULL, not a generic SILENT.
 */
import { buildFastcgiRequest, decodeFastcgiReply, PROTOCOL_STATUS } from '../framing/fastcgi.js';
import type { EndRule } from '../framing/end-rule.js';
import { formatDuration } from '../duration.js';
import type { ExchangeRecord } from '../exchange-record.js';
import type { CheckContext, Service, ServiceReply, Verdict } from './types.js';

const FCGI_GET_VALUES = 9;
const FCGI_GET_VALUES_RESULT = 10;
const FCGI_UNKNOWN_TYPE = 11;
const NAMES = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];

/** FCGI_GET_VALUES on the management request id 0: each name with an empty value. */
export function getValuesRequest(): Buffer {
  const pairs = Buffer.concat(NAMES.flatMap((n) => [Buffer.from([n.length, 0]), Buffer.from(n)]));
  const pad = (8 - (pairs.length % 8)) % 8;
  const head = Buffer.from([1, FCGI_GET_VALUES, 0, 0, pairs.length >> 8, pairs.length & 0xff, pad, 0]);
  return Buffer.concat([head, pairs, Buffer.alloc(pad)]);
}

/** One record: a named framer (framing/named.ts), so bench's worker threads can make it too. */
const ONE_RECORD: EndRule = { kind: 'framer', name: 'one FastCGI record' };
const FASTCGI_REPLY: EndRule = { kind: 'fastcgi', keepConn: false };

/** The name-value pairs of a GET_VALUES_RESULT. */
export function valuePairs(content: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let at = 0;
  const len = (): number => {
    if (at >= content.length) return -1;
    if (content[at] < 128) return content[at++];
    if (at + 4 > content.length) return -1;
    const n = content.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return n;
  };
  while (at < content.length && out.length < 32) {
    const n = len();
    const v = len();
    if (n < 0 || v < 0 || at + n + v > content.length) break;
    out.push([content.toString('latin1', at, at + n), content.toString('latin1', at + n, at + n + v)]);
    at += n + v;
  }
  return out;
}

function judgeValues(reply: ServiceReply): Verdict {
  const b = reply.bytes;
  const type = b[1];
  if (type === FCGI_UNKNOWN_TYPE) return { code: 'OK', summary: 'a FastCGI server (it does not implement GET_VALUES: answered UNKNOWN_TYPE)' };
  if (type !== FCGI_GET_VALUES_RESULT) return { code: 'FCGI_BAD_REPLY', summary: `answered GET_VALUES with a record of type ${type}` };
  const len = b.readUInt16BE(4);
  const details: Verdict['details'] = {};
  for (const [k, v] of valuePairs(b.subarray(8, 8 + len))) {
    const key = { FCGI_MAX_CONNS: 'maxConns', FCGI_MAX_REQS: 'maxReqs', FCGI_MPXS_CONNS: 'multiplexes' }[k];
    if (key) details[key] = /^\d+$/.test(v) ? Number(v) : v;
  }
  const pool = typeof details.maxConns === 'number' ? `; at most ${details.maxConns} connections` : '';
  return { code: 'OK', summary: `a child answered GET_VALUES${pool}`, details };
}

function judgeScript(reply: ServiceReply, ctx: CheckContext): Verdict {
  const v = decodeFastcgiReply(reply.bytes);
  const script = ctx.arg!;
  if (v.end && v.end.protocolStatus !== 0) {
    const why = PROTOCOL_STATUS[v.end.protocolStatus] ?? `protocol status ${v.end.protocolStatus}`;
    return { code: 'FCGI_BAD_REPLY', summary: `refused ${script}: END_REQUEST ${why}` };
  }
  const err = v.stderr.length > 0 ? `; STDERR ${JSON.stringify(v.stderr.toString('utf8', 0, 80))}` : '';
  const details = { status: v.status };
  if (v.status >= 200 && v.status < 300) return { code: 'OK', summary: `${script} answered Status: ${v.statusText}${err}`, details };
  return { code: 'HTTP_STATUS', severity: v.status >= 500 || v.status === 0 ? 'CRITICAL' : 'WARNING', summary: `${script} answered ${v.status === 0 ? 'with no STDOUT' : `Status: ${v.statusText}`}${err}`, details };
}

function nameFailure(r: ExchangeRecord, ctx: CheckContext): Verdict | null {
  const e = r.error;
  if (e?.code === 'BACKLOG_FULL') {
    return { code: 'FPM_QUEUE_FULL', summary: `its listen queue is full (connect: EAGAIN for ${formatDuration(ctx.connectTimeout)}): every child is busy and the backlog (listen.backlog) has no room` };
  }
  if (e?.code === 'REPLY_TIMEOUT' && r.bytesReceived === 0 && r.timings.connectedUs !== undefined) {
    return { code: 'FPM_QUEUE_FULL', summary: `connected, but no child took the request within ${formatDuration(ctx.timeout)}: every child is busy (pm.max_children reached) and requests wait in the listen queue` };
  }
  return null;
}

export const fastcgi: Service = {
  name: 'fastcgi',
  title: 'FastCGI (php-fpm)',
  socketTypes: ['stream'],
  recognise: {
    process: /^(php-fpm|php\d[\d.]*-fpm|php-fpm\d[\d.]*|hhvm|fcgiwrap|spawn-fcgi)/,
    path: /php[^/]*fpm[^/]*\.sock$|(^|\/)(fpm|fcgi|fastcgi|fcgiwrap)[^/]*\.sock$/,
  },
  check: {
    kind: 'request',
    request: (ctx) => (ctx.arg === undefined ? getValuesRequest() : buildFastcgiRequest({ script: ctx.arg })),
    until: (ctx) => (ctx.arg === undefined ? ONE_RECORD : FASTCGI_REPLY),
    judge: (reply, ctx) => (ctx.arg === undefined ? judgeValues(reply) : judgeScript(reply, ctx)),
  },
  arg: { name: 'SCRIPT', means: 'request this script (SCRIPT_FILENAME); default: FCGI_GET_VALUES, no PHP run' },
  nameFailure,
  findings: [
    {
      code: 'FPM_QUEUE_FULL',
      severity: 'CRITICAL',
      title: 'every php-fpm child is busy',
      cause: 'the pool took the connection (the kernel queued it) but no child answered: all pm.max_children are busy with slow requests, and new ones wait in the listen queue (or find it full)',
      fix: "find the slow requests (slowlog, the status page's active processes); raise pm.max_children if memory allows; set request_terminate_timeout",
    },
    {
      code: 'FCGI_BAD_REPLY',
      severity: 'CRITICAL',
      title: 'FastCGI refused the request',
      cause: 'the FastCGI server answered with a refusal (END_REQUEST OVERLOADED, CANT_MPX_CONN, UNKNOWN_ROLE) or a record udsctl did not ask for',
      fix: "read the reply shown and the pool's log; OVERLOADED means its limits were reached",
    },
  ],
  flag: '--fastcgi /ping',
  replyEnd: FASTCGI_REPLY,
  // The management request: a child answers it without running PHP, so bench measures the pool, not a script.
  benchRequest: { get payload() { return getValuesRequest(); }, until: ONE_RECORD, describe: 'FCGI_GET_VALUES (FastCGI; no PHP run)' },
};
