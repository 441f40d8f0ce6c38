/**
 * The three Unix socket types and how a client tells which one a path is:
 * /proc/net/unix lists every bound socket with its type (Linux, where it is
 * readable); elsewhere, or when no row matches (another network namespace),
 * the caller tries stream, then seqpacket, then dgram, moving on only on
 * EPROTOTYPE (the kernel's "wrong type for this socket").
 */
import path from 'node:path';
import { UdsError } from '../errors.js';
import type { Target } from './target.js';
import { readProcNetUnix } from './server-sockets.js';

export const SOCKET_TYPES = ['stream', 'seqpacket', 'dgram'] as const;
export type SocketType = (typeof SOCKET_TYPES)[number];

/** The SOCK_* numbers of Linux (and the BSDs): the Type column of /proc/net/unix. */
export const SOCK_NUMBER: Readonly<Record<SocketType, number>> = { stream: 1, dgram: 2, seqpacket: 5 };

/** How the type was learnt: given (--type), read in /proc/net/unix, or found by trying connect(2) (EPROTOTYPE). */
export type SocketTypeSource = 'option' | 'proc' | 'connect' | 'tcp';

export interface SocketTypeInfo {
  type: SocketType;
  source: SocketTypeSource;
}

/** `--type` text to a type; BAD_OPTION otherwise. */
export function parseSocketType(text: unknown, what = '--type'): SocketType {
  if (typeof text === 'string' && (SOCKET_TYPES as readonly string[]).includes(text)) return text as SocketType;
  throw new UdsError('BAD_OPTION', `${what} must be one of ${SOCKET_TYPES.join(', ')} (got ${JSON.stringify(String(text))})`);
}

const BY_NUMBER = new Map<number, SocketType>(Object.entries(SOCK_NUMBER).map(([k, v]) => [v, k as SocketType]));

/**
 * The type of the socket bound to a Unix path or abstract name, from
 * /proc/net/unix; null when it cannot be told (no /proc, no row: another
 * namespace, or rows of different types by one name). Matches the name the
 * server bound: absolute, or relative to its directory (a relative row matches
 * when the absolute path ends with it).
 */
export async function socketTypeFromProc(t: Target, file = '/proc/net/unix'): Promise<SocketType | null> {
  if (t.kind === 'tcp') return null;
  const entries = await readProcNetUnix(file);
  if (!entries) return null;
  let want: (p: string) => boolean;
  if (t.kind === 'abstract') {
    want = (p) => p === t.display;
  } else {
    const abs = path.resolve(t.path);
    want = (p) => !p.startsWith('@') && p !== '' && (p === t.path || p === abs || (!p.startsWith('/') && abs.endsWith('/' + path.normalize(p))));
  }
  // A stream or seqpacket server's row is its listening socket; a dgram server's is just bound.
  const types = new Set<SocketType>();
  for (const e of entries) {
    if (!want(e.path)) continue;
    const type = BY_NUMBER.get(e.type);
    if (!type) continue;
    if (type === 'dgram' || e.listening) types.add(type);
  }
  return types.size === 1 ? [...types][0] : null;
}

/**
 * The one resolution of a target's type, for every client (exchange, session,
 * probe): the types to try in order and how they were learnt. --type given: that
 * one; /proc/net/unix says: that one; else stream, seqpacket, dgram in turn, the
 * caller moving on only when connect(2) answers EPROTOTYPE (WRONG_TYPE).
 */
export async function socketTypeCandidates(t: Target, forced?: SocketType): Promise<{ types: readonly SocketType[]; source: SocketTypeSource }> {
  if (t.kind === 'tcp') return { types: ['stream'], source: 'tcp' };
  if (forced) return { types: [forced], source: 'option' };
  const fromProc = await socketTypeFromProc(t);
  if (fromProc) return { types: [fromProc], source: 'proc' };
  return { types: SOCKET_TYPES, source: 'connect' };
}
