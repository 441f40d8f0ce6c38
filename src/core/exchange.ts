import type net from 'node:net';
import { nowUs } from './clock.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, openConnection } from './connect.js';
import { type EndRule, findReplyEnd, formatEndRule } from './end-rule.js';
import { UdsError, fromConnectErrno } from './errors.js';
import { type Target, parseTarget } from './target.js';

export const DEFAULT_TIMEOUT_MS = 5_000;

export interface ExchangeOptions {
  /** Bytes to send (may be empty: then nothing is written). */
  payload?: Buffer;
  /** End-of-reply rule; default eof (the server closes). */
  until?: EndRule;
  /** Bound on connecting. Default 5s. */
  connectTimeout?: number;
  /** Bound on the reply, from connected to end of reply. Default 5s. */
  timeout?: number;
  /** Shut down our write side after the payload is written. */
  halfClose?: boolean;
  /**
   * After the end rule is met while the connection is open, wait this long for
   * the server to close (a health check's close phase). 0 (default): close at once.
   */
  closeTimeout?: number;
  /** Called for each chunk of reply as it arrives (streaming output, progress). */
  onData?: (chunk: Buffer) => void;
  /** Aborts the exchange (e.g. on SIGINT); the record says so. */
  signal?: AbortSignal;
}

/**
 * How the connection ended: the server closed it, reset it, our timeout fired
 * before the reply ended, or the end rule was met and it was still open when we
 * closed it. `error`: it failed before or while connecting.
 */
export type ExchangeEnd = 'closed' | 'reset' | 'timeout' | 'open' | 'error';

export interface ExchangeTimings {
  /** Microseconds from start (monotonic). Absent when the phase was never reached. */
  connectedUs?: number;
  writtenUs?: number;
  firstByteUs?: number;
  replyEndUs?: number;
  closedUs?: number;
  totalUs: number;
}

export interface ExchangeRecord {
  target: string;
  ok: boolean;
  until: string;
  bytesSent: number;
  bytesReceived: number;
  /** The reply up to the end rule (for eof: everything). Bytes after the rule are counted in bytesReceived. */
  reply: Buffer;
  /** Whether the end rule was met. */
  ruleMet: boolean;
  end: ExchangeEnd;
  timings: ExchangeTimings;
  error?: UdsError;
}

/**
 * Connect, send, read one reply by the end rule, close: one bounded exchange.
 * Never rejects for a socket failure: the record carries the typed error.
 */
export async function exchange(target: Target | string, opts: ExchangeOptions = {}): Promise<ExchangeRecord> {
  const t = typeof target === 'string' ? parseTarget(target) : target;
  const until = opts.until ?? { kind: 'eof' };
  const start = nowUs();
  const timings: ExchangeTimings = { totalUs: 0 };
  const base = {
    target: t.display,
    until: formatEndRule(until),
    bytesSent: 0,
    bytesReceived: 0,
    reply: Buffer.alloc(0),
    ruleMet: false,
  };

  let socket: net.Socket;
  try {
    socket = await openConnection(t, { connectTimeout: opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, signal: opts.signal });
  } catch (err) {
    timings.totalUs = Math.round(nowUs() - start);
    return { ...base, ok: false, end: 'error', timings, error: asUdsError(err, t.display) };
  }
  timings.connectedUs = nowUs() - start;
  return runExchange(socket, t.display, until, opts, start, timings);
}

function asUdsError(err: unknown, target: string): UdsError {
  if (err instanceof UdsError) return err;
  return fromConnectErrno(err as NodeJS.ErrnoException, target);
}

