/**
 * The record of one exchange, as send, probe and the library see it (whatever
 * the socket type), and the payload source the exchange and the session
 * read. Its own module so that services, probe and the session import it
 * without the exchange.
 */
import type { UdsError } from './errors.js';
import type { PeerCred } from './socket/peer.js';
import type { SocketType, SocketTypeSource } from './socket/socket-type.js';

/**
 * Where a streamed payload comes from: a readable stream, or anything with its
 * 'data' / 'end' / 'error' events and pause() / resume(). `release(chunk)`, if
 * present, is called once a chunk it emitted has been written (its buffer may
 * then be reused).
 */
export type PayloadSource = Pick<NodeJS.EventEmitter, 'on' | 'once' | 'removeListener'> & {
  pause(): unknown;
  resume(): unknown;
  release?(chunk: Buffer): void;
};

/**
 * How the connection ended: the server closed it, reset it, our timeout fired
 * before the reply ended, or the end rule was met and it was still open when we
 * closed it. `error`: it failed before or while connecting. `sent`: a
 * datagram was sent and no reply was wanted.
 */
export type ExchangeEnd = 'closed' | 'reset' | 'timeout' | 'open' | 'error' | 'sent';

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
  /**
   * The reply up to the end rule (for eof: everything), at most maxReply bytes
   * of it. Bytes after the rule are counted in bytesReceived.
   */
  reply: Buffer;
  /** Length of the whole reply, kept or not (reply.length unless truncated). */
  replyBytes: number;
  /** The reply was longer than maxReply: `reply` holds only its first maxReply bytes. */
  truncated: boolean;
  /** Whether the end rule was met. */
  ruleMet: boolean;
  /**
   * What the protocol's framer read in the reply (--http, --resp): its status
   * (HTTP status code; 0: none), whether the peer said it closes after it, and
   * whether it is the protocol's error reply. Absent for the plain rules.
   */
  frame?: { status: number; closing: boolean; failed: boolean };
  /** The rule was not met: where the unfinished reply stood, by its framer ("Content-Length 100, but only 9 bytes of body"). */
  frameState?: string;
  end: ExchangeEnd;
  timings: ExchangeTimings;
  error?: UdsError;
  /** The Unix socket type used (absent for TCP) and how it was learnt. */
  socketType?: SocketType;
  socketTypeSource?: SocketTypeSource;
  /** Messages received (seqpacket, dgram). */
  messagesReceived?: number;
  /** The peer process, from the connected socket (SO_PEERCRED), when asked for. */
  peer?: PeerCred & { source: 'peercred' };
}

/**
 * Stop reading a payload source (the exchange's, the session's): its listeners
 * off, paused, and unref'd, so stdin never keeps the process alive afterwards
 * (a pipe that never ends).
 */
export function detachPayload(
  input: PayloadSource,
  onData: (chunk: Buffer | string) => void,
  onEnd: () => void,
  onError: (err: Error) => void,
): void {
  input.removeListener('data', onData);
  input.removeListener('end', onEnd);
  input.removeListener('error', onError);
  input.pause();
  (input as { unref?: () => void }).unref?.();
}

/**
 * The record of an exchange in which no byte went either way (a failed connect,
 * a connection only opened and closed): `fields` names it, the rest is zero.
 */
export function nothingExchanged(
  fields: Pick<ExchangeRecord, 'target' | 'until'> & Partial<ExchangeRecord>,
  end: ExchangeEnd,
  timings: ExchangeTimings,
  error?: UdsError,
): ExchangeRecord {
  const { target, until, ...more } = fields;
  return {
    target,
    ok: error === undefined,
    until,
    bytesSent: 0,
    bytesReceived: 0,
    reply: Buffer.alloc(0),
    replyBytes: 0,
    truncated: false,
    ruleMet: false,
    ...more,
    end,
    timings,
    ...(error ? { error } : {}),
  };
}
