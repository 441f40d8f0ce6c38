import { UdsError } from '../errors.js';
import { hasKeptBytes, keptBytes } from '../escape.js';

/** sun_path is 108 bytes on Linux, one of which is the terminating NUL for filesystem paths. */
export const UNIX_PATH_MAX = process.platform === 'linux' ? 108 : 104;

export type Target =
  | { kind: 'unix'; path: string; display: string }
  | { kind: 'abstract'; name: Buffer; display: string }
  | { kind: 'tcp'; host: string; port: number; display: string };

const TCP_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;

/**
 * Parse a target: a socket path (absolute or relative), `unix:PATH`, a Linux
 * abstract name `@name`, or TCP `host:port` / `tcp://host:port`.
 */
export function parseTarget(spec: string): Target {
  const text = String(spec ?? '');
  if (text.length === 0) throw new UdsError('BAD_TARGET', 'target is empty: give a socket path, @name or host:port');
  if (text.includes('\0')) throw new UdsError('BAD_TARGET', 'target must not contain a NUL byte');

  if (text.startsWith('tcp://')) return parseTcp(text.slice('tcp://'.length), text);
  if (text.startsWith('unix:')) return unixTarget(text.slice('unix:'.length), text);
  if (text.startsWith('@')) {
    const name = keptBytes(text.slice(1));
    if (process.platform !== 'linux') {
      throw new UdsError('NOT_SUPPORTED', `${text}: abstract socket names exist only on Linux`);
    }
    if (name.length === 0) throw new UdsError('BAD_TARGET', 'abstract name after "@" is empty');
    if (name.length > UNIX_PATH_MAX - 1) {
      throw new UdsError(
        'PATH_TOO_LONG',
        `${text}: abstract name is ${name.length} bytes; the limit is ${UNIX_PATH_MAX - 1} bytes`,
      );
    }
    return { kind: 'abstract', name, display: text };
  }
  if (!text.includes('/') && TCP_RE.test(text)) return parseTcp(text, text);
  return unixTarget(text, text);
}

function parseTcp(hostPort: string, original: string): Target {
  const m = TCP_RE.exec(hostPort);
  if (!m) {
    throw new UdsError('BAD_TARGET', `${original}: expected tcp://host:port`);
  }
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) {
    throw new UdsError('BAD_TARGET', `${original}: port must be 0-65535 (0: any free port, for serve)`);
  }
  return { kind: 'tcp', host, port, display: m[1] ? `[${host}]:${port}` : `${host}:${port}` };
}

function unixTarget(path: string, original: string): Target {
  if (path.length === 0) throw new UdsError('BAD_TARGET', `${original}: socket path is empty`);
  const bytes = keptBytes(path).length;
  if (bytes > UNIX_PATH_MAX - 1) {
    throw new UdsError(
      'PATH_TOO_LONG',
      `${original}: socket path is ${bytes} bytes; the limit is ${UNIX_PATH_MAX - 1} bytes ` +
        `(sun_path is ${UNIX_PATH_MAX}); use a shorter path or a relative one`,
    );
  }
  return { kind: 'unix', path, display: path };
}

/**
 * A socket path for node:fs: the string itself, or its exact bytes when it
 * holds bytes that are not UTF-8 (an argument decoded by io.ts exactArgv).
 */
export function fsPath(path: string): string | Buffer {
  return hasKeptBytes(path) ? keptBytes(path) : path;
}

/** Human name of a target, as the user would write it. */
export function describeTarget(t: Target): string {
  return t.display;
}

/** A library caller's target: a string to parse or a Target; anything else is BAD_TARGET, never a TypeError. */
export function checkTarget(target: unknown): Target {
  if (typeof target === 'string') return parseTarget(target);
  const t = target as Partial<Target> | null | undefined;
  if (t && typeof t === 'object' && typeof t.display === 'string') {
    if (t.kind === 'unix' && typeof t.path === 'string' && t.path.length > 0) return t as Target;
    if (t.kind === 'abstract' && Buffer.isBuffer(t.name)) return t as Target;
    if (t.kind === 'tcp' && typeof t.host === 'string' && Number.isInteger(t.port) && t.port! >= 0 && t.port! <= 65535) return t as Target;
  }
  throw new UdsError(
    'BAD_TARGET',
    `target must be a string (a socket path, @name or host:port) or a parsed Target (got ${target === null ? 'null' : typeof target})`,
  );
}
