/**
 * An interactive session (`send --interactive`, nc's everyday use): connect,
 * then move bytes both ways at once until one side ends it. Events in (input
 * chunks, the input's end, an interrupt, the output draining) and events out
 * (each chunk of reply with its timing, the server's close or reset, the
 * record at the end); it prints nothing and owns no terminal. The command
 * decides what the user sees.
 *
 * One session on every socket type, over the connection seam (conn.ts): a
 * node:net stream, or a seqpacket or dgram socket (socket/message-conn.ts).
 * What the socket type means is all that differs:
 * - on seqpacket and dgram each line of the input (up to and with its `\n`,
 *   `\r\n` with crlf) is one message, what is left at the end of the input
 *   one more, and each message received is one onData call (boundaries kept);
 * - the end of our input shuts our write side down (stream, seqpacket: the
 *   server reads end-of-file) and waits for the server's close; dgram has
 *   nothing to close, so it waits `timeout` for more datagrams and ends
 *   (`waited`); a receiver that has answered nothing (sd_notify, syslog) gets
 *   only a short grace (NO_REPLY_GRACE_MS) for a first answer, so a piped
 *   session ends at once.
 *
 * Bounds: connecting (connectTimeout); after our input ends, the server's
 * close (timeout); input the server does not take (its receive queue full)
 * and output nobody takes (the sink full), each at most `timeout`. An idle
 * session is not bounded: waiting for the user is its point.
 */
import { nowUs } from './clock.js';
import { type Conn, type OpenConn, openConn } from './conn.js';
import { CrlfLines } from './crlf.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './defaults.js';
import { checkDuration } from './duration.js';
import { UdsError, closedEarlyError, fromConnectErrno, resetError } from './errors.js';
import { detachPayload } from './exchange-record.js';
import type { ReplyTiming, SessionEnd, SessionEvent, SessionOptions, SessionRecord } from './session-types.js';
import { MAX_MESSAGE } from './socket/message-conn.js';
import { type SocketType, parseSocketType, socketTypeCandidates } from './socket/socket-type.js';
import { type Target, checkTarget } from './socket/target.js';

export { CrlfLines } from './crlf.js';
export type { ReplyTiming, SessionEnd, SessionEvent, SessionOptions, SessionRecord } from './session-types.js';

/** dgram, end of input, nothing received yet: how long a first reply may still take before the session ends. */
export const NO_REPLY_GRACE_MS = 250;

/** A running session: its result, and the events the caller feeds in. */
export interface SessionHandle {
  readonly done: Promise<SessionRecord>;
  /** The output took what onData gave it (after onData returned false): reading resumes. */
  outputDrained(): void;
}

/**
 * Start a session. Never rejects for a socket failure (the record carries the
 * typed error); throws a UdsError for bad options. The socket type is
 * `socketType`, else the one /proc/net/unix lists (a hint, tried first), else the first of stream,
 * seqpacket, dgram that connects (the kernel says EPROTOTYPE to the others).
 */
