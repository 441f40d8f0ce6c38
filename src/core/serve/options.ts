/**
 * serve's option vocabulary: the fault modes, the read modes, the engines and
 * the defaults. Apart from the server on purpose: --help and option parsing
 * need these words, and loading the server for them would cost every start of
 * every command. The limits of the flags are here too (SERVE_LIMITS): the CLI
 * parses with them and checkServeOptions holds library callers to them.
 */
import { checkDuration } from '../duration.js';
import { UdsError } from '../errors.js';

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

/**
 * The bounds of serve's numeric options, for the CLI's flags and the
 * library's options alike. workers: threads or forked processes, each with
 * its own memory; maxBytes: each connection (or the message servers' one
 * receive buffer) may hold this much.
 */
export const SERVE_LIMITS = {
  workers: 64,
  maxBytes: 1024 ** 3,
} as const;

/** What checkServeOptions reads: the options of every serve engine, server and tap (createServe, MessageServer, MessageTap). */
export interface CheckedServeOptions {
  reply?: unknown;
  echo?: unknown;
  keepAlive?: unknown;
  read?: unknown;
  fault?: unknown;
  engine?: unknown;
  delay?: unknown;
  idleTimeout?: unknown;
  graceTimeout?: unknown;
  connectTimeout?: unknown;
  count?: unknown;
  maxConns?: unknown;
  maxBytes?: unknown;
  backlog?: unknown;
  workers?: unknown;
  perm?: unknown;
  upstream?: unknown;
  socketType?: unknown;
}

/** The library's options checked as the CLI checks its flags: a typed error (BAD_OPTION, BAD_DURATION), never a made-up server. */
export function checkServeOptions(o: CheckedServeOptions): void {
  const bad = (what: string, got: unknown) => new UdsError('BAD_OPTION', `serve: ${what} (got ${typeof got === 'string' ? JSON.stringify(got) : String(got)})`);
  if (o === null || typeof o !== 'object') throw bad('options must be an object', o);
  if (o.upstream !== undefined) {
    // What the tap cannot do: it relays the upstream's reply.
    for (const k of ['reply', 'echo', 'keepAlive'] as const) if (o[k] !== undefined && o[k] !== false) throw bad(`${k} does not apply with upstream (the tap relays the upstream's replies)`, k);
    if (o.read !== undefined && o.read !== 'once') throw bad(`read does not apply with upstream (the tap relays bytes as they come)`, o.read);
    if (o.connectTimeout !== undefined) checkDuration(o.connectTimeout, 'connectTimeout');
  }
  for (const k of ['delay', 'idleTimeout', 'graceTimeout'] as const) if (o[k] !== undefined) checkDuration(o[k], k);
  for (const k of ['count', 'maxConns', 'maxBytes', 'backlog', 'workers'] as const) {
    const v = o[k];
    if (v !== undefined && !(k === 'workers' && v === 'auto') && !(Number.isSafeInteger(v) && (v as number) > 0)) throw bad(`${k} must be a whole number above 0${k === 'workers' ? " or 'auto'" : ''}`, v);
  }
  if (typeof o.workers === 'number' && o.workers > SERVE_LIMITS.workers) throw bad(`workers must be at most ${SERVE_LIMITS.workers}`, o.workers);
  if (typeof o.maxBytes === 'number' && o.maxBytes > SERVE_LIMITS.maxBytes) throw bad(`maxBytes must be at most ${SERVE_LIMITS.maxBytes} (1 GiB)`, o.maxBytes);
  const oneOf = (k: 'fault' | 'read' | 'engine' | 'socketType', list: readonly string[]) => {
    const v = o[k];
    if (v !== undefined && !list.includes(v as string)) throw bad(`${k} must be one of ${list.join(', ')}`, v);
  };
  oneOf('fault', FAULTS);
  oneOf('read', READ_MODES);
  oneOf('engine', SERVE_ENGINES);
  oneOf('socketType', ['stream', 'seqpacket', 'dgram']);
  if (o.reply !== undefined && !Buffer.isBuffer(o.reply)) throw bad('reply must be a Buffer', typeof o.reply);
  if (o.perm !== undefined && !(Number.isInteger(o.perm) && (o.perm as number) >= 0 && (o.perm as number) <= 0o7777)) throw bad('perm must be a file mode from 0 to 0o7777', o.perm);
}
