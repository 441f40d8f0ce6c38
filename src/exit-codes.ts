import type { ErrorCode } from './core/errors.js';

/**
 * The one table from error code to exit status. `send`, `serve` and `bench`
 * use `exit`; `probe` reports like a monitoring plugin (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN) and has its own table in src/commands/probe.ts.
 * README "Exit status" and man/udsctl.1 EXIT STATUS are this table.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  PERMISSION: 4,
  REFUSED: 5,
  CONNECT_TIMEOUT: 6,
  REPLY_TIMEOUT: 7,
  NEVER_CLOSED: 8,
  RESET: 9,
  MISMATCH: 10,
  IN_USE: 11,
  RESOURCES: 12,
  /** bench: a --fail-if threshold was crossed. */
  THRESHOLD: 13,
  /** bench: interrupted (SIGINT/SIGTERM) before any request finished; send: a session ended by Ctrl-C. 128 + SIGINT, as shells report Ctrl-C. */
  INTERRUPTED: 130,
} as const;

export const EXIT_BY_CODE: Record<ErrorCode, number> = {
  BAD_TARGET: EXIT.USAGE,
  PATH_TOO_LONG: EXIT.USAGE,
  BAD_DURATION: EXIT.USAGE,
  BAD_OPTION: EXIT.USAGE,
  NOT_SUPPORTED: EXIT.USAGE,
  NOT_FOUND: EXIT.NOT_FOUND,
  NOT_A_SOCKET: EXIT.NOT_FOUND,
  BAD_PATH: EXIT.NOT_FOUND,
  PERMISSION_DENIED: EXIT.PERMISSION,
  REFUSED: EXIT.REFUSED,
  CONNECT_TIMEOUT: EXIT.CONNECT_TIMEOUT,
  BACKLOG_FULL: EXIT.CONNECT_TIMEOUT,
  REPLY_TIMEOUT: EXIT.REPLY_TIMEOUT,
  NEVER_CLOSED: EXIT.NEVER_CLOSED,
  RESET: EXIT.RESET,
  CLOSED_EARLY: EXIT.RESET,
  MISMATCH: EXIT.MISMATCH,
  BAD_FRAME: EXIT.MISMATCH,
  ADDRESS_IN_USE: EXIT.IN_USE,
  UNSAFE_PATH: EXIT.IN_USE,
  TOO_MANY_FILES: EXIT.RESOURCES,
  IO_ERROR: EXIT.INTERNAL,
  WRONG_TYPE: EXIT.USAGE,
  BAD_CONFIG: EXIT.USAGE,
};

/** Rows for README / man page: exit status, meaning, codes. Tests check the docs against it. */
export const EXIT_TABLE: ReadonlyArray<{ status: number; meaning: string }> = [
  { status: EXIT.OK, meaning: 'success' },
  { status: EXIT.INTERNAL, meaning: 'unexpected I/O or internal error' },
  { status: EXIT.USAGE, meaning: 'usage error: unknown option, missing or malformed target, bad number or duration, path too long, a --type the socket is not' },
  { status: EXIT.NOT_FOUND, meaning: 'nothing at the socket path, it is not a socket, or the path cannot be followed (a symlink loop)' },
  { status: EXIT.PERMISSION, meaning: 'permission denied' },
  { status: EXIT.REFUSED, meaning: 'connection refused: no listener (a stale socket file)' },
  { status: EXIT.CONNECT_TIMEOUT, meaning: 'connect timed out or the listen backlog stayed full' },
  { status: EXIT.REPLY_TIMEOUT, meaning: 'no complete reply within --timeout' },
  { status: EXIT.NEVER_CLOSED, meaning: 'the server replied but never closed the connection (--until eof)' },
  { status: EXIT.RESET, meaning: 'the connection was reset, or closed before the end of the reply' },
  { status: EXIT.MISMATCH, meaning: 'a reply did not match --expect, or broke its protocol (--http, --resp, --until len:)' },
  { status: EXIT.IN_USE, meaning: 'serve: the address is in use, or the path is not a socket and was left alone' },
  { status: EXIT.RESOURCES, meaning: 'out of file descriptors (raise ulimit -n); send: a reply kept whole (--json, --resp, --fastcgi) was longer than --max-reply' },
  { status: EXIT.THRESHOLD, meaning: 'bench: a --fail-if threshold was crossed' },
  { status: EXIT.INTERRUPTED, meaning: 'bench: interrupted (Ctrl-C, SIGTERM) before any request finished: nothing was measured; send: a session ended by Ctrl-C' },
];

/** Exit status for an error code (unknown: internal). */
export function exitStatusFor(code: ErrorCode | undefined): number {
  return code === undefined ? EXIT.INTERNAL : (EXIT_BY_CODE[code] ?? EXIT.INTERNAL);
}
