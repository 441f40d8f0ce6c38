/**
 * serve's connection protocol, written once for every engine: the options and
 * the records (connection and request logs, end words), the request framing
 * (oneshotRequestEnd, requestAtEnd), the reply rule, how a connection's end is
 * named (endAtClose, errnoEnd, faultReason and the reason words), descriptor
 * accounting and drain-then-close. An engine (engine-net.ts's per-connection
 * handler, epoll/conn-step.ts and thread.ts) moves bytes and calls these; a
 * new engine implements Server and takes its policy from here.
 */
import type { EventEmitter } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { decodeKeepingBytes } from '../escape.js';
import type { NamedPeer } from '../socket/peer.js';
import type { Target } from '../socket/target.js';
import type { Fault, ReadMode } from './options.js';
import type { TrafficLog } from './tap-records.js';
import type { MessageConnLog, MessageLog } from './message-server.js';
import type { MessageTapPeerLog, MessageTapTraffic } from './message-tap-records.js';

export const ONESHOT_READ_SIZE = 512;
/** Keep-alive with --delay: reading stops while this many replies wait for their time. */
export const MAX_DELAYED = 1024;

export interface ServeOptions {
  /** Reply text; default `OK+ at HH:MM:SS\n` (local time). A newline is added unless it ends with one. */
  reply?: Buffer;
  /** Echo the request instead of the reply text. */
  echo?: boolean;
  /** Persistent line protocol: a reply for every line; the connection stays open. */
  keepAlive?: boolean;
  /** One-shot request framing: one read of up to 512 bytes (default), a line, or until the client half-closes. */
  read?: ReadMode;
  fault?: Fault;
  /** Delay before replying (slow: default 1s; others 0). */
  delay?: number;
  /** Socket file mode, e.g. 0o660; applied at bind time through the umask. */
  perm?: number;
  /** Group name or gid for the socket file. */
  group?: string | number;
  /** Stop after this many connections have been handled. */
  count?: number;
  /** Accepted connections beyond this are closed at once, without a reply, and logged. */
  maxConns?: number;
  /** Largest request accepted; a client that sends more is disconnected with a logged reason. Default 1 MiB. */
  maxBytes?: number;
  /** Close a connection that sends nothing for this long. Default 60s; 0 disables. */
  idleTimeout?: number;
  /** listen(2) backlog. Default 511. */
  backlog?: number;
  /** Bound on in-flight exchanges at shutdown. Default 5s. */
  graceTimeout?: number;
  /** Replace a stale socket file (default true). */
  replaceStale?: boolean;
}

/** How a served connection ended: the end words of every engine's log. */
export const CONN_ENDS = [
  'closed',
  'client-closed',
  'client-reset',
  'reset',
  'left-open',
  'idle-timeout',
  'max-bytes',
  'over-max-conns',
  'shutdown',
  'error',
] as const;
export type ConnEnd = (typeof CONN_ENDS)[number];

export interface ConnectionLog {
  id: number;
  /** Wall-clock start, ISO 8601. */
  at: string;
  bytesIn: number;
  bytesOut: number;
  requests: number;
  /**
   * The request, as text (truncated to 200 bytes); one-shot only (--keep-alive
   * logs each request: RequestLog). A byte that is not UTF-8 is kept as the
   * lone surrogate U+DC00+byte (escapeText shows \xHH, fromKeptBytes gives
   * Buffer#toString's U+FFFD).
   */
  request?: string;
  /** The reply sent, as text (truncated to 200 bytes; bytes kept as for request); one-shot only. */
  reply?: string;
  durationUs: number;
  end: ConnEnd;
  fault?: Fault;
  reason?: string;
  /** The client's process (SO_PEERCRED, Unix sockets on Linux): pid, uid, gid, name. */
  peer?: NamedPeer;
}

/**
 * One request and its reply on a --keep-alive connection. Each comes when its
 * reply is sent (or known never to be), in order; the connection's own record
 * (without previews, with the count) comes when it ends.
 */
