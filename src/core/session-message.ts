/**
 * The interactive session on a seqpacket or dgram socket (message.ts): the
 * same events and record as the stream session (session.ts), with the policy
 * of messages:
 * - each line of the input (up to and with its `\n`, `\r\n` with crlf) is one
 *   message; what is left at the end of the input is one more;
 * - each message received is one onData call (boundaries kept);
 * - the end of our input: seqpacket shuts our write side down and waits for
 *   the server's close (as a stream half-close); dgram has nothing to close,
 *   so it waits `timeout` for more datagrams and ends (`waited`); a receiver
 *   that has answered nothing (sd_notify, syslog) gets only a short grace
 *   (NO_REPLY_GRACE_MS) for a first answer, so a piped session ends at once.
 * One loop polls the socket (poll(2) on koffi's worker threads, in slices):
 * readable while the output takes what we give it, writable while a message
 * waits for room in the receiver's queue. Bounds: lines waiting to be sent are
 * a queue of at most QUEUE_MESSAGES / QUEUE_BYTES (the input is paused beyond);
 * a receiver that takes none of them for `timeout`, an output that takes
 * nothing for `timeout`, the server's close after our end: each `timeout`.
 * A little over 400 lines: one state (the queue, the pauses, the end) shared
 * by the loop, the input and the receiver, read top to bottom as one class.
 */
import { nowUs } from './clock.js';

/** dgram, end of input, nothing received yet: how long a first reply may still take before the session ends. */
export const NO_REPLY_GRACE_MS = 250;
import { UdsError, closedEarlyError, fromConnectErrno, resetError } from './errors.js';
import { detachPayload } from './exchange.js';
import { MAX_MESSAGE } from './exchange-message.js';
import { CrlfLines } from './crlf.js';
import type { SessionEnd, SessionOptions, SessionRecord } from './session-types.js';
import { E, POLLERR, POLLHUP, POLLIN, POLLOUT } from './socket/ffi.js';
import { libc } from './socket/libc.js';
import type { MessageSocket } from './socket/message.js';

/** Lines read and not yet sent, at most: beyond either, the input is paused until the receiver takes some. */
const QUEUE_MESSAGES = 256;
const QUEUE_BYTES = 1024 * 1024;
/** One poll(2) slice: how soon a new wait (room to send, the output drained, the end) is noticed. */
const SLICE_MS = 100;
/** Messages read in a row before the loop looks at the rest (a flood must not starve the input). */
const READ_BURST = 64;

interface Settings extends SessionOptions {
  timeout: number;
}

/** A running message session: its record, and the caller's word that the output has room again. */
export interface MessageSessionHandle {
  readonly done: Promise<SessionRecord>;
  outputDrained(): void;
}

/** Run a session on a connected seqpacket or dgram socket (a dgram one bound to an address of its own); closes it at the end. */
export function startMessageSession(sock: MessageSocket, target: string, s: Settings, start: number): MessageSessionHandle {
  const session = new MessageSession(sock, target, s, start);
  return { done: session.run(), outputDrained: () => session.outputDrained() };
}

class MessageSession {
  private settled = false;
  private result?: { end: SessionEnd; error?: UdsError };
  private received = 0;
  private sent = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private lastSendUs = -1;
  private halfClosed = false;
  private inputEnded = false;
  private endStarted = false;
  private readonly timings: SessionRecord['timings'] = { totalUs: 0 };
  private readonly crlf?: CrlfLines;
  /** Lines waiting to be sent, oldest first; their bytes. */
  private readonly queue: Buffer[] = [];
  private queued = 0;
  /** The start of a line whose `\n` has not come yet. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private inputPaused = false;
  /** The receiver's queue was full (EAGAIN): the loop waits until it is writable. */
  private writeBlocked = false;
  private outputFull = false;
  private inputStuckTimer?: NodeJS.Timeout;
  private outputStuckTimer?: NodeJS.Timeout;
  private endTimer?: NodeJS.Timeout;
  /** Wakes the loop from a pause (nothing to poll for). */
  private wake?: () => void;
  private readonly buf = Buffer.allocUnsafe(MAX_MESSAGE);
  private readonly pfd = Buffer.alloc(8);
  private readonly type: 'dgram' | 'seqpacket';