export function startSession(target: Target | string, opts: SessionOptions = {}): SessionHandle {
  const t = checkTarget(target);
  const connectTimeout = checkDuration(opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeout', { positive: true });
  const timeout = checkDuration(opts.timeout ?? DEFAULT_TIMEOUT_MS, 'timeout', { positive: true });
  const forced = opts.socketType === undefined ? undefined : parseSocketType(opts.socketType, 'socketType');
  if (t.kind === 'tcp' && forced && forced !== 'stream') throw new UdsError('BAD_OPTION', `${t.display}: TCP is a stream; --type ${forced} is for Unix sockets`);
  checkCallers(opts);
  const start = nowUs();
  let session: Session | undefined;
  const failed = (err: unknown, type?: SocketType): SessionRecord => {
    const error = err instanceof UdsError ? err : fromConnectErrno(err as NodeJS.ErrnoException, t.display);
    const interrupted = opts.signal?.aborted === true;
    return {
      target: t.display,
      ok: false,
      end: interrupted ? 'interrupted' : 'error',
      bytesSent: 0,
      bytesReceived: 0,
      halfClosed: false,
      ...(type ? { socketType: type } : {}),
      timings: { totalUs: Math.round(nowUs() - start) },
      ...(interrupted ? {} : { error }),
    };
  };
  const done = (async (): Promise<SessionRecord> => {
    const { types } = await socketTypeCandidates(t, forced);
    for (const [i, type] of types.entries()) {
      let open: OpenConn;
      try {
        // dgram: an address of our own first (bindReply), so that the server's datagrams can come back.
        open = await openConn(t, type, { connectTimeout, signal: opts.signal, bindReply: true, readLeft: opts.input !== undefined, unit: (n) => `a line of ${n} bytes` });
      } catch (err) {
        // Not this type, and more to try (/proc/net/unix did not say, or said wrong: a forged row).
        if (i < types.length - 1 && err instanceof UdsError && err.code === 'WRONG_TYPE') continue;
        return failed(err, type);
      }
      session = new Session(open, t.display, { ...opts, timeout }, start);
      return session.run();
    }
    return failed(new UdsError('WRONG_TYPE', `${t.display}: not a stream, seqpacket or dgram socket`, { target: t.display }), undefined);
  })();
  return { done, outputDrained: () => session?.outputDrained() };
}

/** A library caller's input and callbacks, checked as exchange() checks its own: BAD_OPTION, never a TypeError from a socket callback. */
function checkCallers(opts: SessionOptions): void {
  if (opts.input !== undefined) {
    const input = opts.input as unknown as Record<string, unknown> | null;
    const missing = ['on', 'once', 'removeListener', 'pause', 'resume'].filter((m) => typeof input !== 'object' || input === null || typeof input[m] !== 'function');
    if (missing.length > 0) throw new UdsError('BAD_OPTION', `input must be a readable stream (it has no ${missing.join('(), ')}())`);
  }
  for (const k of ['onData', 'onEvent'] as const) {
    if (opts[k] !== undefined && typeof opts[k] !== 'function') throw new UdsError('BAD_OPTION', `${k} must be a function`);
  }
}

interface Settings extends SessionOptions {
  timeout: number;
}

/** seqpacket, dgram: each line of the input (with its `\n`) is one message; what is left at the end is one more. */
class LineMessages {
  private partial: Buffer[] = [];
  private bytes = 0;

  /** Each whole line of `chunk` to `send` (a copy: the chunk's buffer may be reused); false when a line is longer than a message may be. */
  push(chunk: Buffer, send: (line: Buffer) => void): boolean {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      if (!this.add(chunk.subarray(from, nl + 1))) return false;
      this.flush(send);
      from = nl + 1;
    }
    return this.add(chunk.subarray(from));
  }

  /** The line begun and not ended, as one message (the end of the input). */
  flush(send: (line: Buffer) => void): void {
    if (this.bytes === 0) return;
    const line = this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial, this.bytes);
    this.partial = [];
    this.bytes = 0;
    send(line);
  }

  private add(bytes: Buffer): boolean {
    if (bytes.length === 0) return true;
    if (this.bytes + bytes.length > MAX_MESSAGE) return false;
    this.partial.push(Buffer.from(bytes));
    this.bytes += bytes.length;
    return true;
  }
}

class Session {
  private settled = false;
  private resolve!: (r: SessionRecord) => void;
  private received = 0;
  private sent = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private writesInFlight = 0;
  private lastSendUs = -1;
  private halfClosed = false;
  private inputEnded = false;
  private endStarted = false;
  private readonly timings: SessionRecord['timings'] = { totalUs: 0 };
  private readonly crlf?: CrlfLines;
  /** Message sockets: the input cut into lines, one message each. */
  private readonly lines?: LineMessages;
  /** One timer per bound that may be running: the input stuck, the output stuck, the end (the close after ours, or dgram's wait). */
  private inputStuckTimer?: NodeJS.Timeout;
  private outputStuckTimer?: NodeJS.Timeout;
  private endTimer?: NodeJS.Timeout;
  private outputFull = false;
  private waitingDrain = false;
  private readingLeft = false;
  private readonly conn: Conn;
  private readonly type: SocketType;

  constructor(
    private readonly open: OpenConn,
    private readonly target: string,
    private readonly s: Settings,
    private readonly start: number,
  ) {
    this.conn = open.conn;
    this.type = open.type;
    this.crlf = s.crlf ? new CrlfLines() : undefined;
    if (this.type !== 'stream') this.lines = new LineMessages();
    this.timings.connectedUs = nowUs() - start;
  }

  private now(): number {
    return nowUs() - this.start;
  }

