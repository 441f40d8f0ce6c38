import { checkDuration, parseDuration } from '../duration.js';
import { UdsError } from '../errors.js';
import { unescapeText } from '../escape.js';
import type { Framer } from './framer.js';

/** Sizes of a len: length field, in bytes. */
export const LEN_SIZES = [1, 2, 4] as const;
export type LenSize = (typeof LEN_SIZES)[number];

/**
 * How the end of a reply is recognised: a plain rule, a length prefix, or a
 * protocol's own framing (http, resp; set by --http/--resp, not by --until).
 * createFramer() (index.ts) turns a rule into a Framer.
 */
export type EndRule =
  | { kind: 'eof' }
  /** One message (seqpacket, dgram): a message socket keeps boundaries; a stream has none. */
  | { kind: 'message' }
  | { kind: 'line' }
  | { kind: 'delim'; delim: Buffer }
  | { kind: 'bytes'; n: number }
  | { kind: 'idle'; ms: number }
  /** A `size`-byte unsigned length (big- or little-endian), `offset` more header bytes, then that many bytes. */
  | { kind: 'len'; size: LenSize; le: boolean; offset: number }
  /** An HTTP/1.x response; `head`: the request was HEAD (no body follows). */
  | { kind: 'http'; head: boolean }
  /** A RESP2/RESP3 reply. */
  | { kind: 'resp' }
  /** A FastCGI reply: records until END_REQUEST; `keepConn`: the request asked to keep the connection. */
  | { kind: 'fastcgi'; keepConn: boolean }
  /**
   * A service's own framer (src/core/service): made by `create`, or, without it, the framer of
   * that `name` in named.ts (a rule without a function crosses to bench's worker threads).
   */
  | { kind: 'framer'; name: string; create?: () => Framer };

export const END_RULE_HELP = 'eof | line | message | delim:TEXT | bytes:N | idle:DURATION | len:SIZE[be|le][+OFFSET]';

/** Largest +OFFSET of len: (header bytes after the length field). */
const MAX_LEN_OFFSET = 65_536;

/** `len:4be`, `len:4le`, `len:2be+1`, `len:1`: SIZE 1, 2 or 4; be (default) or le; +OFFSET header bytes after the field. */
export function parseLenRule(spec: string): EndRule {
  const m = /^(\d+)(be|le)?(?:\+(\d+))?$/.exec(spec);
  const size = m ? Number(m[1]) : NaN;
  if (!m || !(LEN_SIZES as readonly number[]).includes(size)) {
    throw new UdsError('BAD_OPTION', `--until len: must be len:SIZE[be|le][+OFFSET] with SIZE 1, 2 or 4, like len:4be, len:4le or len:2be+1 (got "len:${spec}")`);
  }
  const offset = m[3] === undefined ? 0 : Number(m[3]);
  if (offset > MAX_LEN_OFFSET) throw new UdsError('BAD_OPTION', `--until len: +OFFSET must be at most ${MAX_LEN_OFFSET} (got ${m[3]})`);
  return { kind: 'len', size: size as LenSize, le: m[2] === 'le', offset };
}

/** Parse `eof`, `line`, `delim:<text>` (escapes like \r\n understood), `bytes:N`, `idle:<duration>`. */
export function parseEndRule(text: string): EndRule {
  const s = String(text);
  if (s === 'eof') return { kind: 'eof' };
  if (s === 'line') return { kind: 'line' };
  if (s === 'message') return { kind: 'message' };
  if (s.startsWith('delim:')) {
    const delim = unescapeText(s.slice(6));
    if (delim.length === 0) throw new UdsError('BAD_OPTION', '--until delim: needs a non-empty delimiter');
    return { kind: 'delim', delim };
  }
  if (s.startsWith('bytes:')) {
    const n = Number(s.slice(6));
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UdsError('BAD_OPTION', `--until bytes:N needs a whole number N >= 1 (got "${s.slice(6)}")`);
    }
    return { kind: 'bytes', n };
  }
  if (s.startsWith('idle:')) return { kind: 'idle', ms: parseDuration(s.slice(5), '--until idle:', { positive: true }) };
  if (s.startsWith('len:')) return parseLenRule(s.slice(4));
  throw new UdsError('BAD_OPTION', `--until must be one of ${END_RULE_HELP} (got "${s}")`);
}