function runExchange(
  socket: net.Socket,
  target: string,
  until: EndRule,
  opts: ExchangeOptions,
  start: number,
  timings: ExchangeTimings,
): Promise<ExchangeRecord> {
  const timeout = opts.timeout ?? DEFAULT_TIMEOUT_MS;
  const closeTimeout = opts.closeTimeout ?? 0;
  const payload = opts.payload ?? Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let received = 0;
  let searched = 0;
  let replyLength = -1; // set when the end rule is met
  let sent = 0;

  return new Promise((resolve) => {
    let settled = false;
    let replyTimer: NodeJS.Timeout | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;

    const buffered = (): Buffer => (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));

    const finish = (end: ExchangeEnd, error?: UdsError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(replyTimer);
      clearTimeout(idleTimer);
      clearTimeout(closeTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      socket.destroy();
      const all = buffered();
      const ruleMet = replyLength >= 0;
      timings.totalUs = nowUs() - start;
      roundTimings(timings);
      resolve({
        target,
        ok: error === undefined,
        until: formatEndRule(until),
        bytesSent: sent,
        bytesReceived: received,
        reply: ruleMet ? all.subarray(0, replyLength) : all,
        ruleMet,
        end,
        timings,
        ...(error ? { error } : {}),
      });
    };

    const ruleMetNow = (length: number): void => {
      replyLength = length;
      timings.replyEndUs = nowUs() - start;
      clearTimeout(replyTimer);
      clearTimeout(idleTimer);
      if (closeTimeout <= 0) return finish('open');
      closeTimer = setTimeout(() => finish('open'), closeTimeout);
    };

    replyTimer = setTimeout(() => {
      if (until.kind === 'eof' && received > 0) {
        finish(
          'timeout',
          new UdsError(
            'NEVER_CLOSED',
            `${target}: server replied (${received} bytes) but did not close the connection within ${timeout}ms`,
            { target, timeoutMs: timeout },
          ),
        );
      } else {
        const what = received > 0 ? `only a partial reply (${received} bytes, end rule ${formatEndRule(until)} not met)` : 'no reply';
        finish('timeout', new UdsError('REPLY_TIMEOUT', `${target}: ${what} within ${timeout}ms`, { target, timeoutMs: timeout }));
      }
    }, timeout);

    const onAbort = (): void => finish('error', new UdsError('IO_ERROR', `${target}: aborted`, { target }));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    socket.on('data', (chunk: Buffer) => {
      if (received === 0) timings.firstByteUs = nowUs() - start;
      chunks.push(chunk);
      received += chunk.length;
      opts.onData?.(chunk);
      if (replyLength >= 0) return; // already met: only counting what follows
      if (until.kind === 'idle') {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => ruleMetNow(received), until.ms);
        return;
      }
      if (until.kind === 'eof') return;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks, received);
      if (chunks.length > 1) chunks.splice(0, chunks.length, all);
      const endAt = findReplyEnd(until, all, searched);
      searched = received;
      if (endAt >= 0) ruleMetNow(endAt);
    });

    socket.on('end', () => {
      timings.closedUs = nowUs() - start;
      if (replyLength >= 0) return finish('closed');
      if (received > 0 && (until.kind === 'eof' || until.kind === 'idle')) {
        replyLength = received;
        timings.replyEndUs = timings.closedUs;
        return finish('closed');
      }
      finish(
        'closed',
        new UdsError(
          'CLOSED_EARLY',
          received > 0
            ? `${target}: server closed after ${received} bytes, before the end of reply (${formatEndRule(until)})`
            : `${target}: server closed the connection without replying`,
          { target },
        ),
      );
    });

    socket.on('error', (err: NodeJS.ErrnoException) => {
      timings.closedUs = nowUs() - start;
      const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      if (reset && replyLength >= 0) return finish('reset');
      const e = reset
        ? new UdsError(
            'RESET',
            `${target}: connection reset by the server${received > 0 ? ` after ${received} bytes of reply` : ''}`,
            { target, cause: err },
          )
        : fromConnectErrno(err, target);
      finish(reset ? 'reset' : 'error', e);
    });

    const afterWrite = (err?: Error | null): void => {
      if (err || settled) return; // the 'error' event reports it
      sent = payload.length;
      timings.writtenUs = nowUs() - start;
      if (opts.halfClose) socket.end();
    };
    if (payload.length > 0) socket.write(payload, afterWrite);
    else afterWrite();
  });
}

function roundTimings(t: ExchangeTimings): void {
  for (const k of Object.keys(t) as (keyof ExchangeTimings)[]) {
    const v = t[k];
    if (v !== undefined) t[k] = Math.round(v);
  }
}
