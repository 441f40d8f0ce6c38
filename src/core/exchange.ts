/**
 * One bounded exchange (send's and probe's) on every socket type: connect,
 * write the payload (and a stream, with backpressure), read the reply to its
 * end rule or framer under a hard deadline, keep at most maxReply bytes. The
 * policy is written once, over the connection seam (conn.ts): a node:net
 * socket, or a seqpacket/dgram socket (socket/message-conn.ts), where
 * `message` is one more end rule. Its options are checked in
 * exchange-options.ts, the reply kept and streamed in exchange-sink.ts. The
 * Exchange class is one state machine (deadline, end rule, close phase,
 * input and output backpressure) whose parts share its fields.
 */
import { nowMs, nowUs } from './clock.js';
import { type Conn, type OpenConn, openConn } from './conn.js';
import { type EndRule, checkEndRule, formatEndRule } from './framing/end-rule.js';
import { FRAME_ERROR, type Framer, createFramer } from './framing/index.js';
import { UdsError, closedEarlyError, fromConnectErrno, resetError } from './errors.js';
import { type ExchangeOptions, type ExchangeSettings, LATE_RULE_QUIET_MS, exchangeSettings } from './exchange-options.js';
import { KeptReply, ReplySink } from './exchange-sink.js';
import { type Target, checkTarget } from './socket/target.js';
import { MAX_MESSAGE, collectPayload, wrongType } from './exchange-message.js';
import { type PeerCred, peerCredOf } from './socket/peer.js';
import { type SocketType, type SocketTypeSource, parseSocketType, socketTypeCandidates } from './socket/socket-type.js';
import { type ExchangeEnd, type ExchangeRecord, type ExchangeTimings, detachPayload, nothingExchanged } from './exchange-record.js';

export { DEFAULT_TIMEOUT_MS } from './defaults.js';
export { DEFAULT_MAX_REPLY, type ExchangeOptions } from './exchange-options.js';
export { type ExchangeEnd, type ExchangeRecord, type ExchangeTimings, type PayloadSource, detachPayload, nothingExchanged } from './exchange-record.js';

type Settings = ExchangeSettings;

/**
 * Connect, send, read one reply by the end rule, close: one bounded exchange.
 * Never rejects for a socket failure: the record carries the typed error.
 * Rejects with a UdsError (BAD_TARGET, BAD_OPTION, BAD_DURATION) for bad arguments.
 */
export async function exchange(target: Target | string, opts: ExchangeOptions = {}): Promise<ExchangeRecord> {
  const t = checkTarget(target);
  const s = exchangeSettings(opts);
  const forced = opts.socketType === undefined ? undefined : parseSocketType(opts.socketType, 'socketType');
  if (t.kind === 'tcp' && forced && forced !== 'stream') throw new UdsError('BAD_OPTION', `${t.display}: TCP is a stream; --type ${forced} is for Unix sockets`);
  const mu = opts.messageUntil;
  const messageUntil = mu !== undefined ? checkEndRule(mu) : opts.until === undefined ? MESSAGE : s.until;
  const { types, source } = await socketTypeCandidates(t, forced);
  let r!: ExchangeRecord;
  for (const [i, type] of types.entries()) {
    // The listed type refused (a forged /proc/net/unix row): the one that connects was found by connecting.
    r = await typedExchange(t, type, i === 0 ? source : 'connect', { ...s, until: type === 'stream' ? s.until : messageUntil }, Boolean(opts.peerCred), Boolean(opts.wantReply));
    if (forced === 'stream' && r.error?.code === 'WRONG_TYPE') r = { ...r, error: wrongType(t, 'stream', r.error.cause) };
    if (r.error?.code !== 'WRONG_TYPE') break;
  }
  return r;
}

const MESSAGE: EndRule = { kind: 'message' };

/**
 * One exchange on a socket of a known type. The policy is the same on every
 * type; a message socket sends the payload as one message (a stream payload
 * read whole first), and a datagram socket has no close: eof is one message
 * there, there is no close phase, and with no reply wanted it is done once the
 * kernel took the datagram.
 */
