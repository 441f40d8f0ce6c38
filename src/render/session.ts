/**
 * An interactive session on a terminal: the reply as lines, each chunk's
 * first line with its timing in a dim margin, every byte of the peer's
 * escaped (escapeText) or, for binary, hex-dumped: a peer's control bytes
 * never drive the terminal. A line the peer has not ended yet is held until
 * it ends or the command says it waited long enough (flush()). On a
 * seqpacket or dgram socket each message is one block (message()): its first
 * line carries the time, so where one message ends and the next begins shows.
 */
import type { ChalkInstance } from 'chalk';
import { escapeText } from '../core/escape.js';
import type { ReplyTiming, SessionEvent, SessionRecord } from '../core/session.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { hexdumpLines, looksBinary } from './hexdump.js';

/** A line the peer has not ended is held at most this many bytes, then shown as it is. */
export const MAX_HELD_LINE = 4096;

const MARGIN_WIDTH = 9;

/** "+0.4ms", "+12ms", "+3.2s": the time a reply took, for the margin. */
export function formatElapsed(us: number): string {
  if (us < 10_000) return `+${(us / 1000).toFixed(1)}ms`;
  if (us < 10_000_000) return `+${Math.round(us / 1000)}ms`;
  return `+${(us / 1_000_000).toFixed(1)}s`;
}

export class ReplyView {
  private held: Buffer = Buffer.alloc(0);
  private heldLabel: string | undefined;
  private offset = 0;

  /** `crlf`: the session sends CR LF line ends (--crlf), so a CR before a line's LF is a line end too, not shown. */
  constructor(
    private readonly color: ChalkInstance,
    private readonly opts: { crlf?: boolean } = {},
  ) {}

  /** Whether a line the peer has not ended is held. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  private margin(label: string | undefined): string {
    return this.color.dim(`${(label ?? '').padStart(MARGIN_WIDTH)} │ `);
  }

  /** The text to show for a chunk (the chunk may be reused after the call: nothing of it is kept but a copy). */
  chunk(bytes: Buffer, timing: ReplyTiming): string {
    const label = this.heldLabel ?? formatElapsed(timing.sinceSendUs);
    const all = this.held.length > 0 ? Buffer.concat([this.held, bytes]) : bytes;
    const lastNl = all.lastIndexOf(0x0a);
    const complete = lastNl >= 0 ? all.subarray(0, lastNl + 1) : all.subarray(0, 0);
    let rest = all.subarray(lastNl + 1);
    let out = complete.length > 0 ? this.lines(complete, label) : '';
    if (rest.length > MAX_HELD_LINE) {
      out += this.unended(rest, complete.length > 0 ? undefined : label);
      rest = rest.subarray(rest.length);
    }
    this.held = Buffer.from(rest);
    this.heldLabel = rest.length > 0 ? (complete.length > 0 ? formatElapsed(timing.sinceSendUs) : label) : undefined;
    return out;
  }

  /**
   * One whole message (seqpacket, dgram) as one block: the margin's time on its
   * first line only, a message without a final newline shown as it is (that is
   * where the message ends, not a line to hold), an empty one said so.
   */
  message(bytes: Buffer, timing: ReplyTiming): string {
    const label = formatElapsed(timing.sinceSendUs);
    const whole = timing.messageBytes ?? bytes.length;
    const cut = whole > bytes.length ? `${this.margin(undefined)}${this.color.dim(`(message of ${whole} bytes: the first ${bytes.length} shown)`)}\n` : '';
    if (bytes.length === 0) return `${this.margin(label)}${this.color.dim('(empty message)')}\n`;
    this.offset = 0; // a hex dump counts from the message's start
    let body = bytes[bytes.length - 1] === 0x0a && !looksBinary(bytes) ? bytes.subarray(0, bytes.length - 1) : bytes;
    if (this.opts.crlf && body !== bytes && body[body.length - 1] === 0x0d) body = body.subarray(0, body.length - 1);
    return this.lines(body.length > 0 ? body : bytes, label) + cut;
  }

  /** The held line, shown now and marked as not ended by the peer ('' when none is held). */
  flush(): string {
    if (this.held.length === 0) return '';
    const out = this.unended(this.held, this.heldLabel);
    this.held = Buffer.alloc(0);
    this.heldLabel = undefined;
    return out;
  }

  private unended(bytes: Buffer, label: string | undefined): string {
    return this.lines(bytes, label).replace(/\n$/, `${this.color.dim(' (no newline)')}\n`);
  }

  /** Bytes as margin + text lines; binary as a hex dump. */
  private lines(bytes: Buffer, label: string | undefined): string {
    let out = '';
    if (looksBinary(bytes)) {
      for (const line of hexdumpLines(bytes, { offset: this.offset })) {
        out += `${this.margin(label)}${line}\n`;
        label = undefined;
      }
    } else {
      let start = 0;
      while (start < bytes.length) {
        const nl = bytes.indexOf(0x0a, start);
        const end = nl < 0 ? bytes.length : nl;
        const shown = this.opts.crlf && nl > start && bytes[nl - 1] === 0x0d ? nl - 1 : end;
        out += `${this.margin(label)}${escapeText(bytes.subarray(start, shown))}\n`;
        label = undefined;
        start = end + 1;
      }
    }
    this.offset += bytes.length;
    return out;
  }
}

const TYPE_NOTE: Readonly<Record<SocketType, string>> = {
  stream: '',
  seqpacket: ' (seqpacket: each line is one message)',
  dgram: ' (dgram: each line is one datagram, replies to an address of our own)',
};

/** A status line for stderr (without the newline), or undefined for an event not worth a line. */
export function sessionStatusLine(event: SessionEvent, color: ChalkInstance, onTerminal: boolean): string | undefined {
  const tag = color.dim('udsctl:');
  switch (event.type) {
    case 'connected':
      return `${tag} connected to ${escapeText(event.target)}${TYPE_NOTE[event.socketType]}${onTerminal ? '; type lines to send them (Ctrl-D: end input and wait for the server; Ctrl-C: quit)' : ''}`;
    case 'input-ended':
      return event.halfClosed
        ? `${tag} end of input sent (half-close); waiting up to ${event.waitMs}ms for the server to close`
        : `${tag} end of input; waiting ${event.waitMs}ms for more replies`;
    case 'server-closed':
      return `${tag} ${color.yellow('server closed the connection')}`;
    case 'reset':
      return `${tag} ${color.red('connection reset by the server')}`;
  }
}

/** The last status line: bytes each way and how long, or undefined when an error line says it all. */
export function sessionSummary(record: SessionRecord, color: ChalkInstance): string {
  const secs = (record.timings.totalUs / 1_000_000).toFixed(1);
  if (record.messagesSent !== undefined) {
    const m = (n: number, bytes: number) => `${n} message${n === 1 ? '' : 's'} (${bytes} bytes)`;
    return `${color.dim('udsctl:')} ${m(record.messagesSent, record.bytesSent)} sent, ${m(record.messagesReceived ?? 0, record.bytesReceived)} received in ${secs}s`;
  }
  return `${color.dim('udsctl:')} ${record.bytesSent} bytes sent, ${record.bytesReceived} received in ${secs}s`;
}