  constructor(
    private readonly sock: MessageSocket,
    private readonly target: string,
    private readonly s: Settings,
    private readonly start: number,
  ) {
    this.type = sock.type;
    this.crlf = s.crlf ? new CrlfLines() : undefined;
    this.timings.connectedUs = nowUs() - start;
  }

  private now(): number {
    return nowUs() - this.start;
  }

  async run(): Promise<SessionRecord> {
    const { s } = this;
    if (s.signal?.aborted) this.finish('interrupted');
    else {
      s.signal?.addEventListener('abort', this.onAbort, { once: true });
      s.onEvent?.({ type: 'connected', target: this.target, atUs: this.timings.connectedUs!, socketType: this.type });
      const input = s.input;
      if (input) {
        input.on('data', this.onInput);
        input.once('end', this.onInputEnd);
        input.once('error', this.onInputError);
        input.resume();
      }
      await this.loop();
    }
    // The loop has returned: no poll(2) of ours holds the descriptor any more.
    this.sock.close();
    return this.record();
  }

  private readonly onAbort = (): void => this.finish('interrupted');

  private async loop(): Promise<void> {
    const c = libc();
    const { pfd, sock } = this;
    while (!this.settled) {
      const events = (this.outputFull ? 0 : POLLIN) | (this.writeBlocked ? POLLOUT : 0);
      if (events === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, SLICE_MS);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      pfd.writeInt32LE(sock.fd, 0);
      pfd.writeInt16LE(events, 4);
      pfd.writeInt16LE(0, 6);
      const n = await c.pollAsync(pfd, 1, SLICE_MS);
      if (this.settled || n <= 0) continue;
      const rev = pfd.readInt16LE(6);
      if (this.writeBlocked && rev & (POLLOUT | POLLERR | POLLHUP)) {
        this.writeBlocked = false;
        clearTimeout(this.inputStuckTimer);
        this.flush();
      }
      if (!this.settled && !this.outputFull && rev & (POLLIN | POLLHUP | POLLERR)) this.readMessages();
    }
  }

  // Receiving: one message a call of onData.

  private readMessages(): void {
    const { sock, buf } = this;
    for (let i = 0; i < READ_BURST && !this.settled && !this.outputFull; i++) {
      let n: number;
      try {
        n = sock.tryRecv(buf, this.target);
      } catch (err) {
        return this.peerError(err as NodeJS.ErrnoException);
      }
      if (n === -E.EAGAIN) return;
      if (n === 0 && this.type === 'seqpacket') return this.serverClosed();
      this.deliver(n);
    }
  }

  private deliver(n: number): void {
    const at = this.now();
    if (this.messagesIn === 0) {
      this.timings.firstByteUs = at;
      // The grace after our end of input: this receiver answers, so wait the whole timeout for more.
      if (this.endStarted && this.type === 'dgram' && !this.settled) {
        clearTimeout(this.endTimer);
        this.endTimer = setTimeout(() => this.finish('waited'), this.s.timeout);
      }
    }
    this.messagesIn++;
    this.received += n;
    const afterSend = this.lastSendUs >= 0;
    const sinceSendUs = at - (afterSend ? this.lastSendUs : this.timings.connectedUs!);
    const msg = this.buf.subarray(0, Math.min(n, this.buf.length));
    const more = this.s.onData ? this.s.onData(msg, { sinceSendUs, atUs: at, afterSend, messageBytes: n }) !== false : true;
    if (more || this.settled) return;
    // The output is full: no more reading until outputDrained(), at most --timeout.
    this.outputFull = true;
    this.outputStuckTimer = setTimeout(this.outputStuck, this.s.timeout);
  }

