/**
 * An interactive session (`send --interactive`, nc's everyday use): connect,
 * then move bytes both ways at once until one side ends it. Events in (input
 * chunks, the input's end, an interrupt, the output draining) and events out
 * (each chunk of reply with its timing, the server's close or reset, the
 * record at the end); it prints nothing and owns no terminal. The command
 * decides what the user sees.
 *
 * Bounds: connecting (connectTimeout); after our input ends (half-close), the
 * server's close (timeout); input the server does not take (our send buffer
 * full) and output nobody takes (the sink full), each at most `timeout`. An
 * idle session is not bounded: waiting for the user is its point.
 * This file is the stream session and the choice of socket type; a seqpacket
 * or dgram socket runs session-message.ts behind the same events and record.
 */
import net from 'node:net';
import { nowUs } from './clock.js';
import { checkDuration } from './duration.js';
import { UdsError, closedEarlyError, fromConnectErrno, resetError } from './errors.js';
import { CrlfLines } from './crlf.js';
import { detachPayload } from './exchange.js';
import { connectMessage } from './exchange-message.js';
import { startMessageSession } from './session-message.js';
import type { SessionEnd, SessionOptions, SessionRecord } from './session-types.js';
import { openConnection } from './socket/connect.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './defaults.js';
import { type SocketType, parseSocketType, socketTypeCandidates } from './socket/socket-type.js';
import type { MessageSocket } from './socket/message.js';
import { SpareFd } from './socket/spare-fd.js';
import { type Target, checkTarget } from './socket/target.js';

export { CrlfLines } from './crlf.js';
export type { ReplyTiming, SessionEnd, SessionEvent, SessionOptions, SessionRecord } from './session-types.js';

/** Each read fills one reused buffer: a flood allocates nothing per read. */
const READ_BUFFER_SIZE = 64 * 1024;

/** A running session: its result, and the events the caller feeds in. */
export interface SessionHandle {
  readonly done: Promise<SessionRecord>;
  /** The output took what onData gave it (after onData returned false): reading resumes. */
  outputDrained(): void;
}

/**
 * Start a session. Never rejects for a socket failure (the record carries the
 * typed error); throws a UdsError for bad options. The socket type is
 * `socketType`, else the one /proc/net/unix lists, else the first of stream,
 * seqpacket, dgram that connects (the kernel says EPROTOTYPE to the others);
 * seqpacket and dgram run the message session (session-message.ts).
 */
export function startSession(target: Target | string, opts: SessionOptions = {}): SessionHandle {
  const t = checkTarget(target);
  const connectTimeout = checkDuration(opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeout', { positive: true });
  const timeout = checkDuration(opts.timeout ?? DEFAULT_TIMEOUT_MS, 'timeout', { positive: true });
  const forced = opts.socketType === undefined ? undefined : parseSocketType(opts.socketType, 'socketType');
  if (t.kind === 'tcp' && forced && forced !== 'stream') throw new UdsError('BAD_OPTION', `${t.display}: TCP is a stream; --type ${forced} is for Unix sockets`);
  const start = nowUs();
  let session: { outputDrained(): void } | undefined;
  const early: Buffer[] = [];
  let stream: Session | undefined;
  const onread = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_SIZE),
    callback: (n: number, buf: Buffer): boolean => {
      if (stream) return stream.onChunk(buf.subarray(0, n));
      early.push(Buffer.from(buf.subarray(0, n))); // not expected: the session starts before any read
      return true;
    },
  };
  const settings = { ...opts, timeout };
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
  const messages = async (type: 'dgram' | 'seqpacket', sock?: MessageSocket): Promise<SessionRecord> => {
    try {
      // dgram: an address of our own first (bindFirst), so that the server's datagrams can come back.
      sock ??= await connectMessage(t, type, connectTimeout, type === 'dgram', opts.signal);
    } catch (err) {
      return failed(err, type);
    }
    const running = startMessageSession(sock, t.display, settings, start);
    session = running;
    return running.done;
  };
  const done = (async (): Promise<SessionRecord> => {
    const { types } = await socketTypeCandidates(t, forced);
    let socket: net.Socket | undefined;
    for (const [i, type] of types.entries()) {
      const last = i === types.length - 1;
      try {
        if (type === 'stream') socket = await openConnection(t, { connectTimeout, signal: opts.signal, onread });
        else if (last) return await messages(type);
        else return await messages(type, await connectMessage(t, type, connectTimeout, type === 'dgram', opts.signal));
        break;
      } catch (err) {
        // Not this type, and more to try (/proc/net/unix did not say: another namespace).
        if (last || !(err instanceof UdsError) || err.code !== 'WRONG_TYPE') return failed(err, type);
      }
    }
    if (!socket) return failed(new UdsError('WRONG_TYPE', `${t.display}: not a stream, seqpacket or dgram socket`, { target: t.display }), undefined);
    stream = new Session(socket, t.display, settings, start, onread.buffer);
    session = stream;
    const running = stream.run();
    for (const c of early) stream.onChunk(c);
    return running;
  })();
  return { done, outputDrained: () => session?.outputDrained() };
}