/**
 * A library caller's rule: an EndRule, or its text (`'line'`) parsed. Anything
 * else (`'bogus'`, a delim that is not bytes) is BAD_OPTION, never a TypeError.
 */
export function checkEndRule(rule: unknown): EndRule {
  if (typeof rule === 'string') return parseEndRule(rule);
  const r = rule as Partial<Record<string, unknown>> | null;
  const bad = (why: string) => new UdsError('BAD_OPTION', `until ${why} (${END_RULE_HELP})`);
  if (!r || typeof r !== 'object') throw bad(`must be an end rule or its text (got ${r === null ? 'null' : typeof r})`);
  switch (r.kind) {
    case 'eof':
    case 'line':
    case 'message':
      return { kind: r.kind };
    case 'delim':
      if (!Buffer.isBuffer(r.delim) || r.delim.length === 0) throw bad('delim needs a non-empty Buffer delim');
      return { kind: 'delim', delim: r.delim };
    case 'bytes':
      if (!Number.isSafeInteger(r.n) || (r.n as number) < 1) throw bad(`bytes needs a whole number n >= 1 (got ${String(r.n)})`);
      return { kind: 'bytes', n: r.n as number };
    case 'idle':
      return { kind: 'idle', ms: checkDuration(r.ms, 'until idle: ms', { positive: true }) };
    case 'len': {
      const offset = r.offset ?? 0;
      if (!(LEN_SIZES as readonly unknown[]).includes(r.size)) throw bad(`len needs size 1, 2 or 4 (got ${String(r.size)})`);
      if (!Number.isSafeInteger(offset) || (offset as number) < 0 || (offset as number) > MAX_LEN_OFFSET) {
        throw bad(`len needs a whole offset from 0 to ${MAX_LEN_OFFSET} (got ${String(offset)})`);
      }
      return { kind: 'len', size: r.size as LenSize, le: Boolean(r.le), offset: offset as number };
    }
    case 'http':
      return { kind: 'http', head: Boolean(r.head) };
    case 'resp':
      return { kind: 'resp' };
    case 'fastcgi':
      return { kind: 'fastcgi', keepConn: Boolean(r.keepConn) };
    case 'framer':
      if (typeof r.name !== 'string' || (r.create !== undefined && typeof r.create !== 'function')) throw bad('framer needs a name (and may have a create() function)');
      return r.create === undefined ? { kind: 'framer', name: r.name } : { kind: 'framer', name: r.name, create: r.create as () => Framer };
    default:
      throw bad(`kind must be eof, line, message, delim, bytes, idle, len, http, resp or fastcgi (got ${JSON.stringify(String(r.kind))})`);
  }
}

/** The rule as a user would write it. */
export function formatEndRule(rule: EndRule): string {
  switch (rule.kind) {
    case 'delim':
      return `delim:${JSON.stringify(rule.delim.toString('latin1')).slice(1, -1)}`;
    case 'bytes':
      return `bytes:${rule.n}`;
    case 'idle':
      return `idle:${rule.ms}ms`;
    case 'len':
      return `len:${rule.size}${rule.size === 1 ? '' : rule.le ? 'le' : 'be'}${rule.offset > 0 ? `+${rule.offset}` : ''}`;
    case 'http':
      return rule.head ? 'http (HEAD)' : 'http';
    case 'framer':
      return rule.name;
    default:
      return rule.kind;
  }
}

/**
 * Where a reply ends inside `buf` (exclusive index), or -1 when the rule is not
 * met yet. `from` is how many bytes were already searched, so repeated calls on
 * a growing buffer stay linear. eof and idle are met by events, never by bytes.
 */
export function findReplyEnd(rule: EndRule, buf: Buffer, from = 0): number {
  switch (rule.kind) {
    case 'line': {
      const i = buf.indexOf(0x0a, from);
      return i < 0 ? -1 : i + 1;
    }
    case 'delim': {
      const i = buf.indexOf(rule.delim, Math.max(0, from - rule.delim.length + 1));
      return i < 0 ? -1 : i + rule.delim.length;
    }
    case 'bytes':
      return buf.length >= rule.n ? rule.n : -1;
    default:
      return -1;
  }
}
