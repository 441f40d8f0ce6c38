/**
 * RESP (Redis): the reply framer for RESP2 and RESP3: where each reply ends.
 * The command it answers is built by resp-command.ts; a kept reply is shown
 * by resp-render.ts.
 *
 * Why not a library: redis-parser (the maintained one, from NodeRedis) decodes
 * values into JS objects with callbacks, buffering whole replies; bench needs
 * only where each reply ends, per connection, without allocating. That is the
 * framer here: a stack of element counts (a fixed Float64Array) and a few numbers.
 */
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