  outputDrained(): void {
    if (!this.outputFull || this.settled) return;
    this.outputFull = false;
    clearTimeout(this.outputStuckTimer);
    this.wake?.();
  }

  private readonly outputStuck = (): void =>
    this.finish(
      'timeout',
      new UdsError('IO_ERROR', `${this.target}: the reply's reader took nothing for ${this.s.timeout}ms`, { target: this.target, timeoutMs: this.s.timeout }),
    );

  // Sending: each line one message, in order, through a bounded queue.

  private readonly onInput = (c: Buffer | string): void => {
    if (this.settled) return;
    const original = typeof c === 'string' ? Buffer.from(c) : c;
    const chunk = this.crlf ? this.crlf.convert(original) : original;
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      this.addPartial(chunk.subarray(from, nl + 1));
      this.enqueueLine();
      from = nl + 1;
    }
    if (from < chunk.length) this.addPartial(chunk.subarray(from));
    // A reader that reuses its buffers (PooledFdReader) may have this one back: what we keep is copied.
    this.s.input?.release?.(original);
    if (this.settled) return;
    this.flush();
    if (!this.settled && !this.inputPaused && (this.queue.length >= QUEUE_MESSAGES || this.queued >= QUEUE_BYTES)) {
      this.inputPaused = true;
      this.s.input?.pause();
    }
  };

  private addPartial(bytes: Buffer): void {
    if (this.settled || bytes.length === 0) return;
    if (this.partialBytes + bytes.length > MAX_MESSAGE) {
      return this.finish(
        'error',
        new UdsError('BAD_OPTION', `${this.target}: a line of the input is longer than ${MAX_MESSAGE} bytes: too long for one message (each line is one ${this.type} message)`, {
          target: this.target,
        }),
      );
    }
    this.partial.push(Buffer.from(bytes));
    this.partialBytes += bytes.length;
  }

  private enqueueLine(): void {
    if (this.settled || this.partialBytes === 0) return;
    const line = this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    this.queue.push(line);
    this.queued += line.length;
  }

  /** Send what the queue holds until the receiver's queue is full (then the loop waits for room, at most --timeout). */
  private flush(): void {
    while (this.queue.length > 0 && !this.writeBlocked && !this.settled) {
      const msg = this.queue[0];
      let n: number;
      try {
        n = this.sock.trySend(msg, this.target);
      } catch (err) {
        return this.sendError(err as NodeJS.ErrnoException, msg.length);
      }
      if (n < 0) {
        this.writeBlocked = true;
        this.inputStuckTimer = setTimeout(this.inputStuck, this.s.timeout);
        this.wake?.();
        return;
      }
      this.queue.shift();
      this.queued -= msg.length;
      this.sent += msg.length;
      this.messagesOut++;
      this.lastSendUs = this.now();
    }
    if (this.settled) return;
    if (this.inputPaused && !this.inputEnded && this.queue.length < QUEUE_MESSAGES / 2 && this.queued < QUEUE_BYTES / 2) {
      this.inputPaused = false;
      this.s.input?.resume();
    }
    if (this.inputEnded && this.queue.length === 0) this.endOfInput();
  }

  private readonly inputStuck = (): void =>
    this.finish(
      'timeout',
      new UdsError('REPLY_TIMEOUT', `${this.target}: the server took none of our messages for ${this.s.timeout}ms (its receive queue is full)`, {
        target: this.target,
        timeoutMs: this.s.timeout,
      }),
    );

  private readonly onInputEnd = (): void => {
    if (this.settled) return;
    this.inputEnded = true;
    this.stopInput();
    this.enqueueLine(); // the last line, without its newline: one more message
    this.flush();
  };

  private readonly onInputError = (err: Error): void =>
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: reading the input failed: ${err.message}`, { target: this.target, cause: err }));

  /** Everything sent: seqpacket shuts its write side (the server sees end-of-file), dgram waits for more datagrams. */
  private endOfInput(): void {
    if (this.endStarted || this.settled) return;
    this.endStarted = true;
    this.timings.inputEndedUs = this.now();
    this.lastSendUs = this.timings.inputEndedUs; // what comes now answers the end of input
    let wait = this.s.timeout;
    if (this.type === 'seqpacket') {
      try {
        this.sock.shutdownWrite(this.target);
        this.halfClosed = true;
      } catch {
        // ENOTCONN: the server is gone already; its close is read next
      }
      this.endTimer = setTimeout(this.closeTimedOut, wait);
    } else if (this.messagesIn === 0) {
      // A receiver that has answered nothing (sd_notify, /dev/log): a short grace, then done; a first reply restores the full wait.
      wait = Math.min(wait, NO_REPLY_GRACE_MS);
      this.endTimer = setTimeout(() => this.finish('waited'), wait);
    } else {
      this.endTimer = setTimeout(() => this.finish('waited'), wait);
    }
    this.s.onEvent?.({ type: 'input-ended', atUs: this.timings.inputEndedUs, waitMs: wait, halfClosed: this.halfClosed });
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

  private serverClosed(): void {
    if (this.settled) return;
    this.timings.closedUs = this.now();
    this.s.onEvent?.({ type: 'server-closed', atUs: this.timings.closedUs });
    const error =
      this.messagesIn === 0
        ? closedEarlyError(this.target, 0, 'message')
        : undefined;
    this.finish('closed', error);
  }

  /** A send failed: the server closed (its last messages are still read first), reset, or nobody reads (dgram). */
  private sendError(err: NodeJS.ErrnoException, size: number): void {
    if (err.code === 'EPIPE' && this.type === 'seqpacket') {
      this.readMessages();
      return this.serverClosed();
    }
    if (err.code === 'EMSGSIZE') {
      return this.finish(
        'error',
        new UdsError('BAD_OPTION', `${this.target}: a line of ${size} bytes is larger than the socket takes in one message (EMSGSIZE)`, { target: this.target, cause: err }),
      );
    }
    this.peerError(err);
  }

  private peerError(err: NodeJS.ErrnoException): void {
    if (this.settled) return;
    this.timings.closedUs = this.now();
    if (err.code === 'ECONNREFUSED') {
      // A connected datagram socket whose receiver closed: the kernel refuses what we send it.
      return this.finish(
        'error',
        new UdsError('REFUSED', `${this.target}: nobody reads this socket any more (ECONNREFUSED: the receiver closed it)`, { target: this.target, cause: err }),
      );
    }
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      this.s.onEvent?.({ type: 'reset', atUs: this.timings.closedUs });
      return this.finish(
        'reset',
        resetError(this.target, this.received > 0 ? `${this.messagesIn} messages` : null, err),
      );
    }
    this.finish('error', fromConnectErrno(err, this.target));
  }

  private stopInput(): void {
    if (this.s.input) detachPayload(this.s.input, this.onInput, this.onInputEnd, this.onInputError);
  }

  /** Settle once; the loop notices within a slice, then the socket is closed and the record made. */
  private finish(end: SessionEnd, error?: UdsError): void {
    if (this.settled) return;
    this.settled = true;
    this.result = { end, error };
    clearTimeout(this.inputStuckTimer);
    clearTimeout(this.outputStuckTimer);
    clearTimeout(this.endTimer);
    this.s.signal?.removeEventListener('abort', this.onAbort);
    this.stopInput();
    this.timings.totalUs = this.now();
    this.wake?.();
  }

  private record(): SessionRecord {
    const t = this.timings;
    const { end, error } = this.result!;
    for (const k of Object.keys(t) as (keyof typeof t)[]) if (t[k] !== undefined) t[k] = Math.round(t[k]!);
    return {
      target: this.target,
      ok: error === undefined && end !== 'interrupted',
      end,
      bytesSent: this.sent,
      bytesReceived: this.received,
      halfClosed: this.halfClosed,
      socketType: this.type,
      messagesSent: this.messagesOut,
      messagesReceived: this.messagesIn,
      timings: t,
      ...(error ? { error } : {}),
    };
  }
}
