/**
 * --expect-regex in linear time. JavaScript's RegExp backtracks: `(a+)+$`
 * against forty `a`s and a `!` runs for minutes, and the reply is chosen by the
 * peer. RE2's automaton (the `re2js` package, a pure-JS port) matches in time
 * linear in the reply, so the check stays inside the deadline whatever the
 * server sends. What only backtracking can do (backreferences, lookaround) is
 * refused with a usage error naming the construct.
 */
import { createRequire } from 'node:module';
import { UdsError } from './errors.js';

interface Re2Pattern {
  matcher(input: string): { find(): boolean };
}
interface Re2Module {
  RE2JS: {
    compile(source: string, flags?: number): Re2Pattern;
    CASE_INSENSITIVE: number;
    DOTALL: number;
    MULTILINE: number;
  };
}

/**
 * Linear is not free: RE2's automaton takes up to ~1 s per MiB for patterns
 * like `(a+)+$` in pure JavaScript. The text matched is cut here, so a reply
 * kept whole under a large --max-reply cannot hold the check for minutes.
 */
export const MAX_REGEX_INPUT = 1024 * 1024;

let re2: Re2Module | undefined;
// Loaded on first use: only a probe with --expect-regex pays for it.
const lib = (): Re2Module => (re2 ??= createRequire(import.meta.url)('re2js') as Re2Module);

/** A compiled linear-time pattern: `source` as given, `test` finds it anywhere in the text. */
export interface LinearRegex {
  readonly source: string;
  readonly flags: string;
  test(text: string): boolean;
  toString(): string;
}

/** A pattern in a report: a long one (a user's 79,000 characters) shortened, with its length. */
const SHOWN_PATTERN = 120;
function shownPattern(source: string, flags: string): string {
  if (source.length <= SHOWN_PATTERN) return `/${source}/${flags}`;
  const cut = /[\ud800-\udbff]$/.test(source.slice(0, SHOWN_PATTERN)) ? SHOWN_PATTERN - 1 : SHOWN_PATTERN;
  return `/${source.slice(0, cut)}…/${flags} (${source.length} characters)`;
}

/** Constructs RE2 cannot run in linear time, with the words for them. */
const UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/\\[1-9]/, 'backreferences (\\1 ...)'],
  [/\\k</, 'named backreferences (\\k<name>)'],
  [/\(\?<[=!]/, 'lookbehind ((?<= ...) / (?<! ...))'],
  [/\(\?[=!]/, 'lookahead ((?= ...) / (?! ...))'],
];

/** Strip escaped characters and character classes, so `[(?=]` or `\(?=` are not taken for lookahead. */
function outsideClasses(source: string): string {
  return source.replace(/\\[^1-9k]|\[(?:\\.|[^\]\\])*\]/g, '_');
}

/**
 * Compile `source` (with JavaScript flags i, m, s; g and y are ignored) for
 * linear-time matching. A RegExp is taken by its source and flags. Unsupported
 * syntax is BAD_OPTION naming the construct.
 */
export function compileLinearRegex(pattern: string | RegExp, what = '--expect-regex'): LinearRegex {
  const source = typeof pattern === 'string' ? pattern : pattern instanceof RegExp ? pattern.source : undefined;
  if (source === undefined) throw new UdsError('BAD_OPTION', `${what} must be a string or a RegExp (got ${typeof pattern})`);
  const jsFlags = typeof pattern === 'string' ? '' : pattern.flags;
  // The CLI compiles for an early usage error, then the probe settings again: a long pattern costs once.
  if (last && last.source === source && last.flags === jsFlags) return last;
  last = compile(source, jsFlags, what);
  return last;
}

let last: LinearRegex | undefined;

function compile(source: string, jsFlags: string, what: string): LinearRegex {
  const plain = outsideClasses(source);
  for (const [re, name] of UNSUPPORTED) {
    if (re.test(plain)) {
      throw new UdsError('BAD_OPTION', `${what}: ${name} are not supported (matching runs in linear time, with RE2 syntax)`);
    }
  }
  const { RE2JS } = lib();
  let flags = 0;
  for (const f of jsFlags) {
    if (f === 'i') flags |= RE2JS.CASE_INSENSITIVE;
    else if (f === 'm') flags |= RE2JS.MULTILINE;
    else if (f === 's') flags |= RE2JS.DOTALL;
    else if (f !== 'g' && f !== 'y' && f !== 'u' && f !== 'd') {
      throw new UdsError('BAD_OPTION', `${what}: flag "${f}" is not supported`);
    }
  }
  let compiled: Re2Pattern;
  try {
    compiled = RE2JS.compile(source, flags);
  } catch (err) {
    const msg = (err as Error).message.replace(/^error parsing regexp: /, '');
    throw new UdsError('BAD_OPTION', `${what}: ${msg} (RE2 syntax; matching runs in linear time)`);
  }
  return {
    source,
    flags: jsFlags,
    test: (text: string) => compiled.matcher(text.length > MAX_REGEX_INPUT ? text.slice(0, MAX_REGEX_INPUT) : text).find(),
    toString: () => shownPattern(source, jsFlags),
  };
}
