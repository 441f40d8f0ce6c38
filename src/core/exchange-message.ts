/**
 * One exchange over a Unix datagram or seqpacket socket (message.ts), with the
 * same record as the stream exchange (exchange.ts), so send, probe and their
 * renderers need no second path. The policy differs where messages differ:
 * - the payload goes as one message (a datagram: `socat - UNIX-SENDTO:`);
 * - dgram: with no reply wanted, done once the kernel took the datagram;
 *   with one, we bind an address of our own first (Linux: an autobound
 *   abstract name, nothing left behind) so the server can answer;
 * - the reply ends after one message unless an end rule is given (then the
 *   rule runs over the messages' bytes in order; eof on seqpacket is the
 *   peer closing, on dgram there is none: one message);
 * - every wait is bounded by the deadline, every message by the buffer.
 * Just over 400 lines: connecting (typed errors, the reply address) and the
 * run (send, messages, close phase) are one exchange, read top to bottom.
 */
import { promises as fsp, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs, nowUs } from './clock.js';
import { type EndRule, ReplyEndScanner, formatEndRule } from './framing/end-rule.js';
import { UdsError, fromConnectErrno } from './errors.js';
import { E } from './socket/ffi.js';
import { MessageSocket, type PeerCred, sockaddrOf } from './socket/message.js';
import { sockaddrPath } from './socket/sockaddr.js';
import type { SocketTypeSource } from './socket/socket-type.js';
import { type Target, fsPath } from './socket/target.js';
import { type ExchangeEnd, type ExchangeRecord, type ExchangeTimings, type PayloadSource, nothingExchanged } from './exchange-record.js';

/** The largest message we read whole: Linux's default Unix datagram limit is ~208 KiB (wmem_default). */
export const MAX_MESSAGE = 256 * 1024;

export interface MessageExchangeSettings {
  payload: Buffer;
  payloadStream?: PayloadSource;
  /** undefined: the reply is one message. */
  until?: EndRule;
  connectTimeout: number;
  timeout: number;
  closeTimeout: number;
  maxReply: number;
  /** dgram: wait for a reply at all (else done once the datagram is sent). */
  wantReply: boolean;
  onData?: (chunk: Buffer) => void;
  replyTo?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

const untilText = (u: EndRule | undefined): string => (u ? formatEndRule(u) : 'message');

/** Read a streamed payload whole (a message is sent as one), bounded in size and in time. */
function collect(src: PayloadSource, max: number, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      src.removeListener('data', onData);
      src.removeListener('end', onEnd);
      src.removeListener('error', onError);
      src.pause();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : Buffer.from(c);
      src.release?.(c as Buffer);
      size += b.length;
      if (size > max) return done(new UdsError('BAD_OPTION', `a message is sent whole and may be at most ${max} bytes here; stdin gave more`));
      chunks.push(b);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    const timer = setTimeout(() => done(new UdsError('BAD_OPTION', `stdin did not end within ${ms}ms; a message is sent whole, so it must end`)), ms);
    src.on('data', onData);
    src.once('end', onEnd);
    src.once('error', onError);
    src.resume();
  });
}

/**
 * Connect a message socket of `type` to the target; throws a typed UdsError
 * (EPROTOTYPE: WRONG_TYPE, a full seqpacket backlog retried until connectTimeout).
 */
export async function connectMessage(t: Target, type: 'dgram' | 'seqpacket', connectTimeout: number, bindFirst: boolean, signal?: AbortSignal): Promise<MessageSocket> {
  let sock: MessageSocket;
  try {
    sock = MessageSocket.create(type, t.display);
  } catch (err) {
    throw fromConnectErrno(err as NodeJS.ErrnoException, t.display);
  }
  const deadline = nowMs() + connectTimeout;
  try {
    if (bindFirst) bindReplyAddress(sock, t);
    const addr = sockaddrOf(t);
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        sock.connect(addr, t.display);
        return sock;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code !== 'EAGAIN' || nowMs() >= deadline || signal?.aborted) throw e;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  } catch (err) {
    sock.close();
    throw await typedConnectError(err as NodeJS.ErrnoException, t, type, connectTimeout);
  }
}

