/**
 * The tap's records (tap.ts): the 'traffic' events of a relayed connection and
 * the words of how each side ended, and of what the reply shaper's actions
 * (reply-shaper.ts) did to the upstream's reply. Apart from the tap so that
 * protocol.ts's ServerEvents can name them without importing the relay.
 */
import type { Fault } from './options.js';

/** Bytes of each chunk a 'traffic' record carries (its preview; `bytes` says how many there were). */
export const TRAFFIC_PREVIEW = 512;

/** How one side of a relayed connection ended. */
export type SideEnd = 'open' | 'half-closed' | 'closed' | 'reset' | 'error' | 'held-open' | 'never-connected';

/** One event of a relayed connection: a chunk of data, a half-close, a close, a reset, the upstream's connect. */
export interface TrafficLog {
  /** The connection's id. */
  id: number;
  /** Wall-clock time, ISO 8601. */
  at: string;
  /** Microseconds since the client's connection was accepted. */
  sinceUs: number;
  /** Whose event: the client's, the upstream's, or the tap's own (a fault, a limit). */
  from: 'client' | 'upstream' | 'tap';
  kind: 'connect' | 'data' | 'half-close' | 'close' | 'reset' | 'error';
  /** data: the chunk's size. */
  bytes?: number;
  /** data: bytes this side sent before this chunk. */
  offset?: number;
  /** data: the chunk's first TRAFFIC_PREVIEW bytes (a copy). */
  data?: Buffer;
  /** error, reset: the typed code (REFUSED, NOT_FOUND, RESET, ...; the exit-status table's). */
  code?: string;
  /** error, reset: the errno name behind it (ECONNREFUSED, ECONNRESET, ...). */
  errno?: string;
  /** What the tap did with it, when not simply relayed (a fault, a limit). */
  note?: string;
}

// The notes of what --fault and --delay did, one wording for the net tap and the epoll relay (relay-log.ts's are these words).

/**
 * The note on each upstream data record under this fault and --delay (the shaper's
 * action on every reply chunk is the same, so the note is made once).
 */
export function shapedReplyNote(fault: Fault | undefined, delayMs: number): string | undefined {
  if (fault === 'silent') return 'swallowed (fault silent)';
  if (fault === 'close-without-reply') return 'swallowed; the client is closed (fault close-without-reply)';
  if (fault === 'reset') return 'not relayed: the client is reset instead (fault reset)';
  return delayMs > 0 ? `delayed ${delayMs}ms` : undefined;
}

/** The upstream's end, not relayed: HOLD_OPEN. */
export const heldOpenNote = (fault: Fault | undefined): string => `client held open (fault ${fault})`;
/** The tap's own reset record: RESET. */
export const RESET_AT_REPLY_NOTE = 'the client is reset instead of getting the reply (fault reset)';
/** The upstream's end after a RESET: the client had its reset instead. */
export const END_AFTER_RESET_NOTE = 'not relayed: the client is reset (fault reset)';
/** The upstream's end after a CLOSE. */
export const CLOSED_AT_REPLY_NOTE = 'the client was closed at the reply (fault close-without-reply)';
/** The client's request under --fault reset on a Unix socket (RESET needs it unread). */
export const PEEKED_NOTE = 'peeked and left unread, so the close is a reset (fault reset)';
