/**
 * Defaults every command and the library share, written once: a change here is
 * a change everywhere (send, probe, bench, serve's tap, the session).
 */

/** Bound on a reply (send, probe, bench, the session): from connected to the end of the reply. */
export const DEFAULT_TIMEOUT_MS = 5_000;

/** Bound on connecting, backlog retries included. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** How --help shows them. */
export const DEFAULT_TIMEOUT_TEXT = '5s';
