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
  'ADDRESS_IN_USE',
  'UNSAFE_PATH',
  'TOO_MANY_FILES',
  'NOT_SUPPORTED',
  'IO_ERROR',
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

/** Is this value one of our typed errors? */
export function isUdsError(err: unknown): err is UdsError {
  return err instanceof UdsError;
}

/**
 * Translate an OS error raised while connecting to `target` into a typed error.
 * Unknown errnos keep their text and become IO_ERROR, never a silent success.
 */
export function fromConnectErrno(err: NodeJS.ErrnoException, target: string): UdsError {
  const cause = err;
  switch (err.code) {
    case 'ENOENT':
      return new UdsError('NOT_FOUND', `${target}: no such socket (nothing exists at that path)`, { target, cause });
    case 'ENOTSOCK':
      return new UdsError('NOT_A_SOCKET', `${target}: exists but is not a socket`, { target, cause });
    case 'EACCES':
    case 'EPERM':
      return new UdsError('PERMISSION_DENIED', `${target}: permission denied`, { target, cause });
    case 'ECONNREFUSED':
      return new UdsError('REFUSED', `${target}: connection refused (no server is listening)`, { target, cause });
    case 'EAGAIN':
    case 'EWOULDBLOCK': // errno 11's other name, which libc.ts's errno table may pick
      return new UdsError('BACKLOG_FULL', `${target}: listen backlog is full (server is not accepting fast enough)`, {
        target,
        cause,
      });
    case 'ETIMEDOUT':
      return new UdsError('CONNECT_TIMEOUT', `${target}: connect timed out`, { target, cause });
    case 'ECONNRESET':
    case 'EPIPE':
      return new UdsError('RESET', `${target}: connection reset by the server`, { target, cause });
    case 'EMFILE':
    case 'ENFILE':
      return new UdsError('TOO_MANY_FILES', `${target}: out of file descriptors (raise ulimit -n)`, { target, cause });
    case 'ENOTDIR':
      return new UdsError('NOT_FOUND', `${target}: a parent of the path is not a directory`, { target, cause });
    case 'ELOOP':
      return new UdsError('BAD_PATH', `${target}: too many levels of symbolic links (a symlink loop)`, { target, cause });
    case 'ENAMETOOLONG':
      return new UdsError('PATH_TOO_LONG', `${target}: the path (after following symlinks) is too long`, { target, cause });
    case 'EISDIR':
      return new UdsError('NOT_A_SOCKET', `${target}: is a directory, not a socket`, { target, cause });
    case 'ENXIO':
    case 'ENOTFOUND': // a TCP host name that does not resolve
    case 'EAI_AGAIN':
      return new UdsError('NOT_FOUND', `${target}: ${err.code === 'ENXIO' ? 'no such device or address' : 'host name not found'}`, { target, cause });
    default:
      return new UdsError('IO_ERROR', `${target}: ${err.message}`, { target, cause });
  }
}
