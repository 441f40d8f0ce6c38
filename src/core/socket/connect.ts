import { stat } from 'node:fs';
import net from 'node:net';
import { UdsError, backlogFullError, connectTimeoutError, fromConnectErrno } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../defaults.js';
import { type Target, fsPath } from './target.js';
import { hasKeptBytes } from '../escape.js';
import { nowMs } from '../clock.js';
import { backlogDelay } from './backoff.js';

export { DEFAULT_CONNECT_TIMEOUT_MS };

export interface ConnectOptions {
  /** Bound on the whole connect phase, retries on a full backlog included. */
  connectTimeout?: number;
  /** Stops connecting (and the backlog retries) at once. */
  signal?: AbortSignal;
  /**
   * Read into this one buffer instead of a new one per read (node:net's
   * `onread`): no 'data' events; the callback sees a view valid only during the
   * call, and returning false pauses reading (resume() restarts it).
   */
  onread?: { buffer: Buffer; callback: (bytes: number, buffer: Buffer) => boolean };
}

const aborted = (target: Target) => new UdsError('IO_ERROR', `${target.display}: aborted`, { target: target.display });

/**
 * Open a stream connection to a target. Resolves with a connected socket or
 * rejects with a typed UdsError; never waits longer than connectTimeout.
 * A full listen backlog (EAGAIN on a Unix socket) is retried with back-off until
 * the deadline and then reported as BACKLOG_FULL, so it is told apart from a
 * server that is simply absent.
 */
export async function openConnection(target: Target, opts: ConnectOptions = {}): Promise<net.Socket> {
  const timeout = opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const deadline = nowMs() + timeout;
  let backoff = 0;
  for (;;) {
    if (opts.signal?.aborted) throw aborted(target);
    try {
      return await connectOnce(target, Math.max(0, deadline - nowMs()), timeout, opts.signal, opts.onread);
    } catch (err) {
      if (!(err instanceof UdsError) || err.code !== 'BACKLOG_FULL') throw err;
      const left = deadline - nowMs();
      if (left <= 0) {
        throw backlogFullError(target.display, timeout, err.cause);
      }
      backoff = backlogDelay(backoff);
      await new Promise<void>((r) => {
        const timer = setTimeout(done, Math.min(backoff, left));
        function done() {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', done);
          r();
        }
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}

/**
 * An abstract name, or a path with bytes that are not UTF-8, connected through
 * libc (see libc.ts), loaded only for these: an ordinary path needs none of it.
 */
async function connectAbstract(target: Exclude<Target, { kind: 'tcp' }>, onread?: ConnectOptions['onread']): Promise<net.Socket> {
  const { connectAbstractFd, connectPathFd } = await import('./fd.js');
  try {
    const fd = target.kind === 'abstract' ? connectAbstractFd(target.name) : connectPathFd(target.path, target.display);
    return new net.Socket({ fd, readable: true, writable: true, ...(onread ? { onread } : {}) } as net.SocketConstructorOpts);
  } catch (err) {
    throw fromConnectErrno(err as NodeJS.ErrnoException, target.display);
  }
}

/**
 * One connect attempt, no retry: resolves with the socket or rejects with a typed
 * UdsError (a full backlog is BACKLOG_FULL; the caller owns the retry policy).
 */
export function connectOnce(
  target: Target,
  leftMs: number,
  timeoutMs: number,
  signal?: AbortSignal,
  onread?: ConnectOptions['onread'],
): Promise<net.Socket> {
  if (target.kind === 'abstract' || (target.kind === 'unix' && hasKeptBytes(target.path))) return connectAbstract(target, onread);
  return new Promise((resolve, reject) => {
    const extra = onread ? { onread } : {};
    const socket =
      target.kind === 'unix' ? net.connect({ path: target.path, ...extra }) : net.connect({ host: target.host, port: target.port, ...extra });
    const onAbort = () => {
      clearTimeout(timer);
      socket.destroy();
      reject(aborted(target));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(connectTimeoutError(target.display, timeoutMs));
    }, leftMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      // Linux answers ECONNREFUSED for a path that is not a socket at all.
      if (err.code === 'ECONNREFUSED' && target.kind === 'unix') {
        stat(fsPath(target.path), (statErr, st) => {
          if (!statErr && !st.isSocket()) {
            reject(new UdsError('NOT_A_SOCKET', `${target.display}: exists but is not a socket`, { target: target.display, cause: err }));
          } else reject(fromConnectErrno(err, target.display));
        });
        return;
      }
      reject(fromConnectErrno(err, target.display));
    };
    socket.once('error', onError);
  });
}
