import { parseDuration } from './duration.js';
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
  if (s.startsWith('idle:')) return { kind: 'idle', ms: parseDuration(s.slice(5), '--until idle:') };
  throw new UdsError('BAD_OPTION', `--until must be one of ${END_RULE_HELP} (got "${s}")`);
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
