/**
 * The tap's records (tap.ts): the 'traffic' events of a relayed connection and
 * the words of how each side ended. Apart from the tap so that protocol.ts's
 * ServerEvents can name them without importing the relay.
 */

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
