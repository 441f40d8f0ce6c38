import { UdsError } from './errors.js';

const SIMPLE: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, '0': 0x00, '\\': 0x5c, e: 0x1b, a: 0x07 };

/** Turn `\r\n`, `\t`, `\0`, `\\`, `\xHH` escapes into bytes; other text is UTF-8 (bytes kept by decodeKeepingBytes as themselves). */
export function unescapeText(text: string): Buffer {
  const out: number[] = [];
  const src = keptBytes(text);
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c !== 0x5c || i === src.length - 1) {
      out.push(c);
      continue;
    }
    const next = String.fromCharCode(src[++i]);
    if (next in SIMPLE) out.push(SIMPLE[next]);
    else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(src.subarray(i + 1, i + 3).toString())) {
      out.push(parseInt(src.subarray(i + 1, i + 3).toString(), 16));
      i += 2;
    } else {
      out.push(0x5c, src[i]);
    }
  }
  return Buffer.from(out);
}

/** Parse hex text (spaces and colons allowed between bytes) into bytes. */
export function parseHex(text: string): Buffer {
  const clean = text.replace(/[\s:]/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new UdsError('BAD_OPTION', `--hex needs pairs of hex digits like "48 69 0a" (got "${text}")`);
  }
  return Buffer.from(clean, 'hex');
}

/**
 * Parse a message, payload or expected text given on the command line: escapes
 * (\n \r \t \0 \\ \xHH, also \e \a) become bytes, unless `literal`, when the
 * text is sent as written (UTF-8). send, probe --send/--expect and bench
 * --payload/--expect all go through here, so they agree.
 */
export function parseMessage(text: string, literal = false): Buffer {
  return literal ? keptBytes(text) : unescapeText(text);
}

// ---------------------------------------------------------------------------
// Untrusted text on its way to a terminal, a log line or Nagios.

/** Options of escapeText. */
export interface EscapeOptions {
  /** Wrap in double quotes, escaping `"` and `\` too (a preview of bytes). */
  quote?: boolean;
  /** Keep at most this many characters of the escaped text (quotes aside); a cut ends in `…`. */
  max?: number;
}

/** Characters that may not reach a terminal raw: controls (C0, DEL, C1), format (bidi, zero-width, BOM), line/paragraph separators, surrogates. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const QUOTE_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}"\\]/u;

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** The shown form of one code point, or undefined when it may be shown as it is. */
function escapeCodePoint(cp: number, quote: boolean): string | undefined {
  if (cp >= 0x20 && cp < 0x7f) {
    if (quote && (cp === 0x22 || cp === 0x5c)) return cp === 0x22 ? '\\"' : '\\\\';
    return undefined;
  }
  if (cp === 0x0a) return '\\n';
  if (cp === 0x0d) return '\\r';
  if (cp === 0x09) return '\\t';
  if (cp < 0x80) return `\\x${hex2(cp)}`;
  // A lone low surrogate U+DC80..U+DCFF stands for a byte that was not UTF-8 (decodeKeepingBytes).
  if (cp >= 0xdc80 && cp <= 0xdcff) return `\\x${hex2(cp - 0xdc00)}`;
  if (cp < 0xa0 || UNSAFE.test(String.fromCodePoint(cp))) {
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  }
  return undefined;
}

/** The code point of the valid UTF-8 sequence seqLen() last measured. */
let seqCp = 0;

/** Length of the well-formed UTF-8 sequence at b[i] (Unicode table 3-7), or 0 if there is none. */
function seqLen(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  if (c < 0x80) {
    seqCp = c;
    return 1;
  }
  if (c < 0xc2 || c > 0xf4) return 0;
  if (c < 0xe0) {
    if (i + 1 >= end || (b[i + 1] & 0xc0) !== 0x80) return 0;
    seqCp = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
    return 2;
  }
  let lo = 0x80;
  let hi = 0xbf;
  if (c === 0xe0) lo = 0xa0;
  else if (c === 0xed) hi = 0x9f;
  else if (c === 0xf0) lo = 0x90;
  else if (c === 0xf4) hi = 0x8f;
  const n = c < 0xf0 ? 3 : 4;
  if (i + n > end) return 0;
  const c1 = b[i + 1];
  if (c1 < lo || c1 > hi) return 0;
  let v = ((c & (n === 3 ? 0x0f : 0x07)) << 6) | (c1 & 0x3f);
  for (let k = 2; k < n; k++) {
    const ck = b[i + k];
    if ((ck & 0xc0) !== 0x80) return 0;
    v = (v << 6) | (ck & 0x3f);
  }
  seqCp = v;
  return n;
}

/** Gathers the escaped text, stopping at `max` characters without cutting an escape in two. */
class Out {
  text = '';
  cut = false;
  constructor(private readonly max: number) {}
  /** Add a piece; `divisible` text may be cut to what fits (never inside a surrogate pair), an escape may not. */
  add(piece: string, divisible = false): boolean {
    if (this.text.length + piece.length > this.max) {
      if (divisible) {
        let room = this.max - this.text.length;
        const c = piece.charCodeAt(room - 1);
        if (room > 0 && c >= 0xd800 && c <= 0xdbff) room--;
        this.text += piece.slice(0, Math.max(0, room));
      }
      this.cut = true;
      return false;
    }
    this.text += piece;
    return true;
  }
}