/**
 * An address of our own for a dgram reply. An abstract target: Linux's
 * autobind (an abstract name the kernel picks; nothing to clean up), which
 * the server shares, abstract names being per network namespace. A path:
 * a socket file in a fresh temporary folder, removed at close, as a server in
 * another namespace (a container) can still reach a path. Its mode lets any
 * server answer; the socket is connected, so the kernel takes datagrams from
 * that server only.
 */
function bindReplyAddress(sock: MessageSocket, t: Target): void {
  if (t.kind === 'abstract') return sock.autobind();
  const dir = mkdtempSync(join(tmpdir(), 'udsctl-reply-'));
  const file = join(dir, 'r.sock');
  sock.onClose = () => rmSync(dir, { recursive: true, force: true });
  chmodSync(dir, 0o711);
  const old = process.umask(0);
  try {
    sock.bind(sockaddrPath(file), file);
  } finally {
    process.umask(old);
  }
}

async function typedConnectError(err: NodeJS.ErrnoException, t: Target, type: string, timeoutMs: number): Promise<UdsError> {
  if (err instanceof UdsError) return err;
  if (err.code === 'EPROTOTYPE') return wrongType(t, type, err);
  if (err.code === 'EAGAIN') {
    return new UdsError('BACKLOG_FULL', `${t.display}: listen backlog stayed full for ${timeoutMs}ms (the server accepts too slowly or not at all)`, {
      target: t.display,
      timeoutMs,
      cause: err,
    });
  }
  // Linux answers ECONNREFUSED for a path that is not a socket at all.
  if (err.code === 'ECONNREFUSED' && t.kind === 'unix') {
    const st = await fsp.stat(fsPath(t.path)).catch(() => null);
    if (st && !st.isSocket()) return new UdsError('NOT_A_SOCKET', `${t.display}: exists but is not a socket`, { target: t.display, cause: err });
  }
  return fromConnectErrno(err, t.display);
}

/** A client of one socket type on a socket of another: the kernel's EPROTOTYPE. */
export function wrongType(t: Target, tried: string, cause?: unknown): UdsError {
  return new UdsError('WRONG_TYPE', `${t.display}: the socket is not a ${tried} socket (connect: EPROTOTYPE); try --type, or let udsctl detect it`, {
    target: t.display,
    cause,
  });
}

/** One bounded exchange over a dgram or seqpacket socket; never rejects for a socket failure. */
export async function messageExchange(
  t: Target,
  type: 'dgram' | 'seqpacket',
  source: SocketTypeSource,
  s: MessageExchangeSettings,
): Promise<ExchangeRecord> {
  const start = nowUs();
  const timings: ExchangeTimings = { totalUs: 0 };
  const base = { target: t.display, until: untilText(s.until), socketType: type, socketTypeSource: source } as const;
  const fail = (error: UdsError, end: ExchangeEnd = 'error', extra: Partial<ExchangeRecord> = {}): ExchangeRecord => {
    timings.totalUs = Math.round(nowUs() - start);
    return nothingExchanged({ ...base, ...extra }, end, timings, error);
  };
  const wantReply = type === 'seqpacket' || s.wantReply;
  let sock: MessageSocket;
  try {
    sock = await connectMessage(t, type, s.connectTimeout, type === 'dgram' && wantReply, s.signal);
  } catch (err) {
    return fail(err as UdsError);
  }
  try {
    let payload = s.payload;
    if (s.payloadStream) {
      try {
        payload = Buffer.concat([payload, await collect(s.payloadStream, MAX_MESSAGE - payload.length, s.timeout)]);
      } catch (err) {
        return fail(
          err instanceof UdsError ? err : new UdsError('IO_ERROR', `${t.display}: reading the message failed: ${(err as Error).message}`, { target: t.display, cause: err }),
        );
      }
    }
    return await new MessageRun(sock, t, s, start, timings, base, payload, wantReply).run();
  } finally {
    sock.close();
  }
}

