/**
 * The retry waits, one policy for every connecting path (`send`, `probe`, both
 * bench transports): how long to wait before retrying a connect the listen
 * backlog refused, and before reopening a connection after a failed attempt.
 */

/**
 * A full listen backlog (EAGAIN on a Unix socket) is transient: the server is
 * accepting, only slowly. Retry soon, doubling from BACKLOG_FIRST_MS up to
 * BACKLOG_MAX_MS, until the connect timeout. (A timer-driven caller rounds the
 * first waits up to its timer's 1 ms.)
 */
export const BACKLOG_FIRST_MS = 0.05;
export const BACKLOG_MAX_MS = 2;

/** The wait before the next connect attempt on a full backlog, given the last wait (0: none yet). */
export function backlogDelay(lastMs: number): number {
  return lastMs > 0 ? Math.min(BACKLOG_MAX_MS, lastMs * 2) : BACKLOG_FIRST_MS;
}

/**
 * After a connect attempt failed (REFUSED, NOT_FOUND, ...) the slot waits before
 * the next one, doubling from RECONNECT_FIRST_MS up to RECONNECT_MAX_MS, so a
 * dead server costs a few attempts a second per connection, not a spinning CPU;
 * a connection that opens resets it.
 */
export const RECONNECT_FIRST_MS = 10;
export const RECONNECT_MAX_MS = 250;

/** The wait before the next connect attempt after `failures` failed ones in a row. */
export function reconnectDelay(failures: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.max(0, Math.min(16, failures - 1)));
}
