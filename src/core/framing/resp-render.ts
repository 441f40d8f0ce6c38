/**
 * RESP (Redis): a kept reply rendered for display, as redis-cli shows it
 * (human) or as redis-cli --raw does, piece by piece. The framer that finds
 * where the reply ends is resp.ts.
 *
 * Why not a library: the display is small enough that a dependency would not
 * pay for itself (and redis-parser, the maintained one, reads RESP2 only).
 */
import { MAX_DEPTH } from './resp.js';

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
