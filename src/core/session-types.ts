/**
 * The interactive session's data (send --interactive): its options, events
 * and record, on every socket type (session.ts).
 */
import type { UdsError } from './errors.js';
import type { PayloadSource } from './exchange-record.js';
import type { SocketType } from './socket/socket-type.js';

export interface SessionOptions {
  /** Bound on connecting. Default 5s. */
  connectTimeout?: number;
  /** Bound on each wait that is the peer's (or the output's): see the module comment. Default 5s. */
  timeout?: number;
  /** Send each `\n` of the input as `\r\n` (a `\r\n` already there is left alone). */
  crlf?: boolean;
  /** What to send, as it comes; its end half-closes the connection. None: only the reply is read. */
  input?: PayloadSource;
  /**
   * Each chunk of reply, as it arrives. The chunk is a view of a reused buffer,
   * valid only during the call: copy what you keep. Return false when the
   * output is full; then call `outputDrained()` of the handle when it has room.
   */
  onData?: (chunk: Buffer, timing: ReplyTiming) => boolean;
  /** Things the user may want to see as they happen. */
  onEvent?: (event: SessionEvent) => void;
  /** Ends the session at once (e.g. Ctrl-C): the record says `end: 'interrupted'`. */
  signal?: AbortSignal;
  /**
   * The Unix socket type; default: found out (/proc/net/unix's type first, else stream,
   * seqpacket, dgram tried in turn on EPROTOTYPE). On seqpacket and dgram each
   * line of the input is one message, and onData gets one whole message a call.
   */
  socketType?: SocketType;
}

export interface ReplyTiming {
  /** Microseconds since our last write (a line typed) or the end of our input, or since connecting when nothing was sent yet. */
  sinceSendUs: number;
  /** Microseconds since the session started. */
  atUs: number;
  /** Whether anything was sent before this chunk. */
  afterSend: boolean;
  /** seqpacket, dgram: the chunk is one whole message; this is its size (more than the chunk's when it was cut at 256 KiB). */
  messageBytes?: number;
}

export type SessionEvent =
  | { type: 'connected'; target: string; atUs: number; socketType: SocketType }
  /** Our input ended: `halfClosed` our write side shut down (stream, seqpacket), else (dgram) a wait for more datagrams. */
  | { type: 'input-ended'; atUs: number; waitMs: number; halfClosed: boolean }
  | { type: 'server-closed'; atUs: number }
  | { type: 'reset'; atUs: number };

/**
 * How it ended: the server closed (after our input ended, or on its own), it
 * reset the connection, a bound passed, the caller interrupted it, or it
 * failed (connecting, or reading the input); `waited` (dgram: there is no
 * close): our input ended and the wait for more datagrams passed.
 */
export type SessionEnd = 'closed' | 'reset' | 'timeout' | 'interrupted' | 'error' | 'waited';

export interface SessionRecord {
  target: string;
  ok: boolean;
  end: SessionEnd;
  bytesSent: number;
  bytesReceived: number;
  /** Whether our input ended and the write side was shut down. */
  halfClosed: boolean;
  /** The socket type the session ran on (absent when connecting failed before it was known). */
  socketType?: SocketType;
  /** seqpacket, dgram: messages each way. */
  messagesSent?: number;
  messagesReceived?: number;
  timings: { connectedUs?: number; firstByteUs?: number; inputEndedUs?: number; closedUs?: number; totalUs: number };
  error?: UdsError;
}