/**
 * THE escaping function for untrusted text (replies, requests, process names,
 * command lines, symlink targets, file and user names, peer data in error
 * messages) on its way to a terminal, a log line or Nagios output. Shown as
 * escapes: C0 controls (`\n` `\r` `\t`, others `\xHH`), DEL (`\x7f`), C1
 * controls (`\u009b`), format characters such as bidi overrides and
 * zero-width ones (`\u202e`, `\u200b`, `\ufeff`), line and paragraph
 * separators, lone surrogates, and bytes that are not UTF-8 (`\xHH`; for a
 * string, the U+DC80..U+DCFF stand-ins of decodeKeepingBytes). Everything else,
 * wide characters included, is kept. Unquoted, a backslash stays as it is (text
 * escaped twice stays the same); quoted, `"` and `\` are escaped too. JSON
 * output keeps the exact values and does not come here.
 */
export function escapeText(input: string | Uint8Array, options: EscapeOptions = {}): string {
  const quote = options.quote === true;
  const max = options.max ?? Infinity;
  const q = quote ? '"' : '';
  if (typeof input === 'string') {
    if (!(quote ? QUOTE_UNSAFE : UNSAFE).test(input) && input.length <= max) return q + input + q;
    const out = new Out(max);
    for (const ch of input) {
      const e = escapeCodePoint(ch.codePointAt(0)!, quote);
      if (!out.add(e ?? ch)) break;
    }
    return q + out.text + (out.cut ? '…' : '') + q;
  }
  const out = new Out(max);
  const end = input.length;
  let plain = 0; // start of the run of bytes shown as they are
  let i = 0;
  const flush = (to: number) => (plain < to ? out.add(Buffer.from(input.buffer, input.byteOffset + plain, to - plain).toString('utf8'), true) : true);
  while (i < end) {
    const n = seqLen(input, i, end);
    const e = n === 0 ? `\\x${hex2(input[i])}` : escapeCodePoint(seqCp, quote);
    if (e === undefined) {
      i += n;
      continue;
    }
    if (!flush(i) || !out.add(e)) break;
    i += n || 1;
    plain = i;
  }
  if (!out.cut) flush(end);
  return q + out.text + (out.cut ? '…' : '') + q;
}

/**
 * Decode bytes as UTF-8 without losing the bytes that are not: each becomes a
 * lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"), which
 * escapeText shows as `\xHH` and fromKeptBytes() turns into U+FFFD for JSON.
 * Valid text decodes as Buffer#toString would.
 */
export function decodeKeepingBytes(b: Buffer, start = 0, end = b.length): string {
  const s = b.toString('utf8', start, end);
  if (!s.includes('\ufffd')) return s;
  let out = '';
  let plain = start;
  let i = start;
  while (i < end) {
    const n = seqLen(b, i, end);
    if (n > 0) {
      i += n;
      continue;
    }
    out += b.toString('utf8', plain, i) + String.fromCharCode(0xdc00 + b[i]);
    plain = ++i;
  }
  return out + b.toString('utf8', plain, end);
}

const KEPT_BYTE = /[\udc80-\udcff]/u;
const KEPT_BYTES_G = /[\udc80-\udcff]+/gu;

/** Whether a string holds bytes that were not UTF-8 (decodeKeepingBytes' stand-ins). */
export const hasKeptBytes = (s: string): boolean => KEPT_BYTE.test(s);

/**
 * The bytes a decodeKeepingBytes() string stands for: UTF-8, each stand-in
 * U+DC80..U+DCFF as its byte. The CLI's arguments arrive so (io.ts
 * exactArgv): a message or path given as `$(printf 'A\xff')` keeps its 0xff.
 */
export function keptBytes(s: string): Buffer {
  if (!KEPT_BYTE.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let plain = 0;
  for (const m of s.matchAll(KEPT_BYTES_G)) {
    parts.push(Buffer.from(s.slice(plain, m.index), 'utf8'), Buffer.from(Array.from(m[0], (ch) => ch.charCodeAt(0) - 0xdc00)));
    plain = m.index + m[0].length;
  }
  parts.push(Buffer.from(s.slice(plain), 'utf8'));
  return Buffer.concat(parts);
}

/** A decodeKeepingBytes() string as Buffer#toString would have decoded it (U+FFFD for the bytes that were not UTF-8): for JSON. */
export function fromKeptBytes(s: string): string {
  if (!KEPT_BYTE.test(s)) return s;
  // Each run of kept bytes decoded alone: the U+FFFDs Buffer#toString makes of it (one per maximal subpart).
  return s.replace(KEPT_BYTES_G, (run) => Buffer.from(Array.from(run, (ch) => ch.charCodeAt(0) - 0xdc00)).toString('utf8'));
}
