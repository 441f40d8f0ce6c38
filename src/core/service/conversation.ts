/**
 * A service check's connection: one stream connection, reads framed by end
 * rules, all under one deadline and one size bound, and the record of it in
 * the shape probe already judges (ExchangeRecord): a dialogue that fails on a
 * read becomes SILENT, CLOSED_WITHOUT_REPLY, RESET or PARTIAL_REPLY exactly as
 * a plain exchange would, and only complete replies reach the service.
 */
import type net from 'node:net';
import { nowUs } from '../clock.js';
import { UdsError, fromConnectErrno } from '../errors.js';
import { type EndRule, formatEndRule } from '../framing/end-rule.js';
import { FRAME_ERROR, createFramer } from '../framing/index.js';
import { type ExchangeRecord, type ExchangeTimings, nothingExchanged } from '../exchange-record.js';
import { openConnection } from '../socket/connect.js';
import { socketFd } from '../socket/net-fd.js';
import { peerCredOf } from '../socket/peer.js';
import type { Target } from '../socket/target.js';
import type { CheckContext, Conversation, ServiceReply } from './types.js';

/** Bytes read past one reply and kept for the next read are at most one chunk; a read's reply at most maxReply. */
class Conv implements Conversation {
  bytesSent = 0;
  bytesReceived = 0;
  /** The reply being read (at most maxReply bytes), or the last complete one. */
  reply: Buffer = Buffer.alloc(0);
  replyBytes = 0;
  truncated = false;
  frameState = '';
  lastRule = 'none';
  frame: ExchangeRecord['frame'];
  ended: 'closed' | 'reset' | null = null;
  private leftover: Buffer | null = null;
  private taken = false;
  private closed = false;
  private closeError: Error | null = null;
  /** The read in progress: fed by 'data', settled by its framer, the close, an error or the deadline. */
  private reader: { feed(chunk: Buffer): void; close(): void; fail(err: UdsError): void } | null = null;

  constructor(
    readonly sock: net.Socket,
    private readonly ctx: CheckContext,
    private readonly start: number,
    readonly timings: ExchangeTimings,
    private readonly deadlineUs: number,
  ) {
    sock.pause();
    sock.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      this.timings.firstByteUs ??= nowUs() - start;
      if (this.reader) this.reader.feed(chunk);
      else {
        // Not reading: keep it for the next read (one chunk at most, as the socket is paused between reads).
        this.leftover = this.leftover ? Buffer.concat([this.leftover, chunk]) : chunk;
        sock.pause();
      }
    });
    sock.on('end', () => {
      this.closed = true;
      this.ended ??= 'closed';
      this.timings.closedUs ??= nowUs() - start;
      this.reader?.close();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      this.closeError = err;
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.ended = 'reset';
      this.reader?.fail(this.ioError(err));
    });
    sock.on('close', () => {
      this.closed = true;
      this.reader?.close();
    });
  }

  private ioError(err: NodeJS.ErrnoException): UdsError {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return new UdsError('RESET', `${this.ctx.display}: connection reset by the server`, { target: this.ctx.display, cause: err });
    return fromConnectErrno(err, this.ctx.display);
  }

  remaining(): number {
    return Math.max(0, (this.deadlineUs - nowUs()) / 1000);
  }

  socket(): net.Socket {
    this.taken = true;
    this.sock.removeAllListeners('data');
    return this.sock;
  }

  write(bytes: Buffer): Promise<void> {
    if (this.closeError) return Promise.reject(this.ioError(this.closeError as NodeJS.ErrnoException));
    return new Promise((resolve, reject) => {
      this.sock.write(bytes, (err) => {
        if (err) return reject(this.ioError(err as NodeJS.ErrnoException));
        this.bytesSent += bytes.length;
        this.timings.writtenUs ??= nowUs() - this.start;
        resolve();
      });
    });
  }

  async ask(bytes: Buffer, until: EndRule): Promise<ServiceReply> {
    await this.write(bytes);
    return this.read(until);
  }

  read(until: EndRule): Promise<ServiceReply> {
    if (this.taken) return Promise.reject(new UdsError('IO_ERROR', 'read after socket() was taken'));
    const framer = createFramer(until);
    const max = this.ctx.maxReply;
    this.lastRule = formatEndRule(until);
    this.reply = Buffer.alloc(0);
    this.replyBytes = 0;
    this.truncated = false;
    this.frameState = '';
    this.frame = undefined;
    const parts: Buffer[] = [];
    let kept = 0;
    return new Promise<ServiceReply>((resolve, reject) => {
      let settled = false;
      const finish = (err: UdsError | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.reader = null;
        this.sock.pause();
        this.reply = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        if (err) {
          this.frameState = framer.describe();
          return reject(err);
        }
        this.timings.replyEndUs = nowUs() - this.start;
        this.frame = { status: framer.status, closing: framer.closing, failed: framer.failed };
        resolve({ bytes: this.reply, status: framer.status, failed: framer.failed, truncated: this.truncated });
      };
      const keep = (b: Buffer) => {
        this.replyBytes += b.length;
        if (kept < max) {
          const part = b.subarray(0, max - kept);
          parts.push(Buffer.from(part));
          kept += part.length;
        }
        if (this.replyBytes > max) this.truncated = true;
      };
      const feed = (chunk: Buffer) => {
        if (!framer.byBytes) return keep(chunk);
        const end = framer.push(chunk, 0, chunk.length);
        if (end === FRAME_ERROR) {
          keep(chunk);
          return finish(new UdsError('BAD_FRAME', `${this.ctx.display}: not a valid ${this.lastRule} reply: ${framer.describe()}`, { target: this.ctx.display }));
        }
        if (end < 0) return keep(chunk);
        keep(chunk.subarray(0, end));
        if (end < chunk.length) this.leftover = chunk.subarray(end);
        finish(null);
      };
      const close = () => {
        if (framer.endsAtClose() && this.replyBytes > 0) return finish(null);
        const what = this.replyBytes === 0 ? 'closed the connection without replying' : `closed after ${this.replyBytes} bytes, before the end of the reply (${this.lastRule})`;
        finish(new UdsError('CLOSED_EARLY', `${this.ctx.display}: the server ${what}`, { target: this.ctx.display }));
      };
      const left = this.remaining();
      const timer = setTimeout(
        () => finish(new UdsError('REPLY_TIMEOUT', `${this.ctx.display}: no complete reply within ${this.ctx.timeout}ms`, { target: this.ctx.display, timeoutMs: this.ctx.timeout })),
        left,
      );
      this.reader = { feed, close, fail: (e) => finish(e) };
      const early = this.leftover;
      this.leftover = null;
      if (early) feed(early);
      if (settled) return;
      if (this.closeError) return finish(this.ioError(this.closeError as NodeJS.ErrnoException));
      if (this.closed) return close();
      this.sock.resume();
    });
  }
}

