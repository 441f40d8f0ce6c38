/**
 * Typed errors with stable codes. The core throws or records these; the CLI
 * maps `code` to an exit status in one table (src/exit-codes.ts).
 */
export const ERROR_CODES = [
  'BAD_TARGET',
  'PATH_TOO_LONG',
  'BAD_DURATION',
  'BAD_OPTION',
  'NOT_FOUND',
  'NOT_A_SOCKET',
  'BAD_PATH',
  'PERMISSION_DENIED',
  'REFUSED',
  'CONNECT_TIMEOUT',
  'BACKLOG_FULL',
  'REPLY_TIMEOUT',
  'NEVER_CLOSED',
  'RESET',
  'CLOSED_EARLY',
  'MISMATCH',
  'BAD_FRAME',
  'ADDRESS_IN_USE',
  'UNSAFE_PATH',
  'TOO_MANY_FILES',
  'NOT_SUPPORTED',
  'IO_ERROR',
  /** A client of one socket type on a socket of another (EPROTOTYPE): stream vs dgram vs seqpacket. */
  'WRONG_TYPE',
  /** probe's suite file (udsctl.yaml): a key or value it cannot take, named with the file and line. */
  'BAD_CONFIG',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface UdsErrorDetails {
  target?: string;
  timeoutMs?: number;
  cause?: unknown;
}

export class UdsError extends Error {
  readonly code: ErrorCode;
  readonly target?: string;
  readonly timeoutMs?: number;

  constructor(code: ErrorCode, message: string, details: UdsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'UdsError';
    this.code = code;
    this.target = details.target;
    this.timeoutMs = details.timeoutMs;
  }

  toJSON(): { code: ErrorCode; message: string; errno?: string } {
    const errno = (this.cause as NodeJS.ErrnoException | undefined)?.code;
    return { code: this.code, message: this.message, ...(errno ? { errno } : {}) };
  }
}

/*
 * The words of the errors every transport reports (stream and message sockets,
 * send, probe, the tap): one text each, so they cannot drift apart.
 */

/** Connecting took longer than its bound. */
export function connectTimeoutError(target: string, timeoutMs: number, cause?: unknown): UdsError {
  return new UdsError('CONNECT_TIMEOUT', `${target}: connect did not complete within ${timeoutMs}ms`, { target, timeoutMs, cause });
}

/** connect() kept answering EAGAIN (a full listen backlog) until the bound. */
export function backlogFullError(target: string, timeoutMs: number, cause?: unknown): UdsError {
  return new UdsError('BACKLOG_FULL', `${target}: listen backlog stayed full for ${timeoutMs}ms (the server accepts too slowly or not at all)`, {
    target,
    timeoutMs,
    cause,
  });
}

/** The peer reset the connection (ECONNRESET, EPIPE; on dgram ECONNREFUSED: the receiver went away); `after`: what had come ("12 bytes"). */
export function resetError(target: string, after: string | null, cause?: unknown): UdsError {
  return new UdsError('RESET', `${target}: connection reset by the server${after ? ` after ${after} of reply` : ''}`, { target, cause });
}

/** The peer closed before the end of the reply; `received` bytes had come, `rule` is the end rule, `where` the framer's state. */
export function closedEarlyError(target: string, received: number, rule: string, where = ''): UdsError {
  return new UdsError(
    'CLOSED_EARLY',
    received > 0
      ? `${target}: server closed after ${received} bytes, before the end of reply (${rule}${where ? `: ${where}` : ''})`
      : `${target}: server closed the connection without replying`,
    { target },
  );
}

/** Is this value one of our typed errors? */
export function isUdsError(err: unknown): err is UdsError {
  return err instanceof UdsError;
}

/**
 * The one errno -> code table (by errno name), for connecting and for I/O on a
 * stream alike; an errno not in it is IO_ERROR. A full listen backlog answers
 * connect() with EAGAIN: BACKLOG_FULL (a read or send never reports EAGAIN as an
 * error: the caller waits for readiness instead).
 */
const ERRNO_CODES: Readonly<Record<string, ErrorCode>> = {
  ENOENT: 'NOT_FOUND',
  ENOTDIR: 'NOT_FOUND',
  ENXIO: 'NOT_FOUND',
  ENOTFOUND: 'NOT_FOUND',
  EAI_AGAIN: 'NOT_FOUND',
  ENOTSOCK: 'NOT_A_SOCKET',
  EISDIR: 'NOT_A_SOCKET',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  ECONNREFUSED: 'REFUSED',
  EAGAIN: 'BACKLOG_FULL',
  EWOULDBLOCK: 'BACKLOG_FULL', // errno 11's other name, which libc.ts's errno table may pick
  ETIMEDOUT: 'CONNECT_TIMEOUT',
  ECONNRESET: 'RESET',
  EPIPE: 'RESET',
  EMFILE: 'TOO_MANY_FILES',
  ENFILE: 'TOO_MANY_FILES',
  ELOOP: 'BAD_PATH',
  ENAMETOOLONG: 'PATH_TOO_LONG',
  EPROTOTYPE: 'WRONG_TYPE',
};

/** The typed code of an errno name (`ECONNREFUSED` -> REFUSED); unknown: IO_ERROR. */
export function codeOfErrno(name: string | undefined): ErrorCode {
  return (name !== undefined && Object.hasOwn(ERRNO_CODES, name) ? ERRNO_CODES[name] : undefined) ?? 'IO_ERROR';
}

/**
 * Translate an OS error raised while connecting to `target` into a typed error.
 * Unknown errnos keep their text and become IO_ERROR, never a silent success.
 */
export function fromConnectErrno(err: NodeJS.ErrnoException, target: string): UdsError {
  return new UdsError(codeOfErrno(err.code), `${target}: ${errnoText(err)}`, { target, cause: err });
}

/** The words for a connect errno; the code comes from the table above. */
function errnoText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such socket (nothing exists at that path)';
    case 'ENOTSOCK':
      return 'exists but is not a socket';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ECONNREFUSED':
      return 'connection refused (no server is listening)';
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return 'listen backlog is full (server is not accepting fast enough)';
    case 'ETIMEDOUT':
      return 'connect timed out';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset by the server';
    case 'EMFILE':
    case 'ENFILE':
      return 'out of file descriptors (raise ulimit -n)';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links (a symlink loop)';
    case 'ENAMETOOLONG':
      return 'the path (after following symlinks) is too long';
    case 'EISDIR':
      return 'is a directory, not a socket';
    case 'EPROTOTYPE':
      return 'the socket is of another type (EPROTOTYPE: stream, seqpacket and dgram do not connect to each other); try --type';
    case 'ENXIO':
      return 'no such device or address';
    case 'ENOTFOUND': // a TCP host name that does not resolve
    case 'EAI_AGAIN':
      return 'host name not found';
    default:
      return err.message;
  }
}
