/**
 * serve's option vocabulary: the fault modes, the read modes, the engines and
 * the defaults. Apart from the server on purpose: --help and option parsing
 * need these words, and loading the server for them would cost every start of
 * every command.
 */

export const FAULTS = ['never-close', 'silent', 'no-newline', 'close-without-reply', 'reset', 'slow'] as const;
export type Fault = (typeof FAULTS)[number];

/** What each fault reproduces, for --help, the README and the man page. */
export const FAULT_HELP: Record<Fault, string> = {
  'never-close': 'reply, then keep the connection open: clients that read to end-of-file block forever',
  silent: 'accept and read, never reply: clients wait for a reply that never comes',
  'no-newline': 'reply without the trailing newline: line-reading clients (PHP_NORMAL_READ) keep waiting',
  'close-without-reply': 'read the request, close without replying: clients get an empty reply',
  reset: 'abort the connection instead of replying: clients see ECONNRESET',
  slow: 'reply only after --delay (default 1s): clients with short timeouts give up',
};

export const READ_MODES = ['once', 'line', 'eof'] as const;
export type ReadMode = (typeof READ_MODES)[number];

export const SERVE_DEFAULTS = {
  maxBytes: 1024 * 1024,
  idleTimeout: 60_000,
  backlog: 511,
  graceTimeout: 5_000,
  slowDelay: 1_000,
} as const;

export const SERVE_ENGINES = ['auto', 'epoll', 'net'] as const;
export type ServeEngine = (typeof SERVE_ENGINES)[number];