/** What a check on a connection produced: the record (for probe's generic judging) and the service's result, if it got one. */
export interface Conversed<T> {
  record: ExchangeRecord;
  result?: T;
}

/**
 * Connect to the target, run `body` on the connection under the check's
 * deadline (timeout, from connected), close. Never rejects for a socket
 * failure: the record carries it, as an exchange's does. A `body` that
 * throws something other than a UdsError is a bug, and rethrown.
 */
export async function converse<T>(t: Target, ctx: CheckContext, body: (conv: Conversation) => Promise<T>): Promise<Conversed<T>> {
  const start = nowUs();
  const timings: ExchangeTimings = { totalUs: 0 };
  let sock: net.Socket;
  try {
    sock = await openConnection(t, { connectTimeout: ctx.connectTimeout, signal: ctx.signal });
  } catch (err) {
    timings.totalUs = Math.round(nowUs() - start);
    const e = err instanceof UdsError ? err : new UdsError('IO_ERROR', `${t.display}: ${(err as Error).message}`, { target: t.display, cause: err });
    return { record: nothingExchanged({ target: t.display, until: 'service', ...(t.kind === 'tcp' ? {} : { socketType: 'stream' }) }, 'error', timings, e) };
  }
  timings.connectedUs = nowUs() - start;
  const peer = t.kind === 'tcp' ? null : peerCredOf(socketFd(sock));
  const conv = new Conv(sock, ctx, start, timings, nowUs() + ctx.timeout * 1000);
  let error: UdsError | undefined;
  let result: T | undefined;
  // A body that hands the socket to a library is still held to the deadline: the socket is destroyed then.
  let deadline: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => {
      reject(new UdsError('REPLY_TIMEOUT', `${t.display}: no complete reply within ${ctx.timeout}ms`, { target: t.display, timeoutMs: ctx.timeout }));
    }, ctx.timeout + 50);
  });
  const abort = () => sock.destroy();
  ctx.signal?.addEventListener('abort', abort, { once: true });
  try {
    result = await Promise.race([body(conv), expired]);
  } catch (err) {
    if (!(err instanceof UdsError)) {
      sock.destroy();
      throw err;
    }
    error = err;
  } finally {
    clearTimeout(deadline);
    ctx.signal?.removeEventListener('abort', abort);
  }
  sock.on('error', () => {});
  sock.destroy();
  timings.totalUs = Math.round(nowUs() - start);
  const end = error?.code === 'REPLY_TIMEOUT' ? 'timeout' : (conv.ended ?? (error ? 'error' : 'open'));
  const record: ExchangeRecord = {
    target: t.display,
    ok: error === undefined,
    until: conv.lastRule,
    bytesSent: conv.bytesSent,
    bytesReceived: conv.bytesReceived,
    reply: conv.reply,
    replyBytes: conv.replyBytes,
    truncated: conv.truncated,
    ruleMet: error === undefined,
    ...(conv.frame && !error ? { frame: conv.frame } : {}),
    ...(error && conv.frameState ? { frameState: conv.frameState } : {}),
    end,
    timings,
    ...(error ? { error } : {}),
    ...(t.kind === 'tcp' ? {} : { socketType: 'stream' as const }),
    ...(peer ? { peer: { ...peer, source: 'peercred' as const } } : {}),
  };
  return { record, result };
}
