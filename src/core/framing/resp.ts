/**
 * RESP (Redis): the reply framer for RESP2 and RESP3, the command encoder,
 * and a decoder of a whole kept reply for display.
 *
 * Why not a library: redis-parser (the maintained one, from NodeRedis) decodes
 * values into JS objects with callbacks, buffering whole replies; bench needs
 * only where each reply ends, per connection, without allocating. That is the
 * framer here: a stack of element counts (a fixed Float64Array) and a few numbers.
 * The display decoder is small enough that a dependency would not pay for itself
 * (and redis-parser reads RESP2 only).
 */
import { UdsError } from '../errors.js';
import { keptBytes } from '../escape.js';
import { FRAME_ERROR, type Framer, NEED_MORE } from './framer.js';

/** Deepest nesting of aggregates accepted (Redis itself nests far less). */
export const MAX_DEPTH = 64;
/** Longest header or simple line (a number, +simple, -error). */
export const MAX_LINE = 64 * 1024;

// Phases.
const TYPE = 0; // the type byte of the next element
const LINE = 1; // the rest of its first line
const BULK = 2; // a bulk payload's bytes
const BULK_CR = 3; // the CRLF after it
const BULK_LF = 4;

// What the line is.
const K_SIMPLE = 0; // + - : _ , # (  : the line is the value
const K_BULK = 1; // $ = ! : a length, then that many bytes
const K_AGG = 2; // * ~ > : n elements
const K_MAP = 3; // % | : n pairs (| is an attribute: its pairs come before the element it annotates)

export class RespFramer implements Framer {
  readonly byBytes = true;
  readonly status = 0;
  readonly closing = false;
  failed = false;

  private phase = TYPE;
  private kind = K_SIMPLE;
  private attr = false;
  private neg = false;
  private num = 0;
  private digits = 0;
  private lineLen = 0;
  private left = 0;
  private topError = false;
  /** Elements still to read at each level; level 0 is the reply (1 element). */
  private readonly need = new Float64Array(MAX_DEPTH + 1);
  private depth = 0;
  private error: string | null = null;

  constructor() {
    this.need[0] = 1;
  }

  reset(): void {
    this.phase = TYPE;
    this.depth = 0;
    this.need[0] = 1;
    this.error = null;
    this.topError = false;
  }

  private fail(why: string): number {
    this.error = why;
    return FRAME_ERROR;
  }

  /** One element is complete: true when that completes the reply. */
  private elementDone(): boolean {
    for (;;) {
      if (--this.need[this.depth] > 0) return false;
      if (this.depth === 0) return true;
      this.depth--;
    }
  }

  private ended(at: number): number {
    this.failed = this.topError;
    this.topError = false;
    this.phase = TYPE;
    this.depth = 0;
    this.need[0] = 1;
    return at;
  }