interface Settings extends SessionOptions {
  timeout: number;
}

class Session {
  private settled = false;
  private resolve!: (r: SessionRecord) => void;
  private received = 0;
  private sent = 0;
  private lastSendUs = -1;
  private halfClosed = false;
  private inputEnded = false;
  private readonly timings: SessionRecord['timings'] = { totalUs: 0 };
  private readonly crlf?: CrlfLines;
  /** One timer per bound that may be running: the input stuck, the output stuck, the close after our half-close. */
  private inputStuckTimer?: NodeJS.Timeout;
  private outputStuckTimer?: NodeJS.Timeout;
  private closeTimer?: NodeJS.Timeout;
  private outputFull = false;
  /** To read the server's last bytes after a write found it gone (see spare-fd.ts). */
  private readonly spare?: SpareFd;

  constructor(
    private readonly socket: net.Socket,
    private readonly target: string,
    private readonly s: Settings,
    private readonly start: number,
    private readonly readBuffer: Buffer,
  ) {
    this.crlf = s.crlf ? new CrlfLines() : undefined;
    this.spare = s.input ? SpareFd.of(socket) : undefined;
    this.timings.connectedUs = nowUs() - start;
  }

  private now(): number {
    return nowUs() - this.start;
  }

  run(): Promise<SessionRecord> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      const { socket, s } = this;
      if (s.signal?.aborted) return this.finish('interrupted');
      s.signal?.addEventListener('abort', this.onAbort, { once: true });
      socket.on('end', this.onServerEnd);
      socket.on('close', this.onSocketClose);
      socket.on('error', this.onError);
      s.onEvent?.({ type: 'connected', target: this.target, atUs: this.timings.connectedUs!, socketType: 'stream' });
      const input = s.input;
      if (input) {
        input.on('data', this.onInput);
        input.once('end', this.onInputEnd);
        input.once('error', this.onInputError);
        input.resume();
      }
    });
  }

  private readonly onAbort = (): void => this.finish('interrupted');

  /** A chunk of reply in the shared read buffer; false stops reading until outputDrained(). */
  readonly onChunk = (chunk: Buffer): boolean => {
    if (this.settled) return false;
    const at = this.now();
    if (this.received === 0) this.timings.firstByteUs = at;
    this.received += chunk.length;
    const afterSend = this.lastSendUs >= 0;
    const sinceSendUs = at - (afterSend ? this.lastSendUs : this.timings.connectedUs!);
    const more = this.s.onData ? this.s.onData(chunk, { sinceSendUs, atUs: at, afterSend }) !== false : true;
    if (more || this.settled) return !this.settled;
    // The output is full: stop reading (pause() first, so resume() restarts what returning false stops), bounded.
    this.outputFull = true;
    this.socket.pause();
    this.outputStuckTimer = setTimeout(this.outputStuck, this.s.timeout);
    return false;
  };

  outputDrained(): void {
    if (!this.outputFull || this.settled) return;
    this.outputFull = false;
    clearTimeout(this.outputStuckTimer);
    this.socket.resume();
  }

  private readonly outputStuck = (): void =>
    this.finish(
      'timeout',
      new UdsError('IO_ERROR', `${this.target}: the reply's reader took nothing for ${this.s.timeout}ms`, { target: this.target, timeoutMs: this.s.timeout }),
    );

  // Input → socket, with backpressure: the input pauses while the send buffer is full, at most --timeout.

  private readonly onInput = (c: Buffer | string): void => {
    if (this.settled) return;
    const original = typeof c === 'string' ? Buffer.from(c) : c;
    if (original.length === 0) return;
    const chunk = this.crlf ? this.crlf.convert(original) : original;
    this.lastSendUs = this.now();
    const ok = this.socket.write(chunk, (err) => {
      // A reader that reuses its buffers (PooledFdReader) may have this one back.
      this.s.input?.release?.(original);
      if (!err) this.sent += chunk.length;
    });
    if (!ok) {
      this.s.input!.pause();
      this.socket.once('drain', this.onSocketDrain);
      this.inputStuckTimer = setTimeout(this.inputStuck, this.s.timeout);
    }
  };

  private readonly onSocketDrain = (): void => {
    clearTimeout(this.inputStuckTimer);
    if (!this.settled && !this.inputEnded) this.s.input?.resume();
  };

  private readonly inputStuck = (): void =>
    this.finish(
      'timeout',
      new UdsError('REPLY_TIMEOUT', `${this.target}: the server read none of our input for ${this.s.timeout}ms (its receive queue is full)`, {
        target: this.target,
        timeoutMs: this.s.timeout,
      }),
    );

  private readonly onInputEnd = (): void => {
    if (this.settled) return;
    this.inputEnded = true;
    this.stopInput();
    this.halfClosed = true;
    this.timings.inputEndedUs = this.now();
    this.lastSendUs = this.timings.inputEndedUs; // what comes now answers the end of input
    // end() sends what is still queued, then the FIN; the server has --timeout to finish from here.
    this.socket.end();
    this.closeTimer = setTimeout(this.closeTimedOut, this.s.timeout);
    this.s.onEvent?.({ type: 'input-ended', atUs: this.timings.inputEndedUs, waitMs: this.s.timeout, halfClosed: true });
  };

  private readonly onInputError = (err: Error): void =>
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: reading the input failed: ${err.message}`, { target: this.target, cause: err }));

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
    this.s.onEvent?.({ type: 'server-closed', atUs: this.timings.closedUs });
    // The server is done: nothing more can come (nc ends here too). A server that
    // closed without a byte is the one-shot CLOSED_EARLY, as for send.
    const error =
      this.received === 0
        ? closedEarlyError(this.target, 0, 'eof')
        : undefined;
    this.finish('closed', error);
  };

  private readonly onSocketClose = (): void => {
    if (!this.settled) this.onServerEnd();
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    if (this.settled) return;
    this.timings.closedUs = this.now();
    if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') return this.finish('error', fromConnectErrno(err, this.target));
    // When a write found the server gone, node:net dropped the socket with the server's last bytes
    // unread: read them from the spare descriptor, so they are shown before the close or reset.
    this.spare?.drain(this.readBuffer, (chunk) => this.onChunk(chunk));
    // A write that found the server gone: it closed (the same race may show as its end-of-file).
    if (err.code === 'EPIPE') return this.onServerEnd();
    this.s.onEvent?.({ type: 'reset', atUs: this.timings.closedUs });
    this.finish(
      'reset',
      resetError(this.target, this.received > 0 ? `${this.received} bytes` : null, err),
    );
  };

  private stopInput(): void {
    if (this.s.input) detachPayload(this.s.input, this.onInput, this.onInputEnd, this.onInputError);
  }

  private finish(end: SessionEnd, error?: UdsError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.inputStuckTimer);
    clearTimeout(this.outputStuckTimer);
    clearTimeout(this.closeTimer);
    this.s.signal?.removeEventListener('abort', this.onAbort);
    this.socket.removeListener('drain', this.onSocketDrain);
    this.stopInput();
    this.socket.destroy();
    this.spare?.close();
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
      socketType: 'stream',
      timings: t,
      ...(error ? { error } : {}),
    });
  }
}