async function typedExchange(t: Target, type: SocketType, source: SocketTypeSource, s: Settings, wantPeer: boolean, wantReply: boolean): Promise<ExchangeRecord> {
  const start = nowUs();
  const timings: ExchangeTimings = { totalUs: 0 };
  const dgram = type === 'dgram';
  if (dgram && s.until.kind === 'eof') s = { ...s, until: MESSAGE };
  const typed = t.kind === 'tcp' ? {} : { socketType: type, socketTypeSource: source };
  const failed = (err: unknown): ExchangeRecord => {
    timings.totalUs = Math.round(nowUs() - start);
    return { ...nothingExchanged({ target: t.display, until: formatEndRule(s.until) }, 'error', timings, asUdsError(err, t.display)), ...typed };
  };
  if (type === 'stream' && s.until.kind === 'message') {
    return failed(new UdsError('BAD_OPTION', `${t.display}: a stream socket has no message boundaries, so no "message" end rule; use line, len: or a protocol`, { target: t.display }));
  }

  const wantsReply = !dgram || wantReply;
  let open: OpenConn;
  try {
    // dgram: an address of our own first (bindReply), so the server's reply can come back.
    open = await openConn(t, type, { connectTimeout: s.connectTimeout, signal: s.signal, bindReply: wantsReply });
  } catch (err) {
    return failed(err);
  }
  if (type !== 'stream') {
    s = { ...s, lateUntil: undefined }; // a message ends itself
    if (!wantsReply) s = { ...s, until: { kind: 'eof' } };
    if (s.payloadStream) {
      // A message is sent whole: the stream is read first, bounded in size and time.
      try {
        const rest = await collectPayload(s.payloadStream, MAX_MESSAGE - s.payload.length, s.timeout);
        s = { ...s, payload: Buffer.concat([s.payload, rest]), payloadStream: undefined };
      } catch (err) {
        open.conn.destroy();
        return failed(err instanceof UdsError ? err : new UdsError('IO_ERROR', `${t.display}: reading the message failed: ${(err as Error).message}`, { target: t.display, cause: err }));
      }
    }
    if (dgram) s = { ...s, closeTimeout: 0 };
  }
  timings.connectedUs = nowUs() - start;
  // The peer's process: asked for, or always on seqpacket (dgram has no connected peer).
  const fd = wantPeer || type === 'seqpacket' ? open.fd() : -1;
  const peer = fd >= 0 ? peerCredOf(fd) : null;
  const ex = new Exchange(open.conn, t.display, s, start, timings, dgram && !wantReply, () => (peer ?? (t.kind === 'tcp' ? null : peerCredOf(open.fd()))));
  const done = ex.run();
  open.start(ex.onChunk);
  const r = await done;
  return { ...r, ...typed, ...(open.messages ? { messagesReceived: open.messages() } : {}), ...(peer ? { peer: { ...peer, source: 'peercred' as const } } : {}) };
}

function asUdsError(err: unknown, target: string): UdsError {
  if (err instanceof UdsError) return err;
  return fromConnectErrno(err as NodeJS.ErrnoException, target);
}

/**
 * One exchange on a connected socket. Every wait is bounded by a deadline that
 * is also checked on each chunk, so a peer flooding data events cannot push it
 * back; memory is bounded by maxReply whatever the peer sends.
 */
class Exchange {
  private readonly kept: KeptReply;
  private framer: Framer;
  /** The end rule in force: `until`, or the late rule once found (lateUntil). */
  private rule: EndRule;
  private lateTimer?: NodeJS.Timeout;
  private lateAsked = false;
  private received = 0;
  private replyLength = -1; // set when the end rule is met
  private sent = 0;
  private writesInFlight = 0;
  private inputEnded = false;
  private settled = false;
  private resolve!: (r: ExchangeRecord) => void;
  /** The current phase's bound (reply, then close) and what happens when it passes. */
  private deadlineAt = Infinity;
  private onDeadline: () => void = () => {};
  private deadlineTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private lastDataAt = 0;
  private readonly sink: ReplySink;

  constructor(
    private readonly socket: Conn,
    private readonly target: string,
    private readonly s: Settings,
    private readonly start: number,
    private readonly timings: ExchangeTimings,
    /** A datagram with no reply wanted: done once it is sent. */
    private readonly sentIsDone = false,
    /** The peer's process (SO_PEERCRED), read when lateUntil asks. */
    private readonly peerOf: () => PeerCred | null = () => null,
  ) {
    this.kept = new KeptReply(s.maxReply);
    this.sink = new ReplySink(s.replyTo, this.onSinkDrain, this.onSinkError);
    this.rule = s.until;
    this.framer = createFramer(s.until);
  }