  push(buf: Uint8Array, from: number, to: number): number {
    if (this.error !== null) return FRAME_ERROR;
    let i = from;
    while (i < to) {
      switch (this.phase) {
        case TYPE: {
          const c = buf[i++];
          this.lineLen = 0;
          this.num = 0;
          this.digits = 0;
          this.neg = false;
          this.attr = false;
          switch (c) {
            case 0x2b: // + simple string
            case 0x3a: // : integer
            case 0x5f: // _ null
            case 0x2c: // , double
            case 0x23: // # boolean
            case 0x28: // ( big number
              this.kind = K_SIMPLE;
              break;
            case 0x2d: // - error
              this.kind = K_SIMPLE;
              if (this.depth === 0) this.topError = true;
              break;
            case 0x24: // $ bulk string
            case 0x3d: // = verbatim string
              this.kind = K_BULK;
              break;
            case 0x21: // ! bulk error
              this.kind = K_BULK;
              if (this.depth === 0) this.topError = true;
              break;
            case 0x2a: // * array
            case 0x7e: // ~ set
            case 0x3e: // > push
              this.kind = K_AGG;
              break;
            case 0x25: // % map
              this.kind = K_MAP;
              break;
            case 0x7c: // | attribute
              this.kind = K_MAP;
              this.attr = true;
              break;
            default:
              return this.fail(`not a RESP reply: byte 0x${c.toString(16).padStart(2, '0')} where a type (+ - : $ * % ~ > _ , # ! = ( |) should be`);
          }
          this.phase = LINE;
          break;
        }
        case LINE: {
          const c = buf[i++];
          if (c === 0x0a) {
            const r = this.lineEnd(i);
            if (r !== NEED_MORE) return r;
            break;
          }
          if (++this.lineLen > MAX_LINE) return this.fail(`a RESP line over ${MAX_LINE} bytes`);
          if (this.kind === K_SIMPLE || c === 0x0d) break;
          if (c === 0x2d && this.lineLen === 1) this.neg = true;
          else if (c >= 0x30 && c <= 0x39) {
            // More than 15 digits cannot be a length anything could send (and would lose precision).
            if (++this.digits > 15) return this.fail('a RESP length too large (over 15 digits)');
            this.num = this.num * 10 + (c - 0x30);
          } else if (c === 0x3f && this.lineLen === 1) return this.fail('streamed RESP3 aggregates ($? / *?) are not supported');
          else return this.fail('a RESP length that is not a number');
          break;
        }
        case BULK: {
          const n = Math.min(this.left, to - i);
          this.left -= n;
          i += n;
          if (this.left === 0) this.phase = BULK_CR;
          break;
        }
        case BULK_CR:
          if (buf[i++] !== 0x0d) return this.fail('a RESP bulk string longer than its length said');
          this.phase = BULK_LF;
          break;
        default: // BULK_LF
          if (buf[i++] !== 0x0a) return this.fail('a RESP bulk string longer than its length said');
          this.phase = TYPE;
          if (this.elementDone()) return this.ended(i);
      }
    }
    return NEED_MORE;
  }

  /** The first line of an element ended just before `at`. */
  private lineEnd(at: number): number {
    this.phase = TYPE;
    if (this.kind === K_SIMPLE) return this.elementDone() ? this.ended(at) : NEED_MORE;
    if (this.digits === 0) return this.fail('a RESP length line without a number');
    if (this.neg) {
      // $-1 and *-1: RESP2's null.
      if (this.num !== 1) return this.fail(`a RESP length of -${this.num}`);
      return this.elementDone() ? this.ended(at) : NEED_MORE;
    }
    if (this.kind === K_BULK) {
      this.left = this.num;
      this.phase = this.num === 0 ? BULK_CR : BULK;
      return NEED_MORE;
    }
    const n = this.kind === K_MAP ? 2 * this.num : this.num;
    if (this.attr) {
      // An attribute is not an element: its pairs come, then the element it annotates.
      if (n === 0) return NEED_MORE;
      this.need[this.depth]++;
    } else if (n === 0) return this.elementDone() ? this.ended(at) : NEED_MORE;
    if (this.depth >= MAX_DEPTH) return this.fail(`RESP aggregates nested deeper than ${MAX_DEPTH}`);
    this.need[++this.depth] = n;
    return NEED_MORE;
  }

  endsAtClose(): boolean {
    return false;
  }

  describe(): string {
    if (this.error !== null) return this.error;
    if (this.phase === BULK) return `a RESP bulk string with ${this.left} of its bytes still to come`;
    if (this.phase === BULK_CR || this.phase === BULK_LF) return 'a RESP bulk string without its closing CRLF';
    if (this.depth > 0) return `a RESP aggregate with ${this.need[this.depth]} elements still to come (nesting ${this.depth})`;
    return this.phase === LINE ? 'a RESP line without its CRLF' : 'no reply yet';
  }
}

// ------------------------------------------------------------------ commands

/**
 * Split a command line as redis-cli does: words by blanks, '...' taken as
 * written, "..." with escapes (\n \r \t \xHH, \" \\). BAD_OPTION when empty
 * or a quote is left open.
 */
