import { checkDuration, parseDuration } from './duration.js';
import { UdsError } from './errors.js';
import { unescapeText } from './escape.js';

/** How the end of a reply is recognised. */
export type EndRule =
  | { kind: 'eof' }
  | { kind: 'line' }
  | { kind: 'delim'; delim: Buffer }
  | { kind: 'bytes'; n: number }
  | { kind: 'idle'; ms: number };

export const END_RULE_HELP = 'eof | line | delim:TEXT | bytes:N | idle:DURATION';

/** Parse `eof`, `line`, `delim:<text>` (escapes like \r\n understood), `bytes:N`, `idle:<duration>`. */
export function parseEndRule(text: string): EndRule {
  const s = String(text);
  if (s === 'eof') return { kind: 'eof' };
  if (s === 'line') return { kind: 'line' };
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
      return { kind: r.kind };
    case 'delim':
      if (!Buffer.isBuffer(r.delim) || r.delim.length === 0) throw bad('delim needs a non-empty Buffer delim');
      return { kind: 'delim', delim: r.delim };
    case 'bytes':
      if (!Number.isSafeInteger(r.n) || (r.n as number) < 1) throw bad(`bytes needs a whole number n >= 1 (got ${String(r.n)})`);
      return { kind: 'bytes', n: r.n as number };
    case 'idle':
      return { kind: 'idle', ms: checkDuration(r.ms, 'until idle: ms', { positive: true }) };
    default:
      throw bad(`kind must be eof, line, delim, bytes or idle (got ${JSON.stringify(String(r.kind))})`);
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

/**
 * Finds the end of one reply chunk by chunk, looking at each byte once: the
 * reply is never re-joined or re-scanned, so a 50 MB line costs what reading it
 * costs. Same ends as findReplyEnd() on the whole stream (a property test holds
 * it to that). A delimiter split across chunks is found by searching only the
 * last delim.length-1 bytes of what came before, joined to the new chunk's start.
 */
export class ReplyEndScanner {
  /** Bytes fed so far. */
  private offset = 0;
  /** The last (delim.length - 1) bytes fed, for a delimiter spanning chunks. */
  private tail: Buffer = Buffer.alloc(0);

  constructor(private readonly rule: EndRule) {}

  /** Whether replies end by bytes seen (line, delim, bytes) rather than by events (eof, idle). */
  get byBytes(): boolean {
    return this.rule.kind === 'line' || this.rule.kind === 'delim' || this.rule.kind === 'bytes';
  }

  /** Feed the next chunk; the end of the reply as an offset in the whole stream (exclusive), or -1. */
  push(chunk: Buffer): number {
    const base = this.offset;
    this.offset += chunk.length;
    const rule = this.rule;
    switch (rule.kind) {
      case 'line': {
        const i = chunk.indexOf(0x0a);
        return i < 0 ? -1 : base + i + 1;
      }
      case 'bytes':
        return this.offset >= rule.n ? rule.n : -1;
      case 'delim':
        return this.pushDelim(rule.delim, chunk, base);
      default:
        return -1;
    }
  }

  private pushDelim(delim: Buffer, chunk: Buffer, base: number): number {
    const keep = delim.length - 1;
    if (keep > 0 && this.tail.length > 0) {
      // A match starting in the tail ends within the chunk's first `keep` bytes.
      const seam = Buffer.concat([this.tail, chunk.subarray(0, keep)]);
      const i = seam.indexOf(delim);
      if (i >= 0) return base - this.tail.length + i + delim.length;
    }
    const i = chunk.indexOf(delim);
    if (i >= 0) return base + i + delim.length;
    if (keep > 0) {
      this.tail =
        chunk.length >= keep
          ? Buffer.from(chunk.subarray(chunk.length - keep))
          : Buffer.concat([this.tail, chunk]).subarray(-keep);
    }
    return -1;
  }
}