  run(): Promise<ExchangeRecord> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      const { socket, s } = this;
      this.setDeadline(s.timeout, this.replyTimedOut);
      if (s.signal?.aborted) return this.onAbort();
      s.signal?.addEventListener('abort', this.onAbort, { once: true });
      socket.on('end', this.onEnd);
      socket.on('error', this.onError);
      this.sink.start();
      this.startSending();
    });
  }

  private setDeadline(ms: number, fn: () => void): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = nowMs() + ms;
    this.onDeadline = fn;
    this.deadlineTimer = setTimeout(fn, ms);
  }

  private readonly onAbort = (): void => this.finish('error', new UdsError('IO_ERROR', `${this.target}: aborted`, { target: this.target }));

  private readonly replyTimedOut = (): void => {
    const { target, received } = this;
    const timeout = this.s.timeout;
    if (this.rule.kind === 'eof' && received > 0) {
      this.finish(
        'timeout',
        new UdsError('NEVER_CLOSED', `${target}: server replied (${received} bytes) but did not close the connection within ${timeout}ms`, {
          target,
          timeoutMs: timeout,
        }),
      );
    } else {
      const what =
        received > 0 ? `only a partial reply (${received} bytes, end rule ${formatEndRule(this.rule)} not met${this.whereCut()})` : 'no reply';
      this.finish('timeout', new UdsError('REPLY_TIMEOUT', `${target}: ${what} within ${timeout}ms`, { target, timeoutMs: timeout }));
    }
  };

  private ruleMetNow(length: number): void {
    this.replyLength = length;
    this.timings.replyEndUs = nowUs() - this.start;
    clearTimeout(this.idleTimer);
    if (this.s.closeTimeout <= 0) return this.finish('open');
    this.setDeadline(this.s.closeTimeout, () => this.finish('open'));
  }

  /**
   * A chunk read into the shared buffer: valid only during this call, so what
   * is kept or handed on is copied. Returns false to stop reading (the sink is full).
   */
  readonly onChunk = (chunk: Buffer): boolean => {
    if (this.settled) return false;
    const { s } = this;
    const before = this.received;
    if (before === 0) this.timings.firstByteUs = nowUs() - this.start;
    this.received += chunk.length;
    if (s.onData) {
      try {
        s.onData(Buffer.from(chunk));
      } catch (err) {
        return this.callerThrew('onData', err);
      }
    }
    if (this.replyLength >= 0) {
      // After the reply (the close phase): counted only, and bounded the same way.
      if (nowMs() >= this.deadlineAt) this.onDeadline();
      return !this.settled;
    }
    this.kept.add(chunk, true);
    let endAt = -1;
    if (this.rule.kind === 'idle') this.armIdle(this.rule.ms);
    else if (this.rule.kind === 'eof' && s.lateUntil && !this.lateAsked) this.armLate();
    else if (this.framer.byBytes) {
      const e = this.framer.push(chunk, 0, chunk.length);
      if (e === FRAME_ERROR) {
        this.toSink(chunk);
        return this.badFrame();
      }
      if (e >= 0) endAt = before + e;
    }
    // The sink gets the reply, not what follows its end.
    const more = this.toSink(endAt >= 0 ? chunk.subarray(0, endAt - before) : chunk);
    if (this.settled) return false; // the caller's sink threw
    if (endAt >= 0) {
      this.ruleMetNow(endAt);
      return more;
    }
    // A peer that floods us must not keep the deadline's timer from running.
    if (nowMs() >= this.deadlineAt) this.onDeadline();
    return more && !this.settled;
  };

  /** idle:N: one timer, re-armed only when it fires early (not once per chunk). */
  private armIdle(ms: number): void {
    this.lastDataAt = nowMs();
    if (this.idleTimer !== undefined) return;
    const check = (): void => {
      const quiet = nowMs() - this.lastDataAt;
      if (quiet >= ms) {
        this.idleTimer = undefined;
        return this.ruleMetNow(this.received);
      }
      this.idleTimer = setTimeout(check, ms - quiet);
    };
    this.idleTimer = setTimeout(check, ms);
  }

  /** lateUntil: asked once, when the reply has been quiet LATE_RULE_QUIET_MS (a server that closes is never asked about). */
  private armLate(): void {
    this.lastDataAt = nowMs();
    if (this.lateTimer !== undefined) return;
    const check = (): void => {
      const quiet = nowMs() - this.lastDataAt;
      if (quiet < LATE_RULE_QUIET_MS) {
        this.lateTimer = setTimeout(check, LATE_RULE_QUIET_MS - quiet);
        return;
      }
      this.lateAsked = true;
      let peer: PeerCred | null = null;
      try {
        peer = this.peerOf();
      } catch {
        peer = null; // the socket is gone: the lookup goes without it
      }
      this.s.lateUntil!(peer).then(this.applyLate, () => {});
    };
    this.lateTimer = setTimeout(check, LATE_RULE_QUIET_MS);
  }

  /** The late rule, from here on: first over the bytes already received (all kept, or it is not applied). */
  private readonly applyLate = (rule: EndRule | null): void => {
    if (!rule || rule.kind === 'eof' || this.settled || this.replyLength >= 0 || this.received > this.kept.bytes) return;
    this.rule = rule;
    this.framer = createFramer(rule);
    if (rule.kind === 'idle') return this.armIdle(rule.ms);
    if (!this.framer.byBytes) return;
    const so = this.kept.take(this.kept.bytes);
    const e = this.framer.push(so, 0, so.length);
    if (e === FRAME_ERROR) this.badFrame();
    else if (e >= 0) this.ruleMetNow(e);
  };

  /** Hand a copy to the sink; false when it is full (then reading stops until it drains). */
  private toSink(chunk: Buffer): boolean {
    let room: boolean;
    try {
      room = this.sink.write(chunk);
    } catch (err) {
      return this.callerThrew('replyTo.write()', err);
    }
    // Backpressure: stop reading until the sink has room; the deadline still runs.
    if (!room) this.socket.pause();
    return room;
  }

  private readonly onSinkDrain = (): void => {
    if (!this.settled) this.socket.resume();
  };

  /** The sink failed (its reader went away: EPIPE): nobody takes the reply, so stop now, like nc on SIGPIPE. */
  private readonly onSinkError = (err: NodeJS.ErrnoException): void => {
    const why = err?.code ?? err?.message ?? 'error';
    this.finish(
      'error',
      new UdsError('IO_ERROR', `${this.target}: the reply could not be written (${why}): its reader went away`, { target: this.target, cause: err }),
    );
  };

  /**
   * A library caller's callback threw inside a socket callback: the exchange's
   * typed error (IO_ERROR, the thrown value on `cause`), never an uncaught
   * exception that ends the process.
   */
  private callerThrew(what: string, err: unknown): false {
    const why = err instanceof Error ? err.message : String(err);
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: ${what} threw: ${why}`, { target: this.target, cause: err }));
    return false;
  }

  /** The reply broke its protocol's framing: a precise BAD_FRAME, at once (nothing after it can be read). */
  private badFrame(): boolean {
    const { target } = this;
    this.finish(
      'error',
      new UdsError('BAD_FRAME', `${target}: not a valid ${formatEndRule(this.rule)} reply after ${this.received} bytes: ${this.framer.describe()}`, {
        target,
      }),
    );
    return false;
  }

  /** Where an unfinished reply stands, for a message: "(Content-Length 100: 20 bytes of body)". */
  private whereCut(): string {
    const d = this.framer.byBytes ? this.framer.describe() : '';
    return d ? `: ${d}` : '';
  }

  private readonly onEnd = (): void => {
    const { timings, received, target } = this;
    timings.closedUs = nowUs() - this.start;
    if (this.replyLength >= 0) return this.finish('closed');
    if (received > 0 && this.framer.endsAtClose()) {
      this.replyLength = received;
      timings.replyEndUs = timings.closedUs;
      return this.finish('closed');
    }
    this.finish('closed', closedEarlyError(target, received, formatEndRule(this.rule), this.framer.byBytes ? this.framer.describe() : ''));
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    const { target, received } = this;
    if (err instanceof UdsError) return this.finish('error', err);
    this.timings.closedUs = nowUs() - this.start;
    const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    if (reset && this.replyLength >= 0) return this.finish('reset');
    const e = reset
      ? resetError(target, received > 0 ? `${received} bytes` : null, err)
      : fromConnectErrno(err, target);
    this.finish(reset ? 'reset' : 'error', e);
  };

  // Sending: the payload, then the stream (if any) with backpressure, then half-close.

  private startSending(): void {
    const { s } = this;
    if (s.payload.length > 0) this.write(s.payload);
    const input = s.payloadStream;
    if (!input) {
      this.inputEnded = true;
      return this.maybeWritten();
    }
    input.on('data', this.onInput);
    input.once('end', this.onInputEnd);
    input.once('error', this.onInputError);
    input.resume();
  }

  private write(chunk: Buffer, fromInput = false): boolean {
    this.writesInFlight++;
    return this.socket.write(chunk, (err) => {
      this.writesInFlight--;
      // A reader that reuses its buffers (PooledFdReader) may have this one back.
      if (fromInput) this.s.payloadStream?.release?.(chunk);
      if (err || this.settled) return; // the 'error' event reports it
      this.sent += chunk.length;
      this.maybeWritten();
    });
  }

  private readonly onInput = (c: Buffer | string): void => {
    if (this.settled) return;
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    if (chunk.length === 0) return;
    if (!this.write(chunk, true)) {
      this.s.payloadStream!.pause();
      this.socket.once('drain', this.onSocketDrain);
    }
  };

  private readonly onSocketDrain = (): void => {
    if (!this.settled) this.s.payloadStream?.resume();
  };

  private readonly onInputEnd = (): void => {
    this.inputEnded = true;
    this.maybeWritten();
  };

  private readonly onInputError = (err: Error): void =>
    this.finish('error', new UdsError('IO_ERROR', `${this.target}: reading the message failed: ${err.message}`, { target: this.target, cause: err }));

  private maybeWritten(): void {
    if (!this.inputEnded || this.writesInFlight > 0 || this.settled || this.timings.writtenUs !== undefined) return;
    this.timings.writtenUs = nowUs() - this.start;
    if (this.sentIsDone) return this.finish('sent');
    if (this.s.halfClose) this.socket.end();
  }

  private stopInput(): void {
    if (this.s.payloadStream) detachPayload(this.s.payloadStream, this.onInput, this.onInputEnd, this.onInputError);
  }

  private finish(end: ExchangeEnd, error?: UdsError): void {
    if (this.settled) return;
    this.settled = true;
    const { socket, s, timings } = this;
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.lateTimer);
    s.signal?.removeEventListener('abort', this.onAbort);
    this.sink.stop();
    socket.removeListener('drain', this.onSocketDrain);
    this.stopInput();
    socket.destroy();
    const ruleMet = this.replyLength >= 0;
    const frameState = !ruleMet && this.received > 0 && this.framer.byBytes ? this.framer.describe() : '';
    const replyBytes = ruleMet ? this.replyLength : this.received;
    timings.totalUs = nowUs() - this.start;
    roundTimings(timings);
    this.resolve({
      target: this.target,
      ok: error === undefined,
      until: formatEndRule(this.rule),
      bytesSent: this.sent,
      bytesReceived: this.received,
      reply: this.kept.take(replyBytes),
      replyBytes,
      truncated: replyBytes > this.kept.bytes,
      ruleMet,
      end,
      timings,
      ...(isProtocol(this.rule) && ruleMet ? { frame: { status: this.framer.status, closing: this.framer.closing, failed: this.framer.failed } } : {}),
      ...(frameState ? { frameState } : {}),
      ...(error ? { error } : {}),
    });
  }
}

/** A rule that is a protocol's framing (its framer reads facts: status, closing, error reply). */
function isProtocol(rule: EndRule): boolean {
  return !['eof', 'idle', 'line', 'message', 'delim', 'bytes', 'len'].includes(rule.kind);
}

function roundTimings(t: ExchangeTimings): void {
  for (const k of Object.keys(t) as (keyof ExchangeTimings)[]) {
    const v = t[k];
    if (v !== undefined) t[k] = Math.round(v);
  }
}