export interface RequestLog {
  /** The connection's id. */
  id: number;
  /** The request's number on its connection, from 1. */
  seq: number;
  /** When the request was read, ISO 8601. */
  at: string;
  /** The request's bytes. */
  bytesIn: number;
  /** The reply's bytes (0: none). */
  bytesOut: number;
  /** The request, as text (truncated to 200 bytes). */
  request?: string;
  /** Its reply, as text (truncated to 200 bytes); none when it got no reply. */
  reply?: string;
}

export interface ServerEvents {
  listening: [info: { target: string; replacedStale: boolean }];
  connection: [log: ConnectionLog];
  /** --keep-alive only: one per request, before its connection's record. */
  request: [log: RequestLog];
  warning: [message: string];
  done: [];
  /** The tap (serve --upstream) only: each chunk, half-close, close and reset of a relayed connection. */
  traffic: [log: TrafficLog];
  /** The message engine's server (dgram, seqpacket): each datagram or message. */
  message: [log: MessageLog];
  /** The message engine's seqpacket server: each connection opened or ended. */
  conn: [log: MessageConnLog];
  /** The message engine's tap: each message or datagram relayed (or not). */
  messageTraffic: [log: MessageTapTraffic];
  /** The message engine's tap: each seqpacket connection or dgram sender's relay socket opened or ended. */
  messagePeer: [log: MessageTapPeerLog];
}

/** `OK+ at 15:04:05\n` in local time: the reference one-shot reply. */
export function defaultReply(date = new Date()): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  return Buffer.from(`OK+ at ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}\n`);
}

// The reply changes once a second; serve builds it once a second, not per request.
let cachedSecond = -1;
let cachedReply: Buffer = Buffer.alloc(0);
export function currentReply(now = Date.now()): Buffer {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedReply = defaultReply(new Date(now));
  }
  return cachedReply;
}

/**
 * One-shot framing (--read): where the request ends in a chunk buf[0, n)
 * read so far, or -1 while it is not complete. once: the first read, up to
 * ONESHOT_READ_SIZE bytes; line: up to and with the first newline; eof: only
 * the client's end completes it (requestAtEnd).
 */
export function oneshotRequestEnd(mode: ReadMode, buf: Buffer, n: number): number {
  if (mode === 'once') return n < ONESHOT_READ_SIZE ? n : ONESHOT_READ_SIZE;
  if (mode === 'eof') return -1;
  const nl = buf.indexOf(0x0a);
  return nl >= 0 && nl < n ? nl + 1 : -1;
}

/** Whether input still pending when the client ends is a request: eof framing's whole request, keep-alive's unfinished last line. */
export function requestAtEnd(mode: ReadMode, keepAlive: boolean): boolean {
  return keepAlive || mode === 'eof';
}

/** The first 200 bytes as text, bytes that are not UTF-8 kept (the log shows them as \xHH). */
export const preview = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : decodeKeepingBytes(b, 0, Math.min(b.length, 200));


const NL = Buffer.from('\n');

/**
 * How a connection ended that has no end of its own (no fault, limit or
 * error decided it): closed after a reply, closed by the client without one,
 * or cut by shutdown while it had none.
 */
export function endAtClose(closing: boolean, replied: boolean): ConnEnd {
  return replied ? 'closed' : closing ? 'shutdown' : 'client-closed';
}

/** A connection's socket failed with this errno (name or number): the client reset it, or another error. */
export function errnoEnd(errno: string | number | undefined): ConnEnd {
  return errno === 'ECONNRESET' || errno === 'EPIPE' || errno === E_CONNRESET || errno === E_PIPE ? 'client-reset' : 'error';
}
const E_CONNRESET = osConstants.errno.ECONNRESET;
const E_PIPE = osConstants.errno.EPIPE;

/** The reply rule: a fixed --reply gets a newline unless it ends with one (an empty reply stays empty). */
export function withNewline(reply: Buffer): Buffer {
  return reply.length > 0 && reply[reply.length - 1] !== 0x0a ? Buffer.concat([reply, NL]) : reply;
}

/** The note on a reply whose line ending --fault no-newline took off (the message taps' traffic records). */
export const NO_NEWLINE_NOTE = 'trailing newline stripped: --fault no-newline';

