/**
 * The exchange's options (the library's ExchangeOptions) and their one check
 * and normalising step to settled settings, with the defaults written out:
 * a bad option is a typed BAD_OPTION (or BAD_DURATION) before any connect.
 */
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './defaults.js';
import { checkDuration } from './duration.js';
import { UdsError } from './errors.js';
import type { PayloadSource } from './exchange-record.js';
import { type EndRule, checkEndRule } from './framing/end-rule.js';
import type { PeerCred } from './socket/peer.js';
import type { SocketType } from './socket/socket-type.js';

/** Bytes of a reply kept in the record by default (more is counted, not kept). */
export const DEFAULT_MAX_REPLY = 1024 * 1024;

export interface ExchangeOptions {
  /** Bytes to send (may be empty: then nothing is written). */
  payload?: Buffer;
  /**
   * More bytes to send, read from this stream as they come (e.g. stdin) and
   * written after `payload`, with backpressure: the stream is paused while the
   * socket's send buffer is full, so memory stays flat whatever its size.
   */
  payloadStream?: PayloadSource;
  /** End-of-reply rule; default eof (the server closes). */
  until?: EndRule;
  /** Bound on connecting. Default 5s. */
  connectTimeout?: number;
  /** Bound on the reply, from connected to end of reply: a hard deadline whatever the peer sends. Default 5s. */
  timeout?: number;
  /** Shut down our write side after the payload (and payloadStream, to its end) is written. */
  halfClose?: boolean;
  /**
   * After the end rule is met while the connection is open, wait this long for
   * the server to close (a health check's close phase). 0 (default): close at once.
   */
  closeTimeout?: number;
  /**
   * Bytes of reply kept in the record (default 1 MiB). Beyond it bytes are
   * counted and scanned for the end rule, not kept, and `truncated` says so.
   */
  maxReply?: number;
  /** Called for each chunk of reply as it arrives (streaming output, progress). */
  onData?: (chunk: Buffer) => void;
  /**
   * Every chunk of reply is written here as it arrives (streaming output, like
   * nc). While it is full the socket is paused; the deadline still holds. If
   * it fails (its reader went away) the exchange ends at once with IO_ERROR.
   */
  replyTo?: NodeJS.WritableStream;
  /** Aborts the exchange (e.g. on SIGINT); the record says so. */
  signal?: AbortSignal;
  /**
   * The Unix socket type; default: found out (/proc/net/unix's type first, else stream,
   * seqpacket, dgram tried in turn on EPROTOTYPE). On a message socket
   * (seqpacket, dgram) the payload is one message and, without `until`, the
   * reply is one message.
   */
  socketType?: SocketType;
  /**
   * The end of reply on a message socket: 'message' (one message), or a rule.
   * Default: `until` when given, else one message.
   */
  messageUntil?: EndRule | 'message';
  /** dgram: wait for a reply (we bind an address of our own for it); default false: done once the datagram is sent. */
  wantReply?: boolean;
  /** Name the peer's process from the connected socket (SO_PEERCRED, Linux). */
  peerCred?: boolean;
  /**
   * An end rule looked up only when it is needed: with `until` eof on a stream,
   * when the reply has been quiet for LATE_RULE_QUIET_MS without the server
   * closing, this is called once; a rule it resolves to then ends the reply
   * (applied to the bytes already received, then to what follows). send uses
   * it for a recognised service's end rule, so a server that closes after its
   * reply costs no lookup. `peer`: the connection's SO_PEERCRED (Unix), so
   * the lookup needs no connection of its own.
   */
  lateUntil?: (peer: PeerCred | null) => Promise<EndRule | null>;
}

/** The options checked, defaults filled in: what the exchange runs on. */
export interface ExchangeSettings {
  payload: Buffer;
  payloadStream?: PayloadSource;
  until: EndRule;
  connectTimeout: number;
  timeout: number;
  closeTimeout: number;
  halfClose: boolean;
  maxReply: number;
  onData?: (chunk: Buffer) => void;
  replyTo?: NodeJS.WritableStream;
  signal?: AbortSignal;
  lateUntil?: (peer: PeerCred | null) => Promise<EndRule | null>;
}

/** How long a reply read to eof is quiet before `lateUntil` is asked for its end rule. */
export const LATE_RULE_QUIET_MS = 25;

const isStream = (v: unknown, method: string): boolean =>
  typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function';

/** Check a library caller's options as the CLI checks flags: a typed BAD_OPTION, never a TypeError or a made-up verdict. */
export function exchangeSettings(o: ExchangeOptions): ExchangeSettings {
  if (o === null || typeof o !== 'object') throw new UdsError('BAD_OPTION', 'options must be an object');
  const payload: unknown = o.payload ?? Buffer.alloc(0);
  if (!(payload instanceof Uint8Array)) {
    throw new UdsError('BAD_OPTION', `payload must be a Buffer (got ${typeof payload}); send() also takes a string`);
  }
  if (o.payloadStream !== undefined) {
    const missing = ['on', 'once', 'removeListener', 'pause', 'resume'].filter((m) => !isStream(o.payloadStream, m));
    if (missing.length > 0) throw new UdsError('BAD_OPTION', `payloadStream must be a readable stream (it has no ${missing.join('(), ')}())`);
  }
  if (o.replyTo !== undefined && !['write', 'on', 'once', 'removeListener'].every((m) => isStream(o.replyTo, m))) {
    throw new UdsError('BAD_OPTION', 'replyTo must be a writable stream (write(), on(), once(), removeListener())');
  }
  if (o.onData !== undefined && typeof o.onData !== 'function') throw new UdsError('BAD_OPTION', 'onData must be a function');
  if (o.lateUntil !== undefined && typeof o.lateUntil !== 'function') throw new UdsError('BAD_OPTION', 'lateUntil must be a function');
  const maxReply = o.maxReply ?? DEFAULT_MAX_REPLY;
  if (!Number.isSafeInteger(maxReply) || maxReply < 0) {
    throw new UdsError('BAD_OPTION', `maxReply must be a whole number of bytes >= 0 (got ${String(o.maxReply)})`);
  }
  return {
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    payloadStream: o.payloadStream,
    until: checkEndRule(o.until ?? { kind: 'eof' }),
    connectTimeout: checkDuration(o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeout', { positive: true }),
    timeout: checkDuration(o.timeout ?? DEFAULT_TIMEOUT_MS, 'timeout', { positive: true }),
    closeTimeout: checkDuration(o.closeTimeout ?? 0, 'closeTimeout'),
    halfClose: Boolean(o.halfClose),
    maxReply,
    onData: o.onData,
    replyTo: o.replyTo,
    signal: o.signal,
    lateUntil: o.lateUntil,
  };
}
