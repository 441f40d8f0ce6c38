/**
 * Connecting a Unix datagram or seqpacket socket (for the connection seam,
 * conn.ts, under the one exchange and the one session; for probe, bench and
 * serve's taps): typed errors (EPROTOTYPE: WRONG_TYPE, a full seqpacket
 * backlog retried with the one back-off), the address of our own a dgram
 * reply needs, and a streamed payload read whole (a message is sent as one).
 */
import { promises as fsp, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs } from './clock.js';
import { UdsError, backlogFullError, fromConnectErrno } from './errors.js';
import { backlogDelay } from './socket/backoff.js';
import { MessageSocket, sockaddrOf } from './socket/message.js';
import { sockaddrPath } from './socket/sockaddr.js';
import { type Target, fsPath } from './socket/target.js';
import type { PayloadSource } from './exchange-record.js';

export { MAX_MESSAGE } from './socket/message-conn.js';

/** Read a streamed payload whole (a message is sent as one), bounded in size and in time. */
export function collectPayload(src: PayloadSource, max: number, ms: number): Promise<Buffer> {
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
    for (let delay = backlogDelay(0); ; delay = backlogDelay(delay)) {
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
    return backlogFullError(t.display, timeoutMs, err);
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
