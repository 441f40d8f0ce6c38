import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import { escapeText, fromKeptBytes } from '../core/escape.js';
import type { ConnectionLog, RequestLog } from '../core/serve/protocol.js';
import type { LineWriter } from '../core/line-writer.js';

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

/** A preview quoted and escaped (escapeText: no control, format or bidi character reaches the log raw), at most n characters with its quotes and …. */
const clip = (n: number) => memo((s) => escapeText(s, { quote: true, max: n - 3 }));

const BAD: ReadonlySet<string> = new Set(['client-reset', 'reset', 'idle-timeout', 'max-bytes', 'over-max-conns', 'error', 'left-open']);

/**
 * The text of a line between two fields that change with every connection
 * (the id, the duration) depends on fields that rarely do: kept, encoded,
 * while they stay the same, so a line is five pieces copied, not twenty joined.
 */
function segment<F extends (...args: never[]) => Uint8Array>(render: F): F {
  // Six fields at most, compared one by one: no array per call (a log line is hot code).
  const f = render as unknown as (...args: unknown[]) => Uint8Array;
  let fresh = true;
  let a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, g: unknown;
  let out: Uint8Array = new Uint8Array(0);
  return ((x1?: unknown, x2?: unknown, x3?: unknown, x4?: unknown, x5?: unknown, x6?: unknown) => {
    if (fresh || x1 !== a || x2 !== b || x3 !== c || x4 !== d || x5 !== e || x6 !== g) {
      fresh = false;
      [a, b, c, d, e, g] = [x1, x2, x3, x4, x5, x6];
      out = f(x1, x2, x3, x4, x5, x6);
    }
    return out;
  }) as unknown as F;
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** Durations below this many microseconds are kept encoded, by value. */
const DURATIONS_KEPT = 10_000;

/**
 * A connection's duration as formatDuration writes it, encoded: most
 * connections take one of a few hundred whole-microsecond values, and
 * toFixed plus encoding was the dearest piece of a line.
 */
function durationBytes(): (us: number) => Uint8Array {
  const kept: (Uint8Array | undefined)[] = [];
  return (us) => {
    if (!(Number.isInteger(us) && us >= 0 && us < DURATIONS_KEPT)) return utf8(formatDuration(us / 1000));
    let b = kept[us];
    if (b === undefined) kept[us] = b = utf8(formatDuration(us / 1000));
    return b;
  };
}

/**
 * A renderer of one human line per connection into a LineWriter (it keeps a
 * little state: make one per log). With `keepAlive`, the line counts the
 * requests instead of showing them: each has its own line (requestLineRenderer).
 */
export function connectionLineRenderer(c: ChalkInstance, opts: { keepAlive?: boolean } = {}): (log: ConnectionLog, out: LineWriter) => void {
  const request = clip(40);
  const reply = clip(40);
  const head = segment((at: string) => utf8(`${c.dim(at)} #`));
  const mid = opts.keepAlive
    ? segment((bytesIn: number, bytesOut: number, _req: string | undefined, _rep: string | undefined, requests: number) =>
        utf8(` in=${bytesIn}B out=${bytesOut}B requests=${requests} `),
      )
    : segment((bytesIn: number, bytesOut: number, req: string | undefined, rep: string | undefined, _requests: number) =>
        utf8(` in=${bytesIn}B out=${bytesOut}B req=${request(req) ?? '-'} reply=${reply(rep) ?? '-'} `),
      );
  const tail = segment((end: string, reason: string | undefined) => utf8(` ${BAD.has(end) ? c.yellow(end) : c.green(end)}${reason ? c.dim(` (${reason})`) : ''}`));
  const duration = durationBytes();
  const peer = segment((pid: number, uid: number, gid: number, name: string | undefined) =>
    utf8(c.dim(` peer=pid ${pid}${name === undefined ? '' : ` ${escapeText(name)}`} uid ${uid} gid ${gid}`)),
  );
  return (log, out) => {
    out.bytes(head(log.at));
    out.num(log.id);
    // One-shot: the requests (0 or 1) are in the key but not in the text.
    out.bytes(opts.keepAlive ? mid(log.bytesIn, log.bytesOut, undefined, undefined, log.requests) : mid(log.bytesIn, log.bytesOut, log.request, log.reply, 0));
    out.bytes(duration(log.durationUs));
    out.bytes(tail(log.end, log.reason));
    const p = log.peer;
    if (p) out.bytes(peer(p.pid, p.uid, p.gid, p.name));
    out.end();
  };
}

/**
 * A renderer of the JSON line of a connection into a LineWriter: the same text
 * as JSON.stringify({ event: 'connection', pid, ...log }) for the fields of
 * ConnectionLog (in its order), without an object or a string per line.
 */
export function connectionJsonRenderer(pid: number): (log: ConnectionLog, out: LineWriter) => void {
  const head = utf8(`{"event":"connection","pid":${pid},"id":`);
  const json = (n: number) => (Number.isFinite(n) ? String(n) : 'null');
  // The exact text; bytes that were not UTF-8 as U+FFFD, as Buffer#toString decodes them.
  const request = memo((s) => JSON.stringify(fromKeptBytes(s)));
  const reply = memo((s) => JSON.stringify(fromKeptBytes(s)));
  const mid = segment((at: string, bytesIn: number, bytesOut: number, requests: number, req: string | undefined, rep: string | undefined) =>
    utf8(
      `,"at":${JSON.stringify(at)},"bytesIn":${json(bytesIn)},"bytesOut":${json(bytesOut)},"requests":${json(requests)}` +
        (req === undefined ? '' : `,"request":${request(req)}`) +
        (rep === undefined ? '' : `,"reply":${reply(rep)}`) +
        ',"durationUs":',
    ),
  );
  const tail = segment((end: string, fault: string | undefined, reason: string | undefined) =>
    utf8(
      `,"end":${JSON.stringify(end)}` +
        (fault === undefined ? '' : `,"fault":${JSON.stringify(fault)}`) +
        (reason === undefined ? '' : `,"reason":${JSON.stringify(reason)}`),
    ),
  );
  const peer = segment((pid: number, uid: number, gid: number, name: string | undefined) =>
    utf8(`,"peer":${JSON.stringify({ pid, uid, gid, ...(name === undefined ? {} : { name }) })}`),
  );
  const close = utf8('}');
  const num = (n: number, out: LineWriter) => (Number.isFinite(n) ? out.num(n) : out.text('null'));
  return (log, out) => {
    out.bytes(head);
    num(log.id, out);
    out.bytes(mid(log.at, log.bytesIn, log.bytesOut, log.requests, log.request, log.reply));
    num(log.durationUs, out);
    out.bytes(tail(log.end, log.fault, log.reason));
    const p = log.peer;
    if (p) out.bytes(peer(p.pid, p.uid, p.gid, p.name));
    out.bytes(close);
    out.end();
  };
}

/**
 * A renderer of the human line of one --keep-alive request and its reply:
 * `<at> #<connection> request <n> in=..B out=..B req=".." reply=".."`.
 */
export function requestLineRenderer(c: ChalkInstance): (log: RequestLog, out: LineWriter) => void {
  const request = clip(40);
  const reply = clip(40);
  const head = segment((at: string) => utf8(`${c.dim(at)} #`));
  const word = utf8(' request ');
  const mid = segment((bytesIn: number, bytesOut: number, req: string | undefined, rep: string | undefined) =>
    utf8(` in=${bytesIn}B out=${bytesOut}B req=${request(req) ?? '-'} reply=${reply(rep) ?? '-'}`),
  );
  return (log, out) => {
    out.bytes(head(log.at));
    out.num(log.id);
    out.bytes(word);
    out.num(log.seq);
    out.bytes(mid(log.bytesIn, log.bytesOut, log.request, log.reply));
    out.end();
  };
}

/** The JSON line of one --keep-alive request: JSON.stringify({ event: 'request', pid, ...log }) for RequestLog's fields, in order. */
export function requestJsonRenderer(pid: number): (log: RequestLog, out: LineWriter) => void {
  const head = utf8(`{"event":"request","pid":${pid},"id":`);
  const seq = utf8(',"seq":');
  const request = memo((s) => JSON.stringify(fromKeptBytes(s)));
  const reply = memo((s) => JSON.stringify(fromKeptBytes(s)));
  const at = segment((a: string) => utf8(`,"at":${JSON.stringify(a)}`));
  const tail = segment((bytesIn: number, bytesOut: number, req: string | undefined, rep: string | undefined) =>
    utf8(
      `,"bytesIn":${bytesIn},"bytesOut":${bytesOut}` +
        (req === undefined ? '' : `,"request":${request(req)}`) +
        (rep === undefined ? '' : `,"reply":${reply(rep)}`) +
        '}',
    ),
  );
  return (log, out) => {
    out.bytes(head);
    out.num(log.id);
    out.bytes(seq);
    out.num(log.seq);
    out.bytes(at(log.at));
    out.bytes(tail(log.bytesIn, log.bytesOut, log.request, log.reply));
    out.end();
  };
}

/** What the log says when it dropped lines because its reader was too slow. */
export const droppedText = (count: number): string => `log: ${count} lines dropped, reader too slow`;

/** The line saying `count` log lines were dropped: a warning, human or JSON (with the count as a number). */
export function droppedLine(json: boolean, c: ChalkInstance): (count: number) => string {
  return json
    ? (count) => JSON.stringify({ event: 'warning', message: droppedText(count), dropped: count })
    : (count) => `${c.yellow('udsctl serve:')} ${droppedText(count)}`;
}