// The words of every end reason, as both engines log them.
export const reasonIdle = (idleMs: number): string => `no data for ${idleMs}ms`;
export const reasonUnread = (idleMs: number): string => `replies not read for ${idleMs}ms`;
export const reasonMaxBytes = (maxBytes: number): string => `request over --max-bytes ${maxBytes}`;
export const reasonMaxConns = (maxConns: number): string => `over --max-conns ${maxConns}: closed at once`;
export const REASON_NO_REQUEST_TEXT = 'client closed without a request';
/** The reason logged for a connection a fault mode ended. */
export const faultReason = (fault: Fault): string => `fault ${fault}`;

/** The out-of-descriptors warning (once per episode), and its all-clear. */
export function fdPressureText(hit: boolean, open: number, limit: number): string {
  return hit
    ? `out of file descriptors (${open} open, limit ${limit}): new connections are closed at once until some finish (raise ulimit -n)`
    : `file descriptors available again (${open} open, limit ${limit}); accepting normally`;
}
/** Warn this close to the limit (the process needs a few descriptors of its own). */
export const FD_WARN_MARGIN = 4;
/** Say "available again" only this far below it, so one episode is one warning. */
export const FD_CLEAR_MARGIN = 16;

/** The soft limit on open descriptors (Linux; Infinity when unknown: the kernel still enforces it). */
export function fdLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    // not Linux: no early warning
  }
  return Infinity;
}

/** Descriptors open in this process now (0 when unknown). */
export function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * Drain-then-close, the accepting half: clients whose connect() already
 * succeeded may still sit in the kernel's accept queue, and closing the
 * listener would reset them. The caller has unlinked the path (no new client
 * can reach us); keep accepting until the queue has been quiet for a moment,
 * at most min(grace, 1s), then the caller stops accepting.
 */
export async function drainAcceptQueue(acceptedSoFar: () => number, graceMs: number, accepting: () => boolean): Promise<void> {
  const until = Date.now() + Math.min(graceMs, 1_000);
  while (accepting() && Date.now() < until) {
    const before = acceptedSoFar();
    // An engine is woken by a queued connection at once, so a quiet moment means an empty queue.
    await new Promise((r) => setTimeout(r, 15));
    // But a timer runs before the I/O of the same turn: on a busy machine the 15 ms pass while the
    // accepts wait. setImmediate runs after the next poll phase, so the queue has been served once.
    await new Promise((r) => setImmediate(r));
    if (acceptedSoFar() === before) break;
  }
}

/** 'message': the server and the tap of dgram and seqpacket sockets (message-server.ts, message-tap.ts). */
export type EngineName = 'net' | 'epoll' | 'message';

/** A net-engine process's connection ids: first, first+step, ...; with --workers N processes, step N and first its index + 1, so ids are unique over all. */
export interface ConnIds {
  first: number;
  step: number;
}

/**
 * A serve engine, as commands and library users see it: the same events,
 * records, listen/close/abort whichever engine runs. startServe() picks one.
 */
export interface Server extends EventEmitter<ServerEvents> {
  readonly engine: EngineName;
  readonly target: Target;
  /** Whether listen() replaced a stale socket file left by a dead server. */
  readonly replacedStale: boolean;
  /** Bind and listen; handles stale files, refuses live servers and non-sockets. */
  listen(): Promise<{ replacedStale: boolean }>;
  /** The bound address as a target string (TCP port 0 resolved). */
  address(): string;
  /** Stop accepting, let in-flight exchanges finish within graceTimeout, then close the rest and remove our socket file. Idempotent. */
  close(): Promise<void>;
  /** Close every open connection now (a second Ctrl-C); close() then completes at once. */
  abort(): void;
  /** Let an engine that writes the log itself start writing it (after the caller's own first lines). */
  openLog(): void;
  /** Log lines the engine itself dropped for a slow reader; final once 'done' has come. */
  readonly logDropped: number;
  /** Threads or processes serving (absent: 1). */
  readonly workers?: number;
  /**
   * Set when the engine writes the log itself (the epoll threads' logTo): it
   * then makes no record events, and its lines wait for openLog() at most holdMs.
   */
  readonly ownLog?: { holdMs: number };
  /** The listener's socket type (absent: stream). */
  readonly socketType?: 'stream' | 'dgram' | 'seqpacket';
}
