import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import type { ConnectionLog } from '../core/server.js';

/**
 * A busy server logs tens of thousands of connections a second, nearly all
 * with the same request and reply: the work on a string (quoting, clipping) is
 * done when it differs from the last one, not once per line. (The engines
 * hand out the same string object for the same bytes, so the comparison is
 * mostly a pointer check.)
 */
function memo(f: (s: string) => string): (s: string | undefined) => string | undefined {
  let last: string | undefined;
  let out: string | undefined;
  return (s) => {
    if (s === undefined) return undefined;
    if (s !== last) {
      last = s;
      out = f(s);
    }
    return out;
  };
}

const clip = (n: number) =>
  memo((s) => {
    const j = JSON.stringify(s);
    return j.length > n ? `${j.slice(0, n - 2)}…"` : j;
  });

const BAD: ReadonlySet<string> = new Set(['client-reset', 'reset', 'idle-timeout', 'max-bytes', 'over-max-conns', 'error', 'left-open']);

/**
 * The text of a line between two fields that change with every connection
 * (the id, the duration) depends on fields that rarely do: kept while they
 * stay the same, so a line is five pieces, not twenty.
 */
function segment<F extends (...args: never[]) => string>(render: F): F {
  // Six fields at most, compared one by one: no array per call (a log line is hot code).
  const f = render as unknown as (...args: unknown[]) => string;
  let fresh = true;
  let a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, g: unknown;
  let out = '';
  return ((x1?: unknown, x2?: unknown, x3?: unknown, x4?: unknown, x5?: unknown, x6?: unknown) => {
    if (fresh || x1 !== a || x2 !== b || x3 !== c || x4 !== d || x5 !== e || x6 !== g) {
      fresh = false;
      [a, b, c, d, e, g] = [x1, x2, x3, x4, x5, x6];
      out = f(x1, x2, x3, x4, x5, x6);
    }
    return out;
  }) as unknown as F;
}

/** A renderer of one human line per connection (it keeps a little state: make one per log). */
export function connectionLineRenderer(c: ChalkInstance): (log: ConnectionLog) => string {
  const request = clip(40);
  const reply = clip(40);
  const head = segment((at: string) => `${c.dim(at)} #`);
  const mid = segment(
    (bytesIn: number, bytesOut: number, req: string | undefined, rep: string | undefined) =>
      ` in=${bytesIn}B out=${bytesOut}B req=${request(req) ?? '-'} reply=${reply(rep) ?? '-'} `,
  );
  const tail = segment((end: string, reason: string | undefined) => ` ${BAD.has(end) ? c.yellow(end) : c.green(end)}${reason ? c.dim(` (${reason})`) : ''}`);
  return (log) =>
    head(log.at) + log.id + mid(log.bytesIn, log.bytesOut, log.request, log.reply) + formatDuration(log.durationUs / 1000) + tail(log.end, log.reason);
}

/**
 * A renderer of the JSON line of a connection: the same text as
 * JSON.stringify({ event: 'connection', pid, ...log }) for the fields of
 * ConnectionLog (in its order), without building an object per line.
 */
export function connectionJsonRenderer(pid: number): (log: ConnectionLog) => string {
  const head = `{"event":"connection","pid":${pid},"id":`;
  const num = (n: number) => (Number.isFinite(n) ? String(n) : 'null');
  const request = memo(JSON.stringify);
  const reply = memo(JSON.stringify);
  const mid = segment(
    (at: string, bytesIn: number, bytesOut: number, requests: number, req: string | undefined, rep: string | undefined) =>
      `,"at":${JSON.stringify(at)},"bytesIn":${num(bytesIn)},"bytesOut":${num(bytesOut)},"requests":${num(requests)}` +
      (req === undefined ? '' : `,"request":${request(req)}`) +
      (rep === undefined ? '' : `,"reply":${reply(rep)}`) +
      ',"durationUs":',
  );
  const tail = segment(
    (end: string, fault: string | undefined, reason: string | undefined) =>
      `,"end":${JSON.stringify(end)}` +
      (fault === undefined ? '' : `,"fault":${JSON.stringify(fault)}`) +
      (reason === undefined ? '' : `,"reason":${JSON.stringify(reason)}`) +
      '}',
  );
  return (log) =>
    head + num(log.id) + mid(log.at, log.bytesIn, log.bytesOut, log.requests, log.request, log.reply) + num(log.durationUs) + tail(log.end, log.fault, log.reason);
}