class MessageRun {
  private received = 0;
  private messages = 0;
  private sent = 0;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private replyLength = -1;
  private peer: PeerCred | null = null;

  constructor(
    private readonly sock: MessageSocket,
    private readonly t: Target,
    private readonly s: MessageExchangeSettings,
    private readonly start: number,
    private readonly timings: ExchangeTimings,
    private readonly base: Pick<ExchangeRecord, 'target' | 'until' | 'socketType' | 'socketTypeSource'>,
    private readonly payload: Buffer,
    private readonly wantReply: boolean,
  ) {}

  private at(): number {
    return nowUs() - this.start;
  }

  async run(): Promise<ExchangeRecord> {
    const { sock, s, t, timings } = this;
    const d = t.display;
    timings.connectedUs = this.at();
    if (sock.type === 'seqpacket') this.peer = sock.peerCred();
    const deadline = nowMs() + s.timeout;
    // Nothing to send: nothing is sent (a probe of /dev/log must not write to it).
    if (this.payload.length > 0) {
      try {
        const w = await sock.send(this.payload, d, deadline, s.signal);
        if (w !== 'ready') return this.finish(w === 'aborted' ? 'error' : 'timeout', this.waitError(w, 'the message was not taken (the receiver queue stayed full)'));
      } catch (err) {
        return this.finish('error', this.ioError(err as NodeJS.ErrnoException));
      }
      this.sent = this.payload.length;
    }
    timings.writtenUs = this.at();
    if (!this.wantReply) return this.finish('sent');

    const buf = Buffer.allocUnsafe(MAX_MESSAGE);
    const scanner = s.until ? new ReplyEndScanner(s.until) : null;
    const rule = s.until?.kind;
    let idleAt = Infinity;
    for (;;) {
      // The reply phase; after it, the close phase (seqpacket, a one-shot probe).
      const w = await sock.waitReadable(Math.min(deadline, idleAt), s.signal);
      if (w === 'aborted') return this.finish('error', new UdsError('IO_ERROR', `${d}: aborted`, { target: d }));
      if (w === 'timeout') {
        if (rule === 'idle' && this.received > 0 && nowMs() >= idleAt) {
          this.ruleMet(this.received);
          break;
        }
        return this.finish('timeout', this.replyTimeout());
      }
      let n: number;
      try {
        n = sock.tryRecv(buf, d);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ECONNRESET' || e.code === 'ECONNREFUSED' || e.code === 'EPIPE') {
          timings.closedUs = this.at();
          return this.finish('reset', new UdsError('RESET', `${d}: the peer went away${this.received > 0 ? ` after ${this.received} bytes of reply` : ' before replying'}`, { target: d, cause: e }));
        }
        return this.finish('error', this.ioError(e));
      }
      if (n === -E.EAGAIN) continue;
      if (n === 0 && sock.type === 'seqpacket') {
        timings.closedUs = this.at();
        if (this.received > 0 && (rule === 'eof' || rule === 'idle')) {
          this.replyLength = this.received;
          timings.replyEndUs = timings.closedUs;
          return this.finish('closed');
        }
        return this.finish(
          'closed',
          new UdsError(
            'CLOSED_EARLY',
            this.received > 0 ? `${d}: server closed after ${this.received} bytes, before the end of reply (${untilText(s.until)})` : `${d}: server closed the connection without replying`,
            { target: d },
          ),
        );
      }
      const before = this.received;
      if (this.messages === 0) timings.firstByteUs = this.at();
      this.messages++;
      this.received += n;
      const msg = buf.subarray(0, Math.min(n, buf.length));
      s.onData?.(Buffer.from(msg));
      let endAt = -1;
      if (!scanner || (rule === 'eof' && sock.type === 'dgram')) endAt = this.received;
      else if (scanner.byBytes) endAt = scanner.push(msg);
      else if (rule === 'idle') idleAt = nowMs() + (s.until as { ms: number }).ms;
      const part = endAt >= 0 ? msg.subarray(0, Math.max(0, endAt - before)) : msg;
      this.keep(part);
      s.replyTo?.write(Buffer.from(part));
      if (endAt >= 0) {
        this.ruleMet(endAt);
        break;
      }
    }
    return this.closePhase();
  }

  private ruleMet(length: number): void {
    this.replyLength = length;
    this.timings.replyEndUs = this.at();
  }

  /** After the reply, a seqpacket server may be watched closing (closeTimeout); a dgram one has nothing to close. */
  private async closePhase(): Promise<ExchangeRecord> {
    const { sock, s } = this;
    if (sock.type !== 'seqpacket' || s.closeTimeout <= 0) return this.finish('open');
    const deadline = nowMs() + s.closeTimeout;
    const junk = Buffer.allocUnsafe(4096);
    for (;;) {
      const w = await sock.waitReadable(deadline, s.signal);
      if (w === 'hup') {
        this.timings.closedUs = this.at();
        return this.finish('closed');
      }
      if (w !== 'ready') return this.finish('open');
      try {
        const n = sock.tryRecv(junk, this.t.display);
        if (n === 0) {
          this.timings.closedUs = this.at();
          return this.finish('closed');
        }
        if (n > 0) this.received += n;
      } catch {
        this.timings.closedUs = this.at();
        return this.finish('reset');
      }
    }
  }

  private keep(part: Buffer): void {
    const room = this.s.maxReply - this.keptBytes;
    if (room <= 0 || part.length === 0) return;
    const b = Buffer.from(part.subarray(0, room));
    this.kept.push(b);
    this.keptBytes += b.length;
  }

  private replyTimeout(): UdsError {
    const { received, s } = this;
    const d = this.t.display;
    const what = received > 0 ? `only a partial reply (${received} bytes in ${this.messages} messages, end rule ${untilText(s.until)} not met)` : 'no reply';
    return new UdsError('REPLY_TIMEOUT', `${d}: ${what} within ${s.timeout}ms`, { target: d, timeoutMs: s.timeout });
  }

  private waitError(w: string, what: string): UdsError {
    const d = this.t.display;
    if (w === 'aborted') return new UdsError('IO_ERROR', `${d}: aborted`, { target: d });
    return new UdsError('REPLY_TIMEOUT', `${d}: ${what} within ${this.s.timeout}ms`, { target: d, timeoutMs: this.s.timeout });
  }

  private ioError(err: NodeJS.ErrnoException): UdsError {
    const d = this.t.display;
    if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      return new UdsError('RESET', `${d}: the peer went away (${err.code})`, { target: d, cause: err });
    }
    if (err.code === 'EMSGSIZE') {
      return new UdsError('BAD_OPTION', `${d}: the message (${this.payload.length} bytes) is larger than the socket takes in one datagram (EMSGSIZE)`, { target: d, cause: err });
    }
    return fromConnectErrno(err, d);
  }

  private finish(end: ExchangeEnd, error?: UdsError): ExchangeRecord {
    const { timings } = this;
    timings.totalUs = this.at();
    for (const k of Object.keys(timings) as (keyof ExchangeTimings)[]) {
      const v = timings[k];
      if (v !== undefined) timings[k] = Math.round(v);
    }
    const ruleMet = this.replyLength >= 0;
    const replyBytes = ruleMet ? this.replyLength : this.received;
    const all = Buffer.concat(this.kept, this.keptBytes);
    return {
      ...this.base,
      ok: error === undefined,
      bytesSent: this.sent,
      bytesReceived: this.received,
      reply: replyBytes < all.length ? all.subarray(0, replyBytes) : all,
      replyBytes,
      truncated: replyBytes > this.keptBytes,
      ruleMet,
      end,
      timings,
      messagesReceived: this.messages,
      ...(this.peer ? { peer: { ...this.peer, source: 'peercred' as const } } : {}),
      ...(error ? { error } : {}),
    };
  }
}
