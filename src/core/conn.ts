/**
 * The connection seam under the one exchange (exchange.ts) and the one
 * interactive session (session.ts): read (each chunk, or each message whole,
 * handed over as it comes), write (on a message socket each write is one
 * message), shut down the write side after what is queued, pause and resume
 * reading (wait readable), destroy. A stream is node:net's Socket as it is;
 * seqpacket and dgram are socket/message-conn.ts over socket/message.ts.
 * The policies above (deadlines, end rules, backpressure, the session's
 * lines) are written once and never ask which one they run on, beyond what
 * the socket type means (a message's boundaries, a datagram's missing close).
 */
import { connectMessage } from './exchange-message.js';
import { openConnection } from './socket/connect.js';
import { MessageConn } from './socket/message-conn.js';
import { socketFd } from './socket/net-fd.js';
import type { SocketType } from './socket/socket-type.js';
import { SpareFd } from './socket/spare-fd.js';
import type { Target } from './socket/target.js';

/** What the exchange and the session need of a connection: node:net's Socket has it, and so has MessageConn. */
export interface Conn {
  /** One chunk (a message on a message socket); false when it is queued (then 'drain' follows). */
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  /** Shut down our write side once what is queued is sent (a datagram has nothing to shut). */
  end(): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  /** 'close': node:net's, after 'end' or an error; a message socket has only 'end' (a seqpacket peer's close). */
  on(event: 'end' | 'error' | 'close', fn: (err: NodeJS.ErrnoException) => void): unknown;
  once(event: 'drain', fn: () => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  removeListener(event: string, fn: (...args: any[]) => void): unknown;
}

/**
 * A chunk of reply (a view valid only during the call) and, on a message
 * socket, the whole message's size (more than the chunk's when it was cut);
 * false stops reading until resume().
 */
export type OnChunk = (chunk: Buffer, whole: number) => boolean;

/** An open connection of a known socket type. */
export interface OpenConn {
  readonly conn: Conn;
  readonly type: SocketType;
  /** Messages received so far (seqpacket, dgram). */
  readonly messages?: () => number;
  /** The connected descriptor, for SO_PEERCRED (-1: none, as on dgram). */
  fd(): number;
  /** Start handing reply to `onChunk` (after the caller's handlers are in place). */
  start(onChunk: OnChunk): void;
  /**
   * After a write found the peer gone: hand over what it sent before it went,
   * still unread (node:net drops it; see spare-fd.ts), then the end follows.
   */
  readLeft(): void;
  /** Let go of what readLeft needs (at the end). */
  release(): void;
}

/** Each stream read fills one reused buffer: a flood allocates nothing per read. */
const READ_BUFFER_SIZE = 64 * 1024;

export interface OpenConnOptions {
  connectTimeout: number;
  signal?: AbortSignal;
  /** dgram: bind an address of our own first, so that the server's datagrams can come back. */
  bindReply?: boolean;
  /** Keep what readLeft() needs (a stream's spare descriptor). */
  readLeft?: boolean;
  /** message sockets: what one write of `bytes` is called in an EMSGSIZE error ("the message (N bytes)", "a line of N bytes"). */
  unit?: (bytes: number) => string;
}

/** Connect to `t` as a socket of `type`; throws a typed UdsError (WRONG_TYPE when it is another type). */
export async function openConn(t: Target, type: SocketType, o: OpenConnOptions): Promise<OpenConn> {
  let handler: OnChunk | undefined;
  const early: Buffer[] = [];
  const sink = {
    buffer: Buffer.allocUnsafe(type === 'stream' ? READ_BUFFER_SIZE : 0),
    callback: (n: number, buf: Buffer, whole = n): boolean => {
      if (handler) return handler(buf.subarray(0, n), whole);
      early.push(Buffer.from(buf.subarray(0, n))); // not expected: reading starts with the caller's handler in place
      return true;
    },
  };
  if (type === 'stream') {
    const socket = await openConnection(t, { connectTimeout: o.connectTimeout, signal: o.signal, onread: sink });
    const spare = o.readLeft ? SpareFd.of(socket) : undefined;
    return {
      conn: socket,
      type,
      fd: () => socketFd(socket),
      start(onChunk) {
        handler = onChunk;
        for (const c of early.splice(0)) onChunk(c, c.length);
      },
      readLeft: () => spare?.drain(sink.buffer, (chunk) => handler?.(chunk, chunk.length)),
      release: () => spare?.close(),
    };
  }
  const sock = await connectMessage(t, type, o.connectTimeout, type === 'dgram' && Boolean(o.bindReply), o.signal);
  const conn = new MessageConn(sock, t.display, sink, o.unit);
  return {
    conn,
    type,
    messages: () => conn.messages,
    fd: () => (type === 'seqpacket' ? sock.fd : -1),
    start(onChunk) {
      handler = onChunk;
      conn.start();
    },
    readLeft: () => conn.readQueued(),
    release: () => {},
  };
}