export function splitCommand(text: string): Buffer[] {
  // Words are built as "binary" strings (one char per byte): text as UTF-8, \xHH as that byte.
  const bin = (t: string): string => keptBytes(t).toString('latin1');
  const words: Buffer[] = [];
  let cur = '';
  let has = false;
  let i = 0;
  const word = (): void => void words.push(Buffer.from(cur, 'latin1'));
  while (i < text.length) {
    const c = text[i++];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (has) word();
      cur = '';
      has = false;
    } else if (c === "'") {
      const j = text.indexOf("'", i);
      if (j < 0) throw new UdsError('BAD_OPTION', `--resp: a ' is not closed in ${JSON.stringify(text)}`);
      cur += bin(text.slice(i, j));
      has = true;
      i = j + 1;
    } else if (c === '"') {
      has = true;
      for (;;) {
        if (i >= text.length) throw new UdsError('BAD_OPTION', `--resp: a " is not closed in ${JSON.stringify(text)}`);
        const d = text[i++];
        if (d === '"') break;
        if (d === '\\' && i < text.length) {
          // redis-cli's escapes in double quotes: \n \r \t \b \a \xHH; any other \c is c.
          const e = text[i++];
          const hex = e === 'x' ? /^[0-9a-fA-F]{2}/.exec(text.slice(i)) : null;
          if (hex) {
            cur += String.fromCharCode(parseInt(hex[0], 16));
            i += 2;
          } else cur += bin(({ n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' } as Record<string, string>)[e] ?? e);
        } else cur += bin(d);
      }
    } else {
      cur += bin(c);
      has = true;
    }
  }
  if (has) word();
  if (words.length === 0) throw new UdsError('BAD_OPTION', '--resp needs a command, like PING or "GET key"');
  return words;
}

/** A command as a RESP array of bulk strings (what redis-cli sends). */
export function encodeRespCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------ display

/**
 * How a reply is shown: `human` as redis-cli shows it on a terminal ("PONG",
 * (integer) 3, (nil), numbered lines for arrays, indented when nested); `raw`
 * as redis-cli --raw (and redis-cli to a pipe): the values themselves, one a
 * line, bulk strings as their bytes.
 */
export type RespDisplay = 'human' | 'raw';

export interface RespRenderOptions {
  display?: RespDisplay;
  /** human: each line's text through this (escapeText for a terminal); default as it is. */
  shown?: (text: string) => string;
  /** Output per piece next() returns, about (default 64 KiB). */
  chunk?: number;
}

/** A map key (human) is shown on one line, shortened to this many characters (it prefixes every line of its value). */
const MAX_KEY = 200;

const AGG = new Set([0x2a, 0x7e, 0x3e, 0x25, 0x7c]); // * ~ > % |
const LABEL: Record<number, string> = { 0x7e: '(set) ', 0x3e: '(push) ', 0x7c: '(attribute) ', 0x25: '(map) ' };

/** An open aggregate: its type byte, element count (pairs for maps, human), how many are done. */
interface Open {
  type: number;
  n: number;
  k: number;
  pairs: boolean;
}

/**
 * A kept reply rendered piece by piece, in one pass without recursion: next()
 * gives the next piece of output (about `chunk` bytes) or null when done, so a
 * caller writes as it goes, with back-pressure and a deadline, and memory
 * stays at a piece whatever the nesting (a line's prefix is built once, not
 * once per level). What cannot be read is shown as "(incomplete)", an
 * aggregate nested deeper than the framer allows as "(nested too deep)".
 */
export class RespRenderer {
  private pos: number;
  private readonly display: RespDisplay;
  private readonly shown: (text: string) => string;
  private readonly chunk: number;
  private readonly stack: Open[] = [];
  /** human: each open level's segment of a line prefix ("1) ", "2# key => ") and where unused ones start. */
  private readonly seg: string[] = [];
  private readonly segW: number[] = [0];
  private unused = 0;
  /** raw: inside an attribute (not shown) at this stack height and above; -1 when not. */
  private muteFrom = -1;
  private text = '';
  private bytes: Buffer[] = [];
  private size = 0;
  private finished = false;
  /** Why the reply could not be shown to its end, or null. */
  stopped: string | null = null;
  /** A key renderer: collect at most `cap` characters, stop at the end of one value. */
  private cap = Infinity;
  /** Text of a key renderer. */
  private keyText = '';

  constructor(
    private readonly buf: Buffer,
    opts: RespRenderOptions = {},
    start = 0,
    private readonly maxDepth = MAX_DEPTH,
  ) {
    this.pos = start;
    this.display = opts.display ?? 'human';
    this.shown = opts.shown ?? ((t) => t);
    this.chunk = opts.chunk ?? 64 * 1024;
  }

  /** The next piece of output, or null when the reply has been shown whole. */
  next(): Buffer | null {
    while (!this.finished && this.size < this.chunk) this.step();
    if (this.size === 0 && this.finished) return null;
    const out = this.display === 'raw' ? Buffer.concat(this.bytes) : Buffer.from(this.text);
    this.text = '';
    this.bytes = [];
    this.size = 0;
    return out;
  }

  /** The whole output as a string (for a small reply; the library's formatRespReply). */
  all(): string {
    const parts: Buffer[] = [];
    for (let p = this.next(); p !== null; p = this.next()) parts.push(p);
    return Buffer.concat(parts).toString('utf8');
  }

  // ---- output

  private line(text: string): void {
    const depth = this.seg.length;
    const u = Math.min(this.unused, depth);
    let prefix = pad(this.segW[u]);
    for (let i = u; i < depth; i++) prefix += this.seg[i];
    this.unused = depth;
    if (this.cap !== Infinity) {
      // A key: its lines joined by spaces, cut at the cap.
      if (this.keyText.length < this.cap) this.keyText = (this.keyText ? `${this.keyText} ` : '') + prefix + this.shown(text);
      return;
    }
    const s = `${prefix}${this.shown(text)}\n`;
    this.text += s;
    this.size += s.length;
  }

  private raw(b: Buffer | string): void {
    if (this.muteFrom >= 0) return;
    const piece = typeof b === 'string' ? Buffer.from(b) : b;
    this.bytes.push(piece);
    this.size += piece.length;
  }

  /**
   * The rest cannot be shown (`why`: "(incomplete)", a bad length, nesting too
   * deep): human shows it as the last line, raw leaves it to the caller
   * (`stopped`, for stderr: raw output is the values alone).
   */
  private stop(why: string): void {
    this.stopped = why;
    if (this.display === 'human') {
      this.seg.length = 0;
      this.line(why);
    }
    this.finished = true;
  }

  // ---- parsing

  /** The first line of an element at pos (after its type byte), without CR LF; null when it is not all there. */
  private readLine(): string | null {
    const nl = this.buf.indexOf(0x0a, this.pos);
    if (nl < 0) return null;
    const end = nl > this.pos && this.buf[nl - 1] === 0x0d ? nl - 1 : nl;
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = nl + 1;
    return s;
  }

  /** Read one element's header (and a bulk string's payload); show a scalar, open an aggregate. */
  private step(): void {
    if (this.pos >= this.buf.length) return this.stop('(incomplete)');
    const t = this.buf[this.pos++];
    const line = this.readLine();
    if (line === null) return this.stop('(incomplete)');
    const raw = this.display === 'raw';
    switch (t) {
      case 0x2b: // + simple string
        return this.scalar(line, line);
      case 0x2d: // - error
        return this.scalar(`(error) ${line}`, `${line}\n`);
      case 0x3a: // : integer
        return this.scalar(`(integer) ${line}`, line);
      case 0x5f: // _ null
        return this.scalar('(nil)', '');
      case 0x2c: // , double
        return this.scalar(`(double) ${line}`, line);
      case 0x23: // # boolean
        return this.scalar(line === 't' ? '(true)' : '(false)', line === 't' ? '(true)' : '(false)');
      case 0x28: // ( big number
        return this.scalar(`(big number) ${line}`, line);
      case 0x24: // $ bulk string
      case 0x3d: // = verbatim
      case 0x21: {
        // ! bulk error
        const n = respLength(line);
        if (n === null) return this.stop(`(bad length ${JSON.stringify(line)})`);
        if (n < 0) return this.scalar('(nil)', '');
        if (this.pos + n > this.buf.length) return this.stop('(incomplete)');
        const from = t === 0x3d ? Math.min(this.pos + 4, this.pos + n) : this.pos; // "txt:" / "mkd:"
        const body = this.buf.subarray(from, this.pos + n);
        this.pos += n + 2;
        if (raw) return this.scalar('', t === 0x21 ? Buffer.concat([body, Buffer.from('\n')]) : body);
        const s = body.toString('utf8');
        return this.scalar(t === 0x21 ? `(error) ${s}` : JSON.stringify(s), '');
      }
      default: {
        if (!AGG.has(t)) return this.scalar(`(unknown type ${JSON.stringify(String.fromCharCode(t))}) ${line}`, line);
        const n = respLength(line);
        if (n === null) return this.stop(`(bad length ${JSON.stringify(line)})`);
        if (n < 0) return this.scalar('(nil)', '');
        return this.open(t, n);
      }
    }
  }

  private scalar(human: string, raw: string | Buffer): void {
    if (this.display === 'raw') this.raw(raw);
    else this.line(human);
    this.valueDone();
  }

  private open(t: number, n: number): void {
    const pairs = t === 0x25 || t === 0x7c;
    const attr = t === 0x7c;
    const label = LABEL[t] ?? '';
    if (this.display === 'human') {
      if (n === 0) {
        this.line(`${label}${pairs ? '(empty map)' : '(empty array)'}`);
        // An attribute annotates the element that follows it: that comes next, in the same place.
        return attr ? undefined : this.valueDone();
      }
      if (label) this.line(label.trim());
    } else if (n === 0) return attr ? undefined : this.valueDone();
    if (this.stack.length >= this.maxDepth) return this.stop(`(nested too deep: over ${MAX_DEPTH} levels)`);
    if (attr && this.display === 'raw' && this.muteFrom < 0) this.muteFrom = this.stack.length;
    // raw: a map is its keys and values in turn; human: its pairs.
    this.stack.push({ type: t, n: pairs && this.display === 'raw' ? 2 * n : n, k: 0, pairs });
    this.seg.push('');
    this.segW.push(this.segW[this.segW.length - 1]);
    this.startElement();
  }

  /** Element k of the innermost aggregate begins: its head (human), its separator (raw). */
  private startElement(): void {
    const top = this.stack[this.stack.length - 1];
    const d = this.stack.length - 1;
    if (this.display === 'raw') {
      if (top.k > 0) this.raw(top.pairs && top.k % 2 === 1 ? ' ' : '\n');
      return;
    }
    let head = `${top.k + 1}${top.pairs ? '#' : ')'} `;
    if (top.pairs) {
      const key = this.readKey(d + 1);
      if (key === null) return;
      head += `${key} => `;
    }
    this.seg[d] = head;
    this.segW[d + 1] = this.segW[d] + head.length;
    this.unused = Math.min(this.unused, d);
  }

  /** A map key, rendered on its own (one line, cut at MAX_KEY); null when the reply ended in it. */
  private readKey(depth: number): string | null {
    const key = new RespRenderer(this.buf, { display: 'human', shown: this.shown }, this.pos, this.maxDepth - depth);
    key.cap = MAX_KEY;
    while (!key.finished) key.step();
    this.pos = key.pos;
    const text = key.keyText.length > MAX_KEY ? `${key.keyText.slice(0, MAX_KEY)}…` : key.keyText;
    if (key.stopped !== null) {
      this.stop(key.stopped);
      return null;
    }
    return text;
  }

  /** A value is complete: count it in its aggregate, closing those it completes. */
  private valueDone(): void {
    if (this.finished) return;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        this.finished = true;
        if (this.display === 'raw' && this.cap === Infinity) this.raw('\n');
        return;
      }
      if (++top.k < top.n) return this.startElement();
      this.stack.pop();
      this.seg.pop();
      this.segW.pop();
      if (this.muteFrom === this.stack.length) this.muteFrom = -1;
      // An attribute is not a value: the element it annotates follows.
      if (top.type === 0x7c) return;
    }
  }
}

const pads: string[] = [''];
/** n spaces (kept: a deep reply pads every line with one of a few widths). */
function pad(n: number): string {
  return n < 1024 ? (pads[n] ??= ' '.repeat(n)) : ' '.repeat(n);
}

/** A RESP length: an integer of at most 15 digits (what the framer accepts), -1 for null; null when it is not one. */
function respLength(line: string): number | null {
  return /^-?\d{1,15}$/.test(line) ? Number(line) : null;
}

/**
 * A kept reply as redis-cli shows it: "PONG", (integer) 3, (nil), (error) ERR ...,
 * numbered lines for arrays, indented when nested. Never throws: what it
 * cannot read is shown as "(incomplete)". Bulk contents are returned raw; the
 * caller escapes the whole text for the terminal. (RespRenderer gives it piece by piece.)
 */
export function formatRespReply(reply: Buffer, display: RespDisplay = 'human'): string {
  return new RespRenderer(reply, { display }).all().replace(/\n$/, '');
}