  run(): Promise<SessionRecord> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      const { conn, s } = this;
      if (s.signal?.aborted) return this.finish('interrupted');
      s.signal?.addEventListener('abort', this.onAbort, { once: true });
      conn.on('end', this.onServerEnd);
      conn.on('close', this.onServerEnd);
      conn.on('error', this.onError);
      this.event({ type: 'connected', target: this.target, atUs: this.timings.connectedUs!, socketType: this.type });
      if (this.settled) return;
      const input = s.input;
      if (input) {
        input.on('data', this.onInput);
        input.once('end', this.onInputEnd);
        input.once('error', this.onInputError);
        input.resume();
      }
      this.open.start(this.onChunk);
    });
  }

  private readonly onAbort = (): void => this.finish('interrupted');

  // Receiving: a chunk of a stream, or one whole message, a call of onData.

  private readonly onChunk = (chunk: Buffer, whole: number): boolean => {
    if (this.settled) return false;
    const at = this.now();
    this.timings.firstByteUs ??= at;
    if (this.lines) {
      // dgram's grace after our end of input: this receiver answers, so wait the whole timeout for more.
      if (this.messagesIn === 0 && this.endStarted && this.type === 'dgram') this.armEnd(this.s.timeout);
      this.messagesIn++;
    }
    this.received += whole;
    const afterSend = this.lastSendUs >= 0;
    const sinceSendUs = at - (afterSend ? this.lastSendUs : this.timings.connectedUs!);
    const timing: ReplyTiming = this.lines ? { sinceSendUs, atUs: at, afterSend, messageBytes: whole } : { sinceSendUs, atUs: at, afterSend };
    let more = true;
    if (this.s.onData) {
      try {
        more = this.s.onData(chunk, timing) !== false;
      } catch (err) {
        return this.callerThrew('onData', err);
      }
    }
    if (more || this.settled) return !this.settled;
    // The output is full: stop reading (pause() first, so resume() restarts what returning false stops), bounded.
    this.outputFull = true;
    this.conn.pause();
    this.outputStuckTimer = setTimeout(this.outputStuck, this.s.timeout);
    return false;
  };

  outputDrained(): void {
    if (!this.outputFull || this.settled) return;
    this.outputFull = false;
    clearTimeout(this.outputStuckTimer);
    this.conn.resume();
  }

  private readonly outputStuck = (): void =>
    this.finish(
      'timeout',
      new UdsError('IO_ERROR', `${this.target}: the reply's reader took nothing for ${this.s.timeout}ms`, { target: this.target, timeoutMs: this.s.timeout }),
    );

  // Input → socket, with backpressure: the input pauses while the server's queue is full, at most --timeout.

  private readonly onInput = (c: Buffer | string): void => {
    if (this.settled) return;
    const original = typeof c === 'string' ? Buffer.from(c) : c;
    if (original.length === 0) return;
    const chunk = this.crlf ? this.crlf.convert(original) : original;
    if (!this.lines) return this.send(chunk, original);
    const fits = this.lines.push(chunk, this.send);
    // A reader that reuses its buffers (PooledFdReader) may have this one back: the lines are copies.
    this.s.input?.release?.(original);
    if (!fits) this.lineTooLong();
  };

  /** One write (on a message socket, one message); `original`: the input's buffer, given back once written. */
  private readonly send = (chunk: Buffer, original?: Buffer): void => {
    if (this.settled) return;
    this.lastSendUs = this.now();
    this.writesInFlight++;
    const ok = this.conn.write(chunk, (err) => {
      this.writesInFlight--;
      // A reader that reuses its buffers (PooledFdReader) may have this one back.
      if (original) this.s.input?.release?.(original);
      if (err || this.settled) return; // the 'error' event reports it
      this.sent += chunk.length;
      if (this.lines) this.messagesOut++;
      if (this.inputEnded) this.endOfInput();
    });
    if (ok || this.settled || this.waitingDrain) return;
    this.waitingDrain = true;
    this.s.input?.pause();
    this.conn.once('drain', this.onConnDrain);
    this.inputStuckTimer = setTimeout(this.inputStuck, this.s.timeout);
  };

  private readonly onConnDrain = (): void => {
    this.waitingDrain = false;
    clearTimeout(this.inputStuckTimer);
    if (!this.settled && !this.inputEnded) this.s.input?.resume();
  };

  private readonly inputStuck = (): void => {
    const what = this.lines ? 'took none of our messages' : 'read none of our input';
    this.finish(
      'timeout',
      new UdsError('REPLY_TIMEOUT', `${this.target}: the server ${what} for ${this.s.timeout}ms (its receive queue is full)`, {
        target: this.target,
        timeoutMs: this.s.timeout,
      }),
    );
  };

  private lineTooLong(): void {
    this.finish(
      'error',
      new UdsError('BAD_OPTION', `${this.target}: a line of the input is longer than ${MAX_MESSAGE} bytes: too long for one message (each line is one ${this.type} message)`, {
        target: this.target,
      }),
    );
  }

  private readonly onInputEnd = (): void => {
    if (this.settled) return;
    this.inputEnded = true;
    this.stopInput();
    this.lines?.flush(this.send); // the last line, without its newline: one more message
    this.endOfInput();
  };

  private readonly onInputError = (err: Error): void =>
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: reading the input failed: ${err.message}`, { target: this.target, cause: err }));

  /**
   * Our input ended: shut our write side (after what is queued: the server
   * reads end-of-file) and give the server --timeout to finish; dgram has no
   * close: it waits for more datagrams, counted from its last one sent.
   */
  private endOfInput(): void {
    if (this.endStarted || this.settled || (this.lines && this.writesInFlight > 0)) return;
    this.endStarted = true;
    this.timings.inputEndedUs = this.now();
    this.lastSendUs = this.timings.inputEndedUs; // what comes now answers the end of input
    let wait = this.s.timeout;
    if (this.type === 'dgram') {
      // A receiver that has answered nothing (sd_notify, /dev/log): a short grace, then done; a first reply restores the full wait.
      if (this.messagesIn === 0) wait = Math.min(wait, NO_REPLY_GRACE_MS);
      this.armEnd(wait);
    } else {
      this.halfClosed = true;
      this.conn.end();
      this.endTimer = setTimeout(this.closeTimedOut, wait);
    }
    this.event({ type: 'input-ended', atUs: this.timings.inputEndedUs, waitMs: wait, halfClosed: this.halfClosed });
  }

  /** dgram: the end of our input was sent; the session ends `ms` from now (`waited`). */
  private armEnd(ms: number): void {
    clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => this.finish('waited'), ms);
  }

  private readonly closeTimedOut = (): void =>
    this.finish(
      'timeout',
      new UdsError('NEVER_CLOSED', `${this.target}: the server did not close the connection within ${this.s.timeout}ms of the end of our input`, {
        target: this.target,
        timeoutMs: this.s.timeout,
      }),
    );

  // The server's side.

  private readonly onServerEnd = (): void => {
    if (this.settled) return;
    this.timings.closedUs = this.now();
    this.event({ type: 'server-closed', atUs: this.timings.closedUs });
    // The server is done: nothing more can come (nc ends here too). A server that
    // closed without a byte (a message) is the one-shot CLOSED_EARLY, as for send.
    const nothing = this.lines ? this.messagesIn === 0 : this.received === 0;
    this.finish('closed', nothing ? closedEarlyError(this.target, 0, this.lines ? 'message' : 'eof') : undefined);
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    if (this.settled || this.readingLeft) return;
    if (err instanceof UdsError) return this.finish('error', err);
    this.timings.closedUs = this.now();
    if (err.code === 'ECONNREFUSED' && this.lines) {
      // A connected datagram socket whose receiver closed: the kernel refuses what we send it.
      return this.finish(
        'error',
        new UdsError('REFUSED', `${this.target}: nobody reads this socket any more (ECONNREFUSED: the receiver closed it)`, { target: this.target, cause: err }),
      );
    }
    if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') return this.finish('error', fromConnectErrno(err, this.target));
    // When a write found the server gone, what it sent last is still unread (node:net dropped
    // the socket with it): read it now, so it is shown before the close or reset.
    this.readingLeft = true;
    this.open.readLeft();
    this.readingLeft = false;
    if (this.settled) return; // a seqpacket server's end was read with it
    // A write that found the server gone: it closed (the same race may show as its end-of-file).
    if (err.code === 'EPIPE' && this.type !== 'dgram') return this.onServerEnd();
    this.event({ type: 'reset', atUs: this.timings.closedUs });
    const after = this.received === 0 ? null : this.lines ? `${this.messagesIn} messages` : `${this.received} bytes`;
    this.finish('reset', resetError(this.target, after, err));
  };

  /**
   * The caller's onEvent. A caller's callback that throws runs inside a socket
   * or timer callback, where a throw would end the process: it ends the
   * session instead, IO_ERROR naming the callback, the thrown error on cause.
   */
  private event(e: SessionEvent): void {
    try {
      this.s.onEvent?.(e);
    } catch (err) {
      this.callerThrew('onEvent', err);
    }
  }

  private callerThrew(what: string, err: unknown): false {
    const why = err instanceof Error ? err.message : String(err);
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: ${what} threw: ${why}`, { target: this.target, cause: err }));
    return false;
  }

  private stopInput(): void {
    if (this.s.input) detachPayload(this.s.input, this.onInput, this.onInputEnd, this.onInputError);
  }

  private finish(end: SessionEnd, error?: UdsError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.inputStuckTimer);
    clearTimeout(this.outputStuckTimer);
    clearTimeout(this.endTimer);
    this.s.signal?.removeEventListener('abort', this.onAbort);
    this.conn.removeListener('drain', this.onConnDrain);
    this.stopInput();
    this.conn.destroy();
    this.open.release();
    const t = this.timings;
    t.totalUs = this.now();
    for (const k of Object.keys(t) as (keyof typeof t)[]) if (t[k] !== undefined) t[k] = Math.round(t[k]!);
    this.resolve({
      target: this.target,
      ok: error === undefined && end !== 'interrupted',
      end,
      bytesSent: this.sent,
      bytesReceived: this.received,
      halfClosed: this.halfClosed,
      socketType: this.type,
      ...(this.lines ? { messagesSent: this.messagesOut, messagesReceived: this.messagesIn } : {}),
      timings: t,
      ...(error ? { error } : {}),
    });
  }
}
