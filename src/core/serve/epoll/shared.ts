/**
 * What the serve engine's threads and the main thread share: the thread
 * configuration, the control words, the messages, and the compact form in
 * which connection records travel (numbers in a Float64Array, previews in
 * one byte array; both transferred, not copied).
 */
import { processName } from '../../socket/peer.js';
import type { Fault, ReadMode } from '../options.js';
import { CONN_ENDS, type ConnEnd, type ConnectionLog, REASON_NO_REQUEST_TEXT, type RequestLog, reasonIdle, reasonMaxBytes, reasonMaxConns, reasonUnread } from '../protocol.js';
import { decodeKeepingBytes } from '../../escape.js';
import { errnoName } from '../../socket/ffi.js';

/** Control words (Int32Array over a SharedArrayBuffer). */
export const C_STATE = 0;
/** Connections open over all threads (kept only with --max-conns, where it decides). */
export const C_ACTIVE = 1;
/** Connections handled over all threads (kept only with --count). */
export const C_HANDLED = 2;
/** 1 while an out-of-descriptors episode has been reported. */
export const C_FD_WARNED = 3;
/** Threads that have taken the listener out of their epoll set. */
export const C_STOP_ACKS = 4;
/** Open descriptors besides connections (measured once the threads run). */
export const C_FD_BASE = 5;
/** 1 once threads that write the log themselves (ThreadConfig.logTo) may write it. */
export const C_LOG_OPEN = 6;
/** Log lines the threads dropped because the log's reader was too slow. */
export const C_LOG_DROPPED = 7;
/** Then, per thread: accepted so far (the main thread watches it to drain the queue), and open now. */
export const C_PER_THREAD = 8;
export const controlWords = (threads: number): number => C_PER_THREAD + 2 * threads;
export const acceptedWord = (i: number): number => C_PER_THREAD + 2 * i;
export const openWord = (i: number): number => C_PER_THREAD + 2 * i + 1;

/** C_STATE values, in the order shutdown goes through them. */
export const RUN = 0;
/** close() has begun: still accepting (draining the queue), but a connection ending unanswered now ends by shutdown. */
export const CLOSING = 1;
/** Stop accepting; close idle keep-alive connections; finish the rest. */
export const STOP = 2;
/** Past --grace (or a second signal): close everything now. */
export const ABORT = 3;

export interface ThreadConfig {
  index: number;
  threads: number;
  listenFd: number;
  /** The listening socket's type (SOCK_STREAM, SOCK_SEQPACKET; BoundListener.socketType). */
  socketType: number;
  /** Fixed reply with its newline, or null for `OK+ at HH:MM:SS\n`. */
  reply: Uint8Array | null;
  echo: boolean;
  keepAlive: boolean;
  read: ReadMode;
  maxBytes: number;
  idleMs: number;
  /** 0: no limit. */
  maxConns: number;
  /** 0: no limit. */
  count: number;
  /** Record connections for the log, to be sent to the main thread ('logs' messages). */
  log: boolean;
  /** Write the log here from the thread itself, rendered by a module it loads; null: not. */
  logTo: ThreadLogSpec | null;
  /** The soft limit on open descriptors (Infinity when unknown). */
  fdLimit: number;
  control: SharedArrayBuffer;
  /** BigInt64Array(1): the next connection id, shared so ids are unique over threads. */
  ids: SharedArrayBuffer;
  /** The tap's epoll relay (relay-thread.ts): relay to this upstream instead of replying. */
  upstream?: RelayUpstream;
}

/** What the tap's relay thread needs of the upstream (ThreadConfig.upstream). */
export interface RelayUpstream {
  /** The sockaddr (sockaddr.ts's builder). */
  addr: Uint8Array;
  family: number;
  tcp: boolean;
  connectMs: number;
  /** The listening socket is TCP (a client's reset is relayed as a real RST). */
  listenTcp: boolean;
  /** The upstream as given (the log's words). */
  display: string;
  /** A Unix path upstream: its path (bytes kept), and the tap's own socket file, not to be connected to. */
  path?: string | Buffer;
  own?: { dev: number; ino: number } | null;
  /** --delay (or --fault slow's default): each reply chunk waits this long before it goes to the client; 0: none. */
  delayMs: number;
  /** --fault: carried out as the reply shaper (reply-shaper.ts) says; the records name it. */
  fault?: Fault;
}

/** Fields of one connection record. */
export const R_ID = 0;
export const R_AT = 1;
export const R_IN = 2;
export const R_OUT = 3;
export const R_REQUESTS = 4;
export const R_DURATION = 5;
export const R_END = 6;
export const R_REASON = 7;
/** errno of a client-reset or error end. */
export const R_ERRNO = 8;
/** Preview lengths in the text bytes; -1: none. */
export const R_REQ_LEN = 9;
export const R_REP_LEN = 10;
/** 0: a connection's record; n > 0: request n of a --keep-alive connection (R_IN, R_OUT: its bytes). */
export const R_SEQ = 11;
/** The client's process (SO_PEERCRED), R_PID 0: not known. */
export const R_PID = 12;
export const R_UID = 13;
export const R_GID = 14;
export const R_FIELDS = 15;

/** How previews are cut, as the net engine cuts them. */
export const PREVIEW = 200;

export const ENDS: readonly ConnEnd[] = CONN_ENDS;
export const END_CODE = Object.fromEntries(ENDS.map((e, i) => [e, i])) as Record<ConnEnd, number>;

/** Why a connection ended as it did; the words are the net engine's. */
export const REASON_NONE = 0;
export const REASON_ERRNO = 1;
export const REASON_IDLE = 2;
export const REASON_MAX_BYTES = 3;
export const REASON_MAX_CONNS = 4;
export const REASON_NO_REQUEST = 5;
/** Idle with replies waiting: the client writes (or wrote) and does not read. */
export const REASON_UNREAD = 6;

/**
 * A connection log the engine threads write themselves, straight to a file
 * descriptor: no record crosses to the main thread. The engine knows nothing of
 * the log's format: each thread imports `module` and calls its export `factory`
 * with `args`, which returns the renderer (log, out) => void, or LogRenderers
 * (thread-log.ts: connection, --keep-alive request and dropped-lines lines).
 */
export interface ThreadLogSpec {
  fd: number;
  module: string;
  factory: string;
  args: unknown[];
}

/** The limits a reason's wording names. */
export interface ReasonLimits {
  idleMs: number;
  maxBytes: number;
  maxConns: number;
}

/** The words for why a connection ended (the net engine's), or undefined. */
export function reasonText(code: number, errno: number, limits: ReasonLimits): string | undefined {
  switch (code) {
    case REASON_ERRNO:
      return errnoName(errno);
    case REASON_IDLE:
      return reasonIdle(limits.idleMs);
    case REASON_MAX_BYTES:
      return reasonMaxBytes(limits.maxBytes);
    case REASON_MAX_CONNS:
      return reasonMaxConns(limits.maxConns);
    case REASON_NO_REQUEST:
      return REASON_NO_REQUEST_TEXT;
    case REASON_UNREAD:
      return reasonUnread(limits.idleMs);
    default:
      return undefined;
  }
}

/** The last preview decoded, and its bytes: the same bytes again give the same string without decoding. */
class TextCache {
  private bytes = Buffer.alloc(PREVIEW);
  private len = -1;
  private text: string | undefined;

  decode(buf: Buffer, pos: number, len: number): string | undefined {
    if (len < 0) return undefined;
    if (len === this.len) {
      let k = 0;
      while (k < len && buf[pos + k] === this.bytes[k]) k++;
      if (k === len) return this.text;
    }
    buf.copy(this.bytes, 0, pos, pos + len);
    this.len = len;
    this.text = decodeKeepingBytes(buf, pos, pos + len);
    return this.text;
  }
}

/**
 * Reads batches of connection records (the compact form above) back into
 * ConnectionLog entries. Records come by the thousand a second, mostly alike:
 * the time and the texts are decoded once per change.
 */
export class RecordReader {
  private lastAt = -1;
  private atText = '';
  private readonly requestText = new TextCache();
  private readonly replyText = new TextCache();

  constructor(private readonly limits: ReasonLimits) {}

  /**
   * Call `each` with every connection record of the batch, and `eachRequest`
   * with every request record: with `reuse` filled in (for a caller that keeps
   * nothing of it past the call), or else a new entry each.
   */
  read(
    count: number,
    nums: Float64Array,
    text: Uint8Array,
    each: (log: ConnectionLog) => void,
    reuse?: ConnectionLog,
    eachRequest?: (log: RequestLog) => void,
    reuseRequest?: RequestLog,
  ): void {
    const buf = Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    let pos = 0;
    for (let k = 0; k < count; k++) {
      const o = k * R_FIELDS;
      const at = nums[o + R_AT];
      if (at !== this.lastAt) {
        this.lastAt = at;
        this.atText = new Date(at).toISOString();
      }
      const reqLen = nums[o + R_REQ_LEN];
      const request = this.requestText.decode(buf, pos, reqLen);
      if (reqLen > 0) pos += reqLen;
      const repLen = nums[o + R_REP_LEN];
      const reply = this.replyText.decode(buf, pos, repLen);
      if (repLen > 0) pos += repLen;
      const seq = nums[o + R_SEQ];
      if (seq > 0) {
        if (eachRequest === undefined) continue;
        const r: RequestLog = reuseRequest ?? ({} as RequestLog);
        r.id = nums[o + R_ID];
        r.seq = seq;
        r.at = this.atText;
        r.bytesIn = nums[o + R_IN];
        r.bytesOut = nums[o + R_OUT];
        r.request = request;
        r.reply = reply;
        eachRequest(r);
        continue;
      }
      const code = nums[o + R_REASON];
      const reason = code === REASON_NONE ? undefined : reasonText(code, nums[o + R_ERRNO], this.limits);
      const entry: ConnectionLog = reuse ?? ({} as ConnectionLog);
      entry.id = nums[o + R_ID];
      entry.at = this.atText;
      entry.bytesIn = nums[o + R_IN];
      entry.bytesOut = nums[o + R_OUT];
      entry.requests = nums[o + R_REQUESTS];
      entry.request = request;
      entry.reply = reply;
      entry.durationUs = nums[o + R_DURATION];
      entry.end = ENDS[nums[o + R_END]];
      if (reuse) entry.reason = reason;
      else if (reason !== undefined) entry.reason = reason;
      const pid = nums[o + R_PID];
      if (pid > 0) entry.peer = { pid, uid: nums[o + R_UID], gid: nums[o + R_GID], name: processName(pid) };
      else if (reuse) entry.peer = undefined;
      each(entry);
    }
  }
}

export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'logs'; count: number; nums: Float64Array; text: Uint8Array }
  /** --count was reached by a connection of this thread. */
  | { type: 'count' }
  /** Out of descriptors (hit), or descriptors free again. */
  | { type: 'fd-pressure'; hit: boolean; open: number }
  | { type: 'warning'; message: string }
  | { type: 'done' };
